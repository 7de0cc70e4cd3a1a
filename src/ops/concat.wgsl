// Rows built side by side, for the class-conditional GAN: the generator
// reads [z, onehot(y)], the discriminator [x, onehot(y)]. Matrices are
// stored row by row; a block of columns in one is (first row, row stride,
// column offset).
//
//   one_hot: out[(first + r)·stride + offset + c·repeat + s] = 1 if c = table[indices[r]], else 0
//            for c < width (the number of classes) and s < repeat: with
//            repeat = 1 a one-hot row, with repeat = H·W one-hot planes
//            (constant channels beside an NCHW image);
//   columns: out[(first + r)·stride + offset + c] = src[(src_first + r)·src_stride + src_offset + c]
//            for c < width.
//
// `columns` is linear, and its backward is `columns` again with the two
// layouts swapped: the discriminator's input gradient of the placed block
// goes back to the generator's output. Labels are constants, so one_hot
// has no backward.
//
// Dispatched over a 2-D grid of workgroups so that any size fits the
// per-dimension workgroup limit; `i` flattens it.
const WG: u32 = 256u;

struct Params {
    rows: u32,
    width: u32,
    first: u32,
    stride: u32,
    offset: u32,
    src_first: u32,
    src_stride: u32,
    src_offset: u32,
    repeat: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> src: array<f32>;

@compute @workgroup_size(WG)
fn one_hot(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    let row = p.width * p.repeat;
    if i >= p.rows * row {
        return;
    }
    let r = i / row;
    let c = i % row / p.repeat;
    out[(p.first + r) * p.stride + p.offset + i % row] = select(0.0, 1.0, table[indices[r]] == c);
}

@compute @workgroup_size(WG)
fn columns(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i >= p.rows * p.width {
        return;
    }
    let r = i / p.width;
    let c = i % p.width;
    out[(p.first + r) * p.stride + p.offset + c] = src[(p.src_first + r) * p.src_stride + p.src_offset + c];
}
