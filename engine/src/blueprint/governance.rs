//! The management account's governance layer: the deny SCP attached to the EKS OU, and the
//! service-managed StackSet that puts the spoke admin role into every account of the OU.

use crate::model::Value;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::{BlueprintError, Discovery, minified_len, tags};
use crate::config::Config;
use crate::model::{DesiredResource, ResourceKind};

/// The deny SCP of the seed design, plus the configured extra statements.
///
/// It protects the spoke admin role (only CloudFormation's StackSet execution may change it),
/// denies KMS key deletion and disabling to everyone but the spoke admin role (so eksmgr can
/// still schedule an opted-in deletion), denies billing and cost tools, and denies sensitive
/// Organizations actions. A service-managed StackSet's stacks run in each member account as
/// the `stacksets-exec-*` role, which is not a service-linked role, so SCPs do apply to it:
/// the role protection exempts it. [`crate::guardrails::scp`] proves, at plan time, that the
/// whole document (extra statements included) leaves eksmgr what it needs.
pub fn scp_document(config: &Config, d: &Discovery) -> Value {
    let p = &d.partition;
    let scp = &config.governance.scp;
    let role = &config.governance.stackset.spoke_admin_role_name;
    let role_arn = format!("arn:{p}:iam::*:role/{role}");
    let mut statements = vec![json!({
        "Sid": "ProtectEKSManagerAdminRole",
        "Effect": "Deny",
        "Action": [
            "iam:AttachRolePolicy", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary",
            "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
            "iam:PutRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRole", "iam:UpdateRoleDescription"
        ],
        "Resource": role_arn,
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": format!("arn:{p}:iam::*:role/stacksets-exec-*")}}
    })];
    if scp.deny_kms_key_deletion {
        statements.push(json!({
            "Sid": "DenyKMSKeyDeletion",
            "Effect": "Deny",
            "Action": ["kms:DeleteImportedKeyMaterial", "kms:DisableKey", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": role_arn}}
        }));
    }
    if scp.deny_billing {
        statements.push(json!({
            "Sid": "DenyBilling",
            "Effect": "Deny",
            "Action": ["aws-portal:*", "billing:*", "budgets:*", "ce:*", "cur:*", "payments:*", "tax:*"],
            "Resource": "*"
        }));
    }
    if scp.deny_organizations_changes {
        statements.push(json!({
            "Sid": "DenySensitiveOrganizations",
            "Effect": "Deny",
            "Action": [
                "account:CloseAccount", "organizations:DeleteOrganization",
                "organizations:LeaveOrganization", "organizations:RemoveAccountFromOrganization"
            ],
            "Resource": "*"
        }));
    }
    statements.extend(scp.extra_statements.iter().map(Value::from));
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The CloudFormation template the StackSet deploys: the spoke admin role, trusted by the hub
/// agent role.
pub fn spoke_admin_template(config: &Config, hub_role_arn: &str) -> Value {
    let ss = &config.governance.stackset;
    let managed: Vec<&str> = ss
        .spoke_admin_managed_policy_arns
        .iter()
        .map(|a| a.as_str())
        .collect();
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "eksmgr spoke admin role, assumed by the eksmgr hub agent role",
        "Resources": {
            "EKSManagerAdminRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": ss.spoke_admin_role_name,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"AWS": hub_role_arn},
                            "Action": ["sts:AssumeRole", "sts:TagSession"]
                        }]
                    },
                    "ManagedPolicyArns": managed,
                    "Tags": [{"Key": "managed-by", "Value": "eksmgr"}]
                }
            }
        },
        "Outputs": {
            "RoleArn": {"Value": {"Fn::GetAtt": ["EKSManagerAdminRole", "Arn"]}}
        }
    })
}

pub(super) fn resources(
    config: &Config,
    d: &Discovery,
    hub_role_arn: &str,
    hub_role: &ResourceAddress,
    out: &mut Vec<DesiredResource>,
) -> Result<(), BlueprintError> {
    let mgmt = d.management_account_id.as_str();
    let ou = config.organization.eks_ou_id.as_str();
    let scp_cfg = &config.governance.scp;
    if scp_cfg.enabled {
        let doc = scp_document(config, d);
        let size = minified_len(&doc);
        if size > scp_cfg.size_limit {
            return Err(BlueprintError::ScpTooLarge {
                name: scp_cfg.name.clone(),
                size,
                limit: scp_cfg.size_limit,
            });
        }
        let scp = DesiredResource::new(ResourceKind::OrgPolicy, &scp_cfg.name, mgmt, None)
            .set("name", json!(scp_cfg.name))
            .set("description", json!(scp_cfg.description))
            .set("type", json!("SERVICE_CONTROL_POLICY"))
            .set("content", doc)
            .set("tags", tags(&[]));
        let attach_name = format!("{}:{}", scp_cfg.name, ou);
        let attachment =
            DesiredResource::new(ResourceKind::OrgPolicyAttachment, &attach_name, mgmt, None)
                .set("policy_name", json!(scp_cfg.name))
                .set_ref("policy_id", &scp.address, "id")
                .set("target_id", json!(ou));
        out.push(scp);
        out.push(attachment);
    }

    let ss = &config.governance.stackset;
    let region = config.organization.home_region.as_str();
    let stack_set = DesiredResource::new(ResourceKind::StackSet, &ss.name, mgmt, Some(region))
        .set("name", json!(ss.name))
        .set("description", json!(ss.description))
        .set("template_body", spoke_admin_template(config, hub_role_arn))
        .set("permission_model", json!("SERVICE_MANAGED"))
        .set(
            "auto_deployment",
            json!({"enabled": ss.auto_deployment, "retain_stacks_on_account_removal": ss.retain_stacks_on_account_removal}),
        )
        .set("capabilities", json!(["CAPABILITY_NAMED_IAM"]))
        .set("tags", tags(&[]));
    // The role the template trusts must exist before IAM accepts the trust policy.
    let instances = DesiredResource::new(
        ResourceKind::StackSetInstances,
        &ss.name,
        mgmt,
        Some(region),
    )
    .set("stack_set_name", json!(ss.name))
    .set("organizational_unit_ids", json!([ou]))
    .set("regions", json!(config.stackset_regions()))
    .depend_on(&stack_set.address)
    .depend_on(hub_role);
    out.push(stack_set);
    out.push(instances);
    Ok(())
}
