//! Blueprint tests of cluster access: access entries from the admin principal pattern and the
//! grants (merged per principal), pod identity associations, cross-account roles (AWS
//! principal and web identity through the hub), principal checks against the roles discovery
//! listed, and the replacement of entries and associations with their role.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use eksmgr_engine::annotation::{Note, Reason};
use eksmgr_engine::blueprint::{self, Blueprint, Discovery};
use eksmgr_engine::config;
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{DesiredResource, ObservedResource, ResourceKind};
use eksmgr_engine::plan::{Action, PlanOptions, Planner};
use eksmgr_engine::refresh::{Observation, Observations};
use eksmgr_state::json;
use eksmgr_state::{ResourceRecord, State};

const HUB: &str = "222222222222";
const A: &str = "333333333333";
const B: &str = "444444444444";
const SSO_A: &str = "arn:aws:iam::333333333333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_EKSAdmin_0a1b2c3d";

const CONFIG: &str = r#"
[organization]
management_account_id = "111111111111"
eks_ou_id = "ou-abcd-11111111"

[hub]
account_id = "222222222222"

[[clusters]]
name = "workloads"
account = "*"
version = "1.31"
subnet_ids = ["subnet-0f0f0f01", "subnet-0f0f0f02"]
build_pods = { namespace = "ci", service_account = "builder" }

[[clusters.pod_identities]]
namespace = "apps"
service_account = "reader"
role_name = "app-reader"

[access]
admin_principal_arn = "arn:aws:iam::*:role/AWSReservedSSO_EKSAdmin_*"

[[access.grants]]
principal_arn = "arn:aws:iam::222222222222:role/ci-deployer"
policy = "edit"
namespaces = ["team-b", "team-a"]
groups = ["deployers"]
clusters = ["workloads"]

[[access.grants]]
principal_arn = "arn:aws:iam::222222222222:role/ci-deployer"
policy = "view"
clusters = ["*"]

[[cross_account_roles]]
name = "eks-deployer"
cluster = "workloads"
trusted_principal_arn = "arn:aws:iam::222222222222:role/ci-deployer"
external_id = "ext-0123456789"
policy = "admin"
namespaces = ["apps"]

[[cross_account_roles]]
name = "eks-auditor"
cluster = "workloads"
policy = "view"

[cross_account_roles.oidc]
provider_arn = "arn:aws:iam::222222222222:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/HUBCLUSTER"
subjects = ["system:serviceaccount:audit:auditor"]
"#;

fn roles(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    list.iter()
        .map(|(a, r)| {
            (
                (*a).to_string(),
                r.iter().map(|s| (*s).to_string()).collect(),
            )
        })
        .collect()
}

fn discovery(iam_roles: BTreeMap<String, Vec<String>>) -> Discovery {
    Discovery {
        iam_roles,
        ..Discovery::of_spokes(
            "111111111111",
            "o-a1b2c3d4e5/r-ab12/ou-abcd-11111111/",
            [A, B],
        )
    }
}

fn all_listed() -> BTreeMap<String, Vec<String>> {
    roles(&[
        (HUB, &["arn:aws:iam::222222222222:role/ci-deployer"]),
        (A, &[SSO_A, "arn:aws:iam::333333333333:role/app-reader"]),
        (B, &["arn:aws:iam::444444444444:role/app-reader"]),
    ])
}

fn expand(text: &str, d: &Discovery) -> Blueprint {
    let cfg = config::parse(text, "eksmgr.toml").unwrap();
    blueprint::expand(&cfg, d).unwrap()
}

fn find<'a>(
    b: &'a Blueprint,
    kind: ResourceKind,
    name: &str,
    account: &str,
) -> &'a DesiredResource {
    b.resources
        .iter()
        .find(|r| r.kind == kind && r.address.name == name && r.address.account == account)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name} in {account}; have: {:?}",
                b.resources
                    .iter()
                    .map(|r| r.address.to_string())
                    .collect::<Vec<_>>()
            )
        })
}

fn attr(r: &DesiredResource, name: &str) -> Value {
    r.attrs
        .get(name)
        .and_then(|v| v.known())
        .cloned()
        .unwrap_or(Value::Null)
}

const EDIT: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy";
const CLUSTER_ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

#[test]
fn the_admin_pattern_resolves_per_account_and_reports_accounts_without_a_match() {
    let b = expand(CONFIG, &discovery(all_listed()));
    assert!(b.problems.is_empty(), "{:?}", b.problems);
    let entry = find(
        &b,
        ResourceKind::EksAccessEntry,
        &format!("workloads/{SSO_A}"),
        A,
    );
    assert_eq!(attr(entry, "principal_arn"), json!(SSO_A));
    assert_eq!(
        attr(entry, "access_policies"),
        json!({ CLUSTER_ADMIN: {"type": "cluster"} })
    );
    assert_eq!(entry.address.region.as_deref(), Some("us-east-1"));
    // Account B has no IAM Identity Center role yet: nothing planned there, and said so.
    assert!(
        !b.resources
            .iter()
            .any(|r| r.kind == ResourceKind::EksAccessEntry
                && r.address.account == B
                && r.address.name.contains("AWSReservedSSO")),
    );
    assert!(
        b.warnings
            .iter()
            .any(|w| w.contains("no IAM role in account 444444444444 matches")),
        "{:?}",
        b.warnings
    );
}

#[test]
fn grants_of_one_principal_merge_into_one_entry_with_their_scopes() {
    let b = expand(CONFIG, &discovery(all_listed()));
    let entry = find(
        &b,
        ResourceKind::EksAccessEntry,
        "workloads/arn:aws:iam::222222222222:role/ci-deployer",
        B,
    );
    assert_eq!(attr(entry, "kubernetes_groups"), json!(["deployers"]));
    assert_eq!(
        attr(entry, "access_policies"),
        json!({
            EDIT: {"type": "namespace", "namespaces": ["team-a", "team-b"]},
            VIEW: {"type": "cluster"}
        })
    );
    assert_eq!(attr(entry, "type"), json!("STANDARD"));
    // The entry needs its cluster.
    assert!(
        entry
            .depends_on
            .iter()
            .any(|d| d.kind == "eks_cluster" && d.name == "workloads")
    );
    // A principal eksmgr does not create replaces nothing.
    assert!(entry.replace_triggered_by.is_empty());
}

#[test]
fn a_principal_that_does_not_exist_is_a_problem_naming_it() {
    let listed = roles(&[
        (HUB, &[]),
        (A, &[SSO_A, "arn:aws:iam::333333333333:role/app-reader"]),
        (B, &["arn:aws:iam::444444444444:role/app-reader"]),
    ]);
    let b = expand(CONFIG, &discovery(listed));
    let missing: Vec<&String> = b
        .problems
        .iter()
        .filter(|p| p.contains("arn:aws:iam::222222222222:role/ci-deployer does not exist"))
        .collect();
    // Both grants on both clusters, and the cross-account role's trust in both accounts.
    assert!(missing.len() >= 4, "{:?}", b.problems);
    assert!(
        !b.resources
            .iter()
            .any(|r| r.kind == ResourceKind::EksAccessEntry
                && r.address.name.ends_with("role/ci-deployer")),
        "no entry is planned for a principal that does not exist"
    );
}

#[test]
fn a_principal_in_an_account_eksmgr_does_not_list_is_used_and_flagged_unchecked() {
    let b = expand(CONFIG, &discovery(BTreeMap::new()));
    assert!(b.problems.is_empty(), "{:?}", b.problems);
    assert!(
        b.warnings
            .iter()
            .any(|w| w.contains("ci-deployer was not checked to exist")),
        "{:?}",
        b.warnings
    );
    assert!(
        b.warnings
            .iter()
            .any(|w| w.contains("IAM roles could not be listed")),
        "{:?}",
        b.warnings
    );
    find(
        &b,
        ResourceKind::EksAccessEntry,
        "workloads/arn:aws:iam::222222222222:role/ci-deployer",
        A,
    );
}

#[test]
fn pod_identities_point_at_their_roles_and_are_replaced_with_eksmgr_roles() {
    let b = expand(CONFIG, &discovery(all_listed()));
    let build = find(
        &b,
        ResourceKind::EksPodIdentityAssociation,
        "workloads/ci/builder",
        A,
    );
    assert_eq!(
        attr(build, "role_arn"),
        json!("arn:aws:iam::333333333333:role/workloads-build")
    );
    assert_eq!(build.replace_triggered_by.len(), 1);
    assert_eq!(build.replace_triggered_by[0].name, "workloads-build");
    let reader = find(
        &b,
        ResourceKind::EksPodIdentityAssociation,
        "workloads/apps/reader",
        B,
    );
    assert_eq!(
        attr(reader, "role_arn"),
        json!("arn:aws:iam::444444444444:role/app-reader")
    );
    assert!(reader.replace_triggered_by.is_empty());

    // The declared role missing from one account skips that account only: nothing of it is
    // planned, and the other account is planned whole.
    let listed = roles(&[
        (HUB, &["arn:aws:iam::222222222222:role/ci-deployer"]),
        (A, &[SSO_A]),
        (B, &["arn:aws:iam::444444444444:role/app-reader"]),
    ]);
    let b = expand(CONFIG, &discovery(listed));
    assert!(b.problems.is_empty(), "{:?}", b.problems);
    assert_eq!(b.skipped.len(), 1, "{:?}", b.skipped);
    assert_eq!(b.skipped[0].account, A);
    assert_eq!(
        b.skipped[0].cause,
        eksmgr_engine::plan::SkipCause::Principal
    );
    assert!(
        b.skipped[0]
            .reason
            .contains("role/app-reader does not exist in account 333333333333"),
        "{:?}",
        b.skipped
    );
    assert!(
        b.resources.iter().all(|r| r.address.account != A),
        "nothing of {A} is planned"
    );
    assert!(
        b.resources
            .iter()
            .flat_map(|r| r.depends_on.iter().chain(&r.order_after))
            .all(|d| d.account != A),
        "nothing planned refers to {A}"
    );
    find(
        &b,
        ResourceKind::EksPodIdentityAssociation,
        "workloads/apps/reader",
        B,
    );
}

#[test]
fn two_associations_for_one_service_account_are_refused_with_the_line() {
    let text = CONFIG.replace(
        "namespace = \"apps\"\nservice_account = \"reader\"",
        "namespace = \"ci\"\nservice_account = \"builder\"",
    );
    let errors = config::parse(&text, "eksmgr.toml").unwrap_err().to_string();
    assert!(
        errors.contains("eksmgr.toml:16")
            && errors.contains("ci/builder already has a pod identity"),
        "{errors}"
    );
}

#[test]
fn cross_account_roles_trust_their_principal_describe_only_their_cluster_and_get_an_entry() {
    let b = expand(CONFIG, &discovery(all_listed()));
    let role = find(&b, ResourceKind::IamRole, "eks-deployer", A);
    assert_eq!(
        attr(role, "assume_role_policy"),
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:role/ci-deployer"},
                "Action": ["sts:AssumeRole"],
                "Condition": {"StringEquals": {"sts:ExternalId": "ext-0123456789"}}
            }]
        })
    );
    assert_eq!(
        attr(role, "inline_policies")["EKSDescribeCluster"]["Statement"][0]["Resource"],
        json!("arn:aws:eks:us-east-1:333333333333:cluster/workloads")
    );
    let entry = find(
        &b,
        ResourceKind::EksAccessEntry,
        "workloads/arn:aws:iam::333333333333:role/eks-deployer",
        A,
    );
    assert_eq!(
        attr(entry, "access_policies"),
        json!({ ADMIN: {"type": "namespace", "namespaces": ["apps"]} })
    );
    assert_eq!(entry.replace_triggered_by, vec![role.address.clone()]);
}

#[test]
fn a_web_identity_role_in_the_hub_assumes_the_spoke_roles() {
    let b = expand(CONFIG, &discovery(all_listed()));
    let hub = find(&b, ResourceKind::IamRole, "eks-auditor", HUB);
    let trust = attr(hub, "assume_role_policy");
    let st = &trust["Statement"][0];
    assert_eq!(st["Action"], json!("sts:AssumeRoleWithWebIdentity"));
    assert_eq!(
        st["Principal"]["Federated"],
        json!(
            "arn:aws:iam::222222222222:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/HUBCLUSTER"
        )
    );
    assert_eq!(
        st["Condition"]["StringEquals"]["oidc.eks.us-east-1.amazonaws.com/id/HUBCLUSTER:sub"],
        json!("system:serviceaccount:audit:auditor")
    );
    // The role of that name in any account of the organization: no ARN per spoke, so the
    // policy's size does not grow with the estate.
    let assume = &attr(hub, "inline_policies")["AssumeClusterRoles"]["Statement"][0];
    assert_eq!(assume["Resource"], json!("arn:aws:iam::*:role/eks-auditor"));
    assert_eq!(
        assume["Condition"],
        json!({"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}})
    );
    for account in [A, B] {
        let spoke = find(&b, ResourceKind::IamRole, "eks-auditor", account);
        assert_eq!(
            attr(spoke, "assume_role_policy")["Statement"][0]["Principal"]["AWS"],
            json!("arn:aws:iam::222222222222:role/eks-auditor")
        );
        assert!(spoke.depends_on.contains(&hub.address));
    }
    // The hub role does not wait for the spokes' admin role.
    assert!(
        !hub.depends_on
            .iter()
            .any(|d| d.kind == "stack_set_instances")
    );
}

#[test]
fn an_oidc_provider_outside_the_hub_and_the_cluster_account_is_a_problem() {
    let text = CONFIG.replace(
        "arn:aws:iam::222222222222:oidc-provider/",
        "arn:aws:iam::999999999999:oidc-provider/",
    );
    let b = expand(&text, &discovery(all_listed()));
    assert!(
        b.problems
            .iter()
            .any(|p| p.contains("cross-account role `eks-auditor`") && p.contains("999999999999")),
        "{:?}",
        b.problems
    );
}

#[test]
fn principal_accounts_lists_what_the_blueprint_needs() {
    let cfg = config::parse(CONFIG, "eksmgr.toml").unwrap();
    let accounts = blueprint::principal_accounts(&cfg, &discovery(BTreeMap::new()));
    assert_eq!(
        accounts.into_iter().collect::<Vec<_>>(),
        vec![HUB.to_string(), A.to_string(), B.to_string()]
    );
    let bare = CONFIG.split("[[clusters.pod_identities]]").next().unwrap();
    let cfg = config::parse(bare, "eksmgr.toml").unwrap();
    assert!(blueprint::principal_accounts(&cfg, &discovery(BTreeMap::new())).is_empty());
}

fn observed(r: &DesiredResource) -> ObservedResource {
    ObservedResource {
        id: r.address.name.to_string(),
        attrs: r.known_attrs().into(),
    }
}

#[test]
fn replacing_a_role_replaces_its_entries_and_associations_and_warns() {
    let b = expand(CONFIG, &discovery(all_listed()));
    let mut state = State::new();
    let mut obs = Observations::new();
    for r in &b.resources {
        let mut o = observed(r);
        // The deployer role in A moved path: it must be replaced.
        if r.kind == ResourceKind::IamRole
            && r.address.name == "eks-deployer"
            && r.address.account == A
        {
            std::sync::Arc::make_mut(&mut o.attrs).insert("path".into(), json!("/old/"));
        }
        // Values only known after apply: use what the reference would resolve to.
        for (k, v) in r.attrs.iter() {
            if v.known().is_none() {
                std::sync::Arc::make_mut(&mut o.attrs)
                    .insert(k.as_str().into(), json!("arn:resolved"));
            }
        }
        let mut rec = ResourceRecord::new(r.address.clone(), o.id.clone());
        rec.attrs = std::sync::Arc::clone(&o.attrs);
        state.resources.insert(r.address.clone(), rec);
        obs.insert(r.address.clone(), Observation::Found(o));
    }
    let plan = Planner::plan(&b.resources, &state, &obs, &PlanOptions::default()).unwrap();
    let entry = plan
        .changes
        .iter()
        .find(|c| c.address.name == "workloads/arn:aws:iam::333333333333:role/eks-deployer")
        .unwrap();
    assert_eq!(entry.action, Action::Replace);
    assert!(
        matches!(&entry.reason, Some(Reason::ReplacedWith { resources })
            if resources.iter().any(|r| r.name == "eks-deployer")),
        "{:?}",
        entry.reason
    );
    let role = plan
        .changes
        .iter()
        .find(|c| c.address.name == "eks-deployer" && c.address.account == A)
        .unwrap();
    assert_eq!(role.action, Action::Replace);
    assert!(
        role.notes
            .iter()
            .any(|n| matches!(n, Note::RecreatesDependents { resources } if resources.contains(&entry.address))),
        "{:?}",
        role.notes
    );
    assert!(plan.warnings.iter().any(|w| w.contains("eks-deployer")));
    // Entries of roles that stay are untouched.
    let other = plan
        .changes
        .iter()
        .find(|c| c.address.name == "workloads/arn:aws:iam::444444444444:role/eks-deployer")
        .unwrap();
    assert_eq!(other.action, Action::NoOp);
}
