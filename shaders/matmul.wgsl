// Tiled matrix product with a fused epilogue.
//
//   C[M, N] = act( op(A) · op(B)  (+ C_old)  (+ bias[col]) )
//
// op(A) is A stored row-major [M, K], or [K, M] when TRANS_A.
// op(B) is B stored row-major [K, N], or [N, K] when TRANS_B.
// The three products of a dense layer are (X: [batch, in], W: [out, in]):
//   forward   Y  = X · Wᵀ    TRANS_A = false, TRANS_B = true
//   input     dX = dY · W    TRANS_A = false, TRANS_B = false
//   weight    dW = dYᵀ · X   TRANS_A = true,  TRANS_B = false
//
// Each workgroup of WX × WY threads owns a BM × BN block of C (BM = WY·TM,
// BN = WX·TN) and walks K in steps of BK, staging both operand tiles in
// workgroup memory. Each thread keeps TM × TN outputs in registers, spread
// with strides WY and WX so that neighbouring threads touch neighbouring
// columns (coalesced on a GPU, vector lanes on a CPU adapter).
//
// The constants below are defaults; the host rewrites them per adapter and
// per use (see src/kernel.rs, `specialize`).
const WX: u32 = 16u;
const WY: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const BK: u32 = 16u;
const TRANS_A: bool = false;
const TRANS_B: bool = true;
const HAS_BIAS: bool = false;
const ACCUMULATE: bool = false;
// 0: none, 1: LeakyReLU(slope), 2: tanh, 3: sigmoid
const ACT: u32 = 0u;

const BM: u32 = WY * TM;
const BN: u32 = WX * TN;
const THREADS: u32 = WX * WY;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    slope: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

var<workgroup> tile_a: array<f32, BK * BM>; // tile_a[kk * BM + mm] = op(A)[row0 + mm, k0 + kk]
var<workgroup> tile_b: array<f32, BK * BN>; // tile_b[kk * BN + nn] = op(B)[k0 + kk, col0 + nn]

// op(A)[row, kk], zero outside the matrix.
fn load_a(row: u32, kk: u32) -> f32 {
    if row >= p.m || kk >= p.k {
        return 0.0;
    }
    if TRANS_A {
        return a[kk * p.m + row];
    }
    return a[row * p.k + kk];
}

// op(B)[kk, col], zero outside the matrix.
fn load_b(kk: u32, col: u32) -> f32 {
    if kk >= p.k || col >= p.n {
        return 0.0;
    }
    if TRANS_B {
        return b[col * p.k + kk];
    }
    return b[kk * p.n + col];
}

fn activate(x: f32) -> f32 {
    switch ACT {
        case 1u: {
            return select(x * p.slope, x, x > 0.0);
        }
        case 2u: {
            return tanh(clamp(x, -20.0, 20.0));
        }
        case 3u: {
            let e = exp(-abs(x));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
        }
        default: {
            return x;
        }
    }
}

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let t = lid.y * WX + lid.x;

    var acc: array<f32, TM * TN>;
    var ra: array<f32, TM>;
    var rb: array<f32, TN>;

    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // Stage the tiles. The index order follows the storage order of each
        // operand, so consecutive threads read consecutive addresses.
        for (var i = t; i < BK * BM; i += THREADS) {
            var kk: u32;
            var mm: u32;
            if TRANS_A {
                kk = i / BM;
                mm = i % BM;
            } else {
                kk = i % BK;
                mm = i / BK;
            }
            tile_a[kk * BM + mm] = load_a(row0 + mm, k0 + kk);
        }
        for (var i = t; i < BK * BN; i += THREADS) {
            var kk: u32;
            var nn: u32;
            if TRANS_B {
                kk = i % BK;
                nn = i / BK;
            } else {
                kk = i / BN;
                nn = i % BN;
            }
            tile_b[kk * BN + nn] = load_b(k0 + kk, col0 + nn);
        }
        workgroupBarrier();

        for (var kk = 0u; kk < BK; kk++) {
            for (var i = 0u; i < TM; i++) {
                ra[i] = tile_a[kk * BM + lid.y + i * WY];
            }
            for (var j = 0u; j < TN; j++) {
                rb[j] = tile_b[kk * BN + lid.x + j * WX];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < TM; i++) {
        let row = row0 + lid.y + i * WY;
        if row >= p.m {
            break;
        }
        for (var j = 0u; j < TN; j++) {
            let col = col0 + lid.x + j * WX;
            if col >= p.n {
                break;
            }
            var v = acc[i * TN + j];
            if ACCUMULATE {
                v += c[row * p.n + col];
            }
            if HAS_BIAS {
                v += bias[col];
            }
            c[row * p.n + col] = activate(v);
        }
    }
}
