//! An EKS managed node group (`eks_node_group`) of a cluster, with the cluster's node role.
//!
//! EKS changes a node group's scaling (minimum and maximum), labels and taints in place
//! (`UpdateNodegroupConfig`) and its Kubernetes version in place (`UpdateNodegroupVersion`, a
//! rolling replacement of the nodes); its instance types, capacity type, AMI type, disk size,
//! subnets and node role only by replacing the group, which the plan blocks unless the group
//! allows it (`allow_replacement`), as for clusters.
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupConfig.html>
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupVersion.html>
//!
//! The desired size is set at creation only: cluster-autoscaler and Karpenter move it, and
//! eksmgr does not revert them (the plan says so). A node group never runs a Kubernetes
//! version newer than its control plane's, and EKS does not downgrade one: both are refused at
//! plan time. <https://docs.aws.amazon.com/eks/latest/userguide/update-managed-node-group.html>

use crate::annotation::Note;
use crate::guardrails::eval::RequestValue;
use crate::guardrails::scp::Need;
use crate::model::{DesiredResource, Value};
use crate::plan::{Action, PlannedChange};
use crate::risk::Risk;
use crate::schema::{
    AttrSchema,
    AttrType::{Set, Value as Plain},
    at_create, forces_new, in_place,
};

use super::eks_cluster::KubernetesVersion;
use super::{Calls, Kind, Review, attr, block, note};

/// The kind's rules.
pub struct EksNodeGroup;

/// EKS calls on a cluster's node groups (besides `eks:DeleteNodegroup`; creating and listing
/// them is on the cluster).
pub const NODE_GROUP_ACTIONS: &[&str] = &[
    "eks:DescribeNodegroup",
    "eks:DescribeUpdate",
    "eks:TagResource",
    "eks:UntagResource",
    "eks:UpdateNodegroupConfig",
    "eks:UpdateNodegroupVersion",
];

impl Kind for EksNodeGroup {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn review(&self, change: &mut PlannedChange, review: &Review<'_>) {
        match change.action {
            Action::Replace => {
                note(change, Note::NodeGroupReplacementTerminatesNodes);
                if !review.desired.is_none_or(|d| d.allow_replacement) {
                    block(
                        change,
                        "the node group would be replaced: set `allow_replacement = true` on it in eksmgr.toml to allow that",
                    );
                }
            }
            Action::Create => {
                if let Some(desired) = desired_size(review.desired) {
                    note(change, Note::DesiredSizeAtCreate { desired, now: None });
                }
            }
            Action::Update => {
                if let Some(refused) = version_refusal(change) {
                    block(change, &format!("EKS refuses this change: {refused}"));
                } else if let Some(version) = upgraded_to(change) {
                    note(change, Note::NodeGroupUpgrade { version });
                }
                kept_desired_size(change, review);
            }
            Action::NoOp => kept_desired_size(change, review),
            Action::Delete | Action::Forget => {}
        }
    }

    fn action_risk(&self, action: Action) -> Option<Risk> {
        match action {
            Action::Replace => Some(Risk::ReplacesNodeGroup),
            Action::Delete => Some(Risk::DeletesNodeGroup),
            Action::Create | Action::Update | Action::Forget | Action::NoOp => None,
        }
    }

    fn spoke_admin_calls(&self, r: &DesiredResource, calls: &mut Calls<'_>) {
        calls.cluster_scoped(
            r,
            &["eks:CreateNodegroup", "eks:ListNodegroups"],
            "nodegroup",
            NODE_GROUP_ACTIONS,
            "eks:DeleteNodegroup",
        );
        if let Some(role) = attr(r, "node_role_arn") {
            calls.global(Need::Required, &["iam:PassRole"], RequestValue::exact(role));
        }
        // EKS creates its node group service-linked role on the first node group.
        // <https://docs.aws.amazon.com/eks/latest/userguide/using-service-linked-roles-eks-nodegroups.html>
        let slr = format!(
            "{}:role/aws-service-role/eks-nodegroup.amazonaws.com/AWSServiceRoleForAmazonEKSNodegroup",
            calls.iam_arn()
        );
        calls.global(
            Need::Required,
            &["iam:CreateServiceLinkedRole"],
            RequestValue::exact(slr),
        );
    }
}

fn desired_size(r: Option<&DesiredResource>) -> Option<u64> {
    r?.attrs.get("desired_size")?.known()?.as_u64()
}

/// A node group whose desired size AWS has moved away from eksmgr.toml's: the plan says it
/// stays (an autoscaler owns it).
fn kept_desired_size(change: &mut PlannedChange, review: &Review<'_>) {
    let Some(desired) = desired_size(review.desired) else {
        return;
    };
    let now = change
        .before
        .as_ref()
        .and_then(|b| b.get("desired_size"))
        .and_then(Value::as_u64);
    if let Some(now) = now
        && now != desired
        && change.action == Action::Update
    {
        note(
            change,
            Note::DesiredSizeAtCreate {
                desired,
                now: Some(now),
            },
        );
    }
}

/// The Kubernetes version an update goes from and to, when it changes.
fn version_change(change: &PlannedChange) -> Option<(String, String)> {
    change.attribute_diffs.iter().find_map(|d| {
        if d.name != "version" {
            return None;
        }
        let from = d.before.as_ref()?.as_str()?.to_string();
        let to = d.after.as_ref()?.known()?.as_str()?.to_string();
        Some((from, to))
    })
}

fn upgraded_to(change: &PlannedChange) -> Option<String> {
    version_change(change).map(|(_, to)| to)
}

/// A version change EKS refuses: going back.
fn version_refusal(change: &PlannedChange) -> Option<String> {
    let (from, to) = version_change(change)?;
    let (Ok(f), Ok(t)) = (
        KubernetesVersion::parse(&from),
        KubernetesVersion::parse(&to),
    ) else {
        return None;
    };
    (t < f).then(|| {
        format!(
            "the node group runs Kubernetes {f} and EKS cannot downgrade it to {t}: set its `version` to \"{f}\" (or newer), or replace the node group"
        )
    })
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("cluster_name", Plain),
    forces_new("nodegroup_name", Plain),
    forces_new("node_role_arn", Plain),
    forces_new("subnet_ids", Set),
    forces_new("instance_types", Set),
    forces_new("capacity_type", Plain),
    forces_new("ami_type", Plain),
    forces_new("disk_size", Plain),
    in_place("min_size", Plain),
    in_place("max_size", Plain),
    at_create("desired_size"),
    in_place("labels", Plain),
    in_place("taints", Set),
    in_place("version", Plain),
    in_place("tags", Plain),
];
