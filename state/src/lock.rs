//! The run lock: a `<state>.lock` file that keeps two eksmgr runs from
//! changing the same state at once.
//!
//! The lock file is created exclusively (`O_EXCL`, mode 0600) and holds a
//! [`LockInfo`] JSON document describing the holder. [`StateLock::acquire`]
//! returns a [`LockGuard`] that removes the file when released or dropped, but
//! only while the file still carries the guard's lock id. A lock left behind by
//! a crashed run can be removed with [`force_unlock`] given its lock id.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StateError;
use crate::file::StateFile;

/// Placeholder used for every field of a lock whose file cannot be read.
const UNKNOWN: &str = "unknown";

/// How many times to retry when the lock disappears between seeing it and reading it.
const ACQUIRE_ATTEMPTS: u32 = 3;

/// Who holds a state lock; the content of the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Lock id (uuid v4); needed to force-unlock.
    pub id: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Host the holder runs on.
    pub host: String,
    /// User the holder runs as.
    pub user: String,
    /// The command that took the lock, e.g. `eksmgr apply`.
    pub command: String,
    /// When the lock was taken.
    pub created: DateTime<Utc>,
    /// Version of eksmgr that took the lock.
    pub version: String,
}

impl LockInfo {
    /// A lock description for this process.
    pub fn for_current_process(command: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: hostname(),
            user: username(),
            command: command.to_owned(),
            created: Utc::now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Stand-in for a lock file that exists but cannot be read or parsed.
    pub fn unknown(created: DateTime<Utc>) -> Self {
        Self {
            id: UNKNOWN.to_owned(),
            pid: 0,
            host: UNKNOWN.to_owned(),
            user: UNKNOWN.to_owned(),
            command: UNKNOWN.to_owned(),
            created,
            version: UNKNOWN.to_owned(),
        }
    }

    /// Whether this describes an unreadable lock file rather than a real holder.
    pub fn is_unknown(&self) -> bool {
        self.id == UNKNOWN
    }

    /// Whether the holder ran on this host and its process is gone.
    pub fn is_stale(&self) -> bool {
        !self.is_unknown() && self.host == hostname() && !pid_alive(self.pid)
    }
}

/// Entry points for taking and breaking the state lock.
#[derive(Debug, Clone, Copy)]
pub struct StateLock;

impl StateLock {
    /// Takes the lock for `state_file`, recording `command` (e.g. `eksmgr apply`)
    /// as the holder.
    ///
    /// Fails with [`StateError::Locked`] if another run holds it.
    pub fn acquire(state_file: &StateFile, command: &str) -> Result<LockGuard, StateError> {
        let path = state_file.lock_path();
        let info = LockInfo::for_current_process(command);
        let mut last_seen = None;
        for _ in 0..ACQUIRE_ATTEMPTS {
            match create_lock_file(&path, &info) {
                Ok(()) => {
                    return Ok(LockGuard {
                        path,
                        info,
                        released: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(StateError::Io {
                        path,
                        op: "create lock file",
                        source,
                    });
                }
            }
            match read_lock(&path) {
                // The holder released it in between: try again.
                Ok(None) => continue,
                Ok(Some(holder)) => last_seen = Some(holder),
                Err(_) => last_seen = Some(LockInfo::unknown(Utc::now())),
            }
            break;
        }
        let holder = last_seen.unwrap_or_else(|| LockInfo::unknown(Utc::now()));
        let stale = holder.is_stale();
        Err(StateError::Locked {
            path,
            holder: Box::new(holder),
            stale,
        })
    }

    /// The current holder of the lock, if any (an unreadable lock file gives
    /// a holder whose fields are `unknown`).
    pub fn current(state_file: &StateFile) -> Result<Option<LockInfo>, StateError> {
        let path = state_file.lock_path();
        match read_lock(&path) {
            Ok(found) => Ok(found),
            Err(ReadLockError::Io(source)) => Err(StateError::Io {
                path,
                op: "read lock file",
                source,
            }),
            Err(ReadLockError::Corrupt) => Ok(Some(LockInfo::unknown(Utc::now()))),
        }
    }

    /// Removes the lock if its id is `lock_id`; see [`force_unlock`].
    pub fn force_unlock(state_file: &StateFile, lock_id: &str) -> Result<LockInfo, StateError> {
        force_unlock(state_file, lock_id)
    }
}

/// Removes the lock of `state_file` if its id is exactly `lock_id`, returning
/// who held it. Use this only when the holding run is known to be gone.
pub fn force_unlock(state_file: &StateFile, lock_id: &str) -> Result<LockInfo, StateError> {
    let path = state_file.lock_path();
    let holder = match read_lock(&path) {
        Ok(Some(holder)) => Some(holder),
        Ok(None) => return Err(StateError::NotLocked { path }),
        Err(ReadLockError::Io(source)) => {
            return Err(StateError::Io {
                path,
                op: "read lock file",
                source,
            });
        }
        Err(ReadLockError::Corrupt) => None,
    };
    let holder = check_lock_id(&path, "lock file", holder, lock_id)?;
    // The run was killed after linking its lock and before removing the temporary file it
    // linked from (the same inode): nothing else will remove it.
    let _ = fs::remove_file(temp_path(&path, lock_id));
    match fs::remove_file(&path) {
        Ok(()) => Ok(holder),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StateError::NotLocked { path }),
        Err(source) => Err(StateError::Io {
            path,
            op: "remove lock file",
            source,
        }),
    }
}

/// Checks that the lock at `path` (a "lock file" or a "lock object", as `what` says), held by
/// `holder` (`None` when it is unreadable), is the one `lock_id` names, as every way of
/// removing someone else's lock must before it removes anything; returns the holder.
pub fn check_lock_id(
    path: &Path,
    what: &str,
    holder: Option<LockInfo>,
    lock_id: &str,
) -> Result<LockInfo, StateError> {
    let expected_hint = match holder {
        Some(holder) if holder.id == lock_id => return Ok(holder),
        Some(holder) => {
            let prefix: String = holder.id.chars().take(8).collect();
            format!(
                "it is held by `{}` (pid {} on host {}) with an id starting `{prefix}`",
                holder.command, holder.pid, holder.host
            )
        }
        None => format!(
            "the {what} is unreadable, so no id can match; if no eksmgr run is active, \
             delete `{}` by hand",
            path.display()
        ),
    };
    Err(StateError::LockIdMismatch {
        path: path.to_path_buf(),
        expected_hint,
        given: lock_id.to_owned(),
    })
}

/// Proof that this process holds the state lock; releases it on drop.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    path: PathBuf,
    info: LockInfo,
    released: bool,
}

impl LockGuard {
    /// What this guard wrote to the lock file.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Releases the lock, reporting failure to remove the lock file.
    ///
    /// If the lock file is gone or now belongs to someone else (it was
    /// force-unlocked), it is left alone and this succeeds.
    pub fn release(mut self) -> Result<(), StateError> {
        self.released = true;
        self.remove_if_ours()
    }

    fn remove_if_ours(&self) -> Result<(), StateError> {
        match read_lock(&self.path) {
            Ok(Some(holder)) if holder.id == self.info.id => {}
            Ok(_) | Err(ReadLockError::Corrupt) => return Ok(()),
            Err(ReadLockError::Io(source)) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    op: "read lock file",
                    source,
                });
            }
        }
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                path: self.path.clone(),
                op: "remove lock file",
                source,
            }),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            self.released = true;
            let _ = self.remove_if_ours();
        }
    }
}

/// Creates the lock file exclusively, already holding `info`.
///
/// The document is written to a private temporary file beside the lock, which
/// is then hard-linked to the lock path. `link` fails if the lock exists, like
/// `O_EXCL`, but the lock file never exists empty or half-written, so a run
/// that loses the race always reads a whole holder. Where the file system has
/// no hard links, the lock is created with `O_EXCL` and written in place.
fn create_lock_file(path: &Path, info: &LockInfo) -> io::Result<()> {
    let mut json = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    json.push(b'\n');
    let tmp = temp_path(path, &info.id);
    if let Err(e) = write_new(&tmp, &json) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if no_hard_links(&e) => {
            if let Err(e) = write_new(path, &json) {
                if e.kind() != io::ErrorKind::AlreadyExists {
                    let _ = fs::remove_file(path);
                }
                return Err(e);
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Creates `path` exclusively (mode 0600) holding `bytes`, synced to disk.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The temporary file a lock is written to before it is linked into place.
fn temp_path(path: &Path, id: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{id}.tmp"))
}

/// Whether a `link` error means the file system cannot make hard links at all.
fn no_hard_links(e: &io::Error) -> bool {
    // EPERM (some FUSE and network file systems), EOPNOTSUPP / ENOTSUP, EXDEV. A directory
    // that cannot be written (EACCES, also `PermissionDenied`) fails the fallback the same way.
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied
            | io::ErrorKind::Unsupported
            | io::ErrorKind::CrossesDevices
    )
}

enum ReadLockError {
    Io(io::Error),
    Corrupt,
}

/// Reads the lock file: `Ok(None)` if there is none.
fn read_lock(path: &Path) -> Result<Option<LockInfo>, ReadLockError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| ReadLockError::Corrupt),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ReadLockError::Io(e)),
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| UNKNOWN.to_owned())
}

/// Who runs this process: the name the OS user database (`getpwuid`, as `id -un` does) gives
/// the real user id, which holds in cron jobs, containers and CI runners that set no `$USER`;
/// then `$USER` and `$LOGNAME`; else the numeric id.
fn username() -> String {
    let uid = uzers::get_current_uid();
    username_from(
        uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned()),
        |name| std::env::var(name).ok(),
        uid,
    )
}

fn username_from(
    database: Option<String>,
    env: impl Fn(&str) -> Option<String>,
    uid: u32,
) -> String {
    database
        .into_iter()
        .chain(env("USER"))
        .chain(env("LOGNAME"))
        .map(|u| u.trim().to_owned())
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// Whether process `pid` exists on this host. Where `/proc` is not available
/// the answer is "yes", so a lock is never wrongly called stale.
fn pid_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    pid != 0 && Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_user_comes_from_the_os_user_database_before_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            username_from(Some("deploy".into()), env(&[("USER", "alice")]), 1000),
            "deploy"
        );
        assert_eq!(
            username_from(None, env(&[("USER", ""), ("LOGNAME", "bob")]), 1000),
            "bob"
        );
        assert_eq!(username_from(None, env(&[]), 1000), "uid 1000");
        // This process's user, as the OS names it.
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        assert_eq!(
            username(),
            String::from_utf8_lossy(&id.stdout).trim(),
            "as `id -un` says"
        );
    }

    #[test]
    fn pid_checks() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(4_000_000));
        assert!(!pid_alive(0));
    }

    #[test]
    fn hostname_is_known() {
        assert!(!hostname().is_empty());
    }

    #[test]
    fn current_reports_holder() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path().join("s.json"));
        assert!(StateLock::current(&sf).unwrap().is_none());
        let guard = StateLock::acquire(&sf, "eksmgr plan").unwrap();
        assert_eq!(
            StateLock::current(&sf).unwrap().as_ref(),
            Some(guard.info())
        );
        fs::write(sf.lock_path(), "{").unwrap();
        assert!(StateLock::current(&sf).unwrap().unwrap().is_unknown());
    }

    /// Runs racing for the lock always see a whole holder, never an empty or
    /// half-written lock file (the file appears with its content, by `link`).
    #[test]
    fn a_losing_run_always_reads_the_winner() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path().join("s.json"));
        for _ in 0..200 {
            let results: Vec<_> = std::thread::scope(|scope| {
                let racers: Vec<_> = (0..4)
                    .map(|_| scope.spawn(|| StateLock::acquire(&sf, "eksmgr apply")))
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            let mut winners = 0;
            for result in results {
                match result {
                    Ok(guard) => {
                        winners += 1;
                        guard.release().unwrap();
                    }
                    Err(StateError::Locked { holder, .. }) => {
                        assert!(!holder.is_unknown(), "a losing run read an unfinished lock");
                        assert_eq!(holder.command, "eksmgr apply");
                    }
                    Err(other) => panic!("unexpected error: {other}"),
                }
            }
            assert!(winners >= 1);
        }
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "temporary lock files were left behind");
    }

    /// A run killed between linking its lock and removing the temporary file leaves both;
    /// force-unlocking it removes both.
    #[test]
    fn force_unlock_removes_the_killed_runs_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::new(dir.path().join("s.json"));
        let guard = StateLock::acquire(&sf, "eksmgr apply").unwrap();
        let id = guard.info().id.clone();
        fs::hard_link(sf.lock_path(), temp_path(&sf.lock_path(), &id)).unwrap();
        std::mem::forget(guard);
        let other = temp_path(&sf.lock_path(), "another-run");
        fs::write(&other, "{}").unwrap();
        StateLock::force_unlock(&sf, &id).unwrap();
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left, vec![other], "only another run's file is left");
    }
}
