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
// A convolution is the same product with gathered operands (CONV ≠ 0,
// "implicit GEMM": nothing is unfolded in memory). For a convolution of x
// [batch, in_c, in_h, in_w] with w [out_c, in_c, kh, kw] into y [batch,
// out_c, out_h, out_w], NCHW as PyTorch, with im2col(x)[m, k] indexed by
// positions m = (b, oy, ox) and taps k = (ci, ky, kx):
//   CONV_FORWARD  y[co, m]  = Σ_k w[co, k] · im2col(x)[m, k]      a = w, b = x; M = out_c, N = batch·out_h·out_w, K = in_c·kh·kw
//   CONV_WEIGHT   dw[co, k] = Σ_m dy[co, m] · im2col(x)[m, k]     a = dy, b = x; M = out_c, N = in_c·kh·kw, K = batch·out_h·out_w
//   CONV_INPUT    dx[ci, m] = Σ_t w[co, ci, ky, kx] · dy[co, m ← t] a = w, b = dy; M = in_c, N = batch·in_h·in_w, K = out_c·kh·kw
// Rows are channels and columns positions, so that the long side runs
// across threads (the lanes of a CPU adapter's SIMD unit) and each row's
// weights are one load for the whole workgroup; only `b` is gathered.
// CONV_INPUT gathers, for each input position, the outputs it fed through
// tap t = (co, ky, kx) (each output sums its own contributions: no
// scatter, no atomics); it is also ConvTranspose2d's forward. With stride
// s, input row iy is fed only by the taps ky ≡ iy + pad (mod s), so the
// positions are split into s² classes by (iy mod s, ix mod s), one per
// workgroup z, each a product over its own ⌈kh/s⌉·⌈kw/s⌉ taps a channel
// (the "sub-pixel" form: no multiply by a tap that cannot contribute).
// Outputs of CONV_FORWARD and CONV_INPUT are stored NCHW, the bias per row
// (channel).
//
// Each workgroup of WX × WY threads owns a BM × BN block of C (BM = WY·TM,
// BN = WX·TN) and walks K in steps of BK, staging both operand tiles in
// workgroup memory. Each thread keeps TM × TN outputs in registers, spread
// with strides WY and WX so that neighbouring threads touch neighbouring
// columns (coalesced on a GPU, vector lanes on a CPU adapter).
//
// `main` is the GPU kernel; `main_rows`, at the end, the CPU adapters' one.
// The constants below are defaults; the host rewrites them per adapter and
// per use (see src/gpu/kernel.rs, `specialize`).
const WX: u32 = 16u;
const WY: u32 = 16u;
const TM: u32 = 4u;
const TN: u32 = 4u;
const BK: u32 = 16u;
const TRANS_A: bool = false;
const TRANS_B: bool = true;
const HAS_BIAS: bool = false;
const ACCUMULATE: bool = false;
// The fused activation: ACT_NONE, ACT_LEAKY_RELU (with p.slope), ACT_TANH
// or ACT_SIGMOID (src/gpu/prelude.wgsl).
const ACT: u32 = 0u;
// 0: a plain product; a convolution: CONV_FORWARD, CONV_WEIGHT, CONV_INPUT.
const CONV: u32 = 0u;
const CONV_FORWARD: u32 = 1u;
const CONV_WEIGHT: u32 = 2u;
const CONV_INPUT: u32 = 3u;
// Split-K: workgroup z sums only its own slice of k (p.k_slice long) into
// its own copy of C, row-major in `c`; `sum_slices` then adds the copies in
// order. The host splits by the product's shape alone, so every tile shape
// (and every adapter) sums each output in the same order.
const SPLIT: bool = false;

const BM: u32 = WY * TM;
const BN: u32 = WX * TN;
const THREADS: u32 = WX * WY;

// A convolution's geometry, specialised per layer so that the index
// arithmetic divides by constants (1 for a plain product).
const IN_C: u32 = 1u;
const IN_H: u32 = 1u;
const IN_W: u32 = 1u;
const OUT_C: u32 = 1u;
const OUT_H: u32 = 1u;
const OUT_W: u32 = 1u;
const KERNEL_H: u32 = 1u;
const KERNEL_W: u32 = 1u;
const STRIDE: u32 = 1u;
const PAD: u32 = 0u;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    slope: f32,
    // Split-K: the length of a slice of k, and the number of slices.
    k_slice: u32,
    slices: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// CONV_INPUT: this workgroup's class of input positions (workgroup z);
// SPLIT: its slice of k (workgroup z), k_begin .. k_end.
var<private> class_id: u32;
var<private> k_begin: u32;
var<private> k_end: u32;

// What every entry point works out first from its workgroup's z.
fn begin(z: u32) {
    class_id = z;
    k_begin = 0u;
    k_end = p.k;
    if SPLIT {
        k_begin = z * p.k_slice;
        k_end = min(p.k, k_begin + p.k_slice);
    }
}
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

var<workgroup> tile_a: array<f32, BK * BM>; // tile_a[kk * BM + mm] = op(A)[row0 + mm, k0 + kk]
var<workgroup> tile_b: array<f32, BK * BN>; // tile_b[kk * BN + nn] = op(B)[k0 + kk, col0 + nn]

// op(A)[row, kk], zero outside the matrix.
fn load_a(row: u32, kk: u32) -> f32 {
    if row >= p.m || kk >= k_end {
        return 0.0;
    }
    return a_at(row, kk);
}

// op(B)[kk, col], zero outside the matrix.
fn load_b(kk: u32, col: u32) -> f32 {
    if kk >= k_end || col >= p.n {
        return 0.0;
    }
    return b_at(kk, col);
}

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    begin(wg.z);
    let row0 = wg.y * BM;
    let col0 = wg.x * BN;
    let t = lid.y * WX + lid.x;

    var acc: array<f32, TM * TN>;
    var ra: array<f32, TM>;
    var rb: array<f32, TN>;

    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
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
    if row < p.m && stored(col) {
        let i = c_index(row, col);
        var v = value;
        if ACCUMULATE {
            v += c[i];
        }
        if HAS_BIAS {
            v += bias_at(row, col);
        }
        c[i] = activate(v, ACT, p.slope);
    }
}

// The 8 × 8 outputs of a CPU adapter's thread whose columns are WX apart:
// column col + j·WX holds rows row .. row+3 in loj, row+4 .. row+7 in hij.
// (Passed as named vectors, not arrays: an array built here makes the
// driver keep the registers in memory, 10% slower on lavapipe.)
fn store_strided(row: u32, col: u32, lo0: vec4<f32>, hi0: vec4<f32>, lo1: vec4<f32>, hi1: vec4<f32>, lo2: vec4<f32>, hi2: vec4<f32>, lo3: vec4<f32>, hi3: vec4<f32>, lo4: vec4<f32>, hi4: vec4<f32>, lo5: vec4<f32>, hi5: vec4<f32>, lo6: vec4<f32>, hi6: vec4<f32>, lo7: vec4<f32>, hi7: vec4<f32>) {
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

// The 8 × 8 outputs of a thread of 8 adjacent columns, an `Adjacent`
// block (below): row row + i holds columns col .. col+3 in s.c[2i],
// col+4 .. col+7 in s.c[2i + 1].
fn store_adjacent(row: u32, col: u32, s: Adjacent) {
    for (var i = 0u; i < 8u; i++) {
        store4(row + i, col, s.c[2u * i]);
        store4(row + i, col + 4u, s.c[2u * i + 1u]);
    }
}

// C[row, col .. col+3] = v with the epilogue, for col a multiple of 4 and
// N % 4 == 0 (the vec4 kernels'): one vec4 store where C's rows are
// contiguous (every product but a convolution's forward and input
// gradient, which store NCHW), else one element at a time. On lavapipe
// each store is a loop over the lanes, and at the weight gradient's short
// k the stores were a quarter of its memory operations. The same
// arithmetic as `store`, so the same bits.
@group(0) @binding(9) var<storage, read_write> c_v4: array<vec4<f32>>;

fn store4(row: u32, col: u32, v: vec4<f32>) {
    if CONV == CONV_FORWARD || CONV == CONV_INPUT {
        for (var j = 0u; j < 4u; j++) {
            store(row, col + j, v[j]);
        }
        return;
    }
    if row < p.m && col < p.n {
        let i = c_index(row, col) / 4u;
        var w = v;
        if ACCUMULATE {
            w += c_v4[i];
        }
        if HAS_BIAS {
            w += vec4<f32>(bias[col], bias[col + 1u], bias[col + 2u], bias[col + 3u]);
        }
        c_v4[i] = activate4(w, ACT, p.slope);
    }
}

// op(A)[row, kk] and op(B)[kk, col] without a bounds test: past the last
// row or column they read other elements (or, past the buffer's end, what
// the runtime's bounds checks give), and `store` drops those outputs.
fn a_at(row: u32, kk: u32) -> f32 {
    switch CONV {
        case CONV_FORWARD: {
            return a[row * p.k + kk];
        }
        case CONV_WEIGHT: {
            return a[output_index(row, kk)];
        }
        case CONV_INPUT: {
            // w[co, ci, ky, kx] for row = ci and the class's tap kk.
            let t = class_tap(kk);
            if t.y >= KERNEL_H || t.z >= KERNEL_W {
                return 0.0;
            }
            return a[((t.x * IN_C + row) * KERNEL_H + t.y) * KERNEL_W + t.z];
        }
        default: {
            if TRANS_A {
                return a[kk * p.m + row];
            }
            return a[row * p.k + kk];
        }
    }
}

fn b_at(kk: u32, col: u32) -> f32 {
    switch CONV {
        case CONV_FORWARD: {
            return gathered_b(im2col(col, kk));
        }
        case CONV_WEIGHT: {
            return gathered_b(im2col(kk, col));
        }
        case CONV_INPUT: {
            return gathered_b(transposed(col, kk));
        }
        default: {
            if TRANS_B {
                return b[col * p.k + kk];
            }
            return b[kk * p.n + col];
        }
    }
}

// b[i], or 0 for an index of -1 (the padding, or no output).
fn gathered_b(i: i32) -> f32 {
    return select(0.0, b[max(i, 0)], i >= 0);
}

// The index in x of im2col(x)[m, k]: x[b, ci, oy·stride − pad + ky,
// ox·stride − pad + kx] for m = (b, oy, ox), k = (ci, ky, kx); -1 where
// that falls in the padding.
fn im2col(m: u32, k: u32) -> i32 {
    let taps = KERNEL_H * KERNEL_W;
    let ci = k / taps;
    let ky = k % taps / KERNEL_W;
    let kx = k % KERNEL_W;
    let ox = m % OUT_W;
    let oy = m / OUT_W % OUT_H;
    let bi = m / (OUT_W * OUT_H);
    let y = i32(oy * STRIDE + ky) - i32(PAD);
    let x = i32(ox * STRIDE + kx) - i32(PAD);
    if y < 0 || x < 0 || y >= i32(IN_H) || x >= i32(IN_W) {
        return -1;
    }
    return i32(((bi * IN_C + ci) * IN_H + u32(y)) * IN_W + u32(x));
}

// The index in y (NCHW) of output channel co at m = (b, oy, ox).
fn output_index(co: u32, m: u32) -> u32 {
    let plane = OUT_H * OUT_W;
    return (m / plane * OUT_C + co) * plane + m % plane;
}

// The sub-pixel classes of CONV_INPUT: taps per channel in each
// dimension, and the class's positions in each dimension.
const TAPS_Y: u32 = (KERNEL_H + STRIDE - 1u) / STRIDE;
const TAPS_X: u32 = (KERNEL_W + STRIDE - 1u) / STRIDE;

// Every class is laid out on class 0's grid, the largest, so that a
// column's position divides by constants; a smaller class's columns past
// its own rows or columns are computed and not stored.
const CLASS_ROWS: u32 = (IN_H + STRIDE - 1u) / STRIDE;
const CLASS_COLS: u32 = (IN_W + STRIDE - 1u) / STRIDE;

// (co, ky, kx) of the class's tap k = (co, jy, jx): ky ≡ iy + pad (mod
// stride) for every row iy of the class; ky may pass the kernel's edge.
fn class_tap(k: u32) -> vec3<u32> {
    let co = k / (TAPS_Y * TAPS_X);
    let jy = k / TAPS_X % TAPS_Y;
    let jx = k % TAPS_X;
    let ky = (class_id / STRIDE + PAD) % STRIDE + jy * STRIDE;
    let kx = (class_id % STRIDE + PAD) % STRIDE + jx * STRIDE;
    return vec3<u32>(co, ky, kx);
}

// (b, iy, ix) of column m of this workgroup's class (iy, ix may pass the
// input's edge: see CLASS_ROWS).
fn class_position(m: u32) -> vec3<u32> {
    let iy = class_id / STRIDE + m / CLASS_COLS % CLASS_ROWS * STRIDE;
    let ix = class_id % STRIDE + m % CLASS_COLS * STRIDE;
    return vec3<u32>(m / (CLASS_ROWS * CLASS_COLS), iy, ix);
}

// The index in dy of the output that column m of the class received from
// through tap k: y[b, co, oy, ox] with oy·stride − pad + ky = iy (likewise
// x); -1 where no output did.
fn transposed(m: u32, k: u32) -> i32 {
    let t = class_tap(k);
    let q = class_position(m);
    if q.y + PAD < t.y || q.z + PAD < t.z {
        return -1;
    }
    let oy = (q.y + PAD - t.y) / STRIDE;
    let ox = (q.z + PAD - t.z) / STRIDE;
    if oy >= OUT_H || ox >= OUT_W {
        return -1;
    }
    return i32(((q.x * OUT_C + t.x) * OUT_H + oy) * OUT_W + ox);
}

// Where C[row, col] is stored: row-major, or NCHW for a convolution's
// forward (rows are output channels, columns output positions) and input
// gradient (rows are input channels, columns input positions).
fn c_index(row: u32, col: u32) -> u32 {
    switch CONV {
        case CONV_FORWARD: {
            return output_index(row, col);
        }
        case CONV_INPUT: {
            let q = class_position(col);
            return ((q.x * IN_C + row) * IN_H + q.y) * IN_W + q.z;
        }
        default: {
            // Split-K: this slice's own copy of C.
            return (class_id * p.m + row) * p.n + col;
        }
    }
}

// Whether column col of C is stored: inside N, and for a convolution's
// input product a position of the input.
fn stored(col: u32) -> bool {
    if CONV == CONV_INPUT {
        let q = class_position(col);
        return col < p.n && q.y < IN_H && q.z < IN_W;
    }
    return col < p.n;
}

// The bias of C[row, col]: per column, or per row (channel) for a
// convolution's forward and input gradient.
fn bias_at(row: u32, col: u32) -> f32 {
    if CONV == CONV_FORWARD || CONV == CONV_INPUT {
        return bias[row];
    }
    return bias[col];
}

// The same product for CPU adapters (lavapipe), which run the invocations
// of a workgroup as the SIMD lanes of one core. There, a workgroup barrier
// suspends and resumes every group of lanes, and values live across it
// are kept in memory, so this kernel has no workgroup memory and no
// barrier: operands come straight from the buffers (the CPU's caches do
// the staging). A workgroup of WX threads owns 8 rows, the same for all its
// threads; each thread owns 8 columns strided by WX, adjacent across lanes.
// The 8 × 8 outputs live in sixteen named vec4 registers (rows 0-3 in lo_j,
// 4-7 in hi_j for column j), which the compiler keeps out of indexed
// memory. The `rows*` functions are the bodies of the CPU entry points,
// which live in one of two files appended to this one: matmul_alone.wgsl
// (every thread loads the shared rows of A itself: `a_rows`, `a_rows_v4`,
// `a_pair_v4`) or matmul_lanes.wgsl (each subgroup loads them once and
// broadcasts them; `lane` is the thread's lane in its subgroup).
fn rows(wg: vec3<u32>, lid: vec3<u32>, lane: u32) {
    begin(wg.z);
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
    for (var kk = k_begin; kk < k_end; kk++) {
        let r = a_rows(row, kk, lane);
        let alo = vec4<f32>(r[0], r[1], r[2], r[3]);
        let ahi = vec4<f32>(r[4], r[5], r[6], r[7]);
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
    store_strided(row, col, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5, lo6, hi6, lo7, hi7);
}

// `main_rows` for a convolution: the same products in the same order, the
// gather's arithmetic hoisted. Each thread works out once where each of
// its 8 columns reads (a Quad per 4 columns); per k only the tap's offset
// is added and the padding tested, instead of unpicking both the tap and
// the column from their indices for every element.
struct Quad {
    // Index in b of the column's element at tap offset 0, and its (y, x)
    // origin for the padding test; what they mean is per product.
    base: vec4<i32>,
    y: vec4<i32>,
    x: vec4<i32>,
}

// Columns col, col + WX, col + 2·WX and col + 3·WX.
fn quad(col: u32) -> Quad {
    var q: Quad;
    for (var j = 0u; j < 4u; j++) {
        let m = col + j * WX;
        switch CONV {
            case CONV_FORWARD: {
                // m = (b, oy, ox): the patch's top left in x.
                let y = i32(m / OUT_W % OUT_H * STRIDE) - i32(PAD);
                let x = i32(m % OUT_W * STRIDE) - i32(PAD);
                q.y[j] = y;
                q.x[j] = x;
                q.base[j] = i32(m / (OUT_W * OUT_H) * IN_C * IN_H * IN_W) + y * i32(IN_W) + x;
            }
            case CONV_WEIGHT: {
                // m = (ci, ky, kx): the tap's place in the patch at (0, 0).
                let taps = KERNEL_H * KERNEL_W;
                let y = i32(m % taps / KERNEL_W) - i32(PAD);
                let x = i32(m % KERNEL_W) - i32(PAD);
                q.y[j] = y;
                q.x[j] = x;
                q.base[j] = i32(m / taps * IN_H * IN_W) + y * i32(IN_W) + x;
            }
            default: {
                // CONV_INPUT, m = (b, iy, ix) of the class: (oy, ox) of
                // the output fed through the class's first tap, which
                // tap (jy, jx) moves to (oy − jy, ox − jx).
                let at = class_position(m);
                let first = class_tap(0u);
                let y = i32((at.y + PAD - first.y) / STRIDE);
                let x = i32((at.z + PAD - first.z) / STRIDE);
                q.y[j] = y;
                q.x[j] = x;
                q.base[j] = i32(at.x * OUT_C * OUT_H * OUT_W) + y * i32(OUT_W) + x;
            }
        }
    }
    return q;
}

// op(B)[kk, ·] at the quad's 4 columns.
fn gathered(q: Quad, kk: u32) -> vec4<f32> {
    var y: vec4<i32>;
    var x: vec4<i32>;
    var i: vec4<i32>;
    var ok: vec4<bool>;
    switch CONV {
        case CONV_FORWARD: {
            // kk = (ci, ky, kx).
            let taps = KERNEL_H * KERNEL_W;
            let ky = i32(kk % taps / KERNEL_W);
            let kx = i32(kk % KERNEL_W);
            y = q.y + ky;
            x = q.x + kx;
            i = q.base + i32(kk / taps * IN_H * IN_W) + ky * i32(IN_W) + kx;
            ok = vec4<u32>(y) < vec4<u32>(IN_H) & vec4<u32>(x) < vec4<u32>(IN_W);
        }
        case CONV_WEIGHT: {
            // kk = (b, oy, ox).
            let oy = i32(kk / OUT_W % OUT_H * STRIDE);
            let ox = i32(kk % OUT_W * STRIDE);
            y = q.y + oy;
            x = q.x + ox;
            i = q.base + i32(kk / (OUT_W * OUT_H) * IN_C * IN_H * IN_W) + oy * i32(IN_W) + ox;
            ok = vec4<u32>(y) < vec4<u32>(IN_H) & vec4<u32>(x) < vec4<u32>(IN_W);
        }
        default: {
            // kk = (co, jy, jx); a tap past the kernel's edge feeds nothing.
            let t = class_tap(kk);
            let jy = i32(kk / TAPS_X % TAPS_Y);
            let jx = i32(kk % TAPS_X);
            y = q.y - jy;
            x = q.x - jx;
            i = q.base + i32(t.x * OUT_H * OUT_W) - jy * i32(OUT_W) - jx;
            let tap = t.y < KERNEL_H && t.z < KERNEL_W;
            ok = vec4<u32>(y) < vec4<u32>(OUT_H) & vec4<u32>(x) < vec4<u32>(OUT_W) & vec4<bool>(tap);
        }
    }
    let at = vec4<u32>(select(vec4<i32>(0), i, ok));
    return select(vec4<f32>(0.0), vec4<f32>(b[at.x], b[at.y], b[at.z], b[at.w]), ok);
}

fn rows_conv(wg: vec3<u32>, lid: vec3<u32>, lane: u32) {
    begin(wg.z);
    let row = wg.y * 8u;
    let col = wg.x * WX * 8u + lid.x;
    let q_lo = quad(col);
    let q_hi = quad(col + 4u * WX);
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
    for (var kk = k_begin; kk < k_end; kk++) {
        let r = a_rows(row, kk, lane);
        let alo = vec4<f32>(r[0], r[1], r[2], r[3]);
        let ahi = vec4<f32>(r[4], r[5], r[6], r[7]);
        let b_lo = gathered(q_lo, kk);
        let b_hi = gathered(q_hi, kk);
        lo0 = fma(alo, vec4<f32>(b_lo.x), lo0);
        hi0 = fma(ahi, vec4<f32>(b_lo.x), hi0);
        lo1 = fma(alo, vec4<f32>(b_lo.y), lo1);
        hi1 = fma(ahi, vec4<f32>(b_lo.y), hi1);
        lo2 = fma(alo, vec4<f32>(b_lo.z), lo2);
        hi2 = fma(ahi, vec4<f32>(b_lo.z), hi2);
        lo3 = fma(alo, vec4<f32>(b_lo.w), lo3);
        hi3 = fma(ahi, vec4<f32>(b_lo.w), hi3);
        lo4 = fma(alo, vec4<f32>(b_hi.x), lo4);
        hi4 = fma(ahi, vec4<f32>(b_hi.x), hi4);
        lo5 = fma(alo, vec4<f32>(b_hi.y), lo5);
        hi5 = fma(ahi, vec4<f32>(b_hi.y), hi5);
        lo6 = fma(alo, vec4<f32>(b_hi.z), lo6);
        hi6 = fma(ahi, vec4<f32>(b_hi.z), hi6);
        lo7 = fma(alo, vec4<f32>(b_hi.w), lo7);
        hi7 = fma(ahi, vec4<f32>(b_hi.w), hi7);
    }
    store_strided(row, col, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5, lo6, hi6, lo7, hi7);
}

// `main_rows` (or `main_rows_conv`) for a C of fewer than 4 rows (a
// convolution into or out of one to three channels): one row per
// workgroup, each thread 8 columns strided by WX, nothing computed for
// rows that are not there.
@compute @workgroup_size(WX, 1, 1)
fn main_rows_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    begin(wg.z);
    let row = wg.y;
    let col = wg.x * WX * 8u + lid.x;
    // A convolution gathers as main_rows_conv does.
    var q_lo: Quad;
    var q_hi: Quad;
    if CONV != 0u {
        q_lo = quad(col);
        q_hi = quad(col + 4u * WX);
    }
    var lo = vec4<f32>();
    var hi = vec4<f32>();
    for (var kk = k_begin; kk < k_end; kk++) {
        let a0 = vec4<f32>(a_at(row, kk));
        if CONV != 0u {
            lo = fma(a0, gathered(q_lo, kk), lo);
            hi = fma(a0, gathered(q_hi, kk), hi);
        } else {
            lo = fma(a0, vec4<f32>(b_at(kk, col), b_at(kk, col + WX), b_at(kk, col + 2u * WX), b_at(kk, col + 3u * WX)), lo);
            hi = fma(a0, vec4<f32>(b_at(kk, col + 4u * WX), b_at(kk, col + 5u * WX), b_at(kk, col + 6u * WX), b_at(kk, col + 7u * WX)), hi);
        }
    }
    for (var j = 0u; j < 4u; j++) {
        store(row, col + j * WX, lo[j]);
        store(row, col + (4u + j) * WX, hi[j]);
    }
}

// ---------------------------------------------------------------------------
// CPU adapters, operands as vec4s. A SIMD lane loads a vec4 with one
// 16-byte access where four f32 loads cost four, and on lavapipe memory
// accesses, not arithmetic, bound `main_rows`: each load instruction is a
// loop over the lanes. Each variant reads both operands four elements at a
// time along their contiguous axis, so it needs those lengths to be
// multiples of 4 (the host falls back to `main_rows` otherwise). A thread
// keeps 8 columns of TM = 8, 16 or 32 rows, as up to four blocks of 8 (the
// blocks past TM are a constant away from dead code): every load of B
// feeds TM rows' FMAs. Same order of additions per output as every other
// kernel here, whatever TM.

@group(0) @binding(5) var<storage, read> a_v4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b_v4: array<vec4<f32>>;

// 8 rows × 8 columns WX apart: column j holds rows 0-3 in lo[j], 4-7 in hi[j].
struct Strided {
    lo: array<vec4<f32>, 8>,
    hi: array<vec4<f32>, 8>,
}

// 8 rows × 8 adjacent columns: row i holds columns 0-3 in c[2i], 4-7 in c[2i + 1].
struct Adjacent {
    c: array<vec4<f32>, 16>,
}

// acc += 4 steps of k: a[i] holds row i's 4 values of k, b[j] column j's;
// each output adds them one k after the other.
fn add_strided(acc: ptr<function, Strided>, a: array<vec4<f32>, 8>, b: array<vec4<f32>, 8>) {
    for (var e = 0u; e < 4u; e++) {
        let lo_k = vec4<f32>(a[0][e], a[1][e], a[2][e], a[3][e]);
        let hi_k = vec4<f32>(a[4][e], a[5][e], a[6][e], a[7][e]);
        for (var j = 0u; j < 8u; j++) {
            (*acc).lo[j] = fma(lo_k, vec4<f32>(b[j][e]), (*acc).lo[j]);
            (*acc).hi[j] = fma(hi_k, vec4<f32>(b[j][e]), (*acc).hi[j]);
        }
    }
}

// acc += one step of k: a[i] is row i's value, b0 and b1 the 8 columns'.
fn add_adjacent(acc: ptr<function, Adjacent>, a: array<f32, 8>, b0: vec4<f32>, b1: vec4<f32>) {
    for (var i = 0u; i < 8u; i++) {
        (*acc).c[2u * i] = fma(vec4<f32>(a[i]), b0, (*acc).c[2u * i]);
        (*acc).c[2u * i + 1u] = fma(vec4<f32>(a[i]), b1, (*acc).c[2u * i + 1u]);
    }
}

// acc += 4 steps of k: r[i] holds row i's 4 values of k, b[2e] and
// b[2e + 1] the 8 columns' at step e.
fn add_adjacent4(acc: ptr<function, Adjacent>, r: array<vec4<f32>, 8>, b: array<vec4<f32>, 8>) {
    for (var e = 0u; e < 4u; e++) {
        add_adjacent(acc, column(r, e), b[2u * e], b[2u * e + 1u]);
    }
}

// Element e of each of 8 vec4s.
fn column(r: array<vec4<f32>, 8>, e: u32) -> array<f32, 8> {
    return array<f32, 8>(r[0][e], r[1][e], r[2][e], r[3][e], r[4][e], r[5][e], r[6][e], r[7][e]);
}

// The TM rows of blocks c0..c3 (8 rows each; those past TM unused).
fn store_strided_rows(row: u32, col: u32, c0: Strided, c1: Strided, c2: Strided, c3: Strided) {
    store_strided_block(row, col, c0);
    if TM >= 16u {
        store_strided_block(row + 8u, col, c1);
    }
    if TM >= 32u {
        store_strided_block(row + 16u, col, c2);
        store_strided_block(row + 24u, col, c3);
    }
}

fn store_adjacent_rows(row: u32, col: u32, c0: Adjacent, c1: Adjacent, c2: Adjacent, c3: Adjacent) {
    store_adjacent(row, col, c0);
    if TM >= 16u {
        store_adjacent(row + 8u, col, c1);
    }
    if TM >= 32u {
        store_adjacent(row + 16u, col, c2);
        store_adjacent(row + 24u, col, c3);
    }
}

fn store_strided_block(row: u32, col: u32, s: Strided) {
    store_strided(row, col, s.lo[0], s.hi[0], s.lo[1], s.hi[1], s.lo[2], s.hi[2], s.lo[3], s.hi[3], s.lo[4], s.hi[4], s.lo[5], s.hi[5], s.lo[6], s.hi[6], s.lo[7], s.hi[7]);
}


// Y = X · Wᵀ with K % 4 == 0: rows of A and of B are both contiguous in k.
// Thread: rows row .. row+TM-1 (shared), columns col + WX·j. Per 4 steps
// of k: TM / 8 vec4 loads of A (shared across the subgroup), 8 of B,
// 32·TM FMAs; eight steps a trip (on lavapipe 5-9% faster at the step's
// shapes than four, the same at 1024³).
fn rows_nt4(wg: vec3<u32>, lid: vec3<u32>, lane: u32) {
    let row = wg.y * TM;
    let col = wg.x * WX * 8u + lid.x;
    begin(wg.z);
    let k4 = p.k / 4u;
    // An unfolded convolution input product: this class's own operands.
    var a_off = 0u;
    var b_off = 0u;
    if CONV == CONV_INPUT {
        a_off = class_id * p.m * k4;
        b_off = class_id * p.n * k4;
    }
    var c0: Strided;
    var c1: Strided;
    var c2: Strided;
    var c3: Strided;
    // Two vec4s of k a trip, B's 16 loads first, then the last vec4 alone.
    let q_begin = k_begin / 4u;
    let q_end = k_end / 4u;
    let q_main = q_begin + (q_end - q_begin) / 2u * 2u;
    for (var q = q_begin; q < q_main; q += 2u) {
        var b: array<vec4<f32>, 8>;
        var b_next: array<vec4<f32>, 8>;
        for (var j = 0u; j < 8u; j++) {
            b[j] = b4(b_off, col + j * WX, q, k4);
            b_next[j] = b4(b_off, col + j * WX, q + 1u, k4);
        }
        let a = a_off + row * k4 + q;
        add_strided_rows(&c0, &c1, &c2, &c3, a, k4, lane, b);
        add_strided_rows(&c0, &c1, &c2, &c3, a + 1u, k4, lane, b_next);
    }
    if q_main < q_end {
        var b: array<vec4<f32>, 8>;
        for (var j = 0u; j < 8u; j++) {
            b[j] = b4(b_off, col + j * WX, q_main, k4);
        }
        add_strided_rows(&c0, &c1, &c2, &c3, a_off + row * k4 + q_main, k4, lane, b);
    }
    store_strided_rows(row, col, c0, c1, c2, c3);
}

// c0..c3 (8 rows each; those past TM unused) += one vec4 of k: each block's
// rows of A (a_v4[a + i · k4]) used as soon as they are loaded.
fn add_strided_rows(c0: ptr<function, Strided>, c1: ptr<function, Strided>, c2: ptr<function, Strided>, c3: ptr<function, Strided>, a: u32, k4: u32, lane: u32, b: array<vec4<f32>, 8>) {
    add_strided(c0, a_rows_v4(a, k4, lane), b);
    if TM >= 16u {
        add_strided(c1, a_rows_v4(a + 8u * k4, k4, lane), b);
    }
    if TM >= 32u {
        add_strided(c2, a_rows_v4(a + 16u * k4, k4, lane), b);
        add_strided(c3, a_rows_v4(a + 24u * k4, k4, lane), b);
    }
}

// dX = dY · W with K % 4 == 0 and N % 4 == 0: A's rows are contiguous in k,
// B's rows in n. Also a convolution's weight gradient on a CPU adapter,
// unfolded (see `unfold`). Thread: rows row .. row+TM-1 (shared), 8
// adjacent columns col .. col+7 as two vec4s.
fn rows_nn4(wg: vec3<u32>, lid: vec3<u32>, lane: u32) {
    let row = wg.y * TM;
    let col = (wg.x * WX + lid.x) * 8u;
    begin(wg.z);
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    let q0 = col / 4u;
    var c0: Adjacent;
    var c1: Adjacent;
    var c2: Adjacent;
    var c3: Adjacent;
    for (var q = k_begin / 4u; q < k_end / 4u; q++) {
        // B's 8 columns at the 4 steps of k first, then each block of 8
        // rows of A used as soon as it is loaded (so that only one block
        // is held at a time).
        var b: array<vec4<f32>, 8>;
        for (var e = 0u; e < 4u; e++) {
            b[2u * e] = b4(0u, 4u * q + e, q0, n4);
            b[2u * e + 1u] = b4(0u, 4u * q + e, q0 + 1u, n4);
        }
        let a = row * k4 + q;
        add_adjacent4(&c0, a_rows_v4(a, k4, lane), b);
        if TM >= 16u {
            add_adjacent4(&c1, a_rows_v4(a + 8u * k4, k4, lane), b);
        }
        if TM >= 32u {
            add_adjacent4(&c2, a_rows_v4(a + 16u * k4, k4, lane), b);
            add_adjacent4(&c3, a_rows_v4(a + 24u * k4, k4, lane), b);
        }
    }
    store_adjacent_rows(row, col, c0, c1, c2, c3);
}

// dW = dYᵀ · X with M % 4 == 0 and N % 4 == 0: A is stored [K, M], so a
// thread's 8 rows of a block at one step of k are two adjacent vec4s; B's
// rows are contiguous in n. Thread: rows row .. row+TM-1, columns col ..
// col+7 as two vec4s. Four steps of k a trip, then the last steps one at a
// time: a loop of a fixed count with no exit inside is unrolled (with a
// `break` at k's end, lavapipe ran this kernel at half the speed).
fn rows_tn4(wg: vec3<u32>, lid: vec3<u32>, lane: u32) {
    begin(wg.z);
    let row = wg.y * TM;
    let col = (wg.x * WX + lid.x) * 8u;
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    let q0 = col / 4u;
    var c0: Adjacent;
    var c1: Adjacent;
    var c2: Adjacent;
    var c3: Adjacent;
    let k_main = k_begin + (k_end - k_begin) / 4u * 4u;
    for (var k0 = k_begin; k0 < k_main; k0 += 4u) {
        // B's 8 columns at the 4 steps of k first (b[2e], b[2e + 1] at
        // step e), then each block's rows of A, used as soon as loaded.
        var b: array<vec4<f32>, 8>;
        for (var e = 0u; e < 4u; e++) {
            b[2u * e] = b4(0u, k0 + e, q0, n4);
            b[2u * e + 1u] = b4(0u, k0 + e, q0 + 1u, n4);
        }
        let a = k0 * m4 + row / 4u;
        add_steps4(&c0, a_steps_v4(a, m4, lane), b);
        if TM >= 16u {
            add_steps4(&c1, a_steps_v4(a + 2u, m4, lane), b);
        }
        if TM >= 32u {
            add_steps4(&c2, a_steps_v4(a + 4u, m4, lane), b);
            add_steps4(&c3, a_steps_v4(a + 6u, m4, lane), b);
        }
    }
    for (var kk = k_main; kk < k_end; kk++) {
        let a = kk * m4 + row / 4u;
        let b0 = b4(0u, kk, q0, n4);
        let b1 = b4(0u, kk, q0 + 1u, n4);
        add_adjacent(&c0, eight(a_v4[a], a_v4[a + 1u]), b0, b1);
        if TM >= 16u {
            add_adjacent(&c1, eight(a_v4[a + 2u], a_v4[a + 3u]), b0, b1);
        }
        if TM >= 32u {
            add_adjacent(&c2, eight(a_v4[a + 4u], a_v4[a + 5u]), b0, b1);
            add_adjacent(&c3, eight(a_v4[a + 6u], a_v4[a + 7u]), b0, b1);
        }
    }
    store_adjacent_rows(row, col, c0, c1, c2, c3);
}

// acc += 4 steps of k: r[2e] and r[2e + 1] hold the 8 rows' values at
// step e, b[2e] and b[2e + 1] the 8 columns'.
fn add_steps4(acc: ptr<function, Adjacent>, r: array<vec4<f32>, 8>, b: array<vec4<f32>, 8>) {
    for (var e = 0u; e < 4u; e++) {
        add_adjacent(acc, eight(r[2u * e], r[2u * e + 1u]), b[2u * e], b[2u * e + 1u]);
    }
}

// The 8 values of two vec4s.
fn eight(lo: vec4<f32>, hi: vec4<f32>) -> array<f32, 8> {
    return array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
}

// ---------------------------------------------------------------------------
// Thin products (M or N of 1 to 4: a discriminator's logit and its
// gradients), on every adapter: one thread an output, walking its slice of
// k in order, so that no tile is mostly empty; the same sum, in the same
// order, as every kernel above. Threads run along C's rows in storage
// order: an N of 1 puts rows side by side, an M of 1 columns.
const THIN: u32 = 64u;

@compute @workgroup_size(THIN, 1, 1)
fn main_thin(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    begin(wg.z);
    let i = flat_index(wg, nwg, lid.x, THIN);
    let row = i / p.n;
    let col = i % p.n;
    if row >= p.m {
        return;
    }
    var acc = 0.0;
    for (var kk = k_begin; kk < k_end; kk++) {
        acc = fma(a_at(row, kk), b_at(kk, col), acc);
    }
    store(row, col, acc);
}

// Split-K's second pass: C = the slices' copies added in order (p.slices
// of them, m × n each, in `parts`), then the epilogue.
@group(0) @binding(7) var<storage, read> parts: array<f32>;

@compute @workgroup_size(THIN, 1, 1)
fn sum_slices(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid.x, THIN);
    let len = p.m * p.n;
    if i >= len {
        return;
    }
    var acc = parts[i];
    for (var s = 1u; s < p.slices; s++) {
        acc += parts[s * len + i];
    }
    class_id = 0u;
    store(i / p.n, i % p.n, acc);
}

// A convolution's forward product on a CPU adapter, unfolded: `unfold`
// writes im2col(x) into `cols` ([positions, taps], a row per position),
// then `main_rows_nt4` multiplies w by it as a dense layer's forward, four
// taps a load, and stores NCHW. Each element of x is gathered once instead
// of once for every 8 output channels; the sums are the same, in the same
// order. The input product likewise, per sub-pixel class (workgroup z):
// `unfold` writes each class's gathered dy, `unfold_weights` each class's
// taps of w as the rows of a matrix [in_c, taps]. The weight gradient
// dw = dy · im2col(x) likewise: `unfold_weights` writes dy as a matrix
// [out_c, positions], `unfold` im2col(x) as for the forward product (given
// n = positions and k = taps), and `main_rows_nn4` multiplies them.
@group(0) @binding(8) var<storage, read_write> cols: array<vec4<f32>>;

@compute @workgroup_size(THIN, 1, 1)
fn unfold(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = flat_index(wg, nwg, lid.x, THIN);
    let k4 = p.k / 4u;
    if i >= p.n * k4 {
        return;
    }
    let m = i / k4;
    let k = i % k4 * 4u;
    if CONV == CONV_INPUT {
        // The class's (workgroup z's) own rows of cols.
        class_id = wg.z;
        cols[class_id * p.n * k4 + i] = vec4<f32>(gathered_b(transposed(m, k)), gathered_b(transposed(m, k + 1u)), gathered_b(transposed(m, k + 2u)), gathered_b(transposed(m, k + 3u)));
        return;
    }
    if KERNEL_W % 4u != 0u {
        cols[i] = vec4<f32>(gathered_b(im2col(m, k)), gathered_b(im2col(m, k + 1u)), gathered_b(im2col(m, k + 2u)), gathered_b(im2col(m, k + 3u)));
        return;
    }
    // Four taps along one row of the kernel: one row of x, read at x0 .. x0 + 3.
    let taps = KERNEL_H * KERNEL_W;
    let ox = m % OUT_W;
    let oy = m / OUT_W % OUT_H;
    let y = i32(oy * STRIDE + k % taps / KERNEL_W) - i32(PAD);
    let x0 = i32(ox * STRIDE + k % KERNEL_W) - i32(PAD);
    let row = i32(((m / (OUT_W * OUT_H) * IN_C + k / taps) * IN_H) * IN_W) + y * i32(IN_W);
    let xs = vec4<i32>(x0) + vec4<i32>(0, 1, 2, 3);
    let ok = vec4<bool>(u32(y) < IN_H) & vec4<u32>(xs) < vec4<u32>(IN_W);
    let at = max(vec4<i32>(row) + xs, vec4<i32>(0));
    cols[i] = select(vec4<f32>(), vec4<f32>(b[at.x], b[at.y], b[at.z], b[at.w]), ok);
}

@compute @workgroup_size(THIN, 1, 1)
fn unfold_weights(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    class_id = wg.z;
    let i = flat_index(wg, nwg, lid.x, THIN);
    let k4 = p.k / 4u;
    if i >= p.m * k4 {
        return;
    }
    let row = i / k4;
    let k = i % k4 * 4u;
    cols[class_id * p.m * k4 + i] = vec4<f32>(a_at(row, k), a_at(row, k + 1u), a_at(row, k + 2u), a_at(row, k + 3u));
}
