//! A disk that fills up during an apply, end to end: eksmgr runs under a file-size limit
//! (`ulimit -f`, with SIGXFSZ ignored, so a write past the limit fails as on a full disk
//! instead of killing the process), small enough that the state journal outgrows it after a
//! few steps and the final save of the state cannot be written either. The run must say so at
//! once, start nothing new, list what AWS did that the state file may lack, say how to
//! recover, and give the lock back; once there is room again, the next apply converges with
//! nothing created twice.

use eksmgr_e2e::check::ensure;
use eksmgr_e2e::estate::{Estate, registry_config};

use eksmgr_e2e::R;

/// The file-size limit, in 512-byte blocks (POSIX `ulimit -f`): the lock file and the first
/// journal lines fit, the journal of the whole apply and the final state do not.
const BLOCKS: u32 = 4;

#[test]
fn a_full_disk_stops_the_apply_says_what_the_state_may_lack_and_the_next_run_recovers() -> R {
    let estate = Estate::start("eksmgr-e2e-disk-full-", 1)?;
    estate.eksmgr.write_config(&registry_config(
        &estate.seed,
        &["platform/web", "platform/jobs", "platform/tools"],
    ))?;
    let small = estate.eksmgr.wrapped(
        "eksmgr-small-disk.sh",
        &format!("trap '' XFSZ\nulimit -f {BLOCKS}"),
    )?;

    let out = small.run(&["apply", "--auto-approve"])?;
    ensure(out.code == Some(1), || format!("the apply fails\n{out}"))?;
    ensure(
        out.stderr
            .contains("steps can no longer be recorded in state")
            && out.stderr.contains("Starting no new operations"),
        || format!("the failed journal write is reported when it happens\n{out}"),
    )?;
    ensure(
        out.stderr
            .contains("the state could not be saved after the apply")
            && out.stderr.contains("eksmgr.state.json.journal"),
        || format!("the failed final save names the journal\n{out}"),
    )?;
    ensure(
        out.stderr.contains("so the state may lack them:\n  - "),
        || format!("what AWS did that the state may lack is listed\n{out}"),
    )?;
    ensure(
        out.stderr.contains("To recover: free space") && out.stderr.contains("`eksmgr plan`"),
        || format!("the way to recover is given\n{out}"),
    )?;
    ensure(
        out.stdout.contains("not started: saving state failed")
            || out.stderr.contains("not started: saving state failed"),
        || format!("nothing new started after the failure\n{out}"),
    )?;
    ensure(
        !estate.dir.path().join("eksmgr.state.json.lock").exists(),
        || format!("the lock is released\n{out}"),
    )?;

    // Room again: the journal is replayed, what AWS holds adopted, the rest created.
    let next = estate.expect(&["apply", "--auto-approve"], 0)?;
    ensure(next.stdout.contains("adopted"), || {
        format!("the next apply adopts what the state lacked\n{next}")
    })?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    Ok(())
}
