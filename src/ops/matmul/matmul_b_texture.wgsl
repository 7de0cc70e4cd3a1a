// The vec4 kernels' B from an rgba32float texture holding B as stored,
// texel (q, row) = the vec4 q of row `row` (a plain product: `off` is 0).
// On lavapipe a texel fetch is a gather of the lanes, where a storage
// load is a loop over them (docs/design.md, CPU adapters): the same
// values, so the same bits, fetched faster.
@group(0) @binding(10) var b_tex: texture_2d<f32>;

fn b4(off: u32, row: u32, q: u32, width: u32) -> vec4<f32> {
    return textureLoad(b_tex, vec2<i32>(i32(q), i32(row)), 0);
}
