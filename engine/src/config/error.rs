//! Configuration errors with positions, rendered like a compiler diagnostic (plain text):
//!
//! ```text
//! eksmgr.toml:12:5: error: invalid account id "12345": expected 12 digits
//!    |
//! 12 | account = "12345"
//!    |           ^^^^^^^
//! ```
//!
//! Positions are 1-based; columns count characters, not bytes. An error about the file as a
//! whole (it cannot be read) has line 0 and renders as `eksmgr.toml: error: cannot read: ...`.

use std::fmt::Write as _;
use std::ops::Range;

/// The source line an error points into, and how much of it to underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The full text of the line (without its line ending).
    pub line_text: String,
    /// Number of characters to underline, starting at the error's column (at least 1).
    pub highlight_len: usize,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file, as given to [`super::load`] or [`super::parse`].
    pub file: String,
    /// 1-based line; 0 when the error is about the whole file.
    pub line: usize,
    /// 1-based column in characters; 0 when the error is about the whole file.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
    /// Byte range in the source the error points at, when it points somewhere.
    pub span: Option<Range<usize>>,
    /// The source line under the error, rendered below the message.
    pub snippet: Option<Snippet>,
}

impl ConfigError {
    /// An error at a byte range of `source`.
    pub fn at(file: &str, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column, snippet) = locate(source, span.clone());
        Self {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            span: Some(span),
            snippet: Some(snippet),
        }
    }

    /// An error about the file as a whole (line 0), e.g. it cannot be read.
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
            span: None,
            snippet: None,
        }
    }

    /// The diagnostic text: the `file:line:col: error: message` line, then the source line
    /// with a caret line under the offending characters. No trailing newline.
    pub fn render(&self) -> String {
        self.render_as("error")
    }

    /// [`ConfigError::render`] for a warning: `file:line:col: warning: message` and the
    /// source line.
    pub fn render_warning(&self) -> String {
        self.render_as("warning")
    }

    fn render_as(&self, severity: &str) -> String {
        let mut out = String::new();
        if self.line == 0 {
            let _ = write!(out, "{}: {severity}: {}", self.file, self.message);
            return out;
        }
        let _ = write!(
            out,
            "{}:{}:{}: {severity}: {}",
            self.file, self.line, self.column, self.message
        );
        if let Some(snippet) = &self.snippet {
            let num = self.line.to_string();
            let gutter = " ".repeat(num.len());
            let pad: String = snippet
                .line_text
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = write!(
                out,
                "\n{gutter} |\n{num} | {}\n{gutter} | {pad}{}",
                snippet.line_text,
                "^".repeat(snippet.highlight_len.max(1))
            );
        }
        out
    }
}

/// Every problem found in a configuration file, in source order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_all(&self.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors, in source order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (never the case for an `Err` returned by this module).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

fn render_all(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ConfigError::render)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The largest char boundary of `s` that is `<= i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based line and column (in characters) of byte offset `span.start`, and the snippet.
pub(crate) fn locate(source: &str, span: Range<usize>) -> (usize, usize, Snippet) {
    let start = floor_boundary(source, span.start);
    let end = floor_boundary(source, span.end.max(start));
    let before = source.get(..start).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let rest = source.get(line_start..).unwrap_or("");
    let line_text = rest.split('\n').next().unwrap_or("");
    let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
    let column = source
        .get(line_start..start)
        .map_or(0, |s| s.chars().count())
        + 1;
    let line_end = line_start + line_text.len();
    let highlight_len = source
        .get(start..end.min(line_end).max(start))
        .map_or(0, |s| s.chars().count())
        .max(1);
    (
        line,
        column,
        Snippet {
            line_text: line_text.to_string(),
            highlight_len,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let src = "a = 1\nbé = \"x\"\r\nc";
        let (l, c, s) = locate(src, 10..13);
        assert_eq!((l, c), (2, 4));
        assert_eq!(s.line_text, "bé = \"x\"");
        assert_eq!(s.highlight_len, 3);
        let (l, c, s) = locate(src, 100..200);
        assert_eq!((l, c, s.line_text.as_str()), (3, 2, "c"));
        let (l, c, _) = locate("", 0..0);
        assert_eq!((l, c), (1, 1));
    }

    #[test]
    fn render() {
        let e = ConfigError::at("eksmgr.toml", "x = 1\n\tbad = 2\n", 7..10, "nope");
        assert_eq!(
            e.to_string(),
            "eksmgr.toml:2:2: error: nope\n  |\n2 | \tbad = 2\n  | \t^^^"
        );
        let e = ConfigError::whole_file("eksmgr.toml", "cannot read: gone");
        assert_eq!(e.to_string(), "eksmgr.toml: error: cannot read: gone");
    }
}
