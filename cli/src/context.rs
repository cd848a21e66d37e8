//! Shared steps of the commands: load and validate the configuration, locate state, build the
//! AWS provider from the caller's credentials, and plan.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use eksmgr_engine::blueprint::{self, Blueprint, Discovery};
use eksmgr_engine::config::{self, Config};
use eksmgr_engine::model::ResourceKind;
use eksmgr_engine::plan::{Plan, PlanIdentity, PlanOptions, Planner, SkipCause, SkippedSpoke};
use eksmgr_engine::refresh::{Observations, refresh_with_progress};
use eksmgr_engine::schedule::Limits;
use eksmgr_engine::{skip, target};
use eksmgr_providers::{AwsProvider, CallerOptions, ConnectError};
use eksmgr_state::{Estate, ResourceAddress, State};

use crate::cli::{Cli, OptIns};
use crate::store::Store;

/// A loaded configuration and where it came from.
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file it was read from.
    pub path: PathBuf,
    /// sha256 of the file.
    pub digest: String,
    /// Where the state is kept.
    pub store: Store,
    /// `--rebind-state`: a state of another estate may be used (and is bound to this one).
    pub rebind_state: bool,
}

/// Loads and validates the configuration; errors are rendered with file:line:column, and the
/// warnings of a valid configuration (a region newer than this build) are printed on stderr
/// the same way.
pub fn load(cli: &Cli) -> Result<Loaded> {
    let config_path = cli.config.as_path();
    let (config, warnings) = config::load_with_warnings(config_path)?;
    for w in &warnings {
        crate::progress::output().println(w.render_warning());
    }
    let bytes = std::fs::read(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let digest = eksmgr_engine::digest(&bytes);
    let store = Store::open(&config, config_path, cli.state.as_deref(), cli.caller())?;
    Ok(Loaded {
        config,
        path: config_path.to_path_buf(),
        digest,
        store,
        rebind_state: cli.rebind_state,
    })
}

/// The estate this configuration and these credentials manage.
pub fn estate(config: &Config, discovery: &Discovery) -> Estate {
    Estate {
        management_account_id: discovery.management_account_id.clone(),
        eks_ou_id: config.organization.eks_ou_id.as_str().to_string(),
    }
}

/// Refuses a state bound to another estate than `estate`, unless `--rebind-state` is given:
/// planned against this estate, its records would all read as deleted outside eksmgr and
/// this estate's resources as new.
pub fn check_estate(loaded: &Loaded, state: &State, estate: &Estate) -> Result<()> {
    match &state.estate {
        Some(bound) if bound != estate && !loaded.rebind_state => anyhow::bail!(
            "the state {} belongs to another estate: it was applied to {bound}, and {} with these credentials manages {estate} (organization.eks_ou_id). Used here, its resources would read as deleted and this estate's as new, so nothing was planned or changed. Use this estate's state (--state, or [state] in the configuration); if the estate really moved, run again with --rebind-state, and the next apply binds the state to it",
            loaded.store.describe(),
            loaded.path.display()
        ),
        _ => Ok(()),
    }
}

/// Connects to AWS and discovers the caller and the spokes. An EKS OU the organization does
/// not have is reported at `organization.eks_ou_id` in the configuration file
/// (`file:line:column`), with the Organizations call that said so.
pub async fn connect(
    loaded: &Loaded,
    parallelism: usize,
    caller: &CallerOptions,
) -> Result<(AwsProvider, Discovery)> {
    eksmgr_providers::connect(&loaded.config, parallelism, caller)
        .await
        .map_err(|e| match e {
            ConnectError::EksOuNotFound { ou, error } => {
                let message = format!(
                    "organizational unit {ou} is not in the organization of management account {} ({} answered {}): {}",
                    error.account,
                    error.api_call,
                    error.message,
                    eksmgr_providers::discovery::EKS_OU_FIX
                );
                anyhow::Error::new(config::ConfigErrors::from(config::error_at(
                    &loaded.path,
                    &["organization", "eks_ou_id"],
                    message,
                )))
            }
            other => anyhow::Error::new(other),
        })
}

/// Connects to AWS, discovers the caller and expands the desired resources.
pub async fn prepare(
    loaded: &Loaded,
    parallelism: usize,
    caller: &CallerOptions,
) -> Result<(AwsProvider, Discovery, Blueprint)> {
    let (provider, discovery) = connect(loaded, parallelism, caller).await?;
    let desired = blueprint::expand(&loaded.config, &discovery)?;
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
    caller: &CallerOptions,
) -> Result<Planned> {
    let out = crate::progress::output();
    let discovering = out.spinner("Discovering the accounts of the estate");
    let (provider, discovery, mut desired) = prepare(loaded, limits.total, caller).await?;
    drop(discovering);
    // Accounts the blueprint could not plan are left out; what eksmgr recorded there is not
    // planned (neither read nor deleted) until they are planned again.
    let recorded = skip::recorded_accounts(state);
    let mut skipped = std::mem::take(&mut desired.skipped);
    skip::mark_waiting(&mut skipped, &recorded);
    let skipped_ids: BTreeSet<String> = skipped.iter().map(|s| s.account.clone()).collect();
    let kept;
    let state: &State = if skipped_ids.is_empty() {
        state
    } else {
        kept = skip::without_accounts(state, &skipped_ids);
        &kept
    };
    let estate = estate(&loaded.config, &discovery);
    check_estate(loaded, state, &estate)?;
    tracing::info!(
        "management account {}, {} spoke(s), {} resource(s) desired",
        discovery.management_account_id,
        discovery.spokes.len(),
        desired.resources.len()
    );
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
    let (refreshing, started) = (out.refresh(), std::time::Instant::now());
    let observed = refresh_with_progress(&provider, resources, state, reads, &mut |p| {
        refreshing.refreshed(p);
    })
    .await;
    drop(refreshing);
    tracing::info!(
        "read {} resource(s) in {:.1?}",
        observed.len(),
        started.elapsed()
    );
    // A spoke whose admin role could not be assumed is skipped with the reason, unless it is
    // new and the StackSet that deploys its role is created by this very plan (its resources
    // then wait for it).
    let stackset_recorded = state
        .resources
        .keys()
        .any(|a| a.kind == ResourceKind::StackSetInstances.as_str());
    let mut late = Vec::new();
    for spoke in &discovery.spokes {
        if skipped_ids.contains(&spoke.id) {
            continue;
        }
        let Some(e) = provider.sessions().own_role_failure(&spoke.id).await else {
            continue;
        };
        let known = recorded.contains(&spoke.id);
        if !known && !stackset_recorded {
            continue;
        }
        late.push(SkippedSpoke {
            account: spoke.id.clone(),
            name: spoke.name.clone(),
            cause: SkipCause::Unreachable,
            reason: e.to_string(),
            fix: skip::unreachable_fix(loaded.config.spoke_admin_role_name()),
            waiting: !known,
        });
    }
    let late_ids: BTreeSet<String> = late.iter().map(|s| s.account.clone()).collect();
    let (late_resources, late_state);
    let (resources, state) = if late_ids.is_empty() {
        (resources, state)
    } else {
        let mut r = resources.to_vec();
        blueprint::drop_accounts(&mut r, &late_ids, loaded.config.hub.account_id.as_str());
        late_resources = r;
        late_state = skip::without_accounts(state, &late_ids);
        (late_resources.as_slice(), &late_state)
    };
    skipped.extend(late);
    skipped.sort_by(|a, b| a.account.cmp(&b.account));
    let mut plan = Planner::plan(
        resources,
        state,
        &observed,
        &PlanOptions {
            config_digest: loaded.digest.clone(),
            destroy,
            allow_key_deletion: opt_ins.allow_key_deletion,
            allow_account_removal: opt_ins.allow_account_removal || destroy,
            key_deletion_denied_by: loaded.config.key_deletion_denied_by().map(str::to_string),
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
    out.info(format_args!(
        "Spokes: {} account(s) in {}{}{}",
        spokes.len(),
        loaded.config.organization.eks_ou_id.as_str(),
        if spokes.is_empty() { "" } else { ": " },
        spokes.join(", ")
    ));
    if let Some(t) = &narrowed {
        plan.warnings.push(format!(
            "resource targeting is in effect: only {} of the estate's resources were planned ({} named with --target and what they need); a full plan may show more changes",
            t.addresses.len(),
            targets.len()
        ));
    }
    plan.problems = desired.problems;
    plan.skipped_accounts = skipped;
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
        estate,
        spokes: discovery.spokes.len(),
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
    /// The estate planned, which an apply binds the state to.
    pub estate: Estate,
    /// The spoke accounts discovered (skipped ones included).
    pub spokes: usize,
}

/// Who eksmgr runs as, for saved plans.
pub fn identity(config: &Config, discovery: &Discovery) -> PlanIdentity {
    PlanIdentity {
        management_account_id: discovery.management_account_id.clone(),
        partition: discovery.partition.clone(),
        hub_account_id: config.hub.account_id.as_str().to_string(),
    }
}
