//! Amazon EKS: clusters (`eks_cluster`). (Being written.)

use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;

use crate::Progress;
use crate::error::Call;
use crate::sessions::Sessions;

fn pending(address: &ResourceAddress) -> ProviderError {
    Call::new(&address.account, &address.to_string(), "eks").error(
        ErrorKind::Other,
        "not implemented yet",
        None,
    )
}

/// Reads a cluster by name.
pub async fn read_cluster(
    _s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    Err(pending(req.address))
}

/// Creates a cluster and waits until it is active.
pub async fn create_cluster(
    _s: &Sessions,
    address: &ResourceAddress,
    _attrs: &Attrs,
    _progress: &Progress,
) -> Result<ObservedResource, ProviderError> {
    Err(pending(address))
}

/// Updates a cluster in place and waits for each update.
pub async fn update_cluster(
    _s: &Sessions,
    address: &ResourceAddress,
    _before: &Attrs,
    _after: &Attrs,
    _changed: &[String],
    _progress: &Progress,
) -> Result<ObservedResource, ProviderError> {
    Err(pending(address))
}

/// Deletes a cluster and waits until it is gone.
pub async fn delete_cluster(
    _s: &Sessions,
    address: &ResourceAddress,
    _progress: &Progress,
) -> Result<(), ProviderError> {
    Err(pending(address))
}
