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
// backward: per group, with x̂ = (x - mean) · inv_std and n its values per
//   channel, dβ_g = Σ dy, dγ_g = Σ dy · x̂,
//   dx = γ · inv_std / n · (n · dy - dβ_g - x̂ · dγ_g); dγ and dβ are the
//   sums over the groups.
//
// A workgroup owns CW channels; its RL lanes each walk every RL-th (row,
// position) of a group in order and a fixed tree combines them, so the
// result is deterministic.
const CW: u32 = 16u;
const RL: u32 = 16u;
const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    momentum: f32,
    update_running: u32,
    spatial: u32,
    groups: u32,
    _pad0: u32,
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

var<workgroup> partial: array<vec2<f32>, WG>;

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
    let row = g * (p.rows / p.groups) + i / p.spatial;
    return (row * p.cols + col) * p.spatial + i % p.spatial;
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
                y[j] = (x[j] - mean) * gm + bb;
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
        y[i] = (x[i] - running_mean[col]) * gamma[col] * inv_std + beta[col];
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
                let d = dy[j];
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
                dx[j] = k * (n * dy[j] - db - xhat * dg);
            }
        }
    }
    if live && lid.y == 0u {
        dgamma[col] = dg_sum;
        dbeta[col] = db_sum;
    }
}
