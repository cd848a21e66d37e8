//! What is particular to each resource kind, one module per kind: its attribute schema, the
//! rules its changes follow (refused or annotated at plan time, so that apply never meets a
//! refusal half-way through), the risks of its changes, the AWS size limits of its documents
//! and the calls the spoke admin role makes for it (checked against the SCP).
//!
//! [`of`] is the registry: one exhaustive match, so a new kind does not compile until it has
//! its module. The rest of the engine asks the registry, never matches on kinds itself.
//! Providers mirror this with one module per kind (`eksmgr_providers::kinds`).

pub mod ec2_instance;
pub mod ecr_repository;
pub mod eks_access_entry;
pub mod eks_addon;
pub mod eks_cluster;
pub mod eks_node_group;
pub mod eks_pod_identity_association;
pub mod iam_instance_profile;
pub mod iam_role;
pub mod kms_key;
pub mod org_policy;
pub mod org_policy_attachment;
pub mod org_policy_type;
pub mod stack_set;
pub mod stack_set_instances;
pub mod stack_set_trusted_access;

use crate::annotation::Note;
use crate::guardrails::eval::RequestValue;
use crate::guardrails::scp::Need;
use crate::model::{DesiredResource, ResourceKind, Value};
use crate::plan::{Action, PlanOptions, PlannedChange};
use crate::risk::Risk;
use crate::schema::AttrSchema;

/// A resource kind's rules. Every method but [`Kind::attributes`] has a default: a kind
/// overrides what applies to it.
pub trait Kind: Sync {
    /// Its managed attributes: how each is compared and which changes force a replacement.
    fn attributes(&self) -> &'static [AttrSchema];

    /// Annotates, blocks or turns into another action a planned change of this kind (a delete
    /// the organization must not see becomes a forget, a change AWS refuses is blocked).
    fn review(&self, change: &mut PlannedChange, review: &Review<'_>) {
        let _ = (change, review);
    }

    /// The risk of carrying out `action` on a resource of this kind, if it has one.
    fn action_risk(&self, action: Action) -> Option<Risk> {
        let _ = action;
        None
    }

    /// The risk of a policy attribute of this kind that grants more than it did.
    fn widening_risk(&self, attribute: &str) -> Risk {
        let _ = attribute;
        Risk::WidensResourcePolicy
    }

    /// Its documents AWS limits in size.
    fn documents(&self) -> &'static [Document] {
        &[]
    }

    /// The calls the spoke admin role makes for a resource of this kind in a spoke.
    fn spoke_admin_calls(&self, resource: &DesiredResource, calls: &mut Calls<'_>) {
        let _ = (resource, calls);
    }
}

/// The rules of `kind`: the registry of kinds.
pub fn of(kind: ResourceKind) -> &'static dyn Kind {
    match kind {
        ResourceKind::OrgPolicyType => &org_policy_type::OrgPolicyType,
        ResourceKind::StackSetTrustedAccess => &stack_set_trusted_access::StackSetTrustedAccess,
        ResourceKind::OrgPolicy => &org_policy::OrgPolicy,
        ResourceKind::OrgPolicyAttachment => &org_policy_attachment::OrgPolicyAttachment,
        ResourceKind::StackSet => &stack_set::StackSet,
        ResourceKind::StackSetInstances => &stack_set_instances::StackSetInstances,
        ResourceKind::IamRole => &iam_role::IamRole,
        ResourceKind::KmsKey => &kms_key::KmsKey,
        ResourceKind::EksCluster => &eks_cluster::EksCluster,
        ResourceKind::EcrRepository => &ecr_repository::EcrRepository,
        ResourceKind::EksAccessEntry => &eks_access_entry::EksAccessEntry,
        ResourceKind::EksPodIdentityAssociation => {
            &eks_pod_identity_association::EksPodIdentityAssociation
        }
        ResourceKind::EksAddon => &eks_addon::EksAddon,
        ResourceKind::EksNodeGroup => &eks_node_group::EksNodeGroup,
        ResourceKind::IamInstanceProfile => &iam_instance_profile::IamInstanceProfile,
        ResourceKind::Ec2Instance => &ec2_instance::Ec2Instance,
    }
}

/// What a review knows besides the change.
pub struct Review<'a> {
    /// The resource as the configuration wants it (None for a delete).
    pub desired: Option<&'a DesiredResource>,
    /// The plan's options (opt-ins, the SCP that keeps keys).
    pub options: &'a PlanOptions,
}

/// Blocks a change until the user opts in (or changes the configuration).
pub(crate) fn block(change: &mut PlannedChange, why: &str) {
    change.blocked = Some(why.to_string());
}

/// Adds a note to a change.
pub(crate) fn note(change: &mut PlannedChange, note: Note) {
    change.notes.push(note);
}

/// A document attribute with an AWS size limit, measured on its minified JSON.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    /// The attribute.
    pub attribute: &'static str,
    /// How the error names it.
    pub what: &'static str,
    /// The limit, in characters ([`crate::blueprint::limits`]).
    pub limit: usize,
    /// What to do when it is over.
    pub hint: &'static str,
    /// The attribute is a map of documents, limited together.
    pub together: bool,
}

/// Where the spoke admin role's calls for one resource go: the account, the region and how to
/// record a call.
pub struct Calls<'a> {
    /// The partition (`aws`).
    pub partition: &'a str,
    /// The spoke account.
    pub account: &'a str,
    /// The resource's region (IAM's region for global resources).
    pub region: &'a str,
    /// The region IAM requests are made in.
    pub iam_region: &'a str,
    /// eksmgr never deletes keys (the SCP keeps them).
    pub keys_kept: bool,
    /// Records `actions` on `resource` in `region`.
    pub add: &'a mut Record<'a>,
}

/// Records a call: how much it matters, the actions, the resource and the region.
pub type Record<'a> = dyn FnMut(Need, &[&'static str], RequestValue, &str) + 'a;

impl Calls<'_> {
    /// Records `actions` on `resource` in the resource's region.
    pub fn regional(&mut self, need: Need, actions: &[&'static str], resource: RequestValue) {
        (self.add)(need, actions, resource, self.region);
    }

    /// Records `actions` on `resource` in IAM's region.
    pub fn global(&mut self, need: Need, actions: &[&'static str], resource: RequestValue) {
        (self.add)(need, actions, resource, self.iam_region);
    }

    /// The ARN prefix of a service's resources in this account and region
    /// (`arn:aws:eks:REGION:ACCOUNT`).
    pub fn arn(&self, service: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}",
            self.partition, self.region, self.account
        )
    }

    /// The calls on the sub-resources of `r`'s cluster (`access-entry`,
    /// `podidentityassociation`): `on_cluster` on the cluster, `actions` and `delete` on its
    /// sub-resources. None when `r` names no cluster yet.
    pub fn cluster_scoped(
        &mut self,
        r: &DesiredResource,
        on_cluster: &[&'static str],
        sub_resource: &str,
        actions: &[&'static str],
        delete: &'static str,
    ) {
        let Some(cluster) = attr(r, "cluster_name") else {
            return;
        };
        let eks = self.arn("eks");
        let arn = RequestValue::exact(format!("{eks}:cluster/{cluster}"));
        self.regional(Need::Required, on_cluster, arn);
        let subs = RequestValue::pattern(format!("{eks}:{sub_resource}/{cluster}/*"));
        self.regional(Need::Required, actions, subs.clone());
        self.regional(Need::Deletion, &[delete], subs);
    }

    /// The ARN prefix of IAM resources in this account (`arn:aws:iam::ACCOUNT`).
    pub fn iam_arn(&self) -> String {
        format!("arn:{}:iam::{}", self.partition, self.account)
    }
}

/// A known string attribute of a desired resource.
pub(crate) fn attr<'a>(r: &'a DesiredResource, name: &str) -> Option<&'a str> {
    r.attrs
        .get(name)
        .and_then(|v| v.known())
        .and_then(Value::as_str)
}
