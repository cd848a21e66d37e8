//! AWS's size limits on the documents eksmgr writes, checked on the whole blueprint at plan
//! time, so a document AWS would refuse stops the plan instead of failing half-way through an
//! apply. Sizes are measured on the minified JSON eksmgr sends (IAM does not count white
//! space; the other services count the text as sent, which eksmgr sends minified). The SCP,
//! whose limit is a setting, is checked where it is built ([`super::governance`]).

use crate::model::{DesiredResource, ResourceKind, Value};
use crate::policy;

/// ECR repository policy text: 10,240 characters (`RepositoryPolicyText`, `SetRepositoryPolicy`).
/// <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_SetRepositoryPolicy.html>
pub const ECR_REPOSITORY_POLICY: usize = 10_240;
/// IAM: all inline policies of one role together, 10,240 characters, white space not counted
/// ("Role policy size").
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length>
pub const IAM_INLINE_POLICIES_PER_ROLE: usize = 10_240;
/// IAM: a role's trust policy, 2,048 characters by default (a quota AWS raises to 4,096 on
/// request), white space not counted ("Role trust policy length").
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length>
pub const IAM_TRUST_POLICY: usize = 2_048;
/// KMS key policy document: 32 KB (32,768 bytes).
/// <https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html#key-policy-limit>
pub const KMS_KEY_POLICY: usize = 32_768;
/// CloudFormation template body passed inline: 51,200 bytes (`TemplateBody`).
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>
pub const CLOUDFORMATION_TEMPLATE_BODY: usize = 51_200;

/// One message per document of `resources` over its AWS limit, naming the resource, the
/// document, its size and the limit.
pub(super) fn check(resources: &[DesiredResource]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut over = |r: &DesiredResource, what: &str, size: usize, limit: usize, hint: &str| {
        if size > limit {
            errors.push(format!(
                "{}: {what} is {size} characters, over AWS's limit of {limit}; {hint}",
                r.address
            ));
        }
    };
    let known = |r: &DesiredResource, name: &str| -> Option<Value> {
        r.attrs.get(name).and_then(|v| v.known()).cloned()
    };
    for r in resources {
        match r.kind {
            ResourceKind::IamRole => {
                if let Some(doc) = known(r, "assume_role_policy") {
                    over(
                        r,
                        "the trust policy",
                        policy::minified_len(&doc),
                        IAM_TRUST_POLICY,
                        "trust fewer principals, or grant by a pattern and a condition",
                    );
                }
                if let Some(Value::Object(inline)) = known(r, "inline_policies") {
                    let size = inline.iter().map(|(_, d)| policy::minified_len(d)).sum();
                    over(
                        r,
                        "the role's inline policies together",
                        size,
                        IAM_INLINE_POLICIES_PER_ROLE,
                        "move permissions into a managed policy",
                    );
                }
            }
            ResourceKind::EcrRepository => {
                if let Some(doc) = known(r, "policy").filter(|d| !d.is_null()) {
                    over(
                        r,
                        "the repository policy",
                        policy::minified_len(&doc),
                        ECR_REPOSITORY_POLICY,
                        "grant fewer role names",
                    );
                }
            }
            ResourceKind::KmsKey => {
                if let Some(doc) = known(r, "key_policy") {
                    over(
                        r,
                        "the key policy",
                        policy::minified_len(&doc),
                        KMS_KEY_POLICY,
                        "grant fewer principals",
                    );
                }
            }
            ResourceKind::StackSet => {
                if let Some(doc) = known(r, "template_body") {
                    over(
                        r,
                        "the template",
                        policy::minified_len(&doc),
                        CLOUDFORMATION_TEMPLATE_BODY,
                        "attach fewer managed policies to the spoke admin role",
                    );
                }
            }
            ResourceKind::OrgPolicyType
            | ResourceKind::StackSetTrustedAccess
            | ResourceKind::OrgPolicy
            | ResourceKind::OrgPolicyAttachment
            | ResourceKind::StackSetInstances
            | ResourceKind::EksCluster
            | ResourceKind::EksAccessEntry
            | ResourceKind::EksPodIdentityAssociation => {}
        }
    }
    errors
}
