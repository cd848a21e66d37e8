//! Discovery before planning: who the caller is (the management account and the partition),
//! and which accounts are spokes (the active accounts of the EKS OU, nested OUs included when
//! configured). Suspended or closed accounts are skipped and reported. When the configuration
//! grants cluster access, the IAM roles of the accounts its principals live in are listed (one
//! paginated `ListRoles` per account) so the blueprint can resolve patterns and check that
//! principals exist. When a cluster selects its subnets by tags, the subnets of each spoke
//! and region it is planned in are listed through the spoke's session.

use std::collections::BTreeMap;

use aws_sdk_organizations::types::AccountStatus;
use aws_types::SdkConfig;
use eksmgr_engine::blueprint::{Discovery, SkippedAccount, SpokeAccount};
use eksmgr_engine::config::Config;
use eksmgr_engine::provider::{ErrorKind, ProviderError};
use futures::StreamExt;

use crate::AwsProvider;
use crate::caller::CallerOptions;
use crate::sessions::{Sessions, SessionsConfig};

/// Why [`connect`] failed: the step that did, so that each is reported for what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The caller's AWS configuration could not be loaded, or STS could not say who the
    /// caller is (`sts:GetCallerIdentity`).
    #[error("cannot find out who the caller is: {0}")]
    Caller(ProviderError),
    /// The configured EKS OU (`organization.eks_ou_id`) is not an OU of the organization:
    /// Organizations answered that it found no such OU when eksmgr listed its parents or
    /// its accounts.
    #[error(
        "organizational unit {ou} (organization.eks_ou_id) is not in the organization: {error}"
    )]
    EksOuNotFound {
        /// The configured OU id.
        ou: String,
        /// The Organizations call and its answer.
        error: ProviderError,
    },
    /// The spoke accounts could not be listed for another reason (access denied, throttling
    /// that outlasted the retries, the network).
    #[error("cannot list the spoke accounts: {0}")]
    Spokes(ProviderError),
}

/// Why the spokes could not be listed.
#[derive(Debug)]
enum SpokesError {
    /// The configured EKS OU was not found.
    EksOuNotFound { ou: String, error: ProviderError },
    /// Anything else.
    Other(ProviderError),
}

impl SpokesError {
    /// `error`, from a call about the configured OU `ou`: a not-found answer means the OU is
    /// not there. Organizations answers `ChildNotFoundException` to `ListParents` and
    /// `ParentNotFoundException` to `ListAccountsForParent` and
    /// `ListOrganizationalUnitsForParent` for an id that names nothing
    /// (https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListParents.html,
    /// https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html);
    /// every such code is classified [`ErrorKind::NotFound`].
    fn about_ou(ou: &str, error: ProviderError) -> Self {
        if error.kind == ErrorKind::NotFound {
            SpokesError::EksOuNotFound {
                ou: ou.to_string(),
                error,
            }
        } else {
            SpokesError::Other(error)
        }
    }
}

impl From<SpokesError> for ConnectError {
    fn from(e: SpokesError) -> Self {
        match e {
            SpokesError::EksOuNotFound { ou, error } => ConnectError::EksOuNotFound { ou, error },
            SpokesError::Other(error) => ConnectError::Spokes(error),
        }
    }
}

impl From<SpokesError> for ProviderError {
    /// The error, with a hint naming `organization.eks_ou_id` when the OU was not found.
    fn from(e: SpokesError) -> Self {
        match e {
            SpokesError::EksOuNotFound { ou, mut error } => {
                error.hint = Some(eks_ou_hint(&ou));
                error
            }
            SpokesError::Other(error) => error,
        }
    }
}

/// What to do when the configured EKS OU is not in the organization.
pub const EKS_OU_FIX: &str = "set organization.eks_ou_id to the id of the OU of the EKS spoke accounts (`aws organizations list-roots`, then `aws organizations list-organizational-units-for-parent --parent-id ROOT_ID`, lists them; `eksmgr init` writes a configuration with it)";

/// The hint of an error saying the configured EKS OU `ou` is not in the organization.
pub fn eks_ou_hint(ou: &str) -> String {
    format!("organization.eks_ou_id ({ou}) names no OU of the caller's organization: {EKS_OU_FIX}")
}

/// Loads the caller's configuration and finds out who it is (one `GetCallerIdentity`), without
/// listing the organization: the sessions of commands that know their accounts already
/// (`eksmgr secrets` takes its clusters from the state).
pub async fn connect_sessions(
    config: &Config,
    parallelism: usize,
    caller: &CallerOptions,
) -> Result<(Sessions, Discovery), ConnectError> {
    let base = crate::limit::limit_calls(
        crate::caller::sdk_config(caller, &config.organization.home_region)
            .await
            .map_err(ConnectError::Caller)?,
        parallelism,
    );
    let configured = config
        .organization
        .management_account_id
        .as_ref()
        .map(|a| a.as_str());
    let discovery = discover(&base, configured)
        .await
        .map_err(ConnectError::Caller)?;
    let sessions = Sessions::new(base, SessionsConfig::from_config(config, &discovery));
    Ok((sessions, discovery))
}

/// Loads the caller's configuration (as `caller` says: `--profile`, `--region`), discovers who
/// it is and the spokes, and builds the provider. No more than `parallelism` AWS calls of the
/// run are in flight at once ([`crate::limit`]).
pub async fn connect(
    config: &Config,
    parallelism: usize,
    caller: &CallerOptions,
) -> Result<(AwsProvider, Discovery), ConnectError> {
    let (sessions, mut discovery) = connect_sessions(config, parallelism, caller).await?;
    // The hub roles every spoke is reached through are assumed while the OU is listed.
    let (spokes, ()) = futures::join!(
        spokes_of(&sessions, config, &mut discovery),
        sessions.warm_up()
    );
    spokes?;
    discover_versions(&sessions, config, &mut discovery).await;
    discover_addon_versions(&sessions, config, &mut discovery).await;
    discover_networks(
        &sessions,
        config,
        &mut discovery,
        parallelism.saturating_mul(2),
    )
    .await;
    // Twice as many accounts as calls: an account's listing waits for its role assumption
    // first, and the calls are capped at `parallelism` anyway.
    discover_principals(
        &sessions,
        config,
        &mut discovery,
        parallelism.saturating_mul(2),
    )
    .await;
    Ok((AwsProvider::new(sessions), discovery))
}

/// Asks STS who the caller is; the configured management account wins if given.
pub async fn discover(
    base: &SdkConfig,
    configured_management: Option<&str>,
) -> Result<Discovery, ProviderError> {
    let sts = aws_sdk_sts::Client::new(base);
    let who = sts.get_caller_identity().send().await;
    // Who the caller is, and so the account to count the call in, is what this call finds out.
    let caller = who
        .as_ref()
        .ok()
        .and_then(|w| w.account())
        .unwrap_or("unknown");
    crate::stats::global().called(caller, "sts", "GetCallerIdentity", who.is_ok());
    let who = match who {
        Ok(who) => who,
        Err(e) => return Err(crate::caller::explain(base, "of the caller", e).await),
    };
    let account = who.account().unwrap_or_default().to_string();
    let partition = who
        .arn()
        .and_then(|a| a.split(':').nth(1))
        .unwrap_or("aws")
        .to_string();
    Ok(Discovery {
        caller_arn: who.arn().unwrap_or_default().to_string(),
        caller_account_id: account.clone(),
        management_account_id: configured_management.map(str::to_string).unwrap_or(account),
        partition,
        ..Discovery::default()
    })
}

/// Lists the spoke accounts into `discovery`. When the configured EKS OU is not in the
/// organization, the error's hint says to set `organization.eks_ou_id`.
pub async fn discover_spokes(
    sessions: &Sessions,
    config: &Config,
    discovery: &mut Discovery,
) -> Result<(), ProviderError> {
    Ok(spokes_of(sessions, config, discovery).await?)
}

async fn spokes_of(
    sessions: &Sessions,
    config: &Config,
    discovery: &mut Discovery,
) -> Result<(), SpokesError> {
    let spokes_cfg = &config.spokes;
    let mgmt = discovery.management_account_id.clone();
    let ou = config.organization.eks_ou_id.as_str().to_string();
    let mut found: BTreeMap<String, SpokeAccount> = BTreeMap::new();
    let mut skipped = Vec::new();
    let (org_id, path) = crate::organizations::ou_path(sessions, &mgmt, &ou)
        .await
        .map_err(|e| SpokesError::about_ou(&ou, e))?;
    discovery.organization_id = org_id;
    discovery.eks_ou_path = path;
    if spokes_cfg.discover {
        let mut ous = vec![ou.clone()];
        // Errors about the configured OU tell it is not there; the nested OUs were listed.
        let about = |parent: &str, e: ProviderError| {
            if parent == ou {
                SpokesError::about_ou(&ou, e)
            } else {
                SpokesError::Other(e)
            }
        };
        while let Some(parent) = ous.pop() {
            let accounts = crate::organizations::accounts_in(sessions, &mgmt, &parent)
                .await
                .map_err(|e| about(&parent, e))?;
            for a in accounts.iter() {
                let id = a.id().unwrap_or_default().to_string();
                let name = a.name().unwrap_or_default().to_string();
                match a.status() {
                    Some(AccountStatus::Active) | None => {
                        found.insert(id.clone(), SpokeAccount { id, name });
                    }
                    Some(other) => skipped.push(SkippedAccount {
                        id,
                        name,
                        reason: format!("account status is {}", other.as_str()),
                    }),
                }
            }
            if spokes_cfg.include_nested_ous {
                let units = crate::organizations::units_in(sessions, &mgmt, &parent)
                    .await
                    .map_err(|e| about(&parent, e))?;
                ous.extend(units.iter().filter_map(|u| u.id().map(str::to_string)));
            }
        }
    }
    for a in &spokes_cfg.accounts {
        found
            .entry(a.as_str().to_string())
            .or_insert_with(|| SpokeAccount {
                id: a.as_str().to_string(),
                name: String::new(),
            });
    }
    for a in &spokes_cfg.exclude_accounts {
        if let Some(s) = found.remove(a.as_str()) {
            skipped.push(SkippedAccount {
                id: s.id,
                name: s.name,
                reason: "listed in spokes.exclude_accounts".into(),
            });
        }
    }
    // The hub and management accounts are never spokes, even when placed in the OU.
    for special in [mgmt.as_str(), config.hub.account_id.as_str()] {
        if let Some(s) = found.remove(special) {
            skipped.push(SkippedAccount {
                id: s.id,
                name: s.name,
                reason: "the management or hub account is never a spoke".into(),
            });
        }
    }
    discovery.spokes = found.into_values().collect();
    skipped.sort_by(|a, b| a.id.cmp(&b.id));
    discovery.skipped = skipped;
    Ok(())
}

/// Lists the IAM roles of the accounts whose principals the configuration names, up to
/// `parallelism` accounts at once. An account that cannot be listed (its spoke role not
/// deployed yet, access denied) is left out: the blueprint then reports its principals as
/// unresolved instead of guessing.
pub async fn discover_principals(
    sessions: &Sessions,
    config: &Config,
    discovery: &mut Discovery,
    parallelism: usize,
) {
    let accounts = eksmgr_engine::blueprint::principal_accounts(config, discovery);
    let lists: Vec<_> = futures::stream::iter(accounts)
        .map(|account| async move {
            let roles = list_roles(sessions, &account).await;
            // The listing stays for the plan's reads; the client is built again when needed.
            sessions.release_clients(&account);
            (account, roles)
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    for (account, roles) in lists {
        if let Ok(roles) = roles {
            discovery.iam_roles.insert(account, roles);
        }
    }
}

/// Every role ARN of an account, from the account's role listing (shared with the reads of
/// the plan that follows, so the roles are listed once per run).
pub async fn list_roles(sessions: &Sessions, account: &str) -> Result<Vec<String>, ProviderError> {
    let roles = crate::kinds::iam_role::listed_roles(sessions, account).await?;
    Ok(roles.iter().map(|r| r.arn().to_string()).collect())
}

/// Reads the Kubernetes versions EKS offers (`DescribeClusterVersions`, standard and extended
/// support) in each region clusters are planned in, with the caller's credentials; a region
/// that cannot be read is recorded with its error, and the plan says its versions were not
/// checked.
pub async fn discover_versions(sessions: &Sessions, config: &Config, discovery: &mut Discovery) {
    let mut regions: Vec<&str> = config
        .clusters
        .iter()
        .flat_map(|c| {
            std::iter::once(config.cluster_region(c))
                .chain(c.overrides.values().filter_map(|o| o.region.as_deref()))
        })
        .collect();
    regions.sort_unstable();
    regions.dedup();
    let mgmt = discovery.management_account_id.clone();
    for region in regions {
        match crate::kinds::eks_cluster::cluster_versions(sessions, &mgmt, region).await {
            Ok(versions) => {
                discovery
                    .kubernetes_versions
                    .insert(region.to_string(), versions);
            }
            Err(e) => {
                discovery
                    .kubernetes_versions_unread
                    .insert(region.to_string(), e.to_string());
            }
        }
    }
}

/// Lists the subnets (and VPCs) of the accounts and regions whose clusters select subnets by
/// tags, through each spoke's session, up to `parallelism` at once; one that cannot be read
/// (the spoke admin role not there yet, access denied) is recorded with its error, and the
/// blueprint skips the account saying so.
pub async fn discover_networks(
    sessions: &Sessions,
    config: &Config,
    discovery: &mut Discovery,
    parallelism: usize,
) {
    let reads = eksmgr_engine::blueprint::network_reads(config, discovery);
    let found: Vec<_> = futures::stream::iter(reads)
        .map(|r| async move {
            let network = crate::network::read(sessions, &r.account, &r.region, r.vpcs).await;
            ((r.account, r.region), network.map_err(|e| e.to_string()))
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    discovery.networks.extend(found);
}

/// Reads the add-on versions EKS offers (`DescribeAddonVersions`) for each region and
/// Kubernetes version clusters are planned with, with the caller's credentials; a pair that
/// cannot be read is recorded with its error, and the plan says its add-on versions were left
/// to EKS.
pub async fn discover_addon_versions(
    sessions: &Sessions,
    config: &Config,
    discovery: &mut Discovery,
) {
    let mut pairs: Vec<(String, String)> = config
        .clusters
        .iter()
        .flat_map(|c| {
            let region = config.cluster_region(c);
            std::iter::once((region.to_string(), c.version.clone())).chain(
                c.overrides.values().map(move |o| {
                    (
                        o.region.as_deref().unwrap_or(region).to_string(),
                        o.version.clone().unwrap_or_else(|| c.version.clone()),
                    )
                }),
            )
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mgmt = discovery.management_account_id.clone();
    for (region, version) in pairs {
        match crate::kinds::eks_addon::addon_versions(sessions, &mgmt, &region, &version).await {
            Ok(list) => {
                discovery.addon_versions.insert((region, version), list);
            }
            Err(e) => {
                discovery
                    .addon_versions_unread
                    .insert((region, version), e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: ErrorKind, code: &str) -> ProviderError {
        ProviderError {
            account: "111111111111".into(),
            resource: "organizational unit ou-zzzz-zzzzzzzz".into(),
            api_call: "organizations:ListParents".into(),
            message: format!("{code}: no such OU"),
            hint: None,
            kind,
        }
    }

    #[test]
    fn a_configured_ou_that_is_not_found_is_told_apart() {
        let e = SpokesError::about_ou(
            "ou-zzzz-zzzzzzzz",
            error(ErrorKind::NotFound, "ChildNotFoundException"),
        );
        let connect = ConnectError::from(e);
        assert!(
            matches!(&connect, ConnectError::EksOuNotFound { ou, error }
                if ou == "ou-zzzz-zzzzzzzz" && error.api_call == "organizations:ListParents"),
            "{connect:?}"
        );
        assert!(
            !connect.to_string().contains("who the caller is"),
            "{connect}"
        );
        // whoami gets the error with a hint naming the setting.
        let e = SpokesError::about_ou(
            "ou-zzzz-zzzzzzzz",
            error(ErrorKind::NotFound, "ChildNotFoundException"),
        );
        let hint = ProviderError::from(e).hint.unwrap_or_default();
        assert!(
            hint.contains("organization.eks_ou_id (ou-zzzz-zzzzzzzz)")
                && hint.contains("eksmgr init"),
            "{hint}"
        );
    }

    #[test]
    fn other_failures_to_list_the_ou_stay_what_they_are() {
        let denied = error(ErrorKind::AccessDenied, "AccessDeniedException");
        let e = SpokesError::about_ou("ou-zzzz-zzzzzzzz", denied.clone());
        assert_eq!(ConnectError::from(e), ConnectError::Spokes(denied.clone()));
        let e = SpokesError::about_ou("ou-zzzz-zzzzzzzz", denied.clone());
        assert_eq!(ProviderError::from(e), denied);
    }
}
