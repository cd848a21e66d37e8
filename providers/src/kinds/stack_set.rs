//! The service-managed StackSet (`stack_set`) that carries the spoke admin role template:
//! found by its name, created, updated and deleted with every operation waited for.

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code, map};
use crate::stacksets::{cfn, describe, described, described_key, wait_operation, while_busy};
use crate::{attr_map, attr_str, attr_strings, key};
use async_trait::async_trait;
use aws_sdk_cloudformation::types::{AutoDeployment, Capability, PermissionModels, Tag};
use eksmgr_engine::model::Attrs;
use eksmgr_engine::model::Value;
use eksmgr_engine::provider::ReadRequest;

/// The provider of the StackSet (`stack_set`).
pub struct StackSet;

pub(crate) fn auto_deployment(attrs: &Attrs) -> AutoDeployment {
    let a = attrs.get("auto_deployment");
    let flag = |n: &str| {
        a.and_then(|v| v.get(n))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    AutoDeployment::builder()
        .enabled(flag("enabled"))
        .retain_stacks_on_account_removal(flag("retain_stacks_on_account_removal"))
        .build()
}

pub(crate) fn tags(attrs: &Attrs) -> Vec<Tag> {
    attr_map(attrs, "tags")
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

#[async_trait]
impl KindProvider for StackSet {
    /// Reads the stack set by name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        Ok(described(s, req.address, key(req, "name"))
            .await?
            .as_ref()
            .clone())
    }

    /// Creates the stack set (adopting one left by an interrupted run).
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let resource = address.to_string();
        let account = address.account.as_str();
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        let name = attr_str(attrs, "name").unwrap_or(&address.name);
        s.forget(&address.account, &described_key(address, name));
        let call = Call::new(account, &resource, "cloudformation:CreateStackSet");
        let caps: Vec<Capability> = attr_strings(attrs, "capabilities")
            .iter()
            .map(|c| Capability::from(c.as_str()))
            .collect();
        let created = c
            .create_stack_set()
            .set_call_as(c.call_as.clone())
            .stack_set_name(name)
            .description(attr_str(attrs, "description").unwrap_or_default())
            .template_body(crate::attr_document(attrs, "template_body"))
            .permission_model(PermissionModels::from(
                attr_str(attrs, "permission_model").unwrap_or("SERVICE_MANAGED"),
            ))
            .auto_deployment(auto_deployment(attrs))
            .set_capabilities(Some(caps))
            .set_tags(Some(tags(attrs)))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if code(&e) == Some("NameAlreadyExistsException") => {
                let u = Update {
                    address,
                    id: &address.name,
                    before: &Attrs::new(),
                    after: attrs,
                    changed: &[],
                };
                return self.update(cx, &u).await;
            }
            Err(e) => return Err(map(call, e)),
        }
        describe(
            &c,
            Call::new(account, &resource, "cloudformation:DescribeStackSet"),
            name,
        )
        .await?
        .ok_or_else(|| call.vanished("stack set"))
    }

    /// Updates the stack set (template, description, auto-deployment, tags) and waits.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, _id, after) = (op.address, op.id, op.after);
        let s = cx.sessions;
        let progress = &cx.progress;
        let resource = address.to_string();
        let account = address.account.as_str();
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        let name = attr_str(after, "name").unwrap_or(&address.name);
        s.forget(&address.account, &described_key(address, name));
        let call = Call::new(account, &resource, "cloudformation:UpdateStackSet");
        let caps: Vec<Capability> = attr_strings(after, "capabilities")
            .iter()
            .map(|c| Capability::from(c.as_str()))
            .collect();
        let op_id = uuid::Uuid::new_v4().to_string();
        let out = while_busy!(
            call,
            c.update_stack_set()
                .set_call_as(c.call_as.clone())
                .stack_set_name(name)
                .description(attr_str(after, "description").unwrap_or_default())
                .template_body(crate::attr_document(after, "template_body"))
                .permission_model(PermissionModels::from(
                    attr_str(after, "permission_model").unwrap_or("SERVICE_MANAGED")
                ))
                .auto_deployment(auto_deployment(after))
                .set_capabilities(Some(caps.clone()))
                .set_tags(Some(tags(after)))
                .operation_id(&op_id)
                .send()
        )?;
        if let Some(id) = out.operation_id() {
            wait_operation(&c, call, name, id, &|m| progress(address, m)).await?;
        }
        describe(
            &c,
            Call::new(account, &resource, "cloudformation:DescribeStackSet"),
            name,
        )
        .await?
        .ok_or_else(|| call.vanished("stack set"))
    }

    /// Deletes the stack set; already gone is fine.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let address = op.address;
        let s = cx.sessions;
        let resource = address.to_string();
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        s.forget(&address.account, &described_key(address, &address.name));
        let call = Call::new(&address.account, &resource, "cloudformation:DeleteStackSet");
        let r = while_busy!(
            call,
            c.delete_stack_set()
                .set_call_as(c.call_as.clone())
                .stack_set_name(address.name.as_str())
                .send()
        );
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.message.starts_with("StackSetNotFoundException") => Ok(()),
            Err(e) => Err(e),
        }
    }
}
