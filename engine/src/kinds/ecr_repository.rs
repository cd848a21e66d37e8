//! An ECR repository of the hub with its repository policy (`ecr_repository`). The policy is
//! limited in size and granting more than before widens a resource policy. The spoke admin
//! role makes no call for it: repositories live in the hub.

use crate::blueprint::limits::ECR_REPOSITORY_POLICY;
use crate::schema::{AttrSchema, AttrType::*, forces_new, in_place};

use super::{Document, Kind};

/// The kind's rules.
pub struct EcrRepository;

const DOCUMENTS: &[Document] = &[Document {
    attribute: "policy",
    what: "the repository policy",
    limit: ECR_REPOSITORY_POLICY,
    hint: "grant fewer role names",
    together: false,
}];

impl Kind for EcrRepository {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn documents(&self) -> &'static [Document] {
        DOCUMENTS
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("name", Value),
    in_place("image_tag_mutability", Value),
    in_place("scan_on_push", Value),
    in_place("policy", Policy),
    in_place("tags", Value),
];
