//! Amazon ECR: hub repositories with their repository policies (`ecr_repository`). (Being written.)

use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;

use crate::error::Call;
use crate::sessions::Sessions;

fn pending(address: &ResourceAddress) -> ProviderError {
    Call::new(&address.account, &address.to_string(), "ecr").error(
        ErrorKind::Other,
        "not implemented yet",
        None,
    )
}

/// Reads a repository by name.
pub async fn read_repository(
    _s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    Err(pending(req.address))
}

/// Creates a repository.
pub async fn create_repository(
    _s: &Sessions,
    address: &ResourceAddress,
    _attrs: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    Err(pending(address))
}

/// Updates a repository.
pub async fn update_repository(
    _s: &Sessions,
    address: &ResourceAddress,
    _before: &Attrs,
    _after: &Attrs,
    _changed: &[String],
) -> Result<ObservedResource, ProviderError> {
    Err(pending(address))
}

/// Deletes a repository.
pub async fn delete_repository(
    _s: &Sessions,
    address: &ResourceAddress,
) -> Result<(), ProviderError> {
    Err(pending(address))
}
