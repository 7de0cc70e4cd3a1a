// Microkernels that measure an adapter's ceilings for the benchmark.
//
// fma_peak: arithmetic in registers only. Each invocation runs 8
//   independent vec4 chains of `iterations` FMAs (8 · 4 · 2 FLOP a round),
//   then writes one value so that nothing is optimised away. The loop runs
//   four rounds a trip (`iterations` is a multiple of 4): a CPU adapter
//   pays for each trip of a loop (lavapipe masks every variable written
//   in it), and one round a trip measured half the FMA rate of four.
// copy: out[i] = src[i] over n vec4s (n a multiple of 4): bytes read +
//   written. Each invocation loads four vec4s, a quarter of the buffer
//   apart, then stores them: one vec4 an invocation measured 7 GB/s on
//   lavapipe where this measures 11, so the one-a-thread form is no
//   ceiling for kernels that move several.
const WG: u32 = 64u;

struct Params {
    n: u32,
    iterations: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn fma_peak(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    let a = vec4<f32>(f32(i) * 1e-9 + 0.999);
    let b = vec4<f32>(1e-6);
    var x0 = vec4<f32>(0.0);
    var x1 = vec4<f32>(1.0);
    var x2 = vec4<f32>(2.0);
    var x3 = vec4<f32>(3.0);
    var x4 = vec4<f32>(4.0);
    var x5 = vec4<f32>(5.0);
    var x6 = vec4<f32>(6.0);
    var x7 = vec4<f32>(7.0);
    for (var r = 0u; r < p.iterations; r += 4u) {
        for (var u = 0u; u < 4u; u++) {
            x0 = fma(x0, a, b);
            x1 = fma(x1, a, b);
            x2 = fma(x2, a, b);
            x3 = fma(x3, a, b);
            x4 = fma(x4, a, b);
            x5 = fma(x5, a, b);
            x6 = fma(x6, a, b);
            x7 = fma(x7, a, b);
        }
    }
    if i < p.n {
        out[i] = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    }
}

@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    let t = p.n / 4u;
    if i < t {
        let a = src[i];
        let b = src[i + t];
        let c = src[i + 2u * t];
        let d = src[i + 3u * t];
        out[i] = a;
        out[i + t] = b;
        out[i + 2u * t] = c;
        out[i + 3u * t] = d;
    }
}
