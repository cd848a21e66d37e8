//! Scenario benchmark: how long a no-op `eksmgr plan` of a whole estate takes when every AWS
//! call costs a network round trip, and how that compares with the best a plan could do.
//!
//! It starts moto, seeds an organization with `--spokes N` spoke accounts, applies the example
//! estate (`examples/eksmgr.toml`, every spoke with a `workloads` cluster) with no latency,
//! then times no-op plans (`eksmgr plan --detailed-exitcode`, which must exit 0) through the
//! loopback proxy in front of moto, which records every call and adds `--latency-ms` to each:
//!
//! * the plan with no latency, and with the latency at `--parallelism` (median of `--runs`);
//! * the longest dependency chain of calls, measured: a plan with the latency on and a
//!   parallelism so large it never limits (`--chain-parallelism`, lowered to the most eksmgr
//!   accepts), whose time divided by the latency is the number of calls one after another;
//! * the calls: in all, per resource (`eksmgr state list`), per service and action, and
//!   `AssumeRole` per role ARN (the target is one per spoke account), with when each action
//!   ran and how many of its calls overlapped, so serial phases show;
//! * `bound = max(chain × latency, calls × latency / parallelism)` and measured / bound (the
//!   target is at most 1.3).
//!
//! The figures end with Markdown tables for BENCHMARKS.md. Run it with
//!
//! ```text
//! cargo bench -p eksmgr-e2e --bench scenario -- --spokes 50 --latency-ms 100 --parallelism 10 --runs 3
//! ```
//!
//! The `eksmgr` binary is `$EKSMGR_BIN` when set (e.g. a release build), else the one the
//! support library finds (`cargo build -p eksmgr` first); the emulator is found as the
//! end-to-end tests find it (`$EKSMGR_MOTO_SERVER`, from `bash scripts/setup-emulator.sh`).
//! The binary is copied at the start, so a rebuild while the bench runs does not mix builds.
//! `cargo test -p eksmgr-e2e --bench scenario -- ...` runs the same thing from a debug build
//! of the bench (quicker to compile; the bench itself does little work).
//! Every failure ends the run with a message on stderr and a non-zero exit status.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime};

use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::example_config_every_spoke;
use eksmgr_e2e::proxy::{Call, max_in_flight};
use eksmgr_e2e::{Output, Seed, eksmgr_binary, repo_root};
use tempfile::TempDir;

type R<T = ()> = Result<T, String>;

const USAGE: &str = "\
usage: cargo bench -p eksmgr-e2e --bench scenario -- [OPTIONS]

  --spokes N               spoke accounts in the EKS OU (at least 2; default 5)
  --latency-ms MS          delay added to every AWS call (more than 0; default 100)
  --parallelism N          eksmgr's --parallelism for the timed plans (default 10)
  --runs N                 timed plans of each kind; the median is reported (default 3)
  --chain-parallelism N    --parallelism of the chain measurement (default 100000; lowered
                           to the most eksmgr accepts)
  --timeout-s S            longest one eksmgr run may take (default 3600)

environment: EKSMGR_BIN (the eksmgr binary), EKSMGR_MOTO_SERVER (the emulator)";

/// The command line.
#[derive(Debug, Clone)]
struct Args {
    spokes: usize,
    latency: Duration,
    parallelism: u32,
    runs: usize,
    chain_parallelism: u32,
    timeout: Duration,
}

impl Args {
    /// The arguments after the bench's name; `None` for `--help`.
    fn parse(args: impl IntoIterator<Item = String>) -> R<Option<Args>> {
        let mut out = Args {
            spokes: 5,
            latency: Duration::from_millis(100),
            parallelism: 10,
            runs: 3,
            chain_parallelism: 100_000,
            timeout: Duration::from_secs(3600),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            match name.as_str() {
                // `cargo bench` passes `--bench` to every bench target.
                "--bench" => continue,
                "-h" | "--help" => return Ok(None),
                _ => {}
            }
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))?,
            };
            let number = |min: u64| -> R<u64> {
                let n: u64 = value
                    .parse()
                    .map_err(|e| format!("{name} {value:?}: {e}\n\n{USAGE}"))?;
                if n < min {
                    return Err(format!("{name} must be at least {min}\n\n{USAGE}"));
                }
                Ok(n)
            };
            let small = |n: u64| -> R<u32> {
                u32::try_from(n).map_err(|_| format!("{name} {n} is too large\n\n{USAGE}"))
            };
            match name.as_str() {
                "--spokes" => out.spokes = number(2)? as usize,
                "--latency-ms" => out.latency = Duration::from_millis(number(1)?),
                "--parallelism" => out.parallelism = small(number(1)?)?,
                "--runs" => out.runs = number(1)? as usize,
                "--chain-parallelism" => out.chain_parallelism = small(number(1)?)?,
                "--timeout-s" => out.timeout = Duration::from_secs(number(1)?),
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
            eprintln!("scenario bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nscenario bench FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Progress on stderr, with the time since the bench started.
struct Progress(Instant);

impl Progress {
    fn say(&self, what: impl AsRef<str>) {
        eprintln!(
            "[{:7.1}s] {}",
            self.0.elapsed().as_secs_f64(),
            what.as_ref()
        );
    }
}

/// The example estate, eksmgr (a copy of the binary under test, in the temp dir held here)
/// talking to moto through the proxy.
struct Bench {
    estate: Estate,
    _binary: TempDir,
}

impl std::ops::Deref for Bench {
    type Target = Estate;
    fn deref(&self) -> &Estate {
        &self.estate
    }
}

/// One timed eksmgr plan and the calls it made.
struct PlanRun {
    time: Duration,
    /// When eksmgr was started, on the proxy's clock.
    started: Duration,
    calls: Vec<Call>,
}

fn run(args: &Args) -> R {
    let progress = Progress(Instant::now());
    let (binary, origin) = binary()?;
    println!(
        "eksmgr binary: {} ({origin}{})",
        binary.display(),
        age(&binary)
    );
    let revision = git_revision();
    println!("repository revision: {revision}");
    println!(
        "scenario: {} spokes, latency {} ms, parallelism {}, {} run(s) of each plan",
        args.spokes,
        args.latency.as_millis(),
        args.parallelism,
        args.runs
    );

    // A copy, so a rebuild of the original while the bench runs changes nothing.
    let copies = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let copy = copies.path().join("eksmgr-under-test");
    std::fs::copy(&binary, &copy).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            binary.display(),
            copy.display()
        )
    })?;
    progress.say(format!(
        "starting moto and seeding an organization with {} spokes",
        args.spokes
    ));
    let estate = Estate::builder("eksmgr-bench-scenario-")
        .spokes(args.spokes)
        .proxy()
        .config(example_config_every_spoke)
        .binary(&copy)
        .timeout(args.timeout)
        .start()
        .map_err(|e| format!("cannot start the estate: {e}"))?;
    let bench = Bench {
        estate,
        _binary: copies,
    };

    progress.say("applying the example estate (no latency)");
    let parallelism = args.parallelism.to_string();
    let started = Instant::now();
    bench.expect(
        &["apply", "--auto-approve", "--parallelism", &parallelism],
        0,
    )?;
    let apply_time = started.elapsed();
    let apply_calls = bench.proxy()?.calls().len();
    let resources = bench.resources()?;
    progress.say(format!(
        "applied {resources} resources in {} with {apply_calls} calls",
        secs(apply_time)
    ));

    progress.say("no-op plans, no latency");
    let plain = bench.plans(args.parallelism, args.runs, &progress)?;
    bench.proxy()?.set_latency(args.latency);
    progress.say(format!(
        "no-op plans, latency {} ms, parallelism {}",
        args.latency.as_millis(),
        args.parallelism
    ));
    let slow = bench.plans(args.parallelism, args.runs, &progress)?;
    let chain_parallelism = bench.accepted_parallelism(args.chain_parallelism)?;
    progress.say(format!(
        "no-op plans, latency {} ms, parallelism {chain_parallelism} (the chain)",
        args.latency.as_millis()
    ));
    let chain = bench.plans(chain_parallelism, args.runs, &progress)?;
    bench.proxy()?.set_latency(Duration::ZERO);

    let report = Report::new(
        args,
        &bench,
        resources,
        chain_parallelism,
        [&plain, &slow, &chain],
    );
    report.print(&bench, apply_time, apply_calls, &binary, &revision);
    progress.say("done");
    Ok(())
}

/// The binary: `$EKSMGR_BIN`, else the support library's.
fn binary() -> R<(PathBuf, &'static str)> {
    if let Some(path) = std::env::var_os("EKSMGR_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!("EKSMGR_BIN={} is not a file", path.display()));
        }
        return Ok((path, "$EKSMGR_BIN"));
    }
    eksmgr_binary().map(|path| {
        (
            path,
            "found by the support library; set EKSMGR_BIN to choose",
        )
    })
}

/// `, built N min ago` from the file's modification time, or nothing.
fn age(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| format!(", built {:.0} min ago", d.as_secs_f64() / 60.0))
        .unwrap_or_default()
}

/// The repository's commit, `-dirty` when tracked files changed; `unknown` without git.
fn git_revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(repo_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => format!("{head}-dirty"),
            _ => head,
        },
        None => "unknown".to_owned(),
    }
}

impl Bench {
    /// Runs eksmgr; an exit code other than `code` is an error showing both streams and the
    /// end of moto's log.
    fn expect(&self, args: &[&str], code: i32) -> R<Output> {
        let out = self
            .eksmgr
            .run(args)
            .map_err(|e| format!("eksmgr {}: {e}", args.join(" ")))?;
        if out.code != Some(code) {
            return Err(format!(
                "eksmgr {} exited {:?}, not {code}\n--- stdout (end) ---\n{}\n--- stderr (end) ---\n{}\n--- moto log (end) ---\n{}",
                args.join(" "),
                out.code,
                tail(&out.stdout, 60),
                tail(&out.stderr, 60),
                self.moto.log_tail()
            ));
        }
        Ok(out)
    }

    /// How many resources state records.
    fn resources(&self) -> R<usize> {
        let out = self.expect(&["state", "list"], 0)?;
        Ok(out.stdout.lines().filter(|l| !l.trim().is_empty()).count())
    }

    /// `runs` no-op plans at `parallelism`, each must exit 0.
    fn plans(&self, parallelism: u32, runs: usize, progress: &Progress) -> R<Vec<PlanRun>> {
        let parallelism = parallelism.to_string();
        let args = [
            "plan",
            "--detailed-exitcode",
            "--parallelism",
            parallelism.as_str(),
        ];
        let proxy = self.proxy()?;
        let mut out = Vec::with_capacity(runs);
        for i in 1..=runs {
            proxy.reset_counts();
            let started = proxy.now();
            let clock = Instant::now();
            self.expect(&args, 0)
                .map_err(|e| format!("the no-op plan (run {i}) is not a no-op or failed: {e}"))?;
            let time = clock.elapsed();
            let calls = proxy.calls();
            progress.say(format!(
                "  run {i}: {} with {} calls",
                secs(time),
                calls.len()
            ));
            out.push(PlanRun {
                time,
                started,
                calls,
            });
        }
        Ok(out)
    }

    /// `wanted`, or the most eksmgr's `--parallelism` accepts when that is less.
    fn accepted_parallelism(&self, wanted: u32) -> R<u32> {
        let wanted_text = wanted.to_string();
        let out = self
            .eksmgr
            .run(&["plan", "--parallelism", &wanted_text, "--help"])
            .map_err(|e| format!("eksmgr plan --help: {e}"))?;
        if out.success() {
            return Ok(wanted);
        }
        // clap: "invalid value '100000' for '--parallelism <N>': 100000 is not in 1..=256".
        let most = out
            .stderr
            .split("..=")
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|digits| digits.parse::<u32>().ok())
            .filter(|most| *most >= 1 && *most < wanted)
            .ok_or_else(|| {
                format!("eksmgr refuses --parallelism {wanted} and does not say its limit:\n{out}")
            })?;
        eprintln!(
            "note: eksmgr accepts --parallelism up to {most}; the chain is measured at {most}"
        );
        Ok(most)
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The median time of some runs, and the run at the median (the lower one for an even count).
fn median(runs: &[PlanRun]) -> (Duration, &PlanRun) {
    let mut sorted: Vec<&PlanRun> = runs.iter().collect();
    sorted.sort_by_key(|r| r.time);
    let n = sorted.len();
    let at = sorted[(n - 1) / 2];
    let time = if n.is_multiple_of(2) {
        (sorted[n / 2 - 1].time + sorted[n / 2].time) / 2
    } else {
        at.time
    };
    (time, at)
}

/// What the calls of one plan show.
struct Trace {
    total: usize,
    by_action: BTreeMap<String, usize>,
    assumed: BTreeMap<String, usize>,
    /// Per spoke account: `AssumeRole` calls of a role in it.
    per_spoke: Vec<usize>,
    /// Calls answered with a status of 300 or more, by status and action.
    failures: BTreeMap<(u16, String), usize>,
    writes: Vec<String>,
    /// The most calls in flight at once.
    max_in_flight: usize,
    /// Call time over wall time between the first call and the last answer.
    mean_in_flight: f64,
    /// The most calls of the trace that ran one after another, none overlapping.
    sequential_depth: usize,
    /// The mean time a call spent at the proxy: the latency plus moto's answer.
    mean_call: Duration,
    /// Stretches of at least [`GAP`] with no call in flight, between the first call and the
    /// last answer (since eksmgr's start), longest first.
    gaps: Vec<(Duration, Duration)>,
    /// From eksmgr's start to the first call, and from the last answer to its exit.
    before_first: Duration,
    after_last: Duration,
    /// Per action: calls, first received, last answered, most at once (since eksmgr's start).
    phases: Vec<(String, usize, Duration, Duration, usize)>,
}

impl Trace {
    fn new(run: &PlanRun, seed: &Seed) -> Trace {
        let calls = &run.calls;
        let mut by_action = BTreeMap::new();
        let mut assumed = BTreeMap::new();
        let mut failures = BTreeMap::new();
        for call in calls {
            *by_action.entry(action_kind(call)).or_insert(0) += 1;
            if call.action == "AssumeRole" {
                *assumed
                    .entry(call.role_arn.clone().unwrap_or_default())
                    .or_insert(0) += 1;
            }
            if call.status >= 300 {
                *failures.entry((call.status, call.qualified())).or_insert(0) += 1;
            }
        }
        let per_spoke = seed
            .spoke_account_ids
            .iter()
            .map(|spoke| {
                calls
                    .iter()
                    .filter(|c| c.action == "AssumeRole" && c.role_account() == Some(spoke))
                    .count()
            })
            .collect();
        let writes = calls
            .iter()
            .filter(|c| c.is_write())
            .map(Call::qualified)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let first = calls.iter().map(|c| c.received).min();
        let last = calls.iter().map(|c| c.answered).max();
        let (before_first, after_last, span) = match (first, last) {
            (Some(first), Some(last)) => (
                first.saturating_sub(run.started),
                run.time.saturating_sub(last.saturating_sub(run.started)),
                last.saturating_sub(first),
            ),
            _ => (run.time, Duration::ZERO, Duration::ZERO),
        };
        let busy: Duration = calls
            .iter()
            .map(|c| c.answered.saturating_sub(c.received))
            .sum();
        let mean_in_flight = if span.is_zero() {
            0.0
        } else {
            busy.as_secs_f64() / span.as_secs_f64()
        };
        let mut phases: Vec<(String, usize, Duration, Duration, usize)> = by_action
            .keys()
            .map(|action| {
                let of: Vec<&Call> = calls.iter().filter(|c| &action_kind(c) == action).collect();
                let from = of.iter().map(|c| c.received).min().unwrap_or_default();
                let to = of.iter().map(|c| c.answered).max().unwrap_or_default();
                (
                    action.clone(),
                    of.len(),
                    from.saturating_sub(run.started),
                    to.saturating_sub(run.started),
                    max_in_flight(of.iter().copied()),
                )
            })
            .collect();
        phases.sort_by_key(|p| (p.2, p.3));
        let all: Vec<&Call> = calls.iter().collect();
        Trace {
            total: calls.len(),
            by_action,
            assumed,
            per_spoke,
            failures,
            writes,
            max_in_flight: max_in_flight(all.iter().copied()),
            mean_in_flight,
            sequential_depth: sequential_depth(&all),
            mean_call: if calls.is_empty() {
                Duration::ZERO
            } else {
                busy / u32::try_from(calls.len()).unwrap_or(u32::MAX)
            },
            gaps: idle_gaps(&all, run.started),
            before_first,
            after_last,
            phases,
        }
    }

    /// `1`, or `MIN–MAX` when the spokes differ.
    fn assume_per_spoke(&self) -> String {
        let min = self.per_spoke.iter().min().copied().unwrap_or(0);
        let max = self.per_spoke.iter().max().copied().unwrap_or(0);
        if min == max {
            min.to_string()
        } else {
            format!("{min}–{max}")
        }
    }
}

/// `service:action`, with the names and ids in a REST path left out (every second segment:
/// `eks:GET /clusters/{}/access-entries/{}/access-policies`), so calls of one API group.
fn action_kind(call: &Call) -> String {
    match call.action.split_once(' ') {
        Some((method, path)) => {
            let path: Vec<&str> = path
                .split('/')
                .skip(1)
                .enumerate()
                .map(|(i, segment)| if i % 2 == 1 { "{}" } else { segment })
                .collect();
            format!("{}:{method} /{}", call.service, path.join("/"))
        }
        None => call.qualified(),
    }
}

/// The shortest stretch with no call in flight that [`Trace::gaps`] lists.
const GAP: Duration = Duration::from_millis(50);

/// Stretches of at least [`GAP`] between the first call and the last answer with no call in
/// flight (eksmgr working, or waiting on something else), as times since `started`, longest
/// first.
fn idle_gaps(calls: &[&Call], started: Duration) -> Vec<(Duration, Duration)> {
    let mut intervals: Vec<(Duration, Duration)> =
        calls.iter().map(|c| (c.received, c.answered)).collect();
    intervals.sort();
    let mut gaps = Vec::new();
    let mut covered_to: Option<Duration> = None;
    for (from, to) in intervals {
        if let Some(end) = covered_to
            && from > end
            && from - end >= GAP
        {
            gaps.push((end.saturating_sub(started), from.saturating_sub(started)));
        }
        covered_to = Some(covered_to.map_or(to, |end| end.max(to)));
    }
    gaps.sort_by_key(|(from, to)| std::cmp::Reverse(*to - *from));
    gaps
}

/// The most calls that ran strictly one after another (each received after the previous was
/// answered): the longest chain the trace shows (greedy by earliest answer, which is optimal).
fn sequential_depth(calls: &[&Call]) -> usize {
    let mut sorted: Vec<&&Call> = calls.iter().collect();
    sorted.sort_by_key(|c| c.answered);
    let mut depth = 0;
    let mut free_at = Duration::ZERO;
    for call in sorted {
        if depth == 0 || call.received >= free_at {
            depth += 1;
            free_at = call.answered;
        }
    }
    depth
}

/// Everything printed at the end.
struct Report<'a> {
    args: &'a Args,
    resources: usize,
    chain_parallelism: u32,
    plain: (Duration, Trace),
    slow: (Duration, Trace),
    chain: (Duration, Trace),
    /// Min and max calls over the timed runs with latency (they should not vary).
    call_range: (usize, usize),
}

impl<'a> Report<'a> {
    fn new(
        args: &'a Args,
        bench: &Bench,
        resources: usize,
        chain_parallelism: u32,
        [plain, slow, chain]: [&Vec<PlanRun>; 3],
    ) -> Report<'a> {
        let summarise = |runs: &Vec<PlanRun>| {
            let (time, at) = median(runs);
            (time, Trace::new(at, &bench.seed))
        };
        let counts = slow.iter().chain(chain).map(|r| r.calls.len());
        let call_range = (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0));
        Report {
            args,
            resources,
            chain_parallelism,
            plain: summarise(plain),
            slow: summarise(slow),
            chain: summarise(chain),
            call_range,
        }
    }

    fn latency(&self) -> f64 {
        self.args.latency.as_secs_f64()
    }

    /// The chain in calls: the chain plan's time over the latency.
    fn chain_calls(&self) -> f64 {
        self.chain.0.as_secs_f64() / self.latency()
    }

    /// `max(chain × latency, calls × latency / parallelism)`, in seconds.
    fn bound(&self) -> f64 {
        let width = self.slow.1.total as f64 * self.latency() / f64::from(self.args.parallelism);
        self.chain.0.as_secs_f64().max(width)
    }

    fn print(
        &self,
        bench: &Bench,
        apply_time: Duration,
        apply_calls: usize,
        binary: &Path,
        revision: &str,
    ) {
        let lat_ms = self.args.latency.as_millis();
        let p = self.args.parallelism;
        let (slow_time, slow) = (&self.slow.0, &self.slow.1);
        let bound = self.bound();
        let ratio = slow_time.as_secs_f64() / bound;
        let width = slow.total as f64 * self.latency() / f64::from(p);

        println!(
            "\n=== scenario: {} spokes, {} resources ===",
            self.args.spokes, self.resources
        );
        println!(
            "apply (no latency):               {} with {apply_calls} calls",
            secs(apply_time)
        );
        println!(
            "no-op plan, no latency:           {} (median of {}; {} calls)",
            secs(self.plain.0),
            self.args.runs,
            self.plain.1.total
        );
        println!(
            "no-op plan, {lat_ms} ms, parallelism {p}: {} (median of {})",
            secs(*slow_time),
            self.args.runs
        );
        println!(
            "chain: plan at parallelism {}:  {} = {:.1} calls of {lat_ms} ms one after another",
            self.chain_parallelism,
            secs(self.chain.0),
            self.chain_calls()
        );
        println!(
            "calls: {} in all ({} per resource); over the runs with latency {}–{}",
            slow.total,
            per_resource(slow.total, self.resources),
            self.call_range.0,
            self.call_range.1
        );
        println!(
            "bound = max(chain × latency = {:.2} s, calls × latency / parallelism = {width:.2} s) = {bound:.2} s",
            self.chain.0.as_secs_f64()
        );
        println!("measured / bound = {ratio:.2} (target ≤ 1.3)");
        println!(
            "(the chain's time includes moto's and eksmgr's own time per call; the longest run of \
             calls one after another in its trace is {} calls)",
            self.chain.1.sequential_depth
        );
        if self.chain.1.max_in_flight >= self.chain_parallelism as usize {
            println!(
                "WARNING: the chain plan had {} calls in flight, its parallelism: the chain may be \
                 overestimated",
                self.chain.1.max_in_flight
            );
        }

        println!("\n--- where the time goes (the runs at the median) ---");
        for (name, time, trace, par) in [
            ("no latency", self.plain.0, &self.plain.1, p),
            ("latency", *slow_time, slow, p),
            ("chain", self.chain.0, &self.chain.1, self.chain_parallelism),
        ] {
            println!(
                "{name:>10} (parallelism {par}): {} in all; {} before the first call, {} after the last; \
                 calls in flight: at most {}, {:.1} on average; {} calls ran strictly one after another; \
                 a call took {:.0} ms on average at the proxy",
                secs(time),
                secs(trace.before_first),
                secs(trace.after_last),
                trace.max_in_flight,
                trace.mean_in_flight,
                trace.sequential_depth,
                trace.mean_call.as_secs_f64() * 1000.0
            );
            let idle: Duration = trace.gaps.iter().map(|(from, to)| *to - *from).sum();
            if !trace.gaps.is_empty() {
                let longest: Vec<String> = trace
                    .gaps
                    .iter()
                    .take(3)
                    .map(|(from, to)| {
                        format!("{:.2}–{:.2} s", from.as_secs_f64(), to.as_secs_f64())
                    })
                    .collect();
                println!(
                    "{:>10}   no call in flight for {} in stretches of {} ms or more (longest: {})",
                    "",
                    secs(idle),
                    GAP.as_millis(),
                    longest.join(", ")
                );
            }
        }
        let chain_call = self.chain.1.mean_call;
        if chain_call.as_secs_f64() > 1.5 * self.latency() {
            println!(
                "NOTE: in the chain plan a call took {:.0} ms on average for a latency of {} ms: the \
                 emulator was saturated, so chain × latency overstates the chain; the trace's {} calls \
                 one after another × latency = {:.2} s is the better estimate of the chain's share",
                chain_call.as_secs_f64() * 1000.0,
                lat_ms,
                self.chain.1.sequential_depth,
                self.chain.1.sequential_depth as f64 * self.latency()
            );
        }

        println!(
            "\n--- AssumeRole per spoke account: {} (target: exactly 1) ---",
            slow.assume_per_spoke()
        );
        print_assumed(&slow.assumed, &bench.seed);

        if !slow.failures.is_empty() {
            println!("\n--- calls not answered 2xx (latency run) ---");
            for ((status, action), n) in &slow.failures {
                println!("  {n:5}  {status}  {action}");
            }
        }
        if !slow.writes.is_empty() {
            println!(
                "\nWARNING: the no-op plan made write calls: {:?}",
                slow.writes
            );
        }

        for (title, trace) in [
            (format!("latency {lat_ms} ms, parallelism {p}"), slow),
            (
                format!(
                    "chain: latency {lat_ms} ms, parallelism {}",
                    self.chain_parallelism
                ),
                &self.chain.1,
            ),
        ] {
            println!(
                "\n--- calls per action, in the order they started ({title}; seconds since eksmgr started) ---"
            );
            println!("  calls  first   last  most at once  action");
            for (action, n, from, to, most) in &trace.phases {
                println!(
                    "  {n:5}  {:5.2}  {:5.2}  {most:12}  {action}",
                    from.as_secs_f64(),
                    to.as_secs_f64()
                );
            }
        }

        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let profile = binary
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!("\n--- Markdown (BENCHMARKS.md) ---\n");
        println!(
            "| revision | binary | spokes | resources | latency | parallelism | plan, no latency | plan, latency | chain (parallelism {}) | chain, calls | sequential calls in trace | calls | calls / resource | AssumeRole per spoke | bound | measured / bound |",
            self.chain_parallelism
        );
        println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        println!(
            "| {revision} | {profile}/{name} | {} | {} | {lat_ms} ms | {p} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {bound:.2} s | {ratio:.2} |",
            self.args.spokes,
            self.resources,
            secs(self.plain.0),
            secs(*slow_time),
            secs(self.chain.0),
            self.chain_calls(),
            self.chain.1.sequential_depth,
            slow.total,
            per_resource(slow.total, self.resources),
            slow.assume_per_spoke(),
        );
        println!(
            "\nCalls of one no-op plan ({} spokes, {} resources), per service and action:\n",
            self.args.spokes, self.resources
        );
        println!("| action | calls | per spoke |");
        println!("|---|--:|--:|");
        let mut by_count: Vec<(&String, &usize)> = slow.by_action.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (action, n) in by_count {
            println!(
                "| `{action}` | {n} | {:.2} |",
                *n as f64 / self.args.spokes as f64
            );
        }
        println!(
            "| **all** | **{}** | **{:.2}** |",
            slow.total,
            slow.total as f64 / self.args.spokes as f64
        );
    }
}

fn per_resource(calls: usize, resources: usize) -> String {
    if resources == 0 {
        "–".to_owned()
    } else {
        format!("{:.2}", calls as f64 / resources as f64)
    }
}

/// `AssumeRole` calls per role ARN: every ARN outside the spokes, and the spokes' ARNs by
/// role name (each spoke's account shown as `SPOKE`), with how many were assumed how often.
fn print_assumed(assumed: &BTreeMap<String, usize>, seed: &Seed) {
    let spokes: BTreeSet<&str> = seed.spoke_account_ids.iter().map(String::as_str).collect();
    // Role ARN pattern -> (times assumed -> how many ARNs).
    let mut grouped: BTreeMap<String, BTreeMap<usize, usize>> = BTreeMap::new();
    for (arn, n) in assumed {
        let account = arn.split(':').nth(4).unwrap_or_default();
        if spokes.contains(account) {
            let pattern = arn.replacen(account, "SPOKE", 1);
            *grouped.entry(pattern).or_default().entry(*n).or_insert(0) += 1;
        } else {
            println!("  {n:5}  {arn}");
        }
    }
    for (pattern, histogram) in grouped {
        for (times, arns) in histogram {
            println!("  {times:5}  {pattern}  (each of {arns} spoke accounts)");
        }
    }
}
