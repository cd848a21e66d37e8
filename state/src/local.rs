//! The local [`Backend`]: a [`StateFile`], its lock file and its journal beside it.
//!
//! Saving checks the state in place first: a file of another lineage, or of a higher serial
//! than the state being saved, is not the one that state was loaded from, and is not
//! overwritten. What was loaded or saved last is remembered with the file's identity (device,
//! inode, size, modification time; every save renames a new file into place), so the file is
//! only read again when something else wrote it since.
//!
//! The lock file is taken with [`StateLock::acquire`] and given back by the [`StateGuard`]'s
//! owner (see [`crate::backend`]).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use serde::Deserialize;

use crate::backend::{Backend, HeldLock, InPlace, Loaded, OpenJournal, StateGuard};
use crate::error::StateError;
use crate::file::StateFile;
use crate::lock::{LockGuard, LockInfo, StateLock, force_unlock};
use crate::record::State;

/// A state kept in a local file.
#[derive(Debug)]
pub struct LocalBackend {
    file: StateFile,
    /// The state file as this backend last read or wrote it.
    seen: Mutex<Option<Seen>>,
}

/// A version of the state file: its identity on disk, and its lineage and serial.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    id: FileId,
    head: Head,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// The lineage and serial of a state file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Head {
    lineage: String,
    serial: u64,
}

impl LocalBackend {
    /// The state kept in the file at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalBackend {
            file: StateFile::new(path),
            seen: Mutex::new(None),
        }
    }

    /// The state file.
    pub fn file(&self) -> &StateFile {
        &self.file
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Option<Seen>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The identity of the state file, `None` if there is none.
    fn file_id(&self) -> Result<Option<FileId>, StateError> {
        match fs::metadata(self.file.path()) {
            Ok(meta) => Ok(Some(FileId::of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                path: self.file.path().to_path_buf(),
                op: "read metadata of state file",
                source,
            }),
        }
    }

    /// Remembers that the file now holds `lineage` at `serial`.
    fn remember(&self, lineage: &str, serial: u64) -> Result<(), StateError> {
        let seen = self.file_id()?.map(|id| Seen {
            id,
            head: Head {
                lineage: lineage.to_owned(),
                serial,
            },
        });
        *self.seen() = seen;
        Ok(())
    }

    /// The lineage and serial of the state file in place, read again only if the file is not
    /// the one last seen; `None` when there is no file, or one without a readable head (it
    /// cannot be loaded either: replacing it is what restoring a backup does).
    fn head_in_place(&self) -> Result<Option<Head>, StateError> {
        let Some(id) = self.file_id()? else {
            return Ok(None);
        };
        if let Some(seen) = self.seen().as_ref()
            && seen.id == id
        {
            return Ok(Some(seen.head.clone()));
        }
        let bytes = match fs::read(self.file.path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    path: self.file.path().to_path_buf(),
                    op: "read state file",
                    source,
                });
            }
        };
        Ok(serde_json::from_slice::<Head>(&bytes).ok())
    }

    fn write(&self, state: &mut State, replace: bool) -> Result<(), StateError> {
        if !replace && let Some(head) = self.head_in_place()? {
            check_save(self.file.path(), &head.lineage, head.serial, state)?;
        }
        self.file.save(state)?;
        self.remember(&state.lineage, state.serial)
    }
}

/// Refuses to save `state` over a state of lineage `lineage` at `serial` that it was not
/// loaded from (the check of every backend's [`Backend::save`]).
pub fn check_save(
    path: &Path,
    lineage: &str,
    serial: u64,
    state: &State,
) -> Result<(), StateError> {
    if lineage != state.lineage {
        return Err(StateError::SaveRefused {
            path: path.to_path_buf(),
            reason: format!(
                "it holds another state (lineage {lineage}), not this one (lineage {}); to replace it, use `eksmgr state migrate --force`",
                state.lineage
            ),
        });
    }
    if serial > state.serial {
        return Err(StateError::SaveRefused {
            path: path.to_path_buf(),
            reason: format!(
                "it is at serial {serial}, newer than this run's state (serial {}): another run saved it since this one read it; run the command again",
                state.serial
            ),
        });
    }
    Ok(())
}

#[async_trait]
impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.file.path().display().to_string()
    }

    fn journal_location(&self) -> String {
        self.file.journal_path().display().to_string()
    }

    async fn try_lock(&self, command: &str) -> Result<StateGuard, StateError> {
        let guard = StateLock::acquire(&self.file, command)?;
        Ok(StateGuard::new(
            guard.info().clone(),
            guard.path().to_path_buf(),
            Box::new(LocalLock(guard)),
        ))
    }

    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        StateLock::current(&self.file)
    }

    async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo, StateError> {
        force_unlock(&self.file, lock_id)
    }

    async fn load(&self) -> Result<Loaded, StateError> {
        let before = self.file_id()?;
        let (state, replayed, base) = self.file.load_with_base()?;
        *self.seen() = before.map(|id| Seen {
            id,
            head: Head {
                lineage: state.lineage.clone(),
                serial: base,
            },
        });
        Ok(Loaded {
            state,
            replayed,
            exists: before.is_some(),
        })
    }

    async fn save(&self, state: &mut State) -> Result<(), StateError> {
        self.write(state, false)
    }

    async fn replace(&self, state: &mut State) -> Result<(), StateError> {
        self.write(state, true)
    }

    async fn start_journal(&self, state: &mut State) -> Result<OpenJournal, StateError> {
        if self.file.journal_path().exists() || !self.file.path().exists() {
            self.write(state, false)?;
        }
        let journal = crate::journal::Journal::start(&self.file.journal_path(), state)?;
        Ok(OpenJournal {
            journal,
            sync: Box::new(InPlace),
        })
    }
}

/// The lock file this run created.
#[derive(Debug)]
struct LocalLock(LockGuard);

#[async_trait]
impl HeldLock for LocalLock {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        self.0.release()
    }
}
