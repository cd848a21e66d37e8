//! `--stats`: the AWS calls a run made, on stderr after the command: totals (reads, writes,
//! role assumptions, retried attempts, failures, accounts), then one line per service and
//! operation, busiest first, and the run's peak memory where the system tells it. The counts
//! come from the providers' call counters.

use std::fmt::Write;
use std::time::Duration;

use eksmgr_providers::stats::CallStats;

use super::Styler;

/// The report of `stats` for a run that took `elapsed` and whose resident memory peaked at
/// `peak_rss` bytes (when known).
pub fn render(stats: &CallStats, elapsed: Duration, peak_rss: Option<u64>, s: Styler) -> String {
    let t = stats.totals();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} in {:.1}s: {} reads ({} sts:AssumeRole) and {} writes, across {} account(s); {} retried attempt(s), {} failed",
        s.bold("AWS calls:"),
        t.all.calls,
        elapsed.as_secs_f64(),
        t.reads,
        t.assume_role,
        t.writes,
        t.accounts,
        t.all.attempts.saturating_sub(t.all.calls),
        t.all.failed,
    );
    if let Some(bytes) = peak_rss {
        let _ = writeln!(
            out,
            "{} {:.1} MiB resident",
            s.bold("Peak memory:"),
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let mut ops = stats.by_operation();
    ops.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(&b.0)));
    if ops.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{}", s.dim("  calls  retries  failed  operation"));
    for ((service, operation), c) in ops {
        let _ = writeln!(
            out,
            "  {:>5}  {:>7}  {:>6}  {service}:{operation}",
            c.calls,
            c.attempts.saturating_sub(c.calls),
            c.failed,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_then_operations_busiest_first() {
        let stats = CallStats::default();
        stats.assumed_role("222222222222", true);
        stats.assumed_role("333333333333", true);
        stats.assumed_role("444444444444", false);
        let text = render(&stats, Duration::from_millis(1500), None, Styler::plain());
        insta::assert_snapshot!(text);
    }

    #[test]
    fn no_call_no_table() {
        let text = render(
            &CallStats::default(),
            Duration::ZERO,
            Some(3 << 20),
            Styler::plain(),
        );
        assert_eq!(
            text,
            "AWS calls: 0 in 0.0s: 0 reads (0 sts:AssumeRole) and 0 writes, across 0 account(s); 0 retried attempt(s), 0 failed\nPeak memory: 3.0 MiB resident\n"
        );
    }
}
