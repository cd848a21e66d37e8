//! The state file on disk: loading it (with its journal replayed), and saving it atomically.
//!
//! Saving writes a private (mode 0600) temporary file next to the target,
//! syncs it, renames it over the target and syncs the directory, so a crash
//! leaves either the old or the new state, never a torn one; then it removes
//! the journal, whose entries the saved state now holds (see [`crate::journal`]).
//!
//! The file is JSON with one line per resource record (see [`write_state_json`]). A large
//! state's records are parsed and serialised on several threads (the file is the same byte
//! for byte as a single-threaded write, and a parse error keeps its line and column in the
//! file). Saving streams the text to the file a few thousand records at a
//! time, so the text of a large state is never held whole in memory.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Seek, Write};
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

/// Below this many bytes a state file in eksmgr's layout is parsed on one thread.
const PARALLEL_BYTES_MIN: usize = 4 << 20;

/// A state file in eksmgr's layout of at least this many bytes is read this many at a time.
const CHUNK_BYTES: usize = 8 << 20;

/// The threads that parse a state file in eksmgr's layout of `bytes` bytes.
fn parse_threads(bytes: usize) -> usize {
    if bytes < PARALLEL_BYTES_MIN {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(PARALLEL_THREADS_MAX)
    }
}

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
        self.load_with_base()
            .map(|(state, replayed, _)| (state, replayed))
    }

    /// Like [`StateFile::load_replayed`], also giving the serial of the file itself (before
    /// the journal), which is what a save must not go behind.
    pub(crate) fn load_with_base(&self) -> Result<(State, Replayed, u64), StateError> {
        let mut state = self.load_file()?;
        let base = state.serial;
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
        Ok((state, replayed, base))
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
        let io_error = |source| StateError::Io {
            path: self.path.clone(),
            op: "read state file",
            source,
        };
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::new()),
            Err(source) => return Err(io_error(source)),
        };
        let size = file.metadata().map_err(io_error)?.len();
        // A large file in eksmgr's layout is read a chunk at a time; anything else (and
        // whatever that path does not take) is read whole, by the path that places errors.
        if size >= CHUNK_BYTES as u64 {
            if let Some(raw) =
                self.read_layout_chunks(&mut file, parse_threads(size as usize), CHUNK_BYTES)
                && raw.format_version == STATE_FORMAT_VERSION
            {
                return self.checked_state(raw);
            }
            file.rewind().map_err(io_error)?;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(io_error)?;
        self.parse_bytes(&bytes)
    }

    /// The state of what was read, or the error that names the first repeated address.
    fn checked_state(&self, raw: RawState) -> Result<State, StateError> {
        raw.into_state()
            .map_err(|address| StateError::DuplicateAddress {
                path: self.path.clone(),
                address: address.to_string(),
            })
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
        // A file in the layout eksmgr writes is split at record boundaries found without
        // parsing, and its parts parsed at once; whatever that does not take (another layout, a
        // newer format, an error) is read by the general path below, which places errors.
        if let Some(raw) = self.parse_split(text, parse_threads(text.len()))
            && raw.format_version == STATE_FORMAT_VERSION
        {
            return self.checked_state(raw);
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
            estate: lazy.estate,
            intents: lazy.intents,
        };
        raw.into_state()
            .map_err(|address| StateError::DuplicateAddress {
                path: self.path.clone(),
                address: address.to_string(),
            })
    }

    /// The state of a file in eksmgr's layout (see [`write_state_json`]), parsed without first
    /// finding where each record is: `None` for any other file, and whenever anything fails to
    /// parse (the general path then reads it, and places the error). See
    /// [`parse_layout_records`].
    fn parse_split(&self, text: &str, threads: usize) -> Option<RawState> {
        let array = layout_records_start(text)?;
        let body = text.get(array..)?;
        let (records, end) = if body.starts_with(']') {
            (Vec::new(), array + 1)
        } else if body.starts_with(LAYOUT_RECORD) {
            let (records, end) = parse_layout_records(text, array + RECORD_INDENT, None, threads)?;
            (records, end?)
        } else {
            return None;
        };
        layout_state(text.get(..array)?, text.get(end..)?, records)
    }

    /// The state of a file in eksmgr's layout read `chunk` bytes at a time, the records of
    /// each chunk parsed as [`StateFile::parse_split`] parses a whole file, so that the text
    /// of a large state (130 MB at 100,000 resources) is never held whole. `None` whenever
    /// that does not work out (another layout, text that is not UTF-8 or JSON, a read error):
    /// the caller then reads the file whole and places any error.
    fn read_layout_chunks(
        &self,
        file: &mut dyn io::Read,
        threads: usize,
        chunk: usize,
    ) -> Option<RawState> {
        let mut buf = Vec::with_capacity(2 * chunk);
        let mut eof = read_more(file, &mut buf, chunk)?;
        // The header is a few lines: it must be whole in the first chunk.
        let head = match std::str::from_utf8(&buf) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(buf.get(..e.valid_up_to())?).ok()?,
        };
        let array = layout_records_start(head)?;
        let header = head.get(..array)?.to_owned();
        buf.drain(..array);
        let mut records = Vec::new();
        if buf.starts_with(b"]") {
            let rest = read_rest(file, buf.get(1..)?)?;
            return layout_state(&header, &rest, records);
        }
        if !buf.starts_with(LAYOUT_RECORD.as_bytes()) {
            return None;
        }
        buf.drain(..RECORD_INDENT);
        loop {
            if !eof {
                eof = read_more(file, &mut buf, chunk)?;
            }
            if eof {
                let text = std::str::from_utf8(&buf).ok()?;
                let (more, end) = parse_layout_records(text, 0, None, threads)?;
                records.extend(more);
                return layout_state(&header, text.get(end?..)?, records);
            }
            // Up to the last record that starts in the buffer; a record longer than the
            // buffer is read on until another starts.
            let Some(cut) = rfind(&buf, LAYOUT_RECORD.as_bytes())
                .map(|at| at + RECORD_INDENT)
                .filter(|&cut| cut > 0)
            else {
                continue;
            };
            let text = std::str::from_utf8(buf.get(..cut)?).ok()?;
            let (more, end) = parse_layout_records(text, 0, Some(cut), threads)?;
            records.extend(more);
            if let Some(end) = end {
                // The array closed in this chunk (the intents after it are laid out as
                // records are).
                let rest = read_rest(file, buf.get(end..)?)?;
                return layout_state(&header, &rest, records);
            }
            buf.drain(..cut);
        }
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
        write_private_atomically_with(&self.path, |out| {
            write_state_json(state, PARALLEL_RECORDS_MIN, out)?;
            out.write_all(b"\n")
        })
    }
}

/// Records serialised by one thread in one round of [`write_state_json`]: enough to keep
/// the threads busy, few enough that a round's text stays small (a few megabytes).
const RECORDS_PER_PART: usize = 2048;

/// Writes the state as JSON in eksmgr's layout: the header fields on lines of their own, then
/// each record (and each intent) as compact JSON on a line of its own, four spaces in. A
/// record per line keeps a diff of two states readable (one changed line per changed
/// resource) at two thirds of the size of fully indented JSON, and lets the loader split the
/// file at record lines (see [`parse_layout_records`]); `eksmgr state show` prints a record
/// indented.
///
/// The records of a state of at least `parallel_min` records are serialised on several
/// threads, in rounds of a few thousand records per thread, each round written out before the
/// next, so the text of the whole state is never held in memory.
fn write_state_json(state: &State, parallel_min: usize, out: &mut dyn Write) -> io::Result<()> {
    let records: Vec<&ResourceRecord> = state.resources.values().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(PARALLEL_THREADS_MAX);
    let threads = if records.len() < parallel_min.max(1) {
        1
    } else {
        threads
    };
    out.write_all(b"{\n  \"format_version\": ")?;
    serde_json::to_writer(&mut *out, &state.version)?;
    out.write_all(b",\n  \"lineage\": ")?;
    serde_json::to_writer(&mut *out, &state.lineage)?;
    out.write_all(b",\n  \"serial\": ")?;
    serde_json::to_writer(&mut *out, &state.serial)?;
    out.write_all(b",\n  \"resources\": [")?;
    let write_part = |part: &[&ResourceRecord], first: bool, buf: &mut Vec<u8>| {
        buf.clear();
        for (i, record) in part.iter().enumerate() {
            buf.extend_from_slice(if first && i == 0 {
                RECORD_LINE
            } else {
                NEXT_RECORD_LINE
            });
            serde_json::to_writer(&mut *buf, record)?;
        }
        Ok::<(), serde_json::Error>(())
    };
    let mut bufs: Vec<Vec<u8>> = (0..threads).map(|_| Vec::new()).collect();
    for (round, in_round) in records.chunks(threads * RECORDS_PER_PART).enumerate() {
        let parts: Vec<_> = in_round
            .chunks(RECORDS_PER_PART)
            .zip(bufs.iter_mut())
            .collect();
        if threads <= 1 {
            for (i, (part, buf)) in parts.into_iter().enumerate() {
                write_part(part, round == 0 && i == 0, buf)?;
                out.write_all(buf)?;
            }
            continue;
        }
        let written: Vec<Result<(), serde_json::Error>> = std::thread::scope(|scope| {
            let running: Vec<_> = parts
                .into_iter()
                .enumerate()
                .map(|(i, (part, buf))| {
                    let write_part = &write_part;
                    scope.spawn(move || write_part(part, round == 0 && i == 0, buf))
                })
                .collect();
            running
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for (result, buf) in written.into_iter().zip(&bufs) {
            result?;
            out.write_all(buf)?;
        }
    }
    out.write_all(if records.is_empty() { b"]" } else { b"\n  ]" })?;
    if !state.intents.is_empty() {
        // Laid out as the records are (the loader relies on it: see `read_layout_chunks`).
        out.write_all(b",\n  \"intents\": [")?;
        for (i, intent) in state.intents.values().enumerate() {
            out.write_all(if i == 0 {
                RECORD_LINE
            } else {
                NEXT_RECORD_LINE
            })?;
            serde_json::to_writer(&mut *out, intent)?;
        }
        out.write_all(b"\n  ]")?;
    }
    // Last, so that the header before the records stays flat (see `layout_records_start`).
    if let Some(estate) = &state.estate {
        out.write_all(b",\n  \"estate\": ")?;
        serde_json::to_writer(&mut *out, estate)?;
    }
    out.write_all(b"\n}")
}

/// What precedes the first record (or intent) in eksmgr's layout.
const RECORD_LINE: &[u8] = b"\n    ";

/// What precedes every other record (or intent).
const NEXT_RECORD_LINE: &[u8] = b",\n    ";

/// Where the records' array opens in a state file in eksmgr's layout.
const LAYOUT_OPEN: &str = "\n  \"resources\": [";

/// How each record starts in eksmgr's layout: on a line of its own, four spaces in. A JSON
/// string never holds a raw newline, so such a line is structure, not text; and no `{` but a
/// record's is four spaces in, both in the layout [`write_state_json`] writes (where a record
/// is one line) and in the fully indented layout of earlier versions (where what a record
/// holds is six or more spaces in).
const LAYOUT_RECORD: &str = "\n    {";

/// Where a record's `{` is from the start of [`LAYOUT_RECORD`].
const RECORD_INDENT: usize = "\n    ".len();

/// The offset just after the `[` that opens the records in `text`, when its header is in
/// eksmgr's layout: no `{` or `[` before `"resources": [` but the document's own, so that the
/// array found is the top-level one.
fn layout_records_start(text: &str) -> Option<usize> {
    let array = text.find(LAYOUT_OPEN)? + LAYOUT_OPEN.len();
    (text.get(..array)?.matches(['{', '[']).count() == 2).then_some(array)
}

/// The records of `text` (in eksmgr's layout) from the one whose `{` is at `first`, up to the
/// one starting at `stop` or, when `stop` is `None`, to the `]` that closes the array; with
/// the offset after that `]` when the array closed (which it may before `stop`: the intents
/// that follow the records are laid out as records are).
///
/// The records are split into up to `threads` parts at record lines near even offsets, and
/// the parts are parsed record by record, each on a thread of its own. A split is only taken
/// when the part before it ends exactly there, at a record boundary; `None` when one does not
/// or a record does not parse.
fn parse_layout_records(
    text: &str,
    first: usize,
    stop: Option<usize>,
    threads: usize,
) -> Option<(Vec<ResourceRecord>, Option<usize>)> {
    let limit = stop.unwrap_or(text.len());
    let mut starts = vec![first];
    for k in 1..threads.max(1) {
        let target = first + (limit - first) * k / threads;
        let found = find(
            text.as_bytes().get(target..limit)?,
            LAYOUT_RECORD.as_bytes(),
        );
        if let Some(at) = found.map(|at| target + at + RECORD_INDENT)
            && starts.last().is_some_and(|&last| at > last)
        {
            starts.push(at);
        }
    }
    let ends = starts.iter().skip(1).map(|&s| Some(s)).chain([stop]);
    let bounds: Vec<(usize, Option<usize>)> = starts.iter().copied().zip(ends).collect();
    let runs = in_parts(&bounds, bounds.len(), |part| {
        part.iter()
            .map(|&(start, stop)| parse_run(text, start, stop))
            .collect::<Vec<_>>()
    });
    let mut records = Vec::new();
    for run in runs.into_iter().flatten() {
        let (run, end, closed) = run?;
        records.extend(run);
        if closed {
            return Some((records, Some(end)));
        }
    }
    // Every run ended at the next one's start, the last one at `stop`.
    stop.map(|_| (records, None))
}

/// The state of a file in eksmgr's layout from its records and the text around them: the
/// header, up to the `[` that opens the records, and what follows the `]` that closes them.
fn layout_state(header: &str, rest: &str, records: Vec<ResourceRecord>) -> Option<RawState> {
    let outside = format!("{header}]{rest}");
    let lazy: LazyState<'_> = serde_json::from_str(&outside).ok()?;
    if !lazy.resources.is_empty() {
        return None;
    }
    Some(RawState {
        format_version: lazy.format_version,
        lineage: lazy.lineage,
        serial: lazy.serial,
        estate: lazy.estate,
        resources: records,
        intents: lazy.intents,
    })
}

/// Appends up to `n` more bytes of `file` to `buf`; whether the file ended. `None` on a read
/// error.
fn read_more(file: &mut dyn io::Read, buf: &mut Vec<u8>, n: usize) -> Option<bool> {
    let want = u64::try_from(n).ok()?;
    let read = (&mut *file).take(want).read_to_end(buf).ok()?;
    Some(read < n)
}

/// `start` and the rest of `file`, as text.
fn read_rest(file: &mut dyn io::Read, start: &[u8]) -> Option<String> {
    let mut rest = start.to_vec();
    file.read_to_end(&mut rest).ok()?;
    String::from_utf8(rest).ok()
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut from = 0;
    while let Some(at) = hay.get(from..)?.iter().position(|&b| b == first) {
        let at = from + at;
        if hay.get(at + 1..at + needle.len()) == Some(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Where `needle` last occurs in `hay`.
fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut to = hay.len();
    while let Some(at) = hay.get(..to)?.iter().rposition(|&b| b == first) {
        if hay.get(at + 1..at + needle.len()) == Some(tail) {
            return Some(at);
        }
        to = at;
    }
    None
}

/// The records from the one starting at `start` in `text`, each followed by a `,` and the
/// next, up to the record that starts at `stop` (exclusive), or to the `]` that closes the
/// array (always so when `stop` is `None`); with where it stopped (after the `]`) and whether
/// that was the `]`. `None` when a record does not parse or the records do not end exactly at
/// `stop` or at the `]`.
fn parse_run(
    text: &str,
    start: usize,
    stop: Option<usize>,
) -> Option<(Vec<ResourceRecord>, usize, bool)> {
    let skip_space = |mut at: usize| {
        while text.as_bytes().get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    let mut records = Vec::new();
    let mut at = start;
    loop {
        let mut stream =
            serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<ResourceRecord>();
        records.push(stream.next()?.ok()?);
        at = skip_space(at + stream.byte_offset());
        match text.as_bytes().get(at) {
            Some(b',') => {
                at = skip_space(at + 1);
                match stop {
                    Some(stop) if at == stop => return Some((records, at, false)),
                    Some(stop) if at > stop => return None,
                    _ => {}
                }
            }
            Some(b']') => return Some((records, at + 1, true)),
            _ => return None,
        }
    }
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
    write_private_atomically_with(path, |out| out.write_all(bytes))
}

/// [`write_private_atomically`] of what `write` writes (through a buffer) to the temporary
/// file.
pub(crate) fn write_private_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), StateError> {
    // A symbolic link is written through, to the file it leads to: renaming over the link
    // would replace it by a regular file and leave its target stale (two states).
    let resolved = follow_links(path)?;
    let path = resolved.as_path();
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
            let mut out = io::BufWriter::with_capacity(1 << 20, &mut file);
            write(&mut out)
                .and_then(|()| out.flush())
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

/// The file `path` leads to through symbolic links (relative targets are relative to the
/// link's directory); `path` itself when it is no link or does not exist yet.
fn follow_links(path: &Path) -> Result<PathBuf, StateError> {
    // As many links as Linux follows in one path (ELOOP beyond).
    const MAX_LINKS: usize = 40;
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&current).map_err(|source| StateError::Io {
                    path: current.clone(),
                    op: "read the symbolic link",
                    source,
                })?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(StateError::Io {
        path: path.to_path_buf(),
        op: "follow the symbolic links of",
        source: io::Error::other(format!("more than {MAX_LINKS} links")),
    })
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

    /// A state file reached through symbolic links (a relative link to a link) is written
    /// through to the file they lead to: the links stay links, and there is one state. Before,
    /// the save renamed a regular file over the first link and the target went stale.
    #[test]
    fn a_symlinked_state_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("shared");
        fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("estate.state.json");
        let middle = dir.path().join("middle.json");
        let link = dir.path().join("eksmgr.state.json");
        std::os::unix::fs::symlink(&target, &middle).unwrap();
        std::os::unix::fs::symlink("middle.json", &link).unwrap();

        let file = StateFile::new(&link);
        let mut state = big_state(3);
        file.save(&mut state).unwrap();
        file.save(&mut state).unwrap();
        for l in [&link, &middle] {
            assert!(
                fs::symlink_metadata(l).unwrap().file_type().is_symlink(),
                "{} is no longer a link",
                l.display()
            );
        }
        let loaded = StateFile::new(&target).load().unwrap();
        assert_eq!(loaded.serial, state.serial);
        assert_eq!(loaded.len(), 3);
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temporary file left beside the link or the target.
        for d in [dir.path(), real_dir.as_path()] {
            let stray: Vec<_> = fs::read_dir(d)
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                .collect();
            assert!(stray.is_empty(), "{stray:?}");
        }
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

    fn to_state_json(state: &State, parallel_min: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        write_state_json(state, parallel_min, &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_state_is_written_a_record_per_line_the_same_on_any_number_of_threads() {
        // Several rounds of parts, on as many threads as there are cores, included.
        let mut no_intents = big_state(5);
        no_intents.intents.clear();
        for state in [0, 1, 2, 7, 100, 4 * RECORDS_PER_PART * 2 + 3]
            .map(big_state)
            .into_iter()
            .chain([no_intents])
        {
            let n = state.len();
            let written = to_state_json(&state, 1).unwrap();
            assert_eq!(written, to_state_json(&state, usize::MAX).unwrap(), "{n}");
            // It is the JSON of the state ...
            let read: serde_json::Value = serde_json::from_slice(&written).unwrap();
            assert_eq!(read, serde_json::to_value(&state).unwrap(), "{n} records");
            // ... with each record and each intent on a line of its own.
            let text = String::from_utf8(written).unwrap();
            let record_lines = text.lines().filter(|l| l.starts_with("    {")).count();
            assert_eq!(record_lines, n + state.intents.len(), "{n} records");
            let other_lines = text.lines().count() - record_lines;
            let brackets = usize::from(n > 0) + 2 * usize::from(!state.intents.is_empty());
            assert_eq!(other_lines, 5 + brackets + 1, "{n} records:\n{text}");
        }
    }

    /// The fully indented layout earlier versions wrote.
    fn to_indented_json(state: &State) -> Vec<u8> {
        serde_json::to_vec_pretty(state).unwrap()
    }

    #[test]
    fn a_file_in_eksmgrs_layout_is_split_without_a_first_pass_and_reads_the_same() {
        let f = StateFile::new("s.json");
        let mut empty = big_state(0);
        empty.intents.clear();
        let mut no_intents = big_state(40);
        no_intents.intents.clear();
        let mut bound = big_state(3);
        bound.estate = Some(crate::Estate {
            management_account_id: "111111111111".into(),
            eks_ou_id: "ou-abcd-11111111".into(),
        });
        for state in [big_state(1), big_state(300), no_intents, empty, bound] {
            // The layout eksmgr writes, and the indented one of earlier versions.
            for text in [to_state_json(&state, 1).unwrap(), to_indented_json(&state)] {
                let text = String::from_utf8(text).unwrap();
                let general: RawState = serde_json::from_str(&text).unwrap();
                let general = general.into_state().unwrap();
                assert_eq!(general, state);
                for threads in [1, 2, 3, 8] {
                    let split = f
                        .parse_split(&text, threads)
                        .expect("the layout is eksmgr's");
                    assert_eq!(split.into_state().unwrap(), state, "{threads} threads");
                }
                assert_eq!(f.parse(&text).unwrap(), state);
            }
        }
    }

    #[test]
    fn a_file_in_eksmgrs_layout_read_a_chunk_at_a_time_reads_the_same() {
        let f = StateFile::new("s.json");
        let mut no_intents = big_state(60);
        no_intents.intents.clear();
        let mut empty = big_state(0);
        empty.intents.clear();
        for state in [big_state(60), no_intents, big_state(0), empty] {
            for mut text in [to_state_json(&state, 1).unwrap(), to_indented_json(&state)] {
                text.push(b'\n');
                // Chunks smaller than a record, a few records, and the whole file.
                for chunk in [256, 700, 5000, 1 << 20] {
                    for threads in [1, 2, 3] {
                        let raw = f
                            .read_layout_chunks(&mut text.as_slice(), threads, chunk)
                            .expect("the layout is eksmgr's");
                        assert_eq!(raw.into_state().unwrap(), state, "{chunk} {threads}");
                    }
                }
                // A file that is not whole (cut inside a record) is not taken.
                let cut = &text[..text.len() * 2 / 3];
                assert!(f.read_layout_chunks(&mut &cut[..], 2, 700).is_none());
            }
        }
        let state = big_state(60);
        for (text, victim) in [
            (to_state_json(&state, 1).unwrap(), "\"id\":\"r33\""),
            (to_indented_json(&state), "\"id\": \"r33\""),
        ] {
            let broken = String::from_utf8(text)
                .unwrap()
                .replacen(victim, "\"id\":7", 1);
            for chunk in [256, 700, 1 << 20] {
                assert!(
                    f.read_layout_chunks(&mut broken.as_bytes(), 2, chunk)
                        .is_none()
                );
            }
        }
    }

    #[test]
    fn a_large_state_file_loads_in_chunks_and_a_broken_one_is_placed() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path().join("big.json"));
        let mut state = big_state(CHUNK_BYTES / 200);
        f.save(&mut state).unwrap();
        assert!(fs::metadata(f.path()).unwrap().len() > CHUNK_BYTES as u64);
        assert_eq!(f.load().unwrap(), state);
        // A bad value late in the file: the general path reads it and places the error.
        let text = fs::read_to_string(f.path()).unwrap();
        let n = state.len();
        let target = format!("\"id\":\"r{}\"", n - 10);
        let at = text.find(&target).unwrap();
        fs::write(f.path(), text.replacen(&target, "\"id\":true", 1)).unwrap();
        match f.load() {
            Err(StateError::Parse { line, .. }) => {
                assert_eq!(line, text[..at].matches('\n').count() + 1);
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn other_layouts_and_broken_files_take_the_general_path() {
        let f = StateFile::new("s.json");
        let state = big_state(50);
        let compact = serde_json::to_string(&state).unwrap();
        assert!(f.parse_split(&compact, 2).is_none());
        assert_eq!(f.parse(&compact).unwrap(), state);
        // Four-space indentation: records do not start where eksmgr's layout has them.
        let mut wide = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        serde::Serialize::serialize(
            &state,
            &mut serde_json::Serializer::with_formatter(&mut wide, formatter),
        )
        .unwrap();
        let wide = String::from_utf8(wide).unwrap();
        assert!(f.parse_split(&wide, 2).is_none());
        assert_eq!(f.parse(&wide).unwrap(), state);
        // A record that does not parse, in any part: no split result, whatever the threads.
        let text = String::from_utf8(to_state_json(&state, 1).unwrap()).unwrap();
        for victim in ["\"id\":\"r3\"", "\"id\":\"r48\""] {
            let broken = text.replacen(victim, "\"id\":7", 1);
            for threads in [1, 2, 3] {
                assert!(f.parse_split(&broken, threads).is_none(), "{victim}");
            }
        }
    }

    #[test]
    fn a_large_state_parsed_in_parts_is_the_same_and_errors_keep_their_place() {
        let n = PARALLEL_RECORDS_MIN + 1000;
        let state = big_state(n);
        let text = String::from_utf8(to_state_json(&state, 1).unwrap()).unwrap();
        let f = StateFile::new("s.json");
        assert_eq!(f.parse(&text).unwrap(), state);

        // A bad value in a record near the end (parsed by the last part): the error is at the
        // value's line and column in the file, as a whole-file parse would say.
        let target = format!("\"id\":\"r{}\"", n - 10);
        let at = text.find(&target).unwrap();
        let broken = format!("{}\"id\":true{}", &text[..at], &text[at + target.len()..]);
        let line = text[..at].matches('\n').count() + 1;
        let column = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + "\"id\":true".len();
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
