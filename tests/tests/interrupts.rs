//! Interrupts, end to end, through the real binary against moto behind the test proxy, which
//! holds the run's AWS calls (`Proxy::freeze`) so the signal lands while the run is reading
//! AWS or while operations are under way:
//!
//! - `plan` interrupted while it plans (SIGINT, SIGTERM; local and S3 state): exits 130 / 143
//!   and leaves no lock;
//! - `apply` interrupted while it plans, started with SIGINT ignored (as a script's background
//!   job is): applies nothing, exits 130, leaves no lock;
//! - `apply` interrupted twice while operations are under way: saves the state with their
//!   intents, releases the lock and exits 143; the next apply adopts what they made.

use std::time::Duration;

use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::{Estate, registry_config};
use eksmgr_e2e::example::example_config;
use eksmgr_e2e::proxy::Proxy;
use eksmgr_e2e::{Output, Running, sdk_config};
use serde_json::Value;

use eksmgr_e2e::R;

/// Longest one run, or one wait for a run to reach a point, may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// An estate whose eksmgr talks to moto through a proxy.
fn start(prefix: &str, spokes: usize) -> R<Estate> {
    Estate::builder(prefix)
        .spokes(spokes)
        .proxy()
        .timeout(TIMEOUT)
        .start()
}

/// Waits until the proxy holds at least one of the run's calls: the run is reading AWS.
fn wait_until_held(proxy: &Proxy, running: &mut Running) -> R {
    running.wait_until("a call held by the proxy", TIMEOUT, || proxy.held() > 0)
}

fn expect_code(out: &Output, code: i32, what: &str) -> R {
    ensure(out.code == Some(code), || {
        format!("{what} should exit {code}\n{out}")
    })
}

/// `plan`, interrupted by `signal` while it reads AWS, exits `code`, says so, and leaves no
/// lock file.
fn interrupted_plan(signal: &str, code: i32) -> R {
    let bench = start("eksmgr-e2e-int-plan-", 0)?;
    let proxy = bench.proxy()?;
    proxy.freeze();
    let mut running = bench.eksmgr.spawn(&["plan"])?;
    wait_until_held(proxy, &mut running)?;
    let lock = bench.file("eksmgr.state.json.lock");
    ensure(lock.exists(), || {
        "the plan holds the lock while it reads AWS".into()
    })?;
    running.signal(signal)?;
    let out = running.wait(TIMEOUT)?;
    proxy.thaw();
    expect_code(&out, code, &format!("a plan interrupted by SIG{signal}"))?;
    ensure(
        out.stderr.contains(&format!(
            "Interrupted (SIG{signal}): stopped before changing"
        )),
        || format!("the interrupt is reported\n{out}"),
    )?;
    ensure(!lock.exists(), || {
        format!(
            "the lock {} is left after the interrupt\n{out}",
            lock.display()
        )
    })?;
    // Nothing stands in the next run's way.
    bench.expect(&["plan"], 0)?;
    Ok(())
}

#[test]
fn ctrl_c_while_planning_releases_the_lock_and_exits_130() -> R {
    interrupted_plan("INT", 130)
}

#[test]
fn sigterm_while_planning_releases_the_lock_and_exits_143() -> R {
    interrupted_plan("TERM", 143)
}

const BUCKET: &str = "platform-eksmgr-state";
const KEY: &str = "estates/prod/eksmgr.state.json";

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_planning_releases_the_s3_lock() -> R {
    let bench = start("eksmgr-e2e-int-s3-", 0)?;
    let proxy = bench.proxy()?;
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(bench.moto.endpoint()))
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    s3.create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(sdk_err("s3:CreateBucket"))?;
    bench.eksmgr.write_config(&format!(
        "{}\n[state]\nbackend = \"s3\"\nbucket = \"{BUCKET}\"\nkey = \"{KEY}\"\n",
        registry_config(&bench.seed, &[])
    ))?;
    let lock_key = format!("{KEY}.lock");
    let lock_exists = || {
        let s3 = s3.clone();
        let key = lock_key.clone();
        async move {
            s3.head_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .is_ok()
        }
    };
    // Slow enough that the run is still planning when the test sees its lock.
    proxy.set_latency(Duration::from_millis(300));
    let mut running = bench.eksmgr.spawn(&["plan"])?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !lock_exists().await {
        ensure(
            !running.exited() && std::time::Instant::now() < deadline,
            || {
                format!(
                    "the plan never took the S3 lock; stderr:\n{}",
                    running.stderr_so_far()
                )
            },
        )?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.signal("INT")?;
    let out = tokio::task::spawn_blocking(move || running.wait(TIMEOUT))
        .await
        .map_err(err("join"))??;
    expect_code(&out, 130, "a plan with S3 state interrupted by SIGINT")?;
    ensure(!lock_exists().await, || {
        format!("the S3 lock s3://{BUCKET}/{lock_key} is left after the interrupt\n{out}")
    })?;
    Ok(())
}

#[test]
fn an_apply_interrupted_while_planning_applies_nothing_even_with_sigint_ignored() -> R {
    let bench = start("eksmgr-e2e-int-apply-", 0)?;
    let proxy = bench.proxy()?;
    // Started with SIGINT ignored, as a shell starts a background job.
    let eksmgr = bench
        .eksmgr
        .wrapped("eksmgr-ignoring-sigint.sh", "trap '' INT")?;
    proxy.freeze();
    let mut running = eksmgr.spawn(&["apply", "--auto-approve"])?;
    wait_until_held(proxy, &mut running)?;
    running.signal("INT")?;
    // A run that honours the signal ends while its calls are held; one that ignored it waits
    // for them: they are let through after a while, so that a failure shows what it did.
    running.wait_exit(Duration::from_secs(30));
    proxy.thaw();
    let out = running.wait(TIMEOUT)?;
    expect_code(&out, 130, "an apply interrupted while planning")?;
    let writes: Vec<String> = proxy
        .calls()
        .iter()
        .filter(|c| c.is_write())
        .map(|c| c.qualified())
        .collect();
    ensure(writes.is_empty(), || {
        format!("nothing may be changed in AWS, yet the run called {writes:?}\n{out}")
    })?;
    ensure(!bench.file("eksmgr.state.json.lock").exists(), || {
        format!("the lock is left\n{out}")
    })?;
    Ok(())
}

#[test]
fn a_second_interrupt_saves_the_intents_releases_the_lock_and_the_next_apply_adopts() -> R {
    let bench = start("eksmgr-e2e-int-twice-", 2)?;
    let proxy = bench.proxy()?;
    bench.eksmgr.write_config(&example_config(&bench.seed)?)?;
    // AWS makes the 5th change, and the run never hears back: it is under way.
    proxy.freeze_after_writes(5);
    let mut running = bench.eksmgr.spawn(&["apply", "--auto-approve"])?;
    running.wait_until("its 5th change", TIMEOUT, || proxy.frozen())?;
    running.signal("TERM")?;
    ensure(
        running.wait_for_stderr("SIGTERM received: finishing", TIMEOUT)?,
        || "the apply never said it took the first interrupt".into(),
    )?;
    running.signal("TERM")?;
    let out = running.wait(TIMEOUT)?;
    expect_code(&out, 143, "an apply interrupted twice by SIGTERM")?;
    ensure(out.stdout.contains("Left running in AWS"), || {
        format!("the operations left running are listed\n{out}")
    })?;
    ensure(!bench.file("eksmgr.state.json.lock").exists(), || {
        format!("the lock is released\n{out}")
    })?;
    ensure(!bench.file("eksmgr.state.json.journal").exists(), || {
        format!("the state is saved whole (the journal compacted)\n{out}")
    })?;
    let text =
        std::fs::read_to_string(bench.file("eksmgr.state.json")).map_err(err("read the state"))?;
    let state: Value = serde_json::from_str(&text).map_err(err("parse the state"))?;
    let intents = state["intents"].as_array().map_or(0, Vec::len);
    ensure(intents > 0, || {
        format!("the operations left running keep their intents in the state: {text}")
    })?;
    proxy.thaw();
    // The next run is not refused by a lock, and adopts what AWS made.
    let next = bench.eksmgr.run(&["apply", "--auto-approve"])?;
    expect_code(&next, 0, "the apply after the interrupted one")?;
    ensure(next.stdout.contains("adopted"), || {
        format!("the next apply adopts what the abandoned operations made\n{next}")
    })?;
    let plan = bench.eksmgr.run(&["plan", "--detailed-exitcode"])?;
    expect_code(&plan, 0, "the plan after that")?;
    Ok(())
}
