//! The spoke accounts' resources, per cluster: the KMS key for secrets envelope encryption,
//! the cluster and node roles, the pod identity roles of the build pods (ECR push) and of
//! external-dns (Route 53 on the cluster's zone only), and the EKS cluster itself.

use std::collections::BTreeSet;

use crate::model::Value;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::{Discovery, MANAGED_BY_TAG, network};
use crate::config::{AccountId, ClusterConfig, Config};
use crate::model::{DesiredResource, ResourceKind};
use crate::plan::{SkipCause, SkippedSpoke};

/// The managed policies of a node role, as the seed design lists them.
pub const NODE_ROLE_MANAGED_POLICIES: &[&str] = &[
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",
    "AutoScalingFullAccess",
    "service-role/AmazonEBSCSIDriverPolicy",
];

/// The roles across all spokes that the hub registry grants pull and push to, and the
/// clusters planned (their access is planned from these).
#[derive(Debug, Default, Clone)]
pub struct SpokeRoles {
    /// The names of the node roles (pull), in any spoke.
    pub node_names: BTreeSet<String>,
    /// The names of the build-pod roles (push), in any spoke.
    pub build_names: BTreeSet<String>,
    /// Every cluster planned, with its template resolved for its account.
    pub clusters: Vec<PlannedCluster>,
}

/// A cluster the blueprint plans in one account.
#[derive(Debug, Clone)]
pub struct PlannedCluster {
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The cluster's configuration for that account (template and override merged).
    pub config: ClusterConfig,
    /// The `eks_cluster` resource.
    pub address: ResourceAddress,
}

impl PlannedCluster {
    /// The cluster's ARN (deterministic).
    pub fn arn(&self, partition: &str) -> String {
        format!(
            "arn:{partition}:eks:{}:{}:cluster/{}",
            self.region, self.account, self.config.name
        )
    }
}

/// Name of the build pods' role of a cluster.
pub(super) fn build_role_name(c: &ClusterConfig) -> String {
    format!("{}-build", c.name)
}

/// Name of external-dns's role of a cluster.
pub(super) fn external_dns_role_name(c: &ClusterConfig) -> String {
    format!("{}-external-dns", c.name)
}

pub(super) fn role_arn(d: &Discovery, account: &str, name: &str) -> String {
    format!("arn:{}:iam::{account}:role/{name}", d.partition)
}

pub(super) fn tags(c: &ClusterConfig, extra: &[(&str, &str)]) -> Value {
    let mut m = eksmgr_state::value::Map::new();
    for (k, v) in &c.tags {
        m.insert(k.as_str().into(), json!(v));
    }
    m.insert("eksmgr-cluster".into(), json!(c.name));
    for (k, v) in extra {
        m.insert((*k).into(), json!(v));
    }
    m.insert(MANAGED_BY_TAG.0.into(), json!(MANAGED_BY_TAG.1));
    Value::Object(m)
}

fn trust(service: &str, actions: &[&str]) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": actions,
    }]})
}

/// The trust policy of a pod identity role: EKS Pod Identity (`pods.eks.amazonaws.com`) may
/// assume it and tag the session, for the one service account of the one cluster it is
/// associated with. The scope is set on the session tags EKS Pod Identity adds to every
/// request (`eks-cluster-arn`, `kubernetes-namespace`, `kubernetes-service-account`), as AWS
/// documents; `aws:SourceArn` is not among the keys EKS Pod Identity sets, so a condition on it
/// would refuse the pod its credentials.
/// <https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html>
/// <https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html>
pub(super) fn pod_identity_trust(
    cluster_arn: &str,
    namespace: &str,
    service_account: &str,
) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {
                "aws:RequestTag/eks-cluster-arn": cluster_arn,
                "aws:RequestTag/kubernetes-namespace": namespace,
                "aws:RequestTag/kubernetes-service-account": service_account
            }}
        }]
    })
}

/// Actions of a key's administrators, as in AWS's default key policy ("Allows key
/// administrators to administer the KMS key"): everything but cryptographic use. `kms:Create*`
/// holds `kms:CreateGrant`, which, with `kms:DescribeKey`, EKS requires of the principal that
/// creates an encrypted cluster (it makes the grant the control plane uses the key through).
/// <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-administrators>
/// <https://docs.aws.amazon.com/eks/latest/userguide/create-cluster.html>
pub const KEY_ADMIN_ACTIONS: &[&str] = &[
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
];

/// What the cluster role needs of the key for secrets envelope encryption.
/// <https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html>
pub const KEY_CLUSTER_ACTIONS: &[&str] = &[
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ListGrants",
];

/// The policy of a cluster's key: the spoke admin role administers it (and may make EKS's
/// grant), and so may the account's root user, so that the key can still be administered if
/// the spoke admin role is ever lost (KMS cannot recover a key no principal may administer);
/// the cluster role uses it; nobody else, the account's other IAM principals included, may use
/// it, so the hub agent (which acts through the spoke admin role) cannot decrypt with it. Both statements name the account as principal and the role by `aws:PrincipalArn`: the
/// role's own IAM policy must allow the call too, and KMS does not ask for the role to exist
/// when the key is made (the cluster role is created beside the key, not before it).
/// <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html>
pub(super) fn key_policy(p: &str, account: &str, admin_role: &str, cluster_role: &str) -> Value {
    let root = format!("arn:{p}:iam::{account}:root");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KeyAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": KEY_ADMIN_ACTIONS,
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": [
                    format!("arn:{p}:iam::{account}:role/{admin_role}"),
                    root.clone()
                ]}}
            },
            {
                "Sid": "ClusterRoleUse",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": KEY_CLUSTER_ACTIONS,
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": format!("arn:{p}:iam::{account}:role/{cluster_role}")}}
            }
        ]
    })
}

pub(super) fn role(
    account: &str,
    name: &str,
    description: &str,
    trust: Value,
    managed: Vec<String>,
    inline: Value,
    tags: Value,
) -> DesiredResource {
    DesiredResource::new(ResourceKind::IamRole, name, account, None)
        .set("name", json!(name))
        .set("path", json!("/"))
        .set("description", json!(description))
        .set("assume_role_policy", trust)
        .set("max_session_duration", json!(3600))
        .set("managed_policy_arns", json!(managed))
        .set("inline_policies", inline)
        .set("tags", tags)
}

/// Adds every spoke's resources and returns the roles the hub registry grants access to. A
/// spoke with a cluster that cannot be planned (its subnets not given, not found or not
/// readable) is skipped whole and recorded in `skipped`. Large estates are expanded in
/// contiguous parts of their spokes at once ([`super::in_parts`]), put together in order: the
/// same as one spoke after the other.
pub(super) fn resources(
    config: &Config,
    d: &Discovery,
    out: &mut Vec<DesiredResource>,
    skipped: &mut Vec<SkippedSpoke>,
) -> SpokeRoles {
    let parts = super::in_parts(&d.spokes, |spokes| {
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        let mut roles = SpokeRoles::default();
        part(config, d, spokes, &mut out, &mut skipped, &mut roles);
        (out, skipped, roles)
    });
    let mut roles = SpokeRoles::default();
    for (part_out, part_skipped, part_roles) in parts {
        out.extend(part_out);
        skipped.extend(part_skipped);
        roles.node_names.extend(part_roles.node_names);
        roles.build_names.extend(part_roles.build_names);
        roles.clusters.extend(part_roles.clusters);
    }
    roles
}

/// The resources of `spokes`, one after the other.
fn part(
    config: &Config,
    d: &Discovery,
    spokes: &[super::SpokeAccount],
    out: &mut Vec<DesiredResource>,
    skipped: &mut Vec<SkippedSpoke>,
    roles: &mut SpokeRoles,
) {
    for spoke in spokes {
        let Ok(account) = AccountId::try_from(spoke.id.as_str()) else {
            continue;
        };
        let mut clusters = Vec::new();
        let mut gaps: Vec<(SkipCause, String)> = Vec::new();
        for template in &config.clusters {
            let Some(mut c) = template.for_account(&account) else {
                continue;
            };
            match resolve_subnets(config, d, &spoke.id, &mut c) {
                Ok(()) => clusters.push(c),
                Err(gap) => gaps.push(gap),
            }
        }
        if let Some(skip) = skip(config, spoke, gaps) {
            skipped.push(skip);
            continue;
        }
        for c in clusters {
            cluster(config, d, &spoke.id, c, out, roles);
        }
    }
}

/// The account's gaps as one skipped spoke, with what to do about them; `None` without gaps.
fn skip(
    config: &Config,
    spoke: &super::SpokeAccount,
    gaps: Vec<(SkipCause, String)>,
) -> Option<SkippedSpoke> {
    let unreachable = gaps.iter().any(|(c, _)| *c == SkipCause::Unreachable);
    let (cause, _) = gaps.first()?;
    let cause = if unreachable {
        SkipCause::Unreachable
    } else {
        *cause
    };
    let fix = match cause {
        SkipCause::Unreachable => crate::skip::unreachable_fix(config.spoke_admin_role_name()),
        _ => format!(
            "tag subnets of one VPC in at least two availability zones to match the cluster's `subnet_selector`, or add `[clusters.overrides.\"{}\"] subnet_ids = [...]` (or `skip = true`) to eksmgr.toml",
            spoke.id
        ),
    };
    Some(SkippedSpoke {
        account: spoke.id.clone(),
        name: spoke.name.clone(),
        cause,
        reason: gaps
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>()
            .join("; "),
        fix,
        waiting: false,
    })
}

/// Sets the subnets of the cluster (and of its node groups) in `account` from their selectors
/// when they name none, as discovery listed them there; the gap when EKS could not take them.
fn resolve_subnets(
    config: &Config,
    d: &Discovery,
    account: &str,
    c: &mut ClusterConfig,
) -> Result<(), (SkipCause, String)> {
    let region = config.cluster_region(c).to_string();
    let network = || match d.networks.get(&(account.to_string(), region.clone())) {
        Some(Ok(n)) => Ok(n),
        Some(Err(e)) => Err((
            SkipCause::Unreachable,
            format!(
                "cluster `{}`: its subnets in {region} could not be listed: {e}",
                c.name
            ),
        )),
        None => Err((
            SkipCause::Unreachable,
            format!(
                "cluster `{}`: its subnets in {region} were not listed",
                c.name
            ),
        )),
    };
    let mut resolved = None;
    if c.subnet_ids.is_empty() {
        let Some(sel) = &c.subnet_selector else {
            return Err((
                SkipCause::Subnets,
                format!(
                    "cluster `{}` has no subnet_ids and no subnet_selector for this account, and EKS needs at least 2 subnets in different availability zones",
                    c.name
                ),
            ));
        };
        let ids = network::select(sel, network()?, true).map_err(|e| {
            (
                SkipCause::Subnets,
                format!("cluster `{}` in {region}: {e}", c.name),
            )
        })?;
        resolved = Some(ids);
    } else if c.subnet_ids.len() < 2 {
        return Err((
            SkipCause::Subnets,
            format!(
                "cluster `{}` has {} subnet id, and EKS needs at least 2 in different availability zones",
                c.name,
                c.subnet_ids.len()
            ),
        ));
    }
    let mut groups = Vec::new();
    for (i, ng) in c.node_groups.iter().enumerate() {
        if let (true, Some(sel)) = (ng.subnet_ids.is_empty(), &ng.subnet_selector) {
            let ids = network::select(sel, network()?, false).map_err(|e| {
                (
                    SkipCause::Subnets,
                    format!("node group `{}/{}` in {region}: {e}", c.name, ng.name),
                )
            })?;
            groups.push((i, ids));
        }
    }
    if let Some(ids) = resolved {
        c.subnet_ids = ids;
    }
    for (i, ids) in groups {
        if let Some(ng) = c.node_groups.get_mut(i) {
            ng.subnet_ids = ids;
        }
    }
    Ok(())
}

fn cluster(
    config: &Config,
    d: &Discovery,
    account: &str,
    owned: ClusterConfig,
    out: &mut Vec<DesiredResource>,
    roles: &mut SpokeRoles,
) {
    let c = &owned;
    let p = &d.partition;
    let region = config.cluster_region(c).to_string();
    let alias = c.kms_alias();
    let cluster_role_name = c.cluster_role_name();

    // The key: found again by its alias (and its eksmgr-alias tag) after a crash.
    let key = DesiredResource::new(ResourceKind::KmsKey, &c.name, account, Some(&region))
        .set("alias", json!(alias))
        .set(
            "description",
            json!(format!(
                "eksmgr: secrets envelope encryption of EKS cluster {}",
                c.name
            )),
        )
        .set(
            "key_policy",
            key_policy(
                p,
                account,
                config.spoke_admin_role_name(),
                &cluster_role_name,
            ),
        )
        .set("enable_key_rotation", json!(true))
        .set("deletion_window_days", json!(c.kms.deletion_window_days))
        .set("tags", tags(c, &[("eksmgr-alias", &alias)]));

    // The control plane role, allowed to use the cluster's key (found by alias).
    let cluster_role = role(
        account,
        &cluster_role_name,
        &format!("eksmgr: EKS control plane role of {}", c.name),
        trust("eks.amazonaws.com", &["sts:AssumeRole", "sts:TagSession"]),
        vec![format!("arn:{p}:iam::aws:policy/AmazonEKSClusterPolicy")],
        json!({
            "EKSSecretsEncryption": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": KEY_CLUSTER_ACTIONS,
                    "Resource": "*",
                    "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}}
                }]
            }
        }),
        tags(c, &[]),
    );

    let node_role_name = c.node_role_name();
    let node_role = role(
        account,
        &node_role_name,
        &format!("eksmgr: worker node role of {}", c.name),
        trust("ec2.amazonaws.com", &["sts:AssumeRole"]),
        NODE_ROLE_MANAGED_POLICIES
            .iter()
            .map(|n| format!("arn:{p}:iam::aws:policy/{n}"))
            .collect(),
        json!({}),
        tags(c, &[]),
    );
    if !roles.node_names.contains(&node_role_name) {
        roles.node_names.insert(node_role_name.clone());
    }

    let cluster_arn = format!("arn:{p}:eks:{region}:{account}:cluster/{}", c.name);
    if let Some(sa) = &c.build_pods {
        let name = build_role_name(c);
        let hub = config.hub.account_id.as_str();
        let hub_region = config.hub_region();
        let build = role(
            account,
            &name,
            &format!(
                "eksmgr: pod identity role of {}/{} on {} (push to the hub registry)",
                sa.namespace, sa.service_account, c.name
            ),
            pod_identity_trust(&cluster_arn, &sa.namespace, &sa.service_account),
            Vec::new(),
            json!({
                "EcrPush": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "PushToHubRegistry",
                            "Effect": "Allow",
                            "Action": [
                                "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                                "ecr:CompleteLayerUpload", "ecr:GetDownloadUrlForLayer",
                                "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"
                            ],
                            "Resource": format!("arn:{p}:ecr:{hub_region}:{hub}:repository/*")
                        },
                        {
                            "Sid": "RegistryLogin",
                            "Effect": "Allow",
                            "Action": "ecr:GetAuthorizationToken",
                            "Resource": "*"
                        }
                    ]
                }
            }),
            tags(
                c,
                &[(
                    "eksmgr-service-account",
                    &format!("{}/{}", sa.namespace, sa.service_account),
                )],
            ),
        );
        if !roles.build_names.contains(&name) {
            roles.build_names.insert(name);
        }
        out.push(build);
    }
    if let (Some(sa), Some(zone)) = (c.external_dns_service_account(), &c.hosted_zone_id) {
        let name = external_dns_role_name(c);
        out.push(role(
            account,
            &name,
            &format!("eksmgr: pod identity role of {}/{} on {} (Route 53)", sa.namespace, sa.service_account, c.name),
            pod_identity_trust(&cluster_arn, &sa.namespace, &sa.service_account),
            Vec::new(),
            json!({
                "Route53Records": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ChangeClusterZone",
                            "Effect": "Allow",
                            "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                            "Resource": format!("arn:{p}:route53:::hostedzone/{zone}")
                        },
                        {
                            "Sid": "ListZones",
                            "Effect": "Allow",
                            "Action": ["route53:ListHostedZones", "route53:ListTagsForResource"],
                            "Resource": "*"
                        }
                    ]
                }
            }),
            tags(c, &[("eksmgr-service-account", &format!("{}/{}", sa.namespace, sa.service_account))]),
        ));
    }

    let mut logging: Vec<String> = c
        .logging
        .iter()
        .map(|l| {
            serde_json::to_value(l)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    logging.sort();
    logging.dedup();
    let cidrs = if c.public_access_cidrs.is_empty() && c.endpoint_public_access {
        vec!["0.0.0.0/0".to_string()]
    } else {
        c.public_access_cidrs.clone()
    };
    let auth = serde_json::to_value(c.authentication_mode).map_or(Value::Null, Value::from);
    let mut eks = DesiredResource::new(ResourceKind::EksCluster, &c.name, account, Some(&region))
        .set("name", json!(c.name))
        .set("role_arn", json!(role_arn(d, account, &cluster_role_name)))
        .set("version", json!(c.version))
        .set("subnet_ids", json!(c.subnet_ids))
        .set("security_group_ids", json!(c.security_group_ids))
        .set("endpoint_public_access", json!(c.endpoint_public_access))
        .set("endpoint_private_access", json!(c.endpoint_private_access))
        .set("public_access_cidrs", json!(cidrs))
        .set("logging", json!(logging))
        .set("authentication_mode", auth)
        .set("bootstrap_self_managed_addons", json!(!c.default_addons))
        .set_ref("encryption_key_arn", &key.address, "arn")
        .set("tags", tags(c, &[]))
        .depend_on(&cluster_role.address);
    eks.allow_replacement = c.allow_replacement;
    roles.clusters.push(PlannedCluster {
        account: account.to_string(),
        region: region.clone(),
        config: owned,
        address: eks.address.clone(),
    });
    out.push(key);
    out.push(cluster_role);
    out.push(node_role);
    out.push(eks);
}
