//! An Organizations service control policy (`org_policy`): the governance deny SCP. Any
//! change to it is a risk a reviewer must see first. Its size limit is a setting, checked
//! where it is built (`blueprint::governance`).

use crate::plan::Action;
use crate::risk::Risk;
use crate::schema::{AttrSchema, AttrType::*, forces_new, in_place};

use super::Kind;

/// The kind's rules.
pub struct OrgPolicy;

impl Kind for OrgPolicy {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn action_risk(&self, action: Action) -> Option<Risk> {
        action.is_change().then_some(Risk::ChangesScp)
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    in_place("name", Value),
    in_place("description", Value),
    forces_new("type", Value),
    in_place("content", Policy),
    in_place("tags", Value),
];
