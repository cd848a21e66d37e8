//! The state file on disk: loading it (with its journal replayed), and saving it atomically.
//!
//! Saving writes a private (mode 0600) temporary file next to the target,
//! syncs it, renames it over the target and syncs the directory, so a crash
//! leaves either the old or the new state, never a torn one; then it removes
//! the journal, whose entries the saved state now holds (see [`crate::journal`]).
//!
//! A large state's records are parsed and serialised on several threads (the file is the
//! same byte for byte as a single-threaded `serde_json` write, and a parse error keeps its line
//! and column in the file).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::StateError;
use crate::journal::{self, Journal, Replayed};
use crate::record::{LazyState, RawState, ResourceRecord, STATE_FORMAT_VERSION, State};
use serde_json::value::RawValue;

/// Permissions of the state file and its temporary files.
const FILE_MODE: u32 = 0o600;

/// Below this many records a state is parsed and serialised on one thread.
const PARALLEL_RECORDS_MIN: usize = 4096;

/// At most this many threads parse or serialise records.
const PARALLEL_THREADS_MAX: usize = 8;

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

    /// The journal's path: the state path with `.journal` appended.
    pub fn journal_path(&self) -> PathBuf {
        let mut p: OsString = self.path.clone().into_os_string();
        p.push(".journal");
        PathBuf::from(p)
    }

    /// Reads the state and replays its journal, if one was left by an interrupted apply; a
    /// missing file gives a fresh, empty [`State`].
    pub fn load(&self) -> Result<State, StateError> {
        self.load_replayed().map(|(state, _)| state)
    }

    /// Like [`StateFile::load`], also saying what the journal held.
    pub fn load_replayed(&self) -> Result<(State, Replayed), StateError> {
        let mut state = self.load_file()?;
        let journal_path = self.journal_path();
        let replayed = match fs::read(&journal_path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                journal::replay(&journal_path, &text, &mut state)?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Replayed::default(),
            Err(source) => {
                return Err(StateError::Io {
                    path: journal_path,
                    op: "read journal",
                    source,
                });
            }
        };
        Ok((state, replayed))
    }

    /// Starts the journal an apply appends its steps to. A journal left by an earlier run is
    /// compacted into the state file first (so `state` must be what [`StateFile::load`]
    /// returned).
    pub fn start_journal(&self, state: &mut State) -> Result<Journal, StateError> {
        if self.journal_path().exists() || !self.path.exists() {
            self.save(state)?;
        }
        Journal::start(&self.journal_path(), state)
    }

    fn load_file(&self) -> Result<State, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::new()),
            Err(source) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    op: "read state file",
                    source,
                });
            }
        };
        self.parse_bytes(&bytes)
    }

    /// Parses the raw contents of a state file, as [`StateFile::load`] does once it has read
    /// them (without the journal); errors name this file's path. Bytes that are not UTF-8 are
    /// a [`StateError::Parse`] at the line and column (in characters) of the first invalid
    /// byte.
    pub fn parse_bytes(&self, bytes: &[u8]) -> Result<State, StateError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.parse(text),
            Err(e) => {
                let valid = e.valid_up_to();
                // Everything before `valid` is UTF-8 by definition.
                let before = bytes
                    .get(..valid)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .unwrap_or("");
                Err(self.error_at(
                    before,
                    valid,
                    format!(
                        "the file is not valid UTF-8 (invalid byte 0x{:02x} at offset {valid}): \
                         it is not a state file, or it was damaged",
                        bytes.get(valid).copied().unwrap_or(0)
                    ),
                ))
            }
        }
    }

    /// Parses the text of a state file: its format version first (a newer format may have
    /// another shape), then the whole state, then the check for repeated addresses. Errors
    /// name this file's path; nothing is read from disk and the journal is not replayed.
    pub fn parse(&self, text: &str) -> Result<State, StateError> {
        let body = text.trim_start_matches([' ', '\t', '\n', '\r']);
        let start = text.len() - body.len();
        match body.chars().next() {
            Some('{') => {}
            None => {
                return Err(self.error_at(
                    text,
                    start,
                    "the file is empty: a state file is a JSON object with format_version, \
                     lineage, serial and resources",
                ));
            }
            Some('\u{feff}') => {
                return Err(self.error_at(
                    text,
                    start,
                    "the file starts with a byte order mark (U+FEFF): save it as UTF-8 without one",
                ));
            }
            Some(_) => {
                return Err(self.error_at(
                    text,
                    start,
                    "expected a JSON object ({\"format_version\": 1, \"lineage\": ...}): this is \
                     not a state file",
                ));
            }
        }
        // The file is read in one pass with each resource record kept as its text; the version
        // alone is read (a second pass) only when that fails, so that a newer format is named
        // as such rather than as a shape error. Either way the outcome is that of checking the
        // version first. The records are parsed next, on several threads for a large state.
        let lazy: LazyState<'_> = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let probe: VersionProbe =
                    serde_json::from_str(text).map_err(|e| self.parse_error(text, &e))?;
                if probe.format_version != STATE_FORMAT_VERSION {
                    return Err(self.unsupported(probe.format_version));
                }
                return Err(self.parse_error(text, &e));
            }
        };
        if lazy.format_version != STATE_FORMAT_VERSION {
            return Err(self.unsupported(lazy.format_version));
        }
        let raw = RawState {
            resources: self.parse_records(text, &lazy.resources)?,
            format_version: lazy.format_version,
            lineage: lazy.lineage,
            serial: lazy.serial,
            intents: lazy.intents,
        };
        raw.into_state()
            .map_err(|address| StateError::DuplicateAddress {
                path: self.path.clone(),
                address: address.to_string(),
            })
    }

    /// Parses the records (each a slice of `text`), in file order: on one thread for a small
    /// state, else in as many contiguous parts as there are cores (up to a limit). The first
    /// error in file order is reported, at its line and column in the file.
    fn parse_records(
        &self,
        text: &str,
        records: &[&RawValue],
    ) -> Result<Vec<ResourceRecord>, StateError> {
        let parse_part = |part: &[&RawValue]| -> Result<Vec<ResourceRecord>, StateError> {
            part.iter().map(|r| self.parse_record(text, r)).collect()
        };
        let threads = if records.len() < PARALLEL_RECORDS_MIN {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, std::num::NonZero::get)
                .min(PARALLEL_THREADS_MAX)
        };
        if threads <= 1 {
            return parse_part(records);
        }
        let parts = in_parts(records, threads, parse_part);
        let mut all = Vec::with_capacity(records.len());
        for part in parts {
            all.extend(part?);
        }
        Ok(all)
    }

    /// Parses one record, whose text `raw` lies within `text`; an error is placed in the file.
    fn parse_record(&self, text: &str, raw: &RawValue) -> Result<ResourceRecord, StateError> {
        let record = raw.get();
        serde_json::from_str(record).map_err(|e| {
            // Where the record starts in the file, and the error within the record (serde_json
            // counts columns in bytes).
            let start = (record.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            let line_start: usize = record
                .split_inclusive('\n')
                .take(e.line().saturating_sub(1))
                .map(str::len)
                .sum();
            let offset = start + line_start + e.column().saturating_sub(1);
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = full.strip_suffix(&suffix).unwrap_or(&full);
            self.error_at(text, offset.min(text.len()), reword(message))
        })
    }

    /// A [`StateError::UnsupportedVersion`] for a file of format `found`.
    fn unsupported(&self, found: u32) -> StateError {
        StateError::UnsupportedVersion {
            path: self.path.clone(),
            found,
            supported: STATE_FORMAT_VERSION,
        }
    }

    /// A [`StateError::Parse`] at byte `offset` of `text` (line and column in characters).
    fn error_at(&self, text: &str, offset: usize, message: impl Into<String>) -> StateError {
        let before = text.get(..offset).unwrap_or(text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        StateError::Parse {
            path: self.path.clone(),
            line: before.matches('\n').count() + 1,
            column: before.get(line_start..).map_or(0, |l| l.chars().count()) + 1,
            message: message.into(),
        }
    }

    /// serde_json's error in the words of a state file: JSON's names for types, the field a
    /// timestamp error is about, and a merge conflict named as such.
    fn parse_error(&self, text: &str, e: &serde_json::Error) -> StateError {
        if let Some(offset) = conflict_marker(text) {
            return self.error_at(
                text,
                offset,
                "the file contains a merge conflict marker: keep one side of the conflict \
                 (the higher serial) or restore the file from a backup",
            );
        }
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        StateError::Parse {
            path: self.path.clone(),
            line: e.line(),
            // serde_json says column 0 at the start of a line (e.g. the end of the file).
            column: e.column().max(1),
            message: reword(message),
        }
    }

    /// Increments `state.serial`, writes the state atomically with mode 0600, and removes the
    /// journal (the saved state holds its entries).
    ///
    /// On failure `state.serial` is put back, so it always matches what is on
    /// disk, and the temporary file is removed.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        state.serial += 1;
        let result = self.write_atomically(state);
        if result.is_err() {
            state.serial -= 1;
            return result;
        }
        // A crash before this removal leaves a journal with an older base serial, which
        // loading ignores.
        match fs::remove_file(self.journal_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                path: self.journal_path(),
                op: "remove the compacted journal",
                source,
            }),
        }
    }

    fn write_atomically(&self, state: &State) -> Result<(), StateError> {
        let mut json = to_pretty_json(state, PARALLEL_RECORDS_MIN).map_err(|e| StateError::Io {
            path: self.path.clone(),
            op: "serialize state for",
            source: io::Error::other(e),
        })?;
        json.push(b'\n');
        write_private_atomically(&self.path, &json)
    }
}

/// The state as pretty JSON, exactly as `serde_json::to_vec_pretty` writes it, with the
/// records of a state of at least `parallel_min` records serialised on several threads.
fn to_pretty_json(state: &State, parallel_min: usize) -> Result<Vec<u8>, serde_json::Error> {
    let records: Vec<&ResourceRecord> = state.resources.values().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(PARALLEL_THREADS_MAX);
    if records.len() < parallel_min.max(1) || threads <= 1 {
        return serde_json::to_vec_pretty(state);
    }
    // Each record is written at the depth it has in the document (inside `resources`): two
    // levels, so every line after its first is indented by four more spaces. A JSON string
    // never holds a raw newline, so every newline of the output is one of the formatter's.
    let part = |part: &[&ResourceRecord]| -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::new();
        for (i, record) in part.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(b"    ");
            indent_into(&mut out, &serde_json::to_vec_pretty(record)?, b"    ");
        }
        Ok(out)
    };
    let parts = in_parts(&records, threads, part);
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"{\n  \"format_version\": ");
    out.extend_from_slice(&serde_json::to_vec(&state.version)?);
    out.extend_from_slice(b",\n  \"lineage\": ");
    out.extend_from_slice(&serde_json::to_vec(&state.lineage)?);
    out.extend_from_slice(b",\n  \"serial\": ");
    out.extend_from_slice(&serde_json::to_vec(&state.serial)?);
    out.extend_from_slice(b",\n  \"resources\": [\n");
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(&part?);
    }
    out.extend_from_slice(b"\n  ]");
    if !state.intents.is_empty() {
        out.extend_from_slice(b",\n  \"intents\": ");
        let intents: Vec<_> = state.intents.values().collect();
        indent_into(&mut out, &serde_json::to_vec_pretty(&intents)?, b"  ");
    }
    out.extend_from_slice(b"\n}");
    Ok(out)
}

/// `f` of each of `threads` contiguous parts of `items`, each on a thread of its own, in order.
fn in_parts<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let f = &f;
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .chunks(items.len().div_ceil(threads.max(1)).max(1))
            .map(|part| scope.spawn(move || f(part)))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Appends `json` to `out` with `indent` after every newline.
fn indent_into(out: &mut Vec<u8>, json: &[u8], indent: &[u8]) {
    let mut lines = json.split(|b| *b == b'\n');
    if let Some(first) = lines.next() {
        out.extend_from_slice(first);
    }
    for line in lines {
        out.push(b'\n');
        out.extend_from_slice(indent);
        out.extend_from_slice(line);
    }
}

/// Byte offset of the first line that is a merge conflict marker (`<<<<<<< `, `=======`,
/// `>>>>>>> `), if any.
fn conflict_marker(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end_matches(['\n', '\r']);
        if l.starts_with("<<<<<<<") || l == "=======" || l.starts_with(">>>>>>>") {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// serde's names of types and serde_json's and chrono's terse messages, reworded for a JSON
/// file.
fn reword(message: &str) -> String {
    const CHRONO: &[&str] = &[
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is out of range",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
    ];
    if CHRONO.contains(&message) {
        return format!(
            "invalid timestamp ({message}): expected an RFC 3339 date and time such as \
             \"2025-03-01T12:00:00Z\""
        );
    }
    if message.starts_with("EOF while parsing") {
        return format!("the file ends too early ({message}): it was cut short");
    }
    match message {
        "trailing characters" => {
            return "unexpected text after the end of the state object (trailing characters)"
                .to_owned();
        }
        "recursion limit exceeded" => {
            return "values are nested too deeply (recursion limit exceeded)".to_owned();
        }
        _ => {}
    }
    let json_type = |t: &str| match t {
        "map" => "an object".to_owned(),
        "sequence" => "an array".to_owned(),
        "a map" => "an object".to_owned(),
        "a sequence" => "an array".to_owned(),
        "u32" | "u64" => "a non-negative integer".to_owned(),
        "struct ResourceRecord" => "a resource record (an object)".to_owned(),
        "struct Intent" => "an intent (an object)".to_owned(),
        t => t.to_owned(),
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            return format!(
                "{prefix}{}, expected {}",
                json_type(found),
                json_type(expected)
            );
        }
    }
    message.to_owned()
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

/// Syncs a directory, so a file created or renamed in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StateError> {
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
    use crate::address::ResourceAddress;

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

    /// A state of `n` records with nested attributes, odd strings and an intent.
    fn big_state(n: usize) -> State {
        let mut state = State::new();
        for i in 0..n {
            let address: ResourceAddress =
                format!("iam_role.r{i}[{:012}]", i / 20).parse().unwrap();
            let mut record = ResourceRecord::new(address, format!("r{i}"));
            std::sync::Arc::make_mut(&mut record.attrs).insert(
                "policy".into(),
                serde_json::json!({"Statement": [{"Effect": "Allow", "Action": ["a:B", "c:*"],
                    "Condition": {}}], "Empty": [], "Text": "line\nbreak \"quoted\" é"}),
            );
            std::sync::Arc::make_mut(&mut record.attrs).insert("n".into(), serde_json::json!(i));
            state.upsert(record);
        }
        let address: ResourceAddress = "iam_role.r0[000000000000]".parse().unwrap();
        state.intents.insert(
            address.clone(),
            crate::journal::Intent::new(address, "create"),
        );
        state
    }

    #[test]
    fn parallel_serialisation_is_byte_for_byte_serde_json() {
        for n in [1, 2, 7, 100] {
            let state = big_state(n);
            let expected = serde_json::to_vec_pretty(&state).unwrap();
            assert_eq!(
                String::from_utf8(to_pretty_json(&state, 1).unwrap()).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{n} records"
            );
        }
        let mut no_intents = big_state(5);
        no_intents.intents.clear();
        assert_eq!(
            to_pretty_json(&no_intents, 1).unwrap(),
            serde_json::to_vec_pretty(&no_intents).unwrap()
        );
    }

    #[test]
    fn a_large_state_parsed_in_parts_is_the_same_and_errors_keep_their_place() {
        let n = PARALLEL_RECORDS_MIN + 1000;
        let state = big_state(n);
        let text = String::from_utf8(to_pretty_json(&state, 1).unwrap()).unwrap();
        let f = StateFile::new("s.json");
        assert_eq!(f.parse(&text).unwrap(), state);

        // A bad value in a record near the end (parsed by the last part): the error is at the
        // value's line and column in the file, as a whole-file parse would say.
        let target = format!("\"id\": \"r{}\"", n - 10);
        let at = text.find(&target).unwrap();
        let broken = format!("{}\"id\": true{}", &text[..at], &text[at + target.len()..]);
        let line = text[..at].matches('\n').count() + 1;
        let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + "\"id\": true".len();
        match f.parse(&broken) {
            Err(StateError::Parse {
                line: l,
                column: c,
                message,
                ..
            }) => {
                assert_eq!((l, c), (line, column), "{message}");
            }
            Err(other) => panic!("expected a parse error, got {other}"),
            Ok(_) => panic!("the broken record was accepted"),
        }
        let whole: Result<RawState, _> = serde_json::from_str(&broken);
        let e = whole.unwrap_err();
        assert_eq!((e.line(), e.column()), (line, column));
    }
}
