//! Every shader parses and validates with naga, without a device, in its
//! default form and in every variant the wrappers compile.

use shadergan::kernel::{specialize, validate};
use shadergan::ops::matmul::MatmulTiles;
use shadergan::shaders;

#[test]
fn every_shader_file_is_embedded() {
    let mut on_disk: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".wgsl"))
            .collect();
    on_disk.sort();
    let embedded: Vec<String> = shaders::ALL.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, embedded);
}

#[test]
fn every_shader_parses_and_validates_with_naga() {
    for (name, source) in shaders::ALL {
        let module = validate(source).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert!(!module.entry_points.is_empty(), "{name} has no entry point");
    }
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
                    for act in 0..4 {
                        let consts = [
                            ("WX", format!("{}u", t.wx)),
                            ("WY", format!("{}u", t.wy)),
                            ("TM", format!("{}u", t.tm)),
                            ("TN", format!("{}u", t.tn)),
                            ("BK", format!("{}u", t.bk)),
                            ("TRANS_A", ta.to_string()),
                            ("TRANS_B", tb.to_string()),
                            ("HAS_BIAS", bias.to_string()),
                            ("ACCUMULATE", acc.to_string()),
                            ("ACT", format!("{act}u")),
                        ];
                        let consts: Vec<(&str, String)> = consts
                            .into_iter()
                            .map(|(n, v)| {
                                (
                                    n,
                                    if n == "BK" && v == "0u" {
                                        "1u".into()
                                    } else {
                                        v
                                    },
                                )
                            })
                            .collect();
                        let src = specialize(shaders::MATMUL, &consts).unwrap();
                        validate(&src).unwrap_or_else(|e| panic!("{consts:?}:\n{e}"));
                    }
                }
            }
        }
    }
}

#[test]
fn every_loss_kind_validates() {
    for kind in 0..4 {
        let src = specialize(shaders::LOSS, &[("KIND", format!("{kind}u"))]).unwrap();
        validate(&src).unwrap_or_else(|e| panic!("KIND {kind}:\n{e}"));
    }
}

#[test]
fn specialising_an_unknown_constant_is_an_error() {
    let err = specialize(shaders::MATMUL, &[("NOPE", "1u".into())]).unwrap_err();
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
