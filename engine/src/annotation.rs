//! Typed annotations of a planned change: why the planner chose its action ([`Reason`]) and
//! what a reviewer must know about it ([`Note`]). The planner and the kinds' review rules set
//! them as values; the human, Markdown and JSON views render the same values (the text of
//! each is its `Display`, the JSON view also carries its code and fields).

use std::fmt;

use chrono::{DateTime, Utc};
use eksmgr_state::ResourceAddress;
use serde::{Deserialize, Serialize};

use crate::plan::Action;

/// Command to re-encrypt secrets written before envelope encryption was enabled.
pub const REENCRYPT_SECRETS: &str = "kubectl get secrets -A -o json | kubectl replace -f -";

/// Why a change has its action, where the action alone does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// Replaced: these attributes cannot be changed in place.
    ForcesReplacement {
        /// The attributes, in name order.
        attributes: Vec<String>,
    },
    /// Replaced because these resources are, and AWS binds this one to their unique id.
    ReplacedWith {
        /// The resources replaced.
        resources: Vec<ResourceAddress>,
    },
    /// Created again: state records it, AWS no longer has it.
    RecreatedAfterDeletion,
    /// Removed from state only: it is already gone from AWS.
    GoneFromAws,
    /// It exists in AWS under its natural key but not in state: apply records it.
    Adopted,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ForcesReplacement { attributes } => {
                write!(f, "{} cannot be changed in place", attributes.join(", "))
            }
            Reason::ReplacedWith { resources } => write!(
                f,
                "{} is replaced, and AWS binds this to its unique id, not its ARN",
                list(resources)
            ),
            Reason::RecreatedAfterDeletion => {
                f.write_str("deleted outside eksmgr: it is created again")
            }
            Reason::GoneFromAws => f.write_str("already deleted outside eksmgr"),
            Reason::Adopted => f.write_str("exists in AWS but not in state: apply adopts it"),
        }
    }
}

/// What became of an operation an interrupted apply left open, as this plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// AWS holds what the operation made: this plan adopts it.
    Adopts,
    /// The operation did not complete: this plan carries out the change again.
    Finishes(Action),
}

/// What a reviewer must know about a change (irreversible, slow or destructive effects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Note {
    /// The resource's account left the estate (the EKS OU, suspended, or excluded).
    AccountLeftEstate {
        /// The account.
        account: String,
    },
    /// A destroy leaves the SCP policy type enabled on the root.
    PolicyTypeStaysEnabled,
    /// A destroy leaves StackSets' trusted access activated.
    TrustedAccessStaysActivated,
    /// The key stays in AWS: the SCP denies its deletion to eksmgr.
    KeyKeptByScp {
        /// The SCP's name.
        scp: String,
    },
    /// The key's deletion is scheduled after its waiting period.
    KeyDeletionScheduled {
        /// The waiting period, in days.
        days: u64,
    },
    /// Replacing the cluster destroys its workloads.
    ClusterReplacementDestroysWorkloads,
    /// Deleting the cluster destroys its workloads.
    ClusterDeletionDestroysWorkloads,
    /// Envelope encryption of secrets cannot be undone.
    EncryptionIsPermanent,
    /// Secrets written before encryption stay unencrypted until re-written.
    ReencryptExistingSecrets,
    /// An existing cluster is adopted, never recreated.
    ClusterAdopted,
    /// The cluster is busy in AWS: apply waits until it is ACTIVE.
    ClusterBusy {
        /// Its status now (CREATING, UPDATING, PENDING).
        status: String,
    },
    /// An earlier apply was interrupted during an operation on this resource.
    InterruptedOperation {
        /// The resource.
        address: ResourceAddress,
        /// The operation that was under way (create, update ...).
        operation: String,
        /// When it started.
        started_at: DateTime<Utc>,
        /// What this plan does about it.
        resolution: Resolution,
    },
    /// These resources are recreated with this one (AWS binds them to its unique id).
    RecreatesDependents {
        /// The resources.
        resources: Vec<ResourceAddress>,
    },
    /// An add-on installed on the cluster outside eksmgr is adopted, never created twice.
    AddonAdopted,
    /// A node group's desired size is set at creation only; an autoscaler owns it afterwards.
    DesiredSizeAtCreate {
        /// The desired size in eksmgr.toml.
        desired: u64,
        /// The desired size in AWS now, when the node group exists and it differs.
        now: Option<u64>,
    },
    /// Replacing a node group terminates its nodes; their pods are rescheduled.
    NodeGroupReplacementTerminatesNodes,
    /// A node group upgrade, which comes after its control plane's and its add-ons'.
    NodeGroupUpgrade {
        /// The Kubernetes version the cluster goes to.
        version: String,
    },
}

impl Note {
    /// An interrupted operation's description, without what this plan does about it (also
    /// the start of the plan's warnings about it).
    pub fn interrupted(
        operation: &str,
        address: &ResourceAddress,
        started_at: &DateTime<Utc>,
    ) -> String {
        format!(
            "an earlier apply was interrupted during the {operation} of {address} (started {})",
            started_at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolution::Adopts => f.write_str("AWS holds it: this plan adopts it into state"),
            Resolution::Finishes(action) => write!(
                f,
                "this plan finishes it ({})",
                format!("{action:?}").to_lowercase()
            ),
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::AccountLeftEstate { account } => write!(
                f,
                "account {account} is no longer part of the estate (it left the EKS OU, was suspended or excluded)"
            ),
            Note::PolicyTypeStaysEnabled => f.write_str(
                "the policy type stays enabled on the root: disabling it would detach every SCP of the organization, eksmgr's or not",
            ),
            Note::TrustedAccessStaysActivated => f.write_str(
                "trusted access stays activated: other service-managed StackSets of the organization may rely on it",
            ),
            Note::KeyKeptByScp { scp } => write!(
                f,
                "the key stays in AWS and only leaves eksmgr's state: the SCP `{scp}` denies kms:ScheduleKeyDeletion to every principal of the OU, eksmgr included; to delete it, set `governance.scp.exempt_admin_from_key_deletion_deny = true`, apply, then plan its deletion with --allow-key-deletion"
            ),
            Note::KeyDeletionScheduled { days } => write!(
                f,
                "schedules the key's deletion after a {days}-day waiting period; anything encrypted with it becomes unreadable then"
            ),
            Note::ClusterReplacementDestroysWorkloads => {
                f.write_str("replacing the cluster destroys it and every workload running on it")
            }
            Note::ClusterDeletionDestroysWorkloads => {
                f.write_str("deleting the cluster destroys every workload running on it")
            }
            Note::EncryptionIsPermanent => f.write_str(
                "secrets envelope encryption can be enabled once and never removed or changed to another key",
            ),
            Note::ReencryptExistingSecrets => write!(
                f,
                "secrets written before encryption was enabled stay unencrypted until they are re-written: {REENCRYPT_SECRETS}"
            ),
            Note::ClusterAdopted => f.write_str(
                "an existing cluster is adopted: it is read and updated, never recreated",
            ),
            Note::ClusterBusy { status } => write!(
                f,
                "the cluster is {status} in AWS: apply waits until it is ACTIVE (it is never created again), then goes on with what depends on it"
            ),
            Note::InterruptedOperation {
                address,
                operation,
                started_at,
                resolution,
            } => write!(
                f,
                "{}; {resolution}",
                Note::interrupted(operation, address, started_at)
            ),
            Note::RecreatesDependents { resources } => write!(
                f,
                "its access entries and pod identity associations are recreated with it (AWS binds them to the role's unique id): {}",
                list(resources)
            ),
            Note::AddonAdopted => f.write_str(
                "the add-on is already installed on the cluster: it is adopted and updated, never created twice",
            ),
            Note::DesiredSizeAtCreate { desired, now: None } => write!(
                f,
                "the desired size ({desired}) is set when the node group is created; afterwards eksmgr does not revert what an autoscaler (cluster-autoscaler, Karpenter) sets"
            ),
            Note::DesiredSizeAtCreate {
                desired,
                now: Some(now),
            } => write!(
                f,
                "the desired size stays {now} as AWS has it (eksmgr.toml says {desired}): it is set at creation only, and an autoscaler owns it afterwards"
            ),
            Note::NodeGroupReplacementTerminatesNodes => f.write_str(
                "replacing the node group terminates its nodes; their pods are rescheduled on the new group's nodes",
            ),
            Note::NodeGroupUpgrade { version } => write!(
                f,
                "the nodes are upgraded to Kubernetes {version} after the control plane and the cluster's add-ons (EKS replaces them in a rolling update)"
            ),
        }
    }
}

fn list(addresses: &[ResourceAddress]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_create_reads_as_before() {
        let address = ResourceAddress::new("iam_role", "node", "111111111111", None);
        let started_at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let note = Note::InterruptedOperation {
            address,
            operation: "create".into(),
            started_at,
            resolution: Resolution::Finishes(Action::Create),
        };
        assert_eq!(
            note.to_string(),
            "an earlier apply was interrupted during the create of iam_role.node[111111111111] (started 2026-01-02 03:04:05 UTC); this plan finishes it (create)"
        );
    }
}
