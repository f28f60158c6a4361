//! The README's benchmark tables must be kept runs', figure for figure: a table of the
//! *Benchmarks* section whose text names a run under `benchmarks/` (the last one named between the
//! previous table and it) is that run's, the run is in the repository with its raw numbers, and
//! `mimic bench-report` renders them again into exactly the rows the README shows. The first
//! table of the section must be one.

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

/// The README's *Benchmarks* section.
fn benchmarks_section() -> String {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let at = readme.find("\n## Benchmarks").expect("README has a Benchmarks section");
    let section = &readme[at..];
    section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)].to_string()
}

/// Each table of `section` with the kept run it is from: the last `benchmarks/<run>/` the text
/// names between the previous table and it (None: the text names none).
fn tables(section: &str) -> Vec<(Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = section;
    while let Some(table_at) = rest.find("\n| ") {
        let text = &rest[..table_at];
        let run = text.rfind("`benchmarks/bench-")
            .map(|named| text[named + 1..].split('`').next().unwrap().trim_end_matches('/').to_string());
        let table = &rest[table_at + 1..];
        let end = table.find("\n\n").unwrap_or(table.len());
        out.push((run, first_table(&table[..end])));
        rest = &table[end..];
    }
    out
}

/// The kept runs' tables of the README, the first table's run first.
fn readme_tables() -> Vec<(String, Vec<String>)> {
    let all = tables(&benchmarks_section());
    assert!(matches!(all.first(), Some((Some(_), _))), "the Benchmarks section names the kept run before its first table");
    all.into_iter().filter_map(|(run, rows)| run.map(|r| (r, rows))).collect()
}

/// The first table: the main one, and the run it is from.
fn readme_table() -> (String, Vec<String>) {
    readme_tables().remove(0)
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
fn the_readmes_benchmark_tables_are_what_the_kept_runs_raw_numbers_give() {
    for (run, readme) in readme_tables() {
        assert!(run.starts_with("benchmarks/bench-"), "{run}");
        let kept = repo().join(&run);
        assert!(readme.len() >= 10, "README's table of {run} has {} rows", readme.len());
        let rendered = rerendered_table(&kept, &kept_raw(&kept), "readme");
        assert_eq!(readme, rendered, "README's benchmark table differs from {run} rendered again");
        // The kept summary is that rendering too (the report a reader opens beside the raw numbers).
        assert_eq!(first_table(&fs::read_to_string(kept.join("summary.md")).unwrap()), rendered, "{run}/summary.md");
    }
}

#[test]
fn a_table_belongs_to_the_last_run_named_before_it() {
    let section = "## Benchmarks\n\nrun `benchmarks/bench-1/`:\n\n| a | b |\n|---|---|\n| x | 1 |\n\n\
                   text, then `benchmarks/bench-2/` and `benchmarks/bench-3/`:\n\n| a | b |\n|---|---|\n| y | 2 |\n\n\
                   no run named:\n\n| a | b |\n|---|---|\n| z | 3 |\n";
    let t = tables(section);
    assert_eq!(t, vec![(Some("benchmarks/bench-1".to_string()), vec!["| x | 1 |".to_string()]),
                       (Some("benchmarks/bench-3".to_string()), vec!["| y | 2 |".to_string()]),
                       (None, vec!["| z | 3 |".to_string()])]);
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
