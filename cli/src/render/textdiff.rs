//! A line diff for showing how a policy document changes, with `similar` (Myers' algorithm:
//! a smallest diff in O((N+M)D) rather than the O(N*M) table of a plain longest common
//! subsequence; the removed lines of a change come before the added ones).

use similar::{Algorithm, DiffOp, capture_diff_slices};

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// Unchanged.
    Same(&'a str),
    /// Only in the old text.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// Diffs two texts line by line.
pub fn diff_lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    for op in capture_diff_slices(Algorithm::Myers, &a, &b) {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                out.extend(a[old_index..old_index + len].iter().map(|l| Line::Same(l)));
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => out.extend(
                a[old_index..old_index + old_len]
                    .iter()
                    .map(|l| Line::Removed(l)),
            ),
            DiffOp::Insert {
                new_index, new_len, ..
            } => out.extend(
                b[new_index..new_index + new_len]
                    .iter()
                    .map(|l| Line::Added(l)),
            ),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                out.extend(
                    a[old_index..old_index + old_len]
                        .iter()
                        .map(|l| Line::Removed(l)),
                );
                out.extend(
                    b[new_index..new_index + new_len]
                        .iter()
                        .map(|l| Line::Added(l)),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_changed_lines() {
        let d = diff_lines("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(
            d,
            vec![
                Line::Same("a"),
                Line::Removed("b"),
                Line::Added("x"),
                Line::Same("c")
            ]
        );
    }

    #[test]
    fn handles_empty_sides() {
        assert_eq!(diff_lines("", "a"), vec![Line::Added("a")]);
        assert_eq!(diff_lines("a", ""), vec![Line::Removed("a")]);
    }
}
