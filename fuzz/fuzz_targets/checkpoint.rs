//! The checkpoint reader, from the bytes of a file to tensors and config.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shadergan::checkpoint::parse(data, std::path::Path::new("fuzz.safetensors"));
});
