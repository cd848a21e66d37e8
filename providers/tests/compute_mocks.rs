//! The add-on and node group providers at the SDK boundary (`aws-smithy-mocks`), for what no
//! emulator shows: an add-on that is DEGRADED before it becomes ACTIVE (its health shown while
//! eksmgr waits), an add-on update that fails (its errors named), an add-on whose pods need
//! nodes on a cluster without any (not waited for), a node group stuck in CREATE_FAILED (its
//! health issues shown), and a node group's scaling update. Waits use `Waits::for_tests()`, so
//! no test sleeps for real.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_eks::Client;
use aws_sdk_eks::operation::create_addon::CreateAddonOutput;
use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupOutput;
use aws_sdk_eks::operation::describe_addon::DescribeAddonOutput;
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
use aws_sdk_eks::operation::update_addon::UpdateAddonOutput;
use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
use aws_sdk_eks::types::{
    Addon, AddonHealth, AddonIssue, AddonIssueCode, AddonStatus, ErrorCode, ErrorDetail, Issue,
    Nodegroup, NodegroupHealth, NodegroupIssueCode, NodegroupScalingConfig, NodegroupStatus,
    Update, UpdateStatus, UpdateType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock};
use eksmgr_engine::model::{Attrs, Value};
use eksmgr_providers::Progress;
use eksmgr_providers::kinds::eks_addon;
use eksmgr_providers::kinds::eks_cluster::Waits;
use eksmgr_providers::kinds::eks_node_group;
use eksmgr_state::{ResourceAddress, json};

const CLUSTER: &str = "workloads";

fn client(rules: &[&Rule]) -> Client {
    common::mock_client!(aws_sdk_eks, RuleMode::Sequential, rules, "eu-west-1")
}

fn address(kind: &str, name: &str) -> ResourceAddress {
    ResourceAddress::new(kind, name, "111122223333", Some("eu-west-1".into()))
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

fn addon(name: &str, status: AddonStatus, issue: Option<(AddonIssueCode, &str)>) -> Addon {
    let mut health = AddonHealth::builder();
    if let Some((code, message)) = issue {
        health = health.issues(
            AddonIssue::builder()
                .code(code)
                .message(message)
                .resource_ids("kube-system/coredns")
                .build(),
        );
    }
    Addon::builder()
        .addon_name(name)
        .cluster_name(CLUSTER)
        .addon_version("v1.11.4-eksbuild.2")
        .status(status)
        .health(health.build())
        .addon_arn(format!(
            "arn:aws:eks:eu-west-1:111122223333:addon/{CLUSTER}/{name}/abc"
        ))
        .build()
}

fn addon_attrs(name: &str) -> Attrs {
    attrs(json!({
        "cluster_name": CLUSTER,
        "addon_name": name,
        "addon_version": "v1.11.4-eksbuild.2",
        "configuration": {},
        "pod_identity_associations": [],
        "resolve_conflicts": "PRESERVE",
        "tags": {"managed-by": "eksmgr"},
    }))
}

#[tokio::test]
async fn a_degraded_addon_is_waited_for_with_its_health_shown() -> Result<(), String> {
    let create = mock!(Client::create_addon)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER)
                && r.addon_name() == Some("vpc-cni")
                && r.addon_version() == Some("v1.11.4-eksbuild.2")
                && r.resolve_conflicts().map(|c| c.as_str()) == Some("PRESERVE")
                && r.configuration_values().is_none()
                && r.client_request_token() == Some("tok-1")
        })
        .then_output(|| {
            CreateAddonOutput::builder()
                .addon(addon("vpc-cni", AddonStatus::Creating, None))
                .build()
        });
    let wait = mock!(Client::describe_addon)
        .sequence()
        .output(|| {
            DescribeAddonOutput::builder()
                .addon(addon(
                    "vpc-cni",
                    AddonStatus::Degraded,
                    Some((
                        AddonIssueCode::InsufficientNumberOfReplicas,
                        "The add-on is unhealthy because it doesn't have the desired number of replicas.",
                    )),
                ))
                .build()
        })
        .times(2)
        .output(|| {
            DescribeAddonOutput::builder()
                .addon(addon("vpc-cni", AddonStatus::Active, None))
                .build()
        })
        .build();
    let c = client(&[&create, &wait]);
    let (progress, log) = recorder();
    let out = eks_addon::create_with_client(
        &c,
        &address("eks_addon", "workloads/vpc-cni"),
        &addon_attrs("vpc-cni"),
        Some("tok-1"),
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs.get("status"), Some(&json!("ACTIVE")));
    assert_eq!(out.id, "workloads/vpc-cni");
    let log = messages(&log);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].contains("status DEGRADED")
            && log[0].contains("InsufficientNumberOfReplicas")
            && log[0].contains("kube-system/coredns"),
        "{log:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_addon_that_needs_nodes_is_not_waited_for_on_a_cluster_without_any() -> Result<(), String>
{
    let create = mock!(Client::create_addon).then_output(|| {
        CreateAddonOutput::builder()
            .addon(addon("coredns", AddonStatus::Creating, None))
            .build()
    });
    let nodes = mock!(Client::list_nodegroups)
        .match_requests(|r| r.cluster_name() == Some(CLUSTER))
        .then_output(|| ListNodegroupsOutput::builder().build());
    let read = mock!(Client::describe_addon).then_output(|| {
        DescribeAddonOutput::builder()
            .addon(addon("coredns", AddonStatus::Creating, None))
            .build()
    });
    let c = client(&[&create, &nodes, &read]);
    let (progress, log) = recorder();
    let out = eks_addon::create_with_client(
        &c,
        &address("eks_addon", "workloads/coredns"),
        &addon_attrs("coredns"),
        None,
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs.get("status"), Some(&json!("CREATING")));
    let log = messages(&log);
    assert!(
        log.len() == 1 && log[0].contains("becomes ACTIVE once nodes run"),
        "{log:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_addon_update_names_the_update_errors() -> Result<(), String> {
    let update = |status: UpdateStatus| {
        let mut u = Update::builder()
            .id("u-addon")
            .r#type(UpdateType::AddonUpdate)
            .status(status.clone());
        if status == UpdateStatus::Failed {
            u = u.errors(
                ErrorDetail::builder()
                    .error_code(ErrorCode::ConfigurationConflict)
                    .error_message("Conflicts found when trying to apply. Will not continue due to resolve conflicts mode.")
                    .build(),
            );
        }
        u.build()
    };
    let start = mock!(Client::update_addon)
        .match_requests(|r| {
            r.addon_name() == Some("coredns")
                && r.addon_version() == Some("v1.11.5-eksbuild.1")
                && r.configuration_values().is_none()
        })
        .then_output(move || {
            UpdateAddonOutput::builder()
                .update(update(UpdateStatus::InProgress))
                .build()
        });
    let poll = mock!(Client::describe_update)
        .match_requests(|r| {
            r.name() == Some(CLUSTER)
                && r.update_id() == Some("u-addon")
                && r.addon_name() == Some("coredns")
                && r.nodegroup_name().is_none()
        })
        .then_output(move || {
            DescribeUpdateOutput::builder()
                .update(update(UpdateStatus::Failed))
                .build()
        });
    let c = client(&[&start, &poll]);
    let (progress, _) = recorder();
    let mut after = addon_attrs("coredns");
    after.insert("addon_version".into(), json!("v1.11.5-eksbuild.1"));
    let err = eks_addon::update_with_client(
        &c,
        &address("eks_addon", "workloads/coredns"),
        &after,
        &["addon_version".to_string()],
        &progress,
        Waits::for_tests(),
    )
    .await
    .err()
    .ok_or("the update should fail")?;
    let text = err.to_string();
    assert!(
        text.contains(
            "update u-addon (AddonUpdate) of add-on coredns of cluster workloads ended Failed"
        ) && text.contains("ConfigurationConflict")
            && text.contains("resolve conflicts mode"),
        "{text}"
    );
    assert_eq!(err.api_call, "eks:DescribeUpdate");
    Ok(())
}

fn node_group(status: NodegroupStatus, issue: Option<(NodegroupIssueCode, &str)>) -> Nodegroup {
    let mut health = NodegroupHealth::builder();
    if let Some((code, message)) = issue {
        health = health.issues(
            Issue::builder()
                .code(code)
                .message(message)
                .resource_ids("subnet-0a1b2c3d")
                .build(),
        );
    }
    Nodegroup::builder()
        .nodegroup_name("general")
        .cluster_name(CLUSTER)
        .status(status)
        .version("1.35")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(5)
                .desired_size(4)
                .build(),
        )
        .health(health.build())
        .build()
}

fn node_group_attrs() -> Attrs {
    attrs(json!({
        "cluster_name": CLUSTER,
        "nodegroup_name": "general",
        "node_role_arn": "arn:aws:iam::111122223333:role/workloads-node",
        "subnet_ids": ["subnet-0a1b2c3d", "subnet-0a1b2c3e"],
        "instance_types": ["t3.medium"],
        "capacity_type": "ON_DEMAND",
        "ami_type": "AL2023_x86_64_STANDARD",
        "disk_size": 20,
        "min_size": 1,
        "max_size": 5,
        "desired_size": 2,
        "labels": {"role": "general"},
        "taints": [],
        "version": "1.35",
        "tags": {"managed-by": "eksmgr"},
    }))
}

#[tokio::test]
async fn a_node_group_that_ends_create_failed_shows_its_health_issues() -> Result<(), String> {
    let create = mock!(Client::create_nodegroup)
        .match_requests(|r| {
            r.nodegroup_name() == Some("general")
                && r.scaling_config().and_then(|s| s.desired_size()) == Some(2)
                && r.subnets().len() == 2
                && r.ami_type().map(|a| a.as_str()) == Some("AL2023_x86_64_STANDARD")
        })
        .then_output(|| {
            CreateNodegroupOutput::builder()
                .nodegroup(node_group(NodegroupStatus::Creating, None))
                .build()
        });
    let wait = mock!(Client::describe_nodegroup)
        .sequence()
        .output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(node_group(NodegroupStatus::Creating, None))
                .build()
        })
        .output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(node_group(
                    NodegroupStatus::CreateFailed,
                    Some((
                        NodegroupIssueCode::Ec2SubnetInvalidConfiguration,
                        "One or more Amazon EC2 Subnets of [subnet-0a1b2c3d] for node group general does not automatically assign public IP addresses to instances launched into it.",
                    )),
                ))
                .build()
        })
        .build();
    let c = client(&[&create, &wait]);
    let (progress, log) = recorder();
    let err = eks_node_group::create_with_client(
        &c,
        &address("eks_node_group", "workloads/general"),
        &node_group_attrs(),
        None,
        &progress,
        Waits::for_tests(),
    )
    .await
    .err()
    .ok_or("the creation should fail")?;
    let text = err.to_string();
    assert!(
        text.contains("node group general of cluster workloads is CREATE_FAILED")
            && text.contains("Ec2SubnetInvalidConfiguration")
            && text.contains("(subnet-0a1b2c3d)"),
        "{text}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("delete-nodegroup")
    );
    assert!(messages(&log)[0].contains("status CREATING"));
    Ok(())
}

#[tokio::test]
async fn a_scaling_update_keeps_the_autoscalers_desired_size_in_range() -> Result<(), String> {
    let start = mock!(Client::update_nodegroup_config)
        .match_requests(|r| {
            let s = r.scaling_config();
            s.and_then(|s| s.min_size()) == Some(1)
                && s.and_then(|s| s.max_size()) == Some(3)
                // AWS has 4 (an autoscaler's), the new maximum is 3: EKS needs it in range.
                && s.and_then(|s| s.desired_size()) == Some(3)
                && r.labels().is_none()
                && r.taints().is_none()
        })
        .then_output(|| {
            UpdateNodegroupConfigOutput::builder()
                .update(
                    Update::builder()
                        .id("u-scale")
                        .r#type(UpdateType::ConfigUpdate)
                        .status(UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        });
    let poll = mock!(Client::describe_update)
        .match_requests(|r| r.nodegroup_name() == Some("general") && r.addon_name().is_none())
        .then_output(|| {
            DescribeUpdateOutput::builder()
                .update(
                    Update::builder()
                        .id("u-scale")
                        .status(UpdateStatus::Successful)
                        .build(),
                )
                .build()
        });
    let read = mock!(Client::describe_nodegroup).then_output(|| {
        DescribeNodegroupOutput::builder()
            .nodegroup(node_group(NodegroupStatus::Active, None))
            .build()
    });
    let c = client(&[&start, &poll, &read]);
    let (progress, _) = recorder();
    let mut before = node_group_attrs();
    before.insert("desired_size".into(), json!(4));
    let mut after = node_group_attrs();
    after.insert("max_size".into(), json!(3));
    let out = eks_node_group::update_with_client(
        &c,
        &address("eks_node_group", "workloads/general"),
        &before,
        &after,
        &["max_size".to_string()],
        &progress,
        Waits::for_tests(),
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!(out.attrs.get("status"), Some(&json!("ACTIVE")));
    Ok(())
}
