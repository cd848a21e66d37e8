//! What rendering a plan costs as the estate grows: the Terraform-style text (`eksmgr plan`)
//! and the JSON document (`eksmgr plan --json`), for the first plan of a synthetic estate
//! (every resource created: the largest output) and for its steady state (no change), at 100,
//! 1,000 and 5,000 spoke accounts (20 resources each, see `eksmgr_engine::synthetic`).
//!
//! `cargo bench -p eksmgr --bench render`.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use eksmgr::render::{Styler, human, json};
use eksmgr_engine::blueprint;
use eksmgr_engine::config;
use eksmgr_engine::plan::{Plan, PlanOptions, Planner};
use eksmgr_engine::synthetic::{self, Estate};
use eksmgr_state::State;

/// The first plan (`existing` false) or the steady-state plan of an estate of `n` spokes.
fn plan_of(n: usize, existing: bool) -> Plan {
    let estate = Estate::new(n);
    let config =
        config::parse(&estate.config_toml(), "eksmgr.toml").unwrap_or_else(|e| panic!("{e}"));
    let bp = blueprint::expand(&config, &estate.discovery()).unwrap_or_else(|e| panic!("{e}"));
    let cloud = if existing {
        synthetic::cloud_matching(&bp.resources)
    } else {
        BTreeMap::new()
    };
    let state = if existing {
        synthetic::state_matching(&bp.resources, &cloud)
    } else {
        State::new()
    };
    let observed = synthetic::observations(&bp.resources, &cloud);
    Planner::plan(&bp.resources, &state, &observed, &PlanOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn render(c: &mut Criterion) {
    let mut g = c.benchmark_group("render");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [100usize, 1_000, 5_000] {
        for (scenario, existing) in [("all create", false), ("no change", true)] {
            let plan = plan_of(n, existing);
            g.bench_with_input(
                BenchmarkId::new(format!("human, {scenario}"), n),
                &plan,
                |b, plan| {
                    b.iter_with_large_drop(|| {
                        let s = Styler::new(false);
                        let mut out = human::plan(plan, s);
                        out.push_str(&human::summary(plan, s));
                        out
                    })
                },
            );
            g.bench_with_input(
                BenchmarkId::new(format!("json, {scenario}"), n),
                &plan,
                |b, plan| b.iter_with_large_drop(|| json::render(plan, "bench")),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
