//! EKS pod identity associations (`eks_pod_identity_association`): a service account's IAM
//! role.
//!
//! An association is found by the cluster, namespace and service account (EKS allows one per
//! service account); one that exists already when eksmgr creates it is adopted, never
//! duplicated, and its role changes in place. A create that names a role EKS cannot see yet is
//! retried within a bound. The logic takes an [`aws_sdk_eks::Client`] (`*_with_client`) so it
//! can be tested at the SDK boundary.

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::attr_str;
use crate::error::{Call, code, map};
use crate::kinds::eks_cluster::client;
use crate::kinds::eks_cluster::not_found;
pub use crate::propagation::Propagation;
use async_trait::async_trait;
use aws_sdk_eks::Client;
use eksmgr_engine::blueprint::MANAGED_BY_TAG;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

/// The provider of pod identity associations (`eks_pod_identity_association`).
pub struct EksPodIdentityAssociation;

/// The association's natural key: (cluster, namespace, service account).
pub(crate) fn association_key<'a>(
    attrs: &'a Attrs,
    address: &'a ResourceAddress,
) -> (&'a str, &'a str, &'a str) {
    let mut parts = address.name.splitn(3, '/');
    let (c, n, s) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    (
        attr_str(attrs, "cluster_name").unwrap_or(c),
        attr_str(attrs, "namespace").unwrap_or(n),
        attr_str(attrs, "service_account").unwrap_or(s),
    )
}

/// Finds and reads the association of a service account; `None` when there is none (or no
/// cluster).
pub async fn read_association_with_client(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    namespace: &str,
    service_account: &str,
) -> Result<Option<ObservedResource>, ProviderError> {
    read_known_association_with_client(c, address, cluster, namespace, service_account, None).await
}

/// [`read_association_with_client`], starting from the association id state records, if
/// any: one `DescribePodIdentityAssociation` reads it when it is still that service
/// account's. Only when it is gone (deleted, or made again by hand with a new id) is the
/// service account's association looked for with `ListPodIdentityAssociations`.
pub async fn read_known_association_with_client(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    namespace: &str,
    service_account: &str,
    known_id: Option<&str>,
) -> Result<Option<ObservedResource>, ProviderError> {
    if let Some(id) = known_id.filter(|id| !id.is_empty())
        && let Some(found) = describe(c, address, cluster, id).await?
        && found.namespace() == Some(namespace)
        && found.service_account() == Some(service_account)
    {
        return Ok(Some(observed(
            found,
            cluster,
            namespace,
            service_account,
            id,
        )));
    }
    let resource = address.to_string();
    let call = Call::new(
        &address.account,
        &resource,
        "eks:ListPodIdentityAssociations",
    );
    let mut id = None;
    let mut pages = c
        .list_pod_identity_associations()
        .cluster_name(cluster)
        .namespace(namespace)
        .service_account(service_account)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(map(call, e)),
        };
        id = page
            .associations()
            .iter()
            .find(|a| {
                a.namespace() == Some(namespace) && a.service_account() == Some(service_account)
            })
            .and_then(|a| a.association_id().map(str::to_string));
        if id.is_some() {
            break;
        }
    }
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(describe(c, address, cluster, &id)
        .await?
        .map(|a| observed(a, cluster, namespace, service_account, &id)))
}

/// `DescribePodIdentityAssociation`; `None` when it (or its cluster) does not exist.
async fn describe(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    id: &str,
) -> Result<Option<aws_sdk_eks::types::PodIdentityAssociation>, ProviderError> {
    let resource = address.to_string();
    let call = Call::new(
        &address.account,
        &resource,
        "eks:DescribePodIdentityAssociation",
    );
    match c
        .describe_pod_identity_association()
        .cluster_name(cluster)
        .association_id(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.association),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(map(call, e)),
    }
}

/// What eksmgr observes of an association.
fn observed(
    a: aws_sdk_eks::types::PodIdentityAssociation,
    cluster: &str,
    namespace: &str,
    service_account: &str,
    id: &str,
) -> ObservedResource {
    let mut attrs = Attrs::new();
    attrs.insert("cluster_name".into(), json!(cluster));
    attrs.insert(
        "namespace".into(),
        json!(a.namespace().unwrap_or(namespace)),
    );
    attrs.insert(
        "service_account".into(),
        json!(a.service_account().unwrap_or(service_account)),
    );
    attrs.insert("role_arn".into(), json!(a.role_arn().unwrap_or_default()));
    attrs.insert("association_id".into(), json!(id));
    if let Some(arn) = a.association_arn() {
        attrs.insert("arn".into(), json!(arn));
    }
    ObservedResource::new(id.to_string(), attrs)
}

/// Creates a pod identity association; one that exists already for the service account is
/// adopted and pointed at the desired role.
pub async fn create_association_with_client(
    c: &Client,
    address: &ResourceAddress,
    attrs: &Attrs,
    propagation: Propagation,
) -> Result<ObservedResource, ProviderError> {
    let (cluster, namespace, sa) = association_key(attrs, address);
    let role = attr_str(attrs, "role_arn").unwrap_or_default();
    let resource = address.to_string();
    let call = Call::new(
        &address.account,
        &resource,
        "eks:CreatePodIdentityAssociation",
    );
    let created = crate::propagation::retry(
        propagation,
        None,
        "eks:CreatePodIdentityAssociation",
        || {
            c.create_pod_identity_association()
                .cluster_name(cluster)
                .namespace(namespace)
                .service_account(sa)
                .role_arn(role)
                .tags(MANAGED_BY_TAG.0, MANAGED_BY_TAG.1)
                .send()
        },
    )
    .await;
    match created {
        Ok(_) => {}
        Err(e) if code(&e) == Some("ResourceInUseException") => {
            let existing = read_association_with_client(c, address, cluster, namespace, sa)
                .await?
                .ok_or_else(|| call.vanished("pod identity association"))?;
            if attr_str(&existing.attrs, "role_arn") != Some(role) {
                set_role(c, address, cluster, &existing.id, role).await?;
            }
        }
        Err(e) => return Err(map(call, e)),
    }
    read_association_with_client(c, address, cluster, namespace, sa)
        .await?
        .ok_or_else(|| call.vanished("pod identity association"))
}

pub(crate) async fn set_role(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    id: &str,
    role: &str,
) -> Result<(), ProviderError> {
    let resource = address.to_string();
    c.update_pod_identity_association()
        .cluster_name(cluster)
        .association_id(id)
        .role_arn(role)
        .send()
        .await
        .map_err(|e| {
            map(
                Call::new(
                    &address.account,
                    &resource,
                    "eks:UpdatePodIdentityAssociation",
                ),
                e,
            )
        })?;
    Ok(())
}

/// Points an association at another role (the only in-place change).
pub async fn update_association_with_client(
    c: &Client,
    address: &ResourceAddress,
    id: &str,
    after: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let (cluster, namespace, sa) = association_key(after, address);
    let role = attr_str(after, "role_arn").unwrap_or_default();
    set_role(c, address, cluster, id, role).await?;
    let resource = address.to_string();
    read_association_with_client(c, address, cluster, namespace, sa)
        .await?
        .ok_or_else(|| {
            Call::new(
                &address.account,
                &resource,
                "eks:DescribePodIdentityAssociation",
            )
            .vanished("pod identity association")
        })
}

/// Deletes an association; one already gone is fine.
pub async fn delete_association_with_client(
    c: &Client,
    address: &ResourceAddress,
    id: &str,
    before: &Attrs,
) -> Result<(), ProviderError> {
    let (cluster, _, _) = association_key(before, address);
    let resource = address.to_string();
    match c
        .delete_pod_identity_association()
        .cluster_name(cluster)
        .association_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(map(
            Call::new(
                &address.account,
                &resource,
                "eks:DeletePodIdentityAssociation",
            ),
            e,
        )),
    }
}

#[async_trait]
impl KindProvider for EksPodIdentityAssociation {
    /// Reads a pod identity association.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let c = client(s, &req.address.account, req.address.region.as_deref()).await?;
        let attrs = req.desired.or(req.recorded).cloned().unwrap_or_default();
        let (cluster, namespace, sa) = association_key(&attrs, req.address);
        read_known_association_with_client(&c, req.address, cluster, namespace, sa, req.id).await
    }

    /// Creates a pod identity association.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        create_association_with_client(&c, address, attrs, Propagation::production()).await
    }

    /// Updates a pod identity association.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, id, after) = (op.address, op.id, op.after);
        let s = cx.sessions;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        update_association_with_client(&c, address, id, after).await
    }

    /// Deletes a pod identity association.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let (address, id, before) = (op.address, op.id, op.before);
        let s = cx.sessions;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        delete_association_with_client(&c, address, id, before).await
    }
}
