//! AWS CloudFormation StackSets (service-managed): the stack set that carries the spoke admin
//! role template (`stack_set`) and its stack instances on the EKS OU (`stack_set_instances`).
//! A stack set runs one operation at a time: every operation is waited for, and a busy stack
//! set is waited out within a bound.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    AutoDeployment, CallAs, Capability, DeploymentTargets, OrganizationStatus, PermissionModels,
    StackSetOperationStatus, StackSetStatus, Tag,
};
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::policy;
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use crate::Progress;
use crate::error::{Call, code, map};
use crate::sessions::Sessions;
use crate::{attr_map, attr_str, attr_strings, key};

/// Longest wait for one StackSet operation.
const OPERATION_WAIT: Duration = Duration::from_secs(30 * 60);
/// Poll interval while waiting.
const POLL: Duration = Duration::from_secs(5);

crate::service_client!(aws_sdk_cloudformation, "cloudformation");

/// The CloudFormation client of an account, with the `CallAs` its StackSet calls say:
/// `DELEGATED_ADMIN` when eksmgr runs from a delegated administrator account of StackSets
/// rather than from the management account (every call on a service-managed StackSet must say
/// so), nothing (`SELF`) otherwise.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html>
struct Cfn {
    c: Client,
    call_as: Option<CallAs>,
}

impl std::ops::Deref for Cfn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.c
    }
}

async fn cfn(s: &Sessions, account: &str, region: Option<&str>) -> Result<Cfn, ProviderError> {
    Ok(Cfn {
        c: client(s, account, region).await?,
        call_as: s
            .settings()
            .delegated_admin
            .then_some(CallAs::DelegatedAdmin),
    })
}

fn template_string(attrs: &Attrs) -> String {
    match attrs.get("template_body") {
        Some(Value::String(s)) => s.to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => String::new(),
    }
}

fn auto_deployment(attrs: &Attrs) -> AutoDeployment {
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

fn tags(attrs: &Attrs) -> Vec<Tag> {
    attr_map(attrs, "tags")
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

async fn describe(
    c: &Cfn,
    call: Call<'_>,
    name: &str,
) -> Result<Option<ObservedResource>, ProviderError> {
    let out = match c
        .describe_stack_set()
        .set_call_as(c.call_as.clone())
        .stack_set_name(name)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if code(&e) == Some("StackSetNotFoundException") => return Ok(None),
        Err(e) => return Err(map(call, e)),
    };
    let Some(ss) = out.stack_set() else {
        return Ok(None);
    };
    if ss.status() == Some(&StackSetStatus::Deleted) {
        return Ok(None);
    }
    let template = ss.template_body().unwrap_or_default();
    let template = policy::parse_str(template)
        .or_else(|_| serde_json::from_str::<Value>(template))
        .unwrap_or_else(|_| Value::from(template));
    let auto = ss.auto_deployment();
    let tags: eksmgr_state::value::Map = ss
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), json!(t.value())))
        .collect();
    let caps: Option<Vec<&str>> = ss.capabilities.as_ref().map(|c| {
        let mut c: Vec<&str> = c.iter().map(|c| c.as_str()).collect();
        c.sort();
        c
    });
    let mut ous: Vec<&str> = ss
        .organizational_unit_ids()
        .iter()
        .map(String::as_str)
        .collect();
    ous.sort();
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(ss.stack_set_name().unwrap_or(name)));
    attrs.insert(
        "description".into(),
        json!(ss.description().unwrap_or_default()),
    );
    attrs.insert("template_body".into(), template);
    attrs.insert(
        "permission_model".into(),
        json!(
            ss.permission_model()
                .map(|p| p.as_str())
                .unwrap_or("SELF_MANAGED")
        ),
    );
    // Attributes the service leaves out are not reported (and so not compared).
    if let Some(auto) = auto {
        attrs.insert(
            "auto_deployment".into(),
            json!({
                "enabled": auto.enabled().unwrap_or(false),
                "retain_stacks_on_account_removal": auto.retain_stacks_on_account_removal().unwrap_or(false),
            }),
        );
    }
    if let Some(caps) = caps {
        attrs.insert("capabilities".into(), json!(caps));
    }
    attrs.insert("tags".into(), Value::Object(tags));
    attrs.insert("organizational_unit_ids".into(), json!(ous));
    attrs.insert("id".into(), json!(ss.stack_set_id().unwrap_or_default()));
    attrs.insert("arn".into(), json!(ss.stack_set_arn().unwrap_or_default()));
    Ok(Some(ObservedResource {
        id: ss.stack_set_name().unwrap_or(name).to_string(),
        attrs: attrs.into(),
    }))
}

fn described_key(address: &ResourceAddress, name: &str) -> String {
    format!(
        "cloudformation:DescribeStackSet:{}:{}:{name}",
        address.account,
        address.region.as_deref().unwrap_or_default()
    )
}

/// The stack set as the plan's reads see it: described once per run and shared by the read
/// of the stack set and the read of its instances.
async fn described(
    s: &Sessions,
    address: &ResourceAddress,
    name: &str,
) -> Result<Arc<Option<ObservedResource>>, ProviderError> {
    s.shared_read(&described_key(address, name), async {
        let resource = address.to_string();
        let c = cfn(s, &address.account, address.region.as_deref()).await?;
        let call = Call::new(
            &address.account,
            &resource,
            "cloudformation:DescribeStackSet",
        );
        describe(&c, call, name).await
    })
    .await
}

/// Reads the stack set by name.
pub async fn read_stack_set(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    Ok(described(s, req.address, key(req, "name"))
        .await?
        .as_ref()
        .clone())
}

/// Waits for a stack set operation to finish.
async fn wait_operation(
    c: &Cfn,
    call: Call<'_>,
    name: &str,
    operation_id: &str,
    report: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), ProviderError> {
    let start = tokio::time::Instant::now();
    let mut polls = 0u32;
    loop {
        if polls > 0 {
            let secs = start.elapsed().as_secs();
            report(&format!(
                "stack set operation {operation_id} still running ({}m{:02}s elapsed)",
                secs / 60,
                secs % 60
            ));
        }
        polls += 1;
        let out = c
            .describe_stack_set_operation()
            .set_call_as(c.call_as.clone())
            .stack_set_name(name)
            .operation_id(operation_id)
            .send()
            .await
            .map_err(|e| {
                map(
                    Call {
                        api: "cloudformation:DescribeStackSetOperation",
                        ..call
                    },
                    e,
                )
            })?;
        let status = out.stack_set_operation().and_then(|o| o.status());
        match status {
            Some(StackSetOperationStatus::Succeeded) => return Ok(()),
            Some(StackSetOperationStatus::Failed | StackSetOperationStatus::Stopped) => {
                let reason = out
                    .stack_set_operation()
                    .and_then(|o| o.status_reason())
                    .unwrap_or("no reason given");
                return Err(call.error(
                    ErrorKind::Other,
                    format!("stack set operation {operation_id} ended {:?}: {reason}", status),
                    Some("see the stack instances' status reasons in the CloudFormation console, fix, and apply again"),
                ));
            }
            _ => {}
        }
        if start.elapsed() > OPERATION_WAIT {
            return Err(call.error(
                ErrorKind::Transient,
                format!(
                    "stack set operation {operation_id} still running after {} minutes",
                    OPERATION_WAIT.as_secs() / 60
                ),
                Some("it goes on in AWS; run `eksmgr plan` later to see the result"),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `op` again while the stack set is busy with another operation (within a bound).
macro_rules! while_busy {
    ($call:expr, $op:expr) => {{
        let start = tokio::time::Instant::now();
        loop {
            match $op.await {
                Err(e)
                    if code(&e) == Some("OperationInProgressException")
                        && start.elapsed() < OPERATION_WAIT =>
                {
                    tokio::time::sleep(POLL).await;
                }
                other => break other.map_err(|e| map($call, e)),
            }
        }
    }};
}

/// Creates the stack set (adopting one left by an interrupted run).
pub async fn create_stack_set(
    s: &Sessions,
    address: &ResourceAddress,
    attrs: &Attrs,
    progress: &Progress,
) -> Result<ObservedResource, ProviderError> {
    let resource = address.to_string();
    let account = address.account.as_str();
    let c = cfn(s, &address.account, address.region.as_deref()).await?;
    let name = attr_str(attrs, "name").unwrap_or(&address.name);
    s.forget(&described_key(address, name)).await;
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
        .template_body(template_string(attrs))
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
            return update_stack_set(s, address, attrs, progress).await;
        }
        Err(e) => return Err(map(call, e)),
    }
    describe(
        &c,
        Call::new(account, &resource, "cloudformation:DescribeStackSet"),
        name,
    )
    .await?
    .ok_or_else(|| {
        call.error(
            ErrorKind::NotFound,
            "the stack set vanished right after it was created",
            None,
        )
    })
}

/// Updates the stack set (template, description, auto-deployment, tags) and waits.
pub async fn update_stack_set(
    s: &Sessions,
    address: &ResourceAddress,
    after: &Attrs,
    progress: &Progress,
) -> Result<ObservedResource, ProviderError> {
    let resource = address.to_string();
    let account = address.account.as_str();
    let c = cfn(s, &address.account, address.region.as_deref()).await?;
    let name = attr_str(after, "name").unwrap_or(&address.name);
    s.forget(&described_key(address, name)).await;
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
            .template_body(template_string(after))
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
    .ok_or_else(|| {
        call.error(
            ErrorKind::NotFound,
            "the stack set vanished during the update",
            None,
        )
    })
}

/// Deletes the stack set; already gone is fine.
pub async fn delete_stack_set(
    s: &Sessions,
    address: &ResourceAddress,
) -> Result<(), ProviderError> {
    let resource = address.to_string();
    let c = cfn(s, &address.account, address.region.as_deref()).await?;
    s.forget(&described_key(address, &address.name)).await;
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

/// OUs, regions and accounts of a stack set's instances.
type Deployed = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>);

async fn instances(c: &Cfn, call: Call<'_>, name: &str) -> Result<Option<Deployed>, ProviderError> {
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

fn instances_observed(
    name: &str,
    ous: &BTreeSet<String>,
    regions: &BTreeSet<String>,
) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("stack_set_name".into(), json!(name));
    attrs.insert("organizational_unit_ids".into(), json!(ous));
    attrs.insert("regions".into(), json!(regions));
    ObservedResource {
        id: name.to_string(),
        attrs: attrs.into(),
    }
}

/// Reads which OUs and regions the stack set is deployed to.
pub async fn read_instances(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
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
        ous = crate::organizations::parents(s, call, &req.address.account, &candidates, &accounts)
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

async fn deploy(
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

/// Deploys the stack set to the OUs and regions.
pub async fn create_instances(
    s: &Sessions,
    address: &ResourceAddress,
    attrs: &Attrs,
    progress: &Progress,
) -> Result<ObservedResource, ProviderError> {
    let resource = address.to_string();
    let c = cfn(s, &address.account, address.region.as_deref()).await?;
    let name = attr_str(attrs, "stack_set_name").unwrap_or(&address.name);
    s.forget(&described_key(address, name)).await;
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
pub async fn update_instances(
    s: &Sessions,
    address: &ResourceAddress,
    before: &Attrs,
    after: &Attrs,
    progress: &Progress,
) -> Result<ObservedResource, ProviderError> {
    let resource = address.to_string();
    let c = cfn(s, &address.account, address.region.as_deref()).await?;
    let name = attr_str(after, "stack_set_name").unwrap_or(&address.name);
    s.forget(&described_key(address, name)).await;
    let set = |a: &Attrs, n: &str| attr_strings(a, n).into_iter().collect::<BTreeSet<String>>();
    let (want_ous, have_ous) = (
        set(after, "organizational_unit_ids"),
        set(before, "organizational_unit_ids"),
    );
    let (want_regions, have_regions) = (set(after, "regions"), set(before, "regions"));
    let v = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
    let new_ous: BTreeSet<String> = want_ous.difference(&have_ous).cloned().collect();
    let new_regions: BTreeSet<String> = want_regions.difference(&have_regions).cloned().collect();
    let gone_ous: BTreeSet<String> = have_ous.difference(&want_ous).cloned().collect();
    let gone_regions: BTreeSet<String> = have_regions.difference(&want_regions).cloned().collect();
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
pub async fn delete_instances(
    s: &Sessions,
    address: &ResourceAddress,
    before: &Attrs,
    progress: &Progress,
) -> Result<(), ProviderError> {
    let resource = address.to_string();
    let c = cfn(s, &address.account, address.region.as_deref()).await?;
    let name = attr_str(before, "stack_set_name").unwrap_or(&address.name);
    s.forget(&described_key(address, name)).await;
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

/// Reads StackSets' trusted access with Organizations (`stack_set_trusted_access`,
/// `DescribeOrganizationsAccess`): missing unless it is activated, so the plan activates it.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeOrganizationsAccess.html>
pub async fn read_trusted_access(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
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

fn trusted_access_observed(address: &ResourceAddress) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("status".into(), json!("ENABLED"));
    ObservedResource {
        id: address.name.to_string(),
        attrs: attrs.into(),
    }
}

/// Activates StackSets' trusted access with Organizations (`ActivateOrganizationsAccess`,
/// idempotent in AWS).
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ActivateOrganizationsAccess.html>
pub async fn create_trusted_access(
    s: &Sessions,
    address: &ResourceAddress,
) -> Result<ObservedResource, ProviderError> {
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
