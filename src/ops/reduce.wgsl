// Deterministic reductions: no atomics, a fixed order of additions.
//
// column_sum: out[c] = scale · Σ_{r, s} x[r, c, s] over an array [rows,
//   cols, spatial]: with spatial = 1 the columns of a row-major matrix
//   (a dense layer's bias gradient), else the channels of an NCHW tensor
//   (a convolution's). A workgroup owns CW columns; its RL lanes each add
//   every RL-th (row, position) in order, then a fixed binary tree adds the
//   RL partial sums. On CPU adapters `column_sum_lanes`: one thread a
//   column, no barrier, the same partial sums and tree (the same bits).
// total: out[out_index] = scale · Σ_i x[i] over a vector, in one workgroup:
//   each of the WG lanes adds every WG-th element, then a fixed tree.
const CW: u32 = 16u;
const RL: u32 = 16u;
const WG: u32 = 256u;
const LW: u32 = 8u;
// Positions per column (column_sum_lanes; the host specialises it).
const SPATIAL: u32 = 1u;

struct Params {
    rows: u32,
    cols: u32,
    scale: f32,
    out_index: u32,
    spatial: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(CW, RL, 1)
fn column_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * CW + lid.x;
    var s = 0.0;
    if col < p.cols {
        for (var i = lid.y; i < p.rows * p.spatial; i += RL) {
            s += x[(i / p.spatial * p.cols + col) * p.spatial + i % p.spatial];
        }
    }
    partial[lid.y * CW + lid.x] = s;
    workgroupBarrier();
    for (var half = RL / 2u; half > 0u; half /= 2u) {
        if lid.y < half {
            partial[lid.y * CW + lid.x] += partial[(lid.y + half) * CW + lid.x];
        }
        workgroupBarrier();
    }
    if lid.y == 0u && col < p.cols {
        out[col] = p.scale * partial[lid.x];
    }
}

@compute @workgroup_size(WG)
fn total(@builtin(local_invocation_index) lid: u32) {
    let n = p.rows * p.cols;
    var s = 0.0;
    for (var i = lid; i < n; i += WG) {
        s += x[i];
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
        if lid < half {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        out[p.out_index] = p.scale * partial[0];
    }
}

// Values i0 .. i0 + 3 of column col (zero past the end), in the order
// column_sum's lanes take them.
fn column_four(col: u32, i0: u32, count: u32) -> vec4<f32> {
    var v = vec4<f32>();
    for (var e = 0u; e < 4u; e++) {
        let i = i0 + e;
        if i < count {
            v[e] = x[(i / SPATIAL * p.cols + col) * SPATIAL + i % SPATIAL];
        }
    }
    return v;
}

@compute @workgroup_size(LW, 1, 1)
fn column_sum_lanes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * LW + lid.x;
    if col >= p.cols {
        return;
    }
    let count = p.rows * SPATIAL;
    var p0 = vec4<f32>();
    var p1 = vec4<f32>();
    var p2 = vec4<f32>();
    var p3 = vec4<f32>();
    for (var i = 0u; i < count; i += RL) {
        p0 += column_four(col, i, count);
        p1 += column_four(col, i + 4u, count);
        p2 += column_four(col, i + 8u, count);
        p3 += column_four(col, i + 12u, count);
    }
    out[col] = p.scale * tree16(p0, p1, p2, p3);
}
