//! The EKS cluster provider at the SDK boundary (`aws-smithy-mocks`), for what moto lacks:
//! version upgrades (UpdateClusterVersion + DescribeUpdate), AssociateEncryptionConfig,
//! access config, failed updates, creation that ends FAILED or times out, and the split of
//! configuration changes into one UpdateClusterConfig per kind of change. Waits use
//! `Waits::for_tests()`, so no test sleeps for real.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::Client;
use aws_sdk_eks::operation::associate_encryption_config::AssociateEncryptionConfigOutput;
use aws_sdk_eks::operation::create_cluster::{CreateClusterError, CreateClusterOutput};
use aws_sdk_eks::operation::delete_cluster::DeleteClusterOutput;
use aws_sdk_eks::operation::describe_cluster::{DescribeClusterError, DescribeClusterOutput};
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput;
use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
use aws_sdk_eks::types::error::{ResourceInUseException, ResourceNotFoundException};
use aws_sdk_eks::types::{
    AccessConfigResponse, AuthenticationMode, Cluster, ClusterHealth, ClusterIssue,
    ClusterIssueCode, ClusterStatus, EncryptionConfig, ErrorCode, ErrorDetail, LogType, Provider,
    Update, UpdateStatus, UpdateType, VpcConfigResponse,
};
use aws_smithy_mocks::{Rule, RuleMode, mock};
use aws_smithy_types::error::ErrorMetadata;
use eksmgr_engine::model::Attrs;
use eksmgr_engine::model::Value;
use eksmgr_engine::provider::ErrorKind;
use eksmgr_providers::Progress;
use eksmgr_providers::kinds::eks_cluster::{self as eks, Waits};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

const NAME: &str = "prod-eu";
const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn client(mode: RuleMode, rules: &[&Rule]) -> Client {
    common::mock_client!(aws_sdk_eks, mode, rules, "eu-west-1")
}

fn address() -> ResourceAddress {
    ResourceAddress::new(
        "eks_cluster",
        NAME,
        "111122223333",
        Some("eu-west-1".into()),
    )
}

fn attrs(v: Value) -> Attrs {
    match v {
        Value::Object(m) => m,
        _ => Attrs::new(),
    }
}

fn recorder() -> (Progress, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let p: Progress = Arc::new(move |_: &ResourceAddress, m: &str| {
        if let Ok(mut v) = l.lock() {
            v.push(m.to_string());
        }
    });
    (p, log)
}

fn messages(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    log.lock().map(|v| v.clone()).unwrap_or_default()
}

fn cluster(status: ClusterStatus, version: &str) -> Cluster {
    Cluster::builder()
        .name(NAME)
        .arn(format!("arn:aws:eks:eu-west-1:111122223333:cluster/{NAME}"))
        .role_arn("arn:aws:iam::111122223333:role/cluster")
        .version(version)
        .status(status)
        .endpoint("https://ABC.gr7.eu-west-1.eks.amazonaws.com")
        .platform_version("eks.10")
        .resources_vpc_config(
            VpcConfigResponse::builder()
                .subnet_ids("subnet-b")
                .subnet_ids("subnet-a")
                .endpoint_public_access(true)
                .endpoint_private_access(true)
                .public_access_cidrs("0.0.0.0/0")
                .build(),
        )
        .build()
}

fn describe_ok(c: Cluster) -> DescribeClusterOutput {
    DescribeClusterOutput::builder().cluster(c).build()
}

fn update(id: &str, ty: UpdateType, status: UpdateStatus) -> Update {
    Update::builder().id(id).r#type(ty).status(status).build()
}

fn describe_update(id: &str, ty: UpdateType, status: UpdateStatus) -> DescribeUpdateOutput {
    DescribeUpdateOutput::builder()
        .update(update(id, ty, status))
        .build()
}

fn not_found() -> DescribeClusterError {
    DescribeClusterError::ResourceNotFoundException(
        ResourceNotFoundException::builder()
            .message(format!("No cluster found for name: {NAME}."))
            .meta(
                ErrorMetadata::builder()
                    .code("ResourceNotFoundException")
                    .build(),
            )
            .build(),
    )
}

#[tokio::test]
async fn version_upgrade_calls_update_cluster_version_and_waits_for_success() -> Result<(), String>
{
    let upgrade = mock!(Client::update_cluster_version)
        .match_requests(|r| r.name() == Some(NAME) && r.version() == Some("1.31"))
        .then_output(|| {
            UpdateClusterVersionOutput::builder()
                .update(update(
                    "u-1",
                    UpdateType::VersionUpdate,
                    UpdateStatus::InProgress,
                ))
                .build()
        });
    let poll = mock!(Client::describe_update)
        .match_requests(|r| r.name() == Some(NAME) && r.update_id() == Some("u-1"))
        .sequence()
        .output(|| describe_update("u-1", UpdateType::VersionUpdate, UpdateStatus::InProgress))
        .times(2)
        .output(|| describe_update("u-1", UpdateType::VersionUpdate, UpdateStatus::Successful))
        .build();
    let read = mock!(Client::describe_cluster)
        .then_output(|| describe_ok(cluster(ClusterStatus::Active, "1.31")));
    let c = client(RuleMode::Sequential, &[&upgrade, &poll, &read]);
    let (progress, log) = recorder();
    let before = attrs(json!({"name": NAME, "version": "1.30"}));
    let after = attrs(json!({"name": NAME, "version": "1.31"}));
    let out = eks::update_with_client(
        &c,
        &address(),
        &before,
        &after,
        &["version".to_string()],
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs["version"], json!("1.31"));
    assert_eq!(out.attrs["subnet_ids"], json!(["subnet-a", "subnet-b"]));
    assert_eq!(upgrade.num_calls(), 1);
    assert_eq!(poll.num_calls(), 3);
    assert_eq!(read.num_calls(), 1);
    let msgs = messages(&log);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs.iter().all(
            |m| m.starts_with("still updating (") && m.contains("VersionUpdate u-1 InProgress")
        ),
        "{msgs:?}"
    );
    Ok(())
}

/// Rules for every call an update could make, to prove none was made.
struct NoCalls {
    rules: Vec<Rule>,
}

impl NoCalls {
    fn new() -> Self {
        NoCalls {
            rules: vec![
                mock!(Client::update_cluster_version)
                    .then_output(|| UpdateClusterVersionOutput::builder().build()),
                mock!(Client::update_cluster_config)
                    .then_output(|| UpdateClusterConfigOutput::builder().build()),
                mock!(Client::associate_encryption_config)
                    .then_output(|| AssociateEncryptionConfigOutput::builder().build()),
                mock!(Client::describe_cluster)
                    .then_output(|| describe_ok(cluster(ClusterStatus::Active, "1.29"))),
                mock!(Client::describe_update).then_output(|| {
                    describe_update("x", UpdateType::VersionUpdate, UpdateStatus::Successful)
                }),
            ],
        }
    }

    fn client(&self) -> Client {
        let refs: Vec<&Rule> = self.rules.iter().collect();
        client(RuleMode::MatchAny, &refs)
    }

    fn calls(&self) -> usize {
        self.rules.iter().map(Rule::num_calls).sum()
    }
}

async fn refused(
    before: Value,
    after: Value,
    changed: &[&str],
) -> Result<eksmgr_engine::provider::ProviderError, String> {
    let mocks = NoCalls::new();
    let c = mocks.client();
    let (progress, log) = recorder();
    let changed: Vec<String> = changed.iter().map(|s| s.to_string()).collect();
    let err = eks::update_with_client(
        &c,
        &address(),
        &attrs(before),
        &attrs(after),
        &changed,
        &progress,
        Waits::for_tests(),
    )
    .await
    .err()
    .ok_or("the update should have been refused")?;
    assert_eq!(mocks.calls(), 0, "no call may be made: {err}");
    assert!(messages(&log).is_empty());
    Ok(err)
}

#[tokio::test]
async fn a_two_minor_version_jump_is_refused_before_any_call() -> Result<(), String> {
    let err = refused(
        json!({"name": NAME, "version": "1.29", "tags": {}}),
        json!({"name": NAME, "version": "1.31", "tags": {"a": "b"}}),
        &["tags", "version"],
    )
    .await?;
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    assert_eq!(err.api_call, "eks:UpdateClusterVersion");
    assert!(err.message.contains("one minor version at a time"), "{err}");
    assert!(
        err.hint.as_deref().is_some_and(|h| h.contains("\"1.30\"")),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_downgrade_is_refused_before_any_call() -> Result<(), String> {
    let err = refused(
        json!({"name": NAME, "version": "1.31"}),
        json!({"name": NAME, "version": "1.30"}),
        &["version"],
    )
    .await?;
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    assert!(err.message.contains("cannot downgrade"), "{err}");
    Ok(())
}

#[tokio::test]
async fn changing_or_removing_the_encryption_key_is_refused() -> Result<(), String> {
    for after in [
        json!("arn:aws:kms:eu-west-1:111122223333:key/other"),
        Value::Null,
    ] {
        let err = refused(
            json!({"name": NAME, "encryption_key_arn": KEY}),
            json!({"name": NAME, "encryption_key_arn": after}),
            &["encryption_key_arn"],
        )
        .await?;
        assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
        assert_eq!(err.api_call, "eks:AssociateEncryptionConfig");
    }
    Ok(())
}

#[tokio::test]
async fn authentication_mode_cannot_go_back_to_the_config_map() -> Result<(), String> {
    let err = refused(
        json!({"name": NAME, "authentication_mode": "API"}),
        json!({"name": NAME, "authentication_mode": "API_AND_CONFIG_MAP"}),
        &["authentication_mode"],
    )
    .await?;
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    Ok(())
}

#[tokio::test]
async fn a_newly_set_key_is_associated_and_waited_for() -> Result<(), String> {
    let associate = mock!(Client::associate_encryption_config)
        .match_requests(|r| {
            r.cluster_name() == Some(NAME)
                && r.encryption_config().len() == 1
                && r.encryption_config()[0].resources() == ["secrets".to_string()]
                && r.encryption_config()[0]
                    .provider()
                    .and_then(|p| p.key_arn())
                    == Some(KEY)
        })
        .then_output(|| {
            AssociateEncryptionConfigOutput::builder()
                .update(update(
                    "u-enc",
                    UpdateType::AssociateEncryptionConfig,
                    UpdateStatus::InProgress,
                ))
                .build()
        });
    let poll = mock!(Client::describe_update)
        .match_requests(|r| r.update_id() == Some("u-enc"))
        .then_output(|| {
            describe_update(
                "u-enc",
                UpdateType::AssociateEncryptionConfig,
                UpdateStatus::Successful,
            )
        });
    let read = mock!(Client::describe_cluster).then_output(|| {
        let mut cl = cluster(ClusterStatus::Active, "1.31");
        cl.encryption_config = Some(vec![
            EncryptionConfig::builder()
                .resources("secrets")
                .provider(Provider::builder().key_arn(KEY).build())
                .build(),
        ]);
        describe_ok(cl)
    });
    let c = client(RuleMode::Sequential, &[&associate, &poll, &read]);
    let (progress, _log) = recorder();
    let out = eks::update_with_client(
        &c,
        &address(),
        &attrs(json!({"name": NAME, "encryption_key_arn": null})),
        &attrs(json!({"name": NAME, "encryption_key_arn": KEY})),
        &["encryption_key_arn".to_string()],
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs["encryption_key_arn"], json!(KEY));
    assert_eq!(associate.num_calls(), 1);
    assert_eq!(poll.num_calls(), 1);
    Ok(())
}

/// A cluster an earlier run stopped waiting for (the plan shows `status: CREATING -> ACTIVE`):
/// the update waits for it and creates nothing.
#[tokio::test]
async fn a_cluster_still_creating_is_waited_for() -> Result<(), String> {
    let wait = mock!(Client::describe_cluster)
        .sequence()
        .output(|| describe_ok(cluster(ClusterStatus::Creating, "1.31")))
        .times(2)
        .output(|| describe_ok(cluster(ClusterStatus::Active, "1.31")))
        .times(2)
        .build();
    let c = client(RuleMode::Sequential, &[&wait]);
    let (progress, log) = recorder();
    let before = attrs(json!({"name": NAME, "version": "1.31", "status": "CREATING"}));
    let after = attrs(json!({"name": NAME, "version": "1.31"}));
    let out = eks::update_with_client(
        &c,
        &address(),
        &before,
        &after,
        &["status".to_string()],
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs["status"], json!("ACTIVE"));
    assert!(wait.num_calls() >= 3, "{}", wait.num_calls());
    let msgs = messages(&log);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    Ok(())
}

#[tokio::test]
async fn a_failed_update_names_the_update_errors() -> Result<(), String> {
    let upgrade = mock!(Client::update_cluster_version).then_output(|| {
        UpdateClusterVersionOutput::builder()
            .update(update(
                "u-9",
                UpdateType::VersionUpdate,
                UpdateStatus::InProgress,
            ))
            .build()
    });
    let poll = mock!(Client::describe_update).then_output(|| {
        DescribeUpdateOutput::builder()
            .update(
                Update::builder()
                    .id("u-9")
                    .r#type(UpdateType::VersionUpdate)
                    .status(UpdateStatus::Failed)
                    .errors(
                        ErrorDetail::builder()
                            .error_code(ErrorCode::SubnetNotFound)
                            .error_message("subnet-0abc does not exist")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let c = client(RuleMode::Sequential, &[&upgrade, &poll]);
    let (progress, _log) = recorder();
    let err = eks::update_with_client(
        &c,
        &address(),
        &attrs(json!({"name": NAME, "version": "1.30"})),
        &attrs(json!({"name": NAME, "version": "1.31"})),
        &["version".to_string()],
        &progress,
        Waits::for_tests(),
    )
    .await
    .err()
    .ok_or("a failed update must be an error")?;
    assert_eq!(err.api_call, "eks:DescribeUpdate");
    assert!(err.message.contains("u-9"), "{err}");
    assert!(err.message.contains("Failed"), "{err}");
    assert!(
        err.message
            .contains("SubnetNotFound: subnet-0abc does not exist"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn configuration_changes_go_one_kind_per_call() -> Result<(), String> {
    let ucc = |id: &'static str, ty: UpdateType| {
        move || {
            UpdateClusterConfigOutput::builder()
                .update(update(id, ty.clone(), UpdateStatus::Successful))
                .build()
        }
    };
    let network = mock!(Client::update_cluster_config)
        .match_requests(|r| {
            r.resources_vpc_config().is_some_and(|v| {
                v.subnet_ids() == ["subnet-a".to_string(), "subnet-c".to_string()]
                    && v.security_group_ids() == ["sg-1".to_string()]
                    && v.endpoint_public_access().is_none()
                    && v.endpoint_private_access().is_none()
                    && v.public_access_cidrs().is_empty()
            }) && r.logging().is_none()
                && r.access_config().is_none()
        })
        .then_output(ucc("u-net", UpdateType::VpcConfigUpdate));
    let endpoint = mock!(Client::update_cluster_config)
        .match_requests(|r| {
            r.resources_vpc_config().is_some_and(|v| {
                v.subnet_ids().is_empty()
                    && v.security_group_ids().is_empty()
                    && v.endpoint_public_access() == Some(true)
                    && v.endpoint_private_access() == Some(false)
                    // Empty desired CIDRs mean EKS's default, sent explicitly.
                    && v.public_access_cidrs() == ["0.0.0.0/0".to_string()]
            }) && r.logging().is_none()
        })
        .then_output(ucc("u-end", UpdateType::EndpointAccessUpdate));
    let logging = mock!(Client::update_cluster_config)
        .match_requests(|r| {
            r.resources_vpc_config().is_none()
                && r.logging().is_some_and(|l| {
                    let s = l.cluster_logging();
                    s.len() == 2
                        && s[0].enabled() == Some(true)
                        && s[0].types() == [LogType::Api, LogType::Audit]
                        && s[1].enabled() == Some(false)
                        && s[1].types()
                            == [
                                LogType::Authenticator,
                                LogType::ControllerManager,
                                LogType::Scheduler,
                            ]
                })
        })
        .then_output(ucc("u-log", UpdateType::LoggingUpdate));
    let access = mock!(Client::update_cluster_config)
        .match_requests(|r| {
            r.resources_vpc_config().is_none()
                && r.logging().is_none()
                && r.access_config().and_then(|a| a.authentication_mode())
                    == Some(&AuthenticationMode::Api)
        })
        .then_output(ucc("u-acc", UpdateType::AccessConfigUpdate));
    let read = mock!(Client::describe_cluster).then_output(|| {
        let mut cl = cluster(ClusterStatus::Active, "1.31");
        cl.access_config = Some(
            AccessConfigResponse::builder()
                .authentication_mode(AuthenticationMode::Api)
                .build(),
        );
        describe_ok(cl)
    });
    let c = client(
        RuleMode::Sequential,
        &[&network, &endpoint, &logging, &access, &read],
    );
    let (progress, log) = recorder();
    let before = attrs(json!({
        "name": NAME, "subnet_ids": ["subnet-a", "subnet-b"], "security_group_ids": ["sg-1"],
        "endpoint_public_access": true, "endpoint_private_access": true,
        "public_access_cidrs": ["10.0.0.0/8"], "logging": [],
        "authentication_mode": "API_AND_CONFIG_MAP",
    }));
    let after = attrs(json!({
        "name": NAME, "subnet_ids": ["subnet-c", "subnet-a"], "security_group_ids": ["sg-1"],
        "endpoint_public_access": true, "endpoint_private_access": false,
        "public_access_cidrs": [], "logging": ["audit", "api"],
        "authentication_mode": "API",
    }));
    let changed: Vec<String> = [
        "authentication_mode",
        "endpoint_private_access",
        "logging",
        "public_access_cidrs",
        "subnet_ids",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = eks::update_with_client(
        &c,
        &address(),
        &before,
        &after,
        &changed,
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    for r in [&network, &endpoint, &logging, &access, &read] {
        assert_eq!(r.num_calls(), 1);
    }
    assert_eq!(out.attrs["authentication_mode"], json!("API"));
    assert!(messages(&log).is_empty(), "updates were Successful at once");
    Ok(())
}

#[tokio::test]
async fn an_unchanged_default_cidr_makes_no_endpoint_call() -> Result<(), String> {
    // [] and ["0.0.0.0/0"] mean the same to EKS, which refuses a no-op update.
    let read = mock!(Client::describe_cluster)
        .then_output(|| describe_ok(cluster(ClusterStatus::Active, "1.31")));
    let c = client(RuleMode::Sequential, &[&read]);
    let (progress, _log) = recorder();
    eks::update_with_client(
        &c,
        &address(),
        &attrs(json!({"name": NAME, "public_access_cidrs": ["0.0.0.0/0"]})),
        &attrs(json!({"name": NAME, "public_access_cidrs": []})),
        &["public_access_cidrs".to_string()],
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(read.num_calls(), 1);
    Ok(())
}

fn create_attrs() -> Attrs {
    attrs(json!({
        "name": NAME,
        "role_arn": "arn:aws:iam::111122223333:role/cluster",
        "version": "1.31",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "security_group_ids": [],
        "endpoint_public_access": true,
        "endpoint_private_access": true,
        "public_access_cidrs": [],
        "logging": ["api"],
        "authentication_mode": "API",
        "encryption_key_arn": KEY,
        "bootstrap_self_managed_addons": false,
        "tags": {"team": "platform"},
    }))
}

#[tokio::test]
async fn create_sends_everything_and_waits_for_active() -> Result<(), String> {
    let create = mock!(Client::create_cluster)
        .match_requests(|r| {
            r.name() == Some(NAME)
                && r.version() == Some("1.31")
                && r.access_config().and_then(|a| a.authentication_mode())
                    == Some(&AuthenticationMode::Api)
                && r.encryption_config().len() == 1
                && r.resources_vpc_config().is_some_and(|v| {
                    v.public_access_cidrs().is_empty() && v.endpoint_private_access() == Some(true)
                })
                && r.tags().and_then(|t| t.get("team")).map(String::as_str) == Some("platform")
                && r.logging().is_some_and(|l| l.cluster_logging().len() == 2)
                // eksmgr installs the networking add-ons as managed ones: no self-managed copies.
                && r.bootstrap_self_managed_addons() == Some(false)
                // The intent's token, so a create retried after a crash is the same request.
                && r.client_request_token() == Some("intent-token-1")
        })
        .then_output(|| CreateClusterOutput::builder().build());
    let wait = mock!(Client::describe_cluster)
        .sequence()
        .output(|| describe_ok(cluster(ClusterStatus::Creating, "1.31")))
        .times(3)
        .output(|| describe_ok(cluster(ClusterStatus::Active, "1.31")))
        .build();
    let c = client(RuleMode::Sequential, &[&create, &wait]);
    let (progress, log) = recorder();
    let out = eks::create_with_client(
        &c,
        &address(),
        &create_attrs(),
        Some("intent-token-1"),
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.id, NAME);
    assert_eq!(out.attrs["status"], json!("ACTIVE"));
    assert_eq!(
        out.attrs["encryption_key_arn"],
        Value::Null,
        "the mock has none"
    );
    let msgs = messages(&log);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(
        msgs.iter()
            .all(|m| m.starts_with("still creating (") && m.ends_with("elapsed, status CREATING)")),
        "{msgs:?}"
    );
    Ok(())
}

#[tokio::test]
async fn create_adopts_an_existing_cluster_and_waits_for_it() -> Result<(), String> {
    let create = mock!(Client::create_cluster).then_error(|| {
        CreateClusterError::ResourceInUseException(
            ResourceInUseException::builder()
                .message(format!("Cluster already exists with name: {NAME}"))
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceInUseException")
                        .build(),
                )
                .build(),
        )
    });
    let wait = mock!(Client::describe_cluster)
        .sequence()
        .output(|| describe_ok(cluster(ClusterStatus::Creating, "1.31")))
        .output(|| describe_ok(cluster(ClusterStatus::Active, "1.31")))
        .build();
    let c = client(RuleMode::Sequential, &[&create, &wait]);
    let (progress, _log) = recorder();
    let out = eks::create_with_client(
        &c,
        &address(),
        &create_attrs(),
        None,
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs["status"], json!("ACTIVE"));
    assert_eq!(create.num_calls(), 1, "never created twice");
    assert_eq!(wait.num_calls(), 2);
    Ok(())
}

#[tokio::test]
async fn a_creation_that_ends_failed_is_an_error() -> Result<(), String> {
    let create =
        mock!(Client::create_cluster).then_output(|| CreateClusterOutput::builder().build());
    let wait = mock!(Client::describe_cluster)
        .sequence()
        .output(|| describe_ok(cluster(ClusterStatus::Creating, "1.31")))
        .output(|| {
            let mut cl = cluster(ClusterStatus::Failed, "1.31");
            cl.health = Some(
                ClusterHealth::builder()
                    .issues(
                        ClusterIssue::builder()
                            .code(ClusterIssueCode::KmsKeyNotFound)
                            .message("the KMS key was not found")
                            .build(),
                    )
                    .build(),
            );
            describe_ok(cl)
        })
        .build();
    let c = client(RuleMode::Sequential, &[&create, &wait]);
    let (progress, log) = recorder();
    let err = eks::create_with_client(
        &c,
        &address(),
        &create_attrs(),
        None,
        &progress,
        Waits::for_tests(),
    )
    .await
    .err()
    .ok_or("a FAILED cluster must be an error")?;
    assert!(err.message.contains("FAILED"), "{err}");
    assert!(
        err.message
            .contains("KmsKeyNotFound: the KMS key was not found"),
        "{err}"
    );
    assert_eq!(messages(&log).len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_creation_wait_that_times_out_says_the_next_apply_waits_again() -> Result<(), String> {
    let create =
        mock!(Client::create_cluster).then_output(|| CreateClusterOutput::builder().build());
    let wait = mock!(Client::describe_cluster)
        .sequence()
        .output(|| describe_ok(cluster(ClusterStatus::Creating, "1.31")))
        .repeatedly()
        .build();
    let c = client(RuleMode::Sequential, &[&create, &wait]);
    let (progress, log) = recorder();
    let waits = Waits {
        first: Duration::ZERO,
        every: Duration::from_millis(2),
        max: Duration::from_millis(30),
        ..Waits::for_tests()
    };
    let err = eks::create_with_client(&c, &address(), &create_attrs(), None, &progress, waits)
        .await
        .err()
        .ok_or("the wait must time out")?;
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    let hint = err.hint.clone().unwrap_or_default();
    assert!(hint.contains("goes on in AWS"), "{err}");
    assert!(hint.contains("waits again"), "{err}");
    assert_eq!(create.num_calls(), 1);
    assert!(wait.num_calls() >= 2);
    assert_eq!(messages(&log).len(), wait.num_calls() - 1);
    Ok(())
}

#[tokio::test]
async fn delete_waits_until_the_cluster_is_gone() -> Result<(), String> {
    let delete = mock!(Client::delete_cluster)
        .match_requests(|r| r.name() == Some(NAME))
        .then_output(|| DeleteClusterOutput::builder().build());
    let wait = mock!(Client::describe_cluster)
        .sequence()
        .output(|| describe_ok(cluster(ClusterStatus::Deleting, "1.31")))
        .times(2)
        .error(not_found)
        .build();
    let c = client(RuleMode::Sequential, &[&delete, &wait]);
    let (progress, log) = recorder();
    eks::delete_with_client(&c, &address(), NAME, &progress, Waits::for_tests())
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(wait.num_calls(), 3);
    let msgs = messages(&log);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].contains("still deleting") && msgs[0].contains("status DELETING"));
    Ok(())
}

/// An `InvalidParameterException` answer to CreateCluster.
fn invalid_parameter(message: &'static str) -> impl Fn() -> CreateClusterError {
    move || {
        CreateClusterError::InvalidParameterException(common::invalid_parameter!(
            aws_sdk_eks::types::error::InvalidParameterException,
            message
        ))
    }
}

/// EKS's answer while IAM has not propagated a cluster role created moments before.
const ROLE_NOT_VISIBLE: &str = "Role with arn: arn:aws:iam::111122223333:role/prod-eu-cluster, could not be assumed because it does not exist or the trusted entity is not correct";

/// A cluster role created moments before is not visible to EKS yet (IAM is eventually
/// consistent): CreateCluster is tried again, backing off, each wait shown as progress.
#[tokio::test]
async fn create_retries_while_the_new_cluster_role_is_not_visible() -> Result<(), String> {
    let create = mock!(Client::create_cluster)
        .sequence()
        .error(invalid_parameter(ROLE_NOT_VISIBLE))
        .times(2)
        .output(|| CreateClusterOutput::builder().build())
        .build();
    let wait = mock!(Client::describe_cluster)
        .then_output(|| describe_ok(cluster(ClusterStatus::Active, "1.35")));
    let c = client(RuleMode::MatchAny, &[&create, &wait]);
    let (progress, log) = recorder();
    let out = eks::create_with_client(
        &c,
        &address(),
        &create_attrs(),
        None,
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs["status"], json!("ACTIVE"));
    assert_eq!(create.num_calls(), 3);
    let msgs = messages(&log);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs.iter()
            .all(|m| m.starts_with("eks:CreateCluster: IAM has not propagated a new role yet")),
        "{msgs:?}"
    );
    Ok(())
}

/// The retries are bounded: a role that never becomes visible fails the create with EKS's
/// error, naming the call, once the bound has passed; nothing else is retried.
#[tokio::test]
async fn create_gives_up_on_an_invisible_role_after_the_bound() -> Result<(), String> {
    let create = mock!(Client::create_cluster).then_error(invalid_parameter(ROLE_NOT_VISIBLE));
    let c = client(RuleMode::MatchAny, &[&create]);
    let (progress, _log) = recorder();
    let waits = Waits::for_tests();
    let started = std::time::Instant::now();
    let err = eks::create_with_client(&c, &address(), &create_attrs(), None, &progress, waits)
        .await
        .expect_err("a role that never appears must fail the create");
    assert!(started.elapsed() >= waits.propagation.first);
    assert_eq!(err.api_call, "eks:CreateCluster");
    assert!(err.message.contains("could not be assumed"), "{err}");
    // 1 ms, 2 ms, then 4 ms between tries within 50 ms: a bounded number of calls.
    let calls = create.num_calls();
    assert!((2..=15).contains(&calls), "{calls} calls");

    // Another invalid parameter is not a propagation delay: no retry.
    let other = mock!(Client::create_cluster)
        .then_error(invalid_parameter("unsupported Kubernetes version 1.99"));
    let c = client(RuleMode::MatchAny, &[&other]);
    let err = eks::create_with_client(&c, &address(), &create_attrs(), None, &progress, waits)
        .await
        .expect_err("an unsupported version fails at once");
    assert!(
        err.message.contains("unsupported Kubernetes version"),
        "{err}"
    );
    assert_eq!(other.num_calls(), 1);
    Ok(())
}
