//! The ECR repository policy at the SDK boundary (`aws-smithy-mocks`): a principal IAM has not
//! propagated yet ("Principal not found") is waited for, within a bound; nothing else is
//! retried.

#![allow(clippy::expect_used)]

mod common;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::operation::set_repository_policy::{
    SetRepositoryPolicyError, SetRepositoryPolicyOutput,
};
use aws_sdk_ecr::types::error::InvalidParameterException;
use aws_smithy_mocks::{Rule, RuleMode, mock};
use eksmgr_providers::error::Call;
use eksmgr_providers::kinds::ecr_repository as ecr;
use eksmgr_providers::propagation::Propagation;

fn client(rules: &[&Rule]) -> Client {
    common::mock_client!(aws_sdk_ecr, RuleMode::MatchAny, rules, "us-east-1")
}

fn invalid(message: &'static str) -> impl Fn() -> SetRepositoryPolicyError {
    move || {
        SetRepositoryPolicyError::InvalidParameterException(common::invalid_parameter!(
            InvalidParameterException,
            message
        ))
    }
}

const NOT_FOUND: &str =
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'";
const CALL: Call<'static> = Call {
    account: "222222222222",
    resource: "ecr_repository.platform/api[222222222222/us-east-1]",
    api: "ecr:SetRepositoryPolicy",
};

#[tokio::test]
async fn a_principal_not_visible_yet_is_waited_for() {
    let set = mock!(Client::set_repository_policy)
        .sequence()
        .error(invalid(NOT_FOUND))
        .times(2)
        .output(|| SetRepositoryPolicyOutput::builder().build())
        .build();
    let c = client(&[&set]);
    ecr::set_policy_with_client(&c, CALL, "platform/api", "{}", Propagation::for_tests())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.num_calls(), 3);
}

#[tokio::test]
async fn the_wait_is_bounded_and_other_errors_are_not_retried() {
    let set = mock!(Client::set_repository_policy).then_error(invalid(NOT_FOUND));
    let c = client(&[&set]);
    let err = ecr::set_policy_with_client(&c, CALL, "platform/api", "{}", Propagation::for_tests())
        .await
        .expect_err("a principal that never appears fails");
    assert_eq!(err.api_call, "ecr:SetRepositoryPolicy");
    assert!(err.message.contains("Principal not found"), "{err}");
    assert!(
        (2..=15).contains(&set.num_calls()),
        "{} calls",
        set.num_calls()
    );

    let malformed = mock!(Client::set_repository_policy)
        .then_error(invalid("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'"));
    let c = client(&[&malformed]);
    ecr::set_policy_with_client(&c, CALL, "platform/api", "{}", Propagation::for_tests())
        .await
        .expect_err("a malformed policy fails at once");
    assert_eq!(malformed.num_calls(), 1);
}
