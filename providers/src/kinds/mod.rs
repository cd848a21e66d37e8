//! One module per resource kind, each implementing [`KindProvider`] with the AWS SDK: how a
//! resource of that kind is read (by its recorded id or its natural key; `eksmgr import` is a
//! read by the id given), created, updated in place and deleted. [`of`] is the registry, one
//! exhaustive match, so a new kind does not compile until it has its module. The engine
//! mirrors this with its own module per kind (`eksmgr_engine::kinds`) for the rules of the
//! plan. What several kinds of one service share (clients, StackSet operations, the
//! organization's tree) stays in the service's module ([`crate::organizations`],
//! [`crate::stacksets`]).

pub mod ecr_repository;
pub mod eks_access_entry;
pub mod eks_cluster;
pub mod eks_pod_identity_association;
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

/// The AWS side of one resource kind.
#[async_trait]
pub trait KindProvider: Send + Sync {
    /// Reads the resource by its recorded id or natural key; `None` when it does not exist.
    async fn read(
        &self,
        cx: &Cx<'_>,
        req: &ReadRequest<'_>,
    ) -> Result<Option<ObservedResource>, ProviderError>;

    /// Creates it, with `token` as the client request token where the API takes one.
    async fn create(
        &self,
        cx: &Cx<'_>,
        address: &ResourceAddress,
        attrs: &Attrs,
        token: Option<&str>,
    ) -> Result<ObservedResource, ProviderError>;

    /// Changes the changed attributes in place.
    async fn update(&self, cx: &Cx<'_>, u: &Update<'_>) -> Result<ObservedResource, ProviderError>;

    /// Deletes it; deleting what is already gone succeeds.
    async fn delete(
        &self,
        cx: &Cx<'_>,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
    ) -> Result<(), ProviderError>;
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
    }
}
