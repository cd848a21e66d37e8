//! Golden tests of the human plan rendering, on plans made by the real planner from
//! hand-made observations (no AWS).

use eksmgr_engine::model::{DesiredResource, ObservedResource, ResourceKind};
use eksmgr_engine::plan::{PlanOptions, Planner};
use eksmgr_engine::refresh::{Observation, Observations};
use eksmgr_state::json;
use eksmgr_state::{ResourceRecord, State};

use super::{Styler, human, markdown};

const HUB: &str = "222222222222";
const MGMT: &str = "123456789012";

fn role(trust_principal: &str) -> DesiredResource {
    DesiredResource::new(ResourceKind::IamRole, "EKSManagerAgentRole", HUB, None)
        .set("name", json!("EKSManagerAgentRole"))
        .set("path", json!("/"))
        .set("description", json!("agent"))
        .set(
            "assume_role_policy",
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":trust_principal},"Action":"sts:AssumeRole"}]}),
        )
        .set("managed_policy_arns", json!([]))
}

/// The governance SCP, as the plans of the render tests have it.
pub(super) fn scp() -> DesiredResource {
    DesiredResource::new(ResourceKind::OrgPolicy, "EKSManagerDenyPolicy", MGMT, None)
        .set("name", json!("EKSManagerDenyPolicy"))
        .set("type", json!("SERVICE_CONTROL_POLICY"))
        .set("content", json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"billing:*","Resource":"*"}]}))
}

/// The SCP's attachment to the EKS OU.
pub(super) fn attachment(scp: &DesiredResource) -> DesiredResource {
    DesiredResource::new(
        ResourceKind::OrgPolicyAttachment,
        "EKSManagerDenyPolicy:ou-abcd-11111111",
        MGMT,
        None,
    )
    .set("policy_name", json!("EKSManagerDenyPolicy"))
    .set_ref("policy_id", &scp.address, "id")
    .set("target_id", json!("ou-abcd-11111111"))
}

fn found(d: &DesiredResource, id: &str) -> Observation {
    let mut attrs = d.known_attrs();
    attrs.insert("id".into(), json!(id));
    Observation::Found(ObservedResource {
        id: id.into(),
        attrs: attrs.into(),
    })
}

#[test]
fn all_create_plan() {
    let scp = scp();
    let desired = vec![
        scp.clone(),
        attachment(&scp),
        role("arn:aws:iam::222222222222:root"),
    ];
    let observed: Observations = desired
        .iter()
        .map(|d| (d.address.clone(), Observation::Missing))
        .collect();
    let plan = Planner::plan(&desired, &State::new(), &observed, &PlanOptions::default()).unwrap();
    insta::assert_snapshot!(human::plan(&plan, Styler::plain()));
}

#[test]
fn update_with_drift_and_delete() {
    let old_role = role("arn:aws:iam::222222222222:root");
    let new_role = role("arn:aws:iam::222222222222:role/ci");
    let scp = scp();
    let mut state = State::new();
    let mut observed = Observations::new();
    // The role: recorded with the old trust, changed out of band to a third principal.
    let mut rec = ResourceRecord::new(old_role.address.clone(), "EKSManagerAgentRole");
    rec.attrs = old_role.known_attrs().into();
    state.upsert(rec);
    observed.insert(
        old_role.address.clone(),
        observed_role("arn:aws:iam::999999999999:root"),
    );
    // The SCP: in state and unchanged; its attachment was removed out of band.
    let mut rec = ResourceRecord::new(scp.address.clone(), "p-1234abcd");
    rec.attrs = scp.known_attrs().into();
    state.upsert(rec);
    observed.insert(scp.address.clone(), found(&scp, "p-1234abcd"));
    let att = attachment(&scp);
    let mut rec = ResourceRecord::new(att.address.clone(), "p-1234abcd:ou-abcd-11111111");
    rec.attrs = att.known_attrs().into();
    state.upsert(rec);
    observed.insert(att.address.clone(), Observation::Missing);
    let desired = vec![scp, att, new_role];
    let plan = Planner::plan(&desired, &state, &observed, &PlanOptions::default()).unwrap();
    insta::assert_snapshot!(human::plan(&plan, Styler::plain()));

    let plan = Planner::plan(
        &[],
        &state,
        &observed,
        &PlanOptions {
            destroy: true,
            ..Default::default()
        },
    )
    .unwrap();
    insta::assert_snapshot!("destroy", human::plan(&plan, Styler::plain()));
}

fn observed_role(principal: &str) -> Observation {
    found(&role(principal), "EKSManagerAgentRole")
}

#[test]
fn no_changes() {
    let r = role("arn:aws:iam::222222222222:root");
    let mut state = State::new();
    let mut rec = ResourceRecord::new(r.address.clone(), "EKSManagerAgentRole");
    rec.attrs = r.known_attrs().into();
    state.upsert(rec);
    let observed: Observations = [(r.address.clone(), found(&r, "EKSManagerAgentRole"))].into();
    let plan = Planner::plan(&[r], &state, &observed, &PlanOptions::default()).unwrap();
    assert!(!plan.has_changes());
    insta::assert_snapshot!(human::plan(&plan, Styler::plain()));
}

#[test]
fn markdown_plan_labels_risks_and_groups_by_account() {
    let old_role = role("arn:aws:iam::222222222222:root");
    let wider = role("*");
    let scp = scp();
    let mut state = State::new();
    let mut observed = Observations::new();
    let mut rec = ResourceRecord::new(old_role.address.clone(), "EKSManagerAgentRole");
    rec.attrs = old_role.known_attrs().into();
    state.upsert(rec);
    observed.insert(
        old_role.address.clone(),
        found(&old_role, "EKSManagerAgentRole"),
    );
    observed.insert(scp.address.clone(), Observation::Missing);
    let att = attachment(&scp);
    observed.insert(att.address.clone(), Observation::Missing);
    let desired = vec![scp, att, wider];
    let plan = Planner::plan(&desired, &state, &observed, &PlanOptions::default()).unwrap();
    let md = markdown::plan(&plan, markdown::COMMENT_LIMIT);
    assert!(md.contains("**widens a trust policy**: `iam_role.EKSManagerAgentRole[222222222222]`"));
    assert!(md.contains("**changes the SCP**"));
    assert!(md.contains("| 123456789012 | 2 | 0 | 0 | 0 | 0 |"));
    insta::assert_snapshot!(md);
}

#[test]
fn markdown_plan_narrowing_a_policy_is_not_a_risk() {
    let wide = role("*");
    let narrow = role("arn:aws:iam::222222222222:root");
    let mut state = State::new();
    let mut rec = ResourceRecord::new(wide.address.clone(), "EKSManagerAgentRole");
    rec.attrs = wide.known_attrs().into();
    state.upsert(rec);
    let observed: Observations =
        [(wide.address.clone(), found(&wide, "EKSManagerAgentRole"))].into();
    let plan = Planner::plan(&[narrow], &state, &observed, &PlanOptions::default()).unwrap();
    let md = markdown::plan(&plan, markdown::COMMENT_LIMIT);
    assert!(md.contains("update in place"), "{md}");
    assert!(!md.contains("Risks"), "{md}");
}

#[test]
fn markdown_plan_stays_within_the_limit_and_says_what_it_left_out() {
    let desired: Vec<DesiredResource> = (0..400)
        .map(|i| {
            DesiredResource::new(ResourceKind::IamRole, &format!("role-{i:03}"), HUB, None)
                .set("name", json!(format!("role-{i:03}")))
                .set(
                    "assume_role_policy",
                    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"sts:AssumeRole"}]}),
                )
        })
        .collect();
    let observed: Observations = desired
        .iter()
        .map(|d| (d.address.clone(), Observation::Missing))
        .collect();
    let plan = Planner::plan(&desired, &State::new(), &observed, &PlanOptions::default()).unwrap();
    let limit = 20_000;
    let md = markdown::plan(&plan, limit);
    assert!(md.len() <= limit, "{} > {limit}", md.len());
    assert!(md.contains("more change(s) not shown in detail"));
    assert!(md.contains("Run `eksmgr plan` for the full plan"));
    assert!(md.contains("Plan: 400 to add"));
    // Nothing vanishes silently: every change is either detailed or listed.
    let shown = md.matches("<details>").count();
    let listed = md.matches("\n- `iam_role.").count();
    assert!(
        shown + listed == 400 || md.contains("(list truncated)"),
        "{shown} + {listed}"
    );
}

#[test]
fn apply_summaries_count_adoptions_and_list_what_was_left_running() {
    use eksmgr_engine::apply::ApplyOutcome;
    use eksmgr_engine::plan::Action;
    let address = |name: &str| {
        let a = role("x").address.clone();
        eksmgr_state::ResourceAddress::new(
            a.kind.clone(),
            name,
            a.account.clone(),
            a.region.as_ref().map(ToString::to_string),
        )
    };
    let adopted = ApplyOutcome {
        completed: vec![(address("a"), Action::NoOp), (address("b"), Action::Update)],
        adopted: vec![address("a"), address("b")],
        ..Default::default()
    };
    insta::assert_snapshot!(
        "apply_outcome_adopted",
        human::outcome(&adopted, "Apply", Styler::new(false))
    );
    let abandoned = ApplyOutcome {
        completed: vec![(address("a"), Action::Create)],
        abandoned: vec![(address("b"), Action::Create)],
        skipped: vec![(address("c"), "not started: the run was interrupted".into())],
        interrupted: true,
        ..Default::default()
    };
    insta::assert_snapshot!(
        "apply_outcome_abandoned",
        human::outcome(&abandoned, "Apply", Styler::new(false))
    );
}

#[test]
fn skipped_accounts_are_listed_with_their_reason_and_fix() {
    use eksmgr_engine::plan::{SkipCause, SkippedSpoke};
    let r = role("arn:aws:iam::222222222222:root");
    let observed: Observations = [(r.address.clone(), Observation::Missing)].into();
    let mut plan = Planner::plan(&[r], &State::new(), &observed, &PlanOptions::default()).unwrap();
    plan.skipped_accounts = vec![
        SkippedSpoke {
            account: "333333333333".into(),
            name: "spoke-3".into(),
            cause: SkipCause::Subnets,
            reason: "cluster `workloads` in us-east-1: no available subnet matches subnet_selector (tags { \"kubernetes.io/role/internal-elb\" = \"1\" }) among the 2 subnet(s) there".into(),
            fix: "tag subnets of one VPC in at least two availability zones to match the cluster's `subnet_selector`, or add `[clusters.overrides.\"333333333333\"] subnet_ids = [...]` (or `skip = true`) to eksmgr.toml".into(),
            waiting: false,
        },
        SkippedSpoke {
            account: "444444444444".into(),
            name: String::new(),
            cause: SkipCause::Unreachable,
            reason: "sts:AssumeRole: AccessDenied".into(),
            fix: "deploy the role".into(),
            waiting: true,
        },
    ];
    assert!(plan.needs_attention());
    let text = human::plan(&plan, Styler::plain());
    assert!(text.contains("Skipped accounts"), "{text}");
    insta::assert_snapshot!("skipped_accounts_human", text);
    let md = markdown::plan(&plan, markdown::COMMENT_LIMIT);
    assert!(md.contains("**Skipped accounts**"), "{md}");
    insta::assert_snapshot!("skipped_accounts_markdown", md);
    // Waiting alone is nothing for a human.
    plan.skipped_accounts.remove(0);
    assert!(!plan.needs_attention());
}
