//! One module per resource kind, each implementing [`KindProvider`] with the AWS SDK: how a
//! resource of that kind is read (by its recorded id or its natural key; `eksmgr import` is a
//! read by the id given), created, updated in place and deleted. [`of`] is the registry, one
//! exhaustive match, so a new kind does not compile until it has its module. The engine
//! mirrors this with its own module per kind (`eksmgr_engine::kinds`) for the rules of the
//! plan. What several kinds of one service share (clients, StackSet operations, the
//! organization's tree) stays in the service's module ([`crate::organizations`],
//! [`crate::stacksets`]).

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

use async_trait::async_trait;
use eksmgr_engine::model::{Attrs, ObservedResource, ResourceKind};
use eksmgr_engine::provider::{ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;

use crate::Progress;
use crate::sessions::Sessions;

/// What every kind's calls need: the sessions into the accounts, and where long waits report.
pub struct Cx<'a> {
    /// The accounts' sessions.
    pub sessions: &'a Sessions,
    /// Progress of long waits (cluster creation, StackSet operations).
    pub progress: Progress,
}

impl<'a> Cx<'a> {
    /// Calls through `sessions`, reporting long waits nowhere.
    pub fn new(sessions: &'a Sessions) -> Self {
        Cx {
            sessions,
            progress: std::sync::Arc::new(|_, _| {}),
        }
    }

    /// Reports long waits to `progress`.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }
}

/// What a read returns: the resource as it is, or `None` when it does not exist.
pub type Found = Result<Option<ObservedResource>, ProviderError>;
/// What a create or an update returns: the resource as it is afterwards.
pub type Made = Result<ObservedResource, ProviderError>;
/// What a delete returns.
pub type Done = Result<(), ProviderError>;

/// A create: the resource, its attributes, and the client request token where the API takes
/// one (the executor keeps it in the journal, so a create retried after a crash sends it again).
#[derive(Clone, Copy)]
pub struct Create<'a> {
    /// The resource.
    pub address: &'a ResourceAddress,
    /// Its attributes as wanted, resolved.
    pub attrs: &'a Attrs,
    /// The client request token.
    pub token: Option<&'a str>,
}

/// An in-place update: the resource, its id, its attributes before and after, and the names
/// of those that change.
#[derive(Clone, Copy)]
pub struct Update<'a> {
    /// The resource.
    pub address: &'a ResourceAddress,
    /// Its provider id.
    pub id: &'a str,
    /// Its attributes as recorded (or read).
    pub before: &'a Attrs,
    /// Its attributes as wanted, resolved.
    pub after: &'a Attrs,
    /// The attributes that change.
    pub changed: &'a [String],
}

impl<'a> Update<'a> {
    /// The create that brings the resource to `after` (for kinds whose update is a create
    /// again: enabling a setting that is idempotent).
    pub fn as_create(&self) -> Create<'a> {
        Create {
            address: self.address,
            attrs: self.after,
            token: None,
        }
    }
}

/// A delete: the resource, its id and its attributes as recorded.
#[derive(Clone, Copy)]
pub struct Delete<'a> {
    /// The resource.
    pub address: &'a ResourceAddress,
    /// Its provider id.
    pub id: &'a str,
    /// Its attributes as recorded.
    pub before: &'a Attrs,
}

/// The AWS side of one resource kind.
#[async_trait]
pub trait KindProvider: Send + Sync {
    /// Reads the resource by its recorded id or natural key; `None` when it does not exist.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found;

    /// Creates it.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made;

    /// Changes the changed attributes in place.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made;

    /// Deletes it; deleting what is already gone succeeds.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done;
}

/// The provider of `kind`: the registry of kinds.
pub fn of(kind: ResourceKind) -> &'static dyn KindProvider {
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

/// The attributes among `names` whose desired value (in `after`) means something else than the
/// value found (in `before`): what an adopted resource still needs changed.
pub(crate) fn differing(
    kind: ResourceKind,
    names: &[&str],
    before: &Attrs,
    after: &Attrs,
) -> Vec<String> {
    names
        .iter()
        .filter(|a| {
            after.get(a).is_some_and(|want| {
                let have = before.get(a).unwrap_or(&eksmgr_engine::model::Value::Null);
                !eksmgr_engine::diff::same(kind, a, want, have)
            })
        })
        .map(|a| a.to_string())
        .collect()
}
