//! A hostile or broken model must stop scx_mimic *before* it touches BPF, with a message that
//! says what is wrong. These run on any host: a scheduler that got as far as BPF would fail with
//! "cannot attach" instead (no sched_ext here) — so the test also proves the order.

use std::path::PathBuf;
use std::process::Command;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scx-mimic-hostile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A valid model file (a stump) of the given kind.
fn valid(kind: &str) -> serde_json::Value {
    let classes: Vec<serde_json::Value> = if kind == "slice" {
        vec![serde_json::json!({"name": "1ms", "slice_ns": 1_000_000}), serde_json::json!({"name": "5ms", "slice_ns": 5_000_000})]
    } else {
        vec![serde_json::json!({"name": "prev_cpu", "slice_ns": 0}), serde_json::json!({"name": "other_busy_cpu", "slice_ns": 0})]
    };
    serde_json::json!({
        "format": "scx_mimic-model", "version": scx_mimic::model::FORMAT_VERSION, "kind": kind,
        "features": scx_mimic::features::FEATURE_NAMES,
        "classes": classes,
        "tree": {"feature": [0, 0, 0], "threshold": [100.0, 0.0, 0.0], "left": [1, 0, 0], "right": [2, 0, 0], "leaf": [-1, 0, 1]},
    })
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scx_mimic")).args(args).output().expect("run scx_mimic");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn hostile_models_are_refused_before_bpf() {
    let cases: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>, &str)> = vec![
        ("cycle", Box::new(|m| m["tree"]["left"][0] = serde_json::json!(0)), "points back to the root"),
        ("out-of-range", Box::new(|m| m["tree"]["right"][0] = serde_json::json!(4_000_000_000u64)), "out of range"),
        ("bad-feature", Box::new(|m| m["tree"]["feature"][0] = serde_json::json!(77)), "feature index 77"),
        ("version", Box::new(|m| m["version"] = serde_json::json!(99)), "version' is 99"),
        ("features", Box::new(|m| m["features"][0] = serde_json::json!("nice")), "feature contract"),
        ("nan", Box::new(|m| m["tree"]["threshold"][0] = serde_json::Value::Null), "tree.threshold[0] is null"),
    ];
    for (tag, break_it, expect) in cases {
        let d = dir(tag);
        let mut slice = valid("slice");
        break_it(&mut slice);
        std::fs::write(d.join("slice.model"), slice.to_string()).unwrap();
        std::fs::write(d.join("placement.model"), valid("placement").to_string()).unwrap();
        std::fs::write(d.join("preempt.model"), valid("preempt").to_string()).unwrap();
        let (code, err) = run(&["--model", d.to_str().unwrap()]);
        assert_eq!(code, 1, "{tag}: exit code {code}, stderr: {err}");
        assert!(err.contains("refusing to start") && err.contains(expect), "{tag}: stderr lacks {expect:?}: {err}");
        assert!(err.contains("slice.model"), "{tag}: the error must name the file: {err}");
        assert!(!err.contains("cannot attach") && !err.contains("panicked"), "{tag}: got past the model check: {err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn garbage_truncated_and_missing_files_are_refused() {
    let d = dir("garbage");
    std::fs::write(d.join("slice.model"), b"\x00\xffnot json").unwrap();
    std::fs::write(d.join("placement.model"), valid("placement").to_string()).unwrap();
    std::fs::write(d.join("preempt.model"), valid("preempt").to_string()).unwrap();
    let (code, err) = run(&["--model", d.to_str().unwrap()]);
    assert!(code == 1 && err.contains("not valid JSON"), "{err}");
    let full = valid("slice").to_string();
    std::fs::write(d.join("slice.model"), &full[..full.len() / 2]).unwrap();
    let (code, err) = run(&["--model", d.to_str().unwrap()]);
    assert!(code == 1 && err.contains("not valid JSON"), "truncated: {err}");
    std::fs::remove_file(d.join("slice.model")).unwrap();
    let (code, err) = run(&["--model", d.to_str().unwrap()]);
    assert!(code == 1 && err.contains("slice.model") && err.contains("No such file"), "missing: {err}");
    // Kinds swapped: a placement model where the slice model belongs.
    std::fs::write(d.join("slice.model"), valid("placement").to_string()).unwrap();
    let (code, err) = run(&["--model", d.to_str().unwrap()]);
    assert!(code == 1 && err.contains("expected Slice"), "swapped: {err}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn fallback_heuristic_says_why_and_goes_on() {
    let d = dir("fallback");
    let (_, err) = run(&["--model", d.to_str().unwrap(), "--fallback", "heuristic"]);
    assert!(err.contains("running the heuristic instead"), "{err}");
    assert!(!err.contains("refusing to start"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn help_explains_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_scx_mimic")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--slice-us", "--stats", "--verbose", "--model", "--fallback", "--report", "--builtin-idle", "--partial"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert!(help.contains("SIGTERM") && help.contains("EEVDF"), "--help should explain how it stops");
}
