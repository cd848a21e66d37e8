//! Amazon EKS cluster access: access entries with their associated access policies
//! (`eks_access_entry`) and pod identity associations (`eks_pod_identity_association`).
//!
//! An access entry is found by its natural key, the cluster and the principal ARN; a pod
//! identity association by the cluster, namespace and service account (EKS allows one per
//! service account). Either one that exists already when eksmgr creates it (the cluster
//! creator's own entry, a crash between the create call and the state write) is adopted and
//! brought to the desired state, never duplicated. Groups, access policies and scopes, and an
//! association's role, change in place.
//!
//! A role created moments ago may not be visible to EKS yet (IAM is eventually consistent):
//! creates that name one retry within a bound. The logic takes an [`aws_sdk_eks::Client`]
//! (`*_with_client`) so it can be tested at the SDK boundary; the [`Sessions`]-based entry
//! points the dispatcher calls are thin wrappers.

use std::collections::BTreeMap;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use eksmgr_engine::blueprint::MANAGED_BY_TAG;
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use crate::eks::client;
use crate::error::{Call, code, map};
use crate::sessions::Sessions;
use crate::{attr_str, attr_strings};

pub use crate::propagation::Propagation;

/// The access entry's natural key: (cluster, principal ARN).
fn entry_key<'a>(attrs: &'a Attrs, address: &'a ResourceAddress) -> (&'a str, &'a str) {
    let (cluster, principal) = address
        .name
        .split_once('/')
        .unwrap_or((address.name.as_str(), ""));
    (
        attr_str(attrs, "cluster_name").unwrap_or(cluster),
        attr_str(attrs, "principal_arn").unwrap_or(principal),
    )
}

fn not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    code(e) == Some("ResourceNotFoundException")
}

/// `{"type": "cluster"}` or `{"type": "namespace", "namespaces": [...]}` (sorted).
fn scope_json(scope: Option<&AccessScope>) -> Value {
    match scope {
        Some(s) if s.r#type() == Some(&AccessScopeType::Namespace) => {
            let mut ns: Vec<String> = s.namespaces().to_vec();
            ns.sort();
            ns.dedup();
            json!({"type": "namespace", "namespaces": ns})
        }
        _ => json!({"type": "cluster"}),
    }
}

fn scope_from_json(v: &Value) -> AccessScope {
    let namespaces: Vec<String> = v
        .get("namespaces")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let namespaced = v.get("type").and_then(Value::as_str) == Some("namespace");
    AccessScope::builder()
        .r#type(if namespaced {
            AccessScopeType::Namespace
        } else {
            AccessScopeType::Cluster
        })
        .set_namespaces(namespaced.then_some(namespaces))
        .build()
}

fn policies(attrs: &Attrs) -> BTreeMap<String, Value> {
    attrs
        .get("access_policies")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
        .unwrap_or_default()
}

/// Reads an access entry and its access policies; `None` when it (or its cluster) does not
/// exist.
pub async fn read_entry_with_client(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    principal: &str,
) -> Result<Option<ObservedResource>, ProviderError> {
    read_entry_at_once(c, address, cluster, principal, false).await
}

/// [`read_entry_with_client`]; when `at_once` (state records the entry, so it most likely
/// exists) the entry and its policies are read at the same time, else the policies only once
/// the entry is found (a missing entry costs one call).
pub async fn read_entry_at_once(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    principal: &str,
    at_once: bool,
) -> Result<Option<ObservedResource>, ProviderError> {
    let resource = address.to_string();
    let describe = async {
        let call = Call::new(&address.account, &resource, "eks:DescribeAccessEntry");
        match c
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await
        {
            Ok(o) => Ok(o.access_entry),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(map(call, e)),
        }
    };
    let (entry, associated) = if at_once {
        let (entry, associated) = futures::join!(
            describe,
            associated_policies(c, address, cluster, principal)
        );
        (entry?, associated)
    } else {
        match describe.await? {
            Some(entry) => (
                Some(entry),
                associated_policies(c, address, cluster, principal).await,
            ),
            None => (None, Ok(None)),
        }
    };
    let Some(entry) = entry else {
        return Ok(None);
    };
    let Some(associated) = associated? else {
        return Ok(None);
    };
    let mut groups: Vec<String> = entry.kubernetes_groups().to_vec();
    groups.sort();
    groups.dedup();
    let mut a = Attrs::new();
    a.insert("cluster_name".into(), json!(cluster));
    a.insert(
        "principal_arn".into(),
        json!(entry.principal_arn().unwrap_or(principal)),
    );
    a.insert("type".into(), json!(entry.r#type().unwrap_or("STANDARD")));
    a.insert("kubernetes_groups".into(), json!(groups));
    a.insert("access_policies".into(), Value::Object(associated));
    if let Some(u) = entry.username() {
        a.insert("username".into(), json!(u));
    }
    let arn = entry.access_entry_arn().unwrap_or_default().to_string();
    if !arn.is_empty() {
        a.insert("arn".into(), json!(arn));
    }
    Ok(Some(ObservedResource {
        id: if arn.is_empty() {
            principal.to_string()
        } else {
            arn
        },
        attrs: a.into(),
    }))
}

/// The access policies associated with an entry, by policy ARN with their scopes; `None` when
/// the entry (or its cluster) does not exist.
async fn associated_policies(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    principal: &str,
) -> Result<Option<eksmgr_state::value::Map>, ProviderError> {
    let resource = address.to_string();
    let call = Call::new(
        &address.account,
        &resource,
        "eks:ListAssociatedAccessPolicies",
    );
    let mut associated = eksmgr_state::value::Map::new();
    let mut pages = c
        .list_associated_access_policies()
        .cluster_name(cluster)
        .principal_arn(principal)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(map(call, e)),
        };
        for p in page.associated_access_policies() {
            if let Some(arn) = p.policy_arn() {
                associated.insert(arn.into(), scope_json(p.access_scope()));
            }
        }
    }
    Ok(Some(associated))
}

/// Associates and disassociates access policies so that `before` becomes `after`.
async fn sync_policies(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    principal: &str,
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> Result<(), ProviderError> {
    let resource = address.to_string();
    for (arn, scope) in after {
        if before.get(arn) == Some(scope) {
            continue;
        }
        // Associating a policy again replaces its scope.
        c.associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(arn)
            .access_scope(scope_from_json(scope))
            .send()
            .await
            .map_err(|e| {
                map(
                    Call::new(&address.account, &resource, "eks:AssociateAccessPolicy"),
                    e,
                )
            })?;
    }
    for arn in before.keys().filter(|a| !after.contains_key(*a)) {
        match c
            .disassociate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => {
                return Err(map(
                    Call::new(&address.account, &resource, "eks:DisassociateAccessPolicy"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

fn gone(call: Call<'_>, what: &str) -> ProviderError {
    call.error(
        ErrorKind::NotFound,
        format!("the {what} was not found right after it was written"),
        Some("run again; if it persists, check the cluster in the EKS console"),
    )
}

/// Creates an access entry and associates its policies; one that exists already is adopted
/// and updated to the desired groups and policies.
pub async fn create_entry_with_client(
    c: &Client,
    address: &ResourceAddress,
    attrs: &Attrs,
    propagation: Propagation,
) -> Result<ObservedResource, ProviderError> {
    let (cluster, principal) = entry_key(attrs, address);
    let resource = address.to_string();
    let call = Call::new(&address.account, &resource, "eks:CreateAccessEntry");
    let groups = attr_strings(attrs, "kubernetes_groups");
    let created = crate::propagation::retry(propagation, None, "eks:CreateAccessEntry", || {
        c.create_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .set_kubernetes_groups(Some(groups.clone()))
            .r#type(attr_str(attrs, "type").unwrap_or("STANDARD"))
            .tags(MANAGED_BY_TAG.0, MANAGED_BY_TAG.1)
            .send()
    })
    .await;
    let before = match created {
        Ok(_) => BTreeMap::new(),
        Err(e) if code(&e) == Some("ResourceInUseException") => {
            // Adopt: bring the groups and policies to the desired state.
            let existing = read_entry_with_client(c, address, cluster, principal)
                .await?
                .ok_or_else(|| gone(call, "access entry"))?;
            if attr_strings(&existing.attrs, "kubernetes_groups") != groups {
                update_groups(c, address, cluster, principal, &groups).await?;
            }
            policies(&existing.attrs)
        }
        Err(e) => {
            let mut err = map(call, e);
            if err.kind == ErrorKind::Invalid {
                err.hint = Some(
                    "check that the principal exists and that the cluster's authentication mode is API or API_AND_CONFIG_MAP".into(),
                );
            }
            return Err(err);
        }
    };
    sync_policies(c, address, cluster, principal, &before, &policies(attrs)).await?;
    read_entry_with_client(c, address, cluster, principal)
        .await?
        .ok_or_else(|| gone(call, "access entry"))
}

async fn update_groups(
    c: &Client,
    address: &ResourceAddress,
    cluster: &str,
    principal: &str,
    groups: &[String],
) -> Result<(), ProviderError> {
    let resource = address.to_string();
    c.update_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal)
        .set_kubernetes_groups(Some(groups.to_vec()))
        .send()
        .await
        .map_err(|e| {
            map(
                Call::new(&address.account, &resource, "eks:UpdateAccessEntry"),
                e,
            )
        })?;
    Ok(())
}

/// Updates an access entry's groups and access policies in place.
pub async fn update_entry_with_client(
    c: &Client,
    address: &ResourceAddress,
    before: &Attrs,
    after: &Attrs,
    changed: &[String],
) -> Result<ObservedResource, ProviderError> {
    let (cluster, principal) = entry_key(after, address);
    if changed.iter().any(|c| c == "kubernetes_groups") {
        let groups = attr_strings(after, "kubernetes_groups");
        update_groups(c, address, cluster, principal, &groups).await?;
    }
    if changed.iter().any(|c| c == "access_policies") {
        sync_policies(
            c,
            address,
            cluster,
            principal,
            &policies(before),
            &policies(after),
        )
        .await?;
    }
    let resource = address.to_string();
    read_entry_with_client(c, address, cluster, principal)
        .await?
        .ok_or_else(|| {
            gone(
                Call::new(&address.account, &resource, "eks:DescribeAccessEntry"),
                "access entry",
            )
        })
}

/// Deletes an access entry (its policy associations go with it); one already gone is fine.
pub async fn delete_entry_with_client(
    c: &Client,
    address: &ResourceAddress,
    before: &Attrs,
) -> Result<(), ProviderError> {
    let (cluster, principal) = entry_key(before, address);
    let resource = address.to_string();
    match c
        .delete_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(map(
            Call::new(&address.account, &resource, "eks:DeleteAccessEntry"),
            e,
        )),
    }
}

/// Reads an access entry.
pub async fn read_entry(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    let c = client(s, &req.address.account, req.address.region.as_deref()).await?;
    let attrs = req.desired.or(req.recorded).cloned().unwrap_or_default();
    let (cluster, principal) = entry_key(&attrs, req.address);
    read_entry_at_once(&c, req.address, cluster, principal, req.id.is_some()).await
}

/// Creates an access entry.
pub async fn create_entry(
    s: &Sessions,
    address: &ResourceAddress,
    attrs: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let c = client(s, &address.account, address.region.as_deref()).await?;
    create_entry_with_client(&c, address, attrs, Propagation::production()).await
}

/// Updates an access entry.
pub async fn update_entry(
    s: &Sessions,
    address: &ResourceAddress,
    before: &Attrs,
    after: &Attrs,
    changed: &[String],
) -> Result<ObservedResource, ProviderError> {
    let c = client(s, &address.account, address.region.as_deref()).await?;
    update_entry_with_client(&c, address, before, after, changed).await
}

/// Deletes an access entry.
pub async fn delete_entry(
    s: &Sessions,
    address: &ResourceAddress,
    before: &Attrs,
) -> Result<(), ProviderError> {
    let c = client(s, &address.account, address.region.as_deref()).await?;
    delete_entry_with_client(&c, address, before).await
}

/// The association's natural key: (cluster, namespace, service account).
fn association_key<'a>(
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
    let call = Call::new(
        &address.account,
        &resource,
        "eks:DescribePodIdentityAssociation",
    );
    let assoc = match c
        .describe_pod_identity_association()
        .cluster_name(cluster)
        .association_id(&id)
        .send()
        .await
    {
        Ok(o) => o.association,
        Err(e) if not_found(&e) => None,
        Err(e) => return Err(map(call, e)),
    };
    Ok(assoc.map(|a| {
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
        ObservedResource {
            id,
            attrs: attrs.into(),
        }
    }))
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
                .ok_or_else(|| gone(call, "pod identity association"))?;
            if attr_str(&existing.attrs, "role_arn") != Some(role) {
                set_role(c, address, cluster, &existing.id, role).await?;
            }
        }
        Err(e) => return Err(map(call, e)),
    }
    read_association_with_client(c, address, cluster, namespace, sa)
        .await?
        .ok_or_else(|| gone(call, "pod identity association"))
}

async fn set_role(
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
            gone(
                Call::new(
                    &address.account,
                    &resource,
                    "eks:DescribePodIdentityAssociation",
                ),
                "pod identity association",
            )
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

/// Reads a pod identity association.
pub async fn read_association(
    s: &Sessions,
    req: &ReadRequest<'_>,
) -> Result<Option<ObservedResource>, ProviderError> {
    let c = client(s, &req.address.account, req.address.region.as_deref()).await?;
    let attrs = req.desired.or(req.recorded).cloned().unwrap_or_default();
    let (cluster, namespace, sa) = association_key(&attrs, req.address);
    read_association_with_client(&c, req.address, cluster, namespace, sa).await
}

/// Creates a pod identity association.
pub async fn create_association(
    s: &Sessions,
    address: &ResourceAddress,
    attrs: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let c = client(s, &address.account, address.region.as_deref()).await?;
    create_association_with_client(&c, address, attrs, Propagation::production()).await
}

/// Updates a pod identity association.
pub async fn update_association(
    s: &Sessions,
    address: &ResourceAddress,
    id: &str,
    after: &Attrs,
) -> Result<ObservedResource, ProviderError> {
    let c = client(s, &address.account, address.region.as_deref()).await?;
    update_association_with_client(&c, address, id, after).await
}

/// Deletes a pod identity association.
pub async fn delete_association(
    s: &Sessions,
    address: &ResourceAddress,
    id: &str,
    before: &Attrs,
) -> Result<(), ProviderError> {
    let c = client(s, &address.account, address.region.as_deref()).await?;
    delete_association_with_client(&c, address, id, before).await
}
