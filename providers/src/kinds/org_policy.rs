//! The governance SCP (`org_policy`) in the management account: found by its recorded id or
//! its name, created, updated (name, description, content, tags) and deleted through AWS
//! Organizations.

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code, map};
use crate::organizations::ctx;
use crate::{attr_map, attr_str, key};
use async_trait::async_trait;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{PolicyType, Tag};
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::policy;
use eksmgr_engine::provider::{ProviderError, ReadRequest};
use eksmgr_state::json;

/// The provider of the governance SCP (`org_policy`).
pub struct OrgPolicy;

/// Finds an SCP id by name.
pub(crate) async fn find_policy_id(
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

pub(crate) async fn describe(
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
    Ok(Some(ObservedResource::new(id.to_string(), attrs)))
}

#[async_trait]
impl KindProvider for OrgPolicy {
    /// Reads the SCP by recorded id, else by name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let x = ctx(cx.sessions, req.address).await?;
        if let Some(id) = req.id {
            let call = x.call("organizations:DescribePolicy");
            if let Some(found) = describe(&x.c, call, id).await? {
                return Ok(Some(found));
            }
        }
        let name = key(req, "name");
        let call = x.call("organizations:ListPolicies");
        match find_policy_id(&x.c, call, name).await? {
            Some(id) => describe(&x.c, x.call("organizations:DescribePolicy"), &id).await,
            None => Ok(None),
        }
    }

    /// Creates the SCP (or adopts one created by an interrupted run).
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let name = attr_str(attrs, "name").unwrap_or(&address.name);
        let call = x.call("organizations:CreatePolicy");
        let tags: Vec<Tag> = attr_map(attrs, "tags")
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let created =
            x.c.create_policy()
                .name(name)
                .description(attr_str(attrs, "description").unwrap_or_default())
                .content(crate::attr_document(attrs, "content"))
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
                let id = find_policy_id(&x.c, x.call("organizations:ListPolicies"), name).await?;
                let id = id.ok_or_else(|| map(call, e))?;
                let u = Update {
                    address,
                    id: &id,
                    before: &Attrs::new(),
                    after: attrs,
                    changed: &[],
                };
                return self.update(cx, &u).await;
            }
            Err(e) => return Err(map(call, e)),
        };
        describe(&x.c, x.call("organizations:DescribePolicy"), &id)
            .await?
            .ok_or_else(|| call.vanished("policy"))
    }

    /// Updates name, description, content and tags.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, id, before, after) = (op.address, op.id, op.before, op.after);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let call = x.call("organizations:UpdatePolicy");
        x.c.update_policy()
            .policy_id(id)
            .name(attr_str(after, "name").unwrap_or(&address.name))
            .description(attr_str(after, "description").unwrap_or_default())
            .content(crate::attr_document(after, "content"))
            .send()
            .await
            .map_err(|e| map(call, e))?;
        let tags: Vec<Tag> = attr_map(after, "tags")
            .into_iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let untag = |keys| {
            x.c.untag_resource()
                .resource_id(id)
                .set_tag_keys(Some(keys))
                .send()
        };
        let tag = || {
            x.c.tag_resource()
                .resource_id(id)
                .set_tags(Some(tags))
                .send()
        };
        crate::sync_tags(
            [],
            before,
            after,
            (x.call("organizations:UntagResource"), untag),
            (x.call("organizations:TagResource"), tag),
        )
        .await?;
        describe(&x.c, x.call("organizations:DescribePolicy"), id)
            .await?
            .ok_or_else(|| call.vanished("policy"))
    }

    /// Deletes the SCP; already gone is fine.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let (address, id) = (op.address, op.id);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        match x.c.delete_policy().policy_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("PolicyNotFoundException") => Ok(()),
            Err(e) => Err(map(x.call("organizations:DeletePolicy"), e)),
        }
    }
}
