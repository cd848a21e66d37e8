//! EKS access entries with their associated access policies (`eks_access_entry`).
//!
//! An entry is found by its natural key, the cluster and the principal ARN. One that exists
//! already when eksmgr creates it (the cluster creator's own entry, a crash between the create
//! call and the state write) is adopted and brought to the desired state, never duplicated.
//! Groups, access policies and scopes change in place. A role created moments ago may not be
//! visible to EKS yet (IAM is eventually consistent): a create that names one is retried
//! within a bound. The logic takes an [`aws_sdk_eks::Client`] (`*_with_client`) so it can be
//! tested at the SDK boundary.

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code, map};
use crate::kinds::eks_cluster::client;
use crate::kinds::eks_cluster::not_found;
pub use crate::propagation::Propagation;
use crate::{attr_str, attr_strings};
use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use eksmgr_engine::blueprint::MANAGED_BY_TAG;
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;
use std::collections::BTreeMap;

/// The provider of access entries (`eks_access_entry`).
pub struct EksAccessEntry;

/// The access entry's natural key: (cluster, principal ARN).
pub(crate) fn entry_key<'a>(attrs: &'a Attrs, address: &'a ResourceAddress) -> (&'a str, &'a str) {
    let (cluster, principal) = address
        .name
        .split_once('/')
        .unwrap_or((address.name.as_str(), ""));
    (
        attr_str(attrs, "cluster_name").unwrap_or(cluster),
        attr_str(attrs, "principal_arn").unwrap_or(principal),
    )
}

/// `{"type": "cluster"}` or `{"type": "namespace", "namespaces": [...]}` (sorted).
pub(crate) fn scope_json(scope: Option<&AccessScope>) -> Value {
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

pub(crate) fn scope_from_json(v: &Value) -> AccessScope {
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

pub(crate) fn policies(attrs: &Attrs) -> BTreeMap<String, Value> {
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
    Ok(Some(ObservedResource::new(
        if arn.is_empty() {
            principal.to_string()
        } else {
            arn
        },
        a,
    )))
}

/// The access policies associated with an entry, by policy ARN with their scopes; `None` when
/// the entry (or its cluster) does not exist.
pub(crate) async fn associated_policies(
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
pub(crate) async fn sync_policies(
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
                .ok_or_else(|| call.vanished("access entry"))?;
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
        .ok_or_else(|| call.vanished("access entry"))
}

pub(crate) async fn update_groups(
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
            Call::new(&address.account, &resource, "eks:DescribeAccessEntry")
                .vanished("access entry")
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

#[async_trait]
impl KindProvider for EksAccessEntry {
    /// Reads an access entry.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let c = client(s, &req.address.account, req.address.region.as_deref()).await?;
        let attrs = req.desired.or(req.recorded).cloned().unwrap_or_default();
        let (cluster, principal) = entry_key(&attrs, req.address);
        read_entry_at_once(&c, req.address, cluster, principal, req.id.is_some()).await
    }

    /// Creates an access entry.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        create_entry_with_client(&c, address, attrs, Propagation::production()).await
    }

    /// Updates an access entry.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, before, after, changed) = (op.address, op.before, op.after, op.changed);
        let s = cx.sessions;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        update_entry_with_client(&c, address, before, after, changed).await
    }

    /// Deletes an access entry.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let (address, before) = (op.address, op.before);
        let s = cx.sessions;
        let c = client(s, &address.account, address.region.as_deref()).await?;
        delete_entry_with_client(&c, address, before).await
    }
}
