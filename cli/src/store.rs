//! Where the state is kept, behind the one interface the commands use (lock, load, save,
//! journal, unlock): a local file (`eksmgr_state::StateFile` and its lock file), or an S3
//! object (`[state] backend = "s3"`).
//!
//! A state in S3 is worked on through a private local copy (a temporary directory, mode
//! 0700): loading downloads the state and the journal of an interrupted apply, if any, and
//! replays it as for a local file; saving writes the copy, uploads it with a conditional
//! write (`If-Match` the version this run read, `If-None-Match: *` when there was none) and
//! removes the remote journal; during an apply what the local journal gained is uploaded
//! after every completed operation, as the journal's next part (uploads that would queue up
//! are merged into the next one), so a run that dies on one machine loses nothing for the
//! next run on another, and each journal line is uploaded once. The lock is the object
//! `KEY.lock`, created with `If-None-Match: *`, which S3 refuses atomically to every run but
//! one, and removed with `If-Match` its own version.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use eksmgr_engine::config::{Arn, Config, StateBackend};
use eksmgr_providers::CallerOptions;
use eksmgr_providers::caller::sdk_config;
use eksmgr_providers::state_s3::{Condition, S3Location, S3StateStore, StateObject, Written};
use eksmgr_state::{
    Journal, JournalEntry, LockGuard, LockInfo, State, StateError, StateFile, StateLock,
    check_lock_id, force_unlock, write_private_atomically,
};
use tokio::sync::{Notify, OnceCell};

/// The name of the state file, locally and in the S3 working copy.
const STATE_FILE_NAME: &str = "eksmgr.state.json";

/// Where the state is kept.
pub enum Store {
    /// A local file.
    Local(StateFile),
    /// An S3 object.
    S3(Box<Remote>),
}

/// A state kept in S3, with its private working copy.
pub struct Remote {
    location: S3Location,
    /// The caller's `--profile`, with the bucket's region (the `[state]` table's, not
    /// `--region`, which names the region of the estate's calls).
    caller: CallerOptions,
    /// The role every call is made through (`[state] role_arn`), if any.
    role_arn: Option<String>,
    /// Built on first use (the caller's AWS configuration is loaded asynchronously).
    objects: OnceCell<S3StateStore>,
    /// The working copy's directory (removed when the store is dropped).
    _work: tempfile::TempDir,
    /// The working copy.
    file: StateFile,
    /// The version (ETag) of the state object this run read or wrote last: `Some(None)` when
    /// it found none, `None` before it looked.
    etag: Mutex<Option<Option<String>>>,
    /// Where the state is written when S3 refuses it (next to the configuration).
    rescue_dir: PathBuf,
    /// The journal in S3 that the next save removes, if any.
    journal: Mutex<Option<RemoteJournal>>,
}

/// A journal in S3: the serial of the state it continues, and how many parts it has (the
/// mirror of an apply under way adds to them).
#[derive(Debug, Clone)]
struct RemoteJournal {
    base_serial: u64,
    parts: Arc<AtomicU32>,
}

impl Store {
    /// The store the configuration names; `state_flag` (`--state`) selects a local file.
    pub fn open(
        config: &Config,
        config_path: &Path,
        state_flag: Option<&Path>,
        caller: CallerOptions,
    ) -> Result<Self> {
        let dir = dir_of(config_path);
        match (config.state.backend, state_flag) {
            (StateBackend::Local, Some(path)) => Ok(Store::Local(StateFile::new(path))),
            (StateBackend::Local, None) => Ok(Store::Local(StateFile::new(
                dir.join(config.state.path.as_deref().unwrap_or(STATE_FILE_NAME)),
            ))),
            (StateBackend::S3, Some(path)) => bail!(
                "--state {} names a local state file, but {} keeps the state in S3 ({}): drop --state, or copy the state with `eksmgr state migrate`",
                path.display(),
                config_path.display(),
                s3_location(config, config.state.s3_key(), None).url()
            ),
            (StateBackend::S3, None) => {
                let location = s3_location(config, config.state.s3_key(), None);
                Ok(Store::S3(Box::new(Remote::new(
                    location,
                    configured_role(config),
                    dir,
                    caller,
                )?)))
            }
        }
    }

    /// The local state file next to the configuration (`eksmgr.state.json`).
    pub fn open_local_default(config_path: &Path) -> Self {
        Store::Local(StateFile::new(dir_of(config_path).join(STATE_FILE_NAME)))
    }

    /// A store for `source` as `eksmgr state migrate --from` names it: `s3://BUCKET/KEY` (in
    /// its region and through its role, default the configuration's) or a local path.
    pub fn from_source(
        config: &Config,
        config_path: &Path,
        source: &Source<'_>,
        caller: CallerOptions,
    ) -> Result<Self> {
        let text = source.text;
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(Store::Local(StateFile::new(text)));
        };
        let (bucket, key) = rest
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| anyhow!("--from {text}: expected s3://BUCKET/KEY"))?;
        let mut location = s3_location(config, key, source.region);
        location.bucket = bucket.to_string();
        let role_arn = match source.role_arn {
            Some(arn) => Some(
                arn.parse::<Arn>()
                    .map_err(|e| anyhow!("--from-role-arn {arn}: {e}"))?
                    .as_str()
                    .to_string(),
            ),
            None => configured_role(config),
        };
        Ok(Store::S3(Box::new(Remote::new(
            location,
            role_arn,
            dir_of(config_path),
            caller,
        )?)))
    }

    /// Where the state is, for people: a path or `s3://BUCKET/KEY`.
    pub fn describe(&self) -> String {
        match self {
            Store::Local(f) => f.path().display().to_string(),
            Store::S3(r) => r.location.url(),
        }
    }

    /// Whether two stores are the same place.
    pub fn same_place(&self, other: &Store) -> bool {
        match (self, other) {
            (Store::Local(a), Store::Local(b)) => canonical(a.path()) == canonical(b.path()),
            (Store::S3(a), Store::S3(b)) => {
                a.location.bucket == b.location.bucket && a.location.key == b.location.key
            }
            _ => false,
        }
    }

    /// Takes the state lock for `command` (e.g. `eksmgr apply`).
    pub async fn lock(&self, command: &str) -> Result<Lock> {
        match self {
            Store::Local(f) => Ok(Lock::Local(StateLock::acquire(f, command)?)),
            Store::S3(r) => {
                // Not cut by an interrupt: the object may be written though the answer is
                // not yet in, and only a finished call leaves a lock this run gives back.
                let _whole = crate::interrupt::Critical::enter();
                r.lock(command).await
            }
        }
    }

    /// Takes the lock for `command`, waiting up to `timeout` while another run holds it (as
    /// Terraform's `-lock-timeout` does: polling, with a growing pause, and saying once who
    /// is waited for).
    pub async fn lock_within(&self, command: &str, timeout: std::time::Duration) -> Result<Lock> {
        let deadline = std::time::Instant::now() + timeout;
        let mut pause = std::time::Duration::from_millis(250);
        let mut said = false;
        loop {
            let err = match self.lock(command).await {
                Ok(lock) => return Ok(lock),
                Err(e) => e,
            };
            let now = std::time::Instant::now();
            let held = matches!(
                err.downcast_ref::<StateError>(),
                Some(StateError::Locked { .. })
            );
            if !held || now >= deadline {
                return Err(err);
            }
            if !said {
                said = true;
                crate::progress::output().info(format_args!(
                    "Waiting up to {}s for the state lock: {err}",
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(5));
        }
    }

    /// Removes the lock whose id is `lock_id`, returning who held it.
    pub async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo> {
        match self {
            Store::Local(f) => Ok(force_unlock(f, lock_id)?),
            Store::S3(r) => r.force_unlock(lock_id).await,
        }
    }

    /// The state, with the journal of an interrupted apply replayed; a fresh, empty state
    /// where there is none.
    pub async fn load(&self) -> Result<State> {
        match self {
            Store::Local(f) => Ok(f.load()?),
            Store::S3(r) => r.load().await,
        }
    }

    /// Whether a state exists there (after [`Store::load`] for S3).
    pub fn exists(&self) -> bool {
        match self {
            Store::Local(f) => f.path().exists(),
            Store::S3(r) => matches!(*r.etag_lock(), Some(Some(_))),
        }
    }

    /// Saves `state` (its serial incremented) and removes the journal it holds.
    pub async fn save(&self, state: &mut State) -> Result<()> {
        match self {
            Store::Local(f) => Ok(f.save(state)?),
            Store::S3(r) => r.save(state).await,
        }
    }

    /// Where the journal of an apply is kept, for messages.
    pub fn journal_location(&self) -> String {
        match self {
            Store::Local(f) => f.journal_path().display().to_string(),
            Store::S3(r) => format!("{}.journal.*", r.location.url()),
        }
    }

    /// Starts the journal an apply appends its steps to (see
    /// [`StateFile::start_journal`]), with, for S3, the task that uploads it as it grows.
    pub async fn start_journal(&self, state: &mut State) -> Result<(Journal, Option<Mirror>)> {
        match self {
            Store::Local(f) => Ok((f.start_journal(state)?, None)),
            Store::S3(r) => {
                if r.file.journal_path().exists() || !self.exists() {
                    r.save(state).await?;
                }
                let journal = Journal::start(&r.file.journal_path(), state)?;
                let remote = RemoteJournal {
                    base_serial: state.serial,
                    parts: Arc::new(AtomicU32::new(0)),
                };
                *r.journal_lock() = Some(remote.clone());
                let mirror =
                    Mirror::start(r.objects().await?.clone(), r.file.journal_path(), remote);
                Ok((journal, Some(mirror)))
            }
        }
    }
}

/// Another place's state, as `eksmgr state migrate` names it.
pub struct Source<'a> {
    /// `--from`: a local path or `s3://BUCKET/KEY`.
    pub text: &'a str,
    /// `--from-region`: the bucket's region.
    pub region: Option<&'a str>,
    /// `--from-role-arn`: the role to reach the bucket through.
    pub role_arn: Option<&'a str>,
}

/// The role `[state] role_arn` names, if any.
fn configured_role(config: &Config) -> Option<String> {
    config
        .state
        .role_arn
        .as_ref()
        .map(|a| a.as_str().to_string())
}

/// `path` with its directory resolved (links, `..`, relative to absolute), for comparing two
/// paths of which one may not exist yet: the file itself need not exist.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    match (std::fs::canonicalize(dir_of(path)), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// The directory of a file such as the configuration (`.` for a bare file name).
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The S3 location of `[state]` with `key` (and `region` if given).
fn s3_location(config: &Config, key: &str, region: Option<&str>) -> S3Location {
    let st = &config.state;
    let bucket = st.bucket.clone().unwrap_or_default();
    let region = region
        .or(st.region.as_deref())
        .unwrap_or(&config.organization.home_region)
        .to_string();
    S3Location {
        bucket,
        key: key.to_string(),
        region,
        path_style: st.use_path_style || endpoint_overridden(),
    }
}

/// Whether the standard endpoint variables send S3 calls somewhere else than AWS (an
/// S3-compatible store or an emulator), which then takes path-style addressing.
fn endpoint_overridden() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

impl Remote {
    fn new(
        location: S3Location,
        role_arn: Option<String>,
        rescue_dir: PathBuf,
        caller: CallerOptions,
    ) -> Result<Self> {
        let work = tempfile::Builder::new()
            .prefix("eksmgr-state-")
            .tempdir()
            .context("cannot create the private working copy of the S3 state")?;
        let file = StateFile::new(work.path().join(STATE_FILE_NAME));
        Ok(Remote {
            caller: CallerOptions::new(caller.profile, Some(location.region.clone())),
            location,
            role_arn,
            objects: OnceCell::new(),
            _work: work,
            file,
            etag: Mutex::new(None),
            rescue_dir,
            journal: Mutex::new(None),
        })
    }

    async fn objects(&self) -> Result<&S3StateStore> {
        self.objects
            .get_or_try_init(|| async {
                let base = sdk_config(&self.caller, &self.location.region).await?;
                let store =
                    S3StateStore::connect(&base, self.location.clone(), self.role_arn.as_deref())
                        .await?;
                Ok::<_, anyhow::Error>(store)
            })
            .await
    }

    fn etag_lock(&self) -> std::sync::MutexGuard<'_, Option<Option<String>>> {
        self.etag.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn journal_lock(&self) -> std::sync::MutexGuard<'_, Option<RemoteJournal>> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_url(&self) -> PathBuf {
        PathBuf::from(format!("{}.lock", self.location.url()))
    }

    async fn lock(&self, command: &str) -> Result<Lock> {
        let objects = self.objects().await?;
        let info = LockInfo::for_current_process(command);
        let body = serde_json::to_vec_pretty(&info).context("cannot serialise the lock")?;
        let mut holder = None;
        // The holder may release the lock between our write and our read of it: try again.
        for _ in 0..3 {
            match objects
                .put(StateObject::Lock, body.clone(), &Condition::Absent)
                .await?
            {
                Written::Done(etag) => {
                    return Ok(Lock::S3(RemoteLock {
                        objects: objects.clone(),
                        info,
                        etag,
                        released: false,
                    }));
                }
                Written::ConditionFailed => {}
            }
            match objects.get(StateObject::Lock).await? {
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
            path: self.lock_url(),
            holder: Box::new(holder),
            stale,
        }
        .into())
    }

    async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo> {
        let objects = self.objects().await?;
        let path = self.lock_url();
        let Some(found) = objects.get(StateObject::Lock).await? else {
            return Err(StateError::NotLocked { path }.into());
        };
        let holder = serde_json::from_slice::<LockInfo>(&found.body).ok();
        let holder = check_lock_id(&path, "lock object", holder, lock_id)?;
        match objects.delete(StateObject::Lock, Some(&found.etag)).await? {
            Written::Done(_) => Ok(holder),
            Written::ConditionFailed => bail!(
                "the lock {} changed while it was being removed (another run took it): nothing was removed; run `eksmgr unlock` again with the id it reports",
                path.display()
            ),
        }
    }

    async fn load(&self) -> Result<State> {
        let objects = self.objects().await?;
        let state = objects.get(StateObject::State).await?;
        let path = self.file.path();
        let journal_path = self.file.journal_path();
        let mut journal = None;
        match &state {
            Some(s) => {
                write_private_atomically(path, &s.body)?;
                // An unreadable state has no serial: loading it below says what is wrong.
                if let Ok(head) = serde_json::from_slice::<Head>(&s.body) {
                    let serial = head.serial;
                    let parts = objects.get_journal(serial).await?;
                    if !parts.is_empty() {
                        // Parts of another lineage's journal with this serial (a state
                        // replaced by `state migrate --force` after a crash kept them) are
                        // not this state's: they are removed at the next save, not replayed.
                        if head.continued_by(&parts[0]) {
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
            }
            None => remove_if_present(path)?,
        }
        if journal.is_none() {
            remove_if_present(&journal_path)?;
        }
        *self.journal_lock() = journal;
        *self.etag_lock() = Some(state.map(|s| s.etag));
        self.file.load().map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "the state in {} (downloaded to a private working copy) cannot be loaded",
                self.location.url()
            ))
        })
    }

    async fn save(&self, state: &mut State) -> Result<()> {
        let objects = self.objects().await?;
        let seen = self.etag_lock().clone();
        let Some(seen) = seen else {
            bail!("internal error: the S3 state was saved before it was loaded");
        };
        self.file.save(state)?;
        let body = std::fs::read(self.file.path())
            .with_context(|| format!("cannot read {}", self.file.path().display()))?;
        let condition = match &seen {
            Some(etag) => Condition::Matches(etag.clone()),
            None => Condition::Absent,
        };
        match objects
            .put(StateObject::State, body.clone(), &condition)
            .await
        {
            Ok(Written::Done(etag)) => {
                *self.etag_lock() = Some(Some(etag));
            }
            Ok(Written::ConditionFailed) => {
                let rescued = self.rescue(&body);
                bail!(
                    "the state in {} was changed by another run since this one read it (was its lock removed with `eksmgr unlock`?): it was not overwritten. {}",
                    self.location.url(),
                    rescued
                );
            }
            Err(e) => {
                let rescued = self.rescue(&body);
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot save the state to {}. {rescued}",
                    self.location.url()
                )));
            }
        }
        let journal = self.journal_lock().take();
        if let Some(j) = journal {
            objects
                .delete_journal(j.base_serial, j.parts.load(Ordering::SeqCst))
                .await?;
        }
        Ok(())
    }

    /// Keeps the state S3 did not take in a local file, and says where and what to do.
    fn rescue(&self, body: &[u8]) -> String {
        let path = self.rescue_dir.join("eksmgr-errored.state.json");
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

/// The lineage and serial of a state file, read without building its records.
#[derive(serde::Deserialize)]
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

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot remove {}", path.display()))),
    }
}

/// A held state lock.
pub enum Lock {
    /// The lock file of a local state.
    Local(LockGuard),
    /// The lock object of a state in S3.
    S3(RemoteLock),
}

impl Lock {
    /// Releases the lock.
    pub async fn release(self) -> Result<()> {
        match self {
            Lock::Local(g) => Ok(g.release()?),
            Lock::S3(mut l) => {
                let _whole = crate::interrupt::Critical::enter();
                l.released = true;
                l.remove().await
            }
        }
    }
}

/// The lock object this run created; removed on release, or on drop if a command ends early
/// with an error.
pub struct RemoteLock {
    objects: S3StateStore,
    info: LockInfo,
    etag: String,
    released: bool,
}

impl RemoteLock {
    /// Removes the lock if it is still the one this run created (one force-unlocked and
    /// taken by another run is left alone).
    async fn remove(&self) -> Result<()> {
        match self
            .objects
            .delete(StateObject::Lock, Some(&self.etag))
            .await?
        {
            Written::Done(_) | Written::ConditionFailed => Ok(()),
        }
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // A command that failed half-way still gives the lock back. The runtime is the
        // multi-threaded one of `main`; without one (never in the binary) the lock stays and
        // the next run's message says how to remove it.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        let result = tokio::task::block_in_place(|| handle.block_on(self.remove()));
        if let Err(e) = result {
            eprintln!(
                "Warning: the state lock {} (id {}) could not be removed: {e:#}; run `eksmgr unlock {}` once no eksmgr run is active",
                self.objects.url(StateObject::Lock),
                self.info.id,
                self.info.id
            );
        }
    }
}

/// Uploads the local journal of an apply to S3 whenever it changed, one upload at a time.
pub struct Mirror {
    changed: Arc<Notify>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Option<String>>,
}

impl Mirror {
    fn start(objects: S3StateStore, journal: PathBuf, remote: RemoteJournal) -> Self {
        let changed = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
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
        }
    }

    /// The journal grew: upload it (now, or once the upload under way is done).
    pub fn changed(&self) {
        self.changed.notify_one();
    }

    /// Uploads the journal a last time and stops; the first upload error, if any.
    pub async fn finish(self) -> Option<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_one();
        self.task.await.unwrap_or_else(|e| Some(e.to_string()))
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
    match objects
        .put(part, body[sent..end].to_vec(), &Condition::Absent)
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_local_path_is_the_same_place_whether_or_not_it_exists_yet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let roundabout = dir.path().join("sub/../eksmgr.state.json");
        let plain = dir.path().join("eksmgr.state.json");
        let a = Store::Local(StateFile::new(&roundabout));
        let b = Store::Local(StateFile::new(&plain));
        assert!(a.same_place(&b), "neither exists yet");
        std::fs::write(&plain, "{}").unwrap();
        assert!(a.same_place(&b), "both name one file");
        let other = Store::Local(StateFile::new(dir.path().join("other.json")));
        assert!(!a.same_place(&other));
    }

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
