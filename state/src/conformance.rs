//! The conformance suite of [`Backend`]: what every backend must do, checked the same way for
//! each. A backend's tests provide a [`Fixture`] (a place to keep a state in, and the few
//! raw writes a crash or a dead run leaves behind) and run every check of [`CHECKS`] on it:
//! `state/tests/backend_conformance.rs` for local files, and
//! `providers/tests/state_backend_moto.rs` for S3 on the emulator.
//!
//! Each check returns `Err` with what went wrong, rather than panicking, so that it can run
//! in any test harness.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::address::ResourceAddress;
use crate::backend::{self, Backend, LockHooks, NoHooks};
use crate::error::StateError;
use crate::journal::{Intent, JournalEntry};
use crate::lock::LockInfo;
use crate::record::{ResourceRecord, State};

/// What a check reports.
pub type Checked = Result<(), Failure>;

/// What went wrong in a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Failure {
    fn from(text: String) -> Self {
        Failure(text)
    }
}

impl From<&str> for Failure {
    fn from(text: &str) -> Self {
        Failure(text.to_owned())
    }
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        Failure(e.to_string())
    }
}

/// A place to keep a state in, for the checks.
#[async_trait]
pub trait Fixture: Sync {
    /// A backend on the place, as a new run would open it: it shares nothing with the
    /// backends opened before but the place.
    async fn open(&self) -> Result<Box<dyn Backend>, String>;

    /// Adds `bytes` to the end of the journal that continues the state of serial
    /// `base_serial`, as a crash mid-write would leave it (a line cut short).
    async fn append_to_journal(&self, base_serial: u64, bytes: &[u8]) -> Checked;

    /// Writes `info` as the lock, as a run that is gone would have left it.
    async fn plant_lock(&self, info: &LockInfo) -> Checked;
}

/// A check of the suite.
pub type Check = for<'a> fn(&'a dyn Fixture) -> Pin<Box<dyn Future<Output = Checked> + Send + 'a>>;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("lock_contention", |f| Box::pin(lock_contention(f))),
    ("waiting_for_the_lock", |f| {
        Box::pin(waiting_for_the_lock(f))
    }),
    ("dropped_guard", |f| Box::pin(dropped_guard(f))),
    ("stale_lock", |f| Box::pin(stale_lock(f))),
    ("lineage_refusal", |f| Box::pin(lineage_refusal(f))),
    ("torn_journal", |f| Box::pin(torn_journal(f))),
    ("replay", |f| Box::pin(replay(f))),
];

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Checked {
    if ok { Ok(()) } else { Err(Failure(what())) }
}

fn fail<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Failure {
    move |e| Failure(format!("{what}: {e}"))
}

fn addr(text: &str) -> Result<ResourceAddress, Failure> {
    text.parse().map_err(fail("address"))
}

/// Counts the times it was told that a run waits for the lock.
#[derive(Default)]
struct Counting {
    waits: AtomicUsize,
}

impl LockHooks for Counting {
    fn waiting(&self, _holder: &StateError, _timeout: Duration) {
        self.waits.fetch_add(1, Ordering::SeqCst);
    }
}

/// One run holds the lock: another is refused at once, told who holds it; the lock is given
/// back when the work under it ends, also when the work fails.
pub async fn lock_contention(f: &dyn Fixture) -> Checked {
    let (a, b) = (f.open().await?, f.open().await?);
    let inside = backend::locked(&*a, "eksmgr apply", Duration::ZERO, &NoHooks, async {
        let holder = b.current_lock().await.map_err(fail("current lock"))?;
        ensure(
            holder.as_ref().is_some_and(|h| h.command == "eksmgr apply"),
            || format!("the holder is reported: {holder:?}"),
        )?;
        match b.try_lock("eksmgr plan").await {
            Ok(_) => Err(Failure::from("a second run took a held lock")),
            Err(StateError::Locked { holder, stale, .. }) => {
                let text = format!("{holder:?}");
                ensure(holder.command == "eksmgr apply" && !stale, || text)
            }
            Err(e) => Err(Failure(format!("a second run gets another error: {e}"))),
        }?;
        let err = match backend::lock(&*b, "eksmgr plan", Duration::ZERO, &NoHooks).await {
            Ok(_) => return Err("a second run took a held lock".into()),
            Err(e) => e.to_string(),
        };
        ensure(
            err.contains("state is locked by `eksmgr apply`") && err.contains("eksmgr unlock"),
            || format!("the message names the holder and the way out: {err}"),
        )?;
        Ok::<_, Failure>(())
    })
    .await;
    inside?;
    ensure(
        b.current_lock()
            .await
            .map_err(fail("current lock"))?
            .is_none(),
        || "the lock is given back after the work".to_owned(),
    )?;
    let failed: Checked = backend::locked(&*a, "eksmgr apply", Duration::ZERO, &NoHooks, async {
        Err(Failure::from("the work failed"))
    })
    .await;
    ensure(failed == Err(Failure::from("the work failed")), || {
        format!("the work's error is returned: {failed:?}")
    })?;
    ensure(
        b.current_lock()
            .await
            .map_err(fail("current lock"))?
            .is_none(),
        || "the lock is given back after failed work".to_owned(),
    )?;
    backend::locked(&*b, "eksmgr plan", Duration::ZERO, &NoHooks, async {
        Ok::<_, Failure>(())
    })
    .await
}

/// A run that waits for the lock says so once, gives up at its timeout, and gets the lock as
/// soon as the holder gives it back.
pub async fn waiting_for_the_lock(f: &dyn Fixture) -> Checked {
    let (a, b) = (f.open().await?, f.open().await?);
    let held = backend::lock(&*a, "eksmgr apply", Duration::ZERO, &NoHooks)
        .await
        .map_err(fail("take the lock"))?;
    let hooks = Counting::default();
    let started = tokio::time::Instant::now();
    let timed_out = backend::lock(&*b, "eksmgr plan", Duration::from_millis(700), &hooks).await;
    ensure(matches!(timed_out, Err(StateError::Locked { .. })), || {
        format!("the wait ends at its timeout: {timed_out:?}")
    })?;
    ensure(started.elapsed() >= Duration::from_millis(700), || {
        format!("it waited {:?}", started.elapsed())
    })?;
    ensure(hooks.waits.load(Ordering::SeqCst) == 1, || {
        "the wait is announced once".to_owned()
    })?;
    let holder = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        held.release().await.map_err(fail("give the lock back"))
    };
    let waiter = backend::locked(
        &*b,
        "eksmgr plan",
        Duration::from_secs(30),
        &NoHooks,
        async { Ok::<_, Failure>(()) },
    );
    let (given, got) = tokio::join!(holder, waiter);
    given?;
    got
}

/// A guard dropped before its work is done (a command cut short) does no I/O: the lock stays
/// until [`backend::release_abandoned`] gives it back.
pub async fn dropped_guard(f: &dyn Fixture) -> Checked {
    let a = f.open().await?;
    let guard = backend::lock(&*a, "eksmgr plan", Duration::ZERO, &NoHooks)
        .await
        .map_err(fail("take the lock"))?;
    let id = guard.info().id.clone();
    drop(guard);
    let holder = a.current_lock().await.map_err(fail("current lock"))?;
    ensure(holder.is_some_and(|h| h.id == id), || {
        "a dropped guard leaves its lock to `release_abandoned`".to_owned()
    })?;
    let errors = backend::release_abandoned().await;
    ensure(errors.is_empty(), || format!("{errors:?}"))?;
    let holder = a.current_lock().await.map_err(fail("current lock"))?;
    ensure(holder.is_none(), || format!("still locked: {holder:?}"))
}

/// A lock left by a run that is gone is reported as stale with its id, and removed by that id
/// only; a lock of another host is never called stale.
pub async fn stale_lock(f: &dyn Fixture) -> Checked {
    let a = f.open().await?;
    let mut dead = LockInfo::for_current_process("eksmgr apply");
    dead.pid = 4_000_000;
    f.plant_lock(&dead).await?;
    match a.try_lock("eksmgr plan").await {
        Err(e @ StateError::Locked { stale: true, .. }) => {
            let text = e.to_string();
            ensure(
                text.contains("stale") && text.contains(&format!("eksmgr unlock {}", dead.id)),
                || format!("the message says how to remove it: {text}"),
            )?;
        }
        other => return Err(Failure(format!("a dead run's lock is stale: {other:?}"))),
    }
    match a.force_unlock("not-the-id").await {
        Err(StateError::LockIdMismatch { .. }) => {}
        other => return Err(Failure(format!("a wrong id is refused: {other:?}"))),
    }
    ensure(
        a.current_lock()
            .await
            .map_err(fail("current lock"))?
            .is_some(),
        || "a wrong id removes nothing".to_owned(),
    )?;
    let removed = a
        .force_unlock(&dead.id)
        .await
        .map_err(fail("force unlock"))?;
    ensure(removed == dead, || format!("{removed:?}"))?;
    match a.force_unlock(&dead.id).await {
        Err(StateError::NotLocked { .. }) => {}
        other => return Err(Failure(format!("nothing left to unlock: {other:?}"))),
    }

    let mut elsewhere = LockInfo::for_current_process("eksmgr apply");
    elsewhere.host = "ci-runner-7".into();
    elsewhere.pid = 4_000_000;
    f.plant_lock(&elsewhere).await?;
    match a.try_lock("eksmgr plan").await {
        Err(StateError::Locked { stale: false, .. }) => {}
        other => {
            return Err(Failure(format!(
                "another host's lock is not stale: {other:?}"
            )));
        }
    }
    a.force_unlock(&elsewhere.id)
        .await
        .map_err(fail("force unlock"))?;
    backend::locked(&*a, "eksmgr plan", Duration::ZERO, &NoHooks, async {
        Ok::<_, Failure>(())
    })
    .await
}

/// A save is refused over a state of another lineage, and over a state newer than the one
/// being saved (another run saved since); `replace` replaces any state.
pub async fn lineage_refusal(f: &dyn Fixture) -> Checked {
    let a = f.open().await?;
    let loaded = a.load().await.map_err(fail("load"))?;
    ensure(!loaded.exists, || "a new place has no state".to_owned())?;
    let mut ours = loaded.state;
    ours.upsert(ResourceRecord::new(addr("iam_role.a[111111111111]")?, "a"));
    a.save(&mut ours).await.map_err(fail("first save"))?;

    let mut other = State::new();
    match a.save(&mut other).await {
        Err(e @ StateError::SaveRefused { .. }) => {
            let text = e.to_string();
            ensure(
                text.contains(&a.describe()) && text.contains("another state"),
                || text.clone(),
            )?;
        }
        r => {
            return Err(Failure(format!(
                "a state of another lineage is not saved: {r:?}"
            )));
        }
    }
    ensure(other.serial == 0, || {
        "a refused save leaves the serial".to_owned()
    })?;

    // Another run saves in between: this run's state is older than the one in place.
    let b = f.open().await?;
    let mut theirs = b.load().await.map_err(fail("load"))?.state;
    ensure(theirs == ours, || "the saved state loads".to_owned())?;
    theirs.upsert(ResourceRecord::new(addr("iam_role.b[111111111111]")?, "b"));
    b.save(&mut theirs).await.map_err(fail("their save"))?;
    let mut stale = ours.clone();
    stale.upsert(ResourceRecord::new(addr("iam_role.c[111111111111]")?, "c"));
    match a.save(&mut stale).await {
        Err(StateError::SaveRefused { .. } | StateError::Conflict { .. }) => {}
        r => {
            return Err(Failure(format!(
                "an older state is not saved over a newer one: {r:?}"
            )));
        }
    }
    let now = f.open().await?.load().await.map_err(fail("load"))?.state;
    ensure(now == theirs, || "the newer state is kept".to_owned())?;

    let c = f.open().await?;
    c.load().await.map_err(fail("load"))?;
    let mut replacement = State::new();
    c.replace(&mut replacement).await.map_err(fail("replace"))?;
    let now = f.open().await?.load().await.map_err(fail("load"))?.state;
    ensure(now.lineage == replacement.lineage, || {
        "`replace` replaces a state of another lineage".to_owned()
    })
}

/// A journal line cut short by a crash is dropped and the lines before it replayed; damage
/// anywhere else is an error, not a silent loss.
pub async fn torn_journal(f: &dyn Fixture) -> Checked {
    let a = f.open().await?;
    let mut state = a.load().await.map_err(fail("load"))?.state;
    let created = addr("iam_role.new[111111111111]")?;
    let mut open = a
        .start_journal(&mut state)
        .await
        .map_err(fail("start journal"))?;
    let base = state.serial;
    let put = JournalEntry::Put {
        record: ResourceRecord::new(created.clone(), "new"),
    };
    open.journal.append(&put).map_err(fail("append"))?;
    state.apply_entry(&put);
    open.sync.changed();
    open.sync.finish().await.map_err(fail("copy the journal"))?;
    drop(open.journal);
    // The crash: no save; the last line was being written.
    f.append_to_journal(base, b"{\"op\":\"put\",\"rec").await?;

    let b = f.open().await?;
    let loaded = b.load().await.map_err(fail("load after the crash"))?;
    ensure(loaded.replayed.entries == 1, || {
        format!("the whole line is replayed: {:?}", loaded.replayed)
    })?;
    ensure(loaded.state.get(&created).is_some(), || {
        "the step before the torn line is kept".to_owned()
    })?;

    // A damaged line followed by another is not a crash's doing.
    f.append_to_journal(base, b"\nnot json\n").await?;
    let line = serde_json::to_string(&put).map_err(fail("serialise"))?;
    f.append_to_journal(base, format!("{line}\n").as_bytes())
        .await?;
    match f.open().await?.load().await {
        Err(StateError::Journal { .. }) => {}
        Err(StateError::Downloaded { source, .. })
            if matches!(*source, StateError::Journal { .. }) => {}
        other => {
            return Err(Failure(format!(
                "damage inside the journal is an error: {other:?}"
            )));
        }
    }
    Ok(())
}

/// Every step journalled before a crash is replayed by the next run (on another machine:
/// another backend), intents included; saving compacts the journal into the state.
pub async fn replay(f: &dyn Fixture) -> Checked {
    let a = f.open().await?;
    let mut state = a.load().await.map_err(fail("load"))?.state;
    let old = addr("iam_role.old[111111111111]")?;
    state.upsert(ResourceRecord::new(old.clone(), "old"));
    a.save(&mut state).await.map_err(fail("save"))?;
    let mut open = a
        .start_journal(&mut state)
        .await
        .map_err(fail("start journal"))?;
    let created = addr("iam_role.new[111111111111]")?;
    let pending = addr("kms_key.k[111111111111/eu-west-1]")?;
    let steps = [
        JournalEntry::Intent(Intent::new(created.clone(), "create")),
        JournalEntry::Put {
            record: ResourceRecord::new(created.clone(), "new"),
        },
        JournalEntry::Intent(Intent::new(old.clone(), "delete")),
        JournalEntry::Remove {
            address: old.clone(),
        },
        JournalEntry::Intent(Intent::new(pending.clone(), "create")),
    ];
    for step in &steps {
        open.journal.append(step).map_err(fail("append"))?;
        state.apply_entry(step);
        open.sync.changed();
    }
    open.sync.finish().await.map_err(fail("copy the journal"))?;
    drop(open.journal);
    drop(a);

    let b = f.open().await?;
    let loaded = b.load().await.map_err(fail("load after the crash"))?;
    ensure(
        loaded.exists && loaded.replayed.entries == steps.len(),
        || format!("every step is replayed: {:?}", loaded.replayed),
    )?;
    ensure(loaded.state == state, || {
        format!(
            "the replayed state is the one the run had:\n{:?}\n{:?}",
            loaded.state, state
        )
    })?;
    let mut compacted = loaded.state;
    b.save(&mut compacted).await.map_err(fail("save"))?;
    let again = f.open().await?.load().await.map_err(fail("load"))?;
    ensure(again.replayed.entries == 0, || {
        "the save compacted the journal".to_owned()
    })?;
    ensure(again.state == compacted, || {
        "the saved state loads".to_owned()
    })?;
    ensure(
        again.state.intents.keys().collect::<Vec<_>>() == vec![&pending],
        || "the open intent is kept".to_owned(),
    )
}
