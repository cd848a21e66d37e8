//! The hub registry: ECR repositories whose policies grant pull to every spoke node role and
//! push to every spoke build-pod role, computed from the whole estate.

use std::collections::HashSet;

use crate::model::Value;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::spokes::SpokeRoles;
use super::{Discovery, tags};
use crate::config::Config;
use crate::model::{DesiredResource, ResourceKind};

/// Actions a node needs to pull images.
pub const PULL_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
];

/// Actions a build pod needs to push images.
pub const PUSH_ACTIONS: &[&str] = &[
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];

fn arns(list: &[(eksmgr_state::ResourceAddress, String)]) -> Vec<&str> {
    let mut v: Vec<&str> = list.iter().map(|(_, arn)| arn.as_str()).collect();
    v.sort();
    v.dedup();
    v
}

/// The repository policy for the current set of spoke roles; `null` when there is none to
/// grant (a policy without statements is not valid).
pub fn repository_policy(roles: &SpokeRoles) -> Value {
    let mut statements = Vec::new();
    let pull = arns(&roles.node);
    if !pull.is_empty() {
        statements.push(json!({
            "Sid": "SpokeNodesPull",
            "Effect": "Allow",
            "Principal": {"AWS": pull},
            "Action": PULL_ACTIONS,
        }));
    }
    let push = arns(&roles.build);
    if !push.is_empty() {
        statements.push(json!({
            "Sid": "SpokeBuildPodsPush",
            "Effect": "Allow",
            "Principal": {"AWS": push},
            "Action": PUSH_ACTIONS,
        }));
    }
    if statements.is_empty() {
        Value::Null
    } else {
        json!({"Version": "2012-10-17", "Statement": statements})
    }
}

pub(super) fn resources(
    config: &Config,
    _d: &Discovery,
    roles: &SpokeRoles,
    out: &mut Vec<DesiredResource>,
) {
    let hub = config.hub.account_id.as_str();
    let region = config.hub_region();
    let policy = repository_policy(roles);
    // ECR checks that the principals exist: the roles come first. Ordering only: a spoke
    // that cannot be read does not hold the registry back (its statements stay). Listed once
    // each, in order (one look-up each: thousands of spokes have thousands of roles).
    let mut seen = HashSet::new();
    let after: Vec<&ResourceAddress> = roles
        .node
        .iter()
        .chain(&roles.build)
        .map(|(addr, _)| addr)
        .filter(|addr| seen.insert(*addr))
        .collect();
    for repo in &config.hub.ecr_repositories {
        let mutability =
            serde_json::to_value(repo.image_tag_mutability).map_or(Value::Null, Value::from);
        let mut r =
            DesiredResource::new(ResourceKind::EcrRepository, &repo.name, hub, Some(region))
                .set("name", json!(repo.name))
                .set("image_tag_mutability", mutability)
                .set("scan_on_push", json!(repo.scan_on_push))
                .set("policy", policy.clone())
                .set("tags", tags(&[]));
        r.order_after = after
            .iter()
            .filter(|addr| !r.depends_on.contains(addr))
            .map(|addr| (*addr).clone())
            .collect();
        out.push(r);
    }
}
