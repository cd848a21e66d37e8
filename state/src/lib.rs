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
//! - [`StateError`]: every failure, with the path involved and what to do.

pub mod address;
pub mod error;
pub mod file;
pub mod journal;
pub mod lock;
pub mod record;
pub mod value;

pub use address::{AddressParseError, ResourceAddress};
pub use error::StateError;
pub use file::{StateFile, write_private_atomically};
pub use journal::{Intent, Journal, JournalEntry, Replayed};
pub use lock::{LockGuard, LockInfo, StateLock, check_lock_id, force_unlock};
pub use record::{Estate, ResourceRecord, STATE_FORMAT_VERSION, State};
