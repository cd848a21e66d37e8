//! AWS Organizations: the governance SCP (`org_policy`) and its attachment to the EKS OU
//! (`org_policy_attachment`), in the management account.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{Account, OrganizationalUnit, PolicyType, Tag};
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::policy;
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use crate::error::{Call, code, map};
use crate::sessions::Sessions;
use crate::{attr_map, attr_str, key};

crate::service_client!(aws_sdk_organizations, "organizations");

fn content_string(attrs: &Attrs) -> String {
    match attrs.get("content") {
        Some(Value::String(s)) => s.to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => String::new(),
    }
}

/// Finds an SCP id by name.
async fn find_policy_id(
    c: &Client,
    call: Call<'_>,
    name: &str,
) -> Result<Option<String>, ProviderError> {
    let mut pages = c
        .list_policies()
        .filter(PolicyType::ServiceControlPolicy)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map(call, e))?;
        for p in page.policies() {
            if p.name() == Some(name) {
                return Ok(p.id().map(str::to_string));
            }
        }
    }
    Ok(None)
}

async fn describe(
    c: &Client,
    call: Call<'_>,
    id: &str,
) -> Result<Option<ObservedResource>, ProviderError> {
    let out = match c.describe_policy().policy_id(id).send().await {
        Ok(o) => o,
        Err(e) if code(&e) == Some("PolicyNotFoundException") => return Ok(None),
        Err(e) => return Err(map(call, e)),
    };
    let Some(p) = out.policy() else {
        return Ok(None);
    };
    let summary = p.policy_summary();
    let content = p.content().unwrap_or_default();
    let content = policy::parse_str(content).unwrap_or_else(|_| Value::from(content));
    let tags = c
        .list_tags_for_resource()
        .resource_id(id)
        .send()
        .await
        .map_err(|e| {
            map(
                Call {
                    api: "organizations:ListTagsForResource",
                    ..call
                },
                e,
            )
        })?;
    let tags: eksmgr_state::value::Map = tags
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), json!(t.value())))
        .collect();
    let mut attrs = Attrs::new();
    attrs.insert(
        "name".into(),
        json!(summary.and_then(|s| s.name()).unwrap_or_default()),
    );
    attrs.insert(
        "description".into(),
        json!(summary.and_then(|s| s.description()).unwrap_or_default()),
    );
    attrs.insert(
        "type".into(),
        json!(
            summary
                .and_then(|s| s.r#type())
                .map(|t| t.as_str())
                .unwrap_or_default()
        ),
    );
    attrs.insert("content".into(), content);
    attrs.insert("tags".into(), Value::Object(tags));
    attrs.insert("id".into(), json!(id));
    attrs.insert(
        "arn".into(),
        json!(summary.and_then(|s| s.arn()).unwrap_or_default()),
    );
    Ok(Some(ObservedResource {
        id: id.to_string(),
        attrs: attrs.into(),
    }))
}

/// Reads the SCP by recorded id, else by name.
pub async fn read_policy(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    let account = req.address.account.as_str();
    let resource = req.address.to_string();
    let c = client(s, account, None).await?;
    if let Some(id) = req.id {
        let call = Call::new(account, &resource, "organizations:DescribePolicy");
        if let Some(found) = describe(&c, call, id).await? {
            return Ok(Some(found));
        }
    }
    let name = key(req, "name");
    let call = Call::new(account, &resource, "organizations:ListPolicies");
    match find_policy_id(&c, call, name).await? {
        Some(id) => {
            describe(
                &c,
                Call::new(account, &resource, "organizations:DescribePolicy"),
                &id,
            )
            .await
        }
        None => Ok(None),
    }
}

/// Creates the SCP (or adopts one created by an interrupted run).
pub async fn create_policy(
    s: &Sessions,
    address: &ResourceAddress,
    attrs: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let account = address.account.as_str();
    let resource = address.to_string();
    let c = client(s, account, None).await?;
    let name = attr_str(attrs, "name").unwrap_or(&address.name);
    let call = Call::new(account, &resource, "organizations:CreatePolicy");
    let tags: Vec<Tag> = attr_map(attrs, "tags")
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect();
    let created = c
        .create_policy()
        .name(name)
        .description(attr_str(attrs, "description").unwrap_or_default())
        .content(content_string(attrs))
        .r#type(PolicyType::ServiceControlPolicy)
        .set_tags(Some(tags))
        .send()
        .await;
    let id = match created {
        Ok(out) => out
            .policy()
            .and_then(|p| p.policy_summary())
            .and_then(|s| s.id())
            .unwrap_or_default()
            .to_string(),
        Err(e) if code(&e) == Some("DuplicatePolicyException") => {
            let id = find_policy_id(
                &c,
                Call::new(account, &resource, "organizations:ListPolicies"),
                name,
            )
            .await?;
            let id = id.ok_or_else(|| map(call, e))?;
            return update_policy(s, address, &id, &Attrs::new(), attrs).await;
        }
        Err(e) => return Err(map(call, e)),
    };
    describe(
        &c,
        Call::new(account, &resource, "organizations:DescribePolicy"),
        &id,
    )
    .await?
    .ok_or_else(|| {
        call.error(
            ErrorKind::NotFound,
            "the policy vanished right after it was created",
            None,
        )
    })
}

/// Updates name, description, content and tags.
pub async fn update_policy(
    s: &Sessions,
    address: &ResourceAddress,
    id: &str,
    before: &Attrs,
    after: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let account = address.account.as_str();
    let resource = address.to_string();
    let c = client(s, account, None).await?;
    let call = Call::new(account, &resource, "organizations:UpdatePolicy");
    c.update_policy()
        .policy_id(id)
        .name(attr_str(after, "name").unwrap_or(&address.name))
        .description(attr_str(after, "description").unwrap_or_default())
        .content(content_string(after))
        .send()
        .await
        .map_err(|e| map(call, e))?;
    let want = attr_map(after, "tags");
    let have = attr_map(before, "tags");
    let stale = crate::stale_tag_keys([], before, after);
    if !stale.is_empty() {
        c.untag_resource()
            .resource_id(id)
            .set_tag_keys(Some(stale))
            .send()
            .await
            .map_err(|e| {
                map(
                    Call::new(account, &resource, "organizations:UntagResource"),
                    e,
                )
            })?;
    }
    if !want.is_empty() && want != have {
        let tags: Vec<Tag> = want
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        c.tag_resource()
            .resource_id(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| {
                map(
                    Call::new(account, &resource, "organizations:TagResource"),
                    e,
                )
            })?;
    }
    describe(
        &c,
        Call::new(account, &resource, "organizations:DescribePolicy"),
        id,
    )
    .await?
    .ok_or_else(|| {
        call.error(
            ErrorKind::NotFound,
            "the policy vanished during the update",
            None,
        )
    })
}

/// Deletes the SCP; already gone is fine.
pub async fn delete_policy(
    s: &Sessions,
    address: &ResourceAddress,
    id: &str,
) -> Result<(), ProviderError> {
    let account = address.account.as_str();
    let resource = address.to_string();
    let c = client(s, account, None).await?;
    match c.delete_policy().policy_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("PolicyNotFoundException") => Ok(()),
        Err(e) => Err(map(
            Call::new(account, &resource, "organizations:DeletePolicy"),
            e,
        )),
    }
}

fn attachment_observed(policy_name: &str, policy_id: &str, target: &str) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("policy_name".into(), json!(policy_name));
    attrs.insert("policy_id".into(), json!(policy_id));
    attrs.insert("target_id".into(), json!(target));
    ObservedResource {
        id: format!("{policy_id}:{target}"),
        attrs: attrs.into(),
    }
}

/// Reads whether the named SCP is attached to the target.
pub async fn read_attachment(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    let account = req.address.account.as_str();
    let resource = req.address.to_string();
    let c = client(s, account, None).await?;
    let name = key(req, "policy_name");
    let target = key(req, "target_id");
    let call = Call::new(account, &resource, "organizations:ListPoliciesForTarget");
    let mut pages = c
        .list_policies_for_target()
        .target_id(target)
        .filter(PolicyType::ServiceControlPolicy)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) if code(&e) == Some("TargetNotFoundException") => return Ok(None),
            Err(e) => return Err(map(call, e)),
        };
        for p in page.policies() {
            if p.name() == Some(name) {
                return Ok(Some(attachment_observed(
                    name,
                    p.id().unwrap_or_default(),
                    target,
                )));
            }
        }
    }
    Ok(None)
}

/// Attaches the SCP; an existing attachment is adopted.
pub async fn create_attachment(
    s: &Sessions,
    address: &ResourceAddress,
    attrs: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let account = address.account.as_str();
    let resource = address.to_string();
    let c = client(s, account, None).await?;
    let policy_id = attr_str(attrs, "policy_id").unwrap_or_default();
    let target = attr_str(attrs, "target_id").unwrap_or_default();
    let name = attr_str(attrs, "policy_name").unwrap_or_default();
    match c
        .attach_policy()
        .policy_id(policy_id)
        .target_id(target)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if code(&e) == Some("DuplicatePolicyAttachmentException") => {}
        Err(e) => {
            return Err(map(
                Call::new(account, &resource, "organizations:AttachPolicy"),
                e,
            ));
        }
    }
    Ok(attachment_observed(name, policy_id, target))
}

/// Detaches the SCP; not attached is fine.
pub async fn delete_attachment(
    s: &Sessions,
    address: &ResourceAddress,
    before: &Attrs,
) -> Result<(), ProviderError> {
    let account = address.account.as_str();
    let resource = address.to_string();
    let c = client(s, account, None).await?;
    let policy_id = attr_str(before, "policy_id").unwrap_or_default();
    let target = attr_str(before, "target_id").unwrap_or_default();
    match c
        .detach_policy()
        .policy_id(policy_id)
        .target_id(target)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                code(&e),
                Some(
                    "PolicyNotAttachedException"
                        | "PolicyNotFoundException"
                        | "TargetNotFoundException"
                )
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(map(
            Call::new(account, &resource, "organizations:DetachPolicy"),
            e,
        )),
    }
}

/// The accounts directly in an OU or the root (`ListAccountsForParent`, all pages), listed
/// once per run and shared: discovery finds the spokes with it, the stack-instance read maps
/// accounts back to their OU with it, and `eksmgr init` reads the organization with it.
pub(crate) async fn accounts_in(
    s: &Sessions,
    management: &str,
    parent: &str,
) -> Result<Arc<Vec<Account>>, ProviderError> {
    s.shared_read(
        &format!("organizations:ListAccountsForParent:{parent}"),
        async {
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

/// Reads whether a policy type (`org_policy_type`, named by the type) is enabled on the root
/// (`ListRoots`): missing when it is not, so the plan enables it.
pub async fn read_policy_type(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    let account = req.address.account.as_str();
    let resource = req.address.to_string();
    let c = client(s, account, None).await?;
    let call = Call::new(account, &resource, "organizations:ListRoots");
    let wanted = key(req, "type");
    let wanted = if wanted.is_empty() {
        req.address.name.as_str()
    } else {
        wanted
    };
    // An organization has one root.
    let page = c.list_roots().send().await.map_err(|e| map(call, e))?;
    let Some(root) = page.roots().first() else {
        return Ok(None);
    };
    let root_id = root.id().unwrap_or_default();
    let status = root
        .policy_types()
        .iter()
        .find(|t| t.r#type().is_some_and(|t| t.as_str() == wanted))
        .and_then(|t| t.status())
        .map(|s| s.as_str().to_string());
    // Enabled, or on its way (PENDING_ENABLE): nothing to do. Absent or being disabled:
    // enable it.
    Ok(match status.as_deref() {
        Some("ENABLED" | "PENDING_ENABLE") => Some(policy_type_observed(root_id, wanted)),
        _ => None,
    })
}

fn policy_type_observed(root_id: &str, policy_type: &str) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("root_id".into(), json!(root_id));
    attrs.insert("type".into(), json!(policy_type));
    attrs.insert("status".into(), json!("ENABLED"));
    ObservedResource {
        id: format!("{root_id}/{policy_type}"),
        attrs: attrs.into(),
    }
}

/// Enables a policy type on the root (`EnablePolicyType`); one enabled already (by another run
/// or by hand) is taken as it is.
/// <https://docs.aws.amazon.com/organizations/latest/APIReference/API_EnablePolicyType.html>
pub async fn create_policy_type(
    s: &Sessions,
    address: &ResourceAddress,
    attrs: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let account = address.account.as_str();
    let resource = address.to_string();
    let c = client(s, account, None).await?;
    let call = Call::new(account, &resource, "organizations:EnablePolicyType");
    let root_id = crate::attr_str(attrs, "root_id").unwrap_or_default();
    let policy_type = crate::attr_str(attrs, "type").unwrap_or(&address.name);
    match c
        .enable_policy_type()
        .root_id(root_id)
        .policy_type(PolicyType::from(policy_type))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if code(&e) == Some("PolicyTypeAlreadyEnabledException") => {}
        Err(e) => return Err(map(call, e)),
    }
    Ok(policy_type_observed(root_id, policy_type))
}
