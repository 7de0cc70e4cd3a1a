//! The floors of docs/design.md import one way: no module names a floor
//! above its own, and nothing below the command line names clap.

use std::path::{Path, PathBuf};

/// The floors, bottom up, and the modules each holds. `error`, `files` and
/// `npy` serve every floor and name none.
const FLOORS: &[(&str, &[&str])] = &[
    ("base", &["error", "files", "npy"]),
    ("gpu", &["gpu"]),
    ("ops", &["ops"]),
    ("nn", &["nn"]),
    ("gan", &["gan"]),
    (
        "top",
        &[
            "data",
            "eval",
            "classifier",
            "train",
            "health",
            "sample",
            "bench",
            "render",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The floor of a source file, by its top module.
fn floor_of(src: &Path, file: &Path) -> Option<usize> {
    let rel = file.strip_prefix(src).unwrap();
    let top = rel
        .iter()
        .next()?
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string();
    FLOORS
        .iter()
        .position(|(_, mods)| mods.contains(&top.as_str()))
}

#[test]
fn no_module_names_a_floor_above_its_own() {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let Some(floor) = floor_of(src, f) else {
            continue; // lib.rs and main.rs sit on top
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (above, (_, mods)) in FLOORS.iter().enumerate().skip(floor + 1) {
            let _ = above;
            for m in *mods {
                for pattern in [
                    format!("crate::{m}::"),
                    format!("crate::{m};"),
                    format!("crate::{m}}}"),
                ] {
                    if text.contains(&pattern) {
                        wrong.push(format!("{} names {pattern}", f.display()));
                    }
                }
            }
        }
        if text.contains("clap") {
            wrong.push(format!("{} names clap", f.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the floors:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_random_stream_of_a_run_is_its_own() {
    let all = shadergan::gan::streams::ALL;
    for (i, (a, x)) in all.iter().enumerate() {
        for (b, y) in &all[i + 1..] {
            assert_ne!(x, y, "streams {a} and {b} share number {x}");
        }
    }
}
