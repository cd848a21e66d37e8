//! A service-managed CloudFormation StackSet (`stack_set`): the template that puts the spoke
//! admin role into every account of the EKS OU. Its template is limited in size.

use crate::blueprint::limits::CLOUDFORMATION_TEMPLATE_BODY;
use crate::schema::{AttrSchema, AttrType, AttrType::*, forces_new, in_place};

use super::{Document, Kind};

/// The kind's rules.
pub struct StackSet;

const DOCUMENTS: &[Document] = &[Document {
    attribute: "template_body",
    what: "the template",
    limit: CLOUDFORMATION_TEMPLATE_BODY,
    hint: "attach fewer managed policies to the spoke admin role",
    together: false,
}];

impl Kind for StackSet {
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
    in_place("description", Value),
    in_place("template_body", AttrType::Document),
    forces_new("permission_model", Value),
    in_place("auto_deployment", Value),
    in_place("capabilities", Set),
    in_place("tags", Value),
];
