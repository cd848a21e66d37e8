//! AWS KMS: per-cluster customer managed keys (`kms_key`), found by alias. (Being written.)

use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;

use crate::error::Call;
use crate::sessions::Sessions;

fn pending(address: &ResourceAddress) -> ProviderError {
    Call::new(&address.account, &address.to_string(), "kms").error(
        ErrorKind::Other,
        "not implemented yet",
        None,
    )
}

/// Reads a key by alias.
pub async fn read_key(
    _s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    Err(pending(req.address))
}

/// Creates a key and its alias.
pub async fn create_key(
    _s: &Sessions,
    address: &ResourceAddress,
    _attrs: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    Err(pending(address))
}

/// Updates a key.
pub async fn update_key(
    _s: &Sessions,
    address: &ResourceAddress,
    _id: &str,
    _before: &Attrs,
    _after: &Attrs,
    _changed: &[String],
) -> Result<ObservedResource, ProviderError> {
    Err(pending(address))
}

/// Schedules a key's deletion.
pub async fn delete_key(
    _s: &Sessions,
    address: &ResourceAddress,
    _id: &str,
    _before: &Attrs,
) -> Result<(), ProviderError> {
    Err(pending(address))
}
