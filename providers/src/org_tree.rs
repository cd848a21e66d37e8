//! The organization as `eksmgr init` shows it: the organization and its management account
//! (`DescribeOrganization`), the root (`ListRoots`), every OU under it
//! (`ListOrganizationalUnitsForParent`) and the accounts of the root and of each OU
//! (`ListAccountsForParent`), every listing read to its last page.
//!
//! Only reads, made with the caller's own credentials (the management account's, or a
//! delegated administrator's for AWS Organizations). Errors are [`ProviderError`]s naming the
//! account, the API call and what to do.

use std::collections::BTreeMap;

use aws_types::SdkConfig;
use eksmgr_engine::provider::{ErrorKind, ProviderError};
use futures::StreamExt;
use serde::Serialize;

use crate::caller::CallerIdentity;
use crate::error::{Call, code, map};
use crate::sessions::{Sessions, SessionsConfig};

/// How many OUs are listed at once (Organizations throttles each account at a few calls a
/// second; the SDK's retries absorb the rest).
const CONCURRENT_LISTINGS: usize = 4;

/// The organization: its OUs and accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrgTree {
    /// `o-...`.
    pub organization_id: String,
    /// The management account of the organization.
    pub management_account_id: String,
    /// Who read it.
    pub caller: CallerIdentity,
    /// The root, `r-...`.
    pub root_id: String,
    /// Every OU under the root, sorted by path.
    pub units: Vec<OrgUnit>,
    /// Every account, sorted by the path of its parent, then name and id.
    pub accounts: Vec<OrgAccount>,
}

/// An organizational unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrgUnit {
    /// `ou-...`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The root or the OU it is in.
    pub parent_id: String,
    /// The names from the root down, `/eks/prod`.
    pub path: String,
}

/// A member account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrgAccount {
    /// The 12-digit id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its email address.
    pub email: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE` ...
    pub status: String,
    /// The root or the OU it is in.
    pub parent_id: String,
}

impl OrgAccount {
    /// Whether the account is active (a suspended or closing one is never a spoke).
    pub fn is_active(&self) -> bool {
        self.status.is_empty() || self.status == "ACTIVE"
    }
}

impl OrgTree {
    /// The OU with this id.
    pub fn unit(&self, id: &str) -> Option<&OrgUnit> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The account with this id.
    pub fn account(&self, id: &str) -> Option<&OrgAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The path of the root (`/`) or of an OU.
    pub fn path_of(&self, parent_id: &str) -> &str {
        self.unit(parent_id).map_or("/", |u| u.path.as_str())
    }

    /// The accounts directly in the root or an OU.
    pub fn accounts_in(&self, parent_id: &str) -> impl Iterator<Item = &OrgAccount> {
        let parent_id = parent_id.to_string();
        self.accounts
            .iter()
            .filter(move |a| a.parent_id == parent_id)
    }

    /// The OUs nested under an OU, at any depth.
    pub fn nested_units(&self, ou_id: &str) -> Vec<&OrgUnit> {
        let mut out = Vec::new();
        let mut parents = vec![ou_id];
        while let Some(parent) = parents.pop() {
            for u in self.units.iter().filter(|u| u.parent_id == parent) {
                out.push(u);
                parents.push(&u.id);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// The accounts of an OU and of the OUs nested under it.
    pub fn accounts_under(&self, ou_id: &str) -> Vec<&OrgAccount> {
        let mut ids = vec![ou_id];
        ids.extend(self.nested_units(ou_id).iter().map(|u| u.id.as_str()));
        self.accounts
            .iter()
            .filter(|a| ids.contains(&a.parent_id.as_str()))
            .collect()
    }
}

/// Reads the organization with the caller's configuration `base`; `caller` is who
/// [`crate::caller::identity`] says the credentials are.
pub async fn read(base: &SdkConfig, caller: &CallerIdentity) -> Result<OrgTree, ProviderError> {
    let account = caller.account.as_str();
    let sessions = caller_sessions(base, caller);
    let c = crate::organizations::client(&sessions, account, None).await?;

    let org = c.describe_organization().send().await.map_err(|e| {
        let not_in_use = code(&e) == Some("AWSOrganizationsNotInUseException");
        let mut err = map(
            Call::new(account, "the organization", "organizations:DescribeOrganization"),
            e,
        );
        err.hint = Some(if not_in_use {
            format!(
                "account {account} is not in an AWS Organization: run eksmgr with credentials of your organization's management account (--profile NAME or AWS_PROFILE)"
            )
        } else {
            organizations_hint(&err, account)
        });
        err
    })?;
    let org = org.organization();
    let organization_id = org.and_then(|o| o.id()).unwrap_or_default().to_string();
    let management_account_id = org
        .and_then(|o| o.master_account_id())
        .unwrap_or_default()
        .to_string();

    let call = Call::new(account, "the organization", "organizations:ListRoots");
    let mut root_id = None;
    let mut pages = c.list_roots().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| with_hint(map(call, e), account))?;
        root_id = root_id.or_else(|| page.roots().iter().find_map(|r| r.id().map(str::to_string)));
    }
    let Some(root_id) = root_id else {
        return Err(call.error(
            ErrorKind::NotFound,
            "the organization has no root",
            Some("AWS Organizations answered without a root; run again, and check the organization in the AWS console"),
        ));
    };

    let mut units: BTreeMap<String, OrgUnit> = BTreeMap::new();
    let mut accounts = Vec::new();
    let mut parents = vec![root_id.clone()];
    while !parents.is_empty() {
        let listed: Vec<_> = futures::stream::iter(std::mem::take(&mut parents))
            .map(|parent| {
                let sessions = &sessions;
                async move {
                    let children = list_children(sessions, account, &parent).await;
                    (parent, children)
                }
            })
            .buffer_unordered(CONCURRENT_LISTINGS)
            .collect()
            .await;
        for (parent, children) in listed {
            let (ous, members) = children?;
            let parent_path = units
                .get(&parent)
                .map(|u| u.path.clone())
                .unwrap_or_default();
            for (id, name) in ous {
                parents.push(id.clone());
                let path = format!("{parent_path}/{name}");
                units.insert(
                    id.clone(),
                    OrgUnit {
                        id,
                        name,
                        parent_id: parent.clone(),
                        path,
                    },
                );
            }
            accounts.extend(members);
        }
    }

    let mut units: Vec<OrgUnit> = units.into_values().collect();
    units.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.id.cmp(&b.id)));
    let mut tree = OrgTree {
        organization_id,
        management_account_id,
        caller: caller.clone(),
        root_id,
        units,
        accounts: Vec::new(),
    };
    accounts.sort_by(|a: &OrgAccount, b: &OrgAccount| {
        tree.path_of(&a.parent_id)
            .cmp(tree.path_of(&b.parent_id))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    tree.accounts = accounts;
    Ok(tree)
}

/// The OUs (id, name) and the accounts directly in `parent`, every page of both listings.
async fn list_children(
    sessions: &Sessions,
    account: &str,
    parent: &str,
) -> Result<(Vec<(String, String)>, Vec<OrgAccount>), ProviderError> {
    let (units, members) = futures::try_join!(
        crate::organizations::units_in(sessions, account, parent),
        crate::organizations::accounts_in(sessions, account, parent)
    )
    .map_err(|e| with_hint(e, account))?;
    let ous = units
        .iter()
        .filter_map(|u| {
            Some((
                u.id()?.to_string(),
                u.name().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    let accounts = members
        .iter()
        .filter_map(|a| {
            Some(OrgAccount {
                id: a.id()?.to_string(),
                name: a.name().unwrap_or_default().to_string(),
                email: a.email().unwrap_or_default().to_string(),
                status: a
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                parent_id: parent.to_string(),
            })
        })
        .collect();
    Ok((ous, accounts))
}

/// The hint of an Organizations error: who may read the organization, when access was denied.
fn organizations_hint(err: &ProviderError, account: &str) -> String {
    match (err.kind, &err.hint) {
        (ErrorKind::AccessDenied, _) => format!(
            "the credentials of account {account} may not read the organization: run eksmgr with credentials of the management account, or of a delegated administrator for AWS Organizations, allowed organizations:Describe* and organizations:List* (--profile NAME or AWS_PROFILE)"
        ),
        (_, Some(h)) => h.clone(),
        (_, None) => {
            "run again; if it keeps failing, check the network, the region and AWS_ENDPOINT_URL"
                .to_string()
        }
    }
}

fn with_hint(mut err: ProviderError, account: &str) -> ProviderError {
    err.hint = Some(organizations_hint(&err, account));
    err
}

/// Sessions for the caller's own account only (no hub, no spokes): its clients get the run's
/// retries, timeouts and call counting.
fn caller_sessions(base: &SdkConfig, caller: &CallerIdentity) -> Sessions {
    let region = base
        .region()
        .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
    Sessions::new(
        base.clone(),
        SessionsConfig {
            management_account_id: caller.account.clone(),
            hub_account_id: caller.account.clone(),
            hub_access_role_name: String::new(),
            partition: caller.partition().to_string(),
            home_region: region,
            hub_agent_role_name: String::new(),
            spoke_role_name: String::new(),
            session_name: "eksmgr".to_string(),
            session_duration: std::time::Duration::from_secs(3600),
            delegated_admin: false,
            caller_is_hub_agent: false,
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tree() -> OrgTree {
        let unit = |id: &str, parent: &str, path: &str| OrgUnit {
            id: id.into(),
            name: path.rsplit('/').next().unwrap().into(),
            parent_id: parent.into(),
            path: path.into(),
        };
        let account = |id: &str, parent: &str| OrgAccount {
            id: id.into(),
            name: format!("a{id}"),
            email: String::new(),
            status: "ACTIVE".into(),
            parent_id: parent.into(),
        };
        OrgTree {
            root_id: "r-1".into(),
            units: vec![
                unit("ou-1", "r-1", "/eks"),
                unit("ou-2", "ou-1", "/eks/prod"),
                unit("ou-3", "ou-2", "/eks/prod/eu"),
                unit("ou-4", "r-1", "/shared"),
            ],
            accounts: vec![
                account("1", "r-1"),
                account("2", "ou-1"),
                account("3", "ou-3"),
                account("4", "ou-4"),
            ],
            ..OrgTree::default()
        }
    }

    #[test]
    fn nested_units_and_their_accounts_are_found_at_any_depth() {
        let t = tree();
        let nested: Vec<&str> = t
            .nested_units("ou-1")
            .iter()
            .map(|u| u.id.as_str())
            .collect();
        assert_eq!(nested, ["ou-2", "ou-3"]);
        let under: Vec<&str> = t
            .accounts_under("ou-1")
            .iter()
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(under, ["2", "3"]);
        assert_eq!(t.accounts_in("ou-1").count(), 1);
        assert_eq!(t.path_of("r-1"), "/");
        assert_eq!(t.path_of("ou-3"), "/eks/prod/eu");
    }
}
