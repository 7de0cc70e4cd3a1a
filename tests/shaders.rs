//! Every shader parses and validates with naga, without a device, in its
//! default form and in every variant the wrappers compile, and what each
//! entry point binds can be read from it.

use shadergan::gpu::kernel::{
    PRELUDE, Value, compile, reflect, specialize, validate, with_prelude,
};
use shadergan::ops::matmul::MatmulTiles;
use shadergan::ops::{self, SHADERS};

/// Every shader of the crate: the ops' and the benchmark's.
fn all() -> Vec<(&'static str, &'static str)> {
    let mut v = SHADERS.to_vec();
    v.push(("bench.wgsl", shadergan::bench::WGSL));
    v
}

fn wgsl_files(dir: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            wgsl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "wgsl") {
            out.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn every_shader_file_is_embedded() {
    let mut on_disk = Vec::new();
    wgsl_files(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut on_disk,
    );
    on_disk.retain(|n| n != "prelude.wgsl");
    on_disk.sort();
    // A name may join the files of one module with " + ".
    let mut embedded: Vec<String> = all()
        .iter()
        .flat_map(|(n, _)| n.split(" + ").map(str::to_string))
        .collect();
    embedded.sort();
    embedded.dedup();
    assert_eq!(on_disk, embedded);
}

#[test]
fn every_shader_parses_and_validates_with_naga() {
    validate(PRELUDE).unwrap_or_else(|e| panic!("prelude.wgsl:\n{e}"));
    for (name, source) in all() {
        let module = validate(&with_prelude(source)).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert!(!module.entry_points.is_empty(), "{name} has no entry point");
    }
}

#[test]
fn every_entry_point_binds_group_0_with_a_uniform_of_scalars() {
    for (name, source) in all() {
        let (module, info) = compile(&with_prelude(source)).unwrap();
        for e in &module.entry_points {
            let r = reflect(&module, &info, &e.name)
                .unwrap_or_else(|m| panic!("{name}::{}: {m}", e.name));
            assert!(!r.storage.is_empty(), "{name}::{} binds no buffer", e.name);
            let mut bindings: Vec<u32> = r.storage.iter().map(|s| s.binding).collect();
            bindings.extend(r.uniform.iter().map(|u| u.binding));
            bindings.extend(r.textures.iter().map(|t| t.1));
            let n = bindings.len();
            bindings.sort();
            bindings.dedup();
            assert_eq!(
                bindings.len(),
                n,
                "{name}::{}: a binding used twice",
                e.name
            );
        }
    }
}

#[test]
fn a_uniform_block_is_filled_by_name_and_checked_against_the_shader() {
    let (module, info) = compile(&with_prelude(ops::reduce::WGSL)).unwrap();
    let r = reflect(&module, &info, "column_sum").unwrap();
    let u = r.uniform.expect("column_sum has a uniform block");
    let names: Vec<&str> = u.fields.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "rows",
            "cols",
            "scale",
            "out_index",
            "spatial",
            "_pad0",
            "_pad1",
            "_pad2"
        ]
    );
    let good = [
        ("rows", Value::U32(3)),
        ("cols", Value::U32(5)),
        ("scale", Value::F32(0.5)),
        ("out_index", Value::U32(0)),
        ("spatial", Value::U32(1)),
    ];
    let bytes = u.encode(&good).unwrap();
    assert_eq!(&bytes[..4], &3u32.to_le_bytes());
    assert_eq!(&bytes[8..12], &0.5f32.to_le_bytes());
    // A field the shader does not have, one it has that is not given, a
    // value of the wrong type: each is refused by name.
    let mut extra = good.to_vec();
    extra.push(("slope", Value::F32(1.0)));
    assert!(u.encode(&extra).unwrap_err().contains("slope"));
    assert!(u.encode(&good[..3]).unwrap_err().contains("out_index"));
    let mut wrong = good;
    wrong[2] = ("scale", Value::U32(1));
    assert!(u.encode(&wrong).unwrap_err().contains("scale"));
    // The storage buffers and their access come from the declarations.
    let s: Vec<(&str, bool)> = r
        .storage
        .iter()
        .map(|s| (s.name.as_str(), s.written))
        .collect();
    assert_eq!(s, [("x", false), ("out", true)]);
}

#[test]
fn every_matmul_variant_validates() {
    let tiles = [
        MatmulTiles::CPU,
        MatmulTiles::GPU,
        MatmulTiles::GPU_SMALL,
        MatmulTiles::SAFE,
    ];
    for t in tiles {
        for (ta, tb) in [(false, true), (false, false), (true, false)] {
            for bias in [false, true] {
                for acc in [false, true] {
                    let variants = (0..4).flat_map(|a| (0..4).map(move |c| (a, c)));
                    for ((act, conv), split) in variants.flat_map(|v| [(v, false), (v, true)]) {
                        let consts = [
                            ("WX", format!("{}u", t.wx)),
                            ("WY", format!("{}u", t.wy)),
                            ("TM", format!("{}u", t.tm)),
                            ("TN", format!("{}u", t.tn)),
                            ("BK", format!("{}u", t.bk.max(1))),
                            ("TRANS_A", ta.to_string()),
                            ("TRANS_B", tb.to_string()),
                            ("HAS_BIAS", bias.to_string()),
                            ("ACCUMULATE", acc.to_string()),
                            ("ACT", format!("{act}u")),
                            ("CONV", format!("{conv}u")),
                            ("SPLIT", split.to_string()),
                        ];
                        for wgsl in [
                            ops::matmul::WGSL,
                            ops::matmul::WGSL_LANES,
                            ops::matmul::WGSL_LANES_TEXTURE,
                        ] {
                            let src = specialize(wgsl, &consts).unwrap();
                            validate(&with_prelude(&src))
                                .unwrap_or_else(|e| panic!("{consts:?}:\n{e}"));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_loss_kind_and_activation_validates() {
    for kind in 0..4 {
        let src = specialize(ops::loss::WGSL, &[("KIND", format!("{kind}u"))]).unwrap();
        validate(&with_prelude(&src)).unwrap_or_else(|e| panic!("KIND {kind}:\n{e}"));
    }
    for act in 1..4 {
        let src = specialize(ops::activation::WGSL, &[("ACT", format!("{act}u"))]).unwrap();
        validate(&with_prelude(&src)).unwrap_or_else(|e| panic!("ACT {act}:\n{e}"));
    }
}

#[test]
fn specialising_an_unknown_constant_is_an_error() {
    let err = specialize(ops::matmul::WGSL, &[("NOPE", "1u".into())]).unwrap_err();
    assert!(err.contains("NOPE"));
}

#[test]
fn invalid_wgsl_is_reported_with_its_location() {
    let err = validate("fn main() { let x: u32 = 1.5; }").unwrap_err();
    assert!(
        err.contains("1.5") || err.contains("f32") || err.contains("float"),
        "{err}"
    );
}

#[test]
fn a_texture_is_read_from_the_shader_in_place_of_its_buffer() {
    let (module, info) = compile(&with_prelude(ops::matmul::WGSL_LANES_TEXTURE)).unwrap();
    for entry in ["main_rows_nt4", "main_rows_nn4", "main_rows_tn4"] {
        let r = reflect(&module, &info, entry).unwrap();
        assert_eq!(r.textures, [("b_tex".to_string(), 10)], "{entry}");
        assert!(!r.storage.iter().any(|s| s.name == "b_v4"), "{entry}");
    }
    // The buffer form of the same entry points reads B from b_v4.
    let (module, info) = compile(&with_prelude(ops::matmul::WGSL_LANES)).unwrap();
    let r = reflect(&module, &info, "main_rows_nt4").unwrap();
    assert!(r.textures.is_empty());
    assert!(r.storage.iter().any(|s| s.name == "b_v4"));
}
