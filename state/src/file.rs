//! The state file on disk: loading it, and saving it atomically.
//!
//! Saving writes a private (mode 0600) temporary file next to the target,
//! syncs it, renames it over the target and syncs the directory, so a crash
//! leaves either the old or the new state, never a torn one.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::StateError;
use crate::record::{RawState, STATE_FORMAT_VERSION, State};

/// Permissions of the state file and its temporary files.
const FILE_MODE: u32 = 0o600;

/// A state file at a given path (which need not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

/// Just enough of the file to check its format version before trusting its shape.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

impl StateFile {
    /// A state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file's path: the state path with `.lock` appended.
    pub fn lock_path(&self) -> PathBuf {
        let mut p: OsString = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Reads the state; a missing file gives a fresh, empty [`State`].
    pub fn load(&self) -> Result<State, StateError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::new()),
            Err(source) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    op: "read state file",
                    source,
                });
            }
        };
        let probe: VersionProbe = serde_json::from_str(&text).map_err(|e| self.parse_error(&e))?;
        if probe.format_version != STATE_FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                path: self.path.clone(),
                found: probe.format_version,
                supported: STATE_FORMAT_VERSION,
            });
        }
        let raw: RawState = serde_json::from_str(&text).map_err(|e| self.parse_error(&e))?;
        raw.into_state()
            .map_err(|address| StateError::DuplicateAddress {
                path: self.path.clone(),
                address: address.to_string(),
            })
    }

    fn parse_error(&self, e: &serde_json::Error) -> StateError {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        StateError::Parse {
            path: self.path.clone(),
            line: e.line(),
            column: e.column(),
            message,
        }
    }

    /// Increments `state.serial` and writes the state atomically with mode 0600.
    ///
    /// On failure `state.serial` is put back, so it always matches what is on
    /// disk, and the temporary file is removed.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        state.serial += 1;
        let result = self.write_atomically(state);
        if result.is_err() {
            state.serial -= 1;
        }
        result
    }

    fn write_atomically(&self, state: &State) -> Result<(), StateError> {
        let mut json = serde_json::to_vec_pretty(state).map_err(|e| StateError::Io {
            path: self.path.clone(),
            op: "serialize state for",
            source: io::Error::other(e),
        })?;
        json.push(b'\n');
        write_private_atomically(&self.path, &json)
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, synced, then
/// renamed over it, and the directory synced) with mode 0600: the state file, and saved plans.
/// On failure the old file is untouched and no temporary file is left.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".to_owned());
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let io_err = |path: &Path, op: &'static str| {
        let path = path.to_path_buf();
        move |source| StateError::Io { path, op, source }
    };

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io_err(&tmp, "create temporary file"))?;
    let written = file
        .set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(io_err(&tmp, "set permissions on temporary file"))
        .and_then(|()| {
            file.write_all(bytes)
                .map_err(io_err(&tmp, "write temporary file"))
        })
        .and_then(|()| file.sync_all().map_err(io_err(&tmp, "sync temporary file")))
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path).map_err(io_err(path, "move the new file into place at"))
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StateError::Io {
            path: dir.to_path_buf(),
            op: "sync directory",
            source,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lock_path_appends_suffix() {
        let f = StateFile::new("/x/eksmgr.state.json");
        assert_eq!(f.path(), Path::new("/x/eksmgr.state.json"));
        assert_eq!(f.lock_path(), PathBuf::from("/x/eksmgr.state.json.lock"));
    }

    #[test]
    fn missing_file_is_fresh_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateFile::new(dir.path().join("none.json")).load().unwrap();
        assert_eq!(s.serial, 0);
        assert!(s.is_empty());
    }

    #[test]
    fn save_into_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("nope/state.json"));
        let mut s = State::new();
        let err = f.save(&mut s).unwrap_err();
        assert!(matches!(err, StateError::Io { .. }));
        assert!(err.to_string().contains("nope"), "{err}");
        assert_eq!(s.serial, 0);
    }

    #[test]
    fn rename_failure_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory at the target path makes the rename fail.
        let target = dir.path().join("state.json");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "x").unwrap();
        let mut s = State::new();
        let err = StateFile::new(&target).save(&mut s).unwrap_err();
        assert!(matches!(err, StateError::Io { .. }), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(s.serial, 0);
    }
}
