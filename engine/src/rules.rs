//! Review rules: what a reviewer must know about a change (irreversible, slow, destructive)
//! and which changes need an explicit opt-in before apply will carry them out.

use std::collections::BTreeSet;

use crate::model::Value;
use eksmgr_state::json;

use crate::diff::AttrDiff;
use crate::model::{AttrValue, DesiredResource, ResourceKind};
use crate::plan::{Action, PlanOptions, PlannedChange};

/// Command to re-encrypt secrets written before envelope encryption was enabled.
pub const REENCRYPT_SECRETS: &str = "kubectl get secrets -A -o json | kubectl replace -f -";

/// Adds notes and opt-in requirements to a change.
pub(crate) fn review(
    change: &mut PlannedChange,
    desired: Option<&DesiredResource>,
    estate_accounts: &BTreeSet<&str>,
    options: &PlanOptions,
) {
    wait_for_busy_cluster(change);
    let account = change.address.account.as_str();
    if change.action == Action::Delete && !options.destroy && !estate_accounts.contains(account) {
        change
            .notes
            .push(format!("account {account} is no longer part of the estate (it left the EKS OU, was suspended or excluded)"));
        if !options.allow_account_removal {
            block(
                change,
                "it removes a resource of an account that left the estate: confirm with --allow-account-removal",
            );
        }
    }
    match (change.kind, change.action) {
        (ResourceKind::OrgPolicyType, Action::Delete) => {
            change.action = Action::Forget;
            change.notes.push(
                "the policy type stays enabled on the root: disabling it would detach every SCP of the organization, eksmgr's or not".into(),
            );
        }
        (ResourceKind::StackSetTrustedAccess, Action::Delete) => {
            change.action = Action::Forget;
            change.notes.push(
                "trusted access stays activated: other service-managed StackSets of the organization may rely on it".into(),
            );
        }
        (ResourceKind::KmsKey, Action::Delete) if options.key_deletion_denied_by.is_some() => {
            let scp = options
                .key_deletion_denied_by
                .as_deref()
                .unwrap_or_default();
            change.action = Action::Forget;
            change.notes.push(format!(
                "the key stays in AWS and only leaves eksmgr's state: the SCP `{scp}` denies kms:ScheduleKeyDeletion to every principal of the OU, eksmgr included; to delete it, set `governance.scp.exempt_admin_from_key_deletion_deny = true`, apply, then plan its deletion with --allow-key-deletion"
            ));
        }
        (ResourceKind::KmsKey, Action::Replace) if options.key_deletion_denied_by.is_some() => {
            let scp = options
                .key_deletion_denied_by
                .as_deref()
                .unwrap_or_default();
            block(
                change,
                &format!(
                    "replacing the key needs its deletion, which the SCP `{scp}` denies to eksmgr: set `governance.scp.exempt_admin_from_key_deletion_deny = true` and apply first"
                ),
            );
        }
        (ResourceKind::KmsKey, Action::Delete | Action::Replace) => {
            let days = change
                .before
                .as_ref()
                .and_then(|b| b.get("deletion_window_days"))
                .and_then(Value::as_u64)
                .unwrap_or(30);
            change.notes.push(format!(
                "schedules the key's deletion after a {days}-day waiting period; anything encrypted with it becomes unreadable then"
            ));
            if !options.allow_key_deletion {
                block(
                    change,
                    "it deletes a KMS key: confirm with --allow-key-deletion",
                );
            }
        }
        (ResourceKind::EksCluster, Action::Replace) => {
            change
                .notes
                .push("replacing the cluster destroys it and every workload running on it".into());
            if !desired.is_none_or(|d| d.allow_replacement) {
                block(
                    change,
                    "the cluster would be replaced: set `allow_replacement = true` for it in eksmgr.toml to allow that",
                );
            }
        }
        (ResourceKind::EksCluster, Action::Delete) => {
            change
                .notes
                .push("deleting the cluster destroys every workload running on it".into());
        }
        (ResourceKind::EksCluster, Action::Update)
            if let Some(refused) = crate::kinds::eks_cluster::refusal(change) =>
        {
            block(change, &format!("EKS refuses this change: {refused}"));
        }
        (ResourceKind::EksCluster, Action::Create | Action::Update) => {
            let enables = change.attribute_diffs.iter().any(|d| {
                d.name == "encryption_key_arn" && d.before.as_ref().is_none_or(Value::is_null)
            });
            if enables {
                change.notes.push(
                    "secrets envelope encryption can be enabled once and never removed or changed to another key".into(),
                );
                if change.action == Action::Update {
                    change.notes.push(format!(
                        "secrets written before encryption was enabled stay unencrypted until they are re-written: {REENCRYPT_SECRETS}"
                    ));
                }
            }
            if change.adopt {
                change.notes.push(
                    "an existing cluster is adopted: it is read and updated, never recreated"
                        .into(),
                );
            }
        }
        _ => {}
    }
}

/// A cluster AWS is still creating or updating (an earlier run's wait timed out, or an update
/// made elsewhere is under way) is not ready for its access entries and associations: the plan
/// waits for it, as `status: CREATING -> ACTIVE`, instead of adopting it as it is.
fn wait_for_busy_cluster(change: &mut PlannedChange) {
    if change.kind != ResourceKind::EksCluster
        || !matches!(change.action, Action::NoOp | Action::Update)
        || change.after.is_none()
    {
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
    change.notes.push(format!(
        "the cluster is {status} in AWS: apply waits until it is ACTIVE (it is never created again), then goes on with what depends on it"
    ));
}

fn block(change: &mut PlannedChange, why: &str) {
    change.blocked = Some(why.to_string());
}
