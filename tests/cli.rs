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
        "cooperative matrices:",
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
            vec!["train", "--batch", "100000"],
            "the largest batch that fits is",
        ),
        (
            vec!["train", "--lr", "nan"],
            "must be a finite positive number",
        ),
        (vec!["train", "--lr=-1"], "must be a finite positive number"),
        (vec!["train", "--data", "/no/such/file"], "no such file"),
        (
            // A --batch given is kept (the default would be rounded to 99).
            vec!["train", "--data", "ring", "--batch", "100", "--pack", "3"],
            "multiple of --pack",
        ),
        (
            vec!["train", "--data", "ring", "--d-steps", "0"],
            "--d-steps 0 must lie between 1 and 16",
        ),
        (
            vec!["train", "--data", "ring", "--norm-lr", "0"],
            "--norm-lr = 0 must be a positive number of at most 1000",
        ),
        (
            vec!["sample", "--checkpoint", junk.to_str().unwrap()],
            "not a safetensors checkpoint",
        ),
        (
            vec!["train", "--conditional", "--unconditional"],
            "cannot be used with",
        ),
        // Each flag names itself, with its range.
        (
            vec!["train", "--latent", "0"],
            "--latent must be at least 1",
        ),
        (
            vec!["train", "--g-hidden", "64,0"],
            "--g-hidden 64,0: every width must be at least 1",
        ),
        (
            vec!["train", "--d-hidden", "0"],
            "--d-hidden 0: every width must be at least 1",
        ),
        (
            vec!["train", "--data", "ring", "--pack", "0"],
            "--pack must be at least 1",
        ),
        (
            vec!["train", "--beta2", "1"],
            "--beta2 = 1 must be at least 0 and less than 1",
        ),
        (vec!["train", "--steps", "0"], "--steps must be at least 1"),
        (
            vec!["train", "--log-every", "0"],
            "--log-every 0 must lie between 1 and 256",
        ),
        (
            vec!["train", "--log-every", "257"],
            "--log-every 257 must lie between 1 and 256",
        ),
        (
            vec!["train", "--eval-n", "0"],
            "--eval-n must be at least 1",
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

/// Waits until the run has logged at least `steps` steps (or 60 s pass).
fn wait_for_steps(out: &std::path::Path, steps: usize) {
    let start = std::time::Instant::now();
    while start.elapsed().as_secs() < 60 {
        let n = std::fs::read_to_string(out.join("metrics.jsonl"))
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if n >= steps {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the run did not reach {steps} steps");
}

fn long_run(out: &std::path::Path, checkpoint_every: &str) -> std::process::Child {
    shadergan()
        .args([
            "train",
            "--data",
            "ring",
            "--steps",
            "1000000",
            "--log-every",
            "5",
            "--checkpoint-every",
            checkpoint_every,
            "--sample-every",
            "0",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends a signal by name (`kill -TERM pid`).
fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigint_and_sigterm_save_a_checkpoint_and_exit_interrupted() {
    let dir = temp_dir("signals");
    for (name, code) in [("INT", 130), ("TERM", 143)] {
        let out = dir.join(name);
        let child = long_run(&out, "0");
        wait_for_steps(&out, 20);
        signal(&child, name);
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "SIG{name}: {err}");
        assert!(err.contains("interrupted: saving a checkpoint"), "{err}");
        let last = err.lines().last().unwrap();
        assert!(
            last.starts_with(&format!("error: interrupted by SIG{name} after step"))
                && last.contains("--resume"),
            "{last}"
        );
        let ck =
            shadergan::gan::checkpoint::read(&out.join("checkpoints/last.safetensors")).unwrap();
        assert!(ck.step >= 20, "checkpoint at step {}", ck.step);
    }
    // A second signal while the first is handled exits at once; the
    // checkpoints under their final names stay whole.
    let out = dir.join("twice");
    let child = long_run(&out, "3");
    wait_for_steps(&out, 10);
    signal(&child, "TERM");
    signal(&child, "TERM");
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for e in std::fs::read_dir(out.join("checkpoints")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".safetensors") && !name.starts_with('.') {
            shadergan::gan::checkpoint::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sigkill_at_any_moment_leaves_the_newest_checkpoint_loadable() {
    let dir = temp_dir("kill");
    for (round, delay_ms) in [37u64, 151, 290, 433].into_iter().enumerate() {
        let out = dir.join(format!("run{round}"));
        let mut child = long_run(&out, "2");
        wait_for_steps(&out, 4);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        // Every checkpoint under its final name reads back whole.
        let mut newest = 0;
        for e in std::fs::read_dir(out.join("checkpoints")).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".safetensors") && !name.starts_with('.') {
                let ck = shadergan::gan::checkpoint::read(&path)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                newest = newest.max(ck.step);
            }
        }
        assert!(newest >= 2, "round {round}: no checkpoint");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_keeps_a_finite_checkpoint() {
    let dir = temp_dir("nan");
    let train = |out: &std::path::Path, extra: &[&str]| {
        output(
            shadergan()
                .args([
                    "train",
                    "--data",
                    "ring",
                    "--steps",
                    "3000",
                    "--checkpoint-every",
                    "1",
                ])
                .args([
                    "--log-every",
                    "1",
                    "--sample-every",
                    "0",
                    "--quiet",
                    "--out",
                ])
                .arg(out)
                .args(extra),
        )
    };
    // Divergence by size stops the run (the health check), naming the
    // step and the newest checkpoint, written before it.
    let out = dir.join("size");
    let (ok, _, err) = train(&out, &["--lr", "1000"]);
    assert!(!ok, "a run at lr 1000 did not stop");
    let last = err.lines().last().unwrap();
    assert!(
        last.contains(": diverged (d_loss") && last.contains("lower --lr (it is 1000)"),
        "{err}"
    );
    let step: u64 = last
        .split("step ")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let named = format!("step_{:06}.safetensors", step - 1);
    if step > 1 {
        assert!(
            last.ends_with(&format!(
                "the last checkpoint before it is {}",
                out.join("checkpoints").join(&named).display()
            )),
            "{last}"
        );
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(
        metrics
            .lines()
            .last()
            .unwrap()
            .contains(r#""kind":"diverged""#),
        "{metrics}"
    );
    // With --health off, only a non-finite loss stops it.
    let out = dir.join("nan");
    let (ok, _, err) = train(&out, &["--loss", "hinge", "--lr", "1e4", "--health", "off"]);
    assert!(!ok, "a run at lr 1e4 did not diverge");
    assert!(
        err.contains("training diverged") && err.contains(" step "),
        "{err}"
    );
    assert!(err.contains("Lower --lr"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = out.join("checkpoints/last.safetensors");
    let npy = dir.join("s.npy");
    let (ok, _, err) = output(shadergan().args([
        "sample",
        "--checkpoint",
        last.to_str().unwrap(),
        "--n",
        "50",
        "--npy",
        npy.to_str().unwrap(),
    ]));
    assert!(ok, "{err}");
    let (values, _) = shadergan::npy::read(&npy).unwrap();
    assert!(
        values.iter().all(|v| v.is_finite()),
        "the kept checkpoint samples non-finite values"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn digits_train_conditional_by_default_and_sample_by_label() {
    let dir = temp_dir("conditional");
    let train = |name: &str, extra: &[&str]| -> (bool, String, std::path::PathBuf) {
        let out = dir.join(name);
        let mut args = vec![
            "train",
            "--steps",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let (ok, _, err) = output(shadergan().args(&args));
        (ok, err, out)
    };
    let classes = |out: &std::path::Path| -> serde_json::Value {
        let config = std::fs::read_to_string(out.join("config.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&config).unwrap()["classes"].clone()
    };
    let (ok, err, out) = train("digits", &[]);
    assert!(ok, "train failed: {err}");
    assert_eq!(classes(&out), 10);
    // The picture: 10 × 10, column j drawing digit j.
    let png = image::open(out.join("samples/step_000002.png")).unwrap();
    assert_eq!(png.width(), png.height());
    let ck = out.join("checkpoints/last.safetensors");
    let ck = ck.to_str().unwrap();

    let npy = dir.join("threes.npy");
    let sample = |extra: &[&str]| {
        let mut args = vec!["sample", "--checkpoint", ck, "--n", "5"];
        args.extend(extra);
        output(shadergan().args(&args))
    };
    let (ok, _, err) = sample(&["--label", "3", "--npy", npy.to_str().unwrap()]);
    assert!(ok, "sample --label failed: {err}");
    let (threes, shape) = shadergan::npy::read(&npy).unwrap();
    assert_eq!(shape, vec![5, 784]);
    let (ok, _, err) = sample(&["--label", "0", "--npy", npy.to_str().unwrap()]);
    assert!(ok, "sample --label failed: {err}");
    let (zeros, _) = shadergan::npy::read(&npy).unwrap();
    assert_ne!(threes, zeros, "the label did not change the samples");
    // Without --n, the 10 × 10 grid of `train`'s pictures.
    let (ok, _, err) =
        output(shadergan().args(["sample", "--checkpoint", ck, "--npy", npy.to_str().unwrap()]));
    assert!(ok, "sample failed: {err}");
    assert_eq!(shadergan::npy::read(&npy).unwrap().1, vec![100, 784]);
    for (extra, want) in [
        (
            vec!["--label", "10"],
            "--label 10: this generator draws classes 0 to 9",
        ),
        (vec!["--reject"], "--reject works with unconditional GANs"),
        (
            vec!["--refine", "--refine-rate", "0.01"],
            "--refine works with unconditional GANs",
        ),
    ] {
        let (ok, _, err) = sample(&extra);
        assert!(!ok && err.contains(want), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (ok, table, err) = output(shadergan().args(["eval", "--checkpoint", ck, "--n", "100"]));
    assert!(ok, "eval failed: {err}");
    assert!(table.contains("sample i draws class i mod 10"), "{table}");
    let (ok, _, err) =
        output(shadergan().args(["eval", "--checkpoint", ck, "--n", "100", "--reject"]));
    assert!(
        !ok && err.contains("--reject works with unconditional GANs"),
        "{err}"
    );

    let (ok, err, out) = train("plain", &["--unconditional"]);
    assert!(ok, "train --unconditional failed: {err}");
    assert_eq!(classes(&out), 0);
    let ck = out.join("checkpoints/last.safetensors");
    let (ok, _, err) = output(shadergan().args([
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--label",
        "1",
    ]));
    assert!(
        !ok && err.contains("this generator is unconditional"),
        "{err}"
    );

    // Images without labels: unconditional by default, --conditional refused.
    let images = dir.join("images-idx3-ubyte.gz");
    std::fs::copy(
        "tests/fixtures/fashion1k-fixture-images-idx3-ubyte.gz",
        &images,
    )
    .unwrap();
    let (ok, err, out) = train("unlabelled", &["--data", images.to_str().unwrap()]);
    assert!(ok, "train on unlabelled images failed: {err}");
    assert_eq!(classes(&out), 0);
    let (ok, err, _) = train(
        "refused",
        &["--data", images.to_str().unwrap(), "--conditional"],
    );
    assert!(
        !ok && err.contains("has no labels to condition on"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_scores_ring_and_digit_checkpoints_and_train_logs_evaluations() {
    let dir = temp_dir("eval");
    // Digits: a few steps, evaluated every 2 into metrics.jsonl.
    let out = dir.join("digits");
    let (ok, _, err) = output(shadergan().args([
        "train",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--eval-n",
        "300",
        "--quiet",
        "--sample-every",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(ok, "train failed: {err}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let evals: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("eval").is_some())
        .collect();
    assert_eq!(evals.len(), 2, "{metrics}");
    assert_eq!(evals[1]["step"], 4);
    assert_eq!(evals[1]["samples"], 300);
    for key in [
        "classes_covered",
        "class_kl",
        "confidence",
        "inception_score",
        "frechet",
    ] {
        assert!(
            evals[1]["eval"][key].is_number(),
            "no {key} in {}",
            evals[1]
        );
    }
    let ck = out.join("checkpoints/last.safetensors");
    let (ok, json, err) = output(shadergan().args([
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--n",
        "300",
        "--json",
    ]));
    assert!(ok, "eval failed: {err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["step"], 4);
    // The real digits score near the top: the ceiling, beside the samples.
    let real = &v["real"];
    assert_eq!(real["classes_covered"], 10);
    assert!(real["inception_score"].as_f64().unwrap() > 9.0, "{real}");
    assert!(real["class_kl"].as_f64().unwrap() < 0.02, "{real}");
    assert!(v["quality"]["inception_score"].as_f64().unwrap() >= 1.0);
    // So few samples come with a note on what their scores are worth.
    assert!(
        v["notes"][0].as_str().unwrap().contains("300 samples"),
        "{v}"
    );
    let (ok, table, err) =
        output(shadergan().args(["eval", "--checkpoint", ck.to_str().unwrap(), "--n", "5"]));
    assert!(ok, "eval failed: {err}");
    assert!(
        table.starts_with("note: 5 samples: the Frechet distance"),
        "{table}"
    );

    // Ring: the table names the PacGAN metrics.
    let out = dir.join("ring");
    let (ok, _, err) = output(shadergan().args([
        "train",
        "--data",
        "ring",
        "--steps",
        "20",
        // β1 = 0, as SAGAN, BigGAN and StyleGAN2 train.
        "--beta1",
        "0",
        "--quiet",
        "--sample-every",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(ok, "train failed: {err}");
    let ck = out.join("checkpoints/last.safetensors");
    let (ok, table, err) = output(shadergan().args(["eval", "--checkpoint", ck.to_str().unwrap()]));
    assert!(ok, "eval failed: {err}");
    for row in [
        "2500 samples",
        "modes captured",
        "of 8",
        "high quality",
        "reverse KL",
    ] {
        assert!(table.contains(row), "no {row:?} in:\n{table}");
    }
    // No samples is a clear error.
    let (ok, _, err) =
        output(shadergan().args(["eval", "--checkpoint", ck.to_str().unwrap(), "--n", "0"]));
    assert!(!ok && err.contains("--n must be at least 1"), "{err}");

    // Discriminator rejection: both sets of scores, and the kept ones as a
    // picture; it draws its own latents.
    let (ok, json, err) = output(shadergan().args([
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--n",
        "500",
        "--reject",
        "--json",
    ]));
    assert!(ok, "eval --reject failed: {err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let r = &v["rejected"];
    assert_eq!(r["drawn"], 16 * 500, "{r}");
    let kept = r["kept"].as_u64().unwrap();
    assert!(kept > 0 && kept <= 500 && r["examined"].as_u64().unwrap() >= kept);
    assert!(r["quality"]["high_quality"].is_number(), "{r}");
    assert!(r["shift"].as_f64().unwrap() >= 0.0, "{r}");
    let png = dir.join("kept.png");
    let (ok, _, err) = output(shadergan().args([
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--n",
        "300",
        "--reject",
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(ok && err.contains("discriminator rejection: kept"), "{err}");
    assert!(png.exists());
    let (ok, _, err) = output(shadergan().args([
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--reject",
        "--batch-stats",
    ]));
    assert!(
        !ok && err.contains("leave out --latents and --batch-stats"),
        "{err}"
    );

    // Refinement: of the rejected samples in `eval`, of the plain ones
    // (as .npy, so the moved samples can be compared) in `sample`.
    let (ok, json, err) = output(shadergan().args([
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--n",
        "200",
        "--reject",
        "--refine",
        "--refine-steps",
        "5",
        "--json",
    ]));
    assert!(ok, "eval --reject --refine failed: {err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let r = &v["refined"];
    assert_eq!(r["of"], "rejected", "{r}");
    assert_eq!(r["samples"], v["rejected"]["kept"], "{r}");
    assert_eq!(r["setting"]["steps"], 5, "{r}");
    assert!(r["quality"]["high_quality"].is_number(), "{r}");
    let npy = |name: &str, refine: bool| {
        let p = dir.join(name);
        let mut args = vec![
            "sample",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--n",
            "7",
            "--npy",
            p.to_str().unwrap(),
        ];
        if refine {
            args.push("--refine");
        }
        let (ok, _, err) = output(shadergan().args(&args));
        assert!(ok, "sample failed: {err}");
        if refine {
            assert!(
                err.contains("discriminator refinement: 100 steps of 0.0008"),
                "{err}"
            );
        }
        std::fs::read(p).unwrap()
    };
    let (plain, refined) = (npy("plain.npy", false), npy("refined.npy", true));
    assert_eq!(plain.len(), refined.len());
    assert_ne!(plain, refined, "--refine did not move the samples");
    let (ok, _, err) = output(shadergan().args([
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--refine",
        "--refine-rate",
        "0",
    ]));
    assert!(
        !ok && err.contains("--refine-rate must be a positive number"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_times_every_kernel_and_the_step_in_one_submission() {
    let (ok, out, err) = output(shadergan().args(["bench", "--quick", "--json", "--batch", "4"]));
    assert!(ok, "bench failed: {err}");
    let reports: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let r = &reports[0];
    assert!(r["peak_gflops"].as_f64().unwrap() > 0.0, "{r}");
    let kernels = r["kernels"].as_array().unwrap();
    for k in [
        "matmul NT G1 forward",
        "batch norm backward",
        "adam",
        "gather batch",
    ] {
        assert!(
            kernels.iter().any(|row| row["kernel"] == k),
            "no {k} row in {kernels:?}"
        );
    }
    let step = &r["steps"][0];
    assert_eq!(step["batch"], 4);
    // The reference step: 59 dispatches (batch norm takes in its activation).
    assert_eq!(step["dispatches"], 59, "{step}");
    assert_eq!(step["submissions"], 1, "{step}");
}

/// The same lines of an error (one line, no panic) for `args`.
fn refused(args: &[&str]) -> String {
    let (ok, out, err) = output(shadergan().args(args));
    assert!(!ok, "{args:?} succeeded: {out}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    let last = err.lines().last().unwrap_or("").to_string();
    assert!(last.starts_with("error: "), "{args:?}: {err}");
    last
}

#[test]
fn a_dcgan_trains_on_a_class_folder_and_samples_by_class_name() {
    let dir = temp_dir("dcgan");
    // The fixture's 9 class folders, and a file that is not an image.
    let data = dir.join("emoji");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emoji");
    for class in std::fs::read_dir(&fixture).unwrap() {
        let class = class.unwrap().path();
        let to = data.join(class.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(&class).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(data.join("PROVENANCE.md"), "Noto emoji\n").unwrap();
    let out = dir.join("run");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let common = [
        "train",
        "--data",
        d,
        "--size",
        "16",
        "--color",
        "--steps",
        "3",
        "--batch",
        "8",
        "--g-width",
        "4",
        "--d-width",
        "4",
        "--sample-every",
        "0",
        "--quiet",
    ];
    let (ok, _, err) = output(shadergan().args(common).args(["--out", o]));
    assert!(ok, "train failed: {err}");
    assert!(err.contains("skipped 1 files"), "{err}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["classes"], 9);
    assert_eq!(config["class_names"][6], "smileys-emotion");
    assert_eq!(config["background"], serde_json::json!([255, 255, 255]));
    assert_eq!(config["generator"][0]["layer"], "conv_transpose2d");
    assert_eq!(config["shape"], serde_json::json!([3, 16, 16]));
    let ck = out.join("checkpoints/last.safetensors");
    let png = dir.join("smileys.png");
    let (ok, _, err) = output(shadergan().args([
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--label",
        "smileys-emotion",
        "--n",
        "4",
        "--out",
        png.to_str().unwrap(),
    ]));
    assert!(ok, "sample failed: {err}");
    assert!(image::open(&png).is_ok());
    let e = refused(&[
        "sample",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--label",
        "dragons",
    ]);
    assert!(
        e.contains("this model's are activities, animals-nature"),
        "{e}"
    );

    // Scored by a CNN classifier of the same folder, which `eval` finds in
    // the cache once `shadergan classifier` has put it there.
    let cache = dir.join("cache");
    let eval = || {
        let mut c = shadergan();
        c.env("XDG_CACHE_HOME", &cache).args([
            "eval",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--n",
            "20",
            "--json",
        ]);
        c
    };
    let (ok, _, err) = output(&mut eval());
    assert!(!ok && err.lines().count() == 1, "{err}");
    assert!(
        err.contains(&format!(
            "`shadergan classifier --data {d} --size 16 --color`"
        )),
        "{err}"
    );
    let (ok, _, err) = output(shadergan().env("XDG_CACHE_HOME", &cache).args([
        "classifier",
        "--data",
        d,
        "--size",
        "16",
        "--color",
        "--steps",
        "5",
    ]));
    assert!(ok, "classifier failed: {err}");
    assert!(err.contains("on 9 images it never saw"), "{err}");
    let (ok, out, err) = output(&mut eval());
    assert!(ok, "eval failed: {err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["quality"]["samples"], 20, "{out}");
    assert!(
        report["real"]["inception_score"].as_f64().unwrap() >= 1.0,
        "{out}"
    );

    // Resumed, it keeps its networks: flags that build others are refused.
    let c = ck.to_str().unwrap();
    let e = refused(&["train", "--resume", c, "--arch", "mlp", "--out", o]);
    assert!(
        e.contains("--arch") && e.contains("holds a DCGAN") && e.contains("keeps its own"),
        "{e}"
    );
    let e = refused(&["train", "--resume", c, "--size", "32", "--out", o]);
    assert!(e.contains("16x16"), "{e}");

    // What a DCGAN cannot do, each refused in one line before any work.
    let e = refused(&[
        "train", "--data", d, "--size", "48", "--arch", "dcgan", "--out", o,
    ]);
    assert!(
        e.contains("sides that double from 4") && e.contains("--size"),
        "{e}"
    );
    let e = refused(&["train", "--data", "ring", "--arch", "dcgan", "--out", o]);
    assert!(e.contains("--arch mlp"), "{e}");
    let e = refused(&["train", "--arch", "dcgan", "--g-hidden", "64", "--out", o]);
    assert!(e.contains("--g-hidden"), "{e}");
    let e = refused(&["train", "--arch", "dcgan", "--g-width", "0", "--out", o]);
    assert!(e.contains("--g-width must be at least 1"), "{e}");
    let e = refused(&["train", "--arch", "mlp", "--g-width", "8", "--out", o]);
    assert!(e.contains("--arch dcgan"), "{e}");
    // A class folder of one image.
    let one = data.join("flags");
    for f in std::fs::read_dir(&one).unwrap().skip(1) {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let e = refused(&["train", "--data", d, "--out", o]);
    assert!(e.contains("a single image") && e.contains("flags"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
