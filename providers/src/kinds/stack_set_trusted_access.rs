//! StackSets' trusted access with AWS Organizations (`stack_set_trusted_access`): read with
//! DescribeOrganizationsAccess and activated with ActivateOrganizationsAccess. Never
//! deactivated: the plan only forgets it.

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, map};
use crate::stacksets::cfn;
use async_trait::async_trait;
use aws_sdk_cloudformation::types::OrganizationStatus;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::ReadRequest;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

/// The provider of StackSets' trusted access (`stack_set_trusted_access`).
pub struct StackSetTrustedAccess;

pub(crate) fn trusted_access_observed(address: &ResourceAddress) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("status".into(), json!("ENABLED"));
    ObservedResource::new(address.name.to_string(), attrs)
}

#[async_trait]
impl KindProvider for StackSetTrustedAccess {
    /// Reads StackSets' trusted access with Organizations (`stack_set_trusted_access`,
    /// `DescribeOrganizationsAccess`): missing unless it is activated, so the plan activates it.
    /// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeOrganizationsAccess.html>
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let address = req.address;
        let resource = address.to_string();
        let call = Call::new(
            &address.account,
            &resource,
            "cloudformation:DescribeOrganizationsAccess",
        );
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        let out = c
            .describe_organizations_access()
            .set_call_as(c.call_as.clone())
            .send()
            .await
            .map_err(|e| map(call, e))?;
        Ok(match out.status() {
            Some(&OrganizationStatus::Enabled) => Some(trusted_access_observed(address)),
            _ => None,
        })
    }

    /// Activates StackSets' trusted access with Organizations (`ActivateOrganizationsAccess`,
    /// idempotent in AWS).
    /// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ActivateOrganizationsAccess.html>
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let address = op.address;
        let s = cx.sessions;
        let resource = address.to_string();
        let call = Call::new(
            &address.account,
            &resource,
            "cloudformation:ActivateOrganizationsAccess",
        );
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        // It takes no CallAs: a delegated administrator activates it from its own account.
        c.activate_organizations_access()
            .send()
            .await
            .map_err(|e| map(call, e))?;
        Ok(trusted_access_observed(address))
    }

    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        // Its one attribute is `status`: an update activates it again.
        self.create(cx, &op.as_create()).await
    }

    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let _ = (cx, op);
        // Never deactivated: the plan only forgets it (other StackSets of the organization may
        // rely on it).
        Ok(())
    }
}
