// Batch normalisation, as torch.nn.BatchNorm1d over a row-major [rows,
// cols] matrix (spatial = 1) and BatchNorm2d over an NCHW [rows, cols,
// spatial] tensor: one statistic per column (channel), over the rows and
// positions. With `groups` > 1 the rows are that many equal groups, each
// normalised by its own statistics, as separate calls of a PyTorch module
// would normalise them (a discriminator's real and generated batches).
//
// train_forward: per group, the mean and biased variance of each channel in
//   two passes (the mean first, then Σ(x - mean)², never E[x²] - E[x]²),
//   then y = γ (x - mean) / sqrt(var + eps) + β. Saves mean and
//   1/sqrt(var + eps) per (group, channel) for backward and, when
//   update_running, folds each group's statistics into the running ones in
//   group order, the PyTorch way: r = (1 - m) r + m · batch, with the
//   unbiased variance.
// eval_forward: y = γ (x - running_mean) / sqrt(running_var + eps) + β.
// Both forwards apply the activation ACT (with p.slope) as they store y,
// and backward takes its derivative from y as it reads dy: the activation
// layer after a batch norm, fused.
// backward: per group, with x̂ = (x - mean) · inv_std and n its values per
//   channel, dβ_g = Σ dy, dγ_g = Σ dy · x̂,
//   dx = γ · inv_std / n · (n · dy - dβ_g - x̂ · dγ_g); dγ and dβ are the
//   sums over the groups.
//
// A workgroup owns CW channels; its RL lanes each walk every RL-th (row,
// position) of a group in order and a fixed tree combines them, so the
// result is deterministic. The CPU adapters' form (`*_lanes`, at the end)
// gives the same bits without a barrier.
const CW: u32 = 16u;
const RL: u32 = 16u;
const WG: u32 = 256u;
// Positions per channel (the host specialises it, so that the indexing
// divides by a constant).
const SPATIAL: u32 = 1u;
// The fused activation: ACT_NONE, ACT_LEAKY_RELU, ACT_TANH or ACT_SIGMOID
// (src/gpu/prelude.wgsl).
const ACT: u32 = 0u;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    momentum: f32,
    update_running: u32,
    spatial: u32,
    groups: u32,
    slope: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> saved_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> saved_inv_std: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
// backward
@group(0) @binding(9) var<storage, read> mean_in: array<f32>;
@group(0) @binding(10) var<storage, read> inv_std_in: array<f32>;
@group(0) @binding(11) var<storage, read> dy: array<f32>;
@group(0) @binding(12) var<storage, read_write> dx: array<f32>;
@group(0) @binding(13) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(14) var<storage, read_write> dbeta: array<f32>;
// backward with a fused activation (ACT): the forward's output, whose
// derivative turns dy into the gradient of the normalised value.
@group(0) @binding(15) var<storage, read> y_out: array<f32>;

// The gradient of value j before the fused activation.
fn grad(j: u32) -> f32 {
    if ACT == ACT_NONE {
        return dy[j];
    }
    return activate_backward(y_out[j], dy[j], ACT, p.slope);
}

var<workgroup> partial: array<vec2<f32>, CW * RL>;

// Tree-adds the RL row-lane partials of each column, two sums at once;
// every lane gets the column's totals.
fn column_totals(lid: vec3<u32>, v: vec2<f32>) -> vec2<f32> {
    partial[lid.y * CW + lid.x] = v;
    workgroupBarrier();
    for (var half = RL / 2u; half > 0u; half /= 2u) {
        if lid.y < half {
            partial[lid.y * CW + lid.x] += partial[(lid.y + half) * CW + lid.x];
        }
        workgroupBarrier();
    }
    let total = partial[lid.x];
    workgroupBarrier();
    return total;
}

// The index of value i (a row of the group and a position) of group g's
// rows in channel col.
fn at(g: u32, i: u32, col: u32) -> u32 {
    let row = g * (p.rows / p.groups) + i / SPATIAL;
    return (row * p.cols + col) * SPATIAL + i % SPATIAL;
}

@compute @workgroup_size(CW, RL, 1)
fn train_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * CW + lid.x;
    let live = col < p.cols;
    let count = p.rows / p.groups * p.spatial;
    let n = f32(count);

    for (var g = 0u; g < p.groups; g++) {
        var s = 0.0;
        if live {
            for (var i = lid.y; i < count; i += RL) {
                s += x[at(g, i, col)];
            }
        }
        let mean = column_totals(lid, vec2<f32>(s, 0.0)).x / n;

        var q = 0.0;
        if live {
            for (var i = lid.y; i < count; i += RL) {
                let d = x[at(g, i, col)] - mean;
                q += d * d;
            }
        }
        let variance = column_totals(lid, vec2<f32>(q, 0.0)).x / n;
        let inv_std = 1.0 / sqrt(variance + p.eps);

        if live {
            let gm = gamma[col] * inv_std;
            let bb = beta[col];
            for (var i = lid.y; i < count; i += RL) {
                let j = at(g, i, col);
                y[j] = activate((x[j] - mean) * gm + bb, ACT, p.slope);
            }
            if lid.y == 0u {
                saved_mean[g * p.cols + col] = mean;
                saved_inv_std[g * p.cols + col] = inv_std;
                if p.update_running != 0u {
                    let unbiased = variance * n / max(n - 1.0, 1.0);
                    running_mean[col] = (1.0 - p.momentum) * running_mean[col] + p.momentum * mean;
                    running_var[col] = (1.0 - p.momentum) * running_var[col] + p.momentum * unbiased;
                }
            }
        }
    }
}

@compute @workgroup_size(WG)
fn eval_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i < p.rows * p.cols * p.spatial {
        let col = i / p.spatial % p.cols;
        let inv_std = 1.0 / sqrt(running_var[col] + p.eps);
        y[i] = activate((x[i] - running_mean[col]) * gamma[col] * inv_std + beta[col], ACT, p.slope);
    }
}

@compute @workgroup_size(CW, RL, 1)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * CW + lid.x;
    let live = col < p.cols;
    let count = p.rows / p.groups * p.spatial;
    let n = f32(count);
    var dg_sum = 0.0;
    var db_sum = 0.0;

    for (var g = 0u; g < p.groups; g++) {
        var mean = 0.0;
        var inv_std = 0.0;
        if live {
            mean = mean_in[g * p.cols + col];
            inv_std = inv_std_in[g * p.cols + col];
        }

        var s = 0.0;
        var sx = 0.0;
        if live {
            for (var i = lid.y; i < count; i += RL) {
                let j = at(g, i, col);
                let d = grad(j);
                s += d;
                sx += d * (x[j] - mean) * inv_std;
            }
        }
        let sums = column_totals(lid, vec2<f32>(s, sx));
        let db = sums.x;
        let dg = sums.y;
        // The first group's sums as they are (0 + -0 would lose a sign).
        db_sum = select(db_sum + db, db, g == 0u);
        dg_sum = select(dg_sum + dg, dg, g == 0u);

        if live {
            let k = gamma[col] * inv_std / n;
            for (var i = lid.y; i < count; i += RL) {
                let j = at(g, i, col);
                let xhat = (x[j] - mean) * inv_std;
                dx[j] = k * (n * grad(j) - db - xhat * dg);
            }
        }
    }
    if live && lid.y == 0u {
        dgamma[col] = dg_sum;
        dbeta[col] = db_sum;
    }
}

// ---------------------------------------------------------------------------
// CPU adapters: one thread a channel, no workgroup memory, no barrier (a
// barrier suspends and resumes every SIMD slice of a workgroup on
// lavapipe). The thread keeps the RL = 16 partial sums that the tree
// form's lanes keep (value i into partial i % 16, in order of i) and adds
// them in the same tree, so both forms give the same bits.
const LW: u32 = 8u;

// Group g's values i0 .. i0 + 3 of channel col as x, or as (x - mean)²
// (zero past the group's end).
fn x_four(g: u32, col: u32, i0: u32, count: u32, mean: f32, squares: bool) -> vec4<f32> {
    var v = vec4<f32>();
    for (var e = 0u; e < 4u; e++) {
        if i0 + e < count {
            let d = x[at(g, i0 + e, col)] - mean;
            v[e] = select(d, d * d, squares);
        }
    }
    return v;
}

// Σ x (mean 0) or Σ (x - mean)² of group g's values of channel col.
fn x_total(g: u32, col: u32, count: u32, mean: f32, squares: bool) -> f32 {
    var p0 = vec4<f32>();
    var p1 = vec4<f32>();
    var p2 = vec4<f32>();
    var p3 = vec4<f32>();
    for (var i = 0u; i < count; i += RL) {
        p0 += x_four(g, col, i, count, mean, squares);
        p1 += x_four(g, col, i + 4u, count, mean, squares);
        p2 += x_four(g, col, i + 8u, count, mean, squares);
        p3 += x_four(g, col, i + 12u, count, mean, squares);
    }
    return tree16(p0, p1, p2, p3);
}

@compute @workgroup_size(LW, 1, 1)
fn train_forward_lanes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * LW + lid.x;
    if col >= p.cols {
        return;
    }
    let count = p.rows / p.groups * SPATIAL;
    let n = f32(count);
    for (var g = 0u; g < p.groups; g++) {
        let mean = x_total(g, col, count, 0.0, false) / n;
        let variance = x_total(g, col, count, mean, true) / n;
        let inv_std = 1.0 / sqrt(variance + p.eps);
        let gm = gamma[col] * inv_std;
        let bb = beta[col];
        for (var i = 0u; i < count; i++) {
            let j = at(g, i, col);
            y[j] = activate((x[j] - mean) * gm + bb, ACT, p.slope);
        }
        saved_mean[g * p.cols + col] = mean;
        saved_inv_std[g * p.cols + col] = inv_std;
        if p.update_running != 0u {
            let unbiased = variance * n / max(n - 1.0, 1.0);
            running_mean[col] = (1.0 - p.momentum) * running_mean[col] + p.momentum * mean;
            running_var[col] = (1.0 - p.momentum) * running_var[col] + p.momentum * unbiased;
        }
    }
}

// Group g's values i0 .. i0 + 3 of channel col as dy and dy · x̂ (zero
// past the group's end).
struct Four {
    dy: vec4<f32>,
    dy_xhat: vec4<f32>,
}

fn dy_four(g: u32, col: u32, i0: u32, count: u32, mean: f32, inv_std: f32) -> Four {
    var f: Four;
    for (var e = 0u; e < 4u; e++) {
        if i0 + e < count {
            let j = at(g, i0 + e, col);
            let d = grad(j);
            f.dy[e] = d;
            f.dy_xhat[e] = d * (x[j] - mean) * inv_std;
        }
    }
    return f;
}

@compute @workgroup_size(LW, 1, 1)
fn backward_lanes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * LW + lid.x;
    if col >= p.cols {
        return;
    }
    let count = p.rows / p.groups * SPATIAL;
    let n = f32(count);
    var dg_sum = 0.0;
    var db_sum = 0.0;
    for (var g = 0u; g < p.groups; g++) {
        let mean = mean_in[g * p.cols + col];
        let inv_std = inv_std_in[g * p.cols + col];
        // Σ dy and Σ dy · x̂, summed as x_total sums.
        var b0 = vec4<f32>();
        var b1 = vec4<f32>();
        var b2 = vec4<f32>();
        var b3 = vec4<f32>();
        var g0 = vec4<f32>();
        var g1 = vec4<f32>();
        var g2 = vec4<f32>();
        var g3 = vec4<f32>();
        for (var i = 0u; i < count; i += RL) {
            let f0 = dy_four(g, col, i, count, mean, inv_std);
            let f1 = dy_four(g, col, i + 4u, count, mean, inv_std);
            let f2 = dy_four(g, col, i + 8u, count, mean, inv_std);
            let f3 = dy_four(g, col, i + 12u, count, mean, inv_std);
            b0 += f0.dy;
            b1 += f1.dy;
            b2 += f2.dy;
            b3 += f3.dy;
            g0 += f0.dy_xhat;
            g1 += f1.dy_xhat;
            g2 += f2.dy_xhat;
            g3 += f3.dy_xhat;
        }
        let db = tree16(b0, b1, b2, b3);
        let dg = tree16(g0, g1, g2, g3);
        db_sum = select(db_sum + db, db, g == 0u);
        dg_sum = select(dg_sum + dg, dg, g == 0u);
        let k = gamma[col] * inv_std / n;
        for (var i = 0u; i < count; i++) {
            let j = at(g, i, col);
            let xhat = (x[j] - mean) * inv_std;
            dx[j] = k * (n * grad(j) - db - xhat * dg);
        }
    }
    dgamma[col] = dg_sum;
    dbeta[col] = db_sum;
}

// ---------------------------------------------------------------------------
// The CPU form over four adjacent channels a thread, for BatchNorm1d
// (SPATIAL = 1) with a multiple of 4 features: one vec4 load a row where
// the form above makes four (on lavapipe each load is a loop over the
// lanes). Each channel's values go into the same 16 partial sums in the
// same order and are added by the same tree, and every other value is
// computed element by element as above, so the bits are the same.
@group(0) @binding(16) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> gamma4: array<vec4<f32>>;
@group(0) @binding(18) var<storage, read> beta4: array<vec4<f32>>;
@group(0) @binding(19) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(20) var<storage, read_write> saved_mean4: array<vec4<f32>>;
@group(0) @binding(21) var<storage, read_write> saved_inv_std4: array<vec4<f32>>;
@group(0) @binding(22) var<storage, read_write> running_mean4: array<vec4<f32>>;
@group(0) @binding(23) var<storage, read_write> running_var4: array<vec4<f32>>;
@group(0) @binding(24) var<storage, read> mean_in4: array<vec4<f32>>;
@group(0) @binding(25) var<storage, read> inv_std_in4: array<vec4<f32>>;
@group(0) @binding(26) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(27) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(28) var<storage, read_write> dgamma4: array<vec4<f32>>;
@group(0) @binding(29) var<storage, read_write> dbeta4: array<vec4<f32>>;
@group(0) @binding(30) var<storage, read> y_out4: array<vec4<f32>>;

// Σ x (mean 0) or Σ (x - mean)² of group g's rows, four channels.
fn x4_total(g: u32, c4: u32, count: u32, mean: vec4<f32>, squares: bool) -> vec4<f32> {
    let cols4 = p.cols / 4u;
    var s: array<vec4<f32>, 16>;
    for (var i = 0u; i < count; i += RL) {
        for (var r = 0u; r < RL; r++) {
            if i + r < count {
                let d = x4[(g * count + i + r) * cols4 + c4] - mean;
                s[r] += select(d, d * d, squares);
            }
        }
    }
    return tree16_columns(s);
}

fn grad4(j: u32) -> vec4<f32> {
    if ACT == ACT_NONE {
        return dy4[j];
    }
    return activate_backward4(y_out4[j], dy4[j], ACT, p.slope);
}

@compute @workgroup_size(LW, 1, 1)
fn train_forward_lanes4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c4 = wg.x * LW + lid.x;
    let cols4 = p.cols / 4u;
    if c4 >= cols4 {
        return;
    }
    let count = p.rows / p.groups;
    let n = f32(count);
    for (var g = 0u; g < p.groups; g++) {
        let mean = x4_total(g, c4, count, vec4<f32>(0.0), false) / n;
        let variance = x4_total(g, c4, count, mean, true) / n;
        let inv_std = 1.0 / sqrt(variance + p.eps);
        let gm = gamma4[c4] * inv_std;
        let bb = beta4[c4];
        for (var i = 0u; i < count; i++) {
            let j = (g * count + i) * cols4 + c4;
            y4[j] = activate4((x4[j] - mean) * gm + bb, ACT, p.slope);
        }
        saved_mean4[g * cols4 + c4] = mean;
        saved_inv_std4[g * cols4 + c4] = inv_std;
        if p.update_running != 0u {
            let unbiased = variance * n / max(n - 1.0, 1.0);
            running_mean4[c4] = (1.0 - p.momentum) * running_mean4[c4] + p.momentum * mean;
            running_var4[c4] = (1.0 - p.momentum) * running_var4[c4] + p.momentum * unbiased;
        }
    }
}

@compute @workgroup_size(LW, 1, 1)
fn backward_lanes4(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let c4 = wg.x * LW + lid.x;
    let cols4 = p.cols / 4u;
    if c4 >= cols4 {
        return;
    }
    let count = p.rows / p.groups;
    let n = f32(count);
    var dg_sum = vec4<f32>();
    var db_sum = vec4<f32>();
    for (var g = 0u; g < p.groups; g++) {
        let mean = mean_in4[g * cols4 + c4];
        let inv_std = inv_std_in4[g * cols4 + c4];
        // Σ dy and Σ dy · x̂, summed as x4_total sums.
        var sb: array<vec4<f32>, 16>;
        var sg: array<vec4<f32>, 16>;
        for (var i = 0u; i < count; i += RL) {
            for (var r = 0u; r < RL; r++) {
                if i + r < count {
                    let j = (g * count + i + r) * cols4 + c4;
                    let d = grad4(j);
                    sb[r] += d;
                    sg[r] += d * (x4[j] - mean) * inv_std;
                }
            }
        }
        let db = tree16_columns(sb);
        let dg = tree16_columns(sg);
        db_sum = select(db_sum + db, db, g == 0u);
        dg_sum = select(dg_sum + dg, dg, g == 0u);
        let k = gamma4[c4] * inv_std / n;
        for (var i = 0u; i < count; i++) {
            let j = (g * count + i) * cols4 + c4;
            let xhat = (x4[j] - mean) * inv_std;
            dx4[j] = k * (n * grad4(j) - db - xhat * dg);
        }
    }
    dgamma4[c4] = dg_sum;
    dbeta4[c4] = db_sum;
}
