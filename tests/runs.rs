//! A run you can trust: its folder is its own, and `--resume` does what
//! the user means (train longer, continue in place, find moved data).

use std::path::{Path, PathBuf};
use std::process::Command;

fn shadergan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shadergan"));
    c.env_remove("WGPU_ADAPTER_NAME");
    c
}

/// (success, stderr) of a run of shadergan with `args`.
fn run(args: &[&str]) -> (bool, String) {
    let o = shadergan().args(args).output().expect("run shadergan");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    (o.status.success(), err)
}

fn ok(args: &[&str]) -> String {
    let (ok, err) = run(args);
    assert!(ok, "{args:?} failed: {err}");
    err
}

/// The last line of a command that must fail.
fn refused(args: &[&str]) -> String {
    let (ok, err) = run(args);
    assert!(!ok, "{args:?} succeeded: {err}");
    let last = err.lines().last().unwrap_or("").to_string();
    assert!(last.starts_with("error: "), "{args:?}: {err}");
    last
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shadergan-runs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A short ring run into `out`.
fn ring(out: &Path, steps: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--data",
        "ring",
        "--steps",
        steps,
        "--checkpoint-every",
        "5",
        "--sample-every",
        "0",
        "--log-every",
        "1",
        "--quiet",
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

fn metric_steps(out: &Path) -> Vec<u64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn config(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap()
}

fn weights(checkpoint: &Path) -> Vec<u8> {
    let bytes = std::fs::read(checkpoint).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(|n| n.to_string()).collect();
    names.sort();
    names
        .iter()
        .filter(|n| n.starts_with("generator.") && n.ends_with("weight"))
        .flat_map(|n| st.tensor(n).unwrap().data().to_vec())
        .collect()
}

#[test]
fn a_run_folder_is_the_runs_own() {
    let dir = temp_dir("own");
    let out = dir.join("run");
    ring(&out, "6", &[]);
    // Another run into it is refused, and the folder left as it was.
    let before = std::fs::read(out.join("config.json")).unwrap();
    let e = refused(&[
        "train",
        "--data",
        "grid",
        "--steps",
        "3",
        "--quiet",
        "--out",
        s(&out),
    ]);
    assert!(
        e.contains("holds another run") && e.contains("--overwrite") && e.contains("--resume"),
        "{e}"
    );
    assert_eq!(std::fs::read(out.join("config.json")).unwrap(), before);
    // --overwrite replaces it: the new run's config and only its metrics.
    ring(&out, "3", &["--overwrite", "--seed", "1"]);
    assert_eq!(config(&out)["seed"], 1);
    assert_eq!(metric_steps(&out), vec![1, 2, 3]);
    assert!(!out.join("checkpoints/step_000005.safetensors").exists());
    // A folder of other files is refused too, and --overwrite leaves them.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let e = refused(&[
        "train",
        "--data",
        "ring",
        "--steps",
        "3",
        "--quiet",
        "--out",
        s(&other),
    ]);
    assert!(e.contains("is not empty (notes.txt)"), "{e}");
    ring(&other, "3", &["--overwrite"]);
    assert_eq!(
        std::fs::read_to_string(other.join("notes.txt")).unwrap(),
        "mine"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_folder_another_process_writes_is_refused_naming_it() {
    let dir = temp_dir("lock");
    let out = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    // A live process holds it.
    let mut holder = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(out.join(".lock"), format!("{}\n", holder.id())).unwrap();
    let e = refused(&[
        "train",
        "--data",
        "ring",
        "--steps",
        "3",
        "--quiet",
        "--out",
        s(&out),
    ]);
    assert!(
        e.contains(&format!(
            "process {} is training into this folder",
            holder.id()
        )),
        "{e}"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    // A lock left by a process that is gone is taken over, and released.
    ring(&out, "3", &[]);
    assert!(!out.join(".lock").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn resume_continues_in_place_trains_longer_and_says_when_there_is_nothing_to_do() {
    let dir = temp_dir("resume");
    let out = dir.join("run");
    ring(&out, "10", &[]);
    let ck10 = out.join("checkpoints/step_000010.safetensors");
    let c10 = s(&ck10).to_string();
    // At or before its step: nothing to do, nothing touched.
    let metrics = std::fs::read(out.join("metrics.jsonl")).unwrap();
    let err = ok(&["train", "--resume", &c10, "--steps", "10", "--quiet"]);
    assert!(
        err.contains("nothing to do") && err.contains("step 10"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("metrics.jsonl")).unwrap(), metrics);
    // Beyond its schedule's end: the schedule extends, the weights move,
    // in the checkpoint's own folder (no --out).
    let err = ok(&[
        "train",
        "--resume",
        &c10,
        "--steps",
        "15",
        "--checkpoint-every",
        "5",
        "--quiet",
    ]);
    assert!(
        err.contains("schedule extended") && err.contains("at step 15"),
        "{err}"
    );
    assert_eq!(config(&out)["decay"]["end"], 15);
    let ck15 = out.join("checkpoints/step_000015.safetensors");
    assert_ne!(
        weights(&ck10),
        weights(&ck15),
        "steps 11-15 trained at rate 0"
    );
    assert_eq!(metric_steps(&out), (1..=15).collect::<Vec<_>>());
    // From an earlier checkpoint: metrics cut back to it, then appended.
    let ck5 = out.join("checkpoints/step_000005.safetensors");
    ok(&["train", "--resume", s(&ck5), "--steps", "8", "--quiet"]);
    assert_eq!(metric_steps(&out), (1..=8).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn resume_refuses_flags_that_would_change_the_run_and_takes_those_that_would_not() {
    let dir = temp_dir("flags");
    let out = dir.join("run");
    ring(&out, "5", &[]);
    let ck = out.join("checkpoints/last.safetensors");
    let c = s(&ck);
    for (flag, value, stored) in [
        ("--lr", "0.1", "0.0005"),
        ("--batch", "7", "100"),
        ("--loss", "hinge", "bce"),
        ("--seed", "3", "0"),
        ("--beta1", "0.9", "0.5"),
        ("--pack", "2", "1"),
    ] {
        let e = refused(&["train", "--resume", c, flag, value, "--steps", "8"]);
        assert!(
            e.contains(&format!("{flag}: the checkpoint's run has {stored}")),
            "{flag}: {e}"
        );
    }
    // The same values as the checkpoint's, and flags that do not change
    // the numbers, are taken.
    ok(&[
        "train",
        "--resume",
        c,
        "--lr",
        "0.0005",
        "--seed",
        "0",
        "--sample-every",
        "2",
        "--steps",
        "7",
        "--quiet",
    ]);
    assert_eq!(metric_steps(&out), (1..=7).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_resumed_run_finds_its_data_or_says_which_flag_to_pass() {
    let dir = temp_dir("moved");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let data = dir.join("fashion");
    std::fs::create_dir_all(&data).unwrap();
    for f in [
        "fashion1k-fixture-images-idx3-ubyte.gz",
        "fashion1k-fixture-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(fixture.join(f), data.join(f)).unwrap();
    }
    let images = data.join("fashion1k-fixture-images-idx3-ubyte.gz");
    let out = dir.join("run");
    let common = [
        "--steps",
        "2",
        "--batch",
        "8",
        "--arch",
        "mlp",
        "--g-hidden",
        "16",
        "--d-hidden",
        "16",
        "--quiet",
    ];
    let mut args = vec!["train", "--data", s(&images), "--out", s(&out)];
    args.extend_from_slice(&common);
    // Run from another folder: the stored path is absolute.
    let o = shadergan().args(&args).current_dir(&dir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        config(&out)["data"],
        s(&std::fs::canonicalize(&images).unwrap())
    );
    // The data moves: resume says to pass --data, and takes it.
    let moved = dir.join("moved");
    std::fs::rename(&data, &moved).unwrap();
    let ck = out.join("checkpoints/last.safetensors");
    let e = refused(&["train", "--resume", s(&ck), "--steps", "4"]);
    assert!(e.contains("pass --data"), "{e}");
    let new = moved.join("fashion1k-fixture-images-idx3-ubyte.gz");
    ok(&[
        "train",
        "--resume",
        s(&ck),
        "--data",
        s(&new),
        "--steps",
        "4",
        "--quiet",
    ]);
    assert_eq!(config(&out)["data"], s(&new));
    // Data of another shape is not the run's.
    let e = refused(&[
        "train",
        "--resume",
        s(&ck),
        "--data",
        "ring",
        "--steps",
        "6",
    ]);
    assert!(e.contains("the checkpoint learned [1, 28, 28]"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sample_never_writes_over_its_checkpoint() {
    let dir = temp_dir("sample");
    let out = dir.join("run");
    ring(&out, "2", &[]);
    let ck = out.join("checkpoints/last.safetensors");
    let before = std::fs::read(&ck).unwrap();
    for flag in ["--out", "--npy"] {
        let e = refused(&["sample", "--checkpoint", s(&ck), flag, s(&ck)]);
        assert!(
            e.contains(&format!("{flag} would overwrite an input")),
            "{e}"
        );
    }
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_checkpoint_with_non_finite_weights_is_refused_by_sample_eval_and_resume() {
    let dir = temp_dir("nan");
    let out = dir.join("run");
    ring(&out, "2", &[]);
    let ck = out.join("checkpoints/last.safetensors");
    // The same file with one weight made NaN.
    let bytes = std::fs::read(&ck).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let poisoned = "generator.3.weight";
    let data: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let mut d = view.data().to_vec();
            if name == poisoned {
                d[..4].copy_from_slice(&f32::NAN.to_le_bytes());
            }
            (name, d, view.shape().to_vec(), view.dtype())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, d, s, t)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*t, s.clone(), d).unwrap(),
            )
        })
        .collect();
    let bad = dir.join("bad.safetensors");
    std::fs::write(
        &bad,
        safetensors::serialize(views, meta.metadata().clone()).unwrap(),
    )
    .unwrap();
    let b = s(&bad);
    for args in [
        vec!["sample", "--checkpoint", b, "--out", s(&dir.join("x.png"))],
        vec!["eval", "--checkpoint", b],
        vec!["train", "--resume", b, "--out", s(&dir.join("resumed"))],
    ] {
        let e = refused(&args);
        assert!(
            e.contains(&format!("{poisoned} holds non-finite values"))
                && e.contains("earlier checkpoint"),
            "{args:?}: {e}"
        );
    }
    assert!(!dir.join("x.png").exists() && !dir.join("resumed").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_evaluation_that_cannot_run_is_refused_before_the_run_writes_anything() {
    let dir = temp_dir("unscorable");
    let out = dir.join("run");
    let images = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fashion1k-fixture-images-idx3-ubyte.gz");
    let args = [
        "train",
        "--data",
        s(&images),
        "--steps",
        "2",
        "--eval-every",
        "1",
        "--quiet",
        "--out",
        s(&out),
    ];
    // No classifier of this data in an empty cache.
    let o = shadergan()
        .args(args)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("shadergan classifier --data"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&out).map_or(0, |d| d.count()),
        0,
        "the folder was written"
    );
    // So the same folder takes the run without the evaluation.
    ok(&args[..args.len() - 5]
        .iter()
        .chain(&["--quiet", "--out", s(&out)])
        .copied()
        .collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).ok();
}
