//! Amazon EKS: clusters (`eks_cluster`).
//!
//! A cluster is found by its name (the id). Creating one takes about 15 minutes: eksmgr waits
//! for `ACTIVE` with bounded polling and reports progress; a cluster that exists already under
//! its name (a crash between the create call and the state write) is adopted, never created
//! twice. In-place changes map to EKS's update calls, one kind of change per call because EKS
//! refuses to mix them (`VpcConfigUpdate`, `EndpointAccessUpdate`, `LoggingUpdate`,
//! `AccessConfigUpdate`, `VersionUpdate`, `AssociateEncryptionConfig`); each update is waited
//! for through `DescribeUpdate`. Version upgrades go one minor version at a time and envelope
//! encryption can be associated once, never changed or removed: both are checked before any
//! call is made.
//!
//! The logic takes an [`aws_sdk_eks::Client`] (`*_with_client`) so it can be tested at the SDK
//! boundary; its [`KindProvider`](super::KindProvider) implementation calls them with the sessions' clients. Wait
//! intervals are a [`Waits`] value so tests do not sleep.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AuthenticationMode, Cluster, ClusterStatus, CreateAccessConfigRequest, EncryptionConfig,
    LogSetup, LogType, Logging, Provider, UpdateAccessConfigRequest, UpdateStatus,
    VpcConfigRequest,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use eksmgr_engine::kinds::eks_cluster;
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::Progress;
use crate::error::{Call, code, map};
use crate::propagation::Propagation;
use crate::sessions::Sessions;
use crate::{attr_map, attr_str, attr_strings, key};
use async_trait::async_trait;

/// The provider of EKS clusters (`eks_cluster`).
pub struct EksCluster;

/// Poll interval while waiting for a cluster or an update (the SDK's own waiters use 30 s).
pub const POLL_EVERY: Duration = Duration::from_secs(30);
/// Longest wait for a cluster to become active after it was created.
pub const CREATE_WAIT: Duration = Duration::from_secs(40 * 60);
/// Longest wait for one cluster update (a version upgrade is the slowest).
pub const UPDATE_WAIT: Duration = Duration::from_secs(60 * 60);
/// Longest wait for a cluster to disappear after it was deleted.
pub const DELETE_WAIT: Duration = Duration::from_secs(30 * 60);

/// Every control plane log type EKS knows; logging updates disable the ones not desired.
pub const LOG_TYPES: &[&str] = &[
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
];

/// What `public_access_cidrs` means when it is empty: EKS's default.
const OPEN_CIDR: &str = "0.0.0.0/0";

/// How a wait polls: the first poll after `first`, then every `every`, giving up after `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// Delay before the first poll.
    pub first: Duration,
    /// Delay between later polls.
    pub every: Duration,
    /// Give up once this much time has passed.
    pub max: Duration,
    /// How `CreateCluster` waits for a cluster role created moments ago to become visible.
    pub propagation: Propagation,
}

impl Waits {
    /// Production polling: at once, then every [`POLL_EVERY`], for at most `max`.
    pub const fn production(max: Duration) -> Self {
        Waits {
            first: Duration::ZERO,
            every: POLL_EVERY,
            max,
            propagation: Propagation::production(),
        }
    }

    /// Polling for tests: no real waiting, a short bound.
    pub const fn for_tests() -> Self {
        Waits {
            first: Duration::ZERO,
            every: Duration::from_millis(1),
            max: Duration::from_secs(5),
            propagation: Propagation::for_tests(),
        }
    }
}

crate::service_client!(aws_sdk_eks, "eks");

/// Whether EKS answered that the resource does not exist.
pub(crate) fn not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    code(e) == Some("ResourceNotFoundException")
}

/// Maps an EKS SDK error, with EKS-specific hints for a busy cluster.
pub(crate) fn map_eks<E, R>(call: Call<'_>, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let busy = code(&err) == Some("ResourceInUseException");
    let mut e = map(call, err);
    if busy {
        e.kind = ErrorKind::Conflict;
        e.hint = Some(
            "the cluster is busy (another update, or node groups / Fargate profiles still attached); wait for it and run again"
                .into(),
        );
    }
    e
}

/// `5m30s`, `45s`.
fn elapsed_text(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// One poll's answer.
pub(crate) enum Poll<T> {
    /// Finished with a value.
    Done(T),
    /// Still going; the text describes the current state (`status CREATING`).
    Pending(String),
}

/// Polls `check` as `waits` says, reporting progress on every poll that is not the last.
/// `Ok(None)` means the wait timed out.
pub(crate) async fn poll<T, F, Fut>(
    waits: Waits,
    progress: &Progress,
    address: &ResourceAddress,
    verb: &str,
    mut check: F,
) -> Result<Option<T>, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ProviderError>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = waits.first;
    loop {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match check().await? {
            Poll::Done(t) => return Ok(Some(t)),
            Poll::Pending(state) => {
                let elapsed = start.elapsed();
                if elapsed >= waits.max {
                    return Ok(None);
                }
                progress(
                    address,
                    &format!("still {verb} ({} elapsed, {state})", elapsed_text(elapsed)),
                );
            }
        }
        delay = waits.every;
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

/// The attributes of a described cluster. Attributes the service leaves out are left out.
fn observe(cl: &Cluster, fallback_name: &str) -> ObservedResource {
    let name = cl.name().unwrap_or(fallback_name);
    let mut a = Attrs::new();
    a.insert("name".into(), json!(name));
    if let Some(v) = cl.role_arn() {
        a.insert("role_arn".into(), json!(v));
    }
    if let Some(v) = cl.version() {
        a.insert("version".into(), json!(v));
    }
    if let Some(vpc) = cl.resources_vpc_config() {
        if let Some(s) = vpc.subnet_ids.as_deref() {
            a.insert("subnet_ids".into(), json!(sorted(s)));
        }
        if let Some(s) = vpc.security_group_ids.as_deref() {
            a.insert("security_group_ids".into(), json!(sorted(s)));
        }
        a.insert(
            "endpoint_public_access".into(),
            json!(vpc.endpoint_public_access()),
        );
        a.insert(
            "endpoint_private_access".into(),
            json!(vpc.endpoint_private_access()),
        );
        if let Some(s) = vpc.public_access_cidrs.as_deref() {
            a.insert("public_access_cidrs".into(), json!(sorted(s)));
        }
    }
    if let Some(logging) = cl.logging() {
        let enabled: BTreeSet<&str> = logging
            .cluster_logging()
            .iter()
            .filter(|s| s.enabled() == Some(true))
            .flat_map(|s| s.types().iter().map(LogType::as_str))
            .collect();
        a.insert("logging".into(), json!(enabled));
    }
    if let Some(mode) = cl.access_config().and_then(|ac| ac.authentication_mode()) {
        a.insert("authentication_mode".into(), json!(mode.as_str()));
    }
    // No encryption config means no envelope encryption: that is reported (as null) so a
    // desired key shows as a change.
    let key_arn = cl
        .encryption_config()
        .iter()
        .find(|e| e.resources().iter().any(|r| r == "secrets"))
        .or_else(|| cl.encryption_config().first())
        .and_then(|e| e.provider())
        .and_then(|p| p.key_arn());
    a.insert("encryption_key_arn".into(), json!(key_arn));
    let tags: BTreeMap<&str, &str> = cl
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default();
    a.insert("tags".into(), json!(tags));
    if let Some(v) = cl.arn() {
        a.insert("arn".into(), json!(v));
    }
    if let Some(v) = cl.endpoint() {
        a.insert("endpoint".into(), json!(v));
    }
    if let Some(v) = cl.status() {
        a.insert("status".into(), json!(v.as_str()));
    }
    if let Some(v) = cl
        .identity()
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
    {
        a.insert("oidc_issuer".into(), json!(v));
    }
    if let Some(v) = cl.certificate_authority().and_then(|c| c.data()) {
        a.insert("certificate_authority".into(), json!(v));
    }
    if let Some(v) = cl.platform_version() {
        a.insert("platform_version".into(), json!(v));
    }
    ObservedResource::new(name.to_string(), a)
}

/// DescribeCluster; `None` when there is no such cluster.
async fn describe(
    c: &Client,
    call: Call<'_>,
    name: &str,
) -> Result<Option<Cluster>, ProviderError> {
    match c.describe_cluster().name(name).send().await {
        Ok(o) => Ok(o.cluster),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(map_eks(
            Call {
                api: "eks:DescribeCluster",
                ..call
            },
            e,
        )),
    }
}

/// Reads a cluster by name through `c`.
pub async fn read_with_client(
    c: &Client,
    address: &ResourceAddress,
    name: &str,
) -> Result<Option<ObservedResource>, ProviderError> {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DescribeCluster");
    Ok(describe(c, call, name).await?.map(|cl| observe(&cl, name)))
}

/// The health issues EKS reports for a cluster, as one line.
fn health_text(cl: &Cluster) -> String {
    issues_text(
        cl.health()
            .map(|h| h.issues())
            .unwrap_or_default()
            .iter()
            .map(|i| (i.code().map(|c| c.as_str()), i.message(), i.resource_ids())),
    )
}

/// Health issues (code, message, the resources concerned) of a cluster, node group or add-on,
/// as one line.
pub(crate) fn issues_text<'a>(
    issues: impl Iterator<Item = (Option<&'a str>, Option<&'a str>, &'a [String])>,
) -> String {
    let issues: Vec<String> = issues
        .map(|(code, message, resources)| {
            format!(
                "{}: {}{}",
                code.unwrap_or("Unknown"),
                message.unwrap_or("no message"),
                if resources.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", resources.join(", "))
                }
            )
        })
        .collect();
    if issues.is_empty() {
        "no health issues reported".into()
    } else {
        issues.join("; ")
    }
}

/// Waits until the cluster is ACTIVE and returns it as observed.
async fn wait_active(
    c: &Client,
    address: &ResourceAddress,
    name: &str,
    progress: &Progress,
    waits: Waits,
) -> Result<ObservedResource, ProviderError> {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DescribeCluster");
    let found = poll(waits, progress, address, "creating", || async move {
        let Some(cl) = describe(c, call, name).await? else {
            return Err(call.error(
                ErrorKind::NotFound,
                format!("cluster {name} disappeared while eksmgr waited for it to become active"),
                Some("someone deleted it; run `eksmgr plan` to see what is left to do"),
            ));
        };
        match cl.status() {
            Some(ClusterStatus::Active) => Ok(Poll::Done(observe(&cl, name))),
            Some(ClusterStatus::Failed) => Err(call.error(
                ErrorKind::Other,
                format!("cluster {name} creation FAILED: {}", health_text(&cl)),
                Some(
                    "a FAILED cluster cannot be repaired: fix the cause above (cluster role, subnets, KMS key policy), delete the cluster and apply again",
                ),
            )),
            Some(ClusterStatus::Deleting) => Err(call.error(
                ErrorKind::Conflict,
                format!("cluster {name} is being deleted"),
                Some("wait until the deletion is finished, then apply again"),
            )),
            other => Ok(Poll::Pending(format!(
                "status {}",
                other.map(ClusterStatus::as_str).unwrap_or("unknown")
            ))),
        }
    })
    .await?;
    found.ok_or_else(|| {
        call.error(
            ErrorKind::Transient,
            format!(
                "cluster {name} was not active after {} minutes",
                waits.max.as_secs() / 60
            ),
            Some(
                "the cluster creation goes on in AWS; the next `eksmgr apply` adopts it and waits again (it is never created twice)",
            ),
        )
    })
}

fn bool_attr(attrs: &Attrs, name: &str) -> Option<bool> {
    attrs.get(name).and_then(Value::as_bool)
}

fn has(attrs: &Attrs, name: &str) -> bool {
    attrs.get(name).is_some_and(|v| !v.is_null())
}

/// The whole desired VPC configuration (for CreateCluster).
fn vpc_full(attrs: &Attrs) -> VpcConfigRequest {
    let cidrs = attr_strings(attrs, "public_access_cidrs");
    VpcConfigRequest::builder()
        .set_subnet_ids(
            has(attrs, "subnet_ids").then(|| sorted(&attr_strings(attrs, "subnet_ids"))),
        )
        .set_security_group_ids(
            has(attrs, "security_group_ids")
                .then(|| sorted(&attr_strings(attrs, "security_group_ids"))),
        )
        .set_endpoint_public_access(bool_attr(attrs, "endpoint_public_access"))
        .set_endpoint_private_access(bool_attr(attrs, "endpoint_private_access"))
        // Empty means EKS's default (open); leave it out.
        .set_public_access_cidrs((!cidrs.is_empty()).then_some(cidrs))
        .build()
}

/// Subnets and security groups only (a `VpcConfigUpdate`).
fn vpc_network(attrs: &Attrs) -> VpcConfigRequest {
    VpcConfigRequest::builder()
        .set_subnet_ids(Some(sorted(&attr_strings(attrs, "subnet_ids"))))
        .set_security_group_ids(Some(sorted(&attr_strings(attrs, "security_group_ids"))))
        .build()
}

/// Public access CIDRs as EKS applies them: empty means open.
fn cidrs(attrs: &Attrs) -> Vec<String> {
    let c = sorted(&attr_strings(attrs, "public_access_cidrs"));
    if c.is_empty() {
        vec![OPEN_CIDR.to_string()]
    } else {
        c
    }
}

/// Endpoint access only (an `EndpointAccessUpdate`).
fn vpc_endpoint(attrs: &Attrs) -> VpcConfigRequest {
    VpcConfigRequest::builder()
        .set_endpoint_public_access(bool_attr(attrs, "endpoint_public_access"))
        .set_endpoint_private_access(bool_attr(attrs, "endpoint_private_access"))
        .set_public_access_cidrs(Some(cidrs(attrs)))
        .build()
}

/// Enabled log types as desired, every other type disabled.
fn logging(attrs: &Attrs) -> Logging {
    let enabled = sorted(&attr_strings(attrs, "logging"));
    let disabled: Vec<&str> = LOG_TYPES
        .iter()
        .copied()
        .filter(|t| !enabled.iter().any(|e| e == t))
        .collect();
    let mut setups = Vec::new();
    if !enabled.is_empty() {
        setups.push(
            LogSetup::builder()
                .set_types(Some(
                    enabled.iter().map(|t| LogType::from(t.as_str())).collect(),
                ))
                .enabled(true)
                .build(),
        );
    }
    if !disabled.is_empty() {
        setups.push(
            LogSetup::builder()
                .set_types(Some(disabled.into_iter().map(LogType::from).collect()))
                .enabled(false)
                .build(),
        );
    }
    Logging::builder().set_cluster_logging(Some(setups)).build()
}

fn encryption(key_arn: &str) -> EncryptionConfig {
    EncryptionConfig::builder()
        .resources("secrets")
        .provider(Provider::builder().key_arn(key_arn).build())
        .build()
}

/// Creates a cluster through `c` (adopting one that exists under the name) and waits until it
/// is active.
///
/// `token` is the client request token (kept in the apply journal's intent, so a create
/// retried after a crash is the same request); `None` lets the SDK make one.
pub async fn create_with_client(
    c: &Client,
    address: &ResourceAddress,
    attrs: &Attrs,
    token: Option<&str>,
    progress: &Progress,
    waits: Waits,
) -> Result<ObservedResource, ProviderError> {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:CreateCluster");
    let name = attr_str(attrs, "name").unwrap_or(&address.name);
    let Some(role_arn) = attr_str(attrs, "role_arn") else {
        return Err(call.error(
            ErrorKind::Invalid,
            "the cluster has no role_arn",
            Some("a cluster needs the ARN of its cluster IAM role"),
        ));
    };
    let mut req = c
        .create_cluster()
        .name(name)
        .role_arn(role_arn)
        .resources_vpc_config(vpc_full(attrs))
        .set_version(attr_str(attrs, "version").map(str::to_string))
        .set_client_request_token(token.filter(|t| !t.is_empty()).map(str::to_string));
    if has(attrs, "logging") {
        req = req.logging(logging(attrs));
    }
    if let Some(mode) = attr_str(attrs, "authentication_mode") {
        req = req.access_config(
            CreateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::from(mode))
                .build(),
        );
    }
    if let Some(k) = attr_str(attrs, "encryption_key_arn") {
        req = req.encryption_config(encryption(k));
    }
    if let Some(b) = bool_attr(attrs, "bootstrap_self_managed_addons") {
        req = req.bootstrap_self_managed_addons(b);
    }
    let tags = attr_map(attrs, "tags");
    if !tags.is_empty() {
        req = req.set_tags(Some(tags.into_iter().collect()));
    }
    // The cluster role is usually created in the same apply, moments before.
    let sent = crate::propagation::retry(
        waits.propagation,
        Some((progress, address)),
        "eks:CreateCluster",
        || req.clone().send(),
    )
    .await;
    match sent {
        Ok(_) => {}
        // It exists already (a run that crashed before writing state): adopt it. The next plan
        // shows whatever differs from the configuration.
        Err(e) if code(&e) == Some("ResourceInUseException") => {}
        Err(e) => return Err(map_eks(call, e)),
    }
    wait_active(c, address, name, progress, waits).await
}

/// Whether going from `from` to `to` is one allowed upgrade step (`Ok(true)`), nothing
/// (`Ok(false)`), or refused: the plan refuses the same ([`eks_cluster::version_step`]); this
/// is the check before the call, for a plan made by an older eksmgr.
fn version_step(call: Call<'_>, from: &str, to: &str) -> Result<bool, ProviderError> {
    eks_cluster::version_step(from, to)
        .map_err(|r| call.error(ErrorKind::Invalid, r.message, Some(&r.hint)))
}

/// [`wait_update`] for an update of the cluster itself.
async fn wait_cluster_update(
    c: &Client,
    address: &ResourceAddress,
    name: &str,
    update: Option<&aws_sdk_eks::types::Update>,
    progress: &Progress,
    waits: Waits,
) -> Result<(), ProviderError> {
    wait_update(c, address, name, Subject::Cluster, update, progress, waits).await
}

/// What an EKS update changes: the cluster, or one of its node groups or add-ons.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// The cluster itself.
    Cluster,
    /// A node group of the cluster.
    NodeGroup(&'a str),
    /// An add-on of the cluster.
    Addon(&'a str),
}

/// Waits for an EKS update of the cluster `name` (or of its node group or add-on) to finish
/// successfully (`DescribeUpdate`).
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeUpdate.html>
pub(crate) async fn wait_update(
    c: &Client,
    address: &ResourceAddress,
    name: &str,
    subject: Subject<'_>,
    update: Option<&aws_sdk_eks::types::Update>,
    progress: &Progress,
    waits: Waits,
) -> Result<(), ProviderError> {
    // EKS always returns the update it started; an emulator may not (moto answers
    // UpdateClusterConfig with the cluster only). Then there is nothing to wait for and the
    // read after the updates shows the result.
    let Some(update) = update else {
        return Ok(());
    };
    let Some(id) = update.id() else {
        return Ok(());
    };
    let kind = update
        .r#type()
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| "update".into());
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DescribeUpdate");
    let what = match subject {
        Subject::Cluster => format!("cluster {name}"),
        Subject::NodeGroup(g) => format!("node group {g} of cluster {name}"),
        Subject::Addon(a) => format!("add-on {a} of cluster {name}"),
    };
    let what = what.as_str();
    let failed = |u: &aws_sdk_eks::types::Update, status: &UpdateStatus| {
        let errors: Vec<String> = u
            .errors()
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.error_code().map(|c| c.as_str()).unwrap_or("Unknown"),
                    e.error_message().unwrap_or("no message")
                )
            })
            .collect();
        let errors = if errors.is_empty() {
            "no error details given".to_string()
        } else {
            errors.join("; ")
        };
        call.error(
            ErrorKind::Other,
            format!("update {id} ({kind}) of {what} ended {status}: {errors}"),
            Some("fix the cause named above and apply again"),
        )
    };
    match update.status() {
        Some(UpdateStatus::Successful) => return Ok(()),
        Some(s @ (UpdateStatus::Failed | UpdateStatus::Cancelled)) => {
            return Err(failed(update, s));
        }
        _ => {}
    }
    let kind_ref = kind.as_str();
    let done = poll(waits, progress, address, "updating", || async move {
        let (group, addon) = match subject {
            Subject::Cluster => (None, None),
            Subject::NodeGroup(g) => (Some(g.to_string()), None),
            Subject::Addon(a) => (None, Some(a.to_string())),
        };
        let out = c
            .describe_update()
            .name(name)
            .update_id(id)
            .set_nodegroup_name(group)
            .set_addon_name(addon)
            .send()
            .await
            .map_err(|e| map_eks(call, e))?;
        let Some(u) = out.update() else {
            return Err(call.error(
                ErrorKind::NotFound,
                format!("EKS does not describe update {id} of {what}"),
                None,
            ));
        };
        match u.status() {
            Some(UpdateStatus::Successful) => Ok(Poll::Done(())),
            Some(s @ (UpdateStatus::Failed | UpdateStatus::Cancelled)) => Err(failed(u, s)),
            other => Ok(Poll::Pending(format!(
                "{kind_ref} {id} {}",
                other.map(UpdateStatus::as_str).unwrap_or("unknown")
            ))),
        }
    })
    .await?;
    done.ok_or_else(|| {
        call.error(
            ErrorKind::Transient,
            format!(
                "update {id} ({kind}) of {what} still running after {} minutes",
                waits.max.as_secs() / 60
            ),
            Some(
                "the update goes on in AWS; the next `eksmgr plan` shows what still differs once it is done",
            ),
        )
    })
}

const NETWORK_ATTRS: &[&str] = &["subnet_ids", "security_group_ids"];
const ENDPOINT_ATTRS: &[&str] = &[
    "endpoint_public_access",
    "endpoint_private_access",
    "public_access_cidrs",
];

/// Whether a group of attributes needs an update call: one of them is reported changed and
/// the values EKS would apply differ from what it had (EKS refuses a no-op update).
fn group_changed(changed: &[String], group: &[&str], before: &Attrs, after: &Attrs) -> bool {
    let named = changed.iter().any(|c| group.contains(&c.as_str()));
    if !named {
        return false;
    }
    group.iter().any(|a| {
        let norm = |attrs: &Attrs| match *a {
            "public_access_cidrs" => Some(json!(cidrs(attrs))),
            "subnet_ids" | "security_group_ids" | "logging" => {
                Some(json!(sorted(&attr_strings(attrs, a))))
            }
            _ => attrs.get(a).cloned(),
        };
        // Not desired: nothing to apply; unknown before: make the call.
        after.contains_key(a) && (!before.contains_key(a) || norm(before) != norm(after))
    })
}

/// Updates a cluster in place through `c`, waits for each update, and reads it back.
pub async fn update_with_client(
    c: &Client,
    address: &ResourceAddress,
    before: &Attrs,
    after: &Attrs,
    changed: &[String],
    progress: &Progress,
    waits: Waits,
) -> Result<ObservedResource, ProviderError> {
    let resource = address.to_string();
    let account = address.account.as_str();
    let name = attr_str(after, "name")
        .or_else(|| attr_str(before, "name"))
        .unwrap_or(&address.name);
    let is = |a: &str| changed.iter().any(|c| c == a);

    // Everything that can be refused is checked before the first call.
    for fixed in ["name", "role_arn"] {
        if is(fixed) {
            return Err(
                Call::new(account, &resource, "eks:UpdateClusterConfig").error(
                    ErrorKind::Invalid,
                    format!("`{fixed}` of an EKS cluster cannot be changed in place"),
                    Some("changing it needs a new cluster (a replacement)"),
                ),
            );
        }
    }
    // Still being created or updated (an earlier run stopped waiting for it): wait until it
    // is ACTIVE, as the create would have, before changing anything else.
    if is("status") {
        wait_active(c, address, name, progress, waits).await?;
    }
    let version_call = Call::new(account, &resource, "eks:UpdateClusterVersion");
    let to_version = if is("version") {
        let Some(to) = attr_str(after, "version") else {
            return Err(version_call.error(
                ErrorKind::Invalid,
                "the desired version is empty",
                Some("set version to a Kubernetes minor version such as \"1.35\""),
            ));
        };
        if let Some(from) = attr_str(before, "version") {
            version_step(version_call, from, to)?;
        }
        Some(to)
    } else {
        None
    };
    let access_call = Call::new(account, &resource, "eks:UpdateClusterConfig");
    let auth_mode = if is("authentication_mode") {
        let to = attr_str(after, "authentication_mode");
        let from = attr_str(before, "authentication_mode");
        if let (Some(f), Some(t)) = (from, to)
            && let Err(r) = eks_cluster::authentication_mode_step(f, t)
        {
            return Err(access_call.error(ErrorKind::Invalid, r.message, Some(&r.hint)));
        }
        to.filter(|t| Some(*t) != from)
    } else {
        None
    };
    let encryption_call = Call::new(account, &resource, "eks:AssociateEncryptionConfig");
    let new_key = if is("encryption_key_arn") {
        let to = attr_str(after, "encryption_key_arn");
        match attr_str(before, "encryption_key_arn") {
            Some(from) if Some(from) == to => None,
            Some(from) => {
                return Err(encryption_call.error(
                    ErrorKind::Invalid,
                    format!(
                        "the cluster's secrets are encrypted with {from}; EKS cannot change or remove that"
                    ),
                    Some(
                        "keep encryption_key_arn as it is; another key needs a new cluster (a replacement)",
                    ),
                ));
            }
            None => to,
        }
    } else {
        None
    };

    // The live cluster, when the change needs it (tags by ARN, the version when unrecorded).
    let needs_live = is("tags") || (to_version.is_some() && attr_str(before, "version").is_none());
    let live = if needs_live {
        let call = Call::new(account, &resource, "eks:DescribeCluster");
        let Some(cl) = describe(c, call, name).await? else {
            return Err(call.error(
                ErrorKind::NotFound,
                format!("cluster {name} does not exist"),
                Some("it was deleted outside eksmgr; run `eksmgr plan` to create it again"),
            ));
        };
        Some(cl)
    } else {
        None
    };

    if let Some(to) = to_version {
        let from = attr_str(before, "version")
            .map(str::to_string)
            .or_else(|| live.as_ref().and_then(|l| l.version()).map(str::to_string));
        let go = match &from {
            Some(from) => version_step(version_call, from, to)?,
            None => true,
        };
        if go {
            let out = c
                .update_cluster_version()
                .name(name)
                .version(to)
                .send()
                .await
                .map_err(|e| map_eks(version_call, e))?;
            wait_cluster_update(c, address, name, out.update(), progress, waits).await?;
        }
    }

    let config_call = Call::new(account, &resource, "eks:UpdateClusterConfig");
    // EKS takes one kind of change per UpdateClusterConfig call.
    if group_changed(changed, NETWORK_ATTRS, before, after) {
        let out = c
            .update_cluster_config()
            .name(name)
            .resources_vpc_config(vpc_network(after))
            .send()
            .await
            .map_err(|e| map_eks(config_call, e))?;
        wait_cluster_update(c, address, name, out.update(), progress, waits).await?;
    }
    if group_changed(changed, ENDPOINT_ATTRS, before, after) {
        let out = c
            .update_cluster_config()
            .name(name)
            .resources_vpc_config(vpc_endpoint(after))
            .send()
            .await
            .map_err(|e| map_eks(config_call, e))?;
        wait_cluster_update(c, address, name, out.update(), progress, waits).await?;
    }
    if group_changed(changed, &["logging"], before, after) {
        let out = c
            .update_cluster_config()
            .name(name)
            .logging(logging(after))
            .send()
            .await
            .map_err(|e| map_eks(config_call, e))?;
        wait_cluster_update(c, address, name, out.update(), progress, waits).await?;
    }
    if let Some(mode) = auth_mode {
        let out = c
            .update_cluster_config()
            .name(name)
            .access_config(
                UpdateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::from(mode))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_eks(access_call, e))?;
        wait_cluster_update(c, address, name, out.update(), progress, waits).await?;
    }
    if let Some(key_arn) = new_key {
        let out = c
            .associate_encryption_config()
            .cluster_name(name)
            .encryption_config(encryption(key_arn))
            .send()
            .await
            .map_err(|e| map_eks(encryption_call, e))?;
        wait_cluster_update(c, address, name, out.update(), progress, waits).await?;
    }
    if let Some(cl) = live.as_ref().filter(|_| is("tags")) {
        update_tags(
            c,
            Call::new(account, &resource, "eks:TagResource"),
            cl.arn(),
            cl.tags(),
            after,
        )
        .await?;
    }

    let call = Call::new(account, &resource, "eks:DescribeCluster");
    match describe(c, call, name).await? {
        Some(cl) => Ok(observe(&cl, name)),
        None => Err(call.error(
            ErrorKind::NotFound,
            format!("cluster {name} is gone after its update"),
            Some("it was deleted outside eksmgr; run `eksmgr plan` to create it again"),
        )),
    }
}

/// Makes the tags of the EKS resource `arn` (a cluster, node group or add-on; `current` are
/// its tags now) what `after` says. `call` names the resource in errors.
pub(crate) async fn update_tags(
    c: &Client,
    call: Call<'_>,
    arn: Option<&str>,
    current: Option<&std::collections::HashMap<String, String>>,
    after: &Attrs,
) -> Result<(), ProviderError> {
    let (account, resource) = (call.account, call.resource);
    let Some(arn) = arn else {
        return Err(call.error(ErrorKind::Other, "EKS did not report the ARN", None));
    };
    let current: BTreeMap<&str, &str> = current
        .map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default();
    let desired: BTreeMap<String, String> = attr_map(after, "tags").into_iter().collect();
    let remove: Vec<String> = current
        .keys()
        .filter(|k| !desired.contains_key(**k))
        .map(|k| k.to_string())
        .collect();
    let add: std::collections::HashMap<String, String> = desired
        .iter()
        .filter(|(k, v)| current.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !remove.is_empty() {
        c.untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| map_eks(Call::new(account, resource, "eks:UntagResource"), e))?;
    }
    if !add.is_empty() {
        c.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(add))
            .send()
            .await
            .map_err(|e| map_eks(Call::new(account, resource, "eks:TagResource"), e))?;
    }
    Ok(())
}

/// Deletes the cluster `name` through `c` and waits until it is gone. A cluster that does not
/// exist counts as deleted.
pub async fn delete_with_client(
    c: &Client,
    address: &ResourceAddress,
    name: &str,
    progress: &Progress,
    waits: Waits,
) -> Result<(), ProviderError> {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DeleteCluster");
    match c.delete_cluster().name(name).send().await {
        Ok(_) => {}
        Err(e) if code(&e) == Some("ResourceNotFoundException") => return Ok(()),
        Err(e) => return Err(map_eks(call, e)),
    }
    let describe_call = Call::new(&address.account, &resource, "eks:DescribeCluster");
    let gone = poll(waits, progress, address, "deleting", || async move {
        match describe(c, describe_call, name).await? {
            None => Ok(Poll::Done(())),
            Some(cl) if cl.status() == Some(&ClusterStatus::Failed) => Err(call.error(
                ErrorKind::Other,
                format!("deleting cluster {name} FAILED: {}", health_text(&cl)),
                Some("see the cluster's health issues, fix them and destroy again"),
            )),
            Some(cl) => Ok(Poll::Pending(format!(
                "status {}",
                cl.status().map(ClusterStatus::as_str).unwrap_or("unknown")
            ))),
        }
    })
    .await?;
    gone.ok_or_else(|| {
        call.error(
            ErrorKind::Transient,
            format!(
                "cluster {name} still exists {} minutes after its deletion started",
                waits.max.as_secs() / 60
            ),
            Some("the deletion goes on in AWS; run the command again later to finish"),
        )
    })
}

/// The Kubernetes versions EKS offers in `region` (`DescribeClusterVersions`, all pages:
/// versions in standard or extended support), asked from `account`.
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeClusterVersions.html>
pub async fn cluster_versions(
    s: &Sessions,
    account: &str,
    region: &str,
) -> Result<Vec<eksmgr_engine::blueprint::KubernetesVersion>, ProviderError> {
    let c = client(s, account, Some(region)).await?;
    let resource = format!("the Kubernetes versions of EKS in {region}");
    let call = Call::new(account, &resource, "eks:DescribeClusterVersions");
    let date = |d: Option<&aws_smithy_types::DateTime>| {
        d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
            .map(|t| t.chars().take(10).collect::<String>())
    };
    let mut out = Vec::new();
    let mut pages = c.describe_cluster_versions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map(call, e))?;
        for v in page.cluster_versions() {
            let Some(version) = v.cluster_version() else {
                continue;
            };
            out.push(eksmgr_engine::blueprint::KubernetesVersion {
                version: version.to_string(),
                status: v
                    .version_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                end_of_standard_support: date(v.end_of_standard_support_date()),
                end_of_extended_support: date(v.end_of_extended_support_date()),
            });
        }
    }
    Ok(out)
}

#[async_trait]
impl KindProvider for EksCluster {
    /// Reads a cluster by name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let c = client(s, &req.address.account, req.address.region.as_deref()).await?;
        read_with_client(&c, req.address, key(req, "name")).await
    }

    /// Creates a cluster and waits until it is active.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs, token) = (op.address, op.attrs, op.token);
        let s = cx.sessions;
        let progress = &cx.progress;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        let waits = Waits::production(CREATE_WAIT);
        create_with_client(&c, address, attrs, token, progress, waits).await
    }

    /// Updates a cluster in place and waits for each update.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, before, after, changed) = (op.address, op.before, op.after, op.changed);
        let s = cx.sessions;
        let progress = &cx.progress;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        update_with_client(
            &c,
            address,
            before,
            after,
            changed,
            progress,
            Waits::production(UPDATE_WAIT),
        )
        .await
    }

    /// Deletes a cluster and waits until it is gone.
    ///
    /// The cluster is found by the address name (the dispatcher passes no attributes here).
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let address = op.address;
        let s = cx.sessions;
        let progress = &cx.progress;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        delete_with_client(
            &c,
            address,
            &address.name,
            progress,
            Waits::production(DELETE_WAIT),
        )
        .await
    }
}
