//! eksmgr state: the record of what eksmgr manages in AWS.
//!
//! This crate owns everything persisted between runs:
//!
//! - [`ResourceAddress`]: the stable name of a managed resource
//!   (`kind.name[account]` or `kind.name[account/region]`);
//! - [`ResourceRecord`] and [`State`]: what eksmgr last saw of each resource;
//! - [`StateFile`]: loading and atomically saving the state JSON file;
//! - [`Journal`]: the write-ahead journal an apply appends each step to, in O(1), with the
//!   [`Intent`] of every operation it starts;
//! - [`StateLock`] / [`LockGuard`]: the lock file that keeps two runs from
//!   changing the same state at once;
//! - [`Backend`]: the one interface to where the state is kept (lock, load, save, journal),
//!   with [`LocalBackend`] for a local file, the scoped lock of [`backend::locked`], and the
//!   [`conformance`] suite every backend passes;
//! - [`StateError`]: every failure, with the path involved and what to do.

pub mod address;
pub mod backend;
pub mod conformance;
pub mod error;
pub mod file;
pub mod journal;
pub mod local;
pub mod lock;
pub mod record;
pub mod value;

pub use address::{AddressParseError, AddressParts, ResourceAddress};
pub use backend::{
    Backend, HeldLock, InPlace, JournalSync, Loaded, LockHooks, NoHooks, OpenJournal, Shield,
    StateGuard,
};
pub use error::StateError;
pub use file::{StateFile, write_private_atomically};
pub use journal::{Intent, Journal, JournalEntry, Replayed};
pub use local::LocalBackend;
pub use lock::{LockGuard, LockInfo, StateLock, check_lock_id, force_unlock};
pub use record::{Estate, ResourceRecord, STATE_FORMAT_VERSION, State};
