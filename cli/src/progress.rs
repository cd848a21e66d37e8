//! Everything eksmgr shows on stderr besides errors: progress (a spinner while the estate is
//! discovered, a bar while it is refreshed and while a plan is applied, a spinner per long wait
//! such as a cluster being created) and the informational lines around it.
//!
//! Progress is drawn only when stderr is a terminal and `--quiet` is not given, so logs, CI
//! output and tests that capture stderr see the lines alone. Every line written while a bar is
//! shown goes through [`Output::println`] (logs through [`LogWriter`]), which lifts the bars
//! first so that they are not torn.
//!
//! The decisions behind the global flags are pure functions here: colours ([`use_color`]:
//! `--color`, `NO_COLOR`, `CLICOLOR_FORCE`), log levels ([`log_filter`]: `-v`, `-q`,
//! `RUST_LOG`) and whether progress is drawn ([`draw_progress`]).

use std::collections::HashMap;
use std::fmt::Display;
use std::io::Write;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use eksmgr_engine::apply::ApplyEvent;
use eksmgr_engine::plan::Plan;
use eksmgr_engine::refresh::RefreshProgress;
use eksmgr_state::ResourceAddress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ColorChoice;
use crate::render::{Styler, human};

/// The environment variables that bear on colours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColorEnv {
    /// `NO_COLOR` is set to something.
    pub no_color: bool,
    /// `CLICOLOR_FORCE` is set to something but `0`.
    pub clicolor_force: bool,
}

impl ColorEnv {
    /// Read from the process environment.
    pub fn from_env() -> Self {
        let value = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        ColorEnv {
            no_color: value("NO_COLOR").is_some(),
            clicolor_force: value("CLICOLOR_FORCE").is_some_and(|v| v != "0"),
        }
    }
}

/// Whether a stream gets colours: `never` and `always` say so; `auto` colours a terminal
/// unless `NO_COLOR` is set, and any stream when `CLICOLOR_FORCE` is set.
pub fn use_color(choice: ColorChoice, is_terminal: bool, env: ColorEnv) -> bool {
    match choice {
        ColorChoice::Never => false,
        ColorChoice::Always => true,
        ColorChoice::Auto => env.clicolor_force || (is_terminal && !env.no_color),
    }
}

/// The crates whose logs `-v` turns up (their log targets).
const OWN_CRATES: [&str; 5] = [
    "eksmgr",
    "eksmgr_engine",
    "eksmgr_providers",
    "eksmgr_secrets",
    "eksmgr_state",
];

/// The log filter (`tracing_subscriber::EnvFilter` directives) for `-v` given `verbose` times
/// and `-q`: eksmgr's own crates log warnings by default, errors only when quiet, and -v info,
/// -vv debug, -vvv trace. The other crates (the AWS SDK) log errors only by default: their
/// warnings (a region or credentials source that is not there, such as instance metadata off
/// EC2) are not the user's to act on, and eksmgr reports the failures that matter with a hint;
/// they log warnings at -v and -vv, debug at -vvv, trace beyond. `RUST_LOG`, when set and not
/// empty, wins.
pub fn log_filter(verbose: u8, quiet: bool, rust_log: Option<&str>) -> String {
    if let Some(directives) = rust_log.filter(|r| !r.trim().is_empty()) {
        return directives.to_string();
    }
    let (own, others) = match (quiet, verbose) {
        (true, _) => ("error", "error"),
        (false, 0) => ("warn", "error"),
        (false, 1) => ("info", "warn"),
        (false, 2) => ("debug", "warn"),
        (false, 3) => ("trace", "debug"),
        (false, _) => ("trace", "trace"),
    };
    let mut filter = others.to_string();
    if own != others {
        for krate in OWN_CRATES {
            filter.push_str(&format!(",{krate}={own}"));
        }
    }
    filter
}

/// Whether progress is drawn: on a terminal (not a dumb one) and not under `--quiet`.
pub fn draw_progress(quiet: bool, stderr_is_terminal: bool, term: Option<&str>) -> bool {
    !quiet && stderr_is_terminal && term != Some("dumb")
}

/// The bars and lines on stderr, for the whole run.
pub struct Output {
    bars: MultiProgress,
    visible: bool,
    quiet: bool,
    styler: Styler,
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

/// Sets up the run's stderr output: `quiet` (`-q`), whether progress is drawn (see
/// [`draw_progress`]) and whether stderr gets colours. The first call wins.
pub fn init(quiet: bool, visible: bool, color: bool) -> &'static Output {
    OUTPUT.get_or_init(|| Output::new(quiet, visible, color))
}

/// The run's stderr output (without [`init`]: lines only, no colour).
pub fn output() -> &'static Output {
    OUTPUT.get_or_init(|| Output::new(false, false, false))
}

/// A spinner: the message and how long it has been going.
const SPINNER: &str = "{spinner:.green} {msg} {elapsed:.dim}";
/// The refresh: `Refreshing 37/120 resources in 12 accounts`.
const REFRESH: &str = "{spinner:.green} {prefix:.bold} {pos}/{len} resources in {msg} [{bar:30.cyan/blue}] {elapsed:.dim}";
/// An apply: `Applying 5/20`, and what went wrong so far.
const APPLY: &str =
    "{spinner:.green} {prefix:.bold} {pos}/{len} [{bar:30.cyan/blue}] {elapsed:.dim} {msg}";
/// A long wait of one operation, above the apply's bar.
const WAIT: &str = "  {spinner:.yellow} {msg}";

/// How often spinners turn.
const TICK: Duration = Duration::from_millis(100);

/// The style of `template` (an ASCII bar, as cargo draws it).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .progress_chars("=> ")
}

/// Where a new bar goes.
enum At {
    /// Below the others.
    End,
    /// Just above the last one.
    AboveLast,
}

impl Output {
    fn new(quiet: bool, visible: bool, color: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Output {
            bars: MultiProgress::with_draw_target(target),
            visible,
            quiet,
            styler: Styler::new(color),
        }
    }

    /// The styler for stderr.
    pub fn styler(&self) -> Styler {
        self.styler
    }

    /// Writes a line on stderr, with the bars lifted meanwhile.
    pub fn println(&self, line: impl Display) {
        self.bars.suspend(|| {
            // Nothing more can be said if stderr is gone.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        });
    }

    /// An informational line: not under `--quiet`.
    pub fn info(&self, line: impl Display) {
        if !self.quiet {
            self.println(line);
        }
    }

    /// A spinner showing `message` until it is dropped.
    pub fn spinner(&self, message: &str) -> Task {
        let bar = self.bar(SPINNER, None, At::End, true);
        bar.set_message(message.to_string());
        Task {
            bar,
            bars: self.bars.clone(),
        }
    }

    /// The refresh's bar, moved on by [`Task::refreshed`], until it is dropped.
    pub fn refresh(&self) -> Task {
        // Drawn from the first report on, once the count is known.
        let bar = self.bar(REFRESH, Some(0), At::End, false);
        bar.set_prefix("Refreshing");
        Task {
            bar,
            bars: self.bars.clone(),
        }
    }

    /// The progress of applying a plan of `total` operations ([`operations`]); `verb` is
    /// `Apply` or `Destroy`.
    pub fn apply(&'static self, total: usize, verb: &str) -> ApplyProgress {
        let bar = self.bar(APPLY, Some(total as u64), At::End, true);
        bar.set_prefix(match verb {
            "Destroy" => "Destroying",
            _ => "Applying",
        });
        ApplyProgress {
            out: self,
            bar,
            waits: Mutex::new(HashMap::new()),
            failed: Mutex::new(0),
        }
    }

    /// A bar of `template` (`len` none: a spinner), hidden unless progress is drawn;
    /// `ticking`: redrawn steadily from now on.
    fn bar(&self, template: &str, len: Option<u64>, at: At, ticking: bool) -> ProgressBar {
        if !self.visible {
            // Drawn nowhere, but counting all the same.
            return ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
        }
        // Styled while its target is still stderr, so that it takes stderr's colour choice.
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        }
        .with_style(style(template));
        let bar = match at {
            At::End => self.bars.add(bar),
            At::AboveLast => self.bars.insert_from_back(1, bar),
        };
        if ticking {
            bar.enable_steady_tick(TICK);
        }
        bar
    }
}

/// How many operations the executor carries out for `plan` (each ends in one event:
/// completed, failed or skipped).
pub fn operations(plan: &Plan) -> usize {
    plan.changes
        .iter()
        .filter(|c| c.action.is_change() || c.adopt)
        .count()
}

/// A spinner or bar, cleared when dropped.
pub struct Task {
    bar: ProgressBar,
    bars: MultiProgress,
}

impl Task {
    /// Moves the refresh's bar on.
    pub fn refreshed(&self, p: RefreshProgress) {
        self.bar.set_length(p.total as u64);
        self.bar.set_position(p.done as u64);
        self.bar.set_message(plural(p.accounts, "account"));
        if p.done == 0 && !self.bar.is_hidden() {
            self.bar.enable_steady_tick(TICK);
        }
        tracing::trace!(done = p.done, total = p.total, "refresh");
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        clear(&self.bars, &self.bar);
    }
}

/// Takes a bar off the screen for good.
fn clear(bars: &MultiProgress, bar: &ProgressBar) {
    bar.finish_and_clear();
    bars.remove(bar);
}

/// `1 account`, `12 accounts`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The progress of an apply: a bar counting the operations, the executor's events as lines
/// above it, and a spinner per operation in a long wait.
pub struct ApplyProgress {
    out: &'static Output,
    bar: ProgressBar,
    waits: Mutex<HashMap<ResourceAddress, ProgressBar>>,
    failed: Mutex<usize>,
}

impl ApplyProgress {
    /// An executor event: its line (under `--quiet`, failures only), and the count moved on
    /// when an operation is over.
    pub fn event(&self, e: &ApplyEvent) {
        let address = match e {
            ApplyEvent::Started { .. } | ApplyEvent::StateFailed { .. } => None,
            ApplyEvent::Completed { address, .. }
            | ApplyEvent::Failed { address, .. }
            | ApplyEvent::Skipped { address, .. } => Some(address),
        };
        let failure = matches!(e, ApplyEvent::Failed { .. });
        let alarm = failure || matches!(e, ApplyEvent::StateFailed { .. });
        if alarm || !self.out.quiet {
            self.out.println(human::event(e, self.out.styler));
        }
        if let Some(address) = address {
            self.end_wait(address);
            self.bar.inc(1);
        }
        if failure {
            let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
            *failed += 1;
            self.bar.set_message(format!("({failed} failed)"));
        }
    }

    /// A provider's report on a long wait (`still creating (6m elapsed, status CREATING)`):
    /// the operation's spinner when progress is drawn, else a line (not under `--quiet`).
    pub fn wait(&self, address: &ResourceAddress, message: &str) {
        tracing::debug!("{address}: {message}");
        if !self.out.visible {
            self.out.info(format_args!("{address}: {message}"));
            return;
        }
        let mut waits = self.waits.lock().unwrap_or_else(PoisonError::into_inner);
        let spinner = waits
            .entry(address.clone())
            .or_insert_with(|| self.out.bar(WAIT, None, At::AboveLast, true));
        spinner.set_message(format!("{address}: {message}"));
    }

    /// Takes the bars off the screen (before the outcome is printed).
    pub fn finish(&self) {
        let mut waits = self.waits.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, spinner) in waits.drain() {
            clear(&self.out.bars, &spinner);
        }
        clear(&self.out.bars, &self.bar);
    }

    fn end_wait(&self, address: &ResourceAddress) {
        let spinner = self
            .waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(address);
        if let Some(spinner) = spinner {
            clear(&self.out.bars, &spinner);
        }
    }
}

impl Drop for ApplyProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Where logs go: stderr, with the bars lifted while a line is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        output()
            .bars
            .suspend(|| std::io::stderr().lock().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const PLAIN: ColorEnv = ColorEnv {
        no_color: false,
        clicolor_force: false,
    };

    #[test]
    fn auto_colours_a_terminal_unless_no_color_is_set() {
        assert!(use_color(ColorChoice::Auto, true, PLAIN));
        assert!(!use_color(ColorChoice::Auto, false, PLAIN));
        let no_color = ColorEnv {
            no_color: true,
            ..PLAIN
        };
        assert!(!use_color(ColorChoice::Auto, true, no_color));
    }

    #[test]
    fn clicolor_force_colours_like_always_and_flags_win_over_the_environment() {
        let forced = ColorEnv {
            clicolor_force: true,
            ..PLAIN
        };
        assert!(use_color(ColorChoice::Auto, false, forced));
        let both = ColorEnv {
            no_color: true,
            clicolor_force: true,
        };
        for is_terminal in [true, false] {
            for env in [PLAIN, forced, both] {
                assert!(use_color(ColorChoice::Always, is_terminal, env));
                assert!(!use_color(ColorChoice::Never, is_terminal, env));
            }
        }
    }

    #[test]
    fn no_color_is_a_hidden_alias_of_color_never() {
        use clap::Parser;
        let parse = |args: &[&str]| crate::cli::Cli::try_parse_from(args);
        let cli = parse(&["eksmgr", "--no-color", "validate"]).unwrap();
        assert_eq!(cli.color_choice(), ColorChoice::Never);
        let cli = parse(&["eksmgr", "validate", "--color", "always"]).unwrap();
        assert_eq!(cli.color_choice(), ColorChoice::Always);
        let cli = parse(&["eksmgr", "validate"]).unwrap();
        assert_eq!(cli.color_choice(), ColorChoice::Auto);
        assert!(parse(&["eksmgr", "--no-color", "--color", "always", "validate"]).is_err());
        let help = <crate::cli::Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("--color <WHEN>"), "{help}");
        assert!(!help.contains("--no-color"), "{help}");
    }

    #[test]
    fn verbosity_flags_count_and_quiet_excludes_them() {
        use clap::Parser;
        let parse = |args: &[&str]| crate::cli::Cli::try_parse_from(args);
        assert_eq!(parse(&["eksmgr", "plan", "-vv"]).unwrap().verbose, 2);
        assert_eq!(parse(&["eksmgr", "-vvv", "plan"]).unwrap().verbose, 3);
        assert_eq!(parse(&["eksmgr", "plan"]).unwrap().verbose, 0);
        assert!(parse(&["eksmgr", "-q", "plan"]).unwrap().quiet);
        assert!(parse(&["eksmgr", "-q", "-v", "plan"]).is_err());
    }

    #[test]
    fn verbosity_maps_onto_log_levels() {
        assert_eq!(
            log_filter(0, false, None),
            "error,eksmgr=warn,eksmgr_engine=warn,eksmgr_providers=warn,eksmgr_secrets=warn,eksmgr_state=warn"
        );
        assert_eq!(log_filter(0, true, None), "error");
        assert_eq!(log_filter(3, true, None), "error");
        assert_eq!(
            log_filter(1, false, None),
            "warn,eksmgr=info,eksmgr_engine=info,eksmgr_providers=info,eksmgr_secrets=info,eksmgr_state=info"
        );
        assert_eq!(
            log_filter(2, false, None),
            "warn,eksmgr=debug,eksmgr_engine=debug,eksmgr_providers=debug,eksmgr_secrets=debug,eksmgr_state=debug"
        );
        // The AWS SDK logs warnings from -v, debug from -vvv.
        assert_eq!(
            log_filter(3, false, None),
            "debug,eksmgr=trace,eksmgr_engine=trace,eksmgr_providers=trace,eksmgr_secrets=trace,eksmgr_state=trace"
        );
        assert_eq!(log_filter(9, false, None), "trace");
        // Every filter is one EnvFilter accepts.
        for (v, q) in [
            (0, false),
            (1, false),
            (2, false),
            (3, false),
            (4, false),
            (0, true),
        ] {
            let f = log_filter(v, q, None);
            assert!(tracing_subscriber::EnvFilter::try_new(&f).is_ok(), "{f}");
        }
    }

    #[test]
    fn rust_log_wins_over_the_flags_unless_empty() {
        let rust_log = Some("aws_smithy_runtime=debug");
        assert_eq!(log_filter(0, false, rust_log), "aws_smithy_runtime=debug");
        assert_eq!(log_filter(2, false, rust_log), "aws_smithy_runtime=debug");
        assert_eq!(log_filter(0, true, rust_log), "aws_smithy_runtime=debug");
        assert_eq!(log_filter(1, false, Some(" ")), log_filter(1, false, None));
    }

    #[test]
    fn progress_is_drawn_only_on_a_terminal_and_not_when_quiet() {
        assert!(draw_progress(false, true, Some("xterm-256color")));
        assert!(draw_progress(false, true, None));
        assert!(!draw_progress(false, false, Some("xterm-256color")));
        assert!(!draw_progress(true, true, Some("xterm-256color")));
        assert!(!draw_progress(false, true, Some("dumb")));
    }

    #[test]
    fn the_templates_parse() {
        for template in [SPINNER, REFRESH, APPLY, WAIT] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn hidden_progress_draws_nothing_and_counts_anyway() {
        let out: &'static Output = Box::leak(Box::new(Output::new(true, false, false)));
        assert!(out.bars.is_hidden());
        let task = out.refresh();
        assert!(task.bar.is_hidden());
        task.refreshed(RefreshProgress {
            done: 3,
            total: 7,
            accounts: 2,
        });
        assert_eq!((task.bar.position(), task.bar.length()), (3, Some(7)));
        drop(task);
        let apply = out.apply(1, "Apply");
        assert_eq!(apply.bar.length(), Some(1));
        let address: ResourceAddress = "iam_role.EKSManagerAgentRole[222222222222]"
            .parse()
            .unwrap();
        // Hidden: a wait is a line (none under --quiet), not a spinner.
        apply.wait(&address, "still creating");
        assert!(apply.waits.lock().unwrap().is_empty());
        apply.event(&ApplyEvent::Skipped {
            address,
            action: eksmgr_engine::plan::Action::Create,
            reason: "test".into(),
        });
        assert_eq!(apply.bar.position(), 1);
    }

    #[test]
    fn plural_counts() {
        assert_eq!(plural(1, "account"), "1 account");
        assert_eq!(plural(12, "account"), "12 accounts");
        assert_eq!(plural(0, "account"), "0 accounts");
    }
}
