//! An EKS pod identity association (`eks_pod_identity_association`): a service account's IAM
//! role. The spoke admin role creates and lists them on the cluster, manages them with
//! [`POD_IDENTITY_ACTIONS`], and passes the role (EKS checks `iam:PassRole` on
//! `CreatePodIdentityAssociation`).

use crate::guardrails::eval::RequestValue;
use crate::guardrails::scp::Need;
use crate::model::DesiredResource;
use crate::schema::{AttrSchema, AttrType::Value, forces_new, in_place};

use super::{Calls, Kind, attr};

/// The kind's rules.
pub struct EksPodIdentityAssociation;

/// EKS calls on a cluster's pod identity associations (besides
/// `eks:DeletePodIdentityAssociation`; creating and listing them is on the cluster).
pub const POD_IDENTITY_ACTIONS: &[&str] = &[
    "eks:DescribePodIdentityAssociation",
    "eks:UpdatePodIdentityAssociation",
];

impl Kind for EksPodIdentityAssociation {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn spoke_admin_calls(&self, r: &DesiredResource, calls: &mut Calls<'_>) {
        calls.cluster_scoped(
            r,
            &[
                "eks:CreatePodIdentityAssociation",
                "eks:ListPodIdentityAssociations",
            ],
            "podidentityassociation",
            POD_IDENTITY_ACTIONS,
            "eks:DeletePodIdentityAssociation",
        );
        if let Some(role) = attr(r, "role_arn") {
            calls.global(Need::Required, &["iam:PassRole"], RequestValue::exact(role));
        }
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("cluster_name", Value),
    forces_new("namespace", Value),
    forces_new("service_account", Value),
    in_place("role_arn", Value),
];
