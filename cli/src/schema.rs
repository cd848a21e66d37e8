//! `eksmgr schema`: the JSON Schema of `eksmgr.toml` (for editors: completion, hover
//! documentation and validation), or with `--markdown` the configuration reference generated
//! from it; on stdout, or into the file `--out` names. Both are generated from the
//! configuration types by `eksmgr_engine::config::schema`, and committed as
//! `docs/eksmgr.schema.json` and `docs/configuration.md`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use eksmgr_engine::config;

/// Prints the schema (pretty JSON) or, with `markdown`, the reference; into `out_file` when
/// given, otherwise on `stdout`.
pub fn run(markdown: bool, out_file: Option<&Path>, stdout: &mut dyn Write) -> Result<u8> {
    let (text, what) = if markdown {
        (config::reference_markdown(), "the configuration reference")
    } else {
        (config::json_schema_text(), "the JSON Schema")
    };
    if let Some(path) = out_file {
        std::fs::write(path, &text)
            .with_context(|| format!("cannot write {what} to {}", path.display()))?;
        return Ok(0);
    }
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(0),
        // A reader that stops early (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e).with_context(|| format!("cannot write {what}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn prints_the_schema_or_the_reference_on_stdout_or_into_a_file() {
        let mut out = Vec::new();
        assert_eq!(run(false, None, &mut out).unwrap(), 0);
        let printed = String::from_utf8(out).unwrap();
        assert!(printed.ends_with("}\n"), "{printed}");
        let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(schema["title"], "eksmgr.toml");
        assert!(jsonschema::draft202012::meta::validate(&schema).is_ok());

        let mut out = Vec::new();
        assert_eq!(run(true, None, &mut out).unwrap(), 0);
        let reference = String::from_utf8(out).unwrap();
        assert!(
            reference.starts_with("# Configuration reference"),
            "{reference}"
        );
        assert!(reference.contains("## `[[clusters]]`"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("eksmgr.schema.json");
        assert_eq!(run(false, Some(&file), &mut Vec::new()).unwrap(), 0);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), printed);
        let missing = dir.path().join("no/such/dir/configuration.md");
        let err = run(true, Some(&missing), &mut Vec::new()).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot write the configuration reference"),
            "{err:#}"
        );
    }

    #[test]
    fn the_command_line_takes_markdown_and_out() {
        let cli =
            Cli::try_parse_from(["eksmgr", "schema", "--markdown", "--out", "ref.md"]).unwrap();
        match cli.command {
            Command::Schema { markdown, out } => {
                assert!(markdown);
                assert_eq!(out.as_deref(), Some(Path::new("ref.md")));
            }
            other => panic!("{other:?}"),
        }
    }
}
