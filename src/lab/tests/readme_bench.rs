//! The README's benchmark table must be a kept run's, figure for figure: the run it names under
//! `benchmarks/` is in the repository with its raw numbers, and `mimic bench-report` renders them
//! again into exactly the rows the README shows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The rows of the first Markdown table in `text` (its header and rule left out).
fn first_table(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("| ")) else { return Vec::new() };
    lines[start..].iter().take_while(|l| l.starts_with('|')).skip(2).map(|l| l.trim_end().to_string()).collect()
}

/// The README's *Benchmarks* section, and the kept run its table is from: the first
/// `benchmarks/<run>/` the section names before its table.
fn readme_table() -> (String, Vec<String>) {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let at = readme.find("\n## Benchmarks").expect("README has a Benchmarks section");
    let section = &readme[at..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)];
    let table_at = section.find("\n| ").expect("the Benchmarks section has a table");
    let named = section[..table_at].find("`benchmarks/").expect("the section names the kept run before its table");
    let run = section[named + 1..].split('`').next().unwrap().trim_end_matches('/').to_string();
    (run, first_table(&section[table_at..]))
}

/// Render a run's report again from `raw` (its raw.json's bytes) beside `run`'s result.json, in a
/// temporary folder (the kept files stay as they are).
fn rerendered_table(run: &Path, raw: &[u8], name: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("mimic-readme-bench-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::copy(run.join("result.json"), dir.join("result.json")).unwrap_or_else(|e| panic!("{}/result.json: {e}", run.display()));
    fs::write(dir.join("raw.json"), raw).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mimic")).arg("bench-report").arg(&dir).output().unwrap();
    assert!(out.status.success(), "mimic bench-report {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    let table = first_table(&fs::read_to_string(dir.join("summary.md")).unwrap());
    let _ = fs::remove_dir_all(&dir);
    table
}

/// The kept run's raw.json.
fn kept_raw(run: &Path) -> Vec<u8> {
    fs::read(run.join("raw.json")).unwrap_or_else(|e| panic!("{}/raw.json: {e}", run.display()))
}

#[test]
fn the_readmes_benchmark_table_is_what_the_kept_runs_raw_numbers_give() {
    let (run, readme) = readme_table();
    assert!(run.starts_with("benchmarks/bench-"), "{run}");
    let kept = repo().join(&run);
    assert!(readme.len() >= 10, "README's table has {} rows", readme.len());
    let rendered = rerendered_table(&kept, &kept_raw(&kept), "readme");
    assert_eq!(readme, rendered, "README's benchmark table differs from {run} rendered again");
    // The kept summary is that rendering too (the report a reader opens beside the raw numbers).
    assert_eq!(first_table(&fs::read_to_string(kept.join("summary.md")).unwrap()), rendered, "{run}/summary.md");
}

#[test]
fn a_figure_changed_in_a_copy_of_the_kept_run_changes_the_table() {
    // The comparison above can fail: one value in the raw numbers moves one cell.
    let (run, readme) = readme_table();
    let kept = repo().join(&run);
    let mut raw: serde_json::Value = serde_json::from_slice(&kept_raw(&kept)).unwrap();
    let samples = raw["samples"].as_array_mut().expect("raw.json has samples");
    let s = samples.iter_mut().find(|s| s["warmup"] != true && s["scheduler"] == "eevdf").expect("a measured EEVDF sample");
    s["value"] = serde_json::json!(s["value"].as_f64().unwrap() * 1000.0);
    let changed = rerendered_table(&kept, &serde_json::to_vec(&raw).unwrap(), "changed");
    assert_eq!(changed.len(), readme.len());
    assert_ne!(changed, readme, "a thousandfold EEVDF value left the table as it was");
}
