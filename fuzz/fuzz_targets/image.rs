//! The image-folder reader's decoder, with its size limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shadergan::data::decode_image_bytes(data, "fuzz.png");
});
