//! The synthetic AWS of the load benchmark (`eksmgr_e2e::synthetic`) answers as moto does: the
//! same estate planned through both gives the same plans, byte for byte.
//!
//! moto holds an example estate of four spokes, applied. A no-op plan through the proxy is
//! recorded; the synthetic AWS is built from it with the third spoke as the template, the
//! first two exact (the example gives them their own subnets) and the fourth *generated*: its
//! answers are the template's with its id put in, and so are its state records. Then the
//! same plans are made against moto (with moto's state) and against the synthetic AWS (with
//! the generated state): a no-op plan (human and JSON), and a plan of a changed configuration
//! (every cluster's tags and node group sizes) that updates resources in every spoke. Their
//! outputs must be equal byte for byte, and the synthetic AWS must have had an answer for
//! every request, one `AssumeRole` per spoke.

use std::collections::BTreeSet;
use std::time::Duration;

use eksmgr_e2e::check::ensure;
use eksmgr_e2e::synthetic::{Options, Recorded, SyntheticAws, generate_state, record_example};
use eksmgr_e2e::{Eksmgr, R};

const SPOKES: usize = 4;

/// The configuration changed so that every spoke has updates to plan.
fn changed(config: &str) -> R<String> {
    let out = config
        .replacen(
            "tags = { team = \"platform\" }",
            "tags = { team = \"platform\", tier = \"1\" }",
            1,
        )
        .replacen("max_size = 6", "max_size = 8", 1);
    ensure(out != config, || {
        "the example's tags or sizes moved; update this test".into()
    })?;
    Ok(out)
}

#[test]
fn the_synthetic_aws_plans_as_the_emulator_does() -> R {
    let Recorded {
        estate,
        recording,
        noop: moto_noop,
        config,
        spokes,
        others,
        ..
    } = record_example("eksmgr-synthetic-", None)?;
    ensure(spokes.len() == SPOKES, || {
        format!("{} spokes", spokes.len())
    })?;
    let moto_json = estate.expect(&["plan", "--json"], 0)?;
    estate
        .eksmgr
        .write_file("changed.toml", &changed(&config)?)?;
    let moto_changed = estate.expect(
        &[
            "-c",
            &estate.path("changed.toml"),
            "--state",
            &estate.path("eksmgr.state.json"),
            "plan",
            "--detailed-exitcode",
        ],
        2,
    )?;
    ensure(recording.len() > 20, || {
        format!("the recording kept only {} requests", recording.len())
    })?;
    // The synthetic estate: a work directory of its own, the generated state.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let records = generate_state(
        &recording,
        &estate.file("eksmgr.state.json"),
        &dir.path().join("eksmgr.state.json"),
        &others,
        &spokes,
    )?;
    let moto_records =
        std::fs::read_to_string(estate.file("eksmgr.state.json"))
            .map_err(|e| e.to_string())
            .and_then(|t| {
                serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string())
            })?["resources"]
            .as_array()
            .map_or(0, Vec::len);
    ensure(records == moto_records, || {
        format!("the generated state has {records} records, moto's {moto_records}")
    })?;
    let aws = SyntheticAws::start(
        recording,
        Options {
            spokes: spokes.clone(),
            latency: Duration::ZERO,
            throttled: BTreeSet::new(),
            throttle_rate: 10.0,
        },
        2,
    )?;
    let synthetic = Eksmgr::with_binary(estate.eksmgr.binary(), dir.path(), aws.endpoint());
    synthetic.write_config(&config)?;
    synthetic.write_file("changed.toml", &changed(&config)?)?;

    let noop = synthetic.run(&["plan", "--detailed-exitcode"])?;
    let json = synthetic.run(&["plan", "--json"])?;
    let changed_plan = synthetic.run(&[
        "-c",
        &dir.path().join("changed.toml").display().to_string(),
        "plan",
        "--detailed-exitcode",
    ])?;
    let stats = aws.stats();
    ensure(stats.misses == 0, || {
        format!(
            "the synthetic AWS had no answer for {} requests:\n{}\n\nno-op plan:\n{noop}",
            stats.misses,
            stats.missed.join("\n")
        )
    })?;
    for (what, moto, ours) in [
        ("no-op plan", &moto_noop, &noop),
        ("plan --json", &moto_json, &json),
        ("changed plan", &moto_changed, &changed_plan),
    ] {
        ensure(moto.code == ours.code, || {
            format!(
                "{what}: moto's exit code {:?}, the synthetic AWS's {:?}\n{ours}",
                moto.code, ours.code
            )
        })?;
        ensure(moto.stdout == ours.stdout, || {
            format!(
                "{what}: the plans differ\n--- moto ---\n{}\n--- synthetic ---\n{}",
                moto.stdout, ours.stdout
            )
        })?;
    }
    ensure(changed_plan.stdout.contains(&spokes[3]), || {
        format!("the changed plan should update the generated spoke\n{changed_plan}")
    })?;
    // One role assumption per spoke in each of the three plans.
    for spoke in &spokes {
        let n = stats.assume_role.get(spoke).copied().unwrap_or(0);
        ensure(n == 3, || {
            format!(
                "{spoke} was assumed {n} times in three plans: {:?}",
                stats.assume_role
            )
        })?;
    }
    Ok(())
}
