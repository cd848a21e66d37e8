//! The stack instances of a StackSet deployed to OUs and regions (`stack_set_instances`).
//! OUs and regions are sets, changed in place.

use crate::schema::{AttrSchema, AttrType::*, forces_new, in_place};

use super::Kind;

/// The kind's rules.
pub struct StackSetInstances;

impl Kind for StackSetInstances {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("stack_set_name", Value),
    in_place("organizational_unit_ids", Set),
    in_place("regions", Set),
];
