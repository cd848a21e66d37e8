//! AWS CloudFormation StackSets (service-managed), what its kinds (`kinds::stack_set`,
//! `kinds::stack_set_instances`, `kinds::stack_set_trusted_access`) share: the client with
//! its `CallAs`, reading a stack set, and operations. A stack set runs one operation at a
//! time: every operation is waited for, and a busy stack set is waited out within a bound.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{CallAs, StackSetOperationStatus, StackSetStatus};
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::policy;
use eksmgr_engine::provider::{ErrorKind, ProviderError};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use crate::error::{Call, code, map};
use crate::sessions::Sessions;

/// Longest wait for one StackSet operation.
pub(crate) const OPERATION_WAIT: Duration = Duration::from_secs(30 * 60);
/// Poll interval while waiting.
pub(crate) const POLL: Duration = Duration::from_secs(5);

crate::service_client!(aws_sdk_cloudformation, "cloudformation");

/// The CloudFormation client of an account, with the `CallAs` its StackSet calls say:
/// `DELEGATED_ADMIN` when eksmgr runs from a delegated administrator account of StackSets
/// rather than from the management account (every call on a service-managed StackSet must say
/// so), nothing (`SELF`) otherwise.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html>
pub(crate) struct Cfn {
    c: Client,
    /// What every StackSet call says as `CallAs`.
    pub(crate) call_as: Option<CallAs>,
}

impl std::ops::Deref for Cfn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.c
    }
}

pub(crate) async fn cfn(
    s: &Sessions,
    account: &str,
    region: Option<&str>,
) -> Result<Cfn, ProviderError> {
    Ok(Cfn {
        c: client(s, account, region).await?,
        call_as: s
            .settings()
            .delegated_admin
            .then_some(CallAs::DelegatedAdmin),
    })
}

pub(crate) async fn describe(
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
    Ok(Some(ObservedResource::new(
        ss.stack_set_name().unwrap_or(name).to_string(),
        attrs,
    )))
}

pub(crate) fn described_key(address: &ResourceAddress, name: &str) -> String {
    format!(
        "cloudformation:DescribeStackSet:{}:{}:{name}",
        address.account,
        address.region.as_deref().unwrap_or_default()
    )
}

/// The stack set as the plan's reads see it: described once per run and shared by the read
/// of the stack set and the read of its instances.
pub(crate) async fn described(
    s: &Sessions,
    address: &ResourceAddress,
    name: &str,
) -> Result<Arc<Option<ObservedResource>>, ProviderError> {
    s.shared_read(
        &address.account,
        &described_key(address, name),
        move || async move {
            let resource = address.to_string();
            let c = cfn(s, &address.account, address.region.as_deref()).await?;
            let call = Call::new(
                &address.account,
                &resource,
                "cloudformation:DescribeStackSet",
            );
            describe(&c, call, name).await
        },
    )
    .await
}

/// Waits for a stack set operation to finish.
pub(crate) async fn wait_operation(
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
                    if $crate::error::code(&e) == Some("OperationInProgressException")
                        && start.elapsed() < $crate::stacksets::OPERATION_WAIT =>
                {
                    tokio::time::sleep($crate::stacksets::POLL).await;
                }
                other => break other.map_err(|e| $crate::error::map($call, e)),
            }
        }
    }};
}
pub(crate) use while_busy;
