//! One interface to where the state is kept: [`Backend`], implemented by a local file
//! ([`LocalBackend`](crate::local::LocalBackend)) and by an S3 object (in the providers
//! crate, which holds the AWS SDK).
//!
//! A backend locks, loads (replaying the journal an interrupted apply left), saves (atomically,
//! refusing a state of another lineage or older than the one in place) and journals an apply.
//!
//! The lock is held through a scoped guard: [`locked`] takes it (waiting up to a timeout
//! while another run holds it), runs the work it was taken for, and gives it back, whether the
//! work succeeded or failed; nothing else releases a lock. Dropping a [`StateGuard`] (a
//! command cut short by an interrupt drops the future that holds it) does no I/O at all: the
//! guard's lock is handed over to [`release_abandoned`], which the code that runs commands
//! awaits once the command has ended, so `Drop` never blocks on a file or a network call.
//!
//! Taking and giving back a lock may each be a network call whose request is carried out even
//! if the run stops waiting for its answer; [`LockHooks::shield`] lets the caller keep an
//! interrupt from cutting either in two.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::StateError;
use crate::journal::{Journal, Replayed};
use crate::lock::LockInfo;
use crate::record::State;

/// What loading found.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The state, with the journal of an interrupted apply replayed; a fresh, empty state
    /// where there is none.
    pub state: State,
    /// What the journal held.
    pub replayed: Replayed,
    /// Whether a state exists there (`false`: `state` is a fresh one).
    pub exists: bool,
}

/// Where the state is kept: the one interface the commands use.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Where the state is, for people: a path or `s3://BUCKET/KEY`.
    fn describe(&self) -> String;

    /// Where the journal of an apply is kept, for messages.
    fn journal_location(&self) -> String;

    /// One attempt at taking the lock for `command` (e.g. `eksmgr apply`): fails with
    /// [`StateError::Locked`] (naming the holder, and whether it is stale) when another run
    /// holds it. [`lock`] and [`locked`] wait and retry; use them.
    async fn try_lock(&self, command: &str) -> Result<StateGuard, StateError>;

    /// The current holder of the lock, if any (an unreadable lock gives a holder whose
    /// fields are `unknown`).
    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError>;

    /// Removes the lock if its id is exactly `lock_id`, returning who held it: for a lock
    /// left by a run that is gone.
    async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo, StateError>;

    /// Reads the state and replays its journal.
    async fn load(&self) -> Result<Loaded, StateError>;

    /// Saves `state` atomically (its serial incremented) and removes the journal it holds.
    /// Refused ([`StateError::SaveRefused`]) when the state in place is of another lineage or
    /// has a higher serial than `state`: it is not the state `state` was loaded from.
    async fn save(&self, state: &mut State) -> Result<(), StateError>;

    /// Saves `state` over whatever state is in place, of any lineage or serial (`eksmgr state
    /// migrate --force`); atomic, as [`Backend::save`].
    async fn replace(&self, state: &mut State) -> Result<(), StateError>;

    /// Starts the journal an apply appends its steps to. A journal left by an earlier run is
    /// compacted into the state first (so `state` must be what [`Backend::load`] returned).
    async fn start_journal(&self, state: &mut State) -> Result<OpenJournal, StateError>;
}

/// The journal of an apply under way: the local, synced [`Journal`] each step is appended to,
/// and what copies it to where the state is kept (nothing for a local state).
pub struct OpenJournal {
    /// Each step is appended here, one synced line at a time.
    pub journal: Journal,
    /// Told after steps were appended; finished once the apply is over.
    pub sync: Box<dyn JournalSync>,
}

/// Copies a journal to where the state is kept as it grows.
#[async_trait]
pub trait JournalSync: Send + Sync {
    /// The journal gained whole lines: copy them (now, or once the copy under way is done).
    fn changed(&self);

    /// Copies what is left, stops, and reports the first copy that failed, if any.
    async fn finish(self: Box<Self>) -> Result<(), StateError>;
}

/// The [`JournalSync`] of a journal that is already where the state is kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct InPlace;

#[async_trait]
impl JournalSync for InPlace {
    fn changed(&self) {}

    async fn finish(self: Box<Self>) -> Result<(), StateError> {
        Ok(())
    }
}

/// A lock a backend took, as the backend gives it back.
#[async_trait]
pub trait HeldLock: Send + Sync + std::fmt::Debug {
    /// Removes the lock if it is still the one this run took (one force-unlocked and taken by
    /// another run is left alone).
    async fn release(self: Box<Self>) -> Result<(), StateError>;
}

/// Proof that this run holds the state lock. It is given back by [`locked`] once the work it
/// was taken for is done; dropped without that (the work was cut short), it does no I/O and
/// leaves the lock to [`release_abandoned`].
#[derive(Debug)]
#[must_use = "a lock is given back by `locked`; a dropped guard waits for `release_abandoned`"]
pub struct StateGuard {
    info: LockInfo,
    location: PathBuf,
    held: Option<Box<dyn HeldLock>>,
}

impl StateGuard {
    /// A guard for the lock `held`, described by `info`, at `location` (a lock file's path,
    /// or `s3://BUCKET/KEY.lock`).
    pub fn new(info: LockInfo, location: PathBuf, held: Box<dyn HeldLock>) -> Self {
        StateGuard {
            info,
            location,
            held: Some(held),
        }
    }

    /// What this run wrote to the lock.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Where the lock is.
    pub fn location(&self) -> &std::path::Path {
        &self.location
    }

    /// Gives the lock back.
    pub(crate) async fn release(mut self) -> Result<(), StateError> {
        match self.held.take() {
            Some(held) => held.release().await,
            None => Ok(()),
        }
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            // No I/O here: the lock is given back by whoever awaits `release_abandoned`.
            abandoned()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(held);
        }
    }
}

/// Locks whose guard was dropped before they were given back.
fn abandoned() -> &'static Mutex<Vec<Box<dyn HeldLock>>> {
    static ABANDONED: Mutex<Vec<Box<dyn HeldLock>>> = Mutex::new(Vec::new());
    &ABANDONED
}

/// Gives back every lock whose [`StateGuard`] was dropped before [`locked`] could give it
/// back (a command cut short by an interrupt), returning the errors of those that could not
/// be. The code that runs commands awaits this once a command has ended, however it ended.
pub async fn release_abandoned() -> Vec<StateError> {
    let held = std::mem::take(&mut *abandoned().lock().unwrap_or_else(PoisonError::into_inner));
    let mut errors = Vec::new();
    for lock in held {
        if let Err(e) = lock.release().await {
            errors.push(e);
        }
    }
    errors
}

/// What a caller of [`lock`] and [`locked`] is told, and how it keeps their network calls
/// whole. Every method has a default that does nothing.
pub trait LockHooks: Sync {
    /// Another run holds the lock and this one waits for it, up to `timeout` (called once).
    fn waiting(&self, _holder: &StateError, _timeout: Duration) {}

    /// Called before each attempt to take the lock and before giving it back; what it returns
    /// is held until that call has completed (e.g. a guard that keeps an interrupt from
    /// cutting the call in two).
    fn shield(&self) -> Shield {
        Shield::none()
    }

    /// The work under the lock failed, and giving the lock back failed too (the work's error
    /// is the one returned).
    fn release_failed(&self, _error: &StateError) {}
}

/// The default [`LockHooks`]: nothing is said, nothing is shielded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl LockHooks for NoHooks {}

/// Held while a lock call must not be cut in two; see [`LockHooks::shield`].
#[must_use]
pub struct Shield {
    _held: Option<Box<dyn Send>>,
}

impl Shield {
    /// Shields nothing.
    pub fn none() -> Self {
        Shield { _held: None }
    }

    /// Holds `value` until the call has completed.
    pub fn holding(value: impl Send + 'static) -> Self {
        Shield {
            _held: Some(Box::new(value)),
        }
    }
}

/// The first pause between two attempts to take a lock another run holds.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Takes the lock for `command`, waiting up to `timeout` while another run holds it (as
/// Terraform's `-lock-timeout` does: polling, with a growing pause, and saying once who is
/// waited for). A zero `timeout` makes one attempt.
pub async fn lock<B: Backend + ?Sized>(
    backend: &B,
    command: &str,
    timeout: Duration,
    hooks: &dyn LockHooks,
) -> Result<StateGuard, StateError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    let mut said = false;
    loop {
        let attempt = {
            let _whole = hooks.shield();
            backend.try_lock(command).await
        };
        let err = match attempt {
            Ok(guard) => return Ok(guard),
            Err(e) => e,
        };
        let now = tokio::time::Instant::now();
        if !matches!(err, StateError::Locked { .. }) || now >= deadline {
            return Err(err);
        }
        if !said {
            said = true;
            hooks.waiting(&err, timeout);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Runs `work` under the lock for `command` (taken as [`lock`] takes it) and gives the lock
/// back once `work` is done, whether it succeeded or not. When `work` fails its error is
/// returned (a failure to give the lock back as well goes to [`LockHooks::release_failed`]);
/// when only giving the lock back fails, that error is.
///
/// `work` is not started before the lock is held. If the future this returns is dropped
/// before `work` is done, the lock is left to [`release_abandoned`].
pub async fn locked<B, T, E, F>(
    backend: &B,
    command: &str,
    timeout: Duration,
    hooks: &dyn LockHooks,
    work: F,
) -> Result<T, E>
where
    B: Backend + ?Sized,
    E: From<StateError>,
    F: Future<Output = Result<T, E>>,
{
    let guard = lock(backend, command, timeout, hooks).await?;
    let done = work.await;
    let released = {
        let _whole = hooks.shield();
        guard.release().await
    };
    match (done, released) {
        (Ok(value), Ok(())) => Ok(value),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(release)) => {
            hooks.release_failed(&release);
            Err(e)
        }
    }
}
