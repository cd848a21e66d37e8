//! eksmgr-providers: the AWS implementation of the engine's [`Provider`] trait, through the
//! official AWS SDK for Rust.
//!
//! [`caller`] loads the caller's credentials as the AWS CLI does (`--profile`, `--region`),
//! [`sessions`] reaches every account (management credentials, the hub through
//! `OrganizationAccountAccessRole`), [`org_tree`] reads the organization for `eksmgr init`,
//! [`whoami`] reports the identity eksmgr has in every account tier, [`limit`] caps the AWS
//! calls in flight at `--parallelism`, [`error`] maps SDK errors to typed errors naming the
//! account, resource and API call, and [`kinds`] holds one module per resource kind (with the
//! registry the [`AwsProvider`] dispatches through); [`organizations`] and [`stacksets`] hold
//! what the kinds of those services share, and [`network`] lists the spokes' subnets.

pub mod caller;
pub mod discovery;
pub mod error;
pub mod kinds;
pub mod limit;
pub mod network;
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
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use eksmgr_engine::model::{Attrs, ObservedResource, ResourceKind};
use eksmgr_engine::provider::{ErrorKind, Provider, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;

pub use caller::CallerOptions;
pub use discovery::{ConnectError, connect, connect_sessions, discover};
use kinds::{Create, Cx, Delete, KindProvider, Update};
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

impl AwsProvider {
    /// The provider of an address's kind, and what its calls need.
    fn kind(
        &self,
        address: &ResourceAddress,
    ) -> Result<(&'static dyn KindProvider, Cx<'_>), ProviderError> {
        let kind = ResourceKind::of(address).ok_or_else(|| unknown_kind(address))?;
        let cx = Cx {
            sessions: &self.sessions,
            progress: Arc::clone(&self.progress),
        };
        Ok((kinds::of(kind), cx))
    }
}

#[async_trait]
impl Provider for AwsProvider {
    async fn release(&self, account: &str) {
        self.sessions.release(account);
    }

    async fn read(&self, req: ReadRequest<'_>) -> Result<Option<ObservedResource>, ProviderError> {
        let (kind, cx) = self.kind(req.address)?;
        kind.read(&cx, &req)
            .await
            .map_err(|e| self.sessions.explain(e))
    }

    async fn create(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
    ) -> Result<ObservedResource, ProviderError> {
        let (kind, cx) = self.kind(address)?;
        kind.create(
            &cx,
            &Create {
                address,
                attrs,
                token: None,
            },
        )
        .await
        .map_err(|e| self.sessions.explain(e))
    }

    async fn create_with_token(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
        token: &str,
    ) -> Result<ObservedResource, ProviderError> {
        let (kind, cx) = self.kind(address)?;
        kind.create(
            &cx,
            &Create {
                address,
                attrs,
                token: Some(token),
            },
        )
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
        let (kind, cx) = self.kind(address)?;
        let u = Update {
            address,
            id,
            before,
            after,
            changed,
        };
        kind.update(&cx, &u)
            .await
            .map_err(|e| self.sessions.explain(e))
    }

    async fn delete(
        &self,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
    ) -> Result<(), ProviderError> {
        let (kind, cx) = self.kind(address)?;
        kind.delete(
            &cx,
            &Delete {
                address,
                id,
                before,
            },
        )
        .await
        .map_err(|e| self.sessions.explain(e))
    }
}

/// Reads a string attribute.
pub(crate) fn attr_str<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs.get(name).and_then(|v| v.as_str())
}

/// A document attribute (a policy, a template) as the text a service takes: a string as it is,
/// anything else as JSON; empty when absent.
pub(crate) fn attr_document(attrs: &Attrs, name: &str) -> String {
    match attrs.get(name) {
        Some(eksmgr_engine::model::Value::String(s)) => s.to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => String::new(),
    }
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

/// Brings a resource's tags to those `after` wants: removes the stale keys (see
/// [`stale_tag_keys`]; `present` are the keys on the resource now), then sets the wanted tags
/// if there are any and they are not those of `before`. `untag` and `tag` are the service's calls, named by their [`Call`]s in
/// errors.
pub(crate) async fn sync_tags<U, T, O1, O2, E1, E2, R1, R2>(
    present: impl IntoIterator<Item = String>,
    before: &Attrs,
    after: &Attrs,
    untag: (error::Call<'_>, impl FnOnce(Vec<String>) -> U),
    tag: (error::Call<'_>, impl FnOnce() -> T),
) -> Result<(), ProviderError>
where
    U: std::future::Future<Output = Result<O1, SdkError<E1, R1>>>,
    T: std::future::Future<Output = Result<O2, SdkError<E2, R2>>>,
    E1: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    E2: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R1: std::fmt::Debug + Send + Sync + 'static,
    R2: std::fmt::Debug + Send + Sync + 'static,
{
    let stale = stale_tag_keys(present, before, after);
    if !stale.is_empty() {
        (untag.1)(stale).await.map_err(|e| error::map(untag.0, e))?;
    }
    let want = attr_map(after, "tags");
    if !want.is_empty() && want != attr_map(before, "tags") {
        (tag.1)().await.map_err(|e| error::map(tag.0, e))?;
    }
    Ok(())
}

/// The natural key attribute, from desired or recorded attributes, else the address name.
pub(crate) fn key<'a>(req: &'a ReadRequest<'_>, name: &str) -> &'a str {
    req.desired
        .and_then(|a| attr_str(a, name))
        .or_else(|| req.recorded.and_then(|a| attr_str(a, name)))
        .unwrap_or(req.address.name.as_str())
}
