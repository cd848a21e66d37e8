//! Access entries and pod identity associations at the SDK boundary (`aws-smithy-mocks`), for
//! what neither moto nor its test extension can produce: a new IAM role that EKS cannot see
//! yet (waited out within a bound, never forever), another invalid-parameter error (no
//! retry, a hint), and an association that exists already under another role (adopted and
//! pointed at the desired role). The lifecycle itself is tested end to end against the
//! emulator (`tests/tests/access.rs`).

mod common;

use aws_sdk_eks::Client;
use aws_sdk_eks::operation::associate_access_policy::AssociateAccessPolicyOutput;
use aws_sdk_eks::operation::create_access_entry::{
    CreateAccessEntryError, CreateAccessEntryOutput,
};
use aws_sdk_eks::operation::create_pod_identity_association::CreatePodIdentityAssociationError;
use aws_sdk_eks::operation::describe_access_entry::DescribeAccessEntryOutput;
use aws_sdk_eks::operation::describe_pod_identity_association::DescribePodIdentityAssociationOutput;
use aws_sdk_eks::operation::list_associated_access_policies::ListAssociatedAccessPoliciesOutput;
use aws_sdk_eks::operation::list_pod_identity_associations::ListPodIdentityAssociationsOutput;
use aws_sdk_eks::operation::update_pod_identity_association::UpdatePodIdentityAssociationOutput;
use aws_sdk_eks::types::error::{InvalidParameterException, ResourceInUseException};
use aws_sdk_eks::types::{
    AccessEntry, AccessScope, AccessScopeType, AssociatedAccessPolicy, PodIdentityAssociation,
    PodIdentityAssociationSummary,
};
use aws_smithy_mocks::{Rule, RuleMode, mock};
use aws_smithy_types::error::ErrorMetadata;
use eksmgr_engine::model::Attrs;
use eksmgr_engine::model::Value;
use eksmgr_engine::provider::ErrorKind;
use eksmgr_providers::kinds::eks_access_entry::{self as entry, Propagation};
use eksmgr_providers::kinds::eks_pod_identity_association as association;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

const ACCOUNT: &str = "111122223333";
const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/eks-deployer";
const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

fn client(mode: RuleMode, rules: &[&Rule]) -> Client {
    common::mock_client!(aws_sdk_eks, mode, rules, "eu-west-1")
}

fn attrs(v: Value) -> Attrs {
    match v {
        Value::Object(m) => m,
        _ => Attrs::new(),
    }
}

fn entry_address() -> ResourceAddress {
    ResourceAddress::new(
        "eks_access_entry",
        format!("prod/{PRINCIPAL}"),
        ACCOUNT,
        Some("eu-west-1".into()),
    )
}

fn entry_attrs() -> Attrs {
    attrs(json!({
        "cluster_name": "prod",
        "principal_arn": PRINCIPAL,
        "type": "STANDARD",
        "kubernetes_groups": [],
        "access_policies": {VIEW: {"type": "cluster"}}
    }))
}

fn invalid(message: &str) -> CreateAccessEntryError {
    CreateAccessEntryError::InvalidParameterException(common::invalid_parameter!(
        InvalidParameterException,
        message
    ))
}

fn read_rules() -> (Rule, Rule) {
    let describe = mock!(Client::describe_access_entry).then_output(|| {
        DescribeAccessEntryOutput::builder()
            .access_entry(
                AccessEntry::builder()
                    .cluster_name("prod")
                    .principal_arn(PRINCIPAL)
                    .r#type("STANDARD")
                    .access_entry_arn("arn:aws:eks:eu-west-1:111122223333:access-entry/prod/role/111122223333/eks-deployer/abcd")
                    .build(),
            )
            .build()
    });
    let policies = mock!(Client::list_associated_access_policies).then_output(|| {
        ListAssociatedAccessPoliciesOutput::builder()
            .associated_access_policies(
                AssociatedAccessPolicy::builder()
                    .policy_arn(VIEW)
                    .access_scope(
                        AccessScope::builder()
                            .r#type(AccessScopeType::Cluster)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    (describe, policies)
}

#[tokio::test]
async fn a_principal_eks_cannot_see_yet_is_waited_for() {
    let create = mock!(Client::create_access_entry)
        .sequence()
        .error(|| invalid("The specified principal arn:aws:iam::111122223333:role/eks-deployer could not be found."))
        .times(2)
        .output(|| CreateAccessEntryOutput::builder().build())
        .build();
    let associate = mock!(Client::associate_access_policy)
        .match_requests(|r| r.policy_arn() == Some(VIEW))
        .then_output(|| AssociateAccessPolicyOutput::builder().build());
    let (describe, policies) = read_rules();
    let c = client(
        RuleMode::Sequential,
        &[&create, &associate, &describe, &policies],
    );
    let out = entry::create_entry_with_client(
        &c,
        &entry_address(),
        &entry_attrs(),
        Propagation {
            first: std::time::Duration::from_millis(1),
            longest: std::time::Duration::from_millis(1),
            max: std::time::Duration::from_secs(5),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        out.attrs["access_policies"],
        json!({VIEW: {"type": "cluster"}})
    );
    assert_eq!(create.num_calls(), 3);
}

#[tokio::test]
async fn the_wait_for_a_principal_is_bounded() {
    let create = mock!(Client::create_access_entry)
        .then_error(|| invalid("The specified principal could not be found."));
    let c = client(RuleMode::MatchAny, &[&create]);
    let err = entry::create_entry_with_client(
        &c,
        &entry_address(),
        &entry_attrs(),
        Propagation::for_tests(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.api_call, "eks:CreateAccessEntry");
    assert_eq!(err.account, ACCOUNT);
    assert!(create.num_calls() >= 2, "it retried");
    assert!(create.num_calls() < 1000, "and gave up");
    assert!(err.hint.unwrap_or_default().contains("principal exists"));
}

#[tokio::test]
async fn another_invalid_parameter_is_not_retried() {
    let create = mock!(Client::create_access_entry).then_error(|| {
        invalid(
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP].",
        )
    });
    let c = client(RuleMode::MatchAny, &[&create]);
    let err = entry::create_entry_with_client(
        &c,
        &entry_address(),
        &entry_attrs(),
        Propagation::for_tests(),
    )
    .await
    .unwrap_err();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("authentication mode"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn an_existing_association_is_adopted_and_pointed_at_the_desired_role() {
    const OLD: &str = "arn:aws:iam::111122223333:role/old-builder";
    const NEW: &str = "arn:aws:iam::111122223333:role/prod-build";
    let create = mock!(Client::create_pod_identity_association).then_error(|| {
        CreatePodIdentityAssociationError::ResourceInUseException(
            ResourceInUseException::builder()
                .message("Association already exists")
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceInUseException")
                        .build(),
                )
                .build(),
        )
    });
    let list = || {
        mock!(Client::list_pod_identity_associations)
            .match_requests(|r| {
                r.namespace() == Some("ci") && r.service_account() == Some("builder")
            })
            .then_output(|| {
                ListPodIdentityAssociationsOutput::builder()
                    .associations(
                        PodIdentityAssociationSummary::builder()
                            .cluster_name("prod")
                            .namespace("ci")
                            .service_account("builder")
                            .association_id("a-0123456789abcdefg")
                            .build(),
                    )
                    .build()
            })
    };
    let assoc = |role: &'static str| {
        move || {
            DescribePodIdentityAssociationOutput::builder()
                .association(
                    PodIdentityAssociation::builder()
                        .cluster_name("prod")
                        .namespace("ci")
                        .service_account("builder")
                        .association_id("a-0123456789abcdefg")
                        .role_arn(role)
                        .build(),
                )
                .build()
        }
    };
    let describe_old = mock!(Client::describe_pod_identity_association).then_output(assoc(OLD));
    let update = mock!(Client::update_pod_identity_association)
        .match_requests(|r| {
            r.association_id() == Some("a-0123456789abcdefg") && r.role_arn() == Some(NEW)
        })
        .then_output(|| UpdatePodIdentityAssociationOutput::builder().build());
    let describe_new = mock!(Client::describe_pod_identity_association).then_output(assoc(NEW));
    let c = client(
        RuleMode::Sequential,
        &[
            &create,
            &list(),
            &describe_old,
            &update,
            &list(),
            &describe_new,
        ],
    );
    let address = ResourceAddress::new(
        "eks_pod_identity_association",
        "prod/ci/builder",
        ACCOUNT,
        Some("eu-west-1".into()),
    );
    let out = association::create_association_with_client(
        &c,
        &address,
        &attrs(json!({
            "cluster_name": "prod", "namespace": "ci", "service_account": "builder", "role_arn": NEW
        })),
        Propagation::for_tests(),
    )
    .await
    .unwrap();
    assert_eq!(out.id, "a-0123456789abcdefg");
    assert_eq!(out.attrs["role_arn"], json!(NEW));
    assert_eq!(update.num_calls(), 1);
}

fn entry_not_found() -> (Rule, Rule) {
    use aws_sdk_eks::operation::describe_access_entry::DescribeAccessEntryError;
    use aws_sdk_eks::operation::list_associated_access_policies::ListAssociatedAccessPoliciesError;
    use aws_sdk_eks::types::error::ResourceNotFoundException;
    let missing = || {
        ResourceNotFoundException::builder()
            .message("No access entry found")
            .meta(
                ErrorMetadata::builder()
                    .code("ResourceNotFoundException")
                    .message("No access entry found")
                    .build(),
            )
            .build()
    };
    let describe = mock!(Client::describe_access_entry)
        .then_error(move || DescribeAccessEntryError::ResourceNotFoundException(missing()));
    let policies = mock!(Client::list_associated_access_policies).then_error(move || {
        ListAssociatedAccessPoliciesError::ResourceNotFoundException(missing())
    });
    (describe, policies)
}

/// An entry state records is read with its policies in one round of calls, the same as one
/// read after the other; an entry state does not record is described first, so a missing one
/// costs one call.
#[tokio::test]
async fn a_recorded_entry_is_read_in_one_round_and_a_missing_one_in_one_call() {
    for at_once in [true, false] {
        let (describe, policies) = read_rules();
        let c = client(RuleMode::MatchAny, &[&describe, &policies]);
        let found = entry::read_entry_at_once(&c, &entry_address(), "prod", PRINCIPAL, at_once)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the entry was not found"));
        assert_eq!(
            found.attrs["access_policies"],
            json!({VIEW: {"type": "cluster"}})
        );
        assert_eq!((describe.num_calls(), policies.num_calls()), (1, 1));

        let (describe, policies) = entry_not_found();
        let c = client(RuleMode::MatchAny, &[&describe, &policies]);
        let missing = entry::read_entry_at_once(&c, &entry_address(), "prod", PRINCIPAL, at_once)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(missing.is_none());
        assert_eq!(describe.num_calls(), 1);
        assert_eq!(
            policies.num_calls(),
            usize::from(at_once),
            "at_once: {at_once}"
        );
    }
}

/// An association state records is read with one `DescribePodIdentityAssociation`; one whose
/// recorded id is gone (made again by hand) is looked for by its service account.
#[tokio::test]
async fn a_recorded_association_is_read_with_one_call() {
    use aws_sdk_eks::operation::describe_pod_identity_association::DescribePodIdentityAssociationError;
    use aws_sdk_eks::types::error::ResourceNotFoundException;
    const ROLE: &str = "arn:aws:iam::111122223333:role/prod-build";
    let address = ResourceAddress::new(
        "eks_pod_identity_association",
        "prod/ci/builder",
        ACCOUNT,
        Some("eu-west-1".into()),
    );
    let assoc = |id: &'static str| {
        move || {
            DescribePodIdentityAssociationOutput::builder()
                .association(
                    PodIdentityAssociation::builder()
                        .cluster_name("prod")
                        .namespace("ci")
                        .service_account("builder")
                        .association_id(id)
                        .role_arn(ROLE)
                        .build(),
                )
                .build()
        }
    };
    let list = mock!(Client::list_pod_identity_associations).then_output(|| {
        ListPodIdentityAssociationsOutput::builder()
            .associations(
                PodIdentityAssociationSummary::builder()
                    .cluster_name("prod")
                    .namespace("ci")
                    .service_account("builder")
                    .association_id("a-new")
                    .build(),
            )
            .build()
    });

    let describe = mock!(Client::describe_pod_identity_association)
        .match_requests(|r| r.association_id() == Some("a-recorded"))
        .then_output(assoc("a-recorded"));
    let c = client(RuleMode::MatchAny, &[&describe, &list]);
    let found = association::read_known_association_with_client(
        &c,
        &address,
        "prod",
        "ci",
        "builder",
        Some("a-recorded"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.id, "a-recorded");
    assert_eq!(found.attrs["role_arn"], json!(ROLE));
    assert_eq!((describe.num_calls(), list.num_calls()), (1, 0));

    // The recorded id is gone; the service account's association now has another one.
    let gone = mock!(Client::describe_pod_identity_association)
        .match_requests(|r| r.association_id() == Some("a-recorded"))
        .then_error(|| {
            DescribePodIdentityAssociationError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("No association")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ResourceNotFoundException")
                            .build(),
                    )
                    .build(),
            )
        });
    let describe_new = mock!(Client::describe_pod_identity_association)
        .match_requests(|r| r.association_id() == Some("a-new"))
        .then_output(assoc("a-new"));
    let c = client(RuleMode::MatchAny, &[&gone, &list, &describe_new]);
    let found = association::read_known_association_with_client(
        &c,
        &address,
        "prod",
        "ci",
        "builder",
        Some("a-recorded"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.id, "a-new");
    assert_eq!(
        (gone.num_calls(), list.num_calls(), describe_new.num_calls()),
        (1, 1, 1)
    );
}
