//! The broken-config corpus: every `fixtures/configs/invalid/*.toml` must fail to load with
//! exactly the text of its sibling `*.expected` file. Adding a pair adds a case. Run with
//! `EKSMGR_BLESS=1` to (re)write the `.expected` files, then review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use eksmgr_engine::config;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs")
}

/// Loads `source` (raw bytes) through [`config::load`] as `eksmgr.toml` in a scratch directory
/// and renders the errors with the directory stripped from the file name.
fn render_errors(source: &[u8]) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("eksmgr.toml");
    fs::write(&path, source).map_err(|e| e.to_string())?;
    match config::load(&path) {
        Ok(_) => Err("loaded without errors".to_string()),
        Err(errors) => {
            let prefix = format!("{}{}", dir.path().display(), std::path::MAIN_SEPARATOR);
            Ok(format!("{errors}\n").replace(&prefix, ""))
        }
    }
}

#[test]
fn invalid_corpus() {
    let dir = fixtures().join("invalid");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "the corpus has only {} cases",
        cases.len()
    );
    let bless = std::env::var_os("EKSMGR_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let source = fs::read(case).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let expected_path = case.with_extension("expected");
        let actual = match render_errors(&source) {
            Ok(text) => text,
            Err(why) => {
                failures.push(format!("{}: {why}", case.display()));
                continue;
            }
        };
        if bless {
            fs::write(&expected_path, &actual)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}\n--- expected ---\n{expected}--- actual ---\n{actual}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_expected_file_has_a_case() {
    let dir = fixtures().join("invalid");
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().is_some_and(|x| x == "expected") {
            assert!(
                path.with_extension("toml").exists(),
                "{} has no .toml",
                path.display()
            );
        }
    }
}
