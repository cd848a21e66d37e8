//! An EKS add-on (`eks_addon`): `vpc-cni`, `coredns`, `kube-proxy`, `eks-pod-identity-agent`
//! or any other add-on EKS offers, on one cluster. Its version is pinned or EKS's default for
//! the cluster's Kubernetes version (resolved at plan time, `blueprint::compute`), its
//! configuration values are compared by meaning, and its service account may get an IAM role
//! through EKS Pod Identity (`podIdentityAssociations` on `CreateAddon`).
//! <https://docs.aws.amazon.com/eks/latest/userguide/eks-add-ons.html>
//!
//! EKS does not downgrade an add-on: going to an older version is refused at plan time.
//! <https://docs.aws.amazon.com/eks/latest/userguide/updating-an-add-on.html>
//!
//! In a spoke, the spoke admin role creates and lists add-ons on the cluster, manages them with
//! [`ADDON_ACTIONS`], and passes the roles of their pod identity associations.

use crate::annotation::Note;
use crate::guardrails::eval::RequestValue;
use crate::guardrails::scp::Need;
use crate::model::{DesiredResource, Value};
use crate::plan::{Action, PlannedChange};
use crate::schema::{
    AttrSchema,
    AttrType::{Set, Value as Plain},
    forces_new, in_place,
};

use super::{Calls, Kind, Review, block, note};

/// The kind's rules.
pub struct EksAddon;

/// EKS calls on a cluster's add-ons (besides `eks:DeleteAddon`; creating and listing them is
/// on the cluster).
pub const ADDON_ACTIONS: &[&str] = &[
    "eks:DescribeAddon",
    "eks:DescribeUpdate",
    "eks:TagResource",
    "eks:UntagResource",
    "eks:UpdateAddon",
];

impl Kind for EksAddon {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn review(&self, change: &mut PlannedChange, _review: &Review<'_>) {
        if !matches!(change.action, Action::Create | Action::Update) {
            return;
        }
        if change.adopt {
            note(change, Note::AddonAdopted);
        }
        if change.action != Action::Update {
            return;
        }
        let downgrade = change.attribute_diffs.iter().find_map(|d| {
            if d.name != "addon_version" {
                return None;
            }
            let from = d.before.as_ref()?.as_str()?;
            let to = d.after.as_ref()?.known()?.as_str()?;
            (AddonVersion::parse(to)? < AddonVersion::parse(from)?)
                .then(|| (from.to_string(), to.to_string()))
        });
        if let Some((from, to)) = downgrade {
            block(
                change,
                &format!(
                    "EKS refuses this change: the add-on runs {from} and EKS does not downgrade an add-on to {to}: pin `version = \"{from}\"` (or newer), or remove the add-on, apply, and add it back"
                ),
            );
        }
    }

    fn spoke_admin_calls(&self, r: &DesiredResource, calls: &mut Calls<'_>) {
        calls.cluster_scoped(
            r,
            &[
                "eks:CreateAddon",
                "eks:ListAddons",
                "eks:CreatePodIdentityAssociation",
            ],
            "addon",
            ADDON_ACTIONS,
            "eks:DeleteAddon",
        );
        for role in pod_identity_roles(r) {
            calls.global(Need::Required, &["iam:PassRole"], RequestValue::exact(role));
        }
    }
}

/// The roles of an add-on's pod identity associations.
fn pod_identity_roles(r: &DesiredResource) -> Vec<String> {
    let Some(Value::Array(items)) = r
        .attrs
        .get("pod_identity_associations")
        .and_then(|v| v.known())
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| i.get("role_arn").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// An add-on version, `v1.19.2-eksbuild.1`: its numbers, compared in order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddonVersion(Vec<u64>);

impl AddonVersion {
    /// Parses `v<major>.<minor>.<patch>-eksbuild.<build>`; None for another form (left to
    /// EKS).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.strip_prefix('v')?;
        let (release, build) = match s.split_once("-eksbuild.") {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let mut parts = release
            .split('.')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        parts.push(match build {
            Some(b) => b.parse().ok()?,
            None => 0,
        });
        Some(AddonVersion(parts))
    }
}

/// Its attributes: how each is compared and changed. `resolve_conflicts` is sent with each
/// create and update and never reported back, so it is not compared.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("cluster_name", Plain),
    forces_new("addon_name", Plain),
    in_place("addon_version", Plain),
    in_place("configuration", Plain),
    in_place("pod_identity_associations", Set),
    in_place("resolve_conflicts", Plain),
    in_place("tags", Plain),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_their_numbers() {
        let v = |s| AddonVersion::parse(s);
        assert!(v("v1.19.2-eksbuild.1") < v("v1.19.10-eksbuild.1"));
        assert!(v("v1.19.2-eksbuild.1") < v("v1.19.2-eksbuild.2"));
        assert!(v("v1.11.4-eksbuild.2") > v("v1.10.1-eksbuild.18"));
        assert_eq!(v("1.19.2"), None);
        assert_eq!(v("v1.x"), None);
    }
}
