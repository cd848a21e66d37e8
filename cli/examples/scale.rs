//! Scale scenario: the whole offline pipeline of `eksmgr plan` for a synthetic estate of N spoke
//! accounts (20 resources each), with an in-memory cloud instead of AWS, printing the wall time
//! and the peak resident memory of each step.
//!
//! ```text
//! cargo run --release -p eksmgr --example scale -- 5000              # both scenarios
//! cargo run --release -p eksmgr --example scale -- 5000 no-change    # or create
//! cargo run --release -p eksmgr --example scale -- 5000 no-change --no-registry
//! ```
//!
//! Scenarios: `no-change` (every resource exists as desired and state records it: the steady
//! state) and `create` (an empty cloud and state: the first plan). Steps: generate the
//! configuration text, load it (parse and validate), expand the blueprint, write the state file
//! an apply would have left (setup, in a child process, not part of eksmgr), load it (read and
//! parse), refresh through an
//! in-memory provider whose cloud is what state records (`RecordedProvider`: it holds no copy,
//! so the figures are eksmgr's), plan, and render the plan as JSON and as text.
//!
//! Memory is read from `/proc/self/status` (Linux): `VmHWM` after each step, the high-water
//! mark having been reset before it through `/proc/self/clear_refs`, so each step's figure is
//! the peak of the process during that step; the process's peak is the largest of them.
//! Resident memory includes what the allocator keeps after a free (the setup step's state
//! file, for one, is reused by later steps), so a counting allocator also reports the bytes
//! live after each step and the peak of live bytes during it: what eksmgr's data holds. Each
//! scenario runs in a process of its own. `--no-registry` leaves out the hub
//! ECR repositories, whose whole-estate policies AWS would refuse beyond a few dozen spokes.

use std::time::{Duration, Instant};

use eksmgr::render::{Styler, human, json};
use eksmgr_engine::blueprint;
use eksmgr_engine::config;
use eksmgr_engine::plan::{PlanOptions, Planner};
use eksmgr_engine::refresh::refresh;
use eksmgr_engine::synthetic::{self, Estate, RecordedProvider};
use eksmgr_state::StateFile;
use peak_alloc::PeakAlloc;

type Error = Box<dyn std::error::Error>;

/// The system allocator, counting the bytes live and their peak.
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Memory figures of the process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss: u64,
    peak: u64,
    live: u64,
    live_peak: u64,
}

fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
        live: ALLOCATOR.current_usage() as u64 / 1024,
        live_peak: ALLOCATOR.peak_usage() as u64 / 1024,
    }
}

/// Resets the peak to the current resident size; false when the kernel does not allow it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Times steps and records the memory peak of each.
struct Steps {
    rows: Vec<(String, Duration, Memory)>,
    resettable: bool,
}

impl Steps {
    fn new() -> Self {
        Steps {
            rows: Vec::new(),
            resettable: reset_peak(),
        }
    }

    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        if self.resettable {
            reset_peak();
        }
        ALLOCATOR.reset_peak_usage();
        let start = Instant::now();
        let out = f()?;
        let elapsed = start.elapsed();
        self.rows.push((name.to_string(), elapsed, memory()));
        Ok(out)
    }

    fn print(&self, title: &str) {
        println!("{title}");
        println!(
            "  {:<34} {:>10} {:>12} {:>12} {:>12} {:>12}",
            "step",
            "time",
            if self.resettable {
                "step peak"
            } else {
                "peak so far"
            },
            "RSS after",
            "live peak",
            "live after"
        );
        let mut eksmgr = Duration::ZERO;
        for (name, t, m) in &self.rows {
            println!(
                "  {name:<34} {:>10} {:>12} {:>12} {:>12} {:>12}",
                ms(*t),
                mib(m.peak),
                mib(m.rss),
                mib(m.live_peak),
                mib(m.live)
            );
            if !name.starts_with("setup:") {
                eksmgr += *t;
            }
        }
        let peak = self.rows.iter().map(|(_, _, m)| m.peak).max().unwrap_or(0);
        println!(
            "  {:<34} {:>10} {:>12}",
            "total (steps of eksmgr)",
            ms(eksmgr),
            mib(peak)
        );
    }

    fn time_of(&self, name: &str) -> Duration {
        self.rows
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or(Duration::ZERO, |(_, t, _)| *t)
    }

    fn peak(&self) -> u64 {
        self.rows.iter().map(|(_, _, m)| m.peak).max().unwrap_or(0)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Runs one scenario; `existing` says whether the cloud and state hold the whole estate.
fn scenario(estate: Estate, existing: bool, parallelism: usize) -> Result<Steps, Error> {
    let mut steps = Steps::new();
    let text = steps.run("setup: generate eksmgr.toml", || Ok(estate.config_toml()))?;
    let digest = eksmgr_engine::digest(text.as_bytes());
    let config = steps.run("config load (parse + validate)", || {
        Ok(config::parse(&text, "eksmgr.toml")?)
    })?;
    let discovery = estate.discovery();
    let bp = steps.run("blueprint expand (+ guardrails)", || {
        Ok(blueprint::expand(&config, &discovery)?)
    })?;
    // The state file an apply of the whole estate leaves (the cloud is what it records),
    // written by a child process, so that this process's allocator holds nothing of it: as
    // in `eksmgr plan`, the state is read from disk and parsed.
    let dir = std::env::temp_dir().join(format!("eksmgr-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = StateFile::new(dir.join("eksmgr.state.json"));
    if existing {
        steps.run("setup: state file (child process)", || {
            let status = std::process::Command::new(std::env::current_exe()?)
                .arg(estate.spokes.to_string())
                .arg("--write-state")
                .arg(file.path())
                .args((estate.ecr_repositories == 0).then_some("--no-registry"))
                .status()?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("writing the state file failed: {status}").into())
            }
        })?;
    }
    let state = steps.run("state load (read + parse)", || Ok(file.load()?))?;
    std::fs::remove_dir_all(&dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let observed = steps.run("refresh (in-memory provider)", || {
        Ok(runtime.block_on(refresh(
            &RecordedProvider,
            &bp.resources,
            &state,
            parallelism,
        )))
    })?;
    let plan = steps.run("plan", || {
        Ok(Planner::plan(
            &bp.resources,
            &state,
            &observed,
            &PlanOptions {
                config_digest: digest.clone(),
                ..PlanOptions::default()
            },
        )?)
    })?;
    // Written as `eksmgr plan --json` writes it to stdout, as it is serialised; counted here.
    let json_bytes = steps.run("render JSON", || {
        let mut out = ByteCount(0);
        json::write(&plan, env!("CARGO_PKG_VERSION"), &mut out)?;
        Ok(out.0)
    })?;
    // The same for the human plan (its summary included), written one change at a time.
    let human_bytes = steps.run("render human", || {
        let mut out = ByteCount(0);
        human::write_plan(&plan, Styler::new(false), &mut out)?;
        Ok(out.0)
    })?;
    println!(
        "{} resources desired, {} changes, JSON {:.1} MiB, text {:.1} MiB; {}",
        bp.resources.len(),
        plan.changes.iter().filter(|c| c.action.is_change()).count(),
        json_bytes as f64 / 1048576.0,
        human_bytes as f64 / 1048576.0,
        human::summary(&plan, Styler::new(false)).trim_end()
    );
    Ok(steps)
}

/// A sink that counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the state file an apply of the whole estate leaves (the child process's job).
fn write_state_file(estate: Estate, path: &str) -> Result<(), Error> {
    let config = config::parse(&estate.config_toml(), "eksmgr.toml")?;
    let bp = blueprint::expand(&config, &estate.discovery())?;
    let cloud = synthetic::cloud_matching(&bp.resources);
    let mut state = synthetic::state_matching(&bp.resources, &cloud);
    drop((bp, cloud));
    StateFile::new(path).save(&mut state)?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let n: usize = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|e| format!("the number of spoke accounts {n:?}: {e}"))?,
        None => 1000,
    };
    let mut mode = "both".to_string();
    let mut estate = Estate::new(n);
    let mut write_state = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--no-registry" => estate.ecr_repositories = 0,
            "--write-state" => write_state = args.next(),
            "both" | "no-change" | "create" => mode = a,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if let Some(path) = write_state {
        return write_state_file(estate, &path);
    }
    if mode == "both" {
        // One process per scenario, so that each one's memory figures are its own.
        let exe = std::env::current_exe()?;
        for scenario in ["no-change", "create"] {
            let mut child = std::process::Command::new(&exe);
            child.arg(n.to_string()).arg(scenario);
            if estate.ecr_repositories == 0 {
                child.arg("--no-registry");
            }
            let status = child.status()?;
            if !status.success() {
                return Err(format!("the {scenario} scenario failed: {status}").into());
            }
        }
        return Ok(());
    }
    println!(
        "scale: {n} spoke accounts, {} hub ECR repositories, scenario {mode}",
        estate.ecr_repositories
    );
    let steps = scenario(estate, mode == "no-change", 10)?;
    steps.print(&format!("scenario {mode}:"));
    println!(
        "  plan: {}; peak RSS of the process: {}\n",
        ms(steps.time_of("plan")),
        mib(steps.peak().max(memory().peak))
    );
    Ok(())
}
