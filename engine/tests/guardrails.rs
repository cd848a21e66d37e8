//! Security guardrail tests: the policy evaluator on its own, the SCP check (the seed SCP and
//! the example pass; extra statements that lock eksmgr out, or that cannot be proven not to,
//! are refused with the statement, call, principal and resource named), and the trust check
//! (whole-account trust needs a condition or an explicit opt-in).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eksmgr_engine::blueprint::{self, Blueprint, BlueprintError, Discovery};
use eksmgr_engine::config::{self, Config};
use eksmgr_engine::guardrails::eval::{Decision, Request, RequestValue, evaluate};
use eksmgr_engine::guardrails::scp::{Caller, Need, requirements};
use eksmgr_engine::guardrails::trust::{TrustScope, broad_trust};
use eksmgr_state::json;

const BASE: &str = r#"
[organization]
management_account_id = "111111111111"
eks_ou_id = "ou-abcd-11111111"

[hub]
account_id = "222222222222"

[[hub.ecr_repositories]]
name = "platform/api"

[[clusters]]
name = "workloads"
account = "*"
version = "1.31"
subnet_ids = ["subnet-0f0f0f01", "subnet-0f0f0f02"]
build_pods = { namespace = "ci", service_account = "builder" }
"#;

const SPOKES: &[&str] = &["333333333333", "444444444444"];

fn discovery() -> Discovery {
    Discovery::of_spokes(
        "111111111111",
        "o-a1b2c3d4e5/r-ab12/ou-abcd-11111111/",
        SPOKES.iter().copied(),
    )
}

fn parse(text: &str) -> Config {
    config::parse(text, "eksmgr.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn expand(text: &str) -> Result<Blueprint, BlueprintError> {
    blueprint::expand(&parse(text), &discovery())
}

/// The guardrail errors of a configuration that must be refused.
fn refused(text: &str) -> Vec<String> {
    match expand(text) {
        Err(BlueprintError::Guardrails(errors)) => errors,
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(b) => panic!("not refused; warnings: {:#?}", b.warnings),
    }
}

fn accepted(text: &str) -> Blueprint {
    expand(text).unwrap_or_else(|e| panic!("{e}"))
}

fn with_extra(statement: &str) -> String {
    with_extra_to(BASE, statement)
}

fn with_extra_to(config: &str, statement: &str) -> String {
    format!("{config}\n[[governance.scp.extra_statements]]\n{statement}\n")
}

// ---------------------------------------------------------------------------------------
// The evaluator.

fn req(principal: &str, action: &'static str, resource: &str) -> Request {
    Request::new(
        RequestValue::exact(principal),
        action,
        RequestValue::exact(resource),
    )
    .in_region("us-east-1")
}

const ADMIN: &str = "arn:aws:iam::333333333333:role/EKSManagerAdmin";
const ROLE: &str = "arn:aws:iam::333333333333:role/workloads-node";

#[test]
fn actions_match_with_wildcards_and_ignore_case() {
    let doc = json!({"Statement": {"Sid": "D", "Effect": "Deny", "Action": "IAM:Create*", "Resource": "*"}});
    assert!(matches!(
        evaluate(&doc, &req(ADMIN, "iam:CreateRole", ROLE)).unwrap(),
        Decision::Denied { statement } if statement.sid.as_deref() == Some("D")
    ));
    assert_eq!(
        evaluate(&doc, &req(ADMIN, "iam:DeleteRole", ROLE)).unwrap(),
        Decision::NotDenied
    );
    let not = json!({"Statement": [{"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*"}]});
    assert_eq!(
        evaluate(&not, &req(ADMIN, "iam:CreateRole", ROLE)).unwrap(),
        Decision::NotDenied
    );
    assert!(matches!(
        evaluate(&not, &req(ADMIN, "eks:CreateCluster", "*")).unwrap(),
        Decision::Denied { statement } if statement.index == 0 && statement.sid.is_none()
    ));
}

#[test]
fn allow_statements_never_deny() {
    let doc = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    assert_eq!(
        evaluate(&doc, &req(ADMIN, "iam:CreateRole", ROLE)).unwrap(),
        Decision::NotDenied
    );
}

#[test]
fn resources_and_not_resources() {
    let doc = json!({"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "arn:aws:iam::*:role/EKSManagerAdmin"}]});
    assert!(matches!(
        evaluate(&doc, &req(ADMIN, "iam:DeleteRole", ADMIN)).unwrap(),
        Decision::Denied { .. }
    ));
    assert_eq!(
        evaluate(&doc, &req(ADMIN, "iam:DeleteRole", ROLE)).unwrap(),
        Decision::NotDenied
    );
    let not = json!({"Statement": [{"Effect": "Deny", "Action": "iam:*", "NotResource": "arn:aws:iam::*:role/workloads-*"}]});
    assert_eq!(
        evaluate(&not, &req(ADMIN, "iam:DeleteRole", ROLE)).unwrap(),
        Decision::NotDenied
    );
    assert!(matches!(
        evaluate(&not, &req(ADMIN, "iam:DeleteRole", ADMIN)).unwrap(),
        Decision::Denied { .. }
    ));
    // Resource ARNs compare case-sensitively.
    let case = json!({"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "arn:aws:iam::*:role/eksmanageradmin"}]});
    assert_eq!(
        evaluate(&case, &req(ADMIN, "iam:DeleteRole", ADMIN)).unwrap(),
        Decision::NotDenied
    );
}

#[test]
fn string_and_arn_conditions() {
    let cases = [
        (
            "StringEquals",
            "aws:PrincipalAccount",
            json!("333333333333"),
            true,
        ),
        (
            "StringEquals",
            "aws:PrincipalAccount",
            json!(["1", "2"]),
            false,
        ),
        (
            "StringNotEquals",
            "aws:PrincipalAccount",
            json!(["333333333333", "x"]),
            false,
        ),
        (
            "StringNotEquals",
            "aws:RequestedRegion",
            json!("eu-west-1"),
            true,
        ),
        (
            "StringEqualsIgnoreCase",
            "aws:RequestedRegion",
            json!("US-EAST-1"),
            true,
        ),
        ("StringLike", "aws:PrincipalArn", json!("*:role/EKS*"), true),
        (
            "StringNotLike",
            "aws:PrincipalArn",
            json!("*:role/EKS*"),
            false,
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::*:role/EKSManager*"),
            true,
        ),
        ("ArnEquals", "aws:PrincipalArn", json!(ADMIN), true),
        ("ArnNotEquals", "aws:PrincipalArn", json!(ADMIN), false),
        (
            "ArnNotLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::*:role/stacksets-exec-*"),
            true,
        ),
        (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::444444444444:role/*"),
            false,
        ),
        (
            "StringNotEqualsIfExists",
            "aws:RequestedRegion",
            json!("us-east-1"),
            false,
        ),
        (
            "ArnNotLikeIfExists",
            "aws:PrincipalArn",
            json!(ADMIN),
            false,
        ),
        (
            "ForAnyValue:StringEquals",
            "aws:RequestedRegion",
            json!("us-east-1"),
            true,
        ),
        ("Null", "aws:PrincipalArn", json!("true"), false),
        ("Null", "aws:PrincipalArn", json!("false"), true),
    ];
    for (op, key, values, denied) in cases {
        let doc = json!({"Statement": [{"Sid": "C", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {op: {key: values}}}]});
        let d = evaluate(&doc, &req(ADMIN, "kms:CreateKey", "*")).unwrap();
        assert_eq!(
            matches!(d, Decision::Denied { .. }),
            denied,
            "{op} {key} {values}: {d:?}"
        );
        assert!(!matches!(d, Decision::Unknown { .. }), "{op}: {d:?}");
    }
}

#[test]
fn what_cannot_be_evaluated_is_unknown_with_the_statement() {
    for condition in [
        // Not a whole ARN: how IAM reads it is not assumed.
        json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*"}}),
        json!({"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}),
        json!({"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        json!({"NumericLessThan": {"aws:PrincipalAccount": "5"}}),
        json!({"StringNotEquals": {"aws:PrincipalAccount": "${aws:ResourceAccount}"}}),
    ] {
        let doc = json!({"Statement": [
            {"Sid": "Fine", "Effect": "Deny", "Action": "billing:*", "Resource": "*"},
            {"Sid": "Opaque", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition}
        ]});
        match evaluate(&doc, &req(ADMIN, "iam:CreateRole", ROLE)).unwrap() {
            Decision::Unknown { statements } => {
                assert_eq!(statements.len(), 1, "{statements:?}");
                assert_eq!(statements[0].statement.sid.as_deref(), Some("Opaque"));
                assert!(!statements[0].reason.is_empty());
            }
            d => panic!("{condition}: {d:?}"),
        }
    }
    // A key the caller knows is evaluated.
    let doc = json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}}]});
    let known = req(ADMIN, "iam:CreateRole", ROLE)
        .with_key("aws:PrincipalOrgID", RequestValue::exact("o-abc"));
    assert_eq!(evaluate(&doc, &known).unwrap(), Decision::NotDenied);
    // Neither can a statement whose action does not match deny, whatever its condition.
    let other = json!({"Statement": [{"Effect": "Deny", "Action": "ce:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]});
    assert_eq!(
        evaluate(&other, &req(ADMIN, "iam:CreateRole", ROLE)).unwrap(),
        Decision::NotDenied
    );
}

#[test]
fn principals_known_as_patterns() {
    let exec = Request::new(
        RequestValue::pattern("arn:aws:iam::333333333333:role/stacksets-exec-*"),
        "iam:UpdateAssumeRolePolicy",
        RequestValue::exact(ADMIN),
    );
    let doc = |except: &str| {
        json!({"Statement": [{"Sid": "Protect", "Effect": "Deny", "Action": "iam:*", "Resource": ADMIN,
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": except}}}]})
    };
    assert_eq!(
        evaluate(&doc("arn:aws:iam::*:role/stacksets-exec-*"), &exec).unwrap(),
        Decision::NotDenied
    );
    assert!(matches!(
        evaluate(&doc("arn:aws:iam::*:role/SomeoneElse"), &exec).unwrap(),
        Decision::Denied { .. }
    ));
    // Some stacksets-exec roles are excepted, maybe not this account's.
    assert!(matches!(
        evaluate(&doc("arn:aws:iam::*:role/stacksets-exec-0a*"), &exec).unwrap(),
        Decision::Unknown { .. }
    ));
}

#[test]
fn bad_documents_are_errors_not_panics() {
    assert!(evaluate(&json!("{not json"), &req(ADMIN, "iam:GetRole", ROLE)).is_err());
    assert!(
        evaluate(
            &json!({"Version": "2012-10-17"}),
            &req(ADMIN, "iam:GetRole", ROLE)
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------
// The SCP check.

#[test]
fn the_seed_scp_passes() {
    let b = accepted(BASE);
    assert!(
        b.warnings.iter().all(|w| !w.contains("SCP")),
        "{:#?}",
        b.warnings
    );
}

#[test]
fn the_example_configuration_passes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/eksmgr.toml");
    let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let b = blueprint::expand(&cfg, &discovery()).unwrap_or_else(|e| panic!("{e}"));
    assert!(b.problems.is_empty(), "{:#?}", b.problems);
    assert!(
        b.warnings
            .iter()
            .all(|w| !w.contains("SCP") && !w.contains("trust")),
        "{:#?}",
        b.warnings
    );
}

#[test]
fn the_required_calls_cover_each_caller() {
    let cfg = parse(BASE);
    let reqs = requirements(&cfg, &discovery(), &accepted(BASE).resources);
    let has = |caller: Caller, need: Need, action: &str, resource: &str| {
        reqs.iter().any(|r| {
            r.caller == caller
                && r.need == need
                && &*r.account == "333333333333"
                && r.request.action == action
                && r.request.resource.as_str() == resource
        })
    };
    assert!(has(
        Caller::StackSetExecution,
        Need::Required,
        "iam:CreateRole",
        ADMIN
    ));
    assert!(has(
        Caller::StackSetExecution,
        Need::Required,
        "iam:UpdateAssumeRolePolicy",
        ADMIN
    ));
    assert!(has(
        Caller::StackSetExecution,
        Need::Deletion,
        "iam:DeleteRole",
        ADMIN
    ));
    assert!(has(
        Caller::HubAgent,
        Need::Required,
        "sts:AssumeRole",
        ADMIN
    ));
    assert!(has(
        Caller::SpokeAdmin,
        Need::Required,
        "iam:CreateRole",
        ROLE
    ));
    assert!(has(
        Caller::SpokeAdmin,
        Need::Required,
        "iam:PassRole",
        "arn:aws:iam::333333333333:role/workloads-cluster"
    ));
    assert!(has(
        Caller::SpokeAdmin,
        Need::Required,
        "eks:CreateCluster",
        "arn:aws:eks:us-east-1:333333333333:cluster/workloads"
    ));
    assert!(has(
        Caller::SpokeAdmin,
        Need::Required,
        "kms:CreateKey",
        "*"
    ));
    // The SCP denies key deletion to everyone by default: eksmgr leaves keys in AWS and never
    // needs kms:ScheduleKeyDeletion.
    assert!(!has(
        Caller::SpokeAdmin,
        Need::Deletion,
        "kms:ScheduleKeyDeletion",
        "arn:aws:kms:us-east-1:333333333333:key/*"
    ));
    assert!(has(
        Caller::SpokeAdmin,
        Need::Required,
        "kms:CreateAlias",
        "arn:aws:kms:us-east-1:333333333333:alias/eksmgr/workloads"
    ));
    assert!(has(
        Caller::SpokeAdmin,
        Need::Required,
        "eks:CreatePodIdentityAssociation",
        "arn:aws:eks:us-east-1:333333333333:cluster/workloads"
    ));
    let exec = reqs
        .iter()
        .find(|r| r.caller == Caller::StackSetExecution)
        .unwrap();
    assert_eq!(
        exec.request.principal,
        RequestValue::pattern("arn:aws:iam::333333333333:role/stacksets-exec-*")
    );
}

#[test]
fn denying_all_of_iam_is_refused_naming_statement_call_principal_and_resource() {
    let errors = refused(&with_extra(
        "Sid = \"DenyAllIam\"\nEffect = \"Deny\"\nAction = \"iam:*\"\nResource = \"*\"",
    ));
    let exec = errors
        .iter()
        .find(|e| e.contains("StackSet execution role"))
        .unwrap_or_else(|| panic!("{errors:#?}"));
    for part in [
        "`DenyAllIam`",
        "iam:CreateRole",
        "arn:aws:iam::333333333333:role/stacksets-exec-*",
        "on arn:aws:iam::333333333333:role/EKSManagerAdmin",
        "accounts 333333333333, 444444444444",
        "ArnNotLike",
        "arn:aws:iam::*:role/stacksets-exec-*",
    ] {
        assert!(exec.contains(part), "{part:?} missing from {exec}");
    }
    let admin = errors
        .iter()
        .find(|e| e.contains("to the spoke admin role"))
        .unwrap_or_else(|| panic!("{errors:#?}"));
    assert!(admin.contains("iam:CreateServiceLinkedRole"), "{admin}");
    assert!(admin.contains(" more to the spoke admin role"), "{admin}");
    assert!(
        admin.contains("arn:aws:iam::*:role/EKSManagerAdmin"),
        "{admin}"
    );
    let all = BlueprintError::Guardrails(errors).to_string();
    assert!(all.contains("nothing was planned"), "{all}");
}

#[test]
fn denying_assume_role_is_refused() {
    let errors = refused(&with_extra(
        "Sid = \"NoAssumeRole\"\nEffect = \"Deny\"\nAction = [\"sts:AssumeRole\"]\nResource = \"*\"",
    ));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    for part in [
        "`NoAssumeRole`",
        "sts:AssumeRole to the hub agent role",
        "arn:aws:iam::222222222222:role/EKSManagerAgentRole calling sts:AssumeRole on arn:aws:iam::333333333333:role/EKSManagerAdmin",
        "\"aws:PrincipalArn\": [\"arn:aws:iam::222222222222:role/EKSManagerAgentRole\"]",
    ] {
        assert!(
            errors[0].contains(part),
            "{part:?} missing from {}",
            errors[0]
        );
    }
}

#[test]
fn statements_with_exceptions_for_eksmgr_pass() {
    let b = accepted(&with_extra(
        r#"Sid = "DenyIamButEksmgr"
Effect = "Deny"
Action = ["iam:*", "sts:AssumeRole"]
Resource = "*"
Condition = { ArnNotLike = { "aws:PrincipalArn" = ["arn:aws:iam::*:role/stacksets-exec-*", "arn:aws:iam::*:role/EKSManagerAdmin", "arn:aws:iam::222222222222:role/EKSManagerAgentRole"] } }"#,
    ));
    assert!(
        b.warnings.iter().all(|w| !w.contains("SCP")),
        "{:#?}",
        b.warnings
    );
}

#[test]
fn a_region_lock_is_checked_against_the_cluster_regions() {
    let lock = r#"Sid = "OnlyUsEast1"
Effect = "Deny"
NotAction = ["iam:*", "sts:*", "organizations:*"]
Resource = "*"
Condition = { StringNotEquals = { "aws:RequestedRegion" = ["us-east-1"] } }"#;
    accepted(&with_extra(lock));
    let elsewhere = with_extra(lock).replace(
        "version = \"1.31\"",
        "version = \"1.31\"\nregion = \"eu-central-1\"",
    );
    let errors = refused(&elsewhere);
    assert!(
        errors.iter().any(|e| e.contains("`OnlyUsEast1`")
            && e.contains("eks:CreateCluster")
            && e.contains("arn:aws:eks:eu-central-1:333333333333:cluster/workloads")),
        "{errors:#?}"
    );
}

const OPAQUE: &str = r#"Sid = "DenyOutsideVpc"
Effect = "Deny"
Action = "*"
Resource = "*"
Condition = { StringNotEquals = { "aws:SourceVpc" = "vpc-0123" } }"#;

#[test]
fn a_condition_the_check_cannot_evaluate_is_refused_until_acknowledged() {
    let errors = refused(&with_extra(OPAQUE));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    for part in [
        "cannot prove",
        "`DenyOutsideVpc`",
        "aws:SourceVpc",
        "acknowledged_unverifiable_sids",
    ] {
        assert!(
            errors[0].contains(part),
            "{part:?} missing from {}",
            errors[0]
        );
    }
    let acknowledged = BASE.replace(
        "[hub]",
        "[governance.scp]\nacknowledged_unverifiable_sids = [\"DenyOutsideVpc\"]\n\n[hub]",
    );
    let b = accepted(&format!(
        "{acknowledged}\n[[governance.scp.extra_statements]]\n{OPAQUE}\n"
    ));
    assert!(
        b.warnings
            .iter()
            .any(|w| w.contains("`DenyOutsideVpc`") && w.contains("accepted")),
        "{:#?}",
        b.warnings
    );
}

#[test]
fn a_statement_without_sid_is_named_by_its_place() {
    let errors = refused(&with_extra(
        "Effect = \"Deny\"\nAction = \"eks:*\"\nResource = \"*\"",
    ));
    assert!(
        errors
            .iter()
            .any(|e| e.contains("[[governance.scp.extra_statements]] #1 (no Sid)")),
        "{errors:#?}"
    );
}

#[test]
fn blocked_deletions_only_warn() {
    let b = accepted(&with_extra(
        "Sid = \"KeepKeys\"\nEffect = \"Deny\"\nAction = [\"kms:ScheduleKeyDeletion\", \"eks:DeleteCluster\"]\nResource = \"*\"",
    ));
    assert!(
        b.warnings.iter().any(|w| w.contains("`KeepKeys`")
            && w.contains("eks:DeleteCluster")
            && w.contains("could not delete")),
        "{:#?}",
        b.warnings
    );
}

#[test]
fn the_key_deletion_exemption_follows_the_spoke_admin_role() {
    let text = BASE.replace(
        "[hub]",
        "[spokes]\nadmin_role_name = \"PlatformAdmin\"\n\n[governance.scp]\nexempt_admin_from_key_deletion_deny = true\n\n[hub]",
    );
    let b = accepted(&text);
    assert!(
        !b.warnings
            .iter()
            .any(|w| w.contains("`DenyKMSKeyDeletion`")),
        "{:#?}",
        b.warnings
    );
    // An extra statement denying the deletion again is found.
    let b = accepted(&with_extra_to(
        &text,
        "Sid = \"KeepKeys\"\nEffect = \"Deny\"\nAction = \"kms:ScheduleKeyDeletion\"\nResource = \"*\"",
    ));
    assert!(
        b.warnings
            .iter()
            .any(|w| w.contains("`KeepKeys`") && w.contains("arn:aws:iam::*:role/PlatformAdmin")),
        "{:#?}",
        b.warnings
    );
}

#[test]
fn a_disabled_scp_is_not_checked() {
    let text =
        with_extra("Sid = \"DenyAllIam\"\nEffect = \"Deny\"\nAction = \"iam:*\"\nResource = \"*\"")
            .replace("[hub]", "[governance.scp]\nenabled = false\n\n[hub]");
    // `[governance.scp]` comes before its extra statements' array in the text.
    accepted(&text);
}

// ---------------------------------------------------------------------------------------
// The trust check.

const CROSS: &str = r#"
[[cross_account_roles]]
name = "eks-deployer"
cluster = "workloads"
trusted_principal_arn = "arn:aws:iam::999999999999:root"
"#;

#[test]
fn trusting_another_whole_account_needs_a_condition_or_an_opt_in() {
    let errors = refused(&format!("{BASE}{CROSS}"));
    assert_eq!(errors.len(), 2, "one per cluster account: {errors:#?}");
    for part in [
        "iam_role.eks-deployer[333333333333]",
        "account 999999999999",
        "arn:aws:iam::999999999999:root",
        "external_id",
        "allow_account_root_trust = true",
        "[[cross_account_roles]] `eks-deployer`",
    ] {
        assert!(
            errors[0].contains(part),
            "{part:?} missing from {}",
            errors[0]
        );
    }
    accepted(&format!("{BASE}{CROSS}external_id = \"a-shared-secret\"\n"));
    accepted(&format!("{BASE}{CROSS}source_identity = \"deployer\"\n"));
    accepted(&format!("{BASE}{CROSS}allow_account_root_trust = true\n"));
}

#[test]
fn trusting_a_role_or_the_own_account_is_fine() {
    accepted(&format!(
        "{BASE}{}",
        CROSS.replace(":root", ":role/deployer")
    ));
    // `*` as the account resolves to each cluster's own account.
    accepted(&format!("{BASE}{}", CROSS.replace("999999999999", "*")));
}

#[test]
fn the_hub_agent_role_may_trust_its_own_account_but_not_another_without_opt_in() {
    // The default: the hub's own root.
    accepted(BASE);
    let other = BASE.replace(
        "account_id = \"222222222222\"",
        "account_id = \"222222222222\"\nagent_trusted_principals = [\"arn:aws:iam::999999999999:root\"]",
    );
    let errors = refused(&other);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    for part in [
        "iam_role.EKSManagerAgentRole[222222222222]",
        "account 999999999999",
        "agent_trusted_principals",
        "[hub]",
    ] {
        assert!(
            errors[0].contains(part),
            "{part:?} missing from {}",
            errors[0]
        );
    }
    accepted(&other.replace(
        "agent_trusted_principals",
        "allow_account_root_trust = true\nagent_trusted_principals",
    ));
}

#[test]
fn broad_principals_are_found_in_every_form() {
    let doc = json!({"Statement": [
        {"Sid": "Star", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": ["123456789012", "arn:aws:iam::210987654321:root", "arn:aws:iam::111122223333:role/x"]}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::*:root"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/x"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::555555555555:root"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}
    ]});
    let found: Vec<(Option<String>, String, TrustScope)> = broad_trust(&doc, Some("555555555555"))
        .into_iter()
        .map(|b| (b.statement.sid, b.principal, b.scope))
        .collect();
    assert_eq!(
        found,
        vec![
            (Some("Star".into()), "*".into(), TrustScope::Everyone),
            (
                None,
                "123456789012".into(),
                TrustScope::Account("123456789012".into())
            ),
            (
                None,
                "arn:aws:iam::210987654321:root".into(),
                TrustScope::Account("210987654321".into())
            ),
            (None, "arn:aws:iam::*:root".into(), TrustScope::Everyone),
            (None, "NotPrincipal".into(), TrustScope::Everyone),
        ]
    );
}

#[test]
fn only_conditions_on_who_is_calling_narrow_a_broad_trust() {
    let with = |condition: eksmgr_state::value::Value| json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole", "Condition": condition}]});
    for narrowing in [
        json!({"StringEquals": {"sts:ExternalId": "secret"}}),
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/ci-*"}}),
        json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}),
        json!({"StringEquals": {"aws:PrincipalTag/team": "platform"}}),
    ] {
        assert!(
            broad_trust(&with(narrowing.clone()), None).is_empty(),
            "{narrowing}"
        );
    }
    for not_narrowing in [
        json!({"StringEqualsIfExists": {"sts:ExternalId": "secret"}}),
        json!({"StringNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/x"}}),
        json!({"StringLike": {"aws:PrincipalArn": "*"}}),
        json!({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}),
    ] {
        assert_eq!(
            broad_trust(&with(not_narrowing.clone()), None).len(),
            1,
            "{not_narrowing}"
        );
    }
}

#[test]
fn the_stackset_template_trusts_the_hub_agent_role_only() {
    let cfg = parse(BASE);
    let template =
        blueprint::spoke_admin_template(&cfg, "arn:aws:iam::222222222222:role/EKSManagerAgentRole");
    let trust =
        &template["Resources"]["EKSManagerAdminRole"]["Properties"]["AssumeRolePolicyDocument"];
    assert!(broad_trust(trust, None).is_empty());
    let hub_root = blueprint::spoke_admin_template(&cfg, "arn:aws:iam::222222222222:root");
    let trust =
        &hub_root["Resources"]["EKSManagerAdminRole"]["Properties"]["AssumeRolePolicyDocument"];
    assert_eq!(broad_trust(trust, None).len(), 1);
}

// ---------------------------------------------------------------------------------------
// Configuration.

fn config_errors(text: &str) -> String {
    match config::parse(text, "eksmgr.toml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn acknowledged_sids_must_name_an_extra_statement() {
    let text = BASE.replace(
        "[hub]",
        "[governance.scp]\nacknowledged_unverifiable_sids = [\"Typo\"]\n\n[hub]",
    );
    let e = config_errors(&text);
    assert!(
        e.contains("no [[governance.scp.extra_statements]] has Sid \"Typo\""),
        "{e}"
    );
}

#[test]
fn the_opt_in_needs_a_trusted_principal() {
    let text = format!(
        "{BASE}\n[[cross_account_roles]]\nname = \"ci\"\ncluster = \"workloads\"\nallow_account_root_trust = true\n\n[cross_account_roles.oidc]\nprovider_arn = \"arn:aws:iam::333333333333:oidc-provider/token.actions.githubusercontent.com\"\nsubjects = [\"repo:org/repo:ref:refs/heads/main\"]\n"
    );
    let e = config_errors(&text);
    assert!(
        e.contains("allow_account_root_trust only applies with trusted_principal_arn"),
        "{e}"
    );
}
