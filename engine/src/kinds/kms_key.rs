//! A KMS customer managed key with its alias (`kms_key`), one per cluster, found again by its
//! recorded id (a missing or renamed alias is pointed at it again in place: a new key would
//! replace the cluster encrypted with it).
//!
//! Deleting or replacing a key schedules its deletion, which needs `--allow-key-deletion`;
//! when the governance SCP denies eksmgr `kms:ScheduleKeyDeletion` (the seed design's
//! unconditional deny), a delete only forgets the key and a replacement is blocked. Its key
//! policy is limited in size. In a spoke, the spoke admin role calls [`KMS_ACCOUNT_ACTIONS`],
//! [`KEY_ACTIONS`] and [`ALIAS_ACTIONS`].

use crate::annotation::Note;
use crate::blueprint::limits::KMS_KEY_POLICY;
use crate::guardrails::eval::RequestValue;
use crate::guardrails::scp::Need;
use crate::model::{DesiredResource, Value};
use crate::plan::{Action, PlannedChange};
use crate::risk::Risk;
use crate::schema::{
    AttrSchema,
    AttrType::{Policy, Value as Plain},
    in_place,
};

use super::{Calls, Document, Kind, Review, attr, block, note};

/// The kind's rules.
pub struct KmsKey;

/// KMS calls without a key (resource `*`): creating a key, and listing keys to find one a
/// crash left without its alias.
pub const KMS_ACCOUNT_ACTIONS: &[&str] = &["kms:CreateKey", "kms:ListKeys"];

/// KMS calls on a cluster's key (besides `kms:ScheduleKeyDeletion`).
pub const KEY_ACTIONS: &[&str] = &[
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:DescribeKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
];

/// KMS calls on a cluster key's alias (besides `kms:DeleteAlias`).
pub const ALIAS_ACTIONS: &[&str] = &["kms:CreateAlias", "kms:UpdateAlias"];

const DOCUMENTS: &[Document] = &[Document {
    attribute: "key_policy",
    what: "the key policy",
    limit: KMS_KEY_POLICY,
    hint: "grant fewer principals",
    together: false,
}];

impl Kind for KmsKey {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn review(&self, change: &mut PlannedChange, review: &Review<'_>) {
        if !matches!(change.action, Action::Delete | Action::Replace) {
            return;
        }
        let options = review.options;
        if let Some(scp) = &options.key_deletion_denied_by {
            if change.action == Action::Delete {
                change.action = Action::Forget;
                note(change, Note::KeyKeptByScp { scp: scp.clone() });
            } else {
                block(
                    change,
                    &format!(
                        "replacing the key needs its deletion, which the SCP `{scp}` denies to eksmgr: set `governance.scp.exempt_admin_from_key_deletion_deny = true` and apply first"
                    ),
                );
            }
            return;
        }
        let days = change
            .before
            .as_ref()
            .and_then(|b| b.get("deletion_window_days"))
            .and_then(Value::as_u64)
            .unwrap_or(30);
        note(change, Note::KeyDeletionScheduled { days });
        if !options.allow_key_deletion {
            block(
                change,
                "it deletes a KMS key: confirm with --allow-key-deletion",
            );
        }
    }

    fn action_risk(&self, action: Action) -> Option<Risk> {
        matches!(action, Action::Delete | Action::Replace).then_some(Risk::DeletesKmsKey)
    }

    fn documents(&self) -> &'static [Document] {
        DOCUMENTS
    }

    fn spoke_admin_calls(&self, r: &DesiredResource, calls: &mut Calls<'_>) {
        let kms = calls.arn("kms");
        let key = RequestValue::pattern(format!("{kms}:key/*"));
        calls.regional(
            Need::Required,
            KMS_ACCOUNT_ACTIONS,
            RequestValue::exact("*"),
        );
        calls.regional(Need::Required, KEY_ACTIONS, key.clone());
        // With the seed design's unconditional deny, eksmgr never deletes a key (the plan
        // leaves it in AWS), so the deny is no finding.
        if !calls.keys_kept {
            calls.regional(Need::Deletion, &["kms:ScheduleKeyDeletion"], key);
        }
        if let Some(alias) = attr(r, "alias") {
            let alias = RequestValue::exact(format!("{kms}:{alias}"));
            calls.regional(Need::Required, ALIAS_ACTIONS, alias.clone());
            calls.regional(Need::Deletion, &["kms:DeleteAlias"], alias);
        }
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    in_place("alias", Plain),
    in_place("description", Plain),
    in_place("key_policy", Policy),
    in_place("enable_key_rotation", Plain),
    in_place("deletion_window_days", Plain),
    in_place("tags", Plain),
];
