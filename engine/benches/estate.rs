//! What each offline step of a plan costs as the estate grows: loading the configuration
//! (parse and validate), expanding the blueprint (with the guardrails), building the dependency
//! graph, planning (the steady state, where everything exists as desired and state records it,
//! with state and observations as separate copies and as refresh shares them, and the first
//! plan, where nothing exists), and loading and saving the state of the whole
//! estate. Synthetic estates of 100, 1,000 and 5,000 spoke accounts (20 resources each, see
//! `eksmgr_engine::synthetic`), with in-memory observations: no AWS.
//!
//! `cargo bench -p eksmgr-engine --bench estate`. Sample counts are kept small: the 5,000-spoke
//! steps take seconds each.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use eksmgr_engine::blueprint::{self, Blueprint};
use eksmgr_engine::config::{self, Config};
use eksmgr_engine::graph::Graph;
use eksmgr_engine::plan::{PlanOptions, Planner};
use eksmgr_engine::refresh::Observation;
use eksmgr_engine::synthetic::{self, Estate};
use eksmgr_state::{State, StateFile};

const SIZES: [usize; 3] = [100, 1_000, 5_000];

/// The plan is also measured at 500 spokes, for the 5,000 / 500 ratio the linearity goal is
/// stated in.
const PLAN_SIZES: [usize; 4] = [100, 500, 1_000, 5_000];

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}

fn load(estate: Estate) -> (String, Config) {
    let text = estate.config_toml();
    let config = config::parse(&text, "eksmgr.toml").unwrap_or_else(|e| panic!("{e}"));
    (text, config)
}

fn expand(estate: Estate, config: &Config) -> Blueprint {
    blueprint::expand(config, &estate.discovery()).unwrap_or_else(|e| panic!("{e}"))
}

fn config_and_blueprint(c: &mut Criterion) {
    let mut g = group(c, "config load");
    for n in SIZES {
        let text = Estate::new(n).config_toml();
        g.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter_with_large_drop(|| config::parse(text, "eksmgr.toml"))
        });
    }
    g.finish();
    let mut g = group(c, "blueprint expand");
    for n in SIZES {
        let estate = Estate::new(n);
        let (_, config) = load(estate);
        let discovery = estate.discovery();
        g.bench_with_input(BenchmarkId::from_parameter(n), &config, |b, config| {
            b.iter_with_large_drop(|| blueprint::expand(config, &discovery))
        });
    }
    g.finish();
}

fn graph(c: &mut Criterion) {
    let mut g = group(c, "graph build");
    for n in SIZES {
        let estate = Estate::new(n);
        let bp = expand(estate, &load(estate).1);
        g.bench_with_input(BenchmarkId::from_parameter(n), &bp, |b, bp| {
            b.iter_with_large_drop(|| Graph::of_desired(&bp.resources))
        });
    }
    g.finish();
}

fn plan(c: &mut Criterion) {
    let mut g = group(c, "plan");
    for n in PLAN_SIZES {
        let estate = Estate::new(n);
        let bp = expand(estate, &load(estate).1);
        let cloud = synthetic::cloud_matching(&bp.resources);
        let observed = synthetic::observations(&bp.resources, &cloud);
        let state = synthetic::state_matching(&bp.resources, &cloud);
        drop(cloud);
        let options = PlanOptions::default();
        g.bench_with_input(BenchmarkId::new("no change", n), &n, |b, _| {
            b.iter_with_large_drop(|| Planner::plan(&bp.resources, &state, &observed, &options))
        });
        // As refresh leaves them in the steady state: each observation shares the state
        // record's map (they are equal), so the drift check is skipped.
        let mut shared = observed;
        for (addr, obs) in &mut shared {
            if let (Observation::Found(o), Some(r)) = (obs, state.resources.get(addr)) {
                o.attrs = std::sync::Arc::clone(&r.attrs);
            }
        }
        g.bench_with_input(
            BenchmarkId::new("no change, after refresh", n),
            &n,
            |b, _| {
                b.iter_with_large_drop(|| Planner::plan(&bp.resources, &state, &shared, &options))
            },
        );
        drop((shared, state));
        let empty = State::new();
        let nothing = synthetic::observations(&bp.resources, &BTreeMap::new());
        g.bench_with_input(BenchmarkId::new("all create", n), &n, |b, _| {
            b.iter_with_large_drop(|| Planner::plan(&bp.resources, &empty, &nothing, &options))
        });
    }
    g.finish();
}

/// The state of the whole estate (every resource with the attributes AWS reports), saved and
/// loaded through a file.
fn state(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut g = group(c, "estate state");
    for n in SIZES {
        let estate = Estate::new(n);
        let bp = expand(estate, &load(estate).1);
        let mut state =
            synthetic::state_matching(&bp.resources, &synthetic::cloud_matching(&bp.resources));
        drop(bp);
        let file = StateFile::new(dir.path().join(format!("estate-{n}.json")));
        let resources = state.len();
        g.bench_with_input(BenchmarkId::new("save", resources), &n, |b, _| {
            b.iter(|| file.save(&mut state).unwrap_or_else(|e| panic!("{e}")))
        });
        g.bench_with_input(BenchmarkId::new("load", resources), &n, |b, _| {
            b.iter_with_large_drop(|| file.load().unwrap_or_else(|e| panic!("{e}")))
        });
    }
    g.finish();
}

criterion_group!(benches, config_and_blueprint, graph, plan, state);
criterion_main!(benches);
