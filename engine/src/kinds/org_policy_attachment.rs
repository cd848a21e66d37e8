//! The attachment of an SCP to an OU or account (`org_policy_attachment`). Every attribute
//! forces a replacement; any change is a change of the SCP's reach.

use crate::plan::Action;
use crate::risk::Risk;
use crate::schema::{AttrSchema, AttrType::Value, forces_new};

use super::Kind;

/// The kind's rules.
pub struct OrgPolicyAttachment;

impl Kind for OrgPolicyAttachment {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn action_risk(&self, action: Action) -> Option<Risk> {
        action.is_change().then_some(Risk::ChangesScp)
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("policy_name", Value),
    forces_new("policy_id", Value),
    forces_new("target_id", Value),
];
