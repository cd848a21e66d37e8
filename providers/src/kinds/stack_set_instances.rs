//! The stack instances of the StackSet on the EKS OU (`stack_set_instances`): the OUs and
//! regions deployed to, read from the stack set and its instances, changed with waited-for
//! operations.

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code, map};
use crate::stacksets::{Cfn, cfn, described, described_key, wait_operation, while_busy};
use crate::{attr_str, attr_strings, key};
use async_trait::async_trait;
use aws_sdk_cloudformation::types::DeploymentTargets;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ProviderError, ReadRequest};
use eksmgr_state::json;
use std::collections::BTreeSet;

/// The provider of the StackSet's instances (`stack_set_instances`).
pub struct StackSetInstances;

/// OUs, regions and accounts of a stack set's instances.
pub(crate) type Deployed = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>);

pub(crate) async fn instances(
    c: &Cfn,
    call: Call<'_>,
    name: &str,
) -> Result<Option<Deployed>, ProviderError> {
    let mut ous = BTreeSet::new();
    let mut regions = BTreeSet::new();
    let mut accounts = BTreeSet::new();
    let mut pages = c
        .list_stack_instances()
        .set_call_as(c.call_as.clone())
        .stack_set_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) if code(&e) == Some("StackSetNotFoundException") => return Ok(None),
            Err(e) => return Err(map(call, e)),
        };
        for i in page.summaries() {
            if let Some(ou) = i.organizational_unit_id() {
                ous.insert(ou.to_string());
            }
            if let Some(r) = i.region() {
                regions.insert(r.to_string());
            }
            if let Some(a) = i.account() {
                accounts.insert(a.to_string());
            }
        }
    }
    Ok(Some((ous, regions, accounts)))
}

pub(crate) fn instances_observed(
    name: &str,
    ous: &BTreeSet<String>,
    regions: &BTreeSet<String>,
) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("stack_set_name".into(), json!(name));
    attrs.insert("organizational_unit_ids".into(), json!(ous));
    attrs.insert("regions".into(), json!(regions));
    ObservedResource::new(name.to_string(), attrs)
}

pub(crate) async fn deploy(
    c: &Cfn,
    call: Call<'_>,
    name: &str,
    (ous, regions): (&[String], &[String]),
    remove: bool,
    report: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), ProviderError> {
    if ous.is_empty() || regions.is_empty() {
        return Ok(());
    }
    let targets = DeploymentTargets::builder()
        .set_organizational_unit_ids(Some(ous.to_vec()))
        .build();
    let op_id = uuid::Uuid::new_v4().to_string();
    let id = if remove {
        while_busy!(
            call,
            c.delete_stack_instances()
                .set_call_as(c.call_as.clone())
                .stack_set_name(name)
                .deployment_targets(targets.clone())
                .set_regions(Some(regions.to_vec()))
                .retain_stacks(false)
                .operation_id(&op_id)
                .send()
        )?
        .operation_id()
        .map(str::to_string)
    } else {
        while_busy!(
            call,
            c.create_stack_instances()
                .set_call_as(c.call_as.clone())
                .stack_set_name(name)
                .deployment_targets(targets.clone())
                .set_regions(Some(regions.to_vec()))
                .operation_id(&op_id)
                .send()
        )?
        .operation_id()
        .map(str::to_string)
    };
    if let Some(id) = id {
        wait_operation(c, call, name, &id, report).await?;
    }
    Ok(())
}

#[async_trait]
impl KindProvider for StackSetInstances {
    /// Reads which OUs and regions the stack set is deployed to.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let resource = req.address.to_string();
        let c = cfn(s, &req.address.account, req.address.region.as_deref()).await?;
        let name = key(req, "stack_set_name");
        let call = Call::new(
            &req.address.account,
            &resource,
            "cloudformation:ListStackInstances",
        );
        let Some((mut ous, mut regions, accounts)) = instances(&c, call, name).await? else {
            return Ok(None);
        };
        // The stack set also records the OUs it targets (deployments to empty OUs leave no instance).
        if let Some(ss) = described(s, req.address, name).await?.as_ref() {
            ous.extend(crate::attr_strings(&ss.attrs, "organizational_unit_ids"));
        }
        // Some endpoints (the moto emulator) report instances without their OU: ask Organizations
        // which OU each instance's account is in.
        if ous.is_empty() && !accounts.is_empty() {
            let mut candidates: BTreeSet<String> = BTreeSet::new();
            for attrs in [req.desired, req.recorded].into_iter().flatten() {
                candidates.extend(crate::attr_strings(attrs, "organizational_unit_ids"));
            }
            ous = crate::organizations::parents(
                s,
                call,
                &req.address.account,
                &candidates,
                &accounts,
            )
            .await?;
        }
        // A deployment to OUs without accounts makes no instance, so it has no region to read
        // (the stack set's `Regions` are those of its instances; its `OrganizationalUnitIds` the
        // OUs deployed to: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSet.html).
        // Still deployed there, to the regions its last apply recorded (or, adopted, those
        // configured): the next account to join gets them.
        if !ous.is_empty() && regions.is_empty() {
            regions = [req.recorded, req.desired]
                .into_iter()
                .flatten()
                .map(|attrs| crate::attr_strings(attrs, "regions"))
                .find(|r| !r.is_empty())
                .unwrap_or_default()
                .into_iter()
                .collect();
        }
        if ous.is_empty() || regions.is_empty() {
            return Ok(None);
        }
        Ok(Some(instances_observed(name, &ous, &regions)))
    }

    /// Deploys the stack set to the OUs and regions.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let progress = &cx.progress;
        let resource = address.to_string();
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        let name = attr_str(attrs, "stack_set_name").unwrap_or(&address.name);
        s.forget(&address.account, &described_key(address, name));
        let ous = attr_strings(attrs, "organizational_unit_ids");
        let regions = attr_strings(attrs, "regions");
        let call = Call::new(
            &address.account,
            &resource,
            "cloudformation:CreateStackInstances",
        );
        deploy(&c, call, name, (&ous, &regions), false, &|m| {
            progress(address, m)
        })
        .await?;
        Ok(instances_observed(
            name,
            &ous.into_iter().collect(),
            &regions.into_iter().collect(),
        ))
    }

    /// Adds and removes OUs and regions.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, before, after) = (op.address, op.before, op.after);
        let s = cx.sessions;
        let progress = &cx.progress;
        let resource = address.to_string();
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        let name = attr_str(after, "stack_set_name").unwrap_or(&address.name);
        s.forget(&address.account, &described_key(address, name));
        let set = |a: &Attrs, n: &str| attr_strings(a, n).into_iter().collect::<BTreeSet<String>>();
        let (want_ous, have_ous) = (
            set(after, "organizational_unit_ids"),
            set(before, "organizational_unit_ids"),
        );
        let (want_regions, have_regions) = (set(after, "regions"), set(before, "regions"));
        let v = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        let new_ous: BTreeSet<String> = want_ous.difference(&have_ous).cloned().collect();
        let new_regions: BTreeSet<String> =
            want_regions.difference(&have_regions).cloned().collect();
        let gone_ous: BTreeSet<String> = have_ous.difference(&want_ous).cloned().collect();
        let gone_regions: BTreeSet<String> =
            have_regions.difference(&want_regions).cloned().collect();
        let create = Call::new(
            &address.account,
            &resource,
            "cloudformation:CreateStackInstances",
        );
        let delete = Call::new(
            &address.account,
            &resource,
            "cloudformation:DeleteStackInstances",
        );
        let report = |m: &str| progress(address, m);
        let kept_ous: BTreeSet<String> = want_ous.difference(&new_ous).cloned().collect();
        // New OUs everywhere, kept OUs in new regions; then removals the same way round.
        let steps = [
            (create, v(&new_ous), v(&want_regions), false),
            (create, v(&kept_ous), v(&new_regions), false),
            (delete, v(&gone_ous), v(&have_regions), true),
            (delete, v(&want_ous), v(&gone_regions), true),
        ];
        for (call, ous, regions, remove) in steps {
            deploy(&c, call, name, (&ous, &regions), remove, &report).await?;
        }
        Ok(instances_observed(name, &want_ous, &want_regions))
    }

    /// Removes the stack set from every OU and region.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let (address, before) = (op.address, op.before);
        let s = cx.sessions;
        let progress = &cx.progress;
        let resource = address.to_string();
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        let name = attr_str(before, "stack_set_name").unwrap_or(&address.name);
        s.forget(&address.account, &described_key(address, name));
        let call = Call::new(
            &address.account,
            &resource,
            "cloudformation:DeleteStackInstances",
        );
        let ous = attr_strings(before, "organizational_unit_ids");
        let regions = attr_strings(before, "regions");
        match deploy(&c, call, name, (&ous, &regions), true, &|m| {
            progress(address, m)
        })
        .await
        {
            Err(e) if e.message.starts_with("StackSetNotFoundException") => Ok(()),
            other => other,
        }
    }
}
