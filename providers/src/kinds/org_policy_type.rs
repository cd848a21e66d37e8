//! The SCP policy type on the organization's root (`org_policy_type`): read from ListRoots and
//! enabled with EnablePolicyType. Never disabled: the plan only forgets it (see the engine's
//! `kinds::org_policy_type`).

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{code, map};
use crate::key;
use crate::organizations::ctx;
use async_trait::async_trait;
use aws_sdk_organizations::types::PolicyType;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::ReadRequest;
use eksmgr_state::json;

/// The provider of the SCP policy type on the root (`org_policy_type`).
pub struct OrgPolicyType;

pub(crate) fn policy_type_observed(root_id: &str, policy_type: &str) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("root_id".into(), json!(root_id));
    attrs.insert("type".into(), json!(policy_type));
    attrs.insert("status".into(), json!("ENABLED"));
    ObservedResource::new(format!("{root_id}/{policy_type}"), attrs)
}

#[async_trait]
impl KindProvider for OrgPolicyType {
    /// Reads whether a policy type (`org_policy_type`, named by the type) is enabled on the root
    /// (`ListRoots`): missing when it is not, so the plan enables it.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let x = ctx(cx.sessions, req.address).await?;
        let call = x.call("organizations:ListRoots");
        let wanted = key(req, "type");
        let wanted = if wanted.is_empty() {
            req.address.name.as_str()
        } else {
            wanted
        };
        // An organization has one root.
        let page = x.c.list_roots().send().await.map_err(|e| map(call, e))?;
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

    /// Enables a policy type on the root (`EnablePolicyType`); one enabled already (by another run
    /// or by hand) is taken as it is.
    /// <https://docs.aws.amazon.com/organizations/latest/APIReference/API_EnablePolicyType.html>
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let call = x.call("organizations:EnablePolicyType");
        let root_id = crate::attr_str(attrs, "root_id").unwrap_or_default();
        let policy_type = crate::attr_str(attrs, "type").unwrap_or(&address.name);
        match x
            .c
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

    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        // Its one attribute is `status`: an update enables it again.
        self.create(cx, &op.as_create()).await
    }

    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let _ = (cx, op);
        // Never disabled: the plan only forgets it (other SCPs of the organization depend on it).
        Ok(())
    }
}
