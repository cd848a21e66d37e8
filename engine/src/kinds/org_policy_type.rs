//! The SCP policy type enabled on the organization's root (`org_policy_type`): SCPs can be
//! attached only once it is. A destroy leaves it enabled: disabling it would detach every SCP
//! of the organization, eksmgr's or not.

use crate::annotation::Note;
use crate::plan::{Action, PlannedChange};
use crate::schema::{AttrSchema, AttrType::Value, forces_new, in_place};

use super::{Kind, Review, note};

/// The kind's rules.
pub struct OrgPolicyType;

impl Kind for OrgPolicyType {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn review(&self, change: &mut PlannedChange, _: &Review<'_>) {
        if change.action == Action::Delete {
            change.action = Action::Forget;
            note(change, Note::PolicyTypeStaysEnabled);
        }
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("root_id", Value),
    forces_new("type", Value),
    in_place("status", Value),
];
