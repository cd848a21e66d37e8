//! The hub registry: ECR repositories whose policies grant pull to the spokes' node roles and
//! push to their build-pod roles.
//!
//! The grant names no spoke: it allows any principal whose account sits under the EKS OU
//! (`aws:PrincipalOrgPaths`) and whose role has one of the names eksmgr gives node or build-pod
//! roles (`aws:PrincipalArn`, one ARN pattern per name). Its size depends on the configuration
//! only, never on the number of spokes (ECR allows 10,240 characters; listing each role ARN
//! passed that at about 104 spokes), and a spoke that joins the OU needs no change to it.
//! Accounts named in `spokes.accounts` are granted by account id, and
//! `spokes.exclude_accounts` are denied the grant by account id: both lists are configuration.
//!
//! - Condition keys `aws:PrincipalOrgPaths`, `aws:PrincipalArn`, `aws:PrincipalAccount`:
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html>
//! - Cross-account access through a repository policy:
//!   <https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policy-examples.html>

use std::collections::BTreeSet;

use crate::model::Value;
use eksmgr_state::json;

use super::spokes::SpokeRoles;
use super::{Discovery, tags};
use crate::config::Config;
use crate::model::{DesiredResource, ResourceKind};

/// Actions a node needs to pull images ("IAM permissions for pulling an image").
/// <https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-pull-iam.html>
pub const PULL_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
];

/// Actions a build pod needs to push images ("IAM permissions for pushing an image"): the
/// layer upload actions, `PutImage`, and `BatchCheckLayerAvailability` and `BatchGetImage`,
/// which a push calls first to skip the layers and manifests the repository already holds. A
/// cross-account push needs every one of them in the repository policy.
/// <https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html>
pub const PUSH_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];

/// The principals the grants go to: the spoke accounts (by OU path and by the configured
/// account list), minus the excluded accounts.
struct Grantees {
    /// `aws:PrincipalOrgPaths` values (the EKS OU, with `*` when nested OUs are spokes too).
    paths: Vec<String>,
    /// Spoke accounts named in the configuration.
    accounts: Vec<String>,
    /// Accounts of the OU that are not spokes.
    excluded: Vec<String>,
}

impl Grantees {
    fn of(config: &Config, d: &Discovery) -> Grantees {
        let spokes = &config.spokes;
        let paths = if spokes.discover && !d.eks_ou_path.is_empty() {
            let path = if spokes.include_nested_ous {
                format!("{}*", d.eks_ou_path)
            } else {
                d.eks_ou_path.clone()
            };
            vec![path]
        } else {
            Vec::new()
        };
        let sorted = |list: &[crate::config::AccountId]| -> Vec<String> {
            let set: BTreeSet<String> = list.iter().map(|a| a.as_str().to_string()).collect();
            set.into_iter().collect()
        };
        Grantees {
            paths,
            accounts: sorted(&spokes.accounts),
            excluded: sorted(&spokes.exclude_accounts),
        }
    }

    /// One statement per way a spoke is found (OU path, account list), allowing `actions` to
    /// the roles named `names` in those accounts.
    fn statements(
        &self,
        sid: &str,
        names: &BTreeSet<String>,
        actions: &[&str],
        p: &str,
    ) -> Vec<Value> {
        if names.is_empty() {
            return Vec::new();
        }
        let arns: Vec<String> = names
            .iter()
            .map(|n| format!("arn:{p}:iam::*:role/{n}"))
            .collect();
        let mut out = Vec::new();
        let mut push = |suffix: &str, mut condition: Value| {
            condition["ArnLike"] = json!({"aws:PrincipalArn": arns});
            if !self.excluded.is_empty() {
                condition["StringNotEquals"] = json!({"aws:PrincipalAccount": self.excluded});
            }
            out.push(json!({
                "Sid": format!("{sid}{suffix}"),
                "Effect": "Allow",
                "Principal": "*",
                "Action": actions,
                "Condition": condition,
            }));
        };
        if !self.paths.is_empty() {
            // The key is multivalued (an account's path and its OU's): a set operator is needed.
            let op = if self.paths.iter().any(|p| p.ends_with('*')) {
                "ForAnyValue:StringLike"
            } else {
                "ForAnyValue:StringEquals"
            };
            push("", json!({ op: {"aws:PrincipalOrgPaths": self.paths} }));
        }
        if !self.accounts.is_empty() {
            push(
                "ListedAccounts",
                json!({"StringEquals": {"aws:PrincipalAccount": self.accounts}}),
            );
        }
        out
    }
}

/// The repository policy for the planned clusters' roles; `null` when there is none to grant
/// (a policy without statements is not valid).
pub fn repository_policy(config: &Config, d: &Discovery, roles: &SpokeRoles) -> Value {
    let grantees = Grantees::of(config, d);
    let p = d.partition.as_str();
    let mut statements = grantees.statements("SpokeNodesPull", &roles.node_names, PULL_ACTIONS, p);
    statements.extend(grantees.statements(
        "SpokeBuildPodsPush",
        &roles.build_names,
        PUSH_ACTIONS,
        p,
    ));
    if statements.is_empty() {
        Value::Null
    } else {
        json!({"Version": "2012-10-17", "Statement": statements})
    }
}

pub(super) fn resources(
    config: &Config,
    d: &Discovery,
    roles: &SpokeRoles,
    out: &mut Vec<DesiredResource>,
) {
    let hub = config.hub.account_id.as_str();
    let region = config.hub_region();
    // The policy names no role ARN, so it needs none of the roles to exist first.
    let policy = repository_policy(config, d, roles);
    for repo in &config.hub.ecr_repositories {
        let mutability =
            serde_json::to_value(repo.image_tag_mutability).map_or(Value::Null, Value::from);
        out.push(
            DesiredResource::new(ResourceKind::EcrRepository, &repo.name, hub, Some(region))
                .set("name", json!(repo.name))
                .set("image_tag_mutability", mutability)
                .set("scan_on_push", json!(repo.scan_on_push))
                .set("policy", policy.clone())
                .set("tags", tags(&[])),
        );
    }
}
