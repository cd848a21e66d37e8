//! eksmgr-engine: everything eksmgr decides, with no AWS SDK and no printing.
//!
//! The pipeline is `config` (load and validate `eksmgr.toml`) -> `blueprint` (expand it, with
//! what discovery found, into [`model::DesiredResource`]s) -> `graph` (the dependency DAG) ->
//! `refresh` (ask a [`provider::Provider`] what exists) -> `plan` (a pure, synchronous diff of
//! desired, state and observed) -> `apply` (an [`apply::Executor`] that walks the plan's graph
//! with bounded concurrency and reports [`apply::ApplyEvent`]s instead of printing).
//! [`guardrails`] checks the expanded blueprint (the deny SCP against what eksmgr needs, the
//! trust policies of the roles it creates) before anything is planned. [`synthetic`] generates
//! estates of any size, with an in-memory cloud, for benchmarks and scale tests.

pub mod agent;
pub mod annotation;
pub mod apply;
pub mod blueprint;
pub mod config;
pub mod diff;
pub mod graph;
pub mod guardrails;
pub mod import;
pub mod kinds;
pub mod model;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod refresh;
pub mod risk;
pub mod rules;
pub mod schedule;
pub mod schema;
pub mod secrets;
pub mod skip;
pub mod sorted_map;
pub mod synthetic;
pub mod target;

pub use eksmgr_state as state;

/// sha256 of a configuration file, hex: ties a saved plan to the configuration it came from.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
