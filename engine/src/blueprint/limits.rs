//! AWS's size limits on the documents eksmgr writes, checked on the whole blueprint at plan
//! time, so a document AWS would refuse stops the plan instead of failing half-way through an
//! apply. Sizes are measured on the minified JSON eksmgr sends (IAM does not count white
//! space; the other services count the text as sent, which eksmgr sends minified). The SCP,
//! whose limit is a setting, is checked where it is built ([`super::governance`]). Each kind's
//! module names its documents and their limits ([`crate::kinds::Kind::documents`]).

use crate::kinds;
use crate::model::{DesiredResource, Value};
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
    // Measured in parts of the estate at once, the messages put together in order.
    super::in_parts(resources, check_part).concat()
}

fn check_part(resources: &[DesiredResource]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut over = |r: &DesiredResource, what: &str, size: usize, limit: usize, hint: &str| {
        if size > limit {
            errors.push(format!(
                "{}: {what} is {size} characters, over AWS's limit of {limit}; {hint}",
                r.address
            ));
        }
    };
    for r in resources {
        for doc in kinds::of(r.kind).documents() {
            let Some(value) = r.attrs.get(doc.attribute).and_then(|v| v.known()) else {
                continue;
            };
            let size = match value {
                Value::Null => continue,
                Value::Object(map) if doc.together => {
                    map.iter().map(|(_, d)| policy::minified_len(d)).sum()
                }
                v => policy::minified_len(v),
            };
            over(r, doc.what, size, doc.limit, doc.hint);
        }
    }
    errors
}
