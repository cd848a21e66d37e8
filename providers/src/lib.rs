//! eksmgr-providers: the AWS implementation of the engine's [`Provider`] trait, through the
//! official AWS SDK for Rust.
//!
//! [`caller`] loads the caller's credentials as the AWS CLI does (`--profile`, `--region`),
//! [`sessions`] reaches every account (management credentials, the hub through
//! `OrganizationAccountAccessRole`), [`org_tree`] reads the organization for `eksmgr init`,
//! [`whoami`] reports the identity eksmgr has in every account tier, [`limit`] caps the AWS
//! calls in flight at `--parallelism`, [`error`] maps SDK errors to typed errors naming the
//! account, resource and API call, and one module per service implements its resource kinds.

pub mod caller;
pub mod discovery;
pub mod ecr;
pub mod eks;
pub mod eks_access;
pub mod error;
pub mod iam;
pub mod kms;
pub mod limit;
pub mod org_tree;
pub mod organizations;
pub mod propagation;
pub mod s3_backend;
pub mod sessions;
pub mod stacksets;
pub mod state_s3;
pub mod stats;
pub mod whoami;

use std::sync::Arc;

use async_trait::async_trait;
use eksmgr_engine::model::{Attrs, ObservedResource, ResourceKind};
use eksmgr_engine::provider::{ErrorKind, Provider, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;

pub use caller::CallerOptions;
pub use discovery::{ConnectError, connect, discover};
pub use sessions::{Sessions, SessionsConfig};

/// Reports progress of long waits (cluster creation ...): the resource and a message.
pub type Progress = Arc<dyn Fn(&ResourceAddress, &str) + Send + Sync>;

/// The AWS provider: dispatches each resource kind to its service module.
pub struct AwsProvider {
    sessions: Sessions,
    progress: Progress,
}

impl AwsProvider {
    /// A provider reaching accounts through `sessions`.
    pub fn new(sessions: Sessions) -> Self {
        AwsProvider {
            sessions,
            progress: Arc::new(|_, _| {}),
        }
    }

    /// Reports progress of long waits to `progress`.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The sessions (for discovery).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }
}

fn unknown_kind(address: &ResourceAddress) -> ProviderError {
    ProviderError {
        account: address.account.to_string(),
        resource: address.to_string(),
        api_call: "eksmgr:dispatch".into(),
        message: format!("no provider for resource kind `{}`", address.kind),
        hint: Some("this version of eksmgr does not manage that kind; upgrade eksmgr".into()),
        kind: ErrorKind::Other,
    }
}

#[async_trait]
impl Provider for AwsProvider {
    async fn read(&self, req: ReadRequest<'_>) -> Result<Option<ObservedResource>, ProviderError> {
        self.read_inner(req)
            .await
            .map_err(|e| self.sessions.explain(e))
    }

    async fn create(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
    ) -> Result<ObservedResource, ProviderError> {
        self.create_inner(address, attrs, None)
            .await
            .map_err(|e| self.sessions.explain(e))
    }

    async fn create_with_token(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
        token: &str,
    ) -> Result<ObservedResource, ProviderError> {
        self.create_inner(address, attrs, Some(token))
            .await
            .map_err(|e| self.sessions.explain(e))
    }

    async fn update(
        &self,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
        after: &Attrs,
        changed: &[String],
    ) -> Result<ObservedResource, ProviderError> {
        self.update_inner(address, id, before, after, changed)
            .await
            .map_err(|e| self.sessions.explain(e))
    }

    async fn delete(
        &self,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
    ) -> Result<(), ProviderError> {
        self.delete_inner(address, id, before)
            .await
            .map_err(|e| self.sessions.explain(e))
    }
}

impl AwsProvider {
    async fn read_inner(
        &self,
        req: ReadRequest<'_>,
    ) -> Result<Option<ObservedResource>, ProviderError> {
        let s = &self.sessions;
        match ResourceKind::of(req.address) {
            Some(ResourceKind::OrgPolicyType) => organizations::read_policy_type(s, &req).await,
            Some(ResourceKind::StackSetTrustedAccess) => {
                stacksets::read_trusted_access(s, &req).await
            }
            Some(ResourceKind::OrgPolicy) => organizations::read_policy(s, &req).await,
            Some(ResourceKind::OrgPolicyAttachment) => {
                organizations::read_attachment(s, &req).await
            }
            Some(ResourceKind::StackSet) => stacksets::read_stack_set(s, &req).await,
            Some(ResourceKind::StackSetInstances) => stacksets::read_instances(s, &req).await,
            Some(ResourceKind::IamRole) => iam::read_role(s, &req).await,
            Some(ResourceKind::KmsKey) => kms::read_key(s, &req).await,
            Some(ResourceKind::EksCluster) => eks::read_cluster(s, &req).await,
            Some(ResourceKind::EcrRepository) => ecr::read_repository(s, &req).await,
            Some(ResourceKind::EksAccessEntry) => eks_access::read_entry(s, &req).await,
            Some(ResourceKind::EksPodIdentityAssociation) => {
                eks_access::read_association(s, &req).await
            }
            None => Err(unknown_kind(req.address)),
        }
    }

    async fn create_inner(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
        token: Option<&str>,
    ) -> Result<ObservedResource, ProviderError> {
        let s = &self.sessions;
        match ResourceKind::of(address) {
            Some(ResourceKind::OrgPolicyType) => {
                organizations::create_policy_type(s, address, attrs).await
            }
            Some(ResourceKind::StackSetTrustedAccess) => {
                stacksets::create_trusted_access(s, address).await
            }
            Some(ResourceKind::OrgPolicy) => organizations::create_policy(s, address, attrs).await,
            Some(ResourceKind::OrgPolicyAttachment) => {
                organizations::create_attachment(s, address, attrs).await
            }
            Some(ResourceKind::StackSet) => {
                stacksets::create_stack_set(s, address, attrs, &self.progress).await
            }
            Some(ResourceKind::StackSetInstances) => {
                stacksets::create_instances(s, address, attrs, &self.progress).await
            }
            Some(ResourceKind::IamRole) => iam::create_role(s, address, attrs).await,
            Some(ResourceKind::KmsKey) => kms::create_key(s, address, attrs).await,
            Some(ResourceKind::EksCluster) => {
                eks::create_cluster(s, address, attrs, token, &self.progress).await
            }
            Some(ResourceKind::EcrRepository) => ecr::create_repository(s, address, attrs).await,
            Some(ResourceKind::EksAccessEntry) => eks_access::create_entry(s, address, attrs).await,
            Some(ResourceKind::EksPodIdentityAssociation) => {
                eks_access::create_association(s, address, attrs).await
            }
            None => Err(unknown_kind(address)),
        }
    }

    async fn update_inner(
        &self,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
        after: &Attrs,
        changed: &[String],
    ) -> Result<ObservedResource, ProviderError> {
        let s = &self.sessions;
        match ResourceKind::of(address) {
            // Their one attribute is `status`: an update enables them again.
            Some(ResourceKind::OrgPolicyType) => {
                organizations::create_policy_type(s, address, after).await
            }
            Some(ResourceKind::StackSetTrustedAccess) => {
                stacksets::create_trusted_access(s, address).await
            }
            Some(ResourceKind::OrgPolicy) => {
                organizations::update_policy(s, address, id, before, after).await
            }
            Some(ResourceKind::OrgPolicyAttachment) => {
                // Every attribute forces replacement; an update is never planned.
                organizations::create_attachment(s, address, after).await
            }
            Some(ResourceKind::StackSet) => {
                stacksets::update_stack_set(s, address, after, &self.progress).await
            }
            Some(ResourceKind::StackSetInstances) => {
                stacksets::update_instances(s, address, before, after, &self.progress).await
            }
            Some(ResourceKind::IamRole) => {
                iam::update_role(s, address, before, after, changed).await
            }
            Some(ResourceKind::KmsKey) => {
                kms::update_key(s, address, id, before, after, changed).await
            }
            Some(ResourceKind::EksCluster) => {
                eks::update_cluster(s, address, before, after, changed, &self.progress).await
            }
            Some(ResourceKind::EcrRepository) => {
                ecr::update_repository(s, address, before, after, changed).await
            }
            Some(ResourceKind::EksAccessEntry) => {
                eks_access::update_entry(s, address, before, after, changed).await
            }
            Some(ResourceKind::EksPodIdentityAssociation) => {
                eks_access::update_association(s, address, id, after).await
            }
            None => Err(unknown_kind(address)),
        }
    }

    async fn delete_inner(
        &self,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
    ) -> Result<(), ProviderError> {
        let s = &self.sessions;
        match ResourceKind::of(address) {
            // Never disabled: the plan only forgets them (other SCPs and StackSets of the
            // organization depend on them; see `eksmgr_engine::rules`).
            Some(ResourceKind::OrgPolicyType | ResourceKind::StackSetTrustedAccess) => Ok(()),
            Some(ResourceKind::OrgPolicy) => organizations::delete_policy(s, address, id).await,
            Some(ResourceKind::OrgPolicyAttachment) => {
                organizations::delete_attachment(s, address, before).await
            }
            Some(ResourceKind::StackSet) => stacksets::delete_stack_set(s, address).await,
            Some(ResourceKind::StackSetInstances) => {
                stacksets::delete_instances(s, address, before, &self.progress).await
            }
            Some(ResourceKind::IamRole) => iam::delete_role(s, address).await,
            Some(ResourceKind::KmsKey) => kms::delete_key(s, address, id, before).await,
            Some(ResourceKind::EksCluster) => eks::delete_cluster(s, address, &self.progress).await,
            Some(ResourceKind::EcrRepository) => ecr::delete_repository(s, address).await,
            Some(ResourceKind::EksAccessEntry) => {
                eks_access::delete_entry(s, address, before).await
            }
            Some(ResourceKind::EksPodIdentityAssociation) => {
                eks_access::delete_association(s, address, id, before).await
            }
            None => Err(unknown_kind(address)),
        }
    }
}

/// Reads a string attribute.
pub(crate) fn attr_str<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(|v| v.as_str())
}

/// Reads a list of strings attribute.
pub(crate) fn attr_strings(attrs: &Attrs, name: &str) -> Vec<String> {
    attrs
        .get(name)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a `{key: value}` string map attribute (tags).
pub(crate) fn attr_map(attrs: &Attrs, name: &str) -> Vec<(String, String)> {
    attrs
        .get(name)
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.to_string(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Tag keys to remove so that only the wanted tags remain: those on the resource now
/// (`present`) or recorded before that `after` no longer has. Tags added out of band go too.
pub(crate) fn stale_tag_keys(
    present: impl IntoIterator<Item = String>,
    before: &Attrs,
    after: &Attrs,
) -> Vec<String> {
    let want: std::collections::BTreeSet<String> = attr_map(after, "tags")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut keys: std::collections::BTreeSet<String> = present.into_iter().collect();
    keys.extend(attr_map(before, "tags").into_iter().map(|(k, _)| k));
    keys.into_iter().filter(|k| !want.contains(k)).collect()
}

/// The natural key attribute, from desired or recorded attributes, else the address name.
pub(crate) fn key<'a>(req: &'a ReadRequest<'_>, name: &str) -> &'a str {
    req.desired
        .and_then(|a| attr_str(a, name))
        .or_else(|| req.recorded.and_then(|a| attr_str(a, name)))
        .unwrap_or(req.address.name.as_str())
}
