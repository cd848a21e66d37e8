//! Security guardrails, checked on the expanded blueprint before anything is planned, so that
//! `eksmgr validate`, `plan` and `apply` all refuse a configuration that breaks them:
//!
//! - [`scp`]: the deny SCP attached to the EKS OU must not block what eksmgr itself needs in the
//!   spokes (the StackSet execution role managing the spoke admin role, the hub agent assuming
//!   it, and the spoke admin role's own calls). Proven with the small policy evaluator of
//!   [`eval`]; a statement it cannot evaluate is an error unless its `Sid` is listed in
//!   `governance.scp.acknowledged_unverifiable_sids`.
//! - [`trust`]: no role eksmgr creates may be assumable by everyone, or by a whole other
//!   account without a narrowing condition, unless the configuration opts in with
//!   `allow_account_root_trust = true`.
//!
//! [`check`] returns errors (the blueprint refuses to expand) and warnings (shown with the
//! plan).

pub mod eval;
pub mod scp;
pub mod trust;

use crate::blueprint::Discovery;
use crate::config::Config;
use crate::model::DesiredResource;

/// What the guardrails found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Violations: nothing may be planned until they are fixed. Each names what is wrong and
    /// what to change.
    pub errors: Vec<String>,
    /// What a reviewer should know (deletions the SCP blocks, statements accepted unproven).
    pub warnings: Vec<String>,
}

/// Checks the planned `resources` of `config` against every guardrail.
pub fn check(config: &Config, d: &Discovery, resources: &[DesiredResource]) -> Findings {
    let mut findings = Findings::default();
    if config.governance.scp.enabled {
        scp::check(config, d, resources, &mut findings);
    }
    trust::check(config, d, resources, &mut findings);
    findings
}
