//! The S3 [`Backend`]: a state kept in an S3 object (`[state] backend = "s3"`), through the
//! conditional requests of [`S3StateStore`].
//!
//! A state in S3 is worked on through a private local copy (a temporary directory, mode
//! 0700): loading downloads the state and the journal of an interrupted apply, if any, and
//! replays it as for a local file; saving writes the copy, uploads it with a conditional
//! write (`If-Match` the version this run read, `If-None-Match: *` when there was none) and
//! removes the remote journal; during an apply what the local journal gained is uploaded
//! whenever the apply says it changed, as the journal's next part (uploads that would queue up
//! are merged into the next one), so a run that dies on one machine loses nothing for the
//! next run on another, and each journal line is uploaded once. The lock is the object
//! `KEY.lock`, created with `If-None-Match: *`, which S3 refuses atomically to every run but
//! one, and removed with `If-Match` its own version.
//!
//! Nothing here blocks in `Drop`: the lock is given back by [`eksmgr_state::backend::locked`]
//! or [`eksmgr_state::backend::release_abandoned`], and the journal's uploads end with
//! [`JournalSync::finish`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use aws_types::SdkConfig;
use chrono::Utc;
use eksmgr_engine::provider::ProviderError;
use eksmgr_state::local::check_save;
use eksmgr_state::{
    Backend, HeldLock, Journal, JournalEntry, JournalSync, Loaded, LockInfo, OpenJournal, State,
    StateError, StateFile, StateGuard, check_lock_id, write_private_atomically,
};
use tokio::sync::{Notify, OnceCell};

use crate::caller::{CallerOptions, sdk_config};
use crate::state_s3::{Condition, S3Location, S3StateStore, StateObject, Written};

/// The name of the state file in the working copy.
const STATE_FILE_NAME: &str = "eksmgr.state.json";
/// The file a state S3 did not take is kept in, in the rescue directory.
const RESCUE_FILE_NAME: &str = "eksmgr-errored.state.json";

/// How the S3 client is made.
#[derive(Debug)]
enum Connect {
    /// With the caller's configuration (`--profile`, the bucket's region), through the role
    /// `[state] role_arn`, if any: on first use.
    Caller {
        caller: CallerOptions,
        role_arn: Option<String>,
    },
    /// Made already.
    Ready,
}

/// A state kept in S3, with its private working copy.
#[derive(Debug)]
pub struct S3Backend {
    location: S3Location,
    connect: Connect,
    /// Built on first use (the caller's AWS configuration is loaded asynchronously).
    objects: OnceCell<S3StateStore>,
    /// The working copy's directory (removed when the backend is dropped).
    _work: tempfile::TempDir,
    /// The working copy.
    file: StateFile,
    /// The version (ETag) of the state object this run read or wrote last, and its lineage
    /// and serial: `Some(None)` when it found none, `None` before it looked.
    seen: Mutex<Option<Option<Seen>>>,
    /// Where the state is written when S3 refuses it.
    rescue_dir: PathBuf,
    /// The journal in S3 that the next save removes, if any.
    journal: Mutex<Option<RemoteJournal>>,
}

/// A version of the state object.
#[derive(Debug, Clone)]
struct Seen {
    etag: String,
    /// `None` when the object cannot be parsed (loading it says what is wrong).
    head: Option<Head>,
}

/// A journal in S3: the serial of the state it continues, and how many parts it has (the
/// mirror of an apply under way adds to them).
#[derive(Debug, Clone)]
struct RemoteJournal {
    base_serial: u64,
    parts: Arc<AtomicU32>,
}

impl S3Backend {
    /// The state at `location`, reached with the caller's credentials (`--profile`; the
    /// bucket's region), or through `role_arn` (`[state] role_arn`) assumed with them. A
    /// state S3 refuses to take is kept in `rescue_dir` (next to the configuration).
    pub fn new(
        location: S3Location,
        caller: &CallerOptions,
        role_arn: Option<String>,
        rescue_dir: PathBuf,
    ) -> Result<Self, StateError> {
        let caller = CallerOptions::new(caller.profile.clone(), Some(location.region.clone()));
        S3Backend::build(
            location,
            Connect::Caller { caller, role_arn },
            OnceCell::new(),
            rescue_dir,
        )
    }

    /// The state at `location`, reached with the configuration `base` (tests: an emulator).
    pub fn with_config(
        base: &SdkConfig,
        location: S3Location,
        rescue_dir: PathBuf,
    ) -> Result<Self, StateError> {
        let store = S3StateStore::new(base, location.clone());
        S3Backend::build(
            location,
            Connect::Ready,
            OnceCell::new_with(Some(store)),
            rescue_dir,
        )
    }

    fn build(
        location: S3Location,
        connect: Connect,
        objects: OnceCell<S3StateStore>,
        rescue_dir: PathBuf,
    ) -> Result<Self, StateError> {
        let work = tempfile::Builder::new()
            .prefix("eksmgr-state-")
            .tempdir()
            .map_err(|source| StateError::Io {
                path: std::env::temp_dir(),
                op: "create the private working copy of the S3 state in",
                source,
            })?;
        let file = StateFile::new(work.path().join(STATE_FILE_NAME));
        Ok(S3Backend {
            location,
            connect,
            objects,
            _work: work,
            file,
            seen: Mutex::new(None),
            rescue_dir,
            journal: Mutex::new(None),
        })
    }

    /// Where the state lives.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    async fn objects(&self) -> Result<&S3StateStore, StateError> {
        self.objects
            .get_or_try_init(|| async {
                let Connect::Caller { caller, role_arn } = &self.connect else {
                    return Err(StateError::Remote {
                        path: self.url_path(""),
                        source: "the S3 client is missing (an internal error)".into(),
                    });
                };
                let base = sdk_config(caller, &self.location.region)
                    .await
                    .map_err(|e| self.remote(e))?;
                S3StateStore::connect(&base, self.location.clone(), role_arn.as_deref())
                    .await
                    .map_err(|e| self.remote(e))
            })
            .await
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Option<Option<Seen>>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn journal_state(&self) -> std::sync::MutexGuard<'_, Option<RemoteJournal>> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `s3://BUCKET/KEY` with `suffix`, as the path errors name.
    fn url_path(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.location.url()))
    }

    fn remote(&self, e: ProviderError) -> StateError {
        StateError::Remote {
            path: self.url_path(""),
            source: Box::new(e),
        }
    }

    /// Whether a state exists there (after [`Backend::load`]).
    fn exists(&self) -> bool {
        matches!(*self.seen(), Some(Some(_)))
    }

    async fn write(&self, state: &mut State, replace: bool) -> Result<(), StateError> {
        let objects = self.objects().await?;
        let Some(seen) = self.seen().clone() else {
            return Err(StateError::SaveRefused {
                path: self.url_path(""),
                reason: "the state was saved before it was loaded (an internal error)".into(),
            });
        };
        if !replace && let Some(Some(head)) = seen.as_ref().map(|s| &s.head) {
            check_save(&self.url_path(""), &head.lineage, head.serial, state)?;
        }
        self.file.save(state)?;
        let body = std::fs::read(self.file.path()).map_err(|source| StateError::Io {
            path: self.file.path().to_path_buf(),
            op: "read the working copy",
            source,
        })?;
        let condition = match &seen {
            Some(s) => Condition::Matches(s.etag.clone()),
            None => Condition::Absent,
        };
        match objects
            .put(StateObject::State, body.clone(), &condition)
            .await
        {
            Ok(Written::Done(etag)) => {
                *self.seen() = Some(Some(Seen {
                    etag,
                    head: Some(Head {
                        lineage: state.lineage.clone(),
                        serial: state.serial,
                    }),
                }));
            }
            Ok(Written::ConditionFailed) => {
                return Err(StateError::Conflict {
                    path: self.url_path(""),
                    rescue: self.rescue(&body),
                });
            }
            Err(e) => {
                let rescued = self.rescue(&body);
                return Err(StateError::Remote {
                    path: self.url_path(""),
                    source: format!(
                        "cannot save the state to {}. {rescued}: {e}",
                        self.location.url()
                    )
                    .into(),
                });
            }
        }
        let journal = self.journal_state().take();
        if let Some(j) = journal {
            objects
                .delete_journal(j.base_serial, j.parts.load(Ordering::SeqCst))
                .await
                .map_err(|e| self.remote(e))?;
        }
        Ok(())
    }

    /// Keeps the state S3 did not take in a local file, and says where and what to do.
    fn rescue(&self, body: &[u8]) -> String {
        let path = self.rescue_dir.join(RESCUE_FILE_NAME);
        match write_private_atomically(&path, body) {
            Ok(()) => format!(
                "This run's state is in {}: check it, then upload it with `eksmgr state migrate --from {}`",
                path.display(),
                path.display()
            ),
            Err(e) => format!("This run's state could not be kept either: {e}"),
        }
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn describe(&self) -> String {
        self.location.url()
    }

    fn journal_location(&self) -> String {
        format!("{}.journal.*", self.location.url())
    }

    async fn try_lock(&self, command: &str) -> Result<StateGuard, StateError> {
        let objects = self.objects().await?;
        let info = LockInfo::for_current_process(command);
        let path = self.url_path(".lock");
        let body = serde_json::to_vec_pretty(&info).map_err(|e| StateError::Remote {
            path: path.clone(),
            source: Box::new(e),
        })?;
        let mut holder = None;
        // The holder may release the lock between our write and our read of it: try again.
        for _ in 0..3 {
            match objects
                .put(StateObject::Lock, body.clone(), &Condition::Absent)
                .await
                .map_err(|e| self.remote(e))?
            {
                Written::Done(etag) => {
                    let held = RemoteLock {
                        objects: objects.clone(),
                        etag,
                    };
                    return Ok(StateGuard::new(info, path, Box::new(held)));
                }
                Written::ConditionFailed => {}
            }
            match objects
                .get(StateObject::Lock)
                .await
                .map_err(|e| self.remote(e))?
            {
                None => continue,
                Some(found) => {
                    holder = Some(
                        serde_json::from_slice::<LockInfo>(&found.body)
                            .unwrap_or_else(|_| LockInfo::unknown(Utc::now())),
                    );
                    break;
                }
            }
        }
        let holder = holder.unwrap_or_else(|| LockInfo::unknown(Utc::now()));
        let stale = holder.is_stale();
        Err(StateError::Locked {
            path,
            holder: Box::new(holder),
            stale,
        })
    }

    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        let objects = self.objects().await?;
        let found = objects
            .get(StateObject::Lock)
            .await
            .map_err(|e| self.remote(e))?;
        Ok(found.map(|f| {
            serde_json::from_slice::<LockInfo>(&f.body)
                .unwrap_or_else(|_| LockInfo::unknown(Utc::now()))
        }))
    }

    async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo, StateError> {
        let objects = self.objects().await?;
        let path = self.url_path(".lock");
        let Some(found) = objects
            .get(StateObject::Lock)
            .await
            .map_err(|e| self.remote(e))?
        else {
            return Err(StateError::NotLocked { path });
        };
        let holder = serde_json::from_slice::<LockInfo>(&found.body).ok();
        let holder = check_lock_id(&path, "lock object", holder, lock_id)?;
        match objects
            .delete(StateObject::Lock, Some(&found.etag))
            .await
            .map_err(|e| self.remote(e))?
        {
            Written::Done(_) => Ok(holder),
            Written::ConditionFailed => Err(StateError::Remote {
                source: format!(
                    "the lock {} changed while it was being removed (another run took it): nothing was removed; run `eksmgr unlock` again with the id it reports",
                    path.display()
                )
                .into(),
                path,
            }),
        }
    }

    async fn load(&self) -> Result<Loaded, StateError> {
        let objects = self.objects().await?;
        let state = objects
            .get(StateObject::State)
            .await
            .map_err(|e| self.remote(e))?;
        let path = self.file.path();
        let journal_path = self.file.journal_path();
        let mut journal = None;
        let mut seen = None;
        match &state {
            Some(s) => {
                write_private_atomically(path, &s.body)?;
                // An unreadable state has no serial: loading it below says what is wrong.
                let head = serde_json::from_slice::<Head>(&s.body).ok();
                if let Some(head) = &head {
                    let serial = head.serial;
                    let parts = objects
                        .get_journal(serial)
                        .await
                        .map_err(|e| self.remote(e))?;
                    if let Some(first) = parts.first() {
                        // Parts of another lineage's journal with this serial (a state
                        // replaced by `state migrate --force` after a crash kept them) are
                        // not this state's: they are removed at the next save, not replayed.
                        if head.continued_by(first) {
                            write_private_atomically(&journal_path, &parts.concat())?;
                        }
                        journal = Some(RemoteJournal {
                            base_serial: serial,
                            parts: Arc::new(AtomicU32::new(
                                u32::try_from(parts.len()).unwrap_or(u32::MAX),
                            )),
                        });
                    }
                }
                seen = Some(Seen {
                    etag: s.etag.clone(),
                    head,
                });
            }
            None => remove_if_present(path)?,
        }
        if journal.is_none() {
            remove_if_present(&journal_path)?;
        }
        *self.journal_state() = journal;
        let exists = seen.is_some();
        *self.seen() = Some(seen);
        let (state, replayed) = self
            .file
            .load_replayed()
            .map_err(|e| StateError::Downloaded {
                path: self.url_path(""),
                source: Box::new(e),
            })?;
        Ok(Loaded {
            state,
            replayed,
            exists,
        })
    }

    async fn save(&self, state: &mut State) -> Result<(), StateError> {
        self.write(state, false).await
    }

    async fn replace(&self, state: &mut State) -> Result<(), StateError> {
        self.write(state, true).await
    }

    async fn start_journal(&self, state: &mut State) -> Result<OpenJournal, StateError> {
        if self.file.journal_path().exists() || !self.exists() {
            self.write(state, false).await?;
        }
        let journal = Journal::start(&self.file.journal_path(), state)?;
        let remote = RemoteJournal {
            base_serial: state.serial,
            parts: Arc::new(AtomicU32::new(0)),
        };
        *self.journal_state() = Some(remote.clone());
        let objects = self.objects().await?.clone();
        let mirror = Mirror::start(objects, self.file.journal_path(), remote);
        Ok(OpenJournal {
            journal,
            sync: Box::new(mirror),
        })
    }
}

/// The lineage and serial of a state file, read without building its records.
#[derive(Debug, Clone, serde::Deserialize)]
struct Head {
    lineage: String,
    serial: u64,
}

impl Head {
    /// Whether the journal whose first part is `first` continues this state (its first line,
    /// the `begin` header, names the state's lineage).
    fn continued_by(&self, first: &[u8]) -> bool {
        let line = first.split(|b| *b == b'\n').next().unwrap_or_default();
        matches!(
            serde_json::from_slice::<JournalEntry>(line),
            Ok(JournalEntry::Begin { lineage, .. }) if lineage == self.lineage
        )
    }
}

fn remove_if_present(path: &Path) -> Result<(), StateError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            op: "remove",
            source,
        }),
    }
}

/// The lock object this run created.
#[derive(Debug)]
struct RemoteLock {
    objects: S3StateStore,
    etag: String,
}

#[async_trait]
impl HeldLock for RemoteLock {
    /// Removes the lock if it is still the one this run created (one force-unlocked and
    /// taken by another run is left alone).
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        match self
            .objects
            .delete(StateObject::Lock, Some(&self.etag))
            .await
        {
            Ok(Written::Done(_) | Written::ConditionFailed) => Ok(()),
            Err(e) => Err(StateError::Remote {
                path: PathBuf::from(self.objects.url(StateObject::Lock)),
                source: Box::new(e),
            }),
        }
    }
}

/// Uploads the local journal of an apply to S3 whenever it changed, one upload at a time.
struct Mirror {
    changed: Arc<Notify>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Option<String>>,
    /// `s3://BUCKET/KEY.journal.*`, for errors.
    url: PathBuf,
}

impl Mirror {
    fn start(objects: S3StateStore, journal: PathBuf, remote: RemoteJournal) -> Self {
        let changed = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let url = PathBuf::from(format!("{}.journal.*", objects.location().url()));
        let task = tokio::spawn({
            let (changed, stop) = (changed.clone(), stop.clone());
            async move {
                let mut first_error = None;
                // How much of the journal is uploaded: whole lines only.
                let mut sent = 0;
                loop {
                    changed.notified().await;
                    let stopping = stop.load(Ordering::SeqCst);
                    match upload_part(&objects, &journal, &remote, sent).await {
                        Ok(now) => sent = now,
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                    if stopping {
                        return first_error;
                    }
                }
            }
        });
        Mirror {
            changed,
            stop,
            task,
            url,
        }
    }
}

#[async_trait]
impl JournalSync for Mirror {
    fn changed(&self) {
        self.changed.notify_one();
    }

    async fn finish(self: Box<Self>) -> Result<(), StateError> {
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_one();
        let failed = self.task.await.unwrap_or_else(|e| Some(e.to_string()));
        match failed {
            None => Ok(()),
            Some(message) => Err(StateError::Remote {
                path: self.url,
                source: message.into(),
            }),
        }
    }
}

/// Uploads the whole lines the journal gained past its first `sent` bytes as its next part;
/// returns how much of it is uploaded now.
async fn upload_part(
    objects: &S3StateStore,
    journal: &Path,
    remote: &RemoteJournal,
    sent: usize,
) -> Result<usize, String> {
    let body =
        std::fs::read(journal).map_err(|e| format!("cannot read {}: {e}", journal.display()))?;
    let Some(end) = body
        .get(sent..)
        .and_then(|new| new.iter().rposition(|b| *b == b'\n'))
        .map(|last| sent + last + 1)
    else {
        return Ok(sent);
    };
    let part = StateObject::Journal {
        base_serial: remote.base_serial,
        part: remote.parts.load(Ordering::SeqCst),
    };
    let Some(new) = body.get(sent..end) else {
        return Ok(sent);
    };
    match objects
        .put(part, new.to_vec(), &Condition::Absent)
        .await
        .map_err(|e| e.to_string())?
    {
        Written::Done(_) => {
            remote.parts.fetch_add(1, Ordering::SeqCst);
            Ok(end)
        }
        Written::ConditionFailed => Err(format!(
            "{} exists already: another run wrote this journal",
            objects.url(part)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_continues_a_state_of_its_own_lineage_only() {
        let head = Head {
            lineage: "7f4c".into(),
            serial: 3,
        };
        let first =
            b"{\"op\":\"begin\",\"lineage\":\"7f4c\",\"base_serial\":3}\n{\"op\":\"intent\"}\n";
        assert!(head.continued_by(first));
        let other = b"{\"op\":\"begin\",\"lineage\":\"0000\",\"base_serial\":3}\n";
        assert!(!head.continued_by(other));
        assert!(!head.continued_by(b"not json\n"));
    }
}
