//! Fuzz target for the `eksmgr.toml` parser: arbitrary bytes, decoded as UTF-8 (lossily, so
//! that every input reaches the parser), go through `eksmgr_engine::config::parse`, and the
//! errors are rendered as the CLI would print them. A panic, or an error without a position
//! inside the file, is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(errors) = eksmgr_engine::config::parse(&text, "eksmgr.toml") {
        assert!(!errors.is_empty(), "an Err without any error");
        let lines = text.split('\n').count();
        for e in errors.errors() {
            // Only an unreadable file has no position, and this text was never read from disk.
            assert!(e.line >= 1 && e.column >= 1, "no position: {e}");
            assert!(
                e.line <= lines,
                "line {} past the end ({lines} lines): {e}",
                e.line
            );
        }
        let rendered = errors.to_string();
        assert!(rendered.starts_with("eksmgr.toml:"), "{rendered}");
    }
});
