// The helpers every shader shares (src/gpu/prelude.wgsl). The pipeline
// cache puts this file before each shader's own source, so a shader calls
// these as its own functions and never defines them again.

// The flat index of an invocation in a 2-D grid of workgroups of `size`
// invocations each: a long vector's dispatch is spread over two
// dimensions when it has more workgroups than one dimension allows
// (Gpu::grid).
fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32, size: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * size + lid;
}

// 1 / (1 + e^-v), never overflowing: e^-|v| ≤ 1 on both branches.
fn sigmoid(v: f32) -> f32 {
    let e = exp(-abs(v));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}

// log(1 + e) for e ≥ 0, keeping its digits when e is small, where 1 + e
// would round them away.
fn log1p(e: f32) -> f32 {
    if e < 0.1 {
        return e * (1.0 - e * (1.0 / 2.0 - e * (1.0 / 3.0 - e * (1.0 / 4.0 - e * (1.0 / 5.0 - e * (1.0 / 6.0 - e / 7.0))))));
    }
    return log(1.0 + e);
}

// The activation codes of ops::activation::Activation::code.
const ACT_NONE: u32 = 0u;
const ACT_LEAKY_RELU: u32 = 1u;
const ACT_TANH: u32 = 2u;
const ACT_SIGMOID: u32 = 3u;

// f(x) for activation `act` (LeakyReLU takes `slope`). Shaders pass a
// specialised constant, so the switch folds away.
fn activate(x: f32, act: u32, slope: f32) -> f32 {
    switch act {
        case ACT_LEAKY_RELU: {
            return select(x * slope, x, x > 0.0);
        }
        case ACT_TANH: {
            // Clamped: some drivers return NaN from tanh of large arguments.
            return tanh(clamp(x, -20.0, 20.0));
        }
        case ACT_SIGMOID: {
            return sigmoid(x);
        }
        default: {
            return x;
        }
    }
}

// dy · f'(x), from the forward output y = f(x), which is all each of these
// functions needs: LeakyReLU f' = 1 if y > 0 else slope (slope ≥ 0 keeps
// the sign), tanh f' = 1 - y², sigmoid f' = y (1 - y).
fn activate_backward(y: f32, dy: f32, act: u32, slope: f32) -> f32 {
    switch act {
        case ACT_LEAKY_RELU: {
            return select(dy * slope, dy, y > 0.0);
        }
        case ACT_TANH: {
            return dy * (1.0 - y * y);
        }
        case ACT_SIGMOID: {
            return dy * y * (1.0 - y);
        }
        default: {
            return dy;
        }
    }
}

// activate and activate_backward for each element of a vec4.
fn activate4(x: vec4<f32>, act: u32, slope: f32) -> vec4<f32> {
    var y: vec4<f32>;
    for (var e = 0u; e < 4u; e++) {
        y[e] = activate(x[e], act, slope);
    }
    return y;
}

fn activate_backward4(y: vec4<f32>, dy: vec4<f32>, act: u32, slope: f32) -> vec4<f32> {
    var dx: vec4<f32>;
    for (var e = 0u; e < 4u; e++) {
        dx[e] = activate_backward(y[e], dy[e], act, slope);
    }
    return dx;
}

// The fixed tree of 16 partial sums that the reductions' 16-lane
// workgroup trees add (partial[l] += partial[l + half] for half 8, 4, 2,
// 1), for a thread that keeps partials 0-3, 4-7, 8-11 and 12-15 itself
// (the CPU adapters' one-thread-a-column forms): the same bits.
fn tree16(p0: vec4<f32>, p1: vec4<f32>, p2: vec4<f32>, p3: vec4<f32>) -> f32 {
    let h = (p0 + p2) + (p1 + p3);
    let q = h.xy + h.zw;
    return q.x + q.y;
}

// tree16 of four channels at once: s[r] holds partial sum r (p0..p3 above
// are s[0..3], s[4..7], s[8..11], s[12..15]) of each of four channels,
// and each channel is added in tree16's order, so its bits are tree16's.
fn tree16_columns(s: array<vec4<f32>, 16>) -> vec4<f32> {
    var h: array<vec4<f32>, 4>;
    for (var e = 0u; e < 4u; e++) {
        h[e] = (s[e] + s[8u + e]) + (s[4u + e] + s[12u + e]);
    }
    return (h[0] + h[2]) + (h[1] + h[3]);
}
