//! CloudFormation StackSets' trusted access with AWS Organizations
//! (`stack_set_trusted_access`), which service-managed StackSets need. A destroy leaves it
//! activated: other service-managed StackSets of the organization may rely on it.

use crate::annotation::Note;
use crate::plan::{Action, PlannedChange};
use crate::schema::{AttrSchema, AttrType::Value, in_place};

use super::{Kind, Review, note};

/// The kind's rules.
pub struct StackSetTrustedAccess;

const ATTRIBUTES: &[AttrSchema] = &[in_place("status", Value)];

impl Kind for StackSetTrustedAccess {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn review(&self, change: &mut PlannedChange, _: &Review<'_>) {
        if change.action == Action::Delete {
            change.action = Action::Forget;
            note(change, Note::TrustedAccessStaysActivated);
        }
    }
}
