//! An EC2 instance (`ec2_instance`): the hub agent host. It is found again by its
//! `eksmgr-instance` tag. What it runs (its image, type, subnet, instance profile and user
//! data) is fixed at launch: a change replaces the instance, which holds no state of its own
//! (the agent's state is in S3). Its security groups, metadata options (IMDSv2 required) and
//! tags change in place. The user data is sent at launch and compared by its SHA-256, which
//! the instance carries as a tag.

use crate::schema::{AttrSchema, AttrType::*, at_create, forces_new, in_place};

use super::Kind;

/// The kind's rules.
pub struct Ec2Instance;

impl Kind for Ec2Instance {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("name", Value),
    // As given: an AMI id, or `resolve:ssm:PARAMETER` resolved by EC2 at launch.
    forces_new("image_id", Value),
    forces_new("instance_type", Value),
    forces_new("subnet_id", Value),
    forces_new("iam_instance_profile", Value),
    forces_new("user_data_sha256", Value),
    at_create("user_data"),
    in_place("security_group_ids", Set),
    in_place("metadata_http_tokens", Value),
    in_place("metadata_hop_limit", Value),
    in_place("tags", Value),
];
