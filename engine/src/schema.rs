//! Per-kind attribute schema: how each attribute is compared (plain value, set, policy
//! document, map of policy documents), and which changes force a replacement.

use crate::model::ResourceKind;

/// How an attribute's values are compared and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Compared by JSON equality.
    Value,
    /// A list whose order does not matter.
    Set,
    /// An IAM-style policy document (string or object), compared by meaning.
    Policy,
    /// A JSON document (e.g. a CloudFormation template), compared after parsing.
    Document,
    /// A map from names to policy documents (inline policies).
    PolicyMap,
}

/// Whether a change to an attribute can be made in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// In place.
    InPlace,
    /// Only by replacing the resource.
    ForcesNew,
    /// Can be set once in place (from unset); changing or removing it forces replacement.
    SetOnce,
}

/// One attribute's schema.
#[derive(Debug, Clone, Copy)]
pub struct AttrSchema {
    /// Attribute name.
    pub name: &'static str,
    /// How it is compared.
    pub ty: AttrType,
    /// How a change is made.
    pub change: Change,
}

impl AttrSchema {
    /// Whether changing the attribute from `before` forces a replacement.
    pub fn forces_replacement(&self, before: Option<&crate::model::Value>) -> bool {
        match self.change {
            Change::InPlace => false,
            Change::ForcesNew => true,
            Change::SetOnce => before.is_some_and(|b| !b.is_null()),
        }
    }
}

const fn a(name: &'static str, ty: AttrType, force_new: bool) -> AttrSchema {
    AttrSchema {
        name,
        ty,
        change: if force_new {
            Change::ForcesNew
        } else {
            Change::InPlace
        },
    }
}

const fn set_once(name: &'static str) -> AttrSchema {
    AttrSchema {
        name,
        ty: AttrType::Value,
        change: Change::SetOnce,
    }
}

use AttrType::*;

const ORG_POLICY_TYPE: &[AttrSchema] = &[
    a("root_id", Value, true),
    a("type", Value, true),
    a("status", Value, false),
];
const STACK_SET_TRUSTED_ACCESS: &[AttrSchema] = &[a("status", Value, false)];
const ORG_POLICY: &[AttrSchema] = &[
    a("name", Value, false),
    a("description", Value, false),
    a("type", Value, true),
    a("content", Policy, false),
    a("tags", Value, false),
];
const ORG_POLICY_ATTACHMENT: &[AttrSchema] = &[
    a("policy_name", Value, true),
    a("policy_id", Value, true),
    a("target_id", Value, true),
];
const STACK_SET: &[AttrSchema] = &[
    a("name", Value, true),
    a("description", Value, false),
    a("template_body", Document, false),
    a("permission_model", Value, true),
    a("auto_deployment", Value, false),
    a("capabilities", Set, false),
    a("tags", Value, false),
];
const STACK_SET_INSTANCES: &[AttrSchema] = &[
    a("stack_set_name", Value, true),
    a("organizational_unit_ids", Set, false),
    a("regions", Set, false),
];
const IAM_ROLE: &[AttrSchema] = &[
    a("name", Value, true),
    a("path", Value, true),
    a("description", Value, false),
    a("assume_role_policy", Policy, false),
    a("max_session_duration", Value, false),
    a("managed_policy_arns", Set, false),
    a("inline_policies", PolicyMap, false),
    a("tags", Value, false),
];

const KMS_KEY: &[AttrSchema] = &[
    // The key is found again by its recorded id: a missing or renamed alias is pointed at it
    // again in place (a new key would replace the cluster encrypted with this one).
    a("alias", Value, false),
    a("description", Value, false),
    a("key_policy", Policy, false),
    a("enable_key_rotation", Value, false),
    a("deletion_window_days", Value, false),
    a("tags", Value, false),
];
const EKS_CLUSTER: &[AttrSchema] = &[
    a("name", Value, true),
    a("role_arn", Value, true),
    a("version", Value, false),
    a("subnet_ids", Set, false),
    a("security_group_ids", Set, false),
    a("endpoint_public_access", Value, false),
    a("endpoint_private_access", Value, false),
    a("public_access_cidrs", Set, false),
    a("logging", Set, false),
    a("authentication_mode", Value, false),
    set_once("encryption_key_arn"),
    a("tags", Value, false),
];
const ECR_REPOSITORY: &[AttrSchema] = &[
    a("name", Value, true),
    a("image_tag_mutability", Value, false),
    a("scan_on_push", Value, false),
    a("policy", Policy, false),
    a("tags", Value, false),
];

const EKS_ACCESS_ENTRY: &[AttrSchema] = &[
    a("cluster_name", Value, true),
    a("principal_arn", Value, true),
    a("type", Value, true),
    a("kubernetes_groups", Set, false),
    // Policy ARN -> {"type": "cluster"} or {"type": "namespace", "namespaces": [...]}.
    a("access_policies", Value, false),
];
const EKS_POD_IDENTITY_ASSOCIATION: &[AttrSchema] = &[
    a("cluster_name", Value, true),
    a("namespace", Value, true),
    a("service_account", Value, true),
    a("role_arn", Value, false),
];

/// The schema of a kind's managed attributes.
pub fn attributes(kind: ResourceKind) -> &'static [AttrSchema] {
    match kind {
        ResourceKind::OrgPolicyType => ORG_POLICY_TYPE,
        ResourceKind::StackSetTrustedAccess => STACK_SET_TRUSTED_ACCESS,
        ResourceKind::OrgPolicy => ORG_POLICY,
        ResourceKind::OrgPolicyAttachment => ORG_POLICY_ATTACHMENT,
        ResourceKind::StackSet => STACK_SET,
        ResourceKind::StackSetInstances => STACK_SET_INSTANCES,
        ResourceKind::IamRole => IAM_ROLE,
        ResourceKind::KmsKey => KMS_KEY,
        ResourceKind::EksCluster => EKS_CLUSTER,
        ResourceKind::EcrRepository => ECR_REPOSITORY,
        ResourceKind::EksAccessEntry => EKS_ACCESS_ENTRY,
        ResourceKind::EksPodIdentityAssociation => EKS_POD_IDENTITY_ASSOCIATION,
    }
}

/// The schema of one attribute; unknown attributes compare as plain values, in place.
pub fn attribute(kind: ResourceKind, name: &str) -> AttrSchema {
    attributes(kind)
        .iter()
        .copied()
        .find(|s| s.name == name)
        .unwrap_or(AttrSchema {
            name: "",
            ty: AttrType::Value,
            change: Change::InPlace,
        })
}
