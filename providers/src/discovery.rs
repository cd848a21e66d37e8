//! Discovery before planning: who the caller is (the management account and the partition),
//! and which accounts are spokes (the active accounts of the EKS OU, nested OUs included when
//! configured). Suspended or closed accounts are skipped and reported. When the configuration
//! grants cluster access, the IAM roles of the accounts its principals live in are listed (one
//! paginated `ListRoles` per account) so the blueprint can resolve patterns and check that
//! principals exist.

use std::collections::BTreeMap;

use aws_sdk_organizations::types::AccountStatus;
use aws_types::SdkConfig;
use eksmgr_engine::blueprint::{Discovery, SkippedAccount, SpokeAccount};
use eksmgr_engine::config::Config;
use eksmgr_engine::provider::ProviderError;
use futures::StreamExt;

use crate::AwsProvider;
use crate::caller::CallerOptions;
use crate::error::{Call, map};
use crate::sessions::{Sessions, SessionsConfig};

/// Loads the caller's configuration (as `caller` says: `--profile`, `--region`), discovers who
/// it is and the spokes, and builds the provider. No more than `parallelism` AWS calls of the
/// run are in flight at once ([`crate::limit`]).
pub async fn connect(
    config: &Config,
    parallelism: usize,
    caller: &CallerOptions,
) -> Result<(AwsProvider, Discovery), ProviderError> {
    let base = crate::limit::limit_calls(
        crate::caller::sdk_config(caller, &config.organization.home_region).await?,
        parallelism,
    );
    let configured = config
        .organization
        .management_account_id
        .as_ref()
        .map(|a| a.as_str());
    let mut discovery = discover(&base, configured).await?;
    let sessions = Sessions::new(base, SessionsConfig::from_config(config, &discovery));
    // The hub roles every spoke is reached through are assumed while the OU is listed.
    let (spokes, ()) = futures::join!(
        discover_spokes(&sessions, config, &mut discovery),
        sessions.warm_up()
    );
    spokes?;
    discover_versions(&sessions, config, &mut discovery).await;
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
    let who = who.map_err(|e| {
        map(
            Call::new(
                "of the caller",
                "the caller's identity",
                "sts:GetCallerIdentity",
            ),
            e,
        )
    })?;
    let account = who.account().unwrap_or_default().to_string();
    let partition = who
        .arn()
        .and_then(|a| a.split(':').nth(1))
        .unwrap_or("aws")
        .to_string();
    Ok(Discovery {
        caller_account_id: account.clone(),
        management_account_id: configured_management.map(str::to_string).unwrap_or(account),
        partition,
        ..Discovery::default()
    })
}

/// Lists the spoke accounts into `discovery`.
pub async fn discover_spokes(
    sessions: &Sessions,
    config: &Config,
    discovery: &mut Discovery,
) -> Result<(), ProviderError> {
    let spokes_cfg = &config.spokes;
    let mgmt = discovery.management_account_id.clone();
    let ou = config.organization.eks_ou_id.as_str().to_string();
    let mut found: BTreeMap<String, SpokeAccount> = BTreeMap::new();
    let mut skipped = Vec::new();
    let (org_id, path) = crate::organizations::ou_path(sessions, &mgmt, &ou).await?;
    discovery.organization_id = org_id;
    discovery.eks_ou_path = path;
    if spokes_cfg.discover {
        let mut ous = vec![ou];
        while let Some(parent) = ous.pop() {
            let accounts = crate::organizations::accounts_in(sessions, &mgmt, &parent).await?;
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
                let units = crate::organizations::units_in(sessions, &mgmt, &parent).await?;
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
    let roles = crate::iam::listed_roles(sessions, account).await?;
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
        match crate::eks::cluster_versions(sessions, &mgmt, region).await {
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
