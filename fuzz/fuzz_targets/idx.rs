//! The IDX reader, from the bytes of a file (gzip or not) to a data set.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shadergan::data::idx_images_from_bytes(data, "fuzz.idx");
});
