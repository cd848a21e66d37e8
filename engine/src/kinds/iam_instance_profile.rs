//! An IAM instance profile (`iam_instance_profile`): the container that hands a role to an EC2
//! instance, here the hub agent role to the agent host. It holds one role; the role changes
//! in place (removed, then the new one added).

use crate::schema::{AttrSchema, AttrType::*, forces_new, in_place};

use super::Kind;

/// The kind's rules.
pub struct IamInstanceProfile;

impl Kind for IamInstanceProfile {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("name", Value),
    forces_new("path", Value),
    in_place("role_name", Value),
    in_place("tags", Value),
];
