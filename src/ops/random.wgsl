// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011). Invocation j hashes the
// counter (j, stream, counters[counter_slot], 0) under the key (seed_lo,
// seed_hi) into four independent 32-bit words, so the same inputs give the
// same bits on every adapter and nothing has to be uploaded per step.
//
//   normal_noise:   4 values N(a, b²) per invocation, by Box-Muller
//   uniform_noise:  4 values in [a, b) per invocation
//   sample_indices: 4 integers in [0, range) per invocation (multiply-high)
const WG: u32 = 64u;

struct Params {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    stream: u32,
    counter_slot: u32,
    range: u32,
    a: f32,
    b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> counters: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_u32: array<u32>;

// The high and low words of the 64-bit product a·b, from 16-bit halves.
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let p0 = a_lo * b_lo;
    let p1 = a_lo * b_hi;
    let p2 = a_hi * b_lo;
    let p3 = a_hi * b_hi;
    let mid = (p0 >> 16u) + (p1 & 0xffffu) + (p2 & 0xffffu);
    let hi = p3 + (p1 >> 16u) + (p2 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let r0 = mul_hi_lo(0xD2511F53u, c.x);
        let r1 = mul_hi_lo(0xCD9E8D57u, c.z);
        c = vec4<u32>(r1.x ^ c.y ^ k.x, r1.y, r0.x ^ c.w ^ k.y, r0.y);
        k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

fn draw(j: u32) -> vec4<u32> {
    let counter = vec4<u32>(j, p.stream, counters[p.counter_slot], 0u);
    return philox4x32_10(counter, vec2<u32>(p.seed_lo, p.seed_hi));
}

// The top 24 bits as a float in [0, 1).
fn unit(w: u32) -> f32 {
    return f32(w >> 8u) * (1.0 / 16777216.0);
}

// (normal, normal) from two words by Box-Muller; u1 in (0, 1] keeps log finite.
fn box_muller(w1: u32, w2: u32) -> vec2<f32> {
    let u1 = f32((w1 >> 8u) + 1u) * (1.0 / 16777216.0);
    let u2 = unit(w2);
    let r = sqrt(-2.0 * log(u1));
    let theta = 6.283185307179586 * u2;
    return vec2<f32>(r * cos(theta), r * sin(theta));
}

@compute @workgroup_size(WG)
fn normal_noise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = flat_index(wg, nwg, lid, WG);
    if 4u * j >= p.n {
        return;
    }
    let w = draw(j);
    let z01 = box_muller(w.x, w.y);
    let z23 = box_muller(w.z, w.w);
    let z = array<f32, 4>(z01.x, z01.y, z23.x, z23.y);
    for (var q = 0u; q < 4u; q++) {
        if 4u * j + q < p.n {
            out[4u * j + q] = p.a + p.b * z[q];
        }
    }
}

@compute @workgroup_size(WG)
fn uniform_noise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = flat_index(wg, nwg, lid, WG);
    if 4u * j >= p.n {
        return;
    }
    let w = draw(j);
    let ws = array<u32, 4>(w.x, w.y, w.z, w.w);
    for (var q = 0u; q < 4u; q++) {
        if 4u * j + q < p.n {
            out[4u * j + q] = p.a + (p.b - p.a) * unit(ws[q]);
        }
    }
}

@compute @workgroup_size(WG)
fn sample_indices(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = flat_index(wg, nwg, lid, WG);
    if 4u * j >= p.n {
        return;
    }
    let w = draw(j);
    let ws = array<u32, 4>(w.x, w.y, w.z, w.w);
    for (var q = 0u; q < 4u; q++) {
        if 4u * j + q < p.n {
            out_u32[4u * j + q] = mul_hi_lo(ws[q], p.range).x;
        }
    }
}
