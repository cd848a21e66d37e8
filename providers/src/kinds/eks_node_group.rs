//! EKS managed node groups (`eks_node_group`).
//!
//! A node group is found by its cluster and name, so one that exists already is adopted and
//! brought to the desired settings, never created twice. Creating waits until it is `ACTIVE`
//! (a group that ends `CREATE_FAILED` is reported with EKS's health issues: an instance type
//! not offered in a zone, a subnet without free addresses, nodes that could not join). In place,
//! `UpdateNodegroupVersion` moves its Kubernetes version (to its cluster's) and
//! `UpdateNodegroupConfig` its scaling, labels and taints; each update is waited for. The
//! desired size is sent at creation; afterwards only when a new minimum or maximum leaves the
//! current one out of range, since EKS requires `min <= desired <= max`.
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html>
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupConfig.html>
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html>

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AmiTypes, CapacityTypes, Nodegroup, NodegroupScalingConfig, NodegroupStatus, Taint,
    TaintEffect, UpdateLabelsPayload, UpdateTaintsPayload,
};
use eksmgr_engine::model::{Attrs, ObservedResource, Value};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::{ResourceAddress, json};

use super::eks_cluster::{
    Poll, Subject, Waits, client, issues_text, map_eks, not_found, poll, update_tags, wait_update,
};
use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code};
use crate::{Progress, attr_map, attr_str, attr_strings};

/// The provider of managed node groups (`eks_node_group`).
pub struct EksNodeGroup;

/// Longest wait for a node group to become active (Terraform's default).
pub const CREATE_WAIT: Duration = Duration::from_secs(60 * 60);
/// Longest wait for one node group update (a version update replaces every node).
pub const UPDATE_WAIT: Duration = Duration::from_secs(60 * 60);
/// Longest wait for a node group to disappear after it was deleted.
pub const DELETE_WAIT: Duration = Duration::from_secs(60 * 60);

/// The attributes only a replacement changes.
const FIXED: &[&str] = &[
    "cluster_name",
    "nodegroup_name",
    "node_role_arn",
    "subnet_ids",
    "instance_types",
    "capacity_type",
    "ami_type",
    "disk_size",
];

/// The group's cluster and name: from its attributes, else from its address
/// (`<cluster>/<group>`).
fn names<'a>(attrs: &'a Attrs, address: &'a ResourceAddress) -> (&'a str, &'a str) {
    let (c, g) = address.name.split_once('/').unwrap_or(("", &address.name));
    (
        attr_str(attrs, "cluster_name").unwrap_or(c),
        attr_str(attrs, "nodegroup_name").unwrap_or(g),
    )
}

/// `DescribeNodegroup`; `None` when the group (or its cluster) does not exist.
async fn describe(
    c: &Client,
    call: Call<'_>,
    cluster: &str,
    group: &str,
) -> Result<Option<Nodegroup>, ProviderError> {
    match c
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(group)
        .send()
        .await
    {
        Ok(o) => Ok(o.nodegroup),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(map_eks(call, e)),
    }
}

/// EKS's health issues of a node group, one line.
fn health_text(g: &Nodegroup) -> String {
    issues_text(
        g.health()
            .map(|h| h.issues())
            .unwrap_or_default()
            .iter()
            .map(|i| (i.code().map(|c| c.as_str()), i.message(), i.resource_ids())),
    )
}

fn status(g: &Nodegroup) -> &str {
    g.status().map(NodegroupStatus::as_str).unwrap_or("unknown")
}

/// A taint as eksmgr compares it: key, value (when it has one) and effect.
fn taint_value(t: &Taint) -> Value {
    let mut m = eksmgr_state::value::Map::new();
    m.insert("key".into(), json!(t.key().unwrap_or_default()));
    if let Some(v) = t.value() {
        m.insert("value".into(), json!(v));
    }
    m.insert(
        "effect".into(),
        json!(t.effect().map(TaintEffect::as_str).unwrap_or_default()),
    );
    Value::Object(m)
}

/// The group's attributes as eksmgr compares them.
fn observe(cluster: &str, g: &Nodegroup) -> ObservedResource {
    let name = g.nodegroup_name().unwrap_or_default();
    let mut a = Attrs::new();
    a.insert("cluster_name".into(), json!(cluster));
    a.insert("nodegroup_name".into(), json!(name));
    a.insert(
        "node_role_arn".into(),
        json!(g.node_role().unwrap_or_default()),
    );
    a.insert("subnet_ids".into(), json!(g.subnets()));
    a.insert("instance_types".into(), json!(g.instance_types()));
    a.insert(
        "capacity_type".into(),
        json!(
            g.capacity_type()
                .map(CapacityTypes::as_str)
                .unwrap_or("ON_DEMAND")
        ),
    );
    a.insert(
        "ami_type".into(),
        json!(g.ami_type().map(AmiTypes::as_str).unwrap_or_default()),
    );
    if let Some(d) = g.disk_size() {
        a.insert("disk_size".into(), json!(d));
    }
    if let Some(s) = g.scaling_config() {
        for (k, v) in [
            ("min_size", s.min_size()),
            ("max_size", s.max_size()),
            ("desired_size", s.desired_size()),
        ] {
            if let Some(v) = v {
                a.insert(k.into(), json!(v));
            }
        }
    }
    let labels: BTreeMap<&str, &str> = g
        .labels()
        .map(|l| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default();
    a.insert("labels".into(), json!(labels));
    a.insert(
        "taints".into(),
        Value::Array(g.taints().iter().map(taint_value).collect()),
    );
    a.insert("version".into(), json!(g.version().unwrap_or_default()));
    if let Some(r) = g.release_version() {
        a.insert("release_version".into(), json!(r));
    }
    let tags: BTreeMap<&str, &str> = g
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default();
    a.insert("tags".into(), json!(tags));
    a.insert("status".into(), json!(status(g)));
    if let Some(arn) = g.nodegroup_arn() {
        a.insert("arn".into(), json!(arn));
    }
    ObservedResource::new(format!("{cluster}/{name}"), a)
}

fn int(attrs: &Attrs, name: &str) -> Option<i32> {
    attrs
        .get(name)
        .and_then(Value::as_u64)
        .and_then(|v| i32::try_from(v).ok())
}

/// The taints of `attrs`, as the EKS API takes them, keyed by (key, effect).
fn taints(attrs: &Attrs) -> BTreeMap<(String, String), Taint> {
    let Some(Value::Array(items)) = attrs.get("taints") else {
        return BTreeMap::new();
    };
    items
        .iter()
        .map(|t| {
            let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
            let key = s("key").unwrap_or_default();
            let effect = s("effect").unwrap_or_default();
            let taint = Taint::builder()
                .key(&key)
                .set_value(s("value"))
                .effect(TaintEffect::from(effect.as_str()))
                .build();
            ((key, effect), taint)
        })
        .collect()
}

/// Reads a node group of a cluster; `None` when there is none (or no cluster).
pub async fn read_with_client(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    group: &str,
) -> Found {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DescribeNodegroup");
    Ok(describe(c, call, cluster, group)
        .await?
        .map(|g| observe(cluster, &g)))
}

/// Creates a node group (one that exists already is adopted and brought to `attrs`) and waits
/// until it is active.
pub async fn create_with_client(
    c: &Client,
    address: &ResourceAddress,
    attrs: &Attrs,
    token: Option<&str>,
    progress: &Progress,
    waits: Waits,
) -> Made {
    let (cluster, group) = names(attrs, address);
    let resource = address.to_string();
    let account = address.account.as_str();
    let call = Call::new(account, &resource, "eks:CreateNodegroup");
    let scaling = NodegroupScalingConfig::builder()
        .set_min_size(int(attrs, "min_size"))
        .set_max_size(int(attrs, "max_size"))
        .set_desired_size(int(attrs, "desired_size"))
        .build();
    let labels: HashMap<String, String> = attr_map(attrs, "labels").into_iter().collect();
    let created = crate::propagation::retry(
        waits.propagation,
        Some((progress, address)),
        "eks:CreateNodegroup",
        || {
            let mut req = c
                .create_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(group)
                .node_role(attr_str(attrs, "node_role_arn").unwrap_or_default())
                .set_subnets(Some(attr_strings(attrs, "subnet_ids")))
                .set_instance_types(Some(attr_strings(attrs, "instance_types")))
                .set_capacity_type(attr_str(attrs, "capacity_type").map(CapacityTypes::from))
                .set_ami_type(attr_str(attrs, "ami_type").map(AmiTypes::from))
                .set_disk_size(int(attrs, "disk_size"))
                .scaling_config(scaling.clone())
                .set_labels((!labels.is_empty()).then(|| labels.clone()))
                .set_taints(Some(taints(attrs).into_values().collect()))
                .set_version(attr_str(attrs, "version").map(str::to_string))
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
        // It exists already (made outside eksmgr, or by a run that stopped before recording
        // it): adopt it, wait for it, and bring it to the desired settings.
        Err(e) if code(&e) == Some("ResourceInUseException") => {
            let existing = wait_active(c, address, cluster, group, progress, waits).await?;
            let changed = super::differing(
                eksmgr_engine::model::ResourceKind::EksNodeGroup,
                &[
                    "min_size", "max_size", "labels", "taints", "version", "tags",
                ],
                &existing.attrs,
                attrs,
            );
            return update_with_client(
                c,
                address,
                &existing.attrs,
                attrs,
                &changed,
                progress,
                waits,
            )
            .await;
        }
        Err(e) => return Err(map_eks(call, e)),
    }
    wait_active(c, address, cluster, group, progress, waits).await
}

/// Polls until the group is `ACTIVE`; one that failed is reported with its health issues.
async fn wait_active(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    group: &str,
    progress: &Progress,
    waits: Waits,
) -> Made {
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DescribeNodegroup");
    let active = poll(waits, progress, address, "creating", || async move {
        let Some(g) = describe(c, call, cluster, group).await? else {
            return Err(call.error(
                ErrorKind::NotFound,
                format!("node group {group} of cluster {cluster} disappeared while eksmgr waited for it"),
                Some("it was deleted outside eksmgr; run `eksmgr apply` again to create it"),
            ));
        };
        match g.status() {
            Some(NodegroupStatus::Active) => Ok(Poll::Done(g)),
            Some(NodegroupStatus::CreateFailed | NodegroupStatus::Degraded) => Err(call.error(
                ErrorKind::Other,
                format!(
                    "node group {group} of cluster {cluster} is {}: {}",
                    status(&g),
                    health_text(&g)
                ),
                Some(
                    "fix the cause EKS names (instance types offered in the subnets' zones, free addresses in the subnets, the node role's policies), delete the failed group (`aws eks delete-nodegroup`) and apply again",
                ),
            )),
            _ => Ok(Poll::Pending(format!("status {}", status(&g)))),
        }
    })
    .await?;
    match active {
        Some(g) => Ok(observe(cluster, &g)),
        None => Err(call.error(
            ErrorKind::Transient,
            format!(
                "node group {group} of cluster {cluster} is not ACTIVE {} minutes after its creation",
                waits.max.as_secs() / 60
            ),
            Some("the creation goes on in AWS; the next `eksmgr apply` adopts it and waits again"),
        )),
    }
}

/// The scaling `UpdateNodegroupConfig` sends: the new minimum and maximum, and the desired
/// size only when the current one falls outside them (then the nearest bound).
fn scaling_update(before: &Attrs, after: &Attrs) -> NodegroupScalingConfig {
    let (min, max) = (int(after, "min_size"), int(after, "max_size"));
    let desired = int(before, "desired_size").and_then(|d| {
        let clamped = d.max(min.unwrap_or(d)).min(max.unwrap_or(d));
        (clamped != d).then_some(clamped)
    });
    NodegroupScalingConfig::builder()
        .set_min_size(min)
        .set_max_size(max)
        .set_desired_size(desired)
        .build()
}

/// Updates a node group in place (its version first, then its scaling, labels and taints,
/// each waited for; then its tags) and reads it back.
pub async fn update_with_client(
    c: &Client,
    address: &ResourceAddress,
    before: &Attrs,
    after: &Attrs,
    changed: &[String],
    progress: &Progress,
    waits: Waits,
) -> Made {
    let (cluster, group) = names(after, address);
    let resource = address.to_string();
    let account = address.account.as_str();
    let is = |a: &str| changed.iter().any(|c| c == a);
    let config_call = Call::new(account, &resource, "eks:UpdateNodegroupConfig");
    if let Some(fixed) = FIXED.iter().find(|a| is(a)) {
        return Err(config_call.error(
            ErrorKind::Invalid,
            format!("`{fixed}` of a node group cannot be changed in place"),
            Some("changing it needs a new node group (a replacement)"),
        ));
    }
    if is("version") {
        let call = Call::new(account, &resource, "eks:UpdateNodegroupVersion");
        let out = c
            .update_nodegroup_version()
            .cluster_name(cluster)
            .nodegroup_name(group)
            .set_version(attr_str(after, "version").map(str::to_string))
            .send()
            .await
            .map_err(|e| map_eks(call, e))?;
        let subject = Subject::NodeGroup(group);
        wait_update(c, address, cluster, subject, out.update(), progress, waits).await?;
    }
    if is("min_size") || is("max_size") || is("labels") || is("taints") {
        let mut req = c
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(group);
        if is("min_size") || is("max_size") {
            req = req.scaling_config(scaling_update(before, after));
        }
        if is("labels") {
            let (old, new): (BTreeMap<_, _>, BTreeMap<_, _>) = (
                attr_map(before, "labels").into_iter().collect(),
                attr_map(after, "labels").into_iter().collect(),
            );
            let add: HashMap<String, String> = new
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let remove: Vec<String> = old
                .keys()
                .filter(|k| !new.contains_key(*k))
                .cloned()
                .collect();
            req = req.labels(
                UpdateLabelsPayload::builder()
                    .set_add_or_update_labels((!add.is_empty()).then_some(add))
                    .set_remove_labels((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        if is("taints") {
            let (old, new) = (taints(before), taints(after));
            let add: Vec<Taint> = new
                .iter()
                .filter(|(k, t)| old.get(*k) != Some(*t))
                .map(|(_, t)| t.clone())
                .collect();
            let remove: Vec<Taint> = old
                .iter()
                .filter(|(k, _)| !new.contains_key(*k))
                .map(|(_, t)| t.clone())
                .collect();
            req = req.taints(
                UpdateTaintsPayload::builder()
                    .set_add_or_update_taints((!add.is_empty()).then_some(add))
                    .set_remove_taints((!remove.is_empty()).then_some(remove))
                    .build(),
            );
        }
        let out = req.send().await.map_err(|e| map_eks(config_call, e))?;
        let subject = Subject::NodeGroup(group);
        wait_update(c, address, cluster, subject, out.update(), progress, waits).await?;
    }
    let describe_call = Call::new(account, &resource, "eks:DescribeNodegroup");
    if is("tags") {
        let live = describe(c, describe_call, cluster, group)
            .await?
            .ok_or_else(|| describe_call.vanished("node group"))?;
        update_tags(
            c,
            Call::new(account, &resource, "eks:TagResource"),
            live.nodegroup_arn(),
            live.tags(),
            after,
        )
        .await?;
    }
    read_with_client(c, address, cluster, group)
        .await?
        .ok_or_else(|| describe_call.vanished("node group"))
}

/// Deletes a node group (terminating its nodes) and waits until it is gone; one already
/// gone is fine.
pub async fn delete_with_client(
    c: &Client,
    address: &ResourceAddress,
    before: &Attrs,
    progress: &Progress,
    waits: Waits,
) -> Done {
    let (cluster, group) = names(before, address);
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:DeleteNodegroup");
    match c
        .delete_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(group)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(map_eks(call, e)),
    }
    let describe_call = Call::new(&address.account, &resource, "eks:DescribeNodegroup");
    let gone = poll(waits, progress, address, "deleting", || async move {
        match describe(c, describe_call, cluster, group).await? {
            None => Ok(Poll::Done(())),
            Some(g) if g.status() == Some(&NodegroupStatus::DeleteFailed) => Err(call.error(
                ErrorKind::Other,
                format!(
                    "deleting node group {group} of cluster {cluster} FAILED: {}",
                    health_text(&g)
                ),
                Some("fix the cause EKS names and apply again"),
            )),
            Some(g) => Ok(Poll::Pending(format!("status {}", status(&g)))),
        }
    })
    .await?;
    gone.ok_or_else(|| {
        call.error(
            ErrorKind::Transient,
            format!(
                "node group {group} of cluster {cluster} still exists {} minutes after its deletion started",
                waits.max.as_secs() / 60
            ),
            Some("the deletion goes on in AWS; run the command again later to finish"),
        )
    })
}

#[async_trait]
impl KindProvider for EksNodeGroup {
    /// Reads a node group by its cluster and name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let c = client(
            cx.sessions,
            &req.address.account,
            req.address.region.as_deref(),
        )
        .await?;
        let attrs = req.desired.or(req.recorded).cloned().unwrap_or_default();
        let (cluster, group) = names(&attrs, req.address);
        read_with_client(&c, req.address, cluster, group).await
    }

    /// Creates a node group and waits until it is active.
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

    /// Updates a node group in place and waits for each update.
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
            op.before,
            op.after,
            op.changed,
            &cx.progress,
            Waits::production(UPDATE_WAIT),
        )
        .await
    }

    /// Deletes a node group and waits until it is gone.
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
    fn a_new_range_moves_the_desired_size_only_when_it_leaves_it_out() {
        let attrs = |pairs: &[(&str, u64)]| {
            let mut a = Attrs::new();
            for (k, v) in pairs {
                a.insert((*k).into(), json!(v));
            }
            a
        };
        let before = attrs(&[("min_size", 1), ("max_size", 5), ("desired_size", 4)]);
        let s = scaling_update(&before, &attrs(&[("min_size", 1), ("max_size", 6)]));
        assert_eq!(
            (s.min_size(), s.max_size(), s.desired_size()),
            (Some(1), Some(6), None)
        );
        let s = scaling_update(&before, &attrs(&[("min_size", 1), ("max_size", 3)]));
        assert_eq!(s.desired_size(), Some(3));
        let s = scaling_update(&before, &attrs(&[("min_size", 5), ("max_size", 8)]));
        assert_eq!(s.desired_size(), Some(5));
    }
}
