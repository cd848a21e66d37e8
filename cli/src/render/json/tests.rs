//! Tests of the JSON plan: golden snapshots of plans made by the real planner from hand-made
//! observations (no AWS), targeted checks of each rule of the format, and validation of every
//! rendered plan against `docs/plan-json.schema.json` (which must also reject what the format
//! forbids, stay in step with the engine's attribute schema, and match `docs/plan-json.md`).
//! The same mixed plan is also snapshotted in the human and Markdown views, so the three
//! renderings of one plan can be compared side by side.

use std::collections::BTreeSet;

use eksmgr_engine::model::{Attrs, DesiredResource, ObservedResource, ResourceKind};
use eksmgr_engine::plan::{Plan, PlanIdentity, PlanOptions, Planner, SavedPlan};
use eksmgr_engine::provider::{ErrorKind, ProviderError};
use eksmgr_engine::refresh::{Observation, Observations};
use eksmgr_engine::schema::{self, AttrType};
use eksmgr_state::{ResourceRecord, State};
use serde_json::{Value, json};

use super::{FORMAT_VERSION, document, render};
use crate::render::tests::{attachment, scp};
use crate::render::{Styler, human, markdown};

const SCHEMA: &str = include_str!("../../../../docs/plan-json.schema.json");
const DOC: &str = include_str!("../../../../docs/plan-json.md");

const MGMT: &str = "123456789012";
const HUB: &str = "222222222222";
const SPOKE: &str = "333333333333";
const NEW_SPOKE: &str = "444444444444";
const REGION: &str = "us-east-1";
const VERSION: &str = "0.0.0-test";

// ---------------------------------------------------------------------------------------------
// The estate of the tests
// ---------------------------------------------------------------------------------------------

fn trust(principal: &str) -> Value {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":principal},"Action":"sts:AssumeRole"}]})
}

fn agent_inline_policy() -> Value {
    json!({"Version":"2012-10-17","Statement":[{"Sid":"AssumeSpokeAdminRoles","Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/EKSManagerAdmin"}]})
}

fn hub_root() -> String {
    format!("arn:aws:iam::{HUB}:root")
}

/// A JSON value as IAM returns policy documents: its text, percent-encoded.
fn url_encoded(v: &Value) -> Value {
    let text = v.to_string();
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Value::String(out)
}

fn role(path: &str) -> DesiredResource {
    DesiredResource::new(ResourceKind::IamRole, "EKSManagerAgentRole", HUB, None)
        .set("name", json!("EKSManagerAgentRole"))
        .set("path", json!(path))
        .set("description", json!("agent"))
        .set("assume_role_policy", trust(&hub_root()))
        .set("managed_policy_arns", json!([]))
        .set(
            "inline_policies",
            json!({"EKSManagerAgent": agent_inline_policy()}),
        )
}

fn template() -> Value {
    json!({"AWSTemplateFormatVersion":"2010-09-09","Resources":{"EKSManagerAdminRole":{"Type":"AWS::IAM::Role","Properties":{"RoleName":"EKSManagerAdmin"}}}})
}

fn stack_set() -> DesiredResource {
    DesiredResource::new(
        ResourceKind::StackSet,
        "EKSManagerSpokeAdmin",
        MGMT,
        Some(REGION),
    )
    .set("name", json!("EKSManagerSpokeAdmin"))
    .set("template_body", template())
    .set("permission_model", json!("SERVICE_MANAGED"))
    .set("capabilities", json!(["CAPABILITY_NAMED_IAM"]))
}

fn access_entry(role: &DesiredResource) -> DesiredResource {
    DesiredResource::new(
        ResourceKind::EksAccessEntry,
        "workloads:EKSManagerAgentRole",
        SPOKE,
        Some(REGION),
    )
    .set("cluster_name", json!("workloads"))
    .set(
        "principal_arn",
        json!(format!("arn:aws:iam::{HUB}:role/EKSManagerAgentRole")),
    )
    .set("type", json!("STANDARD"))
    .replaced_with(&role.address)
}

fn repository(name: &str, account: &str) -> DesiredResource {
    DesiredResource::new(ResourceKind::EcrRepository, name, account, Some(REGION))
        .set("name", json!(name))
        .set("image_tag_mutability", json!("IMMUTABLE"))
        .set(
            "policy",
            json!({"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{SPOKE}:root")},"Action":"ecr:BatchGetImage"}]}),
        )
}

fn key(account: &str) -> DesiredResource {
    DesiredResource::new(ResourceKind::KmsKey, "workloads", account, Some(REGION))
        .set("alias", json!("alias/eksmgr/workloads"))
        .set("description", json!("workloads secrets"))
        .set("key_policy", json!({"Version":"2012-10-17","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{account}:root")},"Action":"kms:*","Resource":"*"}]}))
        .set("deletion_window_days", json!(7))
}

fn found(d: &DesiredResource, id: &str) -> Observation {
    found_attrs(d.known_attrs(), id)
}

fn found_attrs(mut attrs: Attrs, id: &str) -> Observation {
    attrs.insert("id".into(), json!(id));
    Observation::Found(ObservedResource {
        id: id.into(),
        attrs: attrs.into(),
    })
}

fn record(state: &mut State, d: &DesiredResource, id: &str, attrs: Attrs) {
    let mut rec = ResourceRecord::new(d.address.clone(), id);
    rec.attrs = attrs.into();
    state.upsert(rec);
}

fn access_denied(account: &str, resource: &str) -> Observation {
    Observation::Unreadable {
        error: Box::new(ProviderError {
            account: account.into(),
            resource: resource.into(),
            api_call: "sts:AssumeRole".into(),
            message: "AccessDenied: not authorized to perform sts:AssumeRole".into(),
            hint: Some("check the spoke admin role's trust policy".into()),
            kind: ErrorKind::AccessDenied,
        }),
    }
}

fn options() -> PlanOptions {
    PlanOptions {
        config_digest: eksmgr_engine::digest(b"# eksmgr.toml of the tests\n"),
        ..Default::default()
    }
}

fn fixed_state() -> State {
    let mut state = State::new();
    state.lineage = "0b7e2c1a-5d4f-4e8a-9c3b-2f1d6a7e8b90".into();
    state.serial = 7;
    state
}

/// State and observations of an estate in which almost everything happens at once:
///
/// - the SCP is created, and its attachment needs the SCP's id (known after apply);
/// - the hub role moved to another path (a replacement), and its trust policy was changed out
///   of band (drift); IAM returns its documents URL-encoded;
/// - an access entry bound to that role is replaced with it (a note and a warning);
/// - the stack set exists but is not in state (an adoption that changes nothing); CloudFormation
///   returns its template as JSON text;
/// - a repository is unchanged (absent from the JSON), another was deleted out of band (drift,
///   and forgotten);
/// - a key that is no longer wanted is deleted (blocked without --allow-key-deletion);
/// - a new spoke's key is reached through the replaced role (planned after this apply), and a
///   repository in an unreachable account could not be read (an error).
fn estate() -> (Vec<DesiredResource>, State, Observations) {
    let mut state = fixed_state();
    let mut observed = Observations::new();
    let scp = scp();
    let att = attachment(&scp);
    observed.insert(scp.address.clone(), Observation::Missing);
    observed.insert(att.address.clone(), Observation::Missing);

    let role = role("/");
    let recorded = self::role("/legacy/").known_attrs();
    record(&mut state, &role, "EKSManagerAgentRole", recorded.clone());
    let mut now = recorded;
    now.insert(
        "assume_role_policy".into(),
        url_encoded(&trust("arn:aws:iam::999999999999:root")),
    );
    now.insert(
        "inline_policies".into(),
        json!({"EKSManagerAgent": url_encoded(&agent_inline_policy())}),
    );
    now.insert(
        "arn".into(),
        json!(format!(
            "arn:aws:iam::{HUB}:role/legacy/EKSManagerAgentRole"
        )),
    );
    observed.insert(
        role.address.clone(),
        found_attrs(now, "EKSManagerAgentRole"),
    );

    let entry = access_entry(&role);
    record(
        &mut state,
        &entry,
        "workloads:arn:aws:iam::222222222222:role/EKSManagerAgentRole",
        entry.known_attrs(),
    );
    observed.insert(
        entry.address.clone(),
        found(
            &entry,
            "workloads:arn:aws:iam::222222222222:role/EKSManagerAgentRole",
        ),
    );

    let stack_set = stack_set();
    let mut attrs = stack_set.known_attrs();
    attrs.insert("template_body".into(), json!(template().to_string()));
    observed.insert(
        stack_set.address.clone(),
        found_attrs(attrs, "EKSManagerSpokeAdmin:1a2b3c4d"),
    );

    let unchanged = repository("platform/app", HUB);
    record(
        &mut state,
        &unchanged,
        "platform/app",
        unchanged.known_attrs(),
    );
    let mut attrs = unchanged.known_attrs();
    let policy = attrs.get("policy").map(ToString::to_string);
    attrs.insert("policy".into(), json!(policy));
    observed.insert(
        unchanged.address.clone(),
        found_attrs(attrs, "platform/app"),
    );

    let gone = repository("old/app", HUB);
    record(&mut state, &gone, "old/app", gone.known_attrs());
    observed.insert(gone.address.clone(), Observation::Missing);

    let unwanted = key(SPOKE);
    record(
        &mut state,
        &unwanted,
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        unwanted.known_attrs(),
    );
    let mut attrs = unwanted.known_attrs();
    let policy = attrs.get("key_policy").map(ToString::to_string);
    attrs.insert("key_policy".into(), json!(policy));
    observed.insert(
        unwanted.address.clone(),
        found_attrs(attrs, "1234abcd-12ab-34cd-56ef-1234567890ab"),
    );

    let new_key = key(NEW_SPOKE).depend_on(&role.address);
    observed.insert(
        new_key.address.clone(),
        access_denied(NEW_SPOKE, &new_key.address.to_string()),
    );
    let unreachable = repository("team/svc", SPOKE);
    observed.insert(
        unreachable.address.clone(),
        access_denied(SPOKE, &unreachable.address.to_string()),
    );

    let desired = vec![
        scp,
        att,
        role,
        entry,
        stack_set,
        unchanged,
        new_key,
        unreachable,
    ];
    (desired, state, observed)
}

fn mixed_plan() -> Plan {
    let (desired, state, observed) = estate();
    let mut plan = match Planner::plan(&desired, &state, &observed, &options()) {
        Ok(p) => p,
        Err(e) => panic!("planning failed: {e}"),
    };
    plan.problems.push(format!(
        "cluster `edge` in account {NEW_SPOKE}: no subnets tagged for EKS were found"
    ));
    plan
}

fn destroy_plan() -> Plan {
    let (_, state, observed) = estate();
    let options = PlanOptions {
        destroy: true,
        allow_key_deletion: true,
        allow_account_removal: true,
        ..options()
    };
    match Planner::plan(&[], &state, &observed, &options) {
        Ok(p) => p,
        Err(e) => panic!("planning failed: {e}"),
    }
}

/// A destroy under the seed design's SCP: the keys are forgotten, left in AWS (`before` set).
fn destroy_leaving_keys_plan() -> Plan {
    let (_, state, observed) = estate();
    let options = PlanOptions {
        destroy: true,
        allow_account_removal: true,
        key_deletion_denied_by: Some("EKSManagerDenyPolicy".into()),
        ..options()
    };
    let plan = match Planner::plan(&[], &state, &observed, &options) {
        Ok(p) => p,
        Err(e) => panic!("planning failed: {e}"),
    };
    assert!(
        plan.changes
            .iter()
            .any(|c| c.action == eksmgr_engine::plan::Action::Forget && c.before.is_some()),
        "a key should be left in AWS"
    );
    plan
}

fn no_changes_plan() -> Plan {
    let r = role("/");
    let mut state = fixed_state();
    record(&mut state, &r, "EKSManagerAgentRole", r.known_attrs());
    let observed: Observations = [(r.address.clone(), found(&r, "EKSManagerAgentRole"))].into();
    match Planner::plan(&[r], &state, &observed, &options()) {
        Ok(p) => p,
        Err(e) => panic!("planning failed: {e}"),
    }
}

fn all_plans() -> Vec<(&'static str, Plan)> {
    vec![
        ("mixed", mixed_plan()),
        ("destroy", destroy_plan()),
        ("destroy leaving the keys", destroy_leaving_keys_plan()),
        ("no changes", no_changes_plan()),
    ]
}

fn to_value(p: &Plan) -> Value {
    serde_json::to_value(document(p, VERSION)).unwrap_or_default()
}

fn text(p: &Plan) -> String {
    match render(p, VERSION) {
        Ok(t) => t,
        Err(e) => panic!("rendering failed: {e}"),
    }
}

/// The resource change at `address` in a rendered plan.
fn change<'a>(doc: &'a Value, address: &str) -> &'a Value {
    doc["resource_changes"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["address"] == address))
        .unwrap_or_else(|| panic!("no resource change for {address} in\n{doc:#}"))
}

fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["address"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Golden snapshots
// ---------------------------------------------------------------------------------------------

#[test]
fn mixed_plan_snapshot() {
    insta::assert_snapshot!(text(&mixed_plan()));
}

#[test]
fn destroy_plan_snapshot() {
    insta::assert_snapshot!(text(&destroy_plan()));
}

#[test]
fn no_changes_snapshot() {
    insta::assert_snapshot!(text(&no_changes_plan()));
}

// ---------------------------------------------------------------------------------------------
// The rules of the format
// ---------------------------------------------------------------------------------------------

#[test]
fn top_level_fields() {
    let plan = mixed_plan();
    let doc = to_value(&plan);
    assert_eq!(doc["format_version"], FORMAT_VERSION);
    assert_eq!(doc["eksmgr_version"], VERSION);
    assert_eq!(
        doc["state"],
        json!({"lineage": plan.state_lineage, "serial": 7})
    );
    assert_eq!(doc["config_digest"], json!(plan.config_digest));
    let keys: Vec<&String> = doc
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "format_version",
            "eksmgr_version",
            "state",
            "config_digest",
            "summary",
            "resource_changes",
            "drift",
            "deferred",
            "problems",
            "skipped_accounts",
            "warnings",
            "errors",
            "changes",
            "needs_attention"
        ]
    );
    // The text is the document, pretty-printed, with a final newline.
    let text = text(&plan);
    assert!(text.ends_with("}\n"), "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).ok(), Some(doc));
}

#[test]
fn summary_and_flags_follow_the_plan() {
    let plan = mixed_plan();
    let doc = to_value(&plan);
    let s = plan.summary();
    assert_eq!(
        doc["summary"],
        json!({"add": s.add, "change": s.change, "destroy": s.destroy, "adopt": s.adopt, "forget": s.forget})
    );
    // Creates: SCP and attachment, plus the role and the entry replaced.
    assert_eq!(
        doc["summary"],
        json!({"add": 4, "change": 0, "destroy": 3, "adopt": 1, "forget": 1})
    );
    assert_eq!(doc["errors"], true, "unreadable, blocked and a problem");
    assert_eq!(doc["changes"], true);

    let quiet = to_value(&no_changes_plan());
    assert_eq!(quiet["errors"], false);
    assert_eq!(quiet["changes"], false);
    assert_eq!(quiet["resource_changes"], json!([]));
    assert_eq!(
        quiet["summary"],
        json!({"add": 0, "change": 0, "destroy": 0, "adopt": 0, "forget": 0})
    );

    // Blocked alone makes an error; awaiting alone makes a change.
    let mut plan = mixed_plan();
    plan.problems.clear();
    plan.deferred.retain(|d| d.awaiting.is_some());
    assert_eq!(to_value(&plan)["errors"], true);
    for c in &mut plan.changes {
        c.blocked = None;
    }
    assert_eq!(to_value(&plan)["errors"], false);
    plan.changes.clear();
    assert_eq!(to_value(&plan)["changes"], true);
    plan.deferred.clear();
    assert_eq!(to_value(&plan)["changes"], false);
}

#[test]
fn only_changes_and_adoptions_are_listed_in_apply_order() {
    let plan = mixed_plan();
    let doc = to_value(&plan);
    let listed = addresses(&doc["resource_changes"]);
    let expected: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action.is_change() || c.adopt)
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(listed.len(), 7, "{listed:#?}");
    // The unchanged repository is planned (a no-op) but not listed.
    let unchanged = format!("ecr_repository.platform/app[{HUB}/{REGION}]");
    assert!(
        plan.changes
            .iter()
            .any(|c| c.address.to_string() == unchanged)
    );
    assert!(!listed.contains(&unchanged));
    // The adoption that changes nothing is listed, as a no-op.
    let adopted = change(
        &doc,
        &format!("stack_set.EKSManagerSpokeAdmin[{MGMT}/{REGION}]"),
    );
    assert_eq!(adopted["action"], "no-op");
    assert_eq!(adopted["adopt"], true);
    assert_eq!(adopted["id"], "EKSManagerSpokeAdmin:1a2b3c4d");
    assert_eq!(adopted["changed_attributes"], json!([]));
}

#[test]
fn address_parts() {
    let doc = to_value(&mixed_plan());
    let role = change(&doc, &format!("iam_role.EKSManagerAgentRole[{HUB}]"));
    assert_eq!(role["kind"], "iam_role");
    assert_eq!(role["name"], "EKSManagerAgentRole");
    assert_eq!(role["account"], HUB);
    assert_eq!(role["region"], Value::Null);
    let repo = change(&doc, &format!("ecr_repository.old/app[{HUB}/{REGION}]"));
    assert_eq!(repo["kind"], "ecr_repository");
    assert_eq!(repo["name"], "old/app");
    assert_eq!(repo["region"], REGION);
}

#[test]
fn actions_and_replace_reasons() {
    let doc = to_value(&mixed_plan());
    let actions: Vec<(String, String)> = doc["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["address"].as_str().unwrap_or_default().to_owned(),
                c["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let action = |addr: &str| {
        actions
            .iter()
            .find(|(a, _)| a == addr)
            .map(|(_, x)| x.as_str())
    };
    assert_eq!(
        action(&format!("org_policy.EKSManagerDenyPolicy[{MGMT}]")),
        Some("create")
    );
    assert_eq!(
        action(&format!("iam_role.EKSManagerAgentRole[{HUB}]")),
        Some("replace")
    );
    assert_eq!(
        action(&format!("kms_key.workloads[{SPOKE}/{REGION}]")),
        Some("delete")
    );
    assert_eq!(
        action(&format!("ecr_repository.old/app[{HUB}/{REGION}]")),
        Some("forget")
    );

    let role = change(&doc, &format!("iam_role.EKSManagerAgentRole[{HUB}]"));
    assert_eq!(role["replace_reason"], "path cannot be changed in place");
    assert_eq!(
        role["changed_attributes"],
        json!([
            {"name": "assume_role_policy", "forces_replacement": false},
            {"name": "path", "forces_replacement": true}
        ])
    );
    assert_eq!(role["before"]["path"], "/legacy/");
    assert_eq!(role["after"]["path"], "/");
    // Computed attributes are in before, not in after.
    assert!(role["before"]["arn"].is_string());
    assert!(role["after"].get("arn").is_none());
    let notes = role["notes"].as_array().cloned().unwrap_or_default();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0]
            .as_str()
            .is_some_and(|n| n.contains("access entries")),
        "{notes:?}"
    );

    let entry = change(
        &doc,
        &format!("eks_access_entry.workloads:EKSManagerAgentRole[{SPOKE}/{REGION}]"),
    );
    assert_eq!(entry["action"], "replace");
    assert!(
        entry["replace_reason"]
            .as_str()
            .is_some_and(|r| r.contains("is replaced, and AWS binds this to its unique id")),
        "{entry:#}"
    );
    assert_eq!(entry["changed_attributes"], json!([]));

    // The planner gives the forgotten repository a reason; it is not a replacement.
    let gone = change(&doc, &format!("ecr_repository.old/app[{HUB}/{REGION}]"));
    assert_eq!(gone["replace_reason"], Value::Null);
    assert_eq!(gone["before"], Value::Null);
    assert_eq!(gone["after"], Value::Null);
    assert_eq!(gone["id"], "old/app");

    let key = change(&doc, &format!("kms_key.workloads[{SPOKE}/{REGION}]"));
    assert_eq!(key["after"], Value::Null);
    assert_eq!(key["after_unknown"], json!([]));
    assert!(
        key["blocked"]
            .as_str()
            .is_some_and(|b| b.contains("--allow-key-deletion")),
        "{key:#}"
    );
    for c in doc["resource_changes"].as_array().into_iter().flatten() {
        if c["action"] != "replace" {
            assert_eq!(c["replace_reason"], Value::Null, "{c:#}");
        }
        if c["address"] != key["address"] {
            assert_eq!(c["blocked"], Value::Null, "{c:#}");
        }
    }
}

#[test]
fn values_known_after_apply_are_null_and_listed() {
    let plan = mixed_plan();
    let address = format!("org_policy_attachment.EKSManagerDenyPolicy:ou-abcd-11111111[{MGMT}]");
    // The planner really left it unknown.
    let planned = plan
        .changes
        .iter()
        .find(|c| c.address.to_string() == address)
        .and_then(|c| c.after.as_ref())
        .and_then(|a| a.get("policy_id"));
    assert!(
        matches!(
            planned,
            Some(eksmgr_engine::model::AttrValue::Unknown { .. })
        ),
        "{planned:?}"
    );
    let doc = to_value(&plan);
    let att = change(&doc, &address);
    assert_eq!(att["after_unknown"], json!(["policy_id"]));
    assert_eq!(att["after"]["policy_id"], Value::Null);
    assert!(
        att["after"]
            .as_object()
            .is_some_and(|a| a.contains_key("policy_id"))
    );
    assert_eq!(att["after"]["target_id"], "ou-abcd-11111111");
    assert_eq!(att["before"], Value::Null);
    assert_eq!(att["id"], Value::Null);
    assert_eq!(
        att["changed_attributes"],
        json!([
            {"name": "policy_id", "forces_replacement": false},
            {"name": "policy_name", "forces_replacement": false},
            {"name": "target_id", "forces_replacement": false}
        ])
    );
    // Nothing else is unknown.
    for c in doc["resource_changes"].as_array().into_iter().flatten() {
        if c["address"] != address {
            assert_eq!(c["after_unknown"], json!([]), "{c:#}");
        }
    }
}

#[test]
fn policy_documents_are_parsed_objects() {
    let doc = to_value(&mixed_plan());
    let role = change(&doc, &format!("iam_role.EKSManagerAgentRole[{HUB}]"));
    // IAM's URL-encoded text, decoded and parsed as it was written.
    assert_eq!(
        role["before"]["assume_role_policy"],
        trust("arn:aws:iam::999999999999:root")
    );
    assert_eq!(
        role["before"]["inline_policies"],
        json!({"EKSManagerAgent": agent_inline_policy()})
    );
    assert_eq!(role["after"]["assume_role_policy"], trust(&hub_root()));
    // CloudFormation's and KMS's JSON text, parsed.
    let stack_set = change(
        &doc,
        &format!("stack_set.EKSManagerSpokeAdmin[{MGMT}/{REGION}]"),
    );
    assert_eq!(stack_set["before"]["template_body"], template());
    let key = change(&doc, &format!("kms_key.workloads[{SPOKE}/{REGION}]"));
    assert!(
        key["before"]["key_policy"]["Statement"].is_array(),
        "{key:#}"
    );
    // Every policy-typed attribute of every change, whatever its kind.
    let mut seen = 0;
    for c in doc["resource_changes"].as_array().into_iter().flatten() {
        let kind = c["kind"].as_str().and_then(ResourceKind::parse);
        let Some(kind) = kind else {
            panic!("unknown kind in {c:#}");
        };
        for side in ["before", "after"] {
            let Some(attrs) = c[side].as_object() else {
                continue;
            };
            for (name, v) in attrs {
                match schema::attribute(kind, name).ty {
                    AttrType::Policy | AttrType::Document => {
                        assert!(v.is_object(), "{}.{side}.{name}: {v}", c["address"]);
                        seen += 1;
                    }
                    AttrType::PolicyMap => {
                        let docs = v.as_object().cloned().unwrap_or_default();
                        assert!(!docs.is_empty(), "{}.{side}.{name}: {v}", c["address"]);
                        for (n, d) in docs {
                            assert!(d.is_object(), "{}.{side}.{name}.{n}: {d}", c["address"]);
                        }
                        seen += 1;
                    }
                    AttrType::Value | AttrType::Set => {}
                }
            }
        }
    }
    assert!(seen >= 8, "only {seen} policy attributes checked");
}

#[test]
fn unparseable_documents_are_kept_as_text() {
    let mut plan = mixed_plan();
    let role = plan
        .changes
        .iter_mut()
        .find(|c| c.kind == ResourceKind::IamRole)
        .and_then(|c| c.before.as_mut());
    let Some(before) = role else {
        panic!("no role change");
    };
    std::sync::Arc::make_mut(before).insert("assume_role_policy".into(), json!("not a policy"));
    let doc = to_value(&plan);
    let role = change(&doc, &format!("iam_role.EKSManagerAgentRole[{HUB}]"));
    assert_eq!(role["before"]["assume_role_policy"], "not a policy");
}

#[test]
fn drift_is_reported_with_parsed_policies() {
    let doc = to_value(&mixed_plan());
    assert_eq!(
        addresses(&doc["drift"]),
        [
            format!("iam_role.EKSManagerAgentRole[{HUB}]"),
            format!("ecr_repository.old/app[{HUB}/{REGION}]"),
        ]
    );
    let role = &doc["drift"][0];
    assert_eq!(role["account"], HUB);
    assert_eq!(role["deleted"], false);
    let changed = role["changed_attributes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(changed[0]["name"], "assume_role_policy");
    // Canonical form: objects, principals as lists.
    assert_eq!(
        changed[0]["before"]["Statement"][0]["Principal"]["AWS"],
        json!([hub_root()])
    );
    assert_eq!(
        changed[0]["after"]["Statement"][0]["Principal"]["AWS"],
        json!(["arn:aws:iam::999999999999:root"])
    );
    let gone = &doc["drift"][1];
    assert_eq!(gone["deleted"], true);
    assert_eq!(gone["changed_attributes"], json!([]));
}

#[test]
fn deferred_resources_say_what_they_await() {
    let doc = to_value(&mixed_plan());
    let deferred = doc["deferred"].as_array().cloned().unwrap_or_default();
    assert_eq!(deferred.len(), 2, "{deferred:#?}");
    let awaiting = deferred
        .iter()
        .find(|d| d["address"] == format!("kms_key.workloads[{NEW_SPOKE}/{REGION}]"))
        .unwrap_or_else(|| panic!("{deferred:#?}"));
    assert_eq!(
        awaiting["awaiting"],
        format!("iam_role.EKSManagerAgentRole[{HUB}]")
    );
    assert_eq!(awaiting["account"], NEW_SPOKE);
    let unreadable = deferred
        .iter()
        .find(|d| d["address"] == format!("ecr_repository.team/svc[{SPOKE}/{REGION}]"))
        .unwrap_or_else(|| panic!("{deferred:#?}"));
    assert_eq!(unreadable["awaiting"], Value::Null);
    assert!(
        unreadable["reason"]
            .as_str()
            .is_some_and(|r| r.contains("AccessDenied") && r.contains("hint:")),
        "{unreadable:#}"
    );
}

#[test]
fn problems_and_warnings_are_passed_on() {
    let plan = mixed_plan();
    let doc = to_value(&plan);
    assert_eq!(doc["problems"], json!(plan.problems));
    assert_eq!(doc["warnings"], json!(plan.warnings));
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert_eq!(plan.problems.len(), 1, "{:?}", plan.problems);
}

#[test]
fn saved_plans_render_like_the_plan_they_hold() {
    for (name, plan) in all_plans() {
        let saved = SavedPlan::new(
            PlanIdentity {
                management_account_id: MGMT.into(),
                partition: "aws".into(),
                hub_account_id: HUB.into(),
            },
            plan.clone(),
        );
        let text = match serde_json::to_string(&saved) {
            Ok(t) => t,
            Err(e) => panic!("{name}: {e}"),
        };
        let back: SavedPlan = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(
            to_value(&back.plan),
            to_value(&plan),
            "{name}: a saved plan must render like the plan"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

fn schema() -> Value {
    match serde_json::from_str(SCHEMA) {
        Ok(v) => v,
        Err(e) => panic!("docs/plan-json.schema.json is not JSON: {e}"),
    }
}

/// The schema with every object type that names its properties closed
/// (`additionalProperties: false`) unless it says otherwise: the published schema accepts
/// unknown properties for forward compatibility; the tests make sure nothing is emitted that
/// it does not describe.
fn strict(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            let object_type = match m.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            if object_type
                && m.contains_key("properties")
                && !m.contains_key("additionalProperties")
            {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(m.into_iter().map(|(k, v)| (k, strict(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(strict).collect()),
        other => other,
    }
}

fn validator(schema: &Value) -> jsonschema::Validator {
    match jsonschema::draft202012::new(schema) {
        Ok(v) => v,
        Err(e) => panic!("the schema does not compile: {e}"),
    }
}

/// Every validation error, one per line, with where it is.
fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_schema_is_a_valid_2020_12_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let meta = jsonschema::draft202012::meta::validate(&schema);
    assert!(meta.is_ok(), "{meta:?}");
}

#[test]
fn rendered_plans_match_the_schema() {
    let published = validator(&schema());
    let strict = validator(&strict(schema()));
    for (name, plan) in all_plans() {
        let doc = to_value(&plan);
        assert_eq!(errors(&published, &doc), Vec::<String>::new(), "{name}");
        assert_eq!(errors(&strict, &doc), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn the_schema_rejects_what_the_format_forbids() {
    let published = validator(&schema());
    let strict = validator(&strict(schema()));
    let good = to_value(&mixed_plan());
    assert!(strict.is_valid(&good));
    let role = format!("iam_role.EKSManagerAgentRole[{HUB}]");
    let index = |address: &str| {
        addresses(&good["resource_changes"])
            .iter()
            .position(|a| a == address)
            .unwrap_or_else(|| panic!("no {address}"))
    };
    let r = index(&role);
    let att = index(&format!(
        "org_policy_attachment.EKSManagerDenyPolicy:ou-abcd-11111111[{MGMT}]"
    ));
    let key = index(&format!("kms_key.workloads[{SPOKE}/{REGION}]"));
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "a policy as IAM's text",
            Box::new(move |d| {
                d["resource_changes"][r]["before"]["assume_role_policy"] = url_encoded(&trust("x"))
            }),
        ),
        (
            "an inline policy as text",
            Box::new(move |d| {
                d["resource_changes"][r]["after"]["inline_policies"]["EKSManagerAgent"] =
                    json!(agent_inline_policy().to_string())
            }),
        ),
        (
            "a drifted policy as text",
            Box::new(|d| {
                d["drift"][0]["changed_attributes"][0]["after"] = json!("{\"Statement\":[]}")
            }),
        ),
        (
            "a missing field",
            Box::new(|d| {
                if let Some(o) = d.as_object_mut() {
                    o.remove("errors");
                }
            }),
        ),
        (
            "another action",
            Box::new(move |d| d["resource_changes"][r]["action"] = json!("no_op")),
        ),
        (
            "a replace reason on a create",
            Box::new(move |d| d["resource_changes"][att]["replace_reason"] = json!("why")),
        ),
        (
            "a replace without a reason",
            Box::new(move |d| d["resource_changes"][r]["replace_reason"] = Value::Null),
        ),
        (
            "after on a delete",
            Box::new(move |d| d["resource_changes"][key]["after"] = json!({})),
        ),
        (
            "a blocked change without errors",
            Box::new(|d| d["errors"] = json!(false)),
        ),
        (
            "a change listed without changes",
            Box::new(|d| d["changes"] = json!(false)),
        ),
        (
            "an unknown value as a string",
            Box::new(move |d| d["resource_changes"][att]["after_unknown"] = json!("policy_id")),
        ),
        (
            "a bad address",
            Box::new(|d| d["deferred"][0]["awaiting"] = json!("iam_role EKSManagerAgentRole")),
        ),
        (
            "a bad format version",
            Box::new(|d| d["format_version"] = json!("2.0")),
        ),
        (
            "a deleted drift with attributes",
            Box::new(|d| {
                d["drift"][1]["changed_attributes"] =
                    json!([{"name": "tags", "before": null, "after": {}}])
            }),
        ),
    ];
    for (what, edit) in &cases {
        let mut doc = good.clone();
        edit(&mut doc);
        assert_ne!(doc, good, "{what}: the edit changed nothing");
        assert!(!published.is_valid(&doc), "{what}: accepted by the schema");
    }
    // Unknown properties: accepted by the published schema (later 1.x documents), refused by
    // the strict one (this version emits nothing undocumented).
    let mut doc = good.clone();
    doc["resource_changes"][r]["undocumented"] = json!(1);
    assert!(published.is_valid(&doc));
    assert!(!strict.is_valid(&doc));
    // Attribute maps stay open in both.
    let mut doc = good;
    doc["resource_changes"][r]["after"]["new_attribute"] = json!(1);
    assert!(strict.is_valid(&doc));
}

/// The names of the policy-typed attributes per kind, as the engine's schema has them.
fn engine_policy_attributes() -> BTreeSet<(String, String, &'static str)> {
    let mut out = BTreeSet::new();
    for kind in ResourceKind::ALL {
        for a in schema::attributes(*kind) {
            let def = match a.ty {
                AttrType::Policy => "#/$defs/policy_document",
                AttrType::PolicyMap => "#/$defs/policy_map",
                AttrType::Document => "#/$defs/json_document",
                AttrType::Value | AttrType::Set => continue,
            };
            out.insert((kind.as_str().to_string(), a.name.to_string(), def));
        }
    }
    out
}

/// The `(if, then)` pairs of a schema's `allOf`, or the schema itself when it is one.
fn conditions(v: &Value) -> Vec<(&Value, &Value)> {
    let mut out: Vec<(&Value, &Value)> = v["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.get("if").is_some())
        .map(|c| (&c["if"], &c["then"]))
        .collect();
    if v.get("if").is_some() {
        out.push((&v["if"], &v["then"]));
    }
    out
}

#[test]
fn the_schema_knows_every_policy_attribute() {
    let schema = schema();
    let defs = &schema["$defs"];
    let kinds: BTreeSet<String> = engine_policy_attributes()
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    let mut before_after = BTreeSet::new();
    let mut drift = BTreeSet::new();
    for kind in &kinds {
        // resource_change applies attributes_<kind> to before and after of its kind ...
        let applied = conditions(&defs["resource_change"])
            .into_iter()
            .any(|(i, t)| {
                i["properties"]["kind"]["const"] == kind.as_str()
                    && ["before", "after"].iter().all(|side| {
                        t["properties"][side]["$ref"] == format!("#/$defs/attributes_{kind}")
                    })
            });
        assert!(applied, "resource_change does not apply attributes_{kind}");
        for (attr, s) in defs[format!("attributes_{kind}")]["properties"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let target = s["$ref"].as_str().unwrap_or_default().to_string();
            before_after.insert((kind.clone(), attr.clone(), target));
        }
        // ... and drift applies drift_attribute_<kind> to the changed attributes of its kind.
        let applied = conditions(&defs["drift"]).into_iter().any(|(i, t)| {
            i["properties"]["address"]["pattern"] == format!("^{kind}\\.")
                && t["properties"]["changed_attributes"]["items"]["$ref"]
                    == format!("#/$defs/drift_attribute_{kind}")
        });
        assert!(applied, "drift does not apply drift_attribute_{kind}");
        for (i, t) in conditions(&defs[format!("drift_attribute_{kind}")]) {
            let attr = i["properties"]["name"]["const"]
                .as_str()
                .unwrap_or_default();
            for side in ["before", "after"] {
                let target = t["properties"][side]["$ref"].as_str().unwrap_or_default();
                drift.insert((kind.clone(), attr.to_string(), target.to_string()));
            }
        }
    }
    let engine: BTreeSet<(String, String, String)> = engine_policy_attributes()
        .into_iter()
        .map(|(k, a, d)| (k, a, d.to_string()))
        .collect();
    assert_eq!(before_after, engine);
    assert_eq!(drift, engine);
    // No attributes_<kind> or drift_attribute_<kind> for a kind without policies.
    for name in defs.as_object().into_iter().flatten().map(|(n, _)| n) {
        if let Some(kind) = name
            .strip_prefix("attributes_")
            .or_else(|| name.strip_prefix("drift_attribute_"))
        {
            assert!(kinds.contains(kind), "$defs.{name}: {kind} has no policies");
        }
    }
    // Every kind is named in the kind's description, and in the documentation.
    let described = defs["kind"]["description"].as_str().unwrap_or_default();
    for kind in ResourceKind::ALL {
        assert!(
            described.contains(kind.as_str()),
            "{kind} not in $defs.kind"
        );
        assert!(
            DOC.contains(&format!("`{kind}`")),
            "{kind} not in docs/plan-json.md"
        );
    }
}

/// Every property name the schema declares, at any depth.
fn property_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get("properties") {
                out.extend(props.keys().cloned());
            }
            for v in m.values() {
                property_names(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

/// The first ```json block of the documentation.
fn doc_example() -> Value {
    let start = DOC
        .find("```json\n")
        .map(|i| i + "```json\n".len())
        .unwrap_or_else(|| panic!("docs/plan-json.md has no ```json example"));
    let len = DOC[start..]
        .find("```")
        .unwrap_or_else(|| panic!("the example is not closed"));
    match serde_json::from_str(&DOC[start..start + len]) {
        Ok(v) => v,
        Err(e) => panic!("the example of docs/plan-json.md is not JSON: {e}"),
    }
}

#[test]
fn the_documentation_matches_the_schema() {
    let schema = schema();
    let example = doc_example();
    let strict = validator(&strict(schema.clone()));
    assert_eq!(errors(&strict, &example), Vec::<String>::new());
    assert_eq!(example["format_version"], FORMAT_VERSION);
    // Every field is documented as `name`.
    let mut names = BTreeSet::new();
    property_names(&schema, &mut names);
    // Attribute names of the per-kind conditions are documented in their table.
    assert!(names.len() > 40, "{names:?}");
    for name in names {
        assert!(
            DOC.contains(&format!("`{name}`")),
            "docs/plan-json.md does not document `{name}`"
        );
    }
    // The documented version is this one.
    assert!(DOC.contains(&format!("\"format_version\": \"{FORMAT_VERSION}\"")));
}

/// The plan of the documentation's example: the SCP's attachment was removed and the hub
/// role's trust policy changed outside eksmgr (drift, and the changes that undo it), and a
/// spoke gets a role and a pod identity association that needs that role's ARN.
fn example_plan() -> Plan {
    let scp = scp();
    let att = attachment(&scp);
    let role = role("/");
    let build_role = DesiredResource::new(ResourceKind::IamRole, "workloads-build", SPOKE, None)
        .set("name", json!("workloads-build"))
        .set("path", json!("/"))
        .set(
            "assume_role_policy",
            json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}),
        )
        .set("managed_policy_arns", json!([]));
    let association = DesiredResource::new(
        ResourceKind::EksPodIdentityAssociation,
        "workloads:build:builder",
        SPOKE,
        Some(REGION),
    )
    .set("cluster_name", json!("workloads"))
    .set("namespace", json!("build"))
    .set("service_account", json!("builder"))
    .set_ref("role_arn", &build_role.address, "arn");

    let mut state = fixed_state();
    let mut observed = Observations::new();
    record(&mut state, &scp, "p-1234abcd", scp.known_attrs());
    observed.insert(scp.address.clone(), found(&scp, "p-1234abcd"));
    let mut known = att.known_attrs();
    known.insert("policy_id".into(), json!("p-1234abcd"));
    record(&mut state, &att, "p-1234abcd:ou-abcd-11111111", known);
    observed.insert(att.address.clone(), Observation::Missing);
    record(&mut state, &role, "EKSManagerAgentRole", role.known_attrs());
    let mut now = role.known_attrs();
    now.insert(
        "assume_role_policy".into(),
        url_encoded(&trust("arn:aws:iam::999999999999:root")),
    );
    now.insert(
        "inline_policies".into(),
        json!({"EKSManagerAgent": url_encoded(&agent_inline_policy())}),
    );
    now.insert(
        "arn".into(),
        json!(format!("arn:aws:iam::{HUB}:role/EKSManagerAgentRole")),
    );
    observed.insert(
        role.address.clone(),
        found_attrs(now, "EKSManagerAgentRole"),
    );
    observed.insert(build_role.address.clone(), Observation::Missing);
    observed.insert(association.address.clone(), Observation::Missing);
    let desired = vec![scp, att, role, build_role, association];
    match Planner::plan(&desired, &state, &observed, &options()) {
        Ok(p) => p,
        Err(e) => panic!("planning failed: {e}"),
    }
}

#[test]
fn the_documentation_example_is_a_real_plan() {
    let want = serde_json::to_value(document(&example_plan(), "0.1.0")).unwrap_or_default();
    assert_eq!(
        doc_example(),
        want,
        "the example of docs/plan-json.md is not what eksmgr renders; it renders:\n{}",
        serde_json::to_string_pretty(&want).unwrap_or_default()
    );
}

#[test]
fn the_mixed_plan_in_the_human_and_markdown_views() {
    let plan = mixed_plan();
    let human_text = human::plan(&plan, Styler::plain());
    let md = markdown::plan(&plan, markdown::COMMENT_LIMIT);
    // Every resource change and every drift entry of the JSON view is in the other two.
    let doc: Value = serde_json::from_str(&render(&plan, "0.0.0-test").unwrap()).unwrap();
    for section in ["resource_changes", "drift"] {
        for c in doc[section].as_array().unwrap() {
            let addr = c["address"].as_str().unwrap();
            assert!(
                human_text.contains(addr),
                "{addr} missing from the human view"
            );
            assert!(md.contains(addr), "{addr} missing from the Markdown view");
        }
    }
    insta::assert_snapshot!("mixed_plan_human", human_text);
    insta::assert_snapshot!("mixed_plan_markdown", md);
}

#[test]
fn json_and_markdown_name_the_same_risks() {
    use eksmgr_engine::risk::Risk;
    for plan in [mixed_plan(), destroy_plan(), example_plan()] {
        let doc = serde_json::to_value(document(&plan, "0.1.0")).unwrap_or_default();
        let mut from_json = BTreeSet::new();
        for c in doc["resource_changes"].as_array().into_iter().flatten() {
            for r in c["risks"].as_array().into_iter().flatten() {
                let risk: Risk = match serde_json::from_value(r.clone()) {
                    Ok(risk) => risk,
                    Err(e) => panic!("{r} is not a risk: {e}"),
                };
                let address = c["address"].as_str().unwrap_or_default();
                from_json.insert((address.to_string(), risk.label().to_string()));
            }
        }
        let md = markdown::plan(&plan, markdown::COMMENT_LIMIT);
        let from_markdown: BTreeSet<(String, String)> = md
            .lines()
            .filter_map(|l| l.strip_prefix("- :warning: **"))
            .filter_map(|l| l.split_once("**: `"))
            .map(|(label, rest)| (rest.trim_end_matches('`').to_string(), label.to_string()))
            .collect();
        assert_eq!(from_json, from_markdown, "{md}");
    }
    // The mixed plan has some: the comparison is not of two empty sets.
    let doc = serde_json::to_value(document(&mixed_plan(), "0.1.0")).unwrap_or_default();
    let any = doc["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["risks"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(any, "the mixed plan carries risks");
}

#[test]
fn every_view_words_the_same_reasons_and_notes() {
    let mut seen = BTreeSet::new();
    for plan in [mixed_plan(), destroy_plan(), example_plan()] {
        let doc = serde_json::to_value(document(&plan, "0.1.0")).unwrap_or_default();
        let md = markdown::plan(&plan, markdown::COMMENT_LIMIT);
        let text = human::plan(&plan, Styler::plain());
        for c in doc["resource_changes"].as_array().into_iter().flatten() {
            let address = c["address"].as_str().unwrap_or_default();
            let notes: Vec<&str> = c["notes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let details: Vec<&str> = c["note_details"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    seen.insert(d["code"].as_str().unwrap_or_default().to_string());
                    d["text"].as_str().unwrap_or_default()
                })
                .collect();
            assert_eq!(notes, details, "{address}: notes and their details");
            for note in notes {
                assert!(md.contains(note), "{address}: the Markdown lacks {note:?}");
                assert!(
                    text.contains(note),
                    "{address}: the human view lacks {note:?}"
                );
            }
            let reason = &c["reason"];
            if let Some(code) = reason["code"].as_str() {
                seen.insert(code.to_string());
                let said = reason["text"].as_str().unwrap_or_default();
                // An adoption is said by the headline ("adopt" in both views).
                if code != "adopted" {
                    assert!(md.contains(said), "{address}: the Markdown lacks {said:?}");
                    assert!(
                        text.contains(said),
                        "{address}: the human view lacks {said:?}"
                    );
                }
                if c["action"] == "replace" {
                    assert_eq!(c["replace_reason"], reason["text"], "{address}");
                }
            }
        }
    }
    // The plans carry reasons and notes of several codes: the comparison is not empty.
    for code in [
        "gone_from_aws",
        "key_deletion_scheduled",
        "forces_replacement",
    ] {
        assert!(seen.contains(code), "no {code} in the plans: {seen:?}");
    }
}
