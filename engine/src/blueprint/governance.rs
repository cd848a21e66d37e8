//! The management account's governance layer: the deny SCP attached to the EKS OU, and the
//! service-managed StackSet that puts the spoke admin role into every account of the OU.

use crate::model::Value;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::{BlueprintError, Discovery, minified_len, tags};
use crate::config::Config;
use crate::model::{DesiredResource, ResourceKind};

/// The name of the `org_policy_type` resource, and the policy type it enables.
pub const SCP_POLICY_TYPE: &str = "SERVICE_CONTROL_POLICY";
/// The name of the `stack_set_trusted_access` resource.
pub const STACKSET_TRUSTED_ACCESS: &str = "organizations";

/// The deny SCP of the seed design, plus the configured extra statements.
///
/// It protects the spoke admin role (only CloudFormation's StackSet execution may change it),
/// denies KMS key deletion and disabling to every principal of the OU ("even EKSManagerAdmin
/// itself cannot ... delete KMS keys"; the spoke admin role is exempt only with
/// `exempt_admin_from_key_deletion_deny`), denies the spoke admin role the cryptographic use of
/// keys (the cluster key "cannot be accessed by the hub agent after provisioning": the agent
/// acts in a spoke only through that role), denies billing and cost tools, and denies sensitive
/// Organizations actions. A service-managed StackSet's stacks run in each member account as
/// the `stacksets-exec-*` role, which is not a service-linked role, so SCPs do apply to it:
/// the role protection exempts it. [`crate::guardrails::scp`] proves, at plan time, that the
/// whole document (extra statements included) leaves eksmgr what it needs.
pub fn scp_document(config: &Config, d: &Discovery) -> Value {
    let p = &d.partition;
    let scp = &config.governance.scp;
    let role = &config.governance.stackset.spoke_admin_role_name;
    let role_arn = format!("arn:{p}:iam::*:role/{role}");
    let admin_arn = format!("arn:{p}:iam::*:role/{}", config.spoke_admin_role_name());
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
        let mut st = json!({
            "Sid": "DenyKMSKeyDeletion",
            "Effect": "Deny",
            "Action": ["kms:DeleteImportedKeyMaterial", "kms:DisableKey", "kms:ScheduleKeyDeletion"],
            "Resource": "*"
        });
        if scp.exempt_admin_from_key_deletion_deny {
            st["Condition"] = json!({"ArnNotLike": {"aws:PrincipalArn": admin_arn}});
        }
        statements.push(st);
    }
    if scp.deny_admin_key_use {
        // What EKS needs of the caller when it sets a cluster's encryption is `kms:CreateGrant`
        // and `kms:DescribeKey` (neither is denied here); the control plane then uses the key
        // through the cluster role and the grant EKS makes.
        // https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html
        statements.push(json!({
            "Sid": "DenyAdminKeyUse",
            "Effect": "Deny",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": admin_arn}}
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
        // An SCP can be attached only once its policy type is enabled on the root, which a
        // new organization does not have.
        // https://docs.aws.amazon.com/organizations/latest/userguide/enable-policy-type.html
        let policy_type =
            DesiredResource::new(ResourceKind::OrgPolicyType, SCP_POLICY_TYPE, mgmt, None)
                .set("root_id", json!(d.root_id()))
                .set("type", json!(SCP_POLICY_TYPE))
                .set("status", json!("ENABLED"));
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
                .set("target_id", json!(ou))
                .depend_on(&policy_type.address);
        out.push(policy_type);
        out.push(scp);
        out.push(attachment);
    }

    let ss = &config.governance.stackset;
    let region = config.organization.home_region.as_str();
    // A service-managed StackSet needs StackSets' trusted access with Organizations.
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-activate-trusted-access.html
    let trusted_access = DesiredResource::new(
        ResourceKind::StackSetTrustedAccess,
        STACKSET_TRUSTED_ACCESS,
        mgmt,
        Some(region),
    )
    .set("status", json!("ENABLED"));
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
        .set("tags", tags(&[]))
        .depend_on(&trusted_access.address);
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
    out.push(trusted_access);
    out.push(stack_set);
    out.push(instances);
    Ok(())
}
