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
// `main` is the GPU kernel; `main_rows`, at the end, the CPU adapters' one.
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
        for (var j = 0u; j < TN; j++) {
            store(row0 + lid.y + i * WY, col0 + lid.x + j * WX, acc[i * TN + j]);
        }
    }
}

// The epilogue of one output: (+ C) (+ bias), activation, inside the matrix only.
fn store(row: u32, col: u32, value: f32) {
    if row < p.m && col < p.n {
        var v = value;
        if ACCUMULATE {
            v += c[row * p.n + col];
        }
        if HAS_BIAS {
            v += bias[col];
        }
        c[row * p.n + col] = activate(v);
    }
}

// op(A)[row, kk] and op(B)[kk, col] without a bounds test: past the last
// row or column they read other elements (or, past the buffer's end, what
// the runtime's bounds checks give), and `store` drops those outputs.
fn a_at(row: u32, kk: u32) -> f32 {
    if TRANS_A {
        return a[kk * p.m + row];
    }
    return a[row * p.k + kk];
}

fn b_at(kk: u32, col: u32) -> f32 {
    if TRANS_B {
        return b[col * p.k + kk];
    }
    return b[kk * p.n + col];
}

// The same product for CPU adapters (lavapipe), which run the invocations
// of a workgroup as the SIMD lanes of one core. There, a workgroup barrier
// suspends and resumes every group of lanes, and values live across it
// are kept in memory, so this kernel has no workgroup memory and no
// barrier: operands come straight from the buffers (the CPU's caches do
// the staging). A workgroup of WX threads owns 8 rows, the same for all its
// threads, so each A element is one uniform (scalar) load; each thread owns
// 8 columns strided by WX, adjacent across lanes. The 8 × 8 outputs live in
// sixteen named vec4 registers (rows 0-3 in lo_j, 4-7 in hi_j for column
// j), which the compiler keeps out of indexed memory.
@compute @workgroup_size(WX, 1, 1)
fn main_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.y * 8u;
    let col = wg.x * WX * 8u + lid.x;
    var lo0 = vec4<f32>();
    var hi0 = vec4<f32>();
    var lo1 = vec4<f32>();
    var hi1 = vec4<f32>();
    var lo2 = vec4<f32>();
    var hi2 = vec4<f32>();
    var lo3 = vec4<f32>();
    var hi3 = vec4<f32>();
    var lo4 = vec4<f32>();
    var hi4 = vec4<f32>();
    var lo5 = vec4<f32>();
    var hi5 = vec4<f32>();
    var lo6 = vec4<f32>();
    var hi6 = vec4<f32>();
    var lo7 = vec4<f32>();
    var hi7 = vec4<f32>();
    for (var kk = 0u; kk < p.k; kk++) {
        let alo = vec4<f32>(a_at(row, kk), a_at(row + 1u, kk), a_at(row + 2u, kk), a_at(row + 3u, kk));
        let ahi = vec4<f32>(a_at(row + 4u, kk), a_at(row + 5u, kk), a_at(row + 6u, kk), a_at(row + 7u, kk));
        let b0 = vec4<f32>(b_at(kk, col));
        lo0 = fma(alo, b0, lo0);
        hi0 = fma(ahi, b0, hi0);
        let b1 = vec4<f32>(b_at(kk, col + 1u * WX));
        lo1 = fma(alo, b1, lo1);
        hi1 = fma(ahi, b1, hi1);
        let b2 = vec4<f32>(b_at(kk, col + 2u * WX));
        lo2 = fma(alo, b2, lo2);
        hi2 = fma(ahi, b2, hi2);
        let b3 = vec4<f32>(b_at(kk, col + 3u * WX));
        lo3 = fma(alo, b3, lo3);
        hi3 = fma(ahi, b3, hi3);
        let b4 = vec4<f32>(b_at(kk, col + 4u * WX));
        lo4 = fma(alo, b4, lo4);
        hi4 = fma(ahi, b4, hi4);
        let b5 = vec4<f32>(b_at(kk, col + 5u * WX));
        lo5 = fma(alo, b5, lo5);
        hi5 = fma(ahi, b5, hi5);
        let b6 = vec4<f32>(b_at(kk, col + 6u * WX));
        lo6 = fma(alo, b6, lo6);
        hi6 = fma(ahi, b6, hi6);
        let b7 = vec4<f32>(b_at(kk, col + 7u * WX));
        lo7 = fma(alo, b7, lo7);
        hi7 = fma(ahi, b7, hi7);
    }
    for (var i = 0u; i < 4u; i++) {
        store(row + i, col, lo0[i]);
        store(row + 4u + i, col, hi0[i]);
        store(row + i, col + 1u * WX, lo1[i]);
        store(row + 4u + i, col + 1u * WX, hi1[i]);
        store(row + i, col + 2u * WX, lo2[i]);
        store(row + 4u + i, col + 2u * WX, hi2[i]);
        store(row + i, col + 3u * WX, lo3[i]);
        store(row + 4u + i, col + 3u * WX, hi3[i]);
        store(row + i, col + 4u * WX, lo4[i]);
        store(row + 4u + i, col + 4u * WX, hi4[i]);
        store(row + i, col + 5u * WX, lo5[i]);
        store(row + 4u + i, col + 5u * WX, hi5[i]);
        store(row + i, col + 6u * WX, lo6[i]);
        store(row + 4u + i, col + 6u * WX, hi6[i]);
        store(row + i, col + 7u * WX, lo7[i]);
        store(row + 4u + i, col + 7u * WX, hi7[i]);
    }
}

