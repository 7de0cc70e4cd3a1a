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

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("shadergan-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn train_writes_the_run_folder_and_sample_reads_its_checkpoint() {
    let dir = temp_dir("train");
    let out = dir.join("run");
    let (ok, _, err) = output(shadergan().args([
        "train",
        "--data",
        "ring",
        "--steps",
        "30",
        "--sample-every",
        "10",
        "--checkpoint-every",
        "20",
        "--log-every",
        "5",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(ok, "train failed: {err}");
    for f in [
        "config.json",
        "metrics.jsonl",
        "loss.png",
        "samples/step_000010.png",
        "samples/step_000030.png",
        "checkpoints/step_000020.safetensors",
        "checkpoints/step_000030.safetensors",
        "checkpoints/last.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f} is missing");
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // Every step is logged once, in order, though read back in batches.
    assert_eq!(steps, (1..=30).collect::<Vec<u64>>());
    let leftovers: Vec<_> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let (png, npy) = (dir.join("s.png"), dir.join("s.npy"));
    let ck = out.join("checkpoints/last.safetensors");
    let (ok, _, err) = output(shadergan().args([
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--n",
        "100",
        "--out",
        png.to_str().unwrap(),
        "--npy",
        npy.to_str().unwrap(),
    ]));
    assert!(ok, "sample failed: {err}");
    let (values, shape) = shadergan::npy::read(&npy).unwrap();
    assert_eq!(shape, vec![100, 2]);
    assert!(values.iter().all(|v| v.is_finite()));
    assert!(image::open(&png).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_training_flags_and_files_are_clear_errors() {
    let dir = temp_dir("bad");
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "--batch", "0"], "--batch must be at least 1"),
        (
            vec!["train", "--lr", "nan"],
            "must be a finite positive number",
        ),
        (vec!["train", "--lr=-1"], "must be a finite positive number"),
        (vec!["train", "--data", "/no/such/file"], "no such file"),
        (
            vec!["train", "--data", "ring", "--pack", "3"],
            "multiple of --pack",
        ),
        (
            vec!["sample", "--checkpoint", junk.to_str().unwrap()],
            "not a safetensors checkpoint",
        ),
    ];
    for (args, want) in cases {
        let (ok, _, err) = output(shadergan().args(&args));
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
