// The vec4 kernels' B from its storage buffer (b_v4, matmul.wgsl): the
// vec4 q of row `row` of B stored [rows, width] vec4s, `off` vec4s in.
fn b4(off: u32, row: u32, q: u32, width: u32) -> vec4<f32> {
    return b_v4[off + row * width + q];
}
