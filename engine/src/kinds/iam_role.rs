//! An IAM role (`iam_role`) with its trust policy, managed policies and inline policies. Its
//! trust policy and its inline policies together are limited in size; a policy that grants
//! more than before widens who may assume the role or what it may do. In a spoke, the spoke
//! admin role manages it with [`ROLE_ACTIONS`].

use crate::blueprint::limits::{IAM_INLINE_POLICIES_PER_ROLE, IAM_TRUST_POLICY};
use crate::guardrails::eval::RequestValue;
use crate::guardrails::scp::Need;
use crate::model::DesiredResource;
use crate::risk::Risk;
use crate::schema::{AttrSchema, AttrType::*, forces_new, in_place};

use super::{Calls, Document, Kind, attr};

/// The kind's rules.
pub struct IamRole;

/// What the spoke admin role calls on each role eksmgr plans in a spoke (besides
/// `iam:DeleteRole`).
pub const ROLE_ACTIONS: &[&str] = &[
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
];

const DOCUMENTS: &[Document] = &[
    Document {
        attribute: "assume_role_policy",
        what: "the trust policy",
        limit: IAM_TRUST_POLICY,
        hint: "trust fewer principals, or grant by a pattern and a condition",
        together: false,
    },
    Document {
        attribute: "inline_policies",
        what: "the role's inline policies together",
        limit: IAM_INLINE_POLICIES_PER_ROLE,
        hint: "move permissions into a managed policy",
        together: true,
    },
];

impl Kind for IamRole {
    fn attributes(&self) -> &'static [AttrSchema] {
        ATTRIBUTES
    }

    fn widening_risk(&self, attribute: &str) -> Risk {
        if attribute == "assume_role_policy" {
            Risk::WidensTrustPolicy
        } else {
            Risk::WidensRolePermissions
        }
    }

    fn documents(&self) -> &'static [Document] {
        DOCUMENTS
    }

    fn spoke_admin_calls(&self, r: &DesiredResource, calls: &mut Calls<'_>) {
        let path = attr(r, "path").unwrap_or("/");
        let name = attr(r, "name").unwrap_or(&r.address.name);
        let arn = RequestValue::exact(format!("{}:role{path}{name}", calls.iam_arn()));
        calls.global(Need::Required, ROLE_ACTIONS, arn.clone());
        calls.global(Need::Deletion, &["iam:DeleteRole"], arn);
    }
}

/// Its attributes: how each is compared and changed.
const ATTRIBUTES: &[AttrSchema] = &[
    forces_new("name", Value),
    forces_new("path", Value),
    in_place("description", Value),
    in_place("assume_role_policy", Policy),
    in_place("max_session_duration", Value),
    in_place("managed_policy_arns", Set),
    in_place("inline_policies", PolicyMap),
    in_place("tags", Value),
];
