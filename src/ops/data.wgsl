// Gather a batch from a data set of 8-bit samples that lives on the GPU
// (packed four to a u32, little-endian) into f32 rows in [-1, 1], rows
// `stride` elements apart (wider than `features` when labels follow):
//   out[r · stride + f] = byte(indices[r] · features + f) / 127.5 - 1
const WG: u32 = 256u;

struct Params {
    rows: u32,
    features: u32,
    stride: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i >= p.rows * p.features {
        return;
    }
    let r = i / p.features;
    let f = i % p.features;
    let byte_index = indices[r] * p.features + f;
    let word = data[byte_index / 4u];
    let byte = (word >> (8u * (byte_index % 4u))) & 0xffu;
    out[r * p.stride + f] = f32(byte) / 127.5 - 1.0;
}

// The same gather from a data set of f32 samples (2-D points), unchanged.
@group(0) @binding(4) var<storage, read> data_f32: array<f32>;

@compute @workgroup_size(WG)
fn gather_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = flat_index(wg, nwg, lid, WG);
    if i >= p.rows * p.features {
        return;
    }
    let r = i / p.features;
    let f = i % p.features;
    out[r * p.stride + f] = data_f32[indices[r] * p.features + f];
}
