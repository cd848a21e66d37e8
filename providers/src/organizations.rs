//! AWS Organizations, what its kinds (`kinds::org_policy`, `kinds::org_policy_attachment`,
//! `kinds::org_policy_type`) and discovery share: the client of the management account, and
//! the organization's tree (the accounts and OUs under a parent, an account's parents, an OU's
//! path).

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_organizations::types::{Account, OrganizationalUnit};
use eksmgr_engine::provider::ProviderError;

use crate::error::{Call, map};
use crate::sessions::Sessions;

crate::service_client!(aws_sdk_organizations, "organizations");

/// The accounts directly in an OU or the root (`ListAccountsForParent`, all pages), listed
/// once per run and shared: discovery finds the spokes with it, the stack-instance read maps
/// accounts back to their OU with it, and `eksmgr init` reads the organization with it.
pub(crate) async fn accounts_in(
    s: &Sessions,
    management: &str,
    parent: &str,
) -> Result<Arc<Vec<Account>>, ProviderError> {
    s.shared_read(
        management,
        &format!("organizations:ListAccountsForParent:{parent}"),
        move || async move {
            let c = client(s, management, None).await?;
            let resource = parent_resource(parent);
            let call = Call::new(management, &resource, "organizations:ListAccountsForParent");
            let mut out = Vec::new();
            let mut pages = c
                .list_accounts_for_parent()
                .parent_id(parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| map(call, e))?;
                out.extend(page.accounts().iter().cloned());
            }
            Ok(out)
        },
    )
    .await
}

/// The OUs directly in an OU or the root (`ListOrganizationalUnitsForParent`, all pages).
pub(crate) async fn units_in(
    s: &Sessions,
    management: &str,
    parent: &str,
) -> Result<Vec<OrganizationalUnit>, ProviderError> {
    let c = client(s, management, None).await?;
    let resource = parent_resource(parent);
    let call = Call::new(
        management,
        &resource,
        "organizations:ListOrganizationalUnitsForParent",
    );
    let mut out = Vec::new();
    let mut pages = c
        .list_organizational_units_for_parent()
        .parent_id(parent)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map(call, e))?;
        out.extend(page.organizational_units().iter().cloned());
    }
    Ok(out)
}

/// An OU or the root, for error messages.
fn parent_resource(parent: &str) -> String {
    if parent.starts_with("r-") {
        format!("the organization root {parent}")
    } else {
        format!("organizational unit {parent}")
    }
}

/// The OUs among `candidates` that hold at least one of `accounts`, plus the parent of each
/// account in none of them, for services that report accounts but not OUs. The candidates'
/// listings are the ones discovery made, so usually no call is needed.
pub(crate) async fn parents(
    s: &Sessions,
    call: Call<'_>,
    management: &str,
    candidates: &BTreeSet<String>,
    accounts: &BTreeSet<String>,
) -> Result<BTreeSet<String>, ProviderError> {
    let mut out = BTreeSet::new();
    let mut placed = BTreeSet::new();
    for ou in candidates {
        let members = accounts_in(s, management, ou).await?;
        for a in members.iter().filter_map(Account::id) {
            if accounts.contains(a) {
                out.insert(ou.clone());
                placed.insert(a.to_string());
            }
        }
    }
    let c = client(s, management, None).await?;
    for account in accounts.iter().filter(|a| !placed.contains(*a)) {
        let page = c
            .list_parents()
            .child_id(account)
            .send()
            .await
            .map_err(|e| {
                map(
                    Call {
                        api: "organizations:ListParents",
                        ..call
                    },
                    e,
                )
            })?;
        out.extend(
            page.parents()
                .iter()
                .filter_map(|p| p.id().map(str::to_string)),
        );
    }
    Ok(out)
}

/// The organization's id and the path of an OU in it, as IAM's `aws:PrincipalOrgPaths` and
/// `aws:ResourceOrgPaths` give it: `o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/` (the root, then every
/// OU down to `ou`, each followed by `/`), from `DescribeOrganization` and one `ListParents` per
/// level above the OU.
///
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgpaths>
pub(crate) async fn ou_path(
    s: &Sessions,
    management: &str,
    ou: &str,
) -> Result<(String, String), ProviderError> {
    let c = client(s, management, None).await?;
    let resource = parent_resource(ou);
    let org = c.describe_organization().send().await.map_err(|e| {
        map(
            Call::new(management, &resource, "organizations:DescribeOrganization"),
            e,
        )
    })?;
    let org_id = org
        .organization()
        .and_then(|o| o.id())
        .unwrap_or_default()
        .to_string();
    let mut chain = vec![ou.to_string()];
    let mut child = ou.to_string();
    // An organization nests OUs at most five levels deep under the root.
    // https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
    while !child.starts_with("r-") && chain.len() <= 6 {
        let page = c
            .list_parents()
            .child_id(&child)
            .send()
            .await
            .map_err(|e| {
                map(
                    Call::new(management, &resource, "organizations:ListParents"),
                    e,
                )
            })?;
        let Some(parent) = page.parents().iter().find_map(|p| p.id()) else {
            break;
        };
        child = parent.to_string();
        chain.push(child.clone());
    }
    chain.push(org_id.clone());
    chain.reverse();
    let mut path = chain.join("/");
    path.push('/');
    Ok((org_id, path))
}
