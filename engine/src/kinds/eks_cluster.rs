//! EKS clusters: the Kubernetes version format, and which version and authentication-mode
//! changes EKS makes in place. Both are refused at plan time (the change is blocked, and
//! `plan` exits 1 naming the cluster) and checked again by the provider before it calls EKS.
//!
//! - A version is `<major>.<minor>`; EKS upgrades a cluster one minor version at a time and
//!   never downgrades it ("You can't downgrade ... you must upgrade one minor version at a
//!   time", <https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html>).
//! - The authentication mode only moves `CONFIG_MAP` -> `API_AND_CONFIG_MAP` -> `API`
//!   ("Once the access entry method is enabled, it cannot be disabled",
//!   <https://docs.aws.amazon.com/eks/latest/userguide/setting-up-access-entries.html>).
//!
//! Its review also blocks a replacement unless the cluster allows it (`allow_replacement`),
//! says what a replacement, a deletion or enabling envelope encryption (one-way) means, and
//! waits for a cluster AWS is still creating or updating. In a spoke, the spoke admin role
//! calls [`CLUSTER_ACTIONS`] on it, passes its role and creates EKS's service-linked role.

use std::collections::BTreeMap;
use std::fmt;

use crate::annotation::Note;
use crate::diff::AttrDiff;
use crate::guardrails::eval::RequestValue;
use crate::guardrails::scp::Need;
use crate::model::{AttrValue, DesiredResource, ResourceKind, Value};
use crate::plan::{Action, PlannedChange};
use crate::risk::Risk;
use crate::schema::{
    AttrSchema,
    AttrType::{Set, Value as Plain},
    at_create, forces_new, in_place, set_once,
};
use eksmgr_state::json;

use super::{Calls, Kind, Review, attr, block, note};

/// The kind's rules.
pub struct EksCluster;

/// EKS calls on a cluster (besides `eks:DeleteCluster`).
pub const CLUSTER_ACTIONS: &[&str] = &[
    "eks:AssociateEncryptionConfig",
    "eks:CreateCluster",
    "eks:DescribeCluster",
    "eks:DescribeUpdate",
    "eks:TagResource",
    "eks:UntagResource",
    "eks:UpdateClusterConfig",
    "eks:UpdateClusterVersion",
];

impl Kind for EksCluster {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn review(&self, change: &mut PlannedChange, review: &Review<'_>) {
        wait_for_busy_cluster(change);
        match change.action {
            Action::Replace => {
                note(change, Note::ClusterReplacementDestroysWorkloads);
                if !review.desired.is_none_or(|d| d.allow_replacement) {
                    block(
                        change,
                        "the cluster would be replaced: set `allow_replacement = true` for it in eksmgr.toml to allow that",
                    );
                }
            }
            Action::Delete => note(change, Note::ClusterDeletionDestroysWorkloads),
            Action::Update if let Some(refused) = refusal(change) => {
                block(change, &format!("EKS refuses this change: {refused}"));
            }
            Action::Create | Action::Update => {
                let enables = change.attribute_diffs.iter().any(|d| {
                    d.name == "encryption_key_arn" && d.before.as_ref().is_none_or(Value::is_null)
                });
                if enables {
                    note(change, Note::EncryptionIsPermanent);
                    if change.action == Action::Update {
                        note(change, Note::ReencryptExistingSecrets);
                    }
                }
                if change.adopt {
                    note(change, Note::ClusterAdopted);
                }
            }
            Action::Forget | Action::NoOp => {}
        }
    }

    fn action_risk(&self, action: Action) -> Option<Risk> {
        match action {
            Action::Replace => Some(Risk::ReplacesCluster),
            Action::Delete => Some(Risk::DeletesCluster),
            Action::Create | Action::Update | Action::Forget | Action::NoOp => None,
        }
    }

    fn spoke_admin_calls(&self, r: &DesiredResource, calls: &mut Calls<'_>) {
        let name = attr(r, "name").unwrap_or(&r.address.name);
        let arn = RequestValue::exact(format!("{}:cluster/{name}", calls.arn("eks")));
        calls.regional(Need::Required, CLUSTER_ACTIONS, arn.clone());
        calls.regional(Need::Deletion, &["eks:DeleteCluster"], arn);
        if let Some(role) = attr(r, "role_arn") {
            calls.global(Need::Required, &["iam:PassRole"], RequestValue::exact(role));
        }
        let slr = format!(
            "{}:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS",
            calls.iam_arn()
        );
        calls.global(
            Need::Required,
            &["iam:CreateServiceLinkedRole"],
            RequestValue::exact(slr),
        );
    }
}

/// A cluster AWS is still creating or updating (an earlier run's wait timed out, or an update
/// made elsewhere is under way) is not ready for its access entries and associations: the plan
/// waits for it, as `status: CREATING -> ACTIVE`, instead of adopting it as it is.
fn wait_for_busy_cluster(change: &mut PlannedChange) {
    if !matches!(change.action, Action::NoOp | Action::Update) || change.after.is_none() {
        return;
    }
    let status = change
        .before
        .as_ref()
        .and_then(|b| b.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("ACTIVE")
        .to_string();
    if !matches!(status.as_str(), "CREATING" | "UPDATING" | "PENDING") {
        return;
    }
    change.action = Action::Update;
    change.attribute_diffs.push(AttrDiff {
        name: "status".into(),
        before: Some(json!(status)),
        after: Some(AttrValue::Known(json!("ACTIVE"))),
        forces_replacement: false,
        document: false,
    });
    note(change, Note::ClusterBusy { status });
}

/// EKS upgrades a control plane only when every managed node group of the cluster runs its
/// version ("Nodegroups X must be updated to match cluster version 1.16 before updating
/// cluster version"): an upgrade of a cluster whose node group runs another version is blocked
/// at plan time, naming the groups. Groups this plan creates, replaces or deletes do not hold it
/// back (they come after the control plane, or go).
/// <https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html>
pub(crate) fn node_groups_hold_back(changes: &mut [PlannedChange]) {
    let text = |attrs: &crate::model::Attrs, name: &str| {
        attrs.get(name).and_then(Value::as_str).map(str::to_string)
    };
    type Cluster = (String, Option<String>, String);
    let mut groups: BTreeMap<Cluster, Vec<(String, String)>> = BTreeMap::new();
    for c in changes.iter() {
        if c.kind != ResourceKind::EksNodeGroup
            || !matches!(c.action, Action::Update | Action::NoOp)
        {
            continue;
        }
        let Some(before) = &c.before else {
            continue;
        };
        let (Some(cluster), Some(name), Some(version)) = (
            text(before, "cluster_name"),
            text(before, "nodegroup_name"),
            text(before, "version"),
        ) else {
            continue;
        };
        let region = c.address.region.as_ref().map(ToString::to_string);
        let key = (c.address.account.to_string(), region, cluster);
        groups.entry(key).or_default().push((name, version));
    }
    for c in changes.iter_mut() {
        if c.kind != ResourceKind::EksCluster || c.action != Action::Update || c.blocked.is_some() {
            continue;
        }
        let from = c.attribute_diffs.iter().find_map(|d| {
            (d.name == "version").then(|| d.before.as_ref()?.as_str().map(str::to_string))?
        });
        let (Some(from), Some(name)) = (from, c.before.as_ref().and_then(|b| text(b, "name")))
        else {
            continue;
        };
        let region = c.address.region.as_ref().map(ToString::to_string);
        let key = (c.address.account.to_string(), region, name);
        let behind: Vec<String> = groups
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(_, v)| *v != from)
            .map(|(g, v)| format!("{g} ({v})"))
            .collect();
        if !behind.is_empty() {
            block(
                c,
                &format!(
                    "EKS refuses this change: it upgrades the control plane only when every managed node group runs its version ({from}), and node group(s) {} do not: let them follow the cluster (remove their `version`), apply, then upgrade the cluster",
                    behind.join(", ")
                ),
            );
        }
    }
}

/// A Kubernetes minor version, `1.35`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubernetesVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl KubernetesVersion {
    /// Parses `<major>.<minor>` (major 1, a minor of at most three digits): the one
    /// definition of the format, for the configuration and the provider alike.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid Kubernetes version {s:?}: expected \"<major>.<minor>\", e.g. \"1.31\"")
        };
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        let digits = |p: &str, max: usize| {
            !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
        };
        // No leading zero: `1.031` is not how Kubernetes names 1.31.
        if major != "1" || !digits(minor, 3) || (minor.len() > 1 && minor.starts_with('0')) {
            return Err(bad());
        }
        Ok(KubernetesVersion {
            major: 1,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A change EKS refuses, with what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What is refused.
    pub message: String,
    /// What to change in eksmgr.toml.
    pub hint: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.message, self.hint)
    }
}

/// Whether going from version `from` to `to` is an upgrade EKS makes in place (`Ok(true)`),
/// no change (`Ok(false)`), or refused. A current version eksmgr cannot read is left to EKS.
pub fn version_step(from: &str, to: &str) -> Result<bool, Refusal> {
    let target = KubernetesVersion::parse(to).map_err(|message| Refusal {
        message,
        hint: "set version to a Kubernetes minor version such as \"1.35\"".into(),
    })?;
    let Ok(current) = KubernetesVersion::parse(from) else {
        return Ok(from != to);
    };
    if target == current {
        return Ok(false);
    }
    if target < current {
        return Err(Refusal {
            message: format!(
                "the cluster runs Kubernetes {current}; EKS cannot downgrade it to {target}"
            ),
            hint: format!(
                "set version back to \"{current}\" (or newer); going back needs a new cluster"
            ),
        });
    }
    if target.major != current.major || target.minor > current.minor + 1 {
        let next = KubernetesVersion {
            minor: current.minor + 1,
            ..current
        };
        return Err(Refusal {
            message: format!(
                "the cluster runs Kubernetes {current}; EKS upgrades one minor version at a time and cannot go to {target} at once"
            ),
            hint: format!(
                "set version to \"{next}\", apply, and go on one minor version at a time"
            ),
        });
    }
    Ok(true)
}

/// The order of the authentication modes: a mode may only move up.
fn authentication_rank(mode: &str) -> Option<u8> {
    match mode {
        "CONFIG_MAP" => Some(0),
        "API_AND_CONFIG_MAP" => Some(1),
        "API" => Some(2),
        _ => None,
    }
}

/// Refuses a change of authentication mode EKS cannot make (going back towards
/// `CONFIG_MAP`); modes eksmgr does not know are left to EKS.
pub fn authentication_mode_step(from: &str, to: &str) -> Result<(), Refusal> {
    match (authentication_rank(from), authentication_rank(to)) {
        (Some(f), Some(t)) if t < f => Err(Refusal {
            message: format!("authentication mode {from} cannot go back to {to}"),
            hint: format!(
                "EKS only moves CONFIG_MAP -> API_AND_CONFIG_MAP -> API; set authentication_mode = \"{from}\""
            ),
        }),
        _ => Ok(()),
    }
}

/// The refusal of an in-place update of a cluster that EKS cannot make, if any.
pub(crate) fn refusal(change: &PlannedChange) -> Option<Refusal> {
    if change.action != Action::Update {
        return None;
    }
    let step = |name: &str| {
        let d = change.attribute_diffs.iter().find(|d| d.name == name)?;
        let from = d.before.as_ref().and_then(Value::as_str)?;
        let to = d.after.as_ref()?.known().and_then(Value::as_str)?;
        Some((from.to_string(), to.to_string()))
    };
    if let Some((from, to)) = step("version")
        && let Err(r) = version_step(&from, &to)
    {
        return Some(r);
    }
    if let Some((from, to)) = step("authentication_mode")
        && let Err(r) = authentication_mode_step(&from, &to)
    {
        return Some(r);
    }
    None
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("name", Plain),
    forces_new("role_arn", Plain),
    in_place("version", Plain),
    in_place("subnet_ids", Set),
    in_place("security_group_ids", Set),
    in_place("endpoint_public_access", Plain),
    in_place("endpoint_private_access", Plain),
    in_place("public_access_cidrs", Set),
    in_place("logging", Set),
    in_place("authentication_mode", Plain),
    set_once("encryption_key_arn"),
    in_place("tags", Plain),
    // Whether EKS installs self-managed vpc-cni, coredns and kube-proxy on a new cluster: not
    // when eksmgr installs them as managed add-ons (one owner, no conflicts to resolve).
    // Set at creation only; EKS does not report it.
    // <https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html>
    at_create("bootstrap_self_managed_addons"),
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_major_dot_minor() {
        assert_eq!(
            KubernetesVersion::parse("1.35").unwrap(),
            KubernetesVersion {
                major: 1,
                minor: 35
            }
        );
        for bad in [
            "", "1", "1.", ".35", "2.0", "1.35.1", "1.x", "v1.35", "1.1000", "1.031",
        ] {
            assert!(KubernetesVersion::parse(bad).is_err(), "{bad}");
        }
        assert!(KubernetesVersion::parse("1.9") < KubernetesVersion::parse("1.10"));
    }

    #[test]
    fn one_minor_up_is_an_upgrade_anything_else_is_refused() {
        assert_eq!(version_step("1.33", "1.34"), Ok(true));
        assert_eq!(version_step("1.34", "1.34"), Ok(false));
        let jump = version_step("1.33", "1.35").unwrap_err();
        assert!(
            jump.message.contains("one minor version at a time"),
            "{jump}"
        );
        assert!(jump.hint.contains("\"1.34\""), "{jump}");
        let down = version_step("1.35", "1.34").unwrap_err();
        assert!(down.message.contains("cannot downgrade"), "{down}");
        assert!(version_step("1.35", "latest").is_err());
        // A current version eksmgr cannot read is left to EKS.
        assert_eq!(version_step("unknown", "1.35"), Ok(true));
    }

    #[test]
    fn the_authentication_mode_only_moves_towards_api() {
        assert!(authentication_mode_step("CONFIG_MAP", "API_AND_CONFIG_MAP").is_ok());
        assert!(authentication_mode_step("API_AND_CONFIG_MAP", "API").is_ok());
        assert!(authentication_mode_step("API", "API").is_ok());
        let back = authentication_mode_step("API", "API_AND_CONFIG_MAP").unwrap_err();
        assert!(back.message.contains("cannot go back"), "{back}");
    }
}
