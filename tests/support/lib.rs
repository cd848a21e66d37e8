//! End-to-end test support for eksmgr: a moto emulator per test, a seeded organization,
//! the environment a child `eksmgr` needs to talk to the emulator, AWS SDK configs for
//! checking the emulator's state from tests (never through eksmgr's own state), and a
//! runner for the compiled `eksmgr` binary.
//!
//! Typical use:
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use eksmgr_e2e::{Eksmgr, MotoServer};
//! let moto = MotoServer::start()?;
//! let seed = moto.seed(2)?;
//! let workdir = tempfile::tempdir().map_err(|e| e.to_string())?;
//! let eksmgr = Eksmgr::new(workdir.path(), moto.endpoint())?;
//! eksmgr.write_config("# ...")?;
//! let out = eksmgr.run(&["plan", "--detailed-exitcode"])?;
//! assert_eq!(out.code, Some(2), "{out}");
//! let member = eksmgr_e2e::assume(moto.endpoint(), &seed.spoke_account_ids[0], "EKSManagerAdmin").await?;
//! # let _ = member; Ok(()) }
//! ```
//!
//! Every fallible function returns `Result<_, String>` whose message says what failed and,
//! where it helps, what to run to fix it.

mod aws;
pub mod check;
mod env;
pub mod estate;
pub mod example;
pub mod kube;
mod moto;
mod paths;
pub mod proxy;
mod runner;
pub mod schema;
pub mod synthetic;

pub use aws::{REGION, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, assume, sdk_config};
pub use env::env_for;
pub use moto::{MotoServer, Seed, Spoke, free_port};
pub use paths::{eksmgr_binary, repo_root};
pub use runner::{Eksmgr, Output, Running};

/// What a test returns: `Err` with a message saying what failed.
pub type R<T = ()> = Result<T, String>;
