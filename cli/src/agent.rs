//! `eksmgr agent`: the continuous reconciler. Each cycle takes the state lock like any run
//! (without waiting: a cycle never overlaps another run), re-reads `eksmgr.toml`, discovers
//! the estate, plans, carries out what `[agent]` allows ([`eksmgr_engine::agent`]) and holds
//! the rest, then writes one JSON line on stdout: the accounts seen and skipped, the changes
//! applied, failed and held (with reasons), and the errors. The human log goes to stderr.
//!
//! `--once` runs one cycle. Otherwise cycles follow each other `--interval` apart (the wait
//! doubles after each failed cycle, up to 8 times the interval). SIGTERM or SIGINT while
//! waiting or planning ends the agent at once (the lock, if taken, is given back); during
//! an apply the operations under way finish and are recorded first (see `interrupt`).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Result;
use eksmgr_engine::agent::{self, AgentPolicy, Held};
use eksmgr_engine::plan::SkippedSpoke;
use eksmgr_state::{ResourceAddress, StateError};
use serde::Serialize;

use crate::cli::{AgentArgs, Cli, OptIns};
use crate::commands::NEEDS_ATTENTION;
use crate::context;
use crate::render::{Styler, human};

/// The JSON line of one cycle.
#[derive(Debug, Serialize)]
struct Cycle {
    /// Always `eksmgr.agent.cycle`.
    event: &'static str,
    /// 1 for the first cycle of this process.
    cycle: u64,
    /// When the cycle started (RFC 3339, UTC).
    started_at: String,
    /// How long it took.
    duration_ms: u128,
    /// `ok`, `attention` (something held or an account skipped for a human), `error`,
    /// `locked` (another run holds the state lock) or `interrupted`.
    outcome: &'static str,
    /// The spoke accounts discovered.
    accounts_seen: usize,
    /// The spoke accounts left out, with why.
    skipped_accounts: Vec<SkippedSpoke>,
    /// The changes carried out.
    applied: Vec<Done>,
    /// The changes that failed, with the error.
    failed: Vec<Failed>,
    /// The changes held for a human, with the reason.
    held: Vec<Held>,
    /// What went wrong outside single changes.
    errors: Vec<String>,
    /// The `[[secrets]]` with `auto = true` written this cycle (secret, cluster, namespace,
    /// version id); their failures are in `errors`.
    secrets_pushed: Vec<Pushed>,
}

#[derive(Debug, Serialize)]
struct Pushed {
    secret: String,
    cluster: String,
    namespace: String,
    version_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Done {
    address: ResourceAddress,
    action: &'static str,
}

#[derive(Debug, Serialize)]
struct Failed {
    address: ResourceAddress,
    error: String,
}

impl Cycle {
    fn new(cycle: u64) -> Self {
        Cycle {
            event: "eksmgr.agent.cycle",
            cycle,
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_ms: 0,
            outcome: "ok",
            accounts_seen: 0,
            skipped_accounts: Vec::new(),
            applied: Vec::new(),
            failed: Vec::new(),
            held: Vec::new(),
            errors: Vec::new(),
            secrets_pushed: Vec::new(),
        }
    }

    /// The exit code of `agent --once` ending with this cycle.
    fn exit_code(&self) -> u8 {
        match self.outcome {
            "ok" => 0,
            "attention" => NEEDS_ATTENTION,
            _ => 1,
        }
    }
}

/// Runs the agent until `--once` is done, or an interrupt.
pub async fn run(cli: &Cli, args: &AgentArgs, s: Styler) -> Result<u8> {
    let log = crate::progress::output();
    let mut failures = 0u32;
    for n in 1u64.. {
        let started = Instant::now();
        let mut report = Cycle::new(n);
        let interval = cycle(cli, args, s, &mut report).await;
        report.duration_ms = started.elapsed().as_millis();
        let line = serde_json::to_string(&report)?;
        {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{line}")?;
            stdout.flush()?;
        }
        if let Some(signal) = crate::interrupt::received() {
            return Ok(signal.exit_code());
        }
        if args.once {
            return Ok(report.exit_code());
        }
        if report.outcome == "locked" && n == 1 {
            log.println(format_args!(
                "another run holds the state lock: this agent exits (run one agent per estate)"
            ));
            return Ok(1);
        }
        failures = match report.outcome {
            "error" | "locked" => failures.saturating_add(1),
            _ => 0,
        };
        let interval = args
            .interval
            .or(interval)
            .unwrap_or(Duration::from_secs(600));
        let wait = backoff(interval, failures);
        log.println(format_args!(
            "cycle {n}: {}; next cycle in {}s",
            report.outcome,
            wait.as_secs()
        ));
        tokio::time::sleep(wait).await;
    }
    Ok(0)
}

/// The wait before the next cycle: the interval, doubled after each failed cycle in a row,
/// at most 8 times the interval.
fn backoff(interval: Duration, failures: u32) -> Duration {
    interval.saturating_mul(1 << failures.min(3))
}

/// One cycle, recorded into `report`; the configured interval, when the configuration could
/// be read.
async fn cycle(cli: &Cli, args: &AgentArgs, s: Styler, report: &mut Cycle) -> Option<Duration> {
    let loaded = match context::load(cli) {
        Ok(l) => l,
        Err(e) => {
            report.outcome = "error";
            report.errors.push(format!("{e:#}"));
            return None;
        }
    };
    let interval = eksmgr_engine::config::parse_duration(&loaded.config.agent.interval).ok();
    let result = loaded
        .store
        .locked(
            "eksmgr agent",
            Duration::ZERO,
            locked_cycle(cli, &loaded, args, s, report),
        )
        .await;
    if let Err(e) = result {
        let locked = e
            .downcast_ref::<StateError>()
            .is_some_and(|e| matches!(e, StateError::Locked { .. }));
        report.outcome = if locked { "locked" } else { "error" };
        report.errors.push(format!("{e:#}"));
        crate::progress::output().println(format_args!("{} {e:#}", s.red("Error:")));
    }
    interval
}

/// A cycle under the state lock.
async fn locked_cycle(
    cli: &Cli,
    loaded: &context::Loaded,
    args: &AgentArgs,
    s: Styler,
    report: &mut Cycle,
) -> Result<()> {
    let limits = crate::cli::limits(args.parallelism, args.account_parallelism);
    let mut state = loaded.store.load().await?;
    let planned = context::plan(
        loaded,
        &state,
        limits,
        false,
        OptIns::default(),
        &[],
        &cli.caller(),
    )
    .await?;
    report.accounts_seen = planned.spokes;
    report.skipped_accounts = planned.plan.skipped_accounts.clone();
    let policy = AgentPolicy::of(&loaded.config.agent);
    let hub = loaded.config.hub.account_id.as_str();
    let decision = agent::decide(&planned.plan, &policy, hub);
    report.held = decision.held;
    for d in planned.plan.unreadable() {
        report
            .errors
            .push(format!("{} could not be read: {}", d.address, d.reason));
    }
    report.errors.extend(planned.plan.problems.iter().cloned());
    let mut log = std::io::stderr();
    human::write_plan(&decision.allowed, s, &mut log)?;
    if !report.held.is_empty() {
        writeln!(
            log,
            "\n{} held for a human (not applied by the agent):",
            report.held.len()
        )?;
        for h in &report.held {
            writeln!(
                log,
                "  - {} ({}): {}",
                h.address,
                h.action.as_str(),
                h.reason
            )?;
        }
    }
    state.estate = Some(planned.estate);
    if decision.allowed.has_changes() {
        let (_, outcome) = crate::commands::carry_out(
            loaded,
            &mut state,
            &decision.allowed,
            planned.provider,
            limits,
            "Apply",
            s,
            &mut log,
        )
        .await?;
        crate::interrupt::done_applying();
        report.applied = outcome
            .completed
            .iter()
            .map(|(address, action)| Done {
                address: address.clone(),
                action: human::action_name(*action),
            })
            .collect();
        report.failed = outcome
            .failed
            .iter()
            .map(|(address, e)| Failed {
                address: address.clone(),
                error: e.to_string(),
            })
            .collect();
        if outcome.interrupted {
            report.outcome = "interrupted";
            return Ok(());
        }
    }
    let secrets_attention = push_auto_secrets(cli, loaded, &state, args, report).await;
    report.outcome = if !report.failed.is_empty() || !report.errors.is_empty() {
        "error"
    } else if !report.held.is_empty() || planned.plan.needs_attention() || secrets_attention {
        "attention"
    } else {
        "ok"
    };
    Ok(())
}

/// Pushes the `[[secrets]]` marked `auto = true` to the clusters in state (never forced, no
/// namespace created); true when some target was left for a human (a secret eksmgr does not
/// manage, a missing namespace).
async fn push_auto_secrets(
    cli: &Cli,
    loaded: &context::Loaded,
    state: &eksmgr_state::State,
    args: &AgentArgs,
    report: &mut Cycle,
) -> bool {
    let auto: Vec<String> = loaded
        .config
        .secrets
        .iter()
        .filter(|s| s.auto)
        .map(|s| s.name.clone())
        .collect();
    if auto.is_empty() {
        return false;
    }
    let clusters = crate::secrets::clusters_in(state);
    // No target yet (the clusters are not in state): nothing to push.
    let Ok(targets) = eksmgr_secrets::targets(&loaded.config, &clusters, &auto, &[], &[]) else {
        return false;
    };
    let parallelism = usize::from(args.parallelism.max(1));
    let sessions = match eksmgr_providers::connect_sessions(
        &loaded.config,
        parallelism,
        &cli.caller(),
    )
    .await
    {
        Ok((sessions, _)) => sessions,
        Err(e) => {
            report.errors.push(format!("secrets: {e}"));
            return false;
        }
    };
    let mode = eksmgr_secrets::Mode::Push {
        dry_run: false,
        force: false,
        create_namespaces: false,
    };
    let pushed = eksmgr_secrets::run(&sessions, &loaded.config, targets, mode, parallelism).await;
    for row in &pushed.rows {
        let t = &row.target;
        match &row.result {
            Ok((_, eksmgr_secrets::Done::Nothing)) => {}
            Ok(_) => report.secrets_pushed.push(Pushed {
                secret: t.secret.clone(),
                cluster: t.cluster.to_string(),
                namespace: t.namespace.clone(),
                version_id: row.version_id.clone(),
            }),
            Err(e) => report.errors.push(format!(
                "secret {} to {} {}: {e}",
                t.secret, t.cluster, t.namespace
            )),
        }
    }
    pushed.exit_code(mode) == NEEDS_ATTENTION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_failures_up_to_eight_times() {
        let i = Duration::from_secs(60);
        let waits: Vec<u64> = (0..6).map(|f| backoff(i, f).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 480, 480]);
    }
}
