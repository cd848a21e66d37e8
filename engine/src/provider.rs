//! The boundary between the engine and the cloud: the [`Provider`] trait that reads, creates,
//! updates and deletes resources, and the typed error every provider returns.

use std::fmt;

use async_trait::async_trait;
use eksmgr_state::ResourceAddress;
use serde::{Deserialize, Serialize};

use crate::model::{Attrs, ObservedResource};

/// What kind of failure a provider met; drives retries and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Credentials were refused or the role could not be assumed.
    AccessDenied,
    /// The resource (or a parent of it) does not exist.
    NotFound,
    /// The request was throttled after retries.
    Throttled,
    /// The service said the request is invalid (a validation or limit error).
    Invalid,
    /// The resource exists already or is busy (a conflict).
    Conflict,
    /// Network, timeout, or a service-side failure.
    Transient,
    /// Anything else.
    Other,
}

/// An error from a provider: which account, which resource, which API call, and a hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ProviderError {
    /// AWS account the call was made in.
    pub account: String,
    /// The resource being worked on (address or a description).
    pub resource: String,
    /// The API call, e.g. `iam:CreateRole`.
    pub api_call: String,
    /// The service's message (error code and text).
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// Classification.
    pub kind: ErrorKind,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} for {} in account {} failed: {}",
            self.api_call, self.resource, self.account, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// What a provider needs to find a resource.
#[derive(Debug, Clone)]
pub struct ReadRequest<'a> {
    /// The address (kind, name, account, region).
    pub address: &'a ResourceAddress,
    /// The id recorded in state, if any.
    pub id: Option<&'a str>,
    /// The known desired attributes (natural keys such as names), if the resource is desired.
    pub desired: Option<&'a Attrs>,
    /// The attributes recorded in state, if any.
    pub recorded: Option<&'a Attrs>,
}

/// A cloud provider for eksmgr's resource kinds.
///
/// `read` returns `Ok(None)` when the resource does not exist. Writes receive fully resolved
/// attributes (no unknown values) and return the resource as it is afterwards.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Reads a resource by its natural key or recorded id.
    async fn read(&self, req: ReadRequest<'_>) -> Result<Option<ObservedResource>, ProviderError>;
    /// Creates a resource.
    async fn create(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
    ) -> Result<ObservedResource, ProviderError>;
    /// Creates a resource carrying `token` as its client request token, where the API takes
    /// one: the executor keeps the token in the operation's journal intent, so a create retried
    /// after a crash sends the same token and AWS answers with the resource it already made.
    /// Kinds whose API takes no token are found by their natural key instead; by default the
    /// token is not used.
    async fn create_with_token(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
        token: &str,
    ) -> Result<ObservedResource, ProviderError> {
        let _ = token;
        self.create(address, attrs).await
    }
    /// Updates the changed attributes of an existing resource in place.
    async fn update(
        &self,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
        after: &Attrs,
        changed: &[String],
    ) -> Result<ObservedResource, ProviderError>;
    /// Deletes a resource. Deleting one that is already gone succeeds.
    async fn delete(
        &self,
        address: &ResourceAddress,
        id: &str,
        before: &Attrs,
    ) -> Result<(), ProviderError>;
    /// Refresh has read everything of `account`: the provider may drop what it holds for the
    /// account's reads (clients, account-wide listings), so that a plan of thousands of
    /// accounts holds them for the accounts being read only. Anything asked of the account
    /// later must still work. It is awaited while no read is polled, so it must not wait for
    /// anything a read may hold (an async lock, say). By default nothing is dropped.
    async fn release(&self, account: &str) {
        let _ = account;
    }
}
