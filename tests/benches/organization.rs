//! Organization benchmark: a no-op `eksmgr plan` of thousands of spoke accounts through the
//! real binary (its scheduler, the AWS SDK's serialisation, retries and HTTP stack) against
//! the synthetic AWS (`eksmgr_e2e::synthetic`), every call taking `--latency-ms`.
//!
//! It records the example estate's no-op plan in moto (four spokes, applied and planned by the
//! binary measured, so the recording holds that build's calls), builds a synthetic
//! organization of `--spokes N` from it (the state file generated to match), then runs:
//!
//! * `--runs` no-op plans at eksmgr's default settings (plus `--eksmgr-args`, e.g.
//!   `"--parallelism 10"` for the old defaults);
//! * one more with `--throttled K` generated spokes held to `--throttle-rate` requests a
//!   second each (AWS answers `ThrottlingException` above it), unless K is 0.
//!
//! For each plan: wall time, exit code (0: the plan is a no-op, as it must be), calls in all
//! and per state record, `AssumeRole` per spoke (the most for any spoke, which must be 1),
//! calls in flight (the most at once and the mean), eksmgr's peak resident memory (from
//! `--stats` where eksmgr prints it, else sampled from `/proc` every 10 ms), and for the
//! throttled run each throttled account's calls and throttled answers. Any request the
//! synthetic AWS had no answer for fails the bench.
//!
//! ```text
//! cargo build --release -p eksmgr
//! EKSMGR_BIN=target/release/eksmgr cargo bench -p eksmgr-e2e --bench organization -- --spokes 5000
//! ```
//!
//! `EKSMGR_BIN` is the binary measured (default: the one the tests use);
//! `EKSMGR_MOTO_SERVER` the emulator, as for the tests. Every failure ends the run with a
//! message on stderr and a non-zero exit status.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use eksmgr_e2e::synthetic::{
    Options, Recorded, Stats, SyntheticAws, generate_state, record_example, spoke_ids,
};
use eksmgr_e2e::{eksmgr_binary, env_for};

type R<T = ()> = Result<T, String>;

const USAGE: &str = "\
usage: cargo bench -p eksmgr-e2e --bench organization -- [OPTIONS]

  --spokes N            spoke accounts in the EKS OU (at least 4; default 5000)
  --latency-ms MS       delay of every AWS call (default 100)
  --runs N              unthrottled plans; the median is reported (default 1)
  --throttled K         generated spokes throttled in one more plan (default 1; 0: none)
  --throttle-rate R     requests a second a throttled account is allowed (default 10)
  --threads N           worker threads of the synthetic AWS (default 1)
  --eksmgr-args \"...\"   more arguments for every `eksmgr plan` (e.g. \"--parallelism 10\")
  --timeout-s S         longest one plan may take (default 3600)

environment: EKSMGR_BIN (the eksmgr binary), EKSMGR_MOTO_SERVER (the emulator)";

#[derive(Debug, Clone)]
struct Args {
    spokes: usize,
    latency: Duration,
    runs: usize,
    throttled: usize,
    throttle_rate: f64,
    threads: usize,
    eksmgr_args: Vec<String>,
    timeout: Duration,
}

impl Args {
    fn parse(args: impl IntoIterator<Item = String>) -> R<Option<Args>> {
        let mut out = Args {
            spokes: 5000,
            latency: Duration::from_millis(100),
            runs: 1,
            throttled: 1,
            throttle_rate: 10.0,
            threads: 1,
            eksmgr_args: Vec::new(),
            timeout: Duration::from_secs(3600),
        };
        let mut args = args.into_iter();
        while let Some(name) = args.next() {
            match name.as_str() {
                "--bench" => continue,
                "-h" | "--help" => return Ok(None),
                _ => {}
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))?;
            let number = || -> R<u64> {
                value
                    .parse()
                    .map_err(|e| format!("{name} {value:?}: {e}\n\n{USAGE}"))
            };
            match name.as_str() {
                "--spokes" => out.spokes = number()?.max(4) as usize,
                "--latency-ms" => out.latency = Duration::from_millis(number()?),
                "--runs" => out.runs = number()?.max(1) as usize,
                "--throttled" => out.throttled = number()? as usize,
                "--throttle-rate" => {
                    out.throttle_rate = value
                        .parse()
                        .map_err(|e| format!("{name} {value:?}: {e}"))?
                }
                "--threads" => out.threads = number()?.max(1) as usize,
                "--eksmgr-args" => {
                    out.eksmgr_args = value.split_whitespace().map(str::to_owned).collect()
                }
                "--timeout-s" => out.timeout = Duration::from_secs(number()?),
                _ => return Err(format!("unknown option {name}\n\n{USAGE}")),
            }
        }
        Ok(Some(out))
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("organization bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\norganization bench FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One timed plan.
struct PlanRun {
    wall: Duration,
    code: Option<i32>,
    peak_rss: Option<u64>,
    stats: Stats,
}

fn run(args: &Args) -> R {
    let started = Instant::now();
    let say = |what: &str| eprintln!("[{:7.1}s] {what}", started.elapsed().as_secs_f64());
    let binary = match std::env::var_os("EKSMGR_BIN").filter(|v| !v.is_empty()) {
        Some(b) => PathBuf::from(b),
        None => eksmgr_binary()?,
    };
    // A copy, so a rebuild while the bench runs changes nothing.
    let copies = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let copy = copies.path().join("eksmgr");
    std::fs::copy(&binary, &copy).map_err(|e| format!("copy {}: {e}", binary.display()))?;
    println!("eksmgr binary: {}", binary.display());
    println!(
        "organization: {} spokes, latency {} ms, eksmgr args {:?}",
        args.spokes,
        args.latency.as_millis(),
        args.eksmgr_args
    );

    say("recording the example estate's no-op plan in moto (4 spokes)");
    let Recorded {
        estate,
        recording,
        config,
        spokes: recorded,
        others,
        ..
    } = record_example("eksmgr-organization-", Some(&copy))?;
    let taken: BTreeSet<String> = recorded
        .iter()
        .chain([
            &estate.seed.hub_account_id,
            &estate.seed.management_account_id,
        ])
        .cloned()
        .collect();
    // The two exact spokes and the template, then generated spokes.
    let mut spokes: Vec<String> = recorded[..3].to_vec();
    spokes.extend(spoke_ids(args.spokes - 3, &taken));
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let state = dir.path().join("eksmgr.state.json");
    let records = generate_state(
        &recording,
        &estate.file("eksmgr.state.json"),
        &state,
        &others,
        &spokes,
    )?;
    std::fs::write(dir.path().join("eksmgr.toml"), &config)
        .map_err(|e| format!("write the configuration: {e}"))?;
    say(&format!(
        "synthetic organization: {} spokes, {records} state records",
        spokes.len()
    ));

    let mut runs = Vec::new();
    for i in 0..args.runs {
        say(&format!("no-op plan {} of {}", i + 1, args.runs));
        let r = plan(
            args,
            &copy,
            dir.path(),
            &recording,
            &spokes,
            BTreeSet::new(),
        )?;
        report(&format!("run {}", i + 1), &r, records, &spokes);
        check(&r, &spokes)?;
        runs.push(r);
    }
    let throttled_run = if args.throttled > 0 {
        let throttled: BTreeSet<String> =
            spokes[3..].iter().take(args.throttled).cloned().collect();
        say(&format!(
            "no-op plan with {} account(s) throttled at {} requests/s",
            throttled.len(),
            args.throttle_rate
        ));
        let r = plan(args, &copy, dir.path(), &recording, &spokes, throttled)?;
        report("throttled", &r, records, &spokes);
        check(&r, &spokes)?;
        Some(r)
    } else {
        None
    };
    runs.sort_by_key(|r| r.wall);
    let median = &runs[runs.len() / 2];
    println!("\n--- Markdown (BENCHMARKS.md) ---\n");
    println!(
        "| run | spokes | state records | wall | calls | calls / record | AssumeRole per spoke | most in flight | mean in flight | peak RSS |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    row("no-op plan (median)", median, records, &spokes);
    if let Some(t) = &throttled_run {
        row("one account throttled", t, records, &spokes);
        for (account, (calls, refused)) in &t.stats.throttled_calls {
            println!(
                "\nthrottled account {account}: {calls} requests, {refused} answered ThrottlingException; wall {:.1} s against {:.1} s unthrottled ({:+.1}%)",
                t.wall.as_secs_f64(),
                median.wall.as_secs_f64(),
                (t.wall.as_secs_f64() / median.wall.as_secs_f64() - 1.0) * 100.0
            );
        }
    }
    drop(estate);
    Ok(())
}

/// One no-op plan against a synthetic AWS of `spokes`.
fn plan(
    args: &Args,
    binary: &Path,
    dir: &Path,
    recording: &eksmgr_e2e::synthetic::Recording,
    spokes: &[String],
    throttled: BTreeSet<String>,
) -> R<PlanRun> {
    let aws = SyntheticAws::start(
        recording.clone(),
        Options {
            spokes: spokes.to_vec(),
            latency: args.latency,
            throttled,
            throttle_rate: args.throttle_rate,
        },
        args.threads,
    )?;
    let stderr_path = dir.join("plan.stderr");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .current_dir(dir)
        .envs(env_for(aws.endpoint()))
        .arg("--stats")
        .args(["plan", "--detailed-exitcode"])
        .args(&args.eksmgr_args)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut sampled: Option<u64> = None;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > args.timeout {
            let _ = child.kill();
            return Err(format!("the plan took longer than {:?}", args.timeout));
        }
        if let Some(kib) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        }) {
            sampled = Some(sampled.unwrap_or(0).max(kib * 1024));
        }
        // Sampling the child's memory, not waiting for a condition: the loop ends on exit.
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed();
    let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let reported = text
        .lines()
        .find_map(|l| l.strip_prefix("Peak memory: "))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map(|mib| (mib * 1024.0 * 1024.0) as u64);
    if status.code() != Some(0) {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        eprintln!(
            "plan exited {:?}; its stderr ends:\n{}",
            status.code(),
            tail.join("\n")
        );
    }
    Ok(PlanRun {
        wall,
        code: status.code(),
        peak_rss: reported.or(sampled),
        stats: aws.stats(),
    })
}

/// The plan must have been a no-op with an answer for every request and one role assumption
/// per spoke.
fn check(r: &PlanRun, spokes: &[String]) -> R {
    if r.stats.misses > 0 {
        return Err(format!(
            "the synthetic AWS had no answer for {} requests:\n{}",
            r.stats.misses,
            r.stats.missed.join("\n")
        ));
    }
    if r.code != Some(0) {
        return Err(format!("the plan exited {:?}, not 0 (no changes)", r.code));
    }
    let most = most_assumed(r, spokes);
    if most != 1 {
        return Err(format!("a spoke's role was assumed {most} times"));
    }
    Ok(())
}

/// The most `AssumeRole` calls of any spoke's role.
fn most_assumed(r: &PlanRun, spokes: &[String]) -> u64 {
    spokes
        .iter()
        .map(|s| r.stats.assume_role.get(s).copied().unwrap_or(0))
        .max()
        .unwrap_or(0)
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

fn report(name: &str, r: &PlanRun, records: usize, spokes: &[String]) {
    println!(
        "\n{name}: {:.2} s, exit {:?}, {} calls ({:.3} per state record), AssumeRole per spoke at most {}, in flight at most {} (mean {:.0}), peak RSS {}",
        r.wall.as_secs_f64(),
        r.code,
        r.stats.calls,
        r.stats.calls as f64 / records as f64,
        most_assumed(r, spokes),
        r.stats.max_in_flight,
        r.stats.mean_in_flight,
        mib(r.peak_rss)
    );
    let mut by: Vec<(&String, &u64)> = r.stats.by_action.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    println!("  calls  per spoke  action");
    for (action, n) in by {
        println!(
            "  {n:>6}  {:>9.3}  {action}",
            *n as f64 / spokes.len() as f64
        );
    }
}

fn row(name: &str, r: &PlanRun, records: usize, spokes: &[String]) {
    println!(
        "| {name} | {} | {records} | {:.1} s | {} | {:.2} | {} | {} | {:.0} | {} |",
        spokes.len(),
        r.wall.as_secs_f64(),
        r.stats.calls,
        r.stats.calls as f64 / records as f64,
        most_assumed(r, spokes),
        r.stats.max_in_flight,
        r.stats.mean_in_flight,
        mib(r.peak_rss)
    );
}
