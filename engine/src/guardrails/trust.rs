//! The trust guardrail: no role eksmgr creates may be assumable by everyone, or by every
//! principal of another account, unless a condition narrows who may, or the configuration
//! says so explicitly (`allow_account_root_trust = true` on `[hub]` or on the
//! `[[cross_account_roles]]` entry).
//!
//! Checked: the trust policy (`assume_role_policy`) of every `iam_role` the blueprint plans
//! (the hub agent role, the cluster, node and pod identity roles, the cross-account roles and
//! their hub web identity roles), and the `AssumeRolePolicyDocument` of every `AWS::IAM::Role`
//! in the StackSet template (the spoke admin role).
//!
//! A statement is broad when it allows (`Effect: Allow`) a principal that is `*` (in any
//! principal type, or an account `*` in an ARN), an account id, an account root ARN
//! (`arn:aws:iam::123456789012:root`), or when it uses `NotPrincipal`. A broad statement is
//! fine when a condition narrows it: a positive string or ARN operator (`StringEquals`,
//! `StringLike`, `ArnEquals`, `ArnLike`, their `IgnoreCase` / `ForAnyValue:` forms, not
//! `IfExists`, which passes when the key is absent) on a key that identifies the caller
//! ([`NARROWING_KEYS`], `aws:PrincipalTag/*`) with no value `*`.
//!
//! Trusting the role's own account root is not reported: it lets no one outside the account
//! in, and leaves the decision to the account's own IAM policies (IAM Access Analyzer does not
//! report it as external access either). That is the hub agent role's default trust.

use crate::model::Value;

use super::Findings;
use super::eval::StatementRef;
use crate::blueprint::Discovery;
use crate::config::Config;
use crate::model::{DesiredResource, ResourceKind};
use crate::policy;

/// Condition keys that identify who is calling (lower case).
pub const NARROWING_KEYS: &[&str] = &[
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:userid",
    "aws:username",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourceidentity",
    "sts:externalid",
    "sts:sourceidentity",
];

/// Whom a broad statement trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustScope {
    /// Everyone (`*`, `NotPrincipal`).
    Everyone,
    /// Every principal of this account.
    Account(String),
}

/// A statement of a trust policy that trusts more than named principals, with no condition
/// narrowing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadTrust {
    /// The statement.
    pub statement: StatementRef,
    /// The principal as written (`*`, `123456789012`, `arn:aws:iam::123456789012:root`).
    pub principal: String,
    /// Whom it trusts.
    pub scope: TrustScope,
}

/// The broad statements of a trust policy (an object or a possibly URL-encoded JSON string)
/// of a role in `own_account` (`None` when the role's account is not fixed, as in a StackSet
/// template: every account root is then reported).
pub fn broad_trust(doc: &Value, own_account: Option<&str>) -> Vec<BroadTrust> {
    let Ok(doc) = policy::parse(doc) else {
        return Vec::new();
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.to_vec(),
        Some(single) => vec![single.clone()],
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    for (index, st) in statements.iter().enumerate() {
        if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if st.get("Condition").is_some_and(narrows) {
            continue;
        }
        let statement = StatementRef {
            index,
            sid: st.get("Sid").and_then(Value::as_str).map(str::to_string),
        };
        if st.get("NotPrincipal").is_some() {
            out.push(BroadTrust {
                statement: statement.clone(),
                principal: "NotPrincipal".into(),
                scope: TrustScope::Everyone,
            });
        }
        for (kind, principal) in principals(st.get("Principal")) {
            let scope = if principal == "*" {
                Some(TrustScope::Everyone)
            } else if kind == "AWS" {
                account_scope(&principal)
            } else {
                None
            };
            match scope {
                Some(TrustScope::Account(a)) if Some(a.as_str()) == own_account => {}
                Some(scope) => out.push(BroadTrust {
                    statement: statement.clone(),
                    principal,
                    scope,
                }),
                None => {}
            }
        }
    }
    out
}

/// (principal type, value) pairs of a `Principal` element.
fn principals(p: Option<&Value>) -> Vec<(String, String)> {
    match p {
        Some(Value::String(s)) => vec![("AWS".into(), s.to_string())],
        Some(Value::Object(m)) => m
            .iter()
            .flat_map(|(kind, v)| {
                let values = match v {
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    Value::String(s) => vec![s.as_str()],
                    _ => Vec::new(),
                };
                values
                    .into_iter()
                    .map(|s| (kind.to_string(), s.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The scope of an `AWS` principal that is a whole account (or everyone).
fn account_scope(principal: &str) -> Option<TrustScope> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(TrustScope::Account(principal.to_string()));
    }
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let [_, _, service, _, account, resource] = parts.as_slice() else {
        return None;
    };
    if *service != "iam" && *service != "sts" {
        return None;
    }
    if account.contains(['*', '?']) {
        Some(TrustScope::Everyone)
    } else if *resource == "root" {
        Some(TrustScope::Account((*account).to_string()))
    } else {
        None
    }
}

/// Whether a `Condition` block narrows who may assume the role.
fn narrows(c: &Value) -> bool {
    let Value::Object(ops) = c else {
        return false;
    };
    ops.iter().any(|(op, keys)| {
        let base = op.strip_prefix("ForAnyValue:").unwrap_or(op);
        let positive = matches!(
            base,
            "StringEquals" | "StringEqualsIgnoreCase" | "StringLike" | "ArnEquals" | "ArnLike"
        );
        let Value::Object(keys) = keys else {
            return false;
        };
        positive
            && keys.iter().any(|(key, values)| {
                let key = key.to_ascii_lowercase();
                let identifying =
                    NARROWING_KEYS.contains(&key.as_str()) || key.starts_with("aws:principaltag/");
                let values: Vec<&str> = match values {
                    Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                    Value::String(s) => vec![s.as_str()],
                    _ => Vec::new(),
                };
                identifying && !values.is_empty() && !values.contains(&"*")
            })
    })
}

/// Where the configuration decides a role's trust, and whether it opted into account trust.
struct Source {
    /// How the configuration entry is named in messages.
    entry: String,
    /// Whether `allow_account_root_trust = true` is set there.
    allowed: bool,
    /// The remedy specific to the entry.
    hint: &'static str,
}

fn source(config: &Config, role: &DesiredResource) -> Option<Source> {
    if role.address.account == config.hub.account_id.as_str()
        && role.address.name == config.hub.agent_role_name
    {
        return Some(Source {
            entry: "[hub]".into(),
            allowed: config.hub.allow_account_root_trust,
            hint: "list the roles that run eksmgr in `agent_trusted_principals` instead of an account",
        });
    }
    config
        .cross_account_roles
        .iter()
        .find(|r| r.name == role.address.name)
        .map(|r| Source {
            entry: format!("[[cross_account_roles]] `{}`", r.name),
            allowed: r.allow_account_root_trust,
            hint: "name the role or user that needs it in `trusted_principal_arn`, or require `external_id` (sts:ExternalId) or `source_identity` (sts:SourceIdentity)",
        })
}

/// Checks the trust policies of the planned roles and of the StackSet template's roles (in
/// parts of a large estate at once, the findings put together in order).
pub(crate) fn check(
    config: &Config,
    _d: &Discovery,
    resources: &[DesiredResource],
    findings: &mut Findings,
) {
    let parts = crate::blueprint::in_parts(resources, |part| {
        let mut found = Findings::default();
        check_part(config, part, &mut found);
        found
    });
    for part in parts {
        findings.errors.extend(part.errors);
        findings.warnings.extend(part.warnings);
    }
}

fn check_part(config: &Config, resources: &[DesiredResource], findings: &mut Findings) {
    for r in resources {
        match r.kind {
            ResourceKind::IamRole => {
                let Some(doc) = r.attrs.get("assume_role_policy").and_then(|v| v.known()) else {
                    continue;
                };
                let source = source(config, r);
                for b in broad_trust(doc, Some(&r.address.account)) {
                    report(&r.address.to_string(), &b, source.as_ref(), findings);
                }
            }
            ResourceKind::StackSet => {
                let Some(template) = r.attrs.get("template_body").and_then(|v| v.known()) else {
                    continue;
                };
                let template = policy::normalize_document(template);
                let Some(Value::Object(roles)) = template.get("Resources") else {
                    continue;
                };
                for (logical_id, role) in roles {
                    if role.get("Type").and_then(Value::as_str) != Some("AWS::IAM::Role") {
                        continue;
                    }
                    let Some(doc) = role.pointer("/Properties/AssumeRolePolicyDocument") else {
                        continue;
                    };
                    for b in broad_trust(doc, None) {
                        report(
                            &format!("{} (template role {logical_id})", r.address),
                            &b,
                            None,
                            findings,
                        );
                    }
                }
            }
            // No trust policy of their own.
            ResourceKind::OrgPolicyType
            | ResourceKind::StackSetTrustedAccess
            | ResourceKind::OrgPolicy
            | ResourceKind::OrgPolicyAttachment
            | ResourceKind::StackSetInstances
            | ResourceKind::KmsKey
            | ResourceKind::EksCluster
            | ResourceKind::EcrRepository
            | ResourceKind::EksAccessEntry
            | ResourceKind::EksPodIdentityAssociation
            | ResourceKind::EksAddon
            | ResourceKind::EksNodeGroup
            | ResourceKind::IamInstanceProfile
            | ResourceKind::Ec2Instance => {}
        }
    }
}

fn report(role: &str, b: &BroadTrust, source: Option<&Source>, findings: &mut Findings) {
    let statement = &b.statement;
    match &b.scope {
        TrustScope::Everyone => findings.errors.push(format!(
            "{role}: statement {statement} of its trust policy lets anyone assume it ({principal}) with no condition on who may; eksmgr never creates such a role: name the trusted principals, or add a condition on aws:PrincipalArn, aws:PrincipalOrgID or sts:ExternalId",
            principal = b.principal,
        )),
        TrustScope::Account(account) => {
            if source.is_some_and(|s| s.allowed) {
                return;
            }
            let remedy = match source {
                Some(s) => format!(
                    "{hint} in {entry}, or, if every principal of account {account} is meant to assume it, set `allow_account_root_trust = true` there",
                    hint = s.hint,
                    entry = s.entry,
                ),
                None => "add a condition on aws:PrincipalArn or sts:ExternalId to the trust policy".to_string(),
            };
            findings.errors.push(format!(
                "{role}: statement {statement} of its trust policy lets every principal of account {account} assume it ({principal}) with no condition on who may: {remedy}",
                principal = b.principal,
            ));
        }
    }
}
