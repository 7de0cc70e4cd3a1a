//! The binary as a user meets it.

use std::process::Command;

fn shadergan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadergan"));
    c.env_remove("WGPU_ADAPTER_NAME");
    c
}

fn output(c: &mut Command) -> (bool, String, String) {
    let o = c.output().expect("run shadergan");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn adapters_lists_at_least_one_adapter_with_its_limits() {
    let (ok, out, err) = output(shadergan().arg("adapters"));
    assert!(ok, "shadergan adapters failed: {err}");
    for field in [
        "backend:",
        "device type:",
        "max storage buffer binding:",
        "workgroup storage:",
        "matmul tile:",
        "(chosen)",
    ] {
        assert!(out.contains(field), "no {field:?} in:\n{out}");
    }
}

#[test]
fn no_adapter_at_all_is_a_clear_error_not_a_panic() {
    // A Vulkan loader pointed at a driver that does not exist sees nothing.
    let (ok, out, err) = output(
        shadergan()
            .arg("info")
            .env("WGPU_BACKEND", "vulkan")
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("VK_DRIVER_FILES", "/nonexistent/icd.json"),
    );
    assert!(!ok, "succeeded without an adapter: {out}");
    assert!(err.contains("no GPU adapter found"), "{err}");
    assert!(err.contains("apt-get install mesa-vulkan-drivers"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_adapter_name_that_matches_nothing_lists_the_adapters() {
    let (ok, _, err) = output(shadergan().args(["info", "--adapter", "no-such-gpu-xyz"]));
    assert!(!ok);
    assert!(
        err.contains("no adapter matches --adapter \"no-such-gpu-xyz\""),
        "{err}"
    );
    assert!(err.contains("Adapters found:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_backend_flag_names_the_choices() {
    let (ok, _, err) = output(shadergan().args(["info", "--backend", "cuda"]));
    assert!(!ok);
    assert!(err.contains("vulkan") && err.contains("gl"), "{err}");
}
