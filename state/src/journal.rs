//! The write-ahead journal beside the state file: how an apply persists every step in O(1).
//!
//! Rewriting the whole state file after each operation costs O(N) per operation, so a large
//! apply would be quadratic. Instead, while an apply runs, every step is appended as one JSON
//! line to `<state>.journal` and synced before the run goes on:
//!
//! 1. a header, [`JournalEntry::Begin`], naming the state's lineage and the serial the journal
//!    continues from;
//! 2. before a create, update or delete, an [`Intent`] (address, action, and the client request
//!    token the create call will carry), so a crash after AWS did the work but before the
//!    result was recorded leaves a trace the next run resolves;
//! 3. after it, the result: [`JournalEntry::Put`] (the new record) or [`JournalEntry::Remove`].
//!
//! [`StateFile::load`](crate::StateFile::load) replays the journal over the state file, so a
//! run killed at any point loses nothing; [`StateFile::save`](crate::StateFile::save) writes
//! the whole state once and then removes the journal (compaction). A line cut short by a crash
//! (the last one, never synced) is dropped; any other damage is an error that names the line.
//! A journal whose base serial is older than the state file's is what is left when a crash
//! fell between the state rename and the journal's removal: it is already in the state, and
//! is ignored. A journal of another lineage is refused.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::address::ResourceAddress;
use crate::error::StateError;
use crate::record::{ResourceRecord, State};

/// Permissions of the journal file.
const FILE_MODE: u32 = 0o600;

/// An operation that was started and whose result is not recorded yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The resource.
    pub address: ResourceAddress,
    /// What was started: `create`, `update`, `replace` or `delete`.
    pub action: String,
    /// The client request token the create call carries (the same one on every retry of the
    /// operation, in this run and the next), where the API takes one.
    pub token: String,
    /// When the operation started.
    pub started_at: DateTime<Utc>,
}

impl Intent {
    /// A new intent with a fresh token, stamped now.
    pub fn new(address: ResourceAddress, action: impl Into<String>) -> Self {
        Self {
            address,
            action: action.into(),
            token: uuid::Uuid::new_v4().to_string(),
            started_at: Utc::now(),
        }
    }
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalEntry {
    /// The header: which state this journal continues.
    Begin {
        /// The state's lineage.
        lineage: String,
        /// The state file's serial when the journal was started.
        base_serial: u64,
    },
    /// An operation is about to start.
    Intent(Intent),
    /// An operation completed: the resource's record is now this.
    Put {
        /// The new record.
        record: ResourceRecord,
    },
    /// An operation completed: the resource is gone.
    Remove {
        /// The resource.
        address: ResourceAddress,
    },
    /// An operation failed before changing anything that needs recording: its intent is
    /// closed.
    Abandon {
        /// The resource.
        address: ResourceAddress,
    },
}

impl State {
    /// Applies one journal entry to the in-memory state (a `Begin` changes nothing).
    ///
    /// Every entry but `Begin` and `Intent` counts as a write and bumps the serial, so a state
    /// with a replayed journal never has the serial of the state file alone.
    pub fn apply_entry(&mut self, entry: &JournalEntry) {
        match entry {
            JournalEntry::Begin { .. } => {}
            JournalEntry::Intent(intent) => {
                self.intents.insert(intent.address.clone(), intent.clone());
            }
            JournalEntry::Put { record } => {
                self.intents.remove(&record.address);
                self.resources
                    .insert(record.address.clone(), record.clone());
                self.serial += 1;
            }
            JournalEntry::Remove { address } => {
                self.intents.remove(address);
                self.resources.remove(address);
                self.serial += 1;
            }
            JournalEntry::Abandon { address } => {
                self.intents.remove(address);
            }
        }
    }
}

/// An open journal, appending and syncing one entry at a time.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes of whole entries written: a failed append is cut back to it.
    len: u64,
}

impl Journal {
    /// Starts a new journal at `path` continuing `state` (truncating any file there: the
    /// caller has compacted an older journal into the state file first).
    pub fn start(path: &Path, state: &State) -> Result<Self, StateError> {
        let io_err = |op: &'static str| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, op, source }
        };
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(path)
            .map_err(io_err("create journal"))?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(io_err("set permissions on journal"))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            len: 0,
        };
        journal.append(&JournalEntry::Begin {
            lineage: state.lineage.clone(),
            base_serial: state.serial,
        })?;
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => crate::file::sync_dir(dir)?,
            _ => crate::file::sync_dir(Path::new("."))?,
        }
        Ok(journal)
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry and syncs it to disk before returning.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<(), StateError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| StateError::Io {
            path: self.path.clone(),
            op: "serialize journal entry for",
            source: io::Error::other(e),
        })?;
        line.push(b'\n');
        match self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
        {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(source) => {
                // A full disk may have taken part of the line: cut it off, so that the
                // journal stays whole lines and a later append (once there is room again)
                // does not follow half an entry. Best effort: replay also ignores a torn
                // last line.
                let _ = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.seek(SeekFrom::Start(self.len)));
                Err(StateError::Io {
                    path: self.path.clone(),
                    op: "append to journal",
                    source,
                })
            }
        }
    }
}

/// What replaying a journal found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Entries applied (the header not counted).
    pub entries: usize,
    /// Whether the journal was left over from a compaction that was not cleaned up (and so
    /// was ignored).
    pub stale: bool,
}

/// Replays the journal text `text` (read from `path`) over `state`.
pub(crate) fn replay(path: &Path, text: &str, state: &mut State) -> Result<Replayed, StateError> {
    let damaged = |line: usize, message: String| StateError::Journal {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text.split_inclusive('\n').enumerate().peekable();
    let mut out = Replayed::default();
    let mut header_seen = false;
    while let Some((i, raw)) = lines.next() {
        let number = i + 1;
        let complete = raw.ends_with('\n');
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let entry: JournalEntry = match serde_json::from_str(trimmed) {
            Ok(e) => e,
            // The last line, cut short by a crash before it was synced: never acted upon.
            Err(_) if !complete && lines.peek().is_none() => break,
            Err(e) => return Err(damaged(number, e.to_string())),
        };
        if !header_seen {
            let JournalEntry::Begin {
                lineage,
                base_serial,
            } = &entry
            else {
                return Err(damaged(
                    number,
                    "the first line is not the journal header".into(),
                ));
            };
            if *lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    path: path.to_path_buf(),
                    expected: state.lineage.clone(),
                    found: lineage.clone(),
                });
            }
            if *base_serial < state.serial {
                out.stale = true;
                return Ok(out);
            }
            if *base_serial > state.serial {
                return Err(damaged(
                    number,
                    format!(
                        "the journal continues serial {base_serial} but the state file is at serial {}: the state file is older than its journal (restored from a backup?)",
                        state.serial
                    ),
                ));
            }
            header_seen = true;
            continue;
        }
        if matches!(entry, JournalEntry::Begin { .. }) {
            return Err(damaged(number, "a second journal header".into()));
        }
        state.apply_entry(&entry);
        out.entries += 1;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::StateFile;

    fn addr(s: &str) -> ResourceAddress {
        s.parse().unwrap()
    }

    fn setup() -> (tempfile::TempDir, StateFile, State) {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("eksmgr.state.json"));
        let mut state = State::new();
        state.upsert(ResourceRecord::new(
            addr("iam_role.old[111111111111]"),
            "old",
        ));
        file.save(&mut state).unwrap();
        (dir, file, state)
    }

    #[test]
    fn steps_survive_without_a_save_and_compaction_removes_the_journal() {
        let (_dir, file, mut state) = setup();
        let mut journal = file.start_journal(&mut state).unwrap();
        let mode = std::fs::metadata(journal.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let created = addr("iam_role.new[111111111111]");
        let steps = [
            JournalEntry::Intent(Intent::new(created.clone(), "create")),
            JournalEntry::Put {
                record: ResourceRecord::new(created.clone(), "new"),
            },
            JournalEntry::Intent(Intent::new(addr("iam_role.old[111111111111]"), "delete")),
            JournalEntry::Remove {
                address: addr("iam_role.old[111111111111]"),
            },
            JournalEntry::Intent(Intent::new(
                addr("kms_key.k[111111111111/eu-west-1]"),
                "create",
            )),
        ];
        for step in &steps {
            state.apply_entry(step);
            journal.append(step).unwrap();
        }
        // A crash here: the state file alone is one serial old, the journal has the rest.
        let (loaded, replayed) = file.load_replayed().unwrap();
        assert_eq!(replayed.entries, 5);
        assert_eq!(loaded, state);
        assert_eq!(loaded.serial, 3);
        assert_eq!(loaded.addresses().collect::<Vec<_>>(), vec![&created]);
        assert_eq!(
            loaded.intents.keys().collect::<Vec<_>>(),
            vec![&addr("kms_key.k[111111111111/eu-west-1]")]
        );
        // Compaction: the open intent stays in the state file, the journal goes.
        let mut compacted = loaded.clone();
        file.save(&mut compacted).unwrap();
        assert!(!file.journal_path().exists());
        let again = file.load().unwrap();
        assert_eq!(again, compacted);
        assert_eq!(again.intents.len(), 1);
    }

    #[test]
    fn a_torn_last_line_is_dropped_but_damage_elsewhere_is_an_error() {
        let (_dir, file, mut state) = setup();
        let mut journal = file.start_journal(&mut state).unwrap();
        let step = JournalEntry::Put {
            record: ResourceRecord::new(addr("iam_role.new[111111111111]"), "new"),
        };
        journal.append(&step).unwrap();
        drop(journal);
        let path = file.journal_path();
        let good = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{good}{{\"op\":\"put\",\"rec")).unwrap();
        let (loaded, replayed) = file.load_replayed().unwrap();
        assert_eq!(replayed.entries, 1);
        assert_eq!(loaded.len(), 2);

        std::fs::write(&path, format!("{good}not json\n{good}")).unwrap();
        let err = file.load().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StateError::Journal { line: 3, .. }), "{text}");
        assert!(text.contains("eksmgr.state.json.journal"), "{text}");
    }

    #[test]
    fn a_journal_already_compacted_is_ignored_and_another_lineage_refused() {
        let (_dir, file, mut state) = setup();
        let mut journal = file.start_journal(&mut state).unwrap();
        journal
            .append(&JournalEntry::Put {
                record: ResourceRecord::new(addr("iam_role.new[111111111111]"), "new"),
            })
            .unwrap();
        let leftover = std::fs::read(file.journal_path()).unwrap();
        let mut loaded = file.load().unwrap();
        file.save(&mut loaded).unwrap();
        // A crash between the rename and the journal's removal.
        std::fs::write(file.journal_path(), &leftover).unwrap();
        let (again, replayed) = file.load_replayed().unwrap();
        assert!(replayed.stale);
        assert_eq!(again, loaded);

        let mut other = State::new();
        other.serial = again.serial;
        Journal::start(&file.journal_path(), &other).unwrap();
        let err = file.load().unwrap_err();
        assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");
        assert!(err.to_string().contains("another state"), "{err}");
    }

    #[test]
    fn a_fresh_state_gets_a_file_before_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("s.json"));
        let mut state = file.load().unwrap();
        let mut journal = file.start_journal(&mut state).unwrap();
        journal
            .append(&JournalEntry::Put {
                record: ResourceRecord::new(addr("iam_role.new[111111111111]"), "new"),
            })
            .unwrap();
        let loaded = file.load().unwrap();
        assert_eq!(loaded.lineage, state.lineage);
        assert_eq!(loaded.len(), 1);
    }
}
