// Batch normalisation over the rows (the batch) of a row-major [rows, cols]
// matrix, one statistic per column (feature), as torch.nn.BatchNorm1d.
//
// train_forward: mean and biased variance per column in two passes (the
//   mean first, then Σ(x - mean)², never E[x²] - E[x]²), then
//   y = γ (x - mean) / sqrt(var + eps) + β. Saves mean and 1/sqrt(var + eps)
//   for backward and, when UPDATE_RUNNING, updates the running statistics the
//   PyTorch way: r = (1 - m) r + m · batch, with the unbiased variance.
// eval_forward: y = γ (x - running_mean) / sqrt(running_var + eps) + β.
// backward: with x̂ = (x - mean) · inv_std,
//   dβ = Σ dy,  dγ = Σ dy · x̂,
//   dx = γ · inv_std / B · (B · dy - dβ - x̂ · dγ).
//
// A workgroup owns CW columns; its RL row lanes each walk every RL-th row in
// order and a fixed tree combines them, so the result is deterministic.
const CW: u32 = 16u;
const RL: u32 = 16u;
const WG: u32 = 256u;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    momentum: f32,
    update_running: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
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

@compute @workgroup_size(CW, RL, 1)
fn train_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * CW + lid.x;
    let live = col < p.cols;
    let n = f32(p.rows);

    var s = 0.0;
    if live {
        for (var r = lid.y; r < p.rows; r += RL) {
            s += x[r * p.cols + col];
        }
    }
    let mean = column_totals(lid, vec2<f32>(s, 0.0)).x / n;

    var q = 0.0;
    if live {
        for (var r = lid.y; r < p.rows; r += RL) {
            let d = x[r * p.cols + col] - mean;
            q += d * d;
        }
    }
    let variance = column_totals(lid, vec2<f32>(q, 0.0)).x / n;
    let inv_std = 1.0 / sqrt(variance + p.eps);

    if live {
        let g = gamma[col] * inv_std;
        let bb = beta[col];
        for (var r = lid.y; r < p.rows; r += RL) {
            y[r * p.cols + col] = (x[r * p.cols + col] - mean) * g + bb;
        }
        if lid.y == 0u {
            saved_mean[col] = mean;
            saved_inv_std[col] = inv_std;
            if p.update_running != 0u {
                let unbiased = variance * n / max(n - 1.0, 1.0);
                running_mean[col] = (1.0 - p.momentum) * running_mean[col] + p.momentum * mean;
                running_var[col] = (1.0 - p.momentum) * running_var[col] + p.momentum * unbiased;
            }
        }
    }
}

@compute @workgroup_size(WG)
fn eval_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i < p.rows * p.cols {
        let col = i % p.cols;
        let inv_std = 1.0 / sqrt(running_var[col] + p.eps);
        y[i] = (x[i] - running_mean[col]) * gamma[col] * inv_std + beta[col];
    }
}

@compute @workgroup_size(CW, RL, 1)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let col = wg.x * CW + lid.x;
    let live = col < p.cols;
    var mean = 0.0;
    var inv_std = 0.0;
    if live {
        mean = mean_in[col];
        inv_std = inv_std_in[col];
    }

    var s = 0.0;
    var sx = 0.0;
    if live {
        for (var r = lid.y; r < p.rows; r += RL) {
            let i = r * p.cols + col;
            let g = dy[i];
            s += g;
            sx += g * (x[i] - mean) * inv_std;
        }
    }
    let sums = column_totals(lid, vec2<f32>(s, sx));
    let db = sums.x;
    let dg = sums.y;

    if live {
        let n = f32(p.rows);
        let k = gamma[col] * inv_std / n;
        for (var r = lid.y; r < p.rows; r += RL) {
            let i = r * p.cols + col;
            let xhat = (x[i] - mean) * inv_std;
            dx[i] = k * (n * dy[i] - db - xhat * dg);
        }
        if lid.y == 0u {
            dgamma[col] = dg;
            dbeta[col] = db;
        }
    }
}
