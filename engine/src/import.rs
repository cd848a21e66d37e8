//! Import (`eksmgr import ADDRESS ID`): brings a resource that exists in AWS, made outside
//! eksmgr, under management. The address must be declared by the configuration (eksmgr
//! imports what it would otherwise create), the resource is read through the provider, and
//! the state record is exactly the one eksmgr would have written after creating it, so the
//! next plan is clean when the resource already matches the configuration.

use eksmgr_state::{ResourceAddress, ResourceRecord, State};

use crate::model::DesiredResource;
use crate::provider::{Provider, ProviderError, ReadRequest};

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The configuration does not declare the address.
    #[error(
        "{0} is not declared by the configuration: add it to eksmgr.toml first (`eksmgr graph` lists the addresses it declares)"
    )]
    NotDeclared(ResourceAddress),
    /// State has a record for it already.
    #[error("{0} is in state already; `eksmgr state rm {0}` first to import it again")]
    AlreadyManaged(ResourceAddress),
    /// Nothing in AWS under that address's natural key.
    #[error(
        "{address} does not exist in AWS (looked up by its name and the id {id}); nothing was imported"
    )]
    NotFound {
        /// The address.
        address: ResourceAddress,
        /// The id given.
        id: String,
    },
    /// The resource found is another one than the id names.
    #[error(
        "{address} is {found} in AWS, not {id}: the configuration names another resource than the id; nothing was imported"
    )]
    Mismatch {
        /// The address.
        address: ResourceAddress,
        /// The id given.
        id: String,
        /// What the address resolves to.
        found: String,
    },
    /// The read failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// Reads `address` (declared in `desired`) with `id` and returns the state record eksmgr
/// would have written had it created the resource. `id` may be the provider id or any
/// identifying attribute (name, ARN) of the resource found.
pub async fn import<P: Provider + ?Sized>(
    provider: &P,
    desired: &[DesiredResource],
    state: &State,
    address: &ResourceAddress,
    id: &str,
) -> Result<ResourceRecord, ImportError> {
    let Some(d) = desired.iter().find(|d| &d.address == address) else {
        return Err(ImportError::NotDeclared(address.clone()));
    };
    if state.resources.contains_key(address) {
        return Err(ImportError::AlreadyManaged(address.clone()));
    }
    let known = d.known_attrs();
    let found = provider
        .read(ReadRequest {
            address,
            id: Some(id),
            desired: Some(&known),
            recorded: None,
        })
        .await?
        .ok_or_else(|| ImportError::NotFound {
            address: address.clone(),
            id: id.to_string(),
        })?;
    let names_it = found.id == id
        || found
            .attrs
            .values()
            .any(|v| v.as_str().is_some_and(|s| s == id));
    if !names_it {
        return Err(ImportError::Mismatch {
            address: address.clone(),
            id: id.to_string(),
            found: found.id,
        });
    }
    Ok(ResourceRecord {
        address: address.clone(),
        id: found.id,
        attrs: found.attrs,
        depends_on: d.dependencies().cloned().collect(),
        updated_at: chrono::Utc::now(),
    })
}
