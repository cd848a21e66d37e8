//! The state lock's options, end to end, as Terraform offers them: while an apply holds the
//! lock (its AWS calls held by the test proxy), `plan --lock=false` plans without touching
//! the lock or writing anything beside the state (so it works in a read-only checkout),
//! `plan -lock-timeout=1s` (Terraform's spelling) waits and then fails naming the holder, and
//! `plan --lock-timeout=2m` waits until the apply is done and then plans. The lock names the
//! apply's user as the OS user database does, also when `$USER` is not set.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use eksmgr_e2e::Eksmgr;
use eksmgr_e2e::check::{ensure, err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::proxy::Proxy;

use eksmgr_e2e::R;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Every file of `dir` with its length and modification time.
fn listing(dir: &std::path::Path) -> R<BTreeMap<String, (u64, std::time::SystemTime)>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(err("read the work directory"))? {
        let entry = entry.map_err(err("read the work directory"))?;
        let meta = entry.metadata().map_err(err("stat"))?;
        out.insert(
            entry.file_name().to_string_lossy().into_owned(),
            (meta.len(), meta.modified().map_err(err("mtime"))?),
        );
    }
    Ok(out)
}

#[test]
fn plan_without_the_lock_and_plans_that_wait_for_it() -> R {
    let estate = Estate::start("eksmgr-e2e-lock-options-", 1)?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    estate
        .eksmgr
        .write_config(&eksmgr_e2e::estate::registry_config(
            &estate.seed,
            &["platform/web"],
        ))?;
    // An apply that holds the lock: its AWS calls wait at the proxy.
    let proxy = Proxy::start(estate.moto.endpoint())?;
    // Run as from cron or a CI runner: no $USER.
    let slow = Eksmgr::new(estate.dir.path(), proxy.endpoint())?
        .timeout(TIMEOUT)
        .env("USER", "")
        .env("LOGNAME", "");
    proxy.freeze();
    let mut apply = slow.spawn(&["apply", "--auto-approve"])?;
    apply.wait_until("AWS (a call held by the proxy)", TIMEOUT, || {
        proxy.held() > 0
    })?;
    let lock = estate.dir.path().join("eksmgr.state.json.lock");
    let held = std::fs::read_to_string(&lock).map_err(err("read the apply's lock"))?;
    let holder: serde_json::Value = serde_json::from_str(&held).map_err(err("parse the lock"))?;
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .map_err(err("id -un"))?;
    let me = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    ensure(holder["user"] == me.as_str(), || {
        format!("the lock names the user {me:?} from the OS user database: {held}")
    })?;

    // Without the lock: a full plan, and nothing in the directory created or changed.
    let before = listing(estate.dir.path())?;
    let unlocked = estate.expect(&["plan", "--lock=false", "--detailed-exitcode"], 2)?;
    ensure(unlocked.stdout.contains("platform/web"), || {
        format!("the plan is made without the lock\n{unlocked}")
    })?;
    ensure(listing(estate.dir.path())? == before, || {
        "plan --lock=false wrote in the work directory".into()
    })?;
    ensure(
        std::fs::read_to_string(&lock).map_err(err("read the lock"))? == held,
        || "the apply's lock is untouched".into(),
    )?;

    // Terraform's spelling, a short wait: fails naming the holder.
    let started = Instant::now();
    let refused = estate.expect(&["plan", "-lock-timeout=1s"], 1)?;
    ensure(started.elapsed() >= Duration::from_secs(1), || {
        format!("the plan gave up before its timeout\n{refused}")
    })?;
    ensure(
        refused
            .stderr
            .contains("Waiting up to 1s for the state lock")
            && refused.stderr.contains("eksmgr apply"),
        || format!("the wait and the holder are named\n{refused}"),
    )?;

    // A long wait: the plan goes on once the apply is done.
    let mut waiting = estate.eksmgr.spawn(&["plan", "--lock-timeout=2m"])?;
    ensure(
        waiting.wait_for_stderr("Waiting up to 120s for the state lock", TIMEOUT)?,
        || "the plan never said it waits for the lock".into(),
    )?;
    proxy.thaw();
    let applied = apply.wait(TIMEOUT)?;
    ensure(applied.code == Some(0), || format!("the apply\n{applied}"))?;
    let planned = waiting.wait(TIMEOUT)?;
    ensure(planned.code == Some(0), || {
        format!("the waiting plan runs once the lock is free\n{planned}")
    })?;
    ensure(planned.stdout.contains("No changes"), || {
        format!("it plans the applied estate\n{planned}")
    })?;
    Ok(())
}
