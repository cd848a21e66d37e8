//! The emulator's EKS extension (`scripts/emulator/eksmgr_moto.py`): access entries, access
//! policy associations and pod identity associations, which moto lacks, driven through the
//! real AWS SDK (`aws-sdk-eks`) against a server started by the harness. Checks AWS's
//! shapes, defaults and error codes, that the state is per account and region, goes with its
//! cluster, and is cleared by a reset.

use std::collections::HashMap;
use std::fmt::Debug;

use aws_config::{Region, SdkConfig};
use aws_sdk_eks::Client;
use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types::{AccessScope, AccessScopeType, VpcConfigRequest};
use eksmgr_e2e::check::{ensure, sdk_err};
use eksmgr_e2e::{MotoServer, assume, sdk_config};

use eksmgr_e2e::R;

const ACCOUNT: &str = "123456789012";
const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/platform/admin";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const VIEW_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const EDIT_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
const API_ROLE: &str = "arn:aws:iam::123456789012:role/apps-api";
const WORKER_ROLE: &str = "arn:aws:iam::123456789012:role/apps-worker";

/// Creates the cluster `name` (moto needs a role ARN and subnets).
async fn create_cluster(eks: &Client, name: &str) -> R {
    eks.create_cluster()
        .name(name)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/eks-cluster"))
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .subnet_ids("subnet-0a1b2c3d")
                .build(),
        )
        .send()
        .await
        .map_err(sdk_err(format!("CreateCluster {name}")))?;
    Ok(())
}

/// The error code and HTTP status of a call that must fail.
fn failure<T: Debug, E: ProvideErrorMetadata>(
    what: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> R<(String, u16)> {
    match result {
        Ok(output) => Err(format!(
            "{what} should have failed, but returned {output:?}"
        )),
        Err(e) => Ok((
            e.code().unwrap_or("<no code>").to_owned(),
            e.raw_response().map_or(0, |r| r.status().as_u16()),
        )),
    }
}

fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn scope(kind: AccessScopeType, namespaces: &[&str]) -> AccessScope {
    let builder = AccessScope::builder().r#type(kind);
    namespaces
        .iter()
        .fold(builder, |b, ns| b.namespaces(*ns))
        .build()
}

async fn access_entries(eks: &Client, cluster: &str, policy: Option<&str>) -> R<Vec<String>> {
    let out = eks
        .list_access_entries()
        .cluster_name(cluster)
        .set_associated_policy_arn(policy.map(str::to_owned))
        .send()
        .await
        .map_err(sdk_err(format!("ListAccessEntries {cluster}")))?;
    Ok(out.access_entries().to_vec())
}

/// The associated policies of `principal`, as (policy ARN, scope type, namespaces).
async fn associated_policies(
    eks: &Client,
    cluster: &str,
    principal: &str,
) -> R<Vec<(String, String, Vec<String>)>> {
    let out = eks
        .list_associated_access_policies()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send()
        .await
        .map_err(sdk_err("ListAssociatedAccessPolicies"))?;
    assert_eq!(out.cluster_name(), Some(cluster));
    assert_eq!(out.principal_arn(), Some(principal));
    let mut policies: Vec<_> = out
        .associated_access_policies()
        .iter()
        .map(|p| {
            let scope = p.access_scope();
            (
                p.policy_arn().unwrap_or_default().to_owned(),
                scope
                    .and_then(|s| s.r#type())
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                scope.map(|s| s.namespaces().to_vec()).unwrap_or_default(),
            )
        })
        .collect();
    policies.sort();
    Ok(policies)
}

/// (namespace, service account, association id) of the listed associations, sorted.
async fn associations(
    eks: &Client,
    cluster: &str,
    namespace: Option<&str>,
    service_account: Option<&str>,
) -> R<Vec<(String, String, String)>> {
    let out = eks
        .list_pod_identity_associations()
        .cluster_name(cluster)
        .set_namespace(namespace.map(str::to_owned))
        .set_service_account(service_account.map(str::to_owned))
        .send()
        .await
        .map_err(sdk_err("ListPodIdentityAssociations"))?;
    let mut found = Vec::new();
    for summary in out.associations() {
        let id = summary.association_id().unwrap_or_default();
        assert_eq!(summary.cluster_name(), Some(cluster), "{summary:?}");
        assert_eq!(
            summary.association_arn(),
            Some(
                format!("arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/{cluster}/{id}")
                    .as_str()
            ),
            "{summary:?}"
        );
        assert_eq!(summary.owner_arn(), None, "{summary:?}");
        found.push((
            summary.namespace().unwrap_or_default().to_owned(),
            summary.service_account().unwrap_or_default().to_owned(),
            id.to_owned(),
        ));
    }
    found.sort();
    Ok(found)
}

#[tokio::test(flavor = "multi_thread")]
async fn access_entries_and_policies_behave_like_aws() -> R {
    let moto = MotoServer::start()?;
    let eks = Client::new(&sdk_config(moto.endpoint()));
    create_cluster(&eks, "alpha").await?;

    // Create: defaults derived like AWS (type STANDARD, an assumed-role username for a role).
    let created = eks
        .create_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .kubernetes_groups("platform-admins")
        .tags("team", "platform")
        .client_request_token("token-1")
        .send()
        .await
        .map_err(sdk_err("CreateAccessEntry admin"))?
        .access_entry
        .ok_or("CreateAccessEntry returned no accessEntry")?;
    assert_eq!(created.cluster_name(), Some("alpha"));
    assert_eq!(created.principal_arn(), Some(ADMIN_ROLE));
    assert_eq!(created.kubernetes_groups(), ["platform-admins"]);
    assert_eq!(created.r#type(), Some("STANDARD"));
    assert_eq!(
        created.username(),
        Some("arn:aws:sts::123456789012:assumed-role/admin/{{SessionName}}")
    );
    assert_eq!(created.tags(), Some(&tags(&[("team", "platform")])));
    let arn = created.access_entry_arn().unwrap_or_default();
    let prefix = "arn:aws:eks:us-east-1:123456789012:access-entry/alpha/role/123456789012/admin/";
    let suffix = arn
        .strip_prefix(prefix)
        .ok_or(format!("accessEntryArn {arn}"))?;
    ensure(
        suffix.len() == 36 && suffix.matches('-').count() == 4,
        || format!("accessEntryArn should end in a UUID: {arn}"),
    )?;
    ensure(created.created_at().is_some(), || format!("{created:?}"))?;
    assert_eq!(created.created_at(), created.modified_at());

    // A user's default username is its ARN.
    let alice = eks
        .create_access_entry()
        .cluster_name("alpha")
        .principal_arn(ALICE)
        .send()
        .await
        .map_err(sdk_err("CreateAccessEntry alice"))?
        .access_entry
        .ok_or("CreateAccessEntry returned no accessEntry")?;
    assert_eq!(alice.username(), Some(ALICE));
    assert!(alice.kubernetes_groups().is_empty(), "{alice:?}");
    assert_eq!(alice.tags(), Some(&HashMap::new()));

    // Describe (the ARN travels percent-encoded in the path) returns what was created.
    let described = eks
        .describe_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .send()
        .await
        .map_err(sdk_err("DescribeAccessEntry"))?
        .access_entry
        .ok_or("DescribeAccessEntry returned no accessEntry")?;
    assert_eq!(described, created);

    // List, whole and by pages of one.
    assert_eq!(
        access_entries(&eks, "alpha", None).await?,
        [ADMIN_ROLE, ALICE]
    );
    let first = eks
        .list_access_entries()
        .cluster_name("alpha")
        .max_results(1)
        .send()
        .await
        .map_err(sdk_err("ListAccessEntries page 1"))?;
    assert_eq!(first.access_entries(), [ADMIN_ROLE]);
    let token = first.next_token().ok_or("page 1 should have a nextToken")?;
    let second = eks
        .list_access_entries()
        .cluster_name("alpha")
        .max_results(1)
        .next_token(token)
        .send()
        .await
        .map_err(sdk_err("ListAccessEntries page 2"))?;
    assert_eq!(second.access_entries(), [ALICE]);
    assert_eq!(second.next_token(), None);

    // Update replaces the groups and sets the username.
    let updated = eks
        .update_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .kubernetes_groups("viewers")
        .kubernetes_groups("editors")
        .username("platform-admin")
        .send()
        .await
        .map_err(sdk_err("UpdateAccessEntry"))?
        .access_entry
        .ok_or("UpdateAccessEntry returned no accessEntry")?;
    assert_eq!(updated.kubernetes_groups(), ["viewers", "editors"]);
    assert_eq!(updated.username(), Some("platform-admin"));
    assert_eq!(updated.access_entry_arn(), created.access_entry_arn());
    assert_eq!(updated.created_at(), created.created_at());
    ensure(updated.modified_at() >= created.modified_at(), || {
        format!("modifiedAt went back: {updated:?}")
    })?;
    let described = eks
        .describe_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .send()
        .await
        .map_err(sdk_err("DescribeAccessEntry after update"))?;
    assert_eq!(described.access_entry(), Some(&updated));

    // Policies: a cluster scope and a namespace scope.
    let view = eks
        .associate_access_policy()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .policy_arn(VIEW_POLICY)
        .access_scope(scope(AccessScopeType::Cluster, &[]))
        .send()
        .await
        .map_err(sdk_err("AssociateAccessPolicy view"))?;
    assert_eq!(view.cluster_name(), Some("alpha"));
    assert_eq!(view.principal_arn(), Some(ADMIN_ROLE));
    let association = view
        .associated_access_policy()
        .ok_or("no associatedAccessPolicy")?;
    assert_eq!(association.policy_arn(), Some(VIEW_POLICY));
    assert_eq!(
        association.access_scope().and_then(|s| s.r#type()),
        Some(&AccessScopeType::Cluster)
    );
    ensure(association.associated_at().is_some(), || {
        format!("{association:?}")
    })?;
    eks.associate_access_policy()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .policy_arn(EDIT_POLICY)
        .access_scope(scope(AccessScopeType::Namespace, &["dev", "test"]))
        .send()
        .await
        .map_err(sdk_err("AssociateAccessPolicy edit"))?;
    let expected_edit = |namespaces: &[&str]| {
        (
            EDIT_POLICY.to_owned(),
            "namespace".to_owned(),
            namespaces
                .iter()
                .map(|n| (*n).to_owned())
                .collect::<Vec<_>>(),
        )
    };
    let expected_view = (VIEW_POLICY.to_owned(), "cluster".to_owned(), Vec::new());
    assert_eq!(
        associated_policies(&eks, "alpha", ADMIN_ROLE).await?,
        [expected_edit(&["dev", "test"]), expected_view.clone()]
    );

    // Associating a policy again replaces its scope.
    eks.associate_access_policy()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .policy_arn(EDIT_POLICY)
        .access_scope(scope(AccessScopeType::Namespace, &["prod"]))
        .send()
        .await
        .map_err(sdk_err("AssociateAccessPolicy edit again"))?;
    assert_eq!(
        associated_policies(&eks, "alpha", ADMIN_ROLE).await?,
        [expected_edit(&["prod"]), expected_view.clone()]
    );

    // The list filter by associated policy.
    assert_eq!(
        access_entries(&eks, "alpha", Some(VIEW_POLICY)).await?,
        [ADMIN_ROLE]
    );
    assert!(
        access_entries(
            &eks,
            "alpha",
            Some("arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy")
        )
        .await?
        .is_empty()
    );

    // Bad policy ARN and bad scopes are InvalidParameterException.
    let bad_policy = eks
        .associate_access_policy()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .access_scope(scope(AccessScopeType::Cluster, &[]))
        .send()
        .await;
    assert_eq!(
        failure("AssociateAccessPolicy with an IAM policy", bad_policy)?,
        ("InvalidParameterException".to_owned(), 400)
    );
    let empty_namespace_scope = eks
        .associate_access_policy()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .policy_arn(VIEW_POLICY)
        .access_scope(scope(AccessScopeType::Namespace, &[]))
        .send()
        .await;
    assert_eq!(
        failure(
            "AssociateAccessPolicy namespace scope without namespaces",
            empty_namespace_scope
        )?,
        ("InvalidParameterException".to_owned(), 400)
    );
    let bad_principal = eks
        .create_access_entry()
        .cluster_name("alpha")
        .principal_arn("arn:aws:s3:::not-a-principal")
        .send()
        .await;
    assert_eq!(
        failure("CreateAccessEntry with an S3 ARN", bad_principal)?,
        ("InvalidParameterException".to_owned(), 400)
    );
    // The failed calls changed nothing.
    assert_eq!(
        associated_policies(&eks, "alpha", ADMIN_ROLE).await?,
        [expected_edit(&["prod"]), expected_view.clone()]
    );

    // Disassociate; a second time it is not found.
    eks.disassociate_access_policy()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .policy_arn(VIEW_POLICY)
        .send()
        .await
        .map_err(sdk_err("DisassociateAccessPolicy view"))?;
    assert_eq!(
        associated_policies(&eks, "alpha", ADMIN_ROLE).await?,
        [expected_edit(&["prod"])]
    );
    let again = eks
        .disassociate_access_policy()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .policy_arn(VIEW_POLICY)
        .send()
        .await;
    assert_eq!(
        failure("DisassociateAccessPolicy twice", again)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );

    // Duplicate, missing entry, missing cluster.
    let duplicate = eks
        .create_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .send()
        .await;
    assert_eq!(
        failure("CreateAccessEntry twice", duplicate)?,
        ("ResourceInUseException".to_owned(), 409)
    );
    let missing = eks
        .describe_access_entry()
        .cluster_name("alpha")
        .principal_arn("arn:aws:iam::123456789012:role/nobody")
        .send()
        .await;
    assert_eq!(
        failure("DescribeAccessEntry of a missing principal", missing)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );
    let no_cluster = eks
        .create_access_entry()
        .cluster_name("no-such-cluster")
        .principal_arn(ADMIN_ROLE)
        .send()
        .await;
    assert_eq!(
        failure("CreateAccessEntry on a missing cluster", no_cluster)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );

    // Tags on the entry's ARN.
    let entry_arn = created.access_entry_arn().unwrap_or_default();
    eks.tag_resource()
        .resource_arn(entry_arn)
        .tags("env", "test")
        .tags("tier", "gold")
        .send()
        .await
        .map_err(sdk_err("TagResource access entry"))?;
    eks.untag_resource()
        .resource_arn(entry_arn)
        .tag_keys("team")
        .tag_keys("tier")
        .send()
        .await
        .map_err(sdk_err("UntagResource access entry"))?;
    let listed = eks
        .list_tags_for_resource()
        .resource_arn(entry_arn)
        .send()
        .await
        .map_err(sdk_err("ListTagsForResource access entry"))?;
    assert_eq!(listed.tags(), Some(&tags(&[("env", "test")])));

    // Delete: gone, with its policies; a second delete is not found.
    eks.delete_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .send()
        .await
        .map_err(sdk_err("DeleteAccessEntry"))?;
    assert_eq!(access_entries(&eks, "alpha", None).await?, [ALICE]);
    assert!(
        access_entries(&eks, "alpha", Some(EDIT_POLICY))
            .await?
            .is_empty()
    );
    let deleted = eks
        .describe_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .send()
        .await;
    assert_eq!(
        failure("DescribeAccessEntry after delete", deleted)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );
    let twice = eks
        .delete_access_entry()
        .cluster_name("alpha")
        .principal_arn(ADMIN_ROLE)
        .send()
        .await;
    assert_eq!(
        failure("DeleteAccessEntry twice", twice)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );

    // Deleting the cluster deletes its entries: a new cluster of that name has none.
    eks.delete_cluster()
        .name("alpha")
        .send()
        .await
        .map_err(sdk_err("DeleteCluster alpha"))?;
    create_cluster(&eks, "alpha").await?;
    assert!(access_entries(&eks, "alpha", None).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_identity_associations_behave_like_aws() -> R {
    let moto = MotoServer::start()?;
    let eks = Client::new(&sdk_config(moto.endpoint()));
    create_cluster(&eks, "beta").await?;

    let create = |namespace: &'static str, service_account: &'static str, role: &'static str| {
        eks.create_pod_identity_association()
            .cluster_name("beta")
            .namespace(namespace)
            .service_account(service_account)
            .role_arn(role)
            .send()
    };
    let api = eks
        .create_pod_identity_association()
        .cluster_name("beta")
        .namespace("apps")
        .service_account("api")
        .role_arn(API_ROLE)
        .tags("team", "apps")
        .client_request_token("token-1")
        .send()
        .await
        .map_err(sdk_err("CreatePodIdentityAssociation apps/api"))?
        .association
        .ok_or("CreatePodIdentityAssociation returned no association")?;
    let api_id = api.association_id().unwrap_or_default().to_owned();
    let id_body = api_id.strip_prefix("a-").unwrap_or_default();
    ensure(
        id_body.len() == 17
            && id_body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        || format!("associationId should be a- and 17 lowercase alphanumerics: {api_id}"),
    )?;
    assert_eq!(
        api.association_arn(),
        Some(
            format!("arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/beta/{api_id}")
                .as_str()
        )
    );
    assert_eq!(api.cluster_name(), Some("beta"));
    assert_eq!(api.namespace(), Some("apps"));
    assert_eq!(api.service_account(), Some("api"));
    assert_eq!(api.role_arn(), Some(API_ROLE));
    assert_eq!(api.tags(), Some(&tags(&[("team", "apps")])));
    ensure(api.created_at().is_some(), || format!("{api:?}"))?;

    let worker = create("apps", "worker", WORKER_ROLE)
        .await
        .map_err(sdk_err("CreatePodIdentityAssociation apps/worker"))?
        .association
        .ok_or("no association")?;
    let worker_id = worker.association_id().unwrap_or_default().to_owned();
    let system = create("kube-system", "api", API_ROLE)
        .await
        .map_err(sdk_err("CreatePodIdentityAssociation kube-system/api"))?
        .association
        .ok_or("no association")?;
    let system_id = system.association_id().unwrap_or_default().to_owned();
    ensure(api_id != worker_id && worker_id != system_id, || {
        format!("ids should differ: {api_id} {worker_id} {system_id}")
    })?;

    // One association per namespace and service account.
    let duplicate = create("apps", "api", WORKER_ROLE).await;
    assert_eq!(
        failure("CreatePodIdentityAssociation apps/api twice", duplicate)?,
        ("ResourceInUseException".to_owned(), 409)
    );
    let bad_role = create("apps", "batch", "not-a-role-arn").await;
    assert_eq!(
        failure("CreatePodIdentityAssociation with a bad role ARN", bad_role)?,
        ("InvalidParameterException".to_owned(), 400)
    );
    let no_cluster = eks
        .create_pod_identity_association()
        .cluster_name("no-such-cluster")
        .namespace("apps")
        .service_account("api")
        .role_arn(API_ROLE)
        .send()
        .await;
    assert_eq!(
        failure(
            "CreatePodIdentityAssociation on a missing cluster",
            no_cluster
        )?,
        ("ResourceNotFoundException".to_owned(), 404)
    );

    // List, with the filters.
    let entry = |ns: &str, sa: &str, id: &str| (ns.to_owned(), sa.to_owned(), id.to_owned());
    assert_eq!(
        associations(&eks, "beta", None, None).await?,
        [
            entry("apps", "api", &api_id),
            entry("apps", "worker", &worker_id),
            entry("kube-system", "api", &system_id),
        ]
    );
    assert_eq!(
        associations(&eks, "beta", Some("apps"), None).await?,
        [
            entry("apps", "api", &api_id),
            entry("apps", "worker", &worker_id)
        ]
    );
    assert_eq!(
        associations(&eks, "beta", None, Some("api")).await?,
        [
            entry("apps", "api", &api_id),
            entry("kube-system", "api", &system_id)
        ]
    );
    assert_eq!(
        associations(&eks, "beta", Some("kube-system"), Some("api")).await?,
        [entry("kube-system", "api", &system_id)]
    );
    assert!(
        associations(&eks, "beta", Some("other"), None)
            .await?
            .is_empty()
    );

    // Pages of two.
    let first = eks
        .list_pod_identity_associations()
        .cluster_name("beta")
        .max_results(2)
        .send()
        .await
        .map_err(sdk_err("ListPodIdentityAssociations page 1"))?;
    assert_eq!(first.associations().len(), 2);
    let token = first.next_token().ok_or("page 1 should have a nextToken")?;
    let second = eks
        .list_pod_identity_associations()
        .cluster_name("beta")
        .max_results(2)
        .next_token(token)
        .send()
        .await
        .map_err(sdk_err("ListPodIdentityAssociations page 2"))?;
    assert_eq!(second.associations().len(), 1);
    assert_eq!(second.next_token(), None);
    let mut paged: Vec<_> = first
        .associations()
        .iter()
        .chain(second.associations())
        .filter_map(|a| a.association_id())
        .collect();
    paged.sort_unstable();
    let mut all = vec![api_id.as_str(), worker_id.as_str(), system_id.as_str()];
    all.sort_unstable();
    assert_eq!(paged, all);

    // Describe returns what was created; update changes the role.
    let described = eks
        .describe_pod_identity_association()
        .cluster_name("beta")
        .association_id(&api_id)
        .send()
        .await
        .map_err(sdk_err("DescribePodIdentityAssociation"))?;
    assert_eq!(described.association(), Some(&api));
    let updated = eks
        .update_pod_identity_association()
        .cluster_name("beta")
        .association_id(&api_id)
        .role_arn(WORKER_ROLE)
        .send()
        .await
        .map_err(sdk_err("UpdatePodIdentityAssociation"))?
        .association
        .ok_or("UpdatePodIdentityAssociation returned no association")?;
    assert_eq!(updated.role_arn(), Some(WORKER_ROLE));
    assert_eq!(updated.association_id(), Some(api_id.as_str()));
    assert_eq!(updated.namespace(), Some("apps"));
    ensure(updated.modified_at() >= api.modified_at(), || {
        format!("modifiedAt went back: {updated:?}")
    })?;
    let described = eks
        .describe_pod_identity_association()
        .cluster_name("beta")
        .association_id(&api_id)
        .send()
        .await
        .map_err(sdk_err("DescribePodIdentityAssociation after update"))?;
    assert_eq!(
        described.association().and_then(|a| a.role_arn()),
        Some(WORKER_ROLE)
    );

    // Tags given at creation are on the association's ARN.
    let listed = eks
        .list_tags_for_resource()
        .resource_arn(api.association_arn().unwrap_or_default())
        .send()
        .await
        .map_err(sdk_err("ListTagsForResource association"))?;
    assert_eq!(listed.tags(), Some(&tags(&[("team", "apps")])));

    // Delete returns the association; afterwards it is not found.
    let deleted = eks
        .delete_pod_identity_association()
        .cluster_name("beta")
        .association_id(&worker_id)
        .send()
        .await
        .map_err(sdk_err("DeletePodIdentityAssociation"))?;
    assert_eq!(deleted.association(), Some(&worker));
    assert_eq!(
        associations(&eks, "beta", Some("apps"), None).await?,
        [entry("apps", "api", &api_id)]
    );
    let gone = eks
        .describe_pod_identity_association()
        .cluster_name("beta")
        .association_id(&worker_id)
        .send()
        .await;
    assert_eq!(
        failure("DescribePodIdentityAssociation after delete", gone)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );
    let twice = eks
        .delete_pod_identity_association()
        .cluster_name("beta")
        .association_id(&worker_id)
        .send()
        .await;
    assert_eq!(
        failure("DeletePodIdentityAssociation twice", twice)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );
    // The service account is free again.
    create("apps", "worker", WORKER_ROLE)
        .await
        .map_err(sdk_err("CreatePodIdentityAssociation apps/worker again"))?;
    Ok(())
}

/// Creates an access entry and a pod identity association on `cluster`.
async fn populate(eks: &Client, cluster: &str) -> R {
    create_cluster(eks, cluster).await?;
    eks.create_access_entry()
        .cluster_name(cluster)
        .principal_arn(ADMIN_ROLE)
        .send()
        .await
        .map_err(sdk_err("CreateAccessEntry"))?;
    eks.create_pod_identity_association()
        .cluster_name(cluster)
        .namespace("apps")
        .service_account("api")
        .role_arn(API_ROLE)
        .send()
        .await
        .map_err(sdk_err("CreatePodIdentityAssociation"))?;
    Ok(())
}

/// How many access entries and pod identity associations `cluster` has.
async fn counts(eks: &Client, cluster: &str) -> R<(usize, usize)> {
    let entries = access_entries(eks, cluster, None).await?.len();
    let associations = associations(eks, cluster, None, None).await?.len();
    Ok((entries, associations))
}

#[tokio::test(flavor = "multi_thread")]
async fn state_is_per_account_and_region_and_reset_clears_it() -> R {
    let moto = MotoServer::start()?;
    let management = sdk_config(moto.endpoint());
    let eks = Client::new(&management);
    populate(&eks, "gamma").await?;
    assert_eq!(counts(&eks, "gamma").await?, (1, 1));

    // Another region of the same account: a cluster of the same name starts empty.
    let west_config: SdkConfig = management
        .to_builder()
        .region(Region::new("us-west-2"))
        .build();
    let west = Client::new(&west_config);
    create_cluster(&west, "gamma").await?;
    assert_eq!(counts(&west, "gamma").await?, (0, 0));

    // Another account: the same.
    let member: SdkConfig = assume(moto.endpoint(), "210987654321", "EKSManagerAdmin").await?;
    let other = Client::new(&member);
    create_cluster(&other, "gamma").await?;
    assert_eq!(counts(&other, "gamma").await?, (0, 0));
    // ... and what it creates stays there.
    other
        .create_access_entry()
        .cluster_name("gamma")
        .principal_arn(ALICE)
        .send()
        .await
        .map_err(sdk_err("CreateAccessEntry in the member account"))?;
    assert_eq!(access_entries(&other, "gamma", None).await?, [ALICE]);
    assert_eq!(access_entries(&eks, "gamma", None).await?, [ADMIN_ROLE]);

    // A reset removes everything; a new cluster of that name has nothing.
    moto.reset()?;
    let gone = eks.describe_cluster().name("gamma").send().await;
    assert_eq!(
        failure("DescribeCluster after reset", gone)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );
    let gone = eks.list_access_entries().cluster_name("gamma").send().await;
    assert_eq!(
        failure("ListAccessEntries after reset", gone)?,
        ("ResourceNotFoundException".to_owned(), 404)
    );
    create_cluster(&eks, "gamma").await?;
    assert_eq!(counts(&eks, "gamma").await?, (0, 0));
    // The extension still works after the reset.
    populate(&eks, "delta").await?;
    assert_eq!(counts(&eks, "delta").await?, (1, 1));
    Ok(())
}
