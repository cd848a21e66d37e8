//! The broken-state corpus: every `fixtures/broken/*.json` must fail to load through
//! [`StateFile::load`] (an error, never a panic) with exactly the text of its sibling
//! `*.expected` file, where the fixture directory is written `<fixtures>/`. A parse error must
//! name the file, a line and a column. Adding a pair adds a case. Run with `EKSMGR_BLESS=1` to
//! (re)write the `.expected` files, then review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use eksmgr_state::{StateError, StateFile};

/// How the fixture directory is written in the `.expected` files.
const PLACEHOLDER: &str = "<fixtures>/";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken")
}

fn cases() -> Vec<PathBuf> {
    let dir = fixtures();
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    cases.sort();
    cases
}

/// The error as the CLI prints it, with the fixture directory replaced by the placeholder.
fn rendered(error: &StateError) -> String {
    let prefix = format!("{}{}", fixtures().display(), std::path::MAIN_SEPARATOR);
    format!("{error}\n").replace(&prefix, PLACEHOLDER)
}

/// What is wrong with loading `case`, or its rendered error.
fn load_error(case: &Path) -> Result<StateError, String> {
    let file = StateFile::new(case);
    match panic::catch_unwind(AssertUnwindSafe(|| file.load())) {
        Err(_) => Err("loading panicked".to_string()),
        Ok(Ok(state)) => Err(format!(
            "loaded without error (serial {}, {} resources)",
            state.serial,
            state.len()
        )),
        Ok(Err(e)) => Ok(e),
    }
}

#[test]
fn broken_state_corpus() {
    let cases = cases();
    assert!(
        cases.len() >= 12,
        "the corpus has only {} cases",
        cases.len()
    );
    let bless = std::env::var_os("EKSMGR_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let error = match load_error(case) {
            Ok(e) => e,
            Err(why) => {
                failures.push(format!("{}: {why}", case.display()));
                continue;
            }
        };
        let actual = rendered(&error);
        if let StateError::Parse { line, column, .. } = &error {
            let place = format!("at line {line}, column {column}");
            if *line == 0 || !actual.contains(&place) {
                failures.push(format!(
                    "{}: a parse error without a line: {actual}",
                    case.display()
                ));
            }
        }
        let name = case.file_name().map(|n| n.to_string_lossy().into_owned());
        let named = format!("`{PLACEHOLDER}{}`", name.unwrap_or_default());
        if !actual.contains(&named) {
            failures.push(format!(
                "{}: the error does not name the file: {actual}",
                case.display()
            ));
        }
        // Parsing the bytes directly gives the same error as loading the file.
        let bytes = fs::read(case).unwrap();
        match StateFile::new(case).parse_bytes(&bytes) {
            Err(e) if rendered(&e) == actual => {}
            other => failures.push(format!(
                "{}: parse_bytes disagrees with load: {other:?}",
                case.display()
            )),
        }
        let expected_path = case.with_extension("expected");
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
    let dir = fixtures();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "expected") {
            assert!(
                path.with_extension("json").exists(),
                "{} has no .json",
                path.display()
            );
        }
    }
}

#[test]
fn the_placeholder_is_only_the_fixture_directory() {
    // A relative path is named as given: what `eksmgr --state x.json` prints.
    let file = StateFile::new("eksmgr.state.json");
    let error = file.parse("{").unwrap_err();
    assert_eq!(
        error.to_string(),
        "could not parse state file `eksmgr.state.json` at line 1, column 1: the file ends too early (EOF while \
         parsing an object): it was cut short; fix the file by hand or restore it from a backup"
    );
}
