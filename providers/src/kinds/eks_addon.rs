//! EKS add-ons (`eks_addon`): `vpc-cni`, `coredns`, `kube-proxy`, `eks-pod-identity-agent`
//! and any other add-on, on one cluster.
//!
//! An add-on is found by its cluster and name (EKS allows one of a name per cluster), so one
//! installed outside eksmgr is adopted and brought to the desired settings, never created
//! twice. Creating waits until it is `ACTIVE`, except for an add-on whose pods need nodes on a
//! cluster that has none yet (its node groups come after the add-ons): that one becomes
//! `ACTIVE` once nodes run, and the next plan reads it. Updates are waited for through
//! `DescribeUpdate`; a failed update or creation is reported with EKS's health issues.
//! <https://docs.aws.amazon.com/eks/latest/userguide/creating-an-add-on.html>
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html>
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html>
//!
//! [`addon_versions`] reads what EKS offers for a Kubernetes version (`DescribeAddonVersions`)
//! for the plan. The logic takes an [`aws_sdk_eks::Client`] (`*_with_client`) so it can be
//! tested at the SDK boundary.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Addon, AddonPodIdentityAssociations, AddonStatus, ResolveConflicts};
use eksmgr_engine::blueprint::AddonVersions;
use eksmgr_engine::model::{Attrs, ObservedResource, Value};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::{ResourceAddress, json};

use super::eks_cluster::{
    Poll, Subject, Waits, client, issues_text, map_eks, not_found, poll, update_tags, wait_update,
};
use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code};
use crate::sessions::Sessions;
use crate::{Progress, attr_map, attr_str};

/// The provider of EKS add-ons (`eks_addon`).
pub struct EksAddon;

/// Longest wait for an add-on to become active after it was created (Terraform's default).
pub const CREATE_WAIT: Duration = Duration::from_secs(20 * 60);
/// Longest wait for one add-on update.
pub const UPDATE_WAIT: Duration = Duration::from_secs(20 * 60);
/// Longest wait for an add-on to disappear after it was deleted.
pub const DELETE_WAIT: Duration = Duration::from_secs(40 * 60);

/// Add-ons whose pods run on every node (DaemonSets): healthy with no node at all, so their
/// creation is waited for before the node groups, which need the VPC CNI to become ready.
const NODE_DAEMONS: &[&str] = &["vpc-cni", "kube-proxy", "eks-pod-identity-agent"];

/// The add-on's cluster and name: from its attributes, else from its address
/// (`<cluster>/<add-on>`).
fn names<'a>(attrs: &'a Attrs, address: &'a ResourceAddress) -> (&'a str, &'a str) {
    let (c, a) = address.name.split_once('/').unwrap_or(("", &address.name));
    (
        attr_str(attrs, "cluster_name").unwrap_or(c),
        attr_str(attrs, "addon_name").unwrap_or(a),
    )
}

/// `DescribeAddon`; `None` when the add-on (or its cluster) does not exist.
async fn describe(
    c: &Client,
    call: Call<'_>,
    cluster: &str,
    addon: &str,
) -> Result<Option<Addon>, ProviderError> {
    match c
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(addon)
        .send()
        .await
    {
        Ok(o) => Ok(o.addon),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(map_eks(call, e)),
    }
}

/// EKS's health issues of an add-on, one line.
fn health_text(a: &Addon) -> String {
    issues_text(
        a.health()
            .map(|h| h.issues())
            .unwrap_or_default()
            .iter()
            .map(|i| (i.code().map(|c| c.as_str()), i.message(), i.resource_ids())),
    )
}

fn status(a: &Addon) -> &str {
    a.status().map(AddonStatus::as_str).unwrap_or("unknown")
}

/// The add-on's attributes as eksmgr compares them; its pod identity associations are read
/// for their service accounts and roles (`DescribeAddon` gives their ARNs only).
async fn observe(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    a: &Addon,
) -> Result<ObservedResource, ProviderError> {
    let name = a.addon_name().unwrap_or_default();
    let mut attrs = Attrs::new();
    attrs.insert("cluster_name".into(), json!(cluster));
    attrs.insert("addon_name".into(), json!(name));
    attrs.insert(
        "addon_version".into(),
        json!(a.addon_version().unwrap_or_default()),
    );
    attrs.insert(
        "configuration".into(),
        configuration(a.configuration_values()),
    );
    let resource = address.to_string();
    let call = Call::new(
        &address.account,
        &resource,
        "eks:DescribePodIdentityAssociation",
    );
    let mut associations = Vec::new();
    for arn in a.pod_identity_associations() {
        let id = arn.rsplit('/').next().unwrap_or(arn);
        let found = c
            .describe_pod_identity_association()
            .cluster_name(cluster)
            .association_id(id)
            .send()
            .await;
        match found {
            Ok(o) => {
                if let Some(p) = o.association() {
                    associations.push(json!({
                        "service_account": p.service_account().unwrap_or_default(),
                        "role_arn": p.role_arn().unwrap_or_default(),
                    }));
                }
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(map_eks(call, e)),
        }
    }
    attrs.insert("pod_identity_associations".into(), json!(associations));
    let tags: std::collections::BTreeMap<&str, &str> = a
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default();
    attrs.insert("tags".into(), json!(tags));
    attrs.insert("status".into(), json!(status(a)));
    if let Some(arn) = a.addon_arn() {
        attrs.insert("arn".into(), json!(arn));
    }
    Ok(ObservedResource::new(format!("{cluster}/{name}"), attrs))
}

/// Configuration values as EKS reports them (a JSON or YAML string), as a value: a JSON
/// object is compared by meaning; none is `{}`; anything else stays a string.
fn configuration(raw: Option<&str>) -> Value {
    match raw.map(str::trim) {
        None | Some("") => json!({}),
        Some(text) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(serde_json::Value::is_object)
            .map_or_else(|| json!(text), Value::from),
    }
}

/// The desired configuration values as the JSON string EKS takes; `None` for none.
fn configuration_values(attrs: &Attrs) -> Option<String> {
    match attrs.get("configuration") {
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::String(s)) => Some(s.to_string()),
        Some(v) => Some(v.to_string()),
        None => None,
    }
}

/// The desired pod identity associations, as `CreateAddon` and `UpdateAddon` take them.
fn associations(
    call: Call<'_>,
    attrs: &Attrs,
) -> Result<Vec<AddonPodIdentityAssociations>, ProviderError> {
    let Some(Value::Array(items)) = attrs.get("pod_identity_associations") else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|i| {
            AddonPodIdentityAssociations::builder()
                .service_account(
                    i.get("service_account")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .role_arn(
                    i.get("role_arn")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .build()
                .map_err(|e| call.error(ErrorKind::Invalid, e.to_string(), None))
        })
        .collect()
}

fn resolve_conflicts(attrs: &Attrs) -> ResolveConflicts {
    ResolveConflicts::from(attr_str(attrs, "resolve_conflicts").unwrap_or("PRESERVE"))
}

/// Reads an add-on of a cluster; `None` when there is none (or no cluster).
pub async fn read_with_client(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    addon: &str,
) -> Found {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DescribeAddon");
    match describe(c, call, cluster, addon).await? {
        Some(a) => Ok(Some(observe(c, address, cluster, &a).await?)),
        None => Ok(None),
    }
}

/// Whether the cluster has a node group (for an add-on whose pods need nodes).
async fn has_nodes(c: &Client, call: Call<'_>, cluster: &str) -> Result<bool, ProviderError> {
    let out = c
        .list_nodegroups()
        .cluster_name(cluster)
        .max_results(1)
        .send()
        .await
        .map_err(|e| map_eks(call, e))?;
    Ok(!out.nodegroups().is_empty())
}

/// Creates an add-on (one installed already is adopted and brought to `attrs`) and waits
/// until it is active, as the module says.
pub async fn create_with_client(
    c: &Client,
    address: &ResourceAddress,
    attrs: &Attrs,
    token: Option<&str>,
    progress: &Progress,
    waits: Waits,
) -> Made {
    let (cluster, addon) = names(attrs, address);
    let resource = address.to_string();
    let account = address.account.as_str();
    let call = Call::new(account, &resource, "eks:CreateAddon");
    let pod_identities = associations(call, attrs)?;
    let created = crate::propagation::retry(
        waits.propagation,
        Some((progress, address)),
        "eks:CreateAddon",
        || {
            let mut req = c
                .create_addon()
                .cluster_name(cluster)
                .addon_name(addon)
                .set_addon_version(attr_str(attrs, "addon_version").map(str::to_string))
                .resolve_conflicts(resolve_conflicts(attrs))
                .set_configuration_values(configuration_values(attrs))
                .set_pod_identity_associations(
                    (!pod_identities.is_empty()).then(|| pod_identities.clone()),
                )
                .set_client_request_token(token.map(str::to_string));
            for (k, v) in attr_map(attrs, "tags") {
                req = req.tags(k, v);
            }
            req.send()
        },
    )
    .await;
    match created {
        Ok(_) => {}
        // Installed already (outside eksmgr, or by a run that stopped before recording it):
        // adopt it and bring it to the desired settings.
        Err(e) if code(&e) == Some("ResourceInUseException") => {
            let describe_call = Call::new(account, &resource, "eks:DescribeAddon");
            let existing = read_with_client(c, address, cluster, addon)
                .await?
                .ok_or_else(|| describe_call.vanished("add-on"))?;
            let changed = super::differing(
                eksmgr_engine::model::ResourceKind::EksAddon,
                &[
                    "addon_version",
                    "configuration",
                    "pod_identity_associations",
                    "tags",
                ],
                &existing.attrs,
                attrs,
            );
            return update_with_client(c, address, attrs, &changed, progress, waits).await;
        }
        Err(e) => return Err(map_eks(call, e)),
    }
    let nodes_call = Call::new(account, &resource, "eks:ListNodegroups");
    if !NODE_DAEMONS.contains(&addon) && !has_nodes(c, nodes_call, cluster).await? {
        progress(
            address,
            &format!(
                "created; {addon} becomes ACTIVE once nodes run (cluster {cluster} has no node group yet)"
            ),
        );
        return read_with_client(c, address, cluster, addon)
            .await?
            .ok_or_else(|| call.vanished("add-on"));
    }
    wait_active(c, address, cluster, addon, progress, waits).await
}

/// Polls until the add-on is `ACTIVE`; a failed creation is reported with its health issues.
async fn wait_active(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    addon: &str,
    progress: &Progress,
    waits: Waits,
) -> Made {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DescribeAddon");
    let active = poll(waits, progress, address, "creating", || async move {
        let Some(a) = describe(c, call, cluster, addon).await? else {
            return Err(call.error(
                ErrorKind::NotFound,
                format!("add-on {addon} of cluster {cluster} disappeared while eksmgr waited for it"),
                Some("it was deleted outside eksmgr; run `eksmgr apply` again to create it"),
            ));
        };
        match a.status() {
            Some(AddonStatus::Active) => Ok(Poll::Done(a)),
            Some(AddonStatus::CreateFailed | AddonStatus::UpdateFailed) => Err(call.error(
                ErrorKind::Other,
                format!(
                    "add-on {addon} of cluster {cluster} is {}: {}",
                    status(&a),
                    health_text(&a)
                ),
                Some(
                    "fix the cause EKS names (a conflict with fields changed outside EKS: set `resolve_conflicts = \"OVERWRITE\"`), then apply again: the add-on is adopted, never created twice",
                ),
            )),
            _ => Ok(Poll::Pending(format!(
                "status {}: {}",
                status(&a),
                health_text(&a)
            ))),
        }
    })
    .await?;
    match active {
        Some(a) => observe(c, address, cluster, &a).await,
        None => Err(call.error(
            ErrorKind::Transient,
            format!(
                "add-on {addon} of cluster {cluster} is not ACTIVE {} minutes after its creation",
                waits.max.as_secs() / 60
            ),
            Some(
                "it exists in AWS: the next `eksmgr apply` adopts it and waits again; `aws eks describe-addon` shows its health",
            ),
        )),
    }
}

/// Updates an add-on in place (version, configuration, pod identities: one `UpdateAddon`,
/// waited for; then its tags) and reads it back.
pub async fn update_with_client(
    c: &Client,
    address: &ResourceAddress,
    after: &Attrs,
    changed: &[String],
    progress: &Progress,
    waits: Waits,
) -> Made {
    let (cluster, addon) = names(after, address);
    let resource = address.to_string();
    let account = address.account.as_str();
    let is = |a: &str| changed.iter().any(|c| c == a);
    let call = Call::new(account, &resource, "eks:UpdateAddon");
    for fixed in ["cluster_name", "addon_name"] {
        if is(fixed) {
            return Err(call.error(
                ErrorKind::Invalid,
                format!("`{fixed}` of an EKS add-on cannot be changed in place"),
                Some("changing it needs a new add-on (a replacement)"),
            ));
        }
    }
    if is("addon_version") || is("configuration") || is("pod_identity_associations") {
        let out = c
            .update_addon()
            .cluster_name(cluster)
            .addon_name(addon)
            .set_addon_version(
                attr_str(after, "addon_version")
                    .filter(|_| is("addon_version"))
                    .map(str::to_string),
            )
            .resolve_conflicts(resolve_conflicts(after))
            .set_configuration_values(
                is("configuration")
                    .then(|| configuration_values(after).unwrap_or_else(|| "{}".into())),
            )
            .set_pod_identity_associations(if is("pod_identity_associations") {
                Some(associations(call, after)?)
            } else {
                None
            })
            .send()
            .await
            .map_err(|e| map_eks(call, e))?;
        wait_update(
            c,
            address,
            cluster,
            Subject::Addon(addon),
            out.update(),
            progress,
            waits,
        )
        .await?;
    }
    let describe_call = Call::new(account, &resource, "eks:DescribeAddon");
    if is("tags") {
        let live = describe(c, describe_call, cluster, addon)
            .await?
            .ok_or_else(|| describe_call.vanished("add-on"))?;
        update_tags(
            c,
            Call::new(account, &resource, "eks:TagResource"),
            live.addon_arn(),
            live.tags(),
            after,
        )
        .await?;
    }
    read_with_client(c, address, cluster, addon)
        .await?
        .ok_or_else(|| describe_call.vanished("add-on"))
}

/// Deletes an add-on (its Kubernetes resources with it) and waits until it is gone; one
/// already gone is fine.
pub async fn delete_with_client(
    c: &Client,
    address: &ResourceAddress,
    before: &Attrs,
    progress: &Progress,
    waits: Waits,
) -> Done {
    let (cluster, addon) = names(before, address);
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DeleteAddon");
    match c
        .delete_addon()
        .cluster_name(cluster)
        .addon_name(addon)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(map_eks(call, e)),
    }
    let describe_call = Call::new(&address.account, &resource, "eks:DescribeAddon");
    let gone = poll(waits, progress, address, "deleting", || async move {
        match describe(c, describe_call, cluster, addon).await? {
            None => Ok(Poll::Done(())),
            Some(a) if a.status() == Some(&AddonStatus::DeleteFailed) => Err(call.error(
                ErrorKind::Other,
                format!(
                    "deleting add-on {addon} of cluster {cluster} FAILED: {}",
                    health_text(&a)
                ),
                Some("fix the cause EKS names and apply again"),
            )),
            Some(a) => Ok(Poll::Pending(format!("status {}", status(&a)))),
        }
    })
    .await?;
    gone.ok_or_else(|| {
        call.error(
            ErrorKind::Transient,
            format!(
                "add-on {addon} of cluster {cluster} still exists {} minutes after its deletion started",
                waits.max.as_secs() / 60
            ),
            Some("the deletion goes on in AWS; run the command again later to finish"),
        )
    })
}

/// The add-ons EKS offers for Kubernetes `version` in `region`, asked from `account`
/// (`DescribeAddonVersions`, all pages): each add-on's compatible versions and its default.
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html>
pub async fn addon_versions(
    sessions: &Sessions,
    account: &str,
    region: &str,
    version: &str,
) -> Result<Vec<AddonVersions>, ProviderError> {
    let c = client(sessions, account, Some(region)).await?;
    addon_versions_with_client(&c, account, version).await
}

/// [`addon_versions`] through `c`.
pub async fn addon_versions_with_client(
    c: &Client,
    account: &str,
    version: &str,
) -> Result<Vec<AddonVersions>, ProviderError> {
    let what = format!("add-on versions for Kubernetes {version}");
    let call = Call::new(account, &what, "eks:DescribeAddonVersions");
    let mut out: Vec<AddonVersions> = Vec::new();
    let mut pages = c
        .describe_addon_versions()
        .kubernetes_version(version)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map_eks(call, e))?;
        for a in page.addons() {
            let Some(name) = a.addon_name() else {
                continue;
            };
            let mut entry = AddonVersions {
                name: name.to_string(),
                versions: Vec::new(),
                default: None,
            };
            for v in a.addon_versions() {
                let Some(number) = v.addon_version() else {
                    continue;
                };
                let compatible = v
                    .compatibilities()
                    .iter()
                    .filter(|c| c.cluster_version() == Some(version));
                let mut any = false;
                for c in compatible {
                    any = true;
                    if c.default_version() {
                        entry.default = Some(number.to_string());
                    }
                }
                if any {
                    entry.versions.push(number.to_string());
                }
            }
            out.push(entry);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[async_trait]
impl KindProvider for EksAddon {
    /// Reads an add-on by its cluster and name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let c = client(
            cx.sessions,
            &req.address.account,
            req.address.region.as_deref(),
        )
        .await?;
        let attrs = req.desired.or(req.recorded).cloned().unwrap_or_default();
        let (cluster, addon) = names(&attrs, req.address);
        read_with_client(&c, req.address, cluster, addon).await
    }

    /// Creates an add-on and waits until it is active.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let c = client(
            cx.sessions,
            &op.address.account,
            op.address.region.as_deref(),
        )
        .await?;
        create_with_client(
            &c,
            op.address,
            op.attrs,
            op.token,
            &cx.progress,
            Waits::production(CREATE_WAIT),
        )
        .await
    }

    /// Updates an add-on in place and waits for the update.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let c = client(
            cx.sessions,
            &op.address.account,
            op.address.region.as_deref(),
        )
        .await?;
        update_with_client(
            &c,
            op.address,
            op.after,
            op.changed,
            &cx.progress,
            Waits::production(UPDATE_WAIT),
        )
        .await
    }

    /// Deletes an add-on and waits until it is gone.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let c = client(
            cx.sessions,
            &op.address.account,
            op.address.region.as_deref(),
        )
        .await?;
        delete_with_client(
            &c,
            op.address,
            op.before,
            &cx.progress,
            Waits::production(DELETE_WAIT),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_values_compare_as_json_objects() {
        assert_eq!(configuration(None), json!({}));
        assert_eq!(configuration(Some("  ")), json!({}));
        assert_eq!(
            configuration(Some(r#"{"b": 1, "a": {"c": true}}"#)),
            json!({"a": {"c": true}, "b": 1})
        );
        assert_eq!(
            configuration(Some("replicaCount: 1")),
            json!("replicaCount: 1")
        );
        let mut attrs = Attrs::new();
        attrs.insert("configuration".into(), json!({}));
        assert_eq!(configuration_values(&attrs), None);
        attrs.insert("configuration".into(), json!({"replicaCount": 1}));
        assert_eq!(
            configuration_values(&attrs).as_deref(),
            Some(r#"{"replicaCount":1}"#)
        );
    }
}
