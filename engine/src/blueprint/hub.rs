//! The hub account's resources: the eksmgr agent role that assumes the spoke admin roles,
//! lists the organization, reads eksmgr's secrets and manages the hub ECR registry.

use crate::model::Value;
use eksmgr_state::json;

use super::{Discovery, tags};
use crate::config::Config;
use crate::model::{DesiredResource, ResourceKind};

/// ARN of the hub agent role (deterministic: IAM ARNs derive from account and name).
pub(crate) fn agent_role_arn(config: &Config, d: &Discovery) -> String {
    format!(
        "arn:{}:iam::{}:role/{}",
        d.partition,
        config.hub.account_id.as_str(),
        config.hub.agent_role_name
    )
}

/// The permissions of the hub agent role, each scoped as narrowly as the design allows.
pub fn agent_role_permissions(config: &Config, d: &Discovery) -> Value {
    let p = &d.partition;
    let hub = config.hub.account_id.as_str();
    let spoke_role = &config.governance.stackset.spoke_admin_role_name;
    let prefix = config.hub.secrets_prefix.trim_matches('/');
    let mut doc = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AssumeSpokeAdminRoles",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Resource": format!("arn:{p}:iam::*:role/{spoke_role}")
            },
            {
                "Sid": "ReadOrganization",
                "Effect": "Allow",
                "Action": ["organizations:Describe*", "organizations:List*"],
                "Resource": "*"
            },
            {
                "Sid": "ReadEksManagerSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                "Resource": format!("arn:{p}:secretsmanager:*:{hub}:secret:/{prefix}/*")
            },
            {
                "Sid": "ManageHubRegistry",
                "Effect": "Allow",
                "Action": "ecr:*",
                "Resource": format!("arn:{p}:ecr:*:{hub}:repository/*")
            },
            {
                "Sid": "RegistryLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*"
            }
        ]
    });
    // On the agent host, the role fetches the eksmgr archive and eksmgr.toml it is given in S3.
    let objects = config
        .hub
        .agent_host
        .as_ref()
        .map(|h| super::agent_host::fetched_objects(h, p))
        .unwrap_or_default();
    if !objects.is_empty() {
        let mut statements: Vec<Value> = doc
            .get("Statement")
            .and_then(Value::as_array)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        statements.push(json!({
            "Sid": "ReadAgentHostFiles",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": objects
        }));
        doc = json!({"Version": "2012-10-17", "Statement": statements});
    }
    doc
}

/// The hub agent role.
pub(crate) fn agent_role(config: &Config, d: &Discovery) -> DesiredResource {
    let hub = config.hub.account_id.as_str();
    let trusted: Vec<String> = if config.hub.agent_trusted_principals.is_empty() {
        vec![format!("arn:{}:iam::{hub}:root", d.partition)]
    } else {
        config
            .hub
            .agent_trusted_principals
            .iter()
            .map(|a| a.as_str().to_string())
            .collect()
    };
    let mut statements = vec![json!({
        "Effect": "Allow",
        "Principal": {"AWS": trusted},
        "Action": ["sts:AssumeRole", "sts:TagSession"]
    })];
    let mut managed = Vec::new();
    if config.hub.agent_host.is_some() {
        // The agent host's instance profile: EC2 assumes the role for the instance, as the
        // design's role map says ("Trust: EC2 service / Agent host instance profile").
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2.html
        statements.push(json!({
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }));
        managed.push(format!(
            "arn:{}:iam::aws:policy/{}",
            d.partition,
            super::agent_host::SSM_CORE_POLICY
        ));
    }
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": statements
    });
    DesiredResource::new(
        ResourceKind::IamRole,
        &config.hub.agent_role_name,
        hub,
        None,
    )
    .set("name", json!(config.hub.agent_role_name))
    .set("path", json!("/"))
    .set(
        "description",
        json!("eksmgr hub agent: assumes the spoke admin roles and manages the hub registry"),
    )
    .set("assume_role_policy", trust)
    .set("max_session_duration", json!(3600))
    .set("managed_policy_arns", json!(managed))
    .set(
        "inline_policies",
        json!({ "EKSManagerAgent": agent_role_permissions(config, d) }),
    )
    .set("tags", tags(&[]))
}
