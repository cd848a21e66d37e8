//! The attachment of the governance SCP to the EKS OU (`org_policy_attachment`): found by
//! listing the targets of the policy, attached and detached through AWS Organizations.

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{code, map};
use crate::organizations::ctx;
use crate::{attr_str, key};
use async_trait::async_trait;
use aws_sdk_organizations::types::PolicyType;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::ReadRequest;
use eksmgr_state::json;

/// The provider of the SCP's attachment (`org_policy_attachment`).
pub struct OrgPolicyAttachment;

pub(crate) fn attachment_observed(
    policy_name: &str,
    policy_id: &str,
    target: &str,
) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("policy_name".into(), json!(policy_name));
    attrs.insert("policy_id".into(), json!(policy_id));
    attrs.insert("target_id".into(), json!(target));
    ObservedResource::new(format!("{policy_id}:{target}"), attrs)
}

#[async_trait]
impl KindProvider for OrgPolicyAttachment {
    /// Reads whether the named SCP is attached to the target.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let x = ctx(cx.sessions, req.address).await?;
        let name = key(req, "policy_name");
        let target = key(req, "target_id");
        let call = x.call("organizations:ListPoliciesForTarget");
        let mut pages =
            x.c.list_policies_for_target()
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
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
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

    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        // Every attribute forces replacement: an update is never planned.
        self.create(cx, &op.as_create()).await
    }

    /// Detaches the SCP; not attached is fine.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let (address, before) = (op.address, op.before);
        let s = cx.sessions;
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
}
