//! An EKS access entry (`eks_access_entry`): an IAM principal's access to a cluster, with its
//! associated access policies. The spoke admin role creates it on the cluster and manages it
//! with [`ACCESS_ENTRY_ACTIONS`].

use crate::model::DesiredResource;
use crate::schema::{AttrSchema, AttrType::*, forces_new, in_place};

use super::{Calls, Kind};

/// The kind's rules.
pub struct EksAccessEntry;

/// EKS calls on a cluster's access entries (besides `eks:DeleteAccessEntry`;
/// `eks:CreateAccessEntry` is on the cluster).
pub const ACCESS_ENTRY_ACTIONS: &[&str] = &[
    "eks:AssociateAccessPolicy",
    "eks:DescribeAccessEntry",
    "eks:DisassociateAccessPolicy",
    "eks:ListAssociatedAccessPolicies",
    "eks:UpdateAccessEntry",
];

impl Kind for EksAccessEntry {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn spoke_admin_calls(&self, r: &DesiredResource, calls: &mut Calls<'_>) {
        calls.cluster_scoped(
            r,
            &["eks:CreateAccessEntry"],
            "access-entry",
            ACCESS_ENTRY_ACTIONS,
            "eks:DeleteAccessEntry",
        );
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("cluster_name", Value),
    forces_new("principal_arn", Value),
    forces_new("type", Value),
    in_place("kubernetes_groups", Set),
    // Policy ARN -> {"type": "cluster"} or {"type": "namespace", "namespaces": [...]}.
    in_place("access_policies", Value),
];
