//! The attachment of the governance SCP to the EKS OU (`org_policy_attachment`): found by
//! listing the targets of the policy, attached and detached through AWS Organizations.

use crate::error::{Call, code, map};
use crate::organizations::{client, ctx};
use crate::sessions::Sessions;
use crate::{attr_str, key};
use aws_sdk_organizations::types::PolicyType;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

pub(crate) fn attachment_observed(
    policy_name: &str,
    policy_id: &str,
    target: &str,
) -> ObservedResource {
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
    let x = ctx(s, address).await?;
    let policy_id = attr_str(attrs, "policy_id").unwrap_or_default();
    let target = attr_str(attrs, "target_id").unwrap_or_default();
    let name = attr_str(attrs, "policy_name").unwrap_or_default();
    match x
        .c
        .attach_policy()
        .policy_id(policy_id)
        .target_id(target)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if code(&e) == Some("DuplicatePolicyAttachmentException") => {}
        Err(e) => {
            return Err(map(x.call("organizations:AttachPolicy"), e));
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
    let x = ctx(s, address).await?;
    let policy_id = attr_str(before, "policy_id").unwrap_or_default();
    let target = attr_str(before, "target_id").unwrap_or_default();
    match x
        .c
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
        Err(e) => Err(map(x.call("organizations:DetachPolicy"), e)),
    }
}

/// The provider of the SCP's attachment (`org_policy_attachment`).
pub struct OrgPolicyAttachment;

super::provider! {
    OrgPolicyAttachment,
    read(cx, req) => read_attachment(cx.sessions, req),
    create(cx, address, attrs, token) => create_attachment(cx.sessions, address, attrs),
    // Every attribute forces replacement: an update is never planned.
    update(cx, u) => create_attachment(cx.sessions, u.address, u.after),
    delete(cx, address, id, before) => delete_attachment(cx.sessions, address, before),
}
