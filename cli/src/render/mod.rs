//! Views of plans and apply results. `human` is Terraform-style text for terminals and logs;
//! colour is applied through [`Styler`] so it can be switched off (`NO_COLOR`, non-terminals).
//! `json` is the versioned machine-readable plan (`plan --json`, docs/plan-json.md);
//! `markdown` is the plan as a pull-request comment (`plan --format markdown`).

pub mod human;
pub mod json;
pub mod markdown;
pub mod stats;
pub mod textdiff;

/// Applies (or not) terminal styles.
#[derive(Debug, Clone, Copy)]
pub struct Styler {
    color: bool,
}

impl Styler {
    /// A styler; `color` false yields plain text.
    pub fn new(color: bool) -> Self {
        Styler { color }
    }

    /// Plain text styler (tests, files, pipes).
    #[cfg(test)]
    pub fn plain() -> Self {
        Styler { color: false }
    }

    fn paint(
        &self,
        s: &str,
        f: impl FnOnce(console::StyledObject<&str>) -> console::StyledObject<&str>,
    ) -> String {
        if self.color {
            f(console::style(s).force_styling(true)).to_string()
        } else {
            s.to_string()
        }
    }

    /// Additions.
    pub fn green(&self, s: &str) -> String {
        self.paint(s, |x| x.green())
    }

    /// Removals.
    pub fn red(&self, s: &str) -> String {
        self.paint(s, |x| x.red())
    }

    /// Changes.
    pub fn yellow(&self, s: &str) -> String {
        self.paint(s, |x| x.yellow())
    }

    /// Headings.
    pub fn bold(&self, s: &str) -> String {
        self.paint(s, |x| x.bold())
    }

    /// Secondary text.
    pub fn dim(&self, s: &str) -> String {
        self.paint(s, |x| x.dim())
    }
}

#[cfg(test)]
mod tests;
