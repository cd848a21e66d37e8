//! End-to-end tests of the machine-readable plan: `eksmgr plan --json` and
//! `eksmgr show --json FILE` run by the real binary against moto, on the governance sections of
//! the example configuration (as `tests/governance.rs` sets them up). Every document printed is
//! parsed and validated against `docs/plan-json.schema.json`; drift made out of band through the
//! AWS SDK must show in `drift`, with IAM's URL-encoded policy documents parsed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_organizations::types::PolicyType;
use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::GovernanceAddresses;
use eksmgr_e2e::example::governance_config as example_config;
use eksmgr_e2e::{Eksmgr, assume, repo_root, sdk_config};
use serde_json::{Value, json};

use eksmgr_e2e::R;

const MGMT: &str = "123456789012";
const SCP_NAME: &str = "EKSManagerDenyPolicy";
const AGENT_ROLE: &str = "EKSManagerAgentRole";
const ACCESS_ROLE: &str = "OrganizationAccountAccessRole";
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The example configuration's governance layer (as in tests/governance.rs)
// ---------------------------------------------------------------------------------------------

/// The estate of these tests (a hub and two spokes, the governance layer of the example), and
/// what they do with it.
struct PlanJson(Estate);

impl std::ops::Deref for PlanJson {
    type Target = Estate;
    fn deref(&self) -> &Estate {
        &self.0
    }
}

impl PlanJson {
    fn new() -> R<PlanJson> {
        Ok(PlanJson(
            Estate::builder("eksmgr-e2e-plan-json-")
                .spokes(2)
                .config(example_config)
                .timeout(RUN_TIMEOUT)
                .start()?,
        ))
    }

    /// Runs `eksmgr ARGS` expecting exit `code`, and returns its stdout parsed and validated.
    fn plan_json(&self, args: &[&str], code: i32, schema: &Schema) -> R<Value> {
        let out = self.expect(args, code)?;
        let doc: Value = serde_json::from_str(&out.stdout).map_err(|e| {
            format!(
                "`eksmgr {}`: stdout is not one JSON document: {e}\n{out}",
                args.join(" ")
            )
        })?;
        schema.check(&doc).map_err(|e| {
            format!(
                "`eksmgr {}`: the document does not match docs/plan-json.schema.json:\n{e}\n{doc:#}",
                args.join(" ")
            )
        })?;
        Ok(doc)
    }

    /// The state addresses of the governance layer.
    fn addr(&self) -> GovernanceAddresses {
        GovernanceAddresses::of(&self.seed)
    }
}

// ---------------------------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------------------------

/// `docs/plan-json.schema.json` as published, and a strict copy of it in which every object
/// type that names its properties accepts no others (unless it says so): the published schema
/// is open for later 1.x documents, but this eksmgr must emit nothing it does not describe.
struct Schema {
    published: jsonschema::Validator,
    strict: jsonschema::Validator,
}

impl Schema {
    fn load() -> R<Schema> {
        let path = repo_root().join("docs").join("plan-json.schema.json");
        let text =
            std::fs::read_to_string(&path).map_err(err(format!("read {}", path.display())))?;
        let schema: Value =
            serde_json::from_str(&text).map_err(err(format!("parse {}", path.display())))?;
        let compile = |s: &Value| {
            jsonschema::draft202012::new(s).map_err(err(format!("compile {}", path.display())))
        };
        Ok(Schema {
            published: compile(&schema)?,
            strict: compile(&strict(schema))?,
        })
    }

    fn check(&self, doc: &Value) -> R {
        let mut errors: Vec<String> = Vec::new();
        for (which, v) in [("published", &self.published), ("strict", &self.strict)] {
            errors.extend(
                v.iter_errors(doc)
                    .map(|e| format!("  ({which}) {}: {e}", e.instance_path())),
            );
        }
        ensure(errors.is_empty(), || errors.join("\n"))
    }
}

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

// ---------------------------------------------------------------------------------------------
// Reading documents
// ---------------------------------------------------------------------------------------------

fn list<'a>(doc: &'a Value, field: &str) -> &'a [Value] {
    doc[field].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn addresses(doc: &Value, field: &str) -> BTreeSet<String> {
    list(doc, field)
        .iter()
        .filter_map(|c| c["address"].as_str().map(str::to_owned))
        .collect()
}

fn entry<'a>(doc: &'a Value, field: &str, address: &str) -> R<&'a Value> {
    list(doc, field)
        .iter()
        .find(|c| c["address"] == address)
        .ok_or_else(|| format!("no {field} entry for {address} in\n{doc:#}"))
}

/// Every `Principal.AWS` of a policy document, flattened.
fn aws_principals(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in doc["Statement"].as_array().into_iter().flatten() {
        match &st["Principal"]["AWS"] {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => out.extend(a.iter().filter_map(|v| v.as_str().map(str::to_owned))),
            _ => {}
        }
    }
    out
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(got: T, want: T, what: &str) -> R {
    ensure(got == want, || {
        format!("{what}: expected {want:?}, got {got:?}")
    })
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn plan_json_shows_changes_and_drift() -> R {
    let schema = Schema::load()?;
    let estate = PlanJson::new()?;

    // --- the first plan: five creates ---
    let doc = estate.plan_json(&["plan", "--json"], 0, &schema)?;
    let out = estate.expect(&["--version"], 0)?;
    // `eksmgr 0.1.0 (commit ..., target)`: the version is the second word.
    let version = out.stdout.split_whitespace().nth(1).unwrap_or_default();
    expect_eq(
        doc["format_version"].as_str(),
        Some("1.3"),
        "format_version",
    )?;
    expect_eq(
        doc["eksmgr_version"].as_str(),
        Some(version),
        "eksmgr_version",
    )?;
    expect_eq(
        &doc["summary"],
        &json!({"add": 7, "change": 0, "destroy": 0, "adopt": 0, "forget": 0}),
        "first summary",
    )?;
    expect_eq(
        (&doc["changes"], &doc["errors"]),
        (&json!(true), &json!(false)),
        "first plan: (changes, errors)",
    )?;
    // A new organization: its prerequisites are planned too.
    let all: BTreeSet<String> = [
        format!("org_policy_type.SERVICE_CONTROL_POLICY[{MGMT}]"),
        format!("stack_set_trusted_access.organizations[{MGMT}/us-east-1]"),
        estate.addr().scp,
        estate.addr().attachment,
        estate.addr().stack_set,
        estate.addr().instances,
        estate.addr().agent_role,
    ]
    .into();
    expect_eq(addresses(&doc, "resource_changes"), all, "first plan")?;
    for c in list(&doc, "resource_changes") {
        expect_eq(c["action"].as_str(), Some("create"), "first plan action")?;
    }
    expect_eq(list(&doc, "drift").len(), 0, "first plan drift")?;
    // The attachment needs the id of the SCP this apply creates.
    let att = entry(&doc, "resource_changes", &estate.addr().attachment)?;
    expect_eq(
        &att["after_unknown"],
        &json!(["policy_id"]),
        "after_unknown",
    )?;
    expect_eq(
        &att["after"]["policy_id"],
        &Value::Null,
        "unknown policy_id",
    )?;
    // Policy documents are objects.
    let role = entry(&doc, "resource_changes", &estate.addr().agent_role)?;
    let hub_root = format!("arn:aws:iam::{}:root", estate.seed.hub_account_id);
    expect_eq(
        aws_principals(&role["after"]["assume_role_policy"]),
        vec![hub_root.clone()],
        "the role's trust policy after apply",
    )?;
    let inline = role["after"]["inline_policies"]
        .as_object()
        .ok_or_else(|| format!("inline_policies is not an object: {role:#}"))?;
    ensure(
        !inline.is_empty() && inline.values().all(Value::is_object),
        || format!("inline policies should be objects: {role:#}"),
    )?;
    let scp = entry(&doc, "resource_changes", &estate.addr().scp)?;
    ensure(scp["after"]["content"]["Statement"].is_array(), || {
        format!("the SCP content should be an object: {scp:#}")
    })?;
    let ss = entry(&doc, "resource_changes", &estate.addr().stack_set)?;
    ensure(
        ss["after"]["template_body"]["Resources"].is_object(),
        || format!("the template should be an object: {ss:#}"),
    )?;

    // --detailed-exitcode works the same with --json.
    estate.plan_json(&["plan", "--json", "--detailed-exitcode"], 2, &schema)?;

    // --- applied: nothing to do ---
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let doc = estate.plan_json(&["plan", "--json", "--detailed-exitcode"], 0, &schema)?;
    expect_eq(list(&doc, "resource_changes").len(), 0, "converged changes")?;
    expect_eq(list(&doc, "drift").len(), 0, "converged drift")?;
    expect_eq(&doc["changes"], &json!(false), "converged")?;

    // --- out of band: the SCP detached, the hub role trusting someone else ---
    let org = aws_sdk_organizations::Client::new(&sdk_config(estate.moto.endpoint()));
    let policies = org
        .list_policies()
        .filter(PolicyType::ServiceControlPolicy)
        .send()
        .await
        .map_err(sdk_err("organizations:ListPolicies"))?;
    let scp_id = policies
        .policies()
        .iter()
        .find(|p| p.name() == Some(SCP_NAME))
        .and_then(|p| p.id())
        .ok_or("the SCP does not exist after apply")?
        .to_owned();
    org.detach_policy()
        .policy_id(&scp_id)
        .target_id(&estate.seed.eks_ou_id)
        .send()
        .await
        .map_err(sdk_err("organizations:DetachPolicy"))?;
    let intruder = format!("arn:aws:iam::{MGMT}:root");
    let rogue = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": intruder}, "Action": "sts:AssumeRole"}]
    });
    let hub = assume(
        estate.moto.endpoint(),
        &estate.seed.hub_account_id,
        ACCESS_ROLE,
    )
    .await?;
    aws_sdk_iam::Client::new(&hub)
        .update_assume_role_policy()
        .role_name(AGENT_ROLE)
        .policy_document(rogue.to_string())
        .send()
        .await
        .map_err(sdk_err("iam:UpdateAssumeRolePolicy"))?;

    let doc = estate.plan_json(&["plan", "--json", "--detailed-exitcode"], 2, &schema)?;
    expect_eq(
        addresses(&doc, "drift"),
        [estate.addr().attachment, estate.addr().agent_role].into(),
        "drifted",
    )?;
    let gone = entry(&doc, "drift", &estate.addr().attachment)?;
    expect_eq(&gone["deleted"], &json!(true), "attachment deleted")?;
    let drift = entry(&doc, "drift", &estate.addr().agent_role)?;
    expect_eq(&drift["deleted"], &json!(false), "role deleted")?;
    expect_eq(
        drift["account"].as_str(),
        Some(estate.seed.hub_account_id.as_str()),
        "drift account",
    )?;
    let trust = list(drift, "changed_attributes")
        .iter()
        .find(|a| a["name"] == "assume_role_policy")
        .ok_or_else(|| format!("the trust policy drift is missing: {drift:#}"))?;
    expect_eq(
        aws_principals(&trust["before"]),
        vec![hub_root.clone()],
        "trust recorded",
    )?;
    expect_eq(
        aws_principals(&trust["after"]),
        vec![intruder.clone()],
        "trust now",
    )?;
    // The changes that undo it; IAM's document (URL-encoded by IAM) parsed in before.
    expect_eq(
        &doc["summary"],
        &json!({"add": 1, "change": 1, "destroy": 0, "adopt": 0, "forget": 0}),
        "drift summary",
    )?;
    let att = entry(&doc, "resource_changes", &estate.addr().attachment)?;
    expect_eq(att["action"].as_str(), Some("create"), "attachment action")?;
    expect_eq(
        att["after"]["policy_id"].as_str(),
        Some(scp_id.as_str()),
        "the SCP's id is known now",
    )?;
    let role = entry(&doc, "resource_changes", &estate.addr().agent_role)?;
    expect_eq(role["action"].as_str(), Some("update"), "role action")?;
    expect_eq(
        aws_principals(&role["before"]["assume_role_policy"]),
        vec![intruder.clone()],
        "the role's trust policy now",
    )?;
    expect_eq(
        aws_principals(&role["after"]["assume_role_policy"]),
        vec![hub_root],
        "the role's trust policy after apply",
    )?;
    expect_eq(
        &role["changed_attributes"],
        &json!([{"name": "assume_role_policy", "forces_replacement": false}]),
        "role changed attributes",
    )?;
    let inline = role["before"]["inline_policies"]
        .as_object()
        .ok_or_else(|| format!("inline_policies is not an object: {role:#}"))?;
    ensure(
        !inline.is_empty() && inline.values().all(Value::is_object),
        || format!("the inline policies read from IAM should be objects: {role:#}"),
    )?;

    // --- the same plan saved, shown as JSON ---
    let file = estate.dir.path().join("drift.plan");
    let file = file.to_string_lossy();
    estate.expect(&["plan", "--out", &file], 0)?;
    let shown = estate.plan_json(&["show", "--json", &file], 0, &schema)?;
    expect_eq(&shown, &doc, "show --json of the saved plan")?;
    // Without --json: the human plan.
    let human = estate.expect(&["show", &file], 0)?;
    ensure(
        human
            .stdout
            .contains("Plan: 1 to add, 1 to change, 0 to destroy."),
        || format!("show without --json prints the human plan\n{human}"),
    )?;
    Ok(())
}

#[test]
fn errors_leave_stdout_empty() -> R {
    let dir = tempfile::tempdir().map_err(err("tempdir"))?;
    // Nothing listens on port 9: nothing here may reach AWS.
    let eksmgr = Eksmgr::new(dir.path(), "http://127.0.0.1:9")?.timeout(RUN_TIMEOUT);
    eksmgr.write_config("[organization]\ncolour = \"blue\"\n")?;
    for args in [
        &["plan", "--json"][..],
        &["plan", "--json", "--detailed-exitcode"][..],
        &["show", "--json", "no-such.plan"][..],
    ] {
        let out = eksmgr.run(args)?;
        let what = format!("eksmgr {}", args.join(" "));
        expect_eq(out.code, Some(1), &what)?;
        ensure(out.stdout.is_empty(), || {
            format!("{what}: stdout should be empty\n{out}")
        })?;
        ensure(out.stderr.contains("rror"), || {
            format!("{what}: the error should be on stderr\n{out}")
        })?;
    }
    // A saved plan that is not one is refused too.
    let bogus: PathBuf = dir.path().join("bogus.plan");
    std::fs::write(&bogus, "{\"format\": \"something else\"}").map_err(err("write"))?;
    let out = eksmgr.run(&["show", "--json", &bogus.to_string_lossy()])?;
    expect_eq(
        out.code,
        Some(1),
        "show --json of a file that is not a plan",
    )?;
    ensure(out.stdout.is_empty(), || format!("{out}"))?;
    Ok(())
}
