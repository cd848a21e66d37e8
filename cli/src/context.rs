//! Shared steps of the commands: load and validate the configuration, locate state, build the
//! AWS provider from the caller's credentials, and plan.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use eksmgr_engine::blueprint::{self, Blueprint, Discovery};
use eksmgr_engine::config::{self, Config};
use eksmgr_engine::plan::{Plan, PlanIdentity, PlanOptions, Planner};
use eksmgr_engine::refresh::{Observations, refresh};
use eksmgr_engine::schedule::Limits;
use eksmgr_engine::target;
use eksmgr_providers::AwsProvider;
use eksmgr_state::{ResourceAddress, State, StateFile};

use crate::cli::OptIns;

/// A loaded configuration and where it came from.
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// sha256 of the file.
    pub digest: String,
    /// The state file.
    pub state_file: StateFile,
}

/// Loads and validates the configuration; errors are rendered with file:line:column.
pub fn load(config_path: &Path, state: Option<&Path>) -> Result<Loaded> {
    let config = config::load(config_path)?;
    let bytes = std::fs::read(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let digest = eksmgr_engine::digest(&bytes);
    let state_path = match state {
        Some(p) => p.to_path_buf(),
        None => config_path
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."))
            .join("eksmgr.state.json"),
    };
    Ok(Loaded {
        config,
        digest,
        state_file: StateFile::new(state_path),
    })
}

/// Connects to AWS, discovers the caller and expands the desired resources.
pub async fn prepare(
    config: &Config,
    parallelism: usize,
) -> Result<(AwsProvider, Discovery, Blueprint)> {
    let (provider, discovery) = eksmgr_providers::connect(config, parallelism)
        .await
        .context("cannot find out who the caller is")?;
    let desired = blueprint::expand(config, &discovery)?;
    Ok((provider, discovery, desired))
}

/// Refreshes and plans.
pub async fn plan(
    loaded: &Loaded,
    state: &State,
    limits: Limits,
    destroy: bool,
    opt_ins: OptIns,
    targets: &[String],
) -> Result<Planned> {
    let (provider, discovery, desired) = prepare(&loaded.config, limits.total).await?;
    let targets = targets
        .iter()
        .map(|t| {
            t.parse::<ResourceAddress>()
                .map_err(|e| anyhow::anyhow!("--target {t}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let narrowed = if targets.is_empty() {
        None
    } else {
        let wanted: &[_] = if destroy { &[] } else { &desired.resources };
        Some(target::narrow(wanted, state, &targets, destroy)?)
    };
    let (resources, state) = match &narrowed {
        Some(t) => (t.desired.as_slice(), &t.state),
        None => (desired.resources.as_slice(), state),
    };
    // Twice as many reads as `--parallelism`: a read waiting for an account-wide listing, or
    // between two of its calls, holds no call, and the calls themselves are capped at
    // `--parallelism` where they are sent (`eksmgr_providers::limit`), so the extra reads keep
    // every call slot busy without ever going past it.
    let reads = Limits::new(limits.total.saturating_mul(2), limits.per_account);
    let observed = refresh(&provider, resources, state, reads).await;
    let mut plan = Planner::plan(
        resources,
        state,
        &observed,
        &PlanOptions {
            config_digest: loaded.digest.clone(),
            destroy,
            allow_key_deletion: opt_ins.allow_key_deletion,
            allow_account_removal: opt_ins.allow_account_removal || destroy,
        },
    )?;
    let spokes: Vec<String> = discovery
        .spokes
        .iter()
        .map(|s| {
            if s.name.is_empty() {
                s.id.clone()
            } else {
                format!("{} ({})", s.id, s.name)
            }
        })
        .collect();
    eprintln!(
        "Spokes: {} account(s) in {}{}{}",
        spokes.len(),
        loaded.config.organization.eks_ou_id.as_str(),
        if spokes.is_empty() { "" } else { ": " },
        spokes.join(", ")
    );
    if let Some(t) = &narrowed {
        plan.warnings.push(format!(
            "resource targeting is in effect: only {} of the estate's resources were planned ({} named with --target and what they need); a full plan may show more changes",
            t.addresses.len(),
            targets.len()
        ));
    }
    plan.problems = desired.problems;
    plan.warnings.extend(desired.warnings);
    for a in &discovery.skipped {
        plan.warnings.push(format!(
            "account {} ({}) of the EKS OU is not a spoke this run: {}",
            a.id, a.name, a.reason
        ));
    }
    Ok(Planned {
        plan,
        provider,
        identity: identity(&loaded.config, &discovery),
        observed,
    })
}

/// A plan and what it was made with.
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// The provider, for apply.
    pub provider: AwsProvider,
    /// Who eksmgr runs as.
    pub identity: PlanIdentity,
    /// What was read (for `--refresh-only`).
    pub observed: Observations,
}

/// Who eksmgr runs as, for saved plans.
pub fn identity(config: &Config, discovery: &Discovery) -> PlanIdentity {
    PlanIdentity {
        management_account_id: discovery.management_account_id.clone(),
        partition: discovery.partition.clone(),
        hub_account_id: config.hub.account_id.as_str().to_string(),
    }
}
