//! The error type of the state crate.
//!
//! Every variant names the file involved, and the messages say what to do
//! about the problem where there is something to do.

use std::io;
use std::path::PathBuf;

use chrono::SecondsFormat;

use crate::lock::LockInfo;

/// Everything that can go wrong loading, saving or locking state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A filesystem operation failed.
    #[error("could not {op} `{}`: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What was being done, e.g. `read state file`.
        op: &'static str,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// The state file is not valid JSON or not shaped like a state file.
    #[error(
        "could not parse state file `{}` at line {line}, column {column}: {message}; \
         fix the file by hand or restore it from a backup",
        path.display()
    )]
    Parse {
        /// The state file.
        path: PathBuf,
        /// 1-based line of the error (0 if unknown).
        line: usize,
        /// 1-based column of the error (0 at the very start or if unknown).
        column: usize,
        /// What the parser expected.
        message: String,
    },

    /// The state file was written in a format this eksmgr cannot read.
    #[error(
        "state file `{}` uses format version {found}, but this eksmgr only understands \
         version {supported}; use the eksmgr release that wrote it, or upgrade eksmgr",
        path.display()
    )]
    UnsupportedVersion {
        /// The state file.
        path: PathBuf,
        /// The `format_version` found in the file.
        found: u32,
        /// The version this crate reads and writes.
        supported: u32,
    },

    /// The state file lists the same resource address twice.
    #[error(
        "state file `{}` lists resource `{address}` more than once; remove the duplicate \
         entry by hand or restore the file from a backup",
        path.display()
    )]
    DuplicateAddress {
        /// The state file.
        path: PathBuf,
        /// The repeated address, as written in the file.
        address: String,
    },

    /// The journal beside the state file is damaged somewhere other than its last line.
    #[error(
        "could not replay journal `{}` at line {line}: {message}; the state file beside it \
         holds every step before the last compaction: move the journal away to fall back to \
         it, then run `eksmgr plan` (resources created since are adopted by name)",
        path.display()
    )]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// 1-based line of the damaged entry.
        line: usize,
        /// What is wrong with it.
        message: String,
    },

    /// A file belongs to another state (its lineage differs).
    #[error(
        "`{}` belongs to another state (lineage {found}, but the state is lineage {expected}); \
         it was made for a different state file: use that one, or remove this file",
        path.display()
    )]
    LineageMismatch {
        /// The file of the other lineage.
        path: PathBuf,
        /// The state's lineage.
        expected: String,
        /// The lineage found in the file.
        found: String,
    },

    /// Another run holds the state lock.
    #[error("{}", locked_message(path, holder, *stale))]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds the lock (fields are `unknown` if the lock file is unreadable).
        holder: Box<LockInfo>,
        /// The holder ran on this host and its process no longer exists.
        stale: bool,
    },

    /// `force_unlock` was asked to remove a lock that does not exist.
    #[error("state is not locked: there is no lock file `{}`; nothing to unlock", path.display())]
    NotLocked {
        /// The lock file that was expected.
        path: PathBuf,
    },

    /// `force_unlock` was given an id that is not the current lock's id.
    #[error(
        "lock id `{given}` does not match the lock in `{}` ({expected_hint}); \
         copy the lock id from the \"state is locked\" message and try again",
        path.display()
    )]
    LockIdMismatch {
        /// The lock file.
        path: PathBuf,
        /// A hint about the id that would match (or why none can).
        expected_hint: String,
        /// The id that was given.
        given: String,
    },

    /// Saving was refused: the state in place is another lineage's, or newer than the state
    /// being saved.
    #[error("refusing to save the state to `{}`: {reason}; nothing was written", path.display())]
    SaveRefused {
        /// Where the state is kept (a path, or `s3://BUCKET/KEY`).
        path: PathBuf,
        /// What is in place, and what to do.
        reason: String,
    },

    /// The state in a remote store was changed by another run since this one read it.
    #[error(
        "the state in `{}` was changed by another run since this one read it (was its lock \
         removed with `eksmgr unlock`?): it was not overwritten. {rescue}",
        path.display()
    )]
    Conflict {
        /// Where the state is kept (`s3://BUCKET/KEY`).
        path: PathBuf,
        /// Where this run's state was kept instead, and how to upload it.
        rescue: String,
    },

    /// A call to a remote store (S3) failed; the source names the call, the object and what
    /// to do.
    #[error("{source}")]
    Remote {
        /// The object involved (`s3://BUCKET/KEY...`).
        path: PathBuf,
        /// The underlying error (with its hint).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The state downloaded from a remote store to a private working copy cannot be used.
    #[error(
        "the state in `{}` (downloaded to a private working copy) cannot be loaded: {source}",
        path.display()
    )]
    Downloaded {
        /// Where the state is kept (`s3://BUCKET/KEY`).
        path: PathBuf,
        /// What is wrong with the copy.
        #[source]
        source: Box<StateError>,
    },
}

fn locked_message(path: &std::path::Path, holder: &LockInfo, stale: bool) -> String {
    if holder.is_unknown() {
        return format!(
            "state is locked, but the lock file `{}` could not be read; if no other eksmgr \
             run is active, delete that file and try again",
            path.display()
        );
    }
    let since = holder.created.to_rfc3339_opts(SecondsFormat::Secs, true);
    let who = format!(
        "state is locked by `{}` (pid {} on host {}, user {}) since {}, lock id {}",
        holder.command, holder.pid, holder.host, holder.user, since, holder.id
    );
    if stale {
        format!(
            "{who} (the process is no longer running: the lock is stale); run \
             `eksmgr unlock {}` to remove it (lock file `{}`)",
            holder.id,
            path.display()
        )
    } else {
        format!(
            "{who}; wait for it to finish, or if that run is gone, run `eksmgr unlock {}` \
             (lock file `{}`)",
            holder.id,
            path.display()
        )
    }
}
