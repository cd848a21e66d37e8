//! End-to-end tests of the governance layer: the governance sections of the example
//! configuration (`examples/eksmgr.toml`: `[organization]`, `[governance.*]`, `[hub]`, with the
//! seeded organization's ids substituted as `scripts/demo.sh` does) planned, applied, drifted,
//! adopted, locked and destroyed by the real `eksmgr` binary against moto.
//!
//! Every check of what exists in AWS goes through the AWS SDK, never through eksmgr's state.
//! Each test starts its own moto server and seeds its own organization, so they run in
//! parallel.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_organizations::types::PolicyType;
use eksmgr_e2e::check::{err, policy_document, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::GovernanceAddresses;
use eksmgr_e2e::example::{governance_config as example_config, governance_slice};
use eksmgr_e2e::{Eksmgr, Seed, assume, repo_root, sdk_config};
use serde_json::Value;

use eksmgr_e2e::R;

const MGMT: &str = "123456789012";
const SCP_NAME: &str = "EKSManagerDenyPolicy";
const STACK_SET: &str = "EKSManagerSpokeAdmin";
const AGENT_ROLE: &str = "EKSManagerAgentRole";
const AGENT_INLINE_POLICY: &str = "EKSManagerAgent";
const SPOKE_ADMIN_ROLE: &str = "EKSManagerAdmin";
const ACCESS_ROLE: &str = "OrganizationAccountAccessRole";
/// The deny statements of the seed design, in order; the example's extra statements follow.
const BUILTIN_SIDS: [&str; 5] = [
    "ProtectEKSManagerAdminRole",
    "DenyKMSKeyDeletion",
    "DenyAdminKeyUse",
    "DenyBilling",
    "DenySensitiveOrganizations",
];
/// Longest a single eksmgr run may take in these tests.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The example configuration
// ---------------------------------------------------------------------------------------------

fn example_path() -> PathBuf {
    repo_root().join("examples").join("eksmgr.toml")
}

/// The example's `[[governance.scp.extra_statements]]`, as JSON.
fn example_extra_statements() -> R<Vec<Value>> {
    let path = example_path();
    let text = std::fs::read_to_string(&path).map_err(err(format!("read {}", path.display())))?;
    let doc: Value = toml::from_str(&text).map_err(err(format!("parse {}", path.display())))?;
    let extra = doc
        .pointer("/governance/scp/extra_statements")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if extra.is_empty() {
        return Err(format!(
            "{} has no governance.scp.extra_statements any more",
            path.display()
        ));
    }
    Ok(extra)
}

// ---------------------------------------------------------------------------------------------
// One moto server, one seeded organization, one work directory
// ---------------------------------------------------------------------------------------------

/// The estate of these tests (a hub and two spokes, the governance layer of the example), and
/// what they do with it.
struct Governance(Estate);

impl std::ops::Deref for Governance {
    type Target = Estate;
    fn deref(&self) -> &Estate {
        &self.0
    }
}

impl Governance {
    fn new() -> R<Governance> {
        Ok(Governance(
            Estate::builder("eksmgr-e2e-governance-")
                .spokes(2)
                .config(example_config)
                .timeout(RUN_TIMEOUT)
                .start()?,
        ))
    }

    fn endpoint(&self) -> &str {
        self.moto.endpoint()
    }

    fn mgmt(&self) -> SdkConfig {
        sdk_config(self.endpoint())
    }

    async fn member(&self, account: &str) -> R<SdkConfig> {
        assume(self.endpoint(), account, ACCESS_ROLE).await
    }

    fn org(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.mgmt())
    }

    fn cfn(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.mgmt())
    }

    async fn hub_iam(&self) -> R<aws_sdk_iam::Client> {
        Ok(aws_sdk_iam::Client::new(
            &self.member(&self.seed.hub_account_id).await?,
        ))
    }

    fn state_path(&self) -> PathBuf {
        self.eksmgr.workdir().join("eksmgr.state.json")
    }

    fn lock_path(&self) -> PathBuf {
        self.eksmgr.workdir().join("eksmgr.state.json.lock")
    }

    fn hub_role_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role/{AGENT_ROLE}",
            self.seed.hub_account_id
        )
    }

    /// The state addresses of the governance layer.
    fn addr(&self) -> GovernanceAddresses {
        GovernanceAddresses::of(&self.seed)
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

/// A plan's stdout ready for a snapshot: every random id replaced by a placeholder, and
/// the `Account ...` blocks of each section in a fixed order.
///
/// eksmgr prints the accounts of a section in account-id order, and moto's member ids are
/// random, so the hub's block comes before or after the management account's by chance.
/// That order is checked here on the real ids, then the blocks are sorted by their
/// redacted header (`Account 123456789012` < `Account <HUB>`).
fn snapshot_text(seed: &Seed, stdout: &str, scp_id: Option<&str>) -> R<String> {
    let mut out = String::new();
    // (real account id, block text) of the run of consecutive account blocks.
    let mut group: Vec<(String, String)> = Vec::new();
    let flush = |group: &mut Vec<(String, String)>, out: &mut String| -> R {
        let ids: Vec<&String> = group.iter().map(|(id, _)| id).collect();
        if !ids.is_sorted() {
            return Err(format!(
                "account sections are not in account-id order: {ids:?}\n{stdout}"
            ));
        }
        let mut blocks: Vec<String> = group
            .drain(..)
            .map(|(_, block)| redact(seed, &block, scp_id))
            .collect();
        blocks.sort_by(|a, b| a.lines().next().cmp(&b.lines().next()));
        out.extend(blocks);
        Ok(())
    };
    for line in stdout.split_inclusive('\n') {
        if let Some(account) = line.strip_prefix("Account ") {
            group.push((account.trim_end().to_owned(), line.to_owned()));
        } else if let Some((_, block)) = group.last_mut()
            && (line.trim().is_empty() || line.starts_with(char::is_whitespace))
        {
            block.push_str(line);
        } else {
            flush(&mut group, &mut out)?;
            out.push_str(&redact(seed, line, scp_id));
        }
    }
    flush(&mut group, &mut out)?;
    Ok(out)
}

/// `text` with every random id of the seeded organization (and the SCP's id, if given)
/// replaced by a fixed placeholder.
fn redact(s: &Seed, text: &str, scp_id: Option<&str>) -> String {
    // OU ids contain the root's suffix: replace them before the root.
    let mut pairs: Vec<(String, String)> = vec![
        (s.eks_ou_id.clone(), "<EKS_OU>".into()),
        (s.shared_ou_id.clone(), "<SHARED_OU>".into()),
        (s.root_id.clone(), "<ROOT>".into()),
        (s.hub_account_id.clone(), "<HUB>".into()),
    ];
    for (i, spoke) in s.spoke_account_ids.iter().enumerate() {
        pairs.push((spoke.clone(), format!("<SPOKE_{}>", i + 1)));
    }
    if let Some(id) = scp_id {
        pairs.push((id.to_owned(), "<SCP_ID>".into()));
    }
    let mut out = text.to_owned();
    for (from, to) in pairs {
        out = out.replace(&from, &to);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// AWS reads through the SDK
// ---------------------------------------------------------------------------------------------

/// Ids of the SCPs named `name` in the management account.
async fn scps_named(org: &aws_sdk_organizations::Client, name: &str) -> R<Vec<String>> {
    let pages = org
        .list_policies()
        .filter(PolicyType::ServiceControlPolicy)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(sdk_err("organizations:ListPolicies"))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.policies())
        .filter(|p| p.name() == Some(name))
        .filter_map(|p| p.id().map(str::to_owned))
        .collect())
}

/// The id of the one SCP named [`SCP_NAME`]; an error if there are none or several.
async fn the_scp_id(org: &aws_sdk_organizations::Client) -> R<String> {
    let ids = scps_named(org, SCP_NAME).await?;
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected exactly one SCP named {SCP_NAME}, found {ids:?}"
        )),
    }
}

async fn scp_content(org: &aws_sdk_organizations::Client, id: &str) -> R<Value> {
    let out = org
        .describe_policy()
        .policy_id(id)
        .send()
        .await
        .map_err(sdk_err(format!("organizations:DescribePolicy {id}")))?;
    let content = out
        .policy()
        .and_then(|p| p.content())
        .ok_or_else(|| format!("DescribePolicy {id} returned no content"))?;
    serde_json::from_str(content).map_err(err(format!(
        "the content of SCP {id} is not JSON: {content}"
    )))
}

fn sids(doc: &Value) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["Sid"].as_str().unwrap_or("<no Sid>").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The SCP content is what the configuration asks for: the five built-in statements, then
/// the example's extra statements verbatim.
fn assert_scp_content_is_desired(doc: &Value) -> R {
    let extra = example_extra_statements()?;
    let mut want: Vec<String> = BUILTIN_SIDS.iter().map(|s| (*s).to_owned()).collect();
    want.extend(sids(&serde_json::json!({ "Statement": extra.clone() })));
    let got = sids(doc);
    if got != want {
        return Err(format!(
            "SCP statements: expected Sids {want:?}, got {got:?}\n{doc:#}"
        ));
    }
    let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
    let tail = &statements[BUILTIN_SIDS.len()..];
    if tail != extra.as_slice() {
        return Err(format!(
            "the SCP's extra statements differ from the example's:\n  got  {}\n  want {}",
            Value::Array(tail.to_vec()),
            Value::Array(extra)
        ));
    }
    if doc["Version"] != "2012-10-17" {
        return Err(format!("SCP Version: {}", doc["Version"]));
    }
    Ok(())
}

/// Names of the SCPs attached to `target`, other than `FullAWSAccess` (which AWS, and moto,
/// attach to every new OU).
async fn scps_on(org: &aws_sdk_organizations::Client, target: &str) -> R<Vec<String>> {
    let out = org
        .list_policies_for_target()
        .target_id(target)
        .filter(PolicyType::ServiceControlPolicy)
        .send()
        .await
        .map_err(sdk_err(format!(
            "organizations:ListPoliciesForTarget {target}"
        )))?;
    Ok(out
        .policies()
        .iter()
        .filter_map(|p| p.name().map(str::to_owned))
        .filter(|name| name != "FullAWSAccess")
        .collect())
}

async fn stack_set(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> R<Option<aws_sdk_cloudformation::types::StackSet>> {
    match cfn.describe_stack_set().stack_set_name(name).send().await {
        Ok(out) => Ok(out.stack_set().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_stack_set_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_err(format!("cloudformation:DescribeStackSet {name}"))(
            e,
        )),
    }
}

/// Accounts that have a stack instance of `name`, sorted.
async fn stack_instance_accounts(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
) -> R<Vec<String>> {
    let out = cfn
        .list_stack_instances()
        .stack_set_name(name)
        .send()
        .await
        .map_err(sdk_err(format!("cloudformation:ListStackInstances {name}")))?;
    let mut accounts: Vec<String> = out
        .summaries()
        .iter()
        .filter_map(|s| s.account().map(str::to_owned))
        .collect();
    accounts.sort();
    Ok(accounts)
}

async fn get_role(iam: &aws_sdk_iam::Client, name: &str) -> R<Option<aws_sdk_iam::types::Role>> {
    match iam.get_role().role_name(name).send().await {
        Ok(out) => Ok(out.role().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_err(format!("iam:GetRole {name}"))(e)),
    }
}

/// An IAM policy document as IAM returns it: JSON, possibly URL-encoded.
async fn trust_policy(iam: &aws_sdk_iam::Client, role: &str) -> R<Value> {
    let role = get_role(iam, role)
        .await?
        .ok_or_else(|| format!("role {role} does not exist"))?;
    policy_document(
        role.assume_role_policy_document()
            .ok_or("GetRole returned no AssumeRolePolicyDocument")?,
    )
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

/// The hub agent role as desired: trusts the hub root, carries the `EKSManagerAgent` inline
/// policy.
async fn assert_hub_role_is_desired(estate: &Governance) -> R {
    let iam = estate.hub_iam().await?;
    let trust = trust_policy(&iam, AGENT_ROLE).await?;
    let hub_root = format!("arn:aws:iam::{}:root", estate.seed.hub_account_id);
    if aws_principals(&trust) != vec![hub_root.clone()] {
        return Err(format!(
            "the hub role should trust exactly {hub_root}, its trust policy is {trust:#}"
        ));
    }
    let inline = iam
        .list_role_policies()
        .role_name(AGENT_ROLE)
        .send()
        .await
        .map_err(sdk_err("iam:ListRolePolicies"))?;
    if inline.policy_names() != [AGENT_INLINE_POLICY] {
        return Err(format!(
            "the hub role's inline policies: {:?}",
            inline.policy_names()
        ));
    }
    let policy = iam
        .get_role_policy()
        .role_name(AGENT_ROLE)
        .policy_name(AGENT_INLINE_POLICY)
        .send()
        .await
        .map_err(sdk_err("iam:GetRolePolicy"))?;
    let doc = policy_document(policy.policy_document())?;
    let got = sids(&doc);
    if !got.iter().any(|s| s == "AssumeSpokeAdminRoles") {
        return Err(format!(
            "the agent inline policy lacks AssumeSpokeAdminRoles: {doc:#}"
        ));
    }
    Ok(())
}

fn assert_contains(haystack: &str, needle: &str, what: &str) -> R {
    if haystack.contains(needle) {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected to find {needle:?} in:\n{haystack}"
        ))
    }
}

fn assert_lacks(haystack: &str, needle: &str, what: &str) -> R {
    if haystack.contains(needle) {
        Err(format!("{what}: did not expect {needle:?} in:\n{haystack}"))
    } else {
        Ok(())
    }
}

/// The `Plan: ...` summary line of a plan's stdout.
fn summary_line(stdout: &str) -> Option<&str> {
    stdout.lines().rev().find(|l| l.starts_with("Plan:"))
}

// ---------------------------------------------------------------------------------------------
// 1. The whole life cycle
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_replan_destroy() -> R {
    let started = Instant::now();
    let estate = Governance::new()?;
    let seed = &estate.seed;

    let out = estate.expect(&["validate"], 0)?;
    assert_contains(
        &out.stdout,
        "is valid (7 resources for the accounts it names)",
        "validate",
    )?;

    // A new organization: the SCP policy type and StackSets' trusted access are planned too.
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    assert_eq!(
        summary_line(&plan.stdout),
        Some("Plan: 7 to add, 0 to change, 0 to destroy."),
        "{plan}"
    );
    for address in estate.addr().all() {
        assert_contains(
            &plan.stdout,
            &format!("# {address} will be created"),
            "first plan",
        )?;
    }
    assert_contains(&plan.stdout, &format!("Account {MGMT}"), "first plan")?;
    assert_contains(
        &plan.stdout,
        &format!("Account {}", seed.hub_account_id),
        "first plan",
    )?;
    // Planning creates nothing.
    assert!(scps_named(&estate.org(), SCP_NAME).await?.is_empty());

    let apply = estate.expect(&["apply", "--auto-approve"], 0)?;
    assert_contains(
        &apply.stdout,
        "Apply complete! Resources: 7 added, 0 changed, 0 destroyed.",
        "apply",
    )?;
    assert!(!estate.lock_path().exists(), "apply left its lock file");

    // --- what exists in AWS, read through the SDK ---
    let org = estate.org();
    let scp_id = the_scp_id(&org).await?;
    let content = scp_content(&org, &scp_id).await?;
    assert_scp_content_is_desired(&content)?;
    assert_eq!(
        scps_on(&org, &seed.eks_ou_id).await?,
        vec![SCP_NAME.to_owned()],
        "the SCP should be attached to the eks OU"
    );
    assert!(
        !scps_on(&org, &seed.shared_ou_id)
            .await?
            .contains(&SCP_NAME.to_owned()),
        "the SCP must not be attached to the shared OU"
    );

    let cfn = estate.cfn();
    let ss = stack_set(&cfn, STACK_SET)
        .await?
        .ok_or("the stack set does not exist after apply")?;
    assert_eq!(
        ss.permission_model().map(|p| p.as_str()),
        Some("SERVICE_MANAGED")
    );
    let template: Value = serde_json::from_str(ss.template_body().unwrap_or_default())
        .map_err(err("the stack set template is not JSON"))?;
    let trust =
        &template["Resources"]["EKSManagerAdminRole"]["Properties"]["AssumeRolePolicyDocument"];
    assert_eq!(
        aws_principals(trust),
        vec![estate.hub_role_arn()],
        "{template:#}"
    );
    assert_eq!(
        template["Resources"]["EKSManagerAdminRole"]["Properties"]["RoleName"],
        SPOKE_ADMIN_ROLE
    );
    let mut spokes = seed.spoke_account_ids.clone();
    spokes.sort();
    assert_eq!(stack_instance_accounts(&cfn, STACK_SET).await?, spokes);

    // moto's service-managed stack instances really run the template in each spoke: the
    // spoke admin role exists there, trusting the hub agent role.
    for spoke in &seed.spoke_account_ids {
        let iam = aws_sdk_iam::Client::new(&estate.member(spoke).await?);
        let trust = trust_policy(&iam, SPOKE_ADMIN_ROLE)
            .await
            .map_err(|e| format!("spoke {spoke}: {e}"))?;
        assert_eq!(aws_principals(&trust), vec![estate.hub_role_arn()]);
    }

    assert_hub_role_is_desired(&estate).await?;
    let mgmt_iam = aws_sdk_iam::Client::new(&estate.mgmt());
    assert!(
        get_role(&mgmt_iam, AGENT_ROLE).await?.is_none(),
        "the hub agent role must not be created in the management account"
    );

    // --- converged ---
    let replan = estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    assert_contains(&replan.stdout, "No changes.", "re-plan")?;
    assert_lacks(&replan.stdout, "Drift", "re-plan")?;

    // --- the state file ---
    let state_path = estate.state_path();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state_path)
            .map_err(err("state file metadata"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "state file mode {mode:o}");
    }
    let state = std::fs::read_to_string(&state_path).map_err(err("read state"))?;
    let lower = state.to_lowercase();
    for secret in [
        eksmgr_e2e::TEST_SECRET_ACCESS_KEY,
        "secret_access_key",
        "secretaccesskey",
        "session_token",
        "sessiontoken",
        "access_key_id",
        "accesskeyid",
    ] {
        assert!(
            !lower.contains(&secret.to_lowercase()),
            "the state file contains {secret:?}"
        );
    }

    // --- destroy ---
    destroy_all(&estate).await?;
    assert!(scps_named(&org, SCP_NAME).await?.is_empty(), "SCP left");
    assert!(scps_on(&org, &seed.eks_ou_id).await?.is_empty());
    assert!(
        stack_set(&cfn, STACK_SET).await?.is_none(),
        "stack set left"
    );
    let hub_iam = estate.hub_iam().await?;
    assert!(
        get_role(&hub_iam, AGENT_ROLE).await?.is_none(),
        "hub role left"
    );
    for spoke in &seed.spoke_account_ids {
        let iam = aws_sdk_iam::Client::new(&estate.member(spoke).await?);
        assert!(
            get_role(&iam, SPOKE_ADMIN_ROLE).await?.is_none(),
            "spoke admin role left in {spoke}"
        );
    }

    // The organization prerequisites stayed (destroy never disables them): adopted again.
    let after = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    assert_eq!(
        summary_line(&after.stdout),
        Some("Plan: 5 to add, 0 to change, 0 to destroy, 2 to adopt."),
        "{after}"
    );
    eprintln!("plan_apply_replan_destroy took {:?}", started.elapsed());
    Ok(())
}

/// `eksmgr destroy --auto-approve`, as users run it: the emulator removes a service-managed
/// StackSet's instances by the OU targets of DeleteStackInstances (`DeploymentTargets`), as
/// AWS does, so one destroy removes everything, the StackSet last, and leaves no instance.
async fn destroy_all(estate: &Governance) -> R {
    let first = estate.expect(&["destroy", "--auto-approve"], 0)?;
    assert_contains(&first.stdout, "5 destroyed", "destroy")?;
    let left = stack_instance_accounts(&estate.cfn(), STACK_SET).await;
    if let Ok(left) = left
        && !left.is_empty()
    {
        return Err(format!(
            "stack instances left after destroy: {left:?}\n{first}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Drift
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_reported_and_repaired() -> R {
    let started = Instant::now();
    let estate = Governance::new()?;
    let seed = &estate.seed;
    estate.expect(&["apply", "--auto-approve"], 0)?;

    // Out of band: detach the SCP from the OU, and make the hub role trust someone else.
    let org = estate.org();
    let scp_id = the_scp_id(&org).await?;
    org.detach_policy()
        .policy_id(&scp_id)
        .target_id(&seed.eks_ou_id)
        .send()
        .await
        .map_err(sdk_err("organizations:DetachPolicy"))?;
    let intruder = format!("arn:aws:iam::{MGMT}:root");
    let rogue_trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": intruder},
            "Action": "sts:AssumeRole"
        }]
    });
    let hub_iam = estate.hub_iam().await?;
    hub_iam
        .update_assume_role_policy()
        .role_name(AGENT_ROLE)
        .policy_document(rogue_trust.to_string())
        .send()
        .await
        .map_err(sdk_err("iam:UpdateAssumeRolePolicy"))?;
    assert!(scps_on(&org, &seed.eks_ou_id).await?.is_empty());
    assert_eq!(
        aws_principals(&trust_policy(&hub_iam, AGENT_ROLE).await?),
        vec![intruder.clone()]
    );

    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let stdout = &plan.stdout;
    assert!(
        stdout.starts_with("Drift: objects changed outside eksmgr since the last apply"),
        "{plan}"
    );
    let (drift, actions) = stdout
        .split_once("eksmgr will perform the following actions:")
        .ok_or_else(|| format!("no actions section:\n{plan}"))?;
    assert_contains(
        drift,
        &format!("- {} was deleted outside eksmgr", estate.addr().attachment),
        "drift section",
    )?;
    assert_contains(
        drift,
        &format!("~ {} changed outside eksmgr {{", estate.addr().agent_role),
        "drift section",
    )?;
    assert_contains(drift, "~ assume_role_policy =", "drift section")?;
    assert_contains(drift, &intruder, "drift section")?;
    // Only those two drifted.
    assert_lacks(drift, &estate.addr().scp, "drift section")?;
    assert_lacks(drift, &estate.addr().stack_set, "drift section")?;
    assert_lacks(drift, &estate.addr().instances, "drift section")?;

    assert_contains(
        actions,
        &format!("# {} will be created", estate.addr().attachment),
        "actions",
    )?;
    assert_contains(
        actions,
        &format!("# {} will be updated in place", estate.addr().agent_role),
        "actions",
    )?;
    assert_eq!(
        summary_line(stdout),
        Some("Plan: 1 to add, 1 to change, 0 to destroy."),
        "{plan}"
    );

    insta::assert_snapshot!(
        "drift_plan",
        snapshot_text(&estate.seed, stdout, Some(&scp_id))?
    );

    estate.expect(&["apply", "--auto-approve"], 0)?;
    assert_eq!(
        scps_on(&org, &seed.eks_ou_id).await?,
        vec![SCP_NAME.to_owned()],
        "the SCP should be attached again"
    );
    assert_eq!(
        the_scp_id(&org).await?,
        scp_id,
        "the SCP must not be recreated"
    );
    assert_hub_role_is_desired(&estate).await?;

    let replan = estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    assert_contains(&replan.stdout, "No changes.", "re-plan")?;
    eprintln!(
        "drift_is_reported_and_repaired took {:?}",
        started.elapsed()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. Adoption of what already exists
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn adopts_existing_resources() -> R {
    let started = Instant::now();
    let estate = Governance::new()?;
    let seed = &estate.seed;

    // Out of band, before eksmgr ever ran: the hub role and an SCP of the same name.
    let hub_iam = estate.hub_iam().await?;
    let stranger_trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{MGMT}:root")},
            "Action": "sts:AssumeRole"
        }]
    });
    hub_iam
        .create_role()
        .role_name(AGENT_ROLE)
        .assume_role_policy_document(stranger_trust.to_string())
        .send()
        .await
        .map_err(sdk_err("iam:CreateRole"))?;
    let org = estate.org();
    let hand_made = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "HandMade", "Effect": "Deny", "Action": "ec2:*", "Resource": "*"}]
    });
    let pre_id = org
        .create_policy()
        .name(SCP_NAME)
        .description("made by hand")
        .r#type(PolicyType::ServiceControlPolicy)
        .content(hand_made.to_string())
        .send()
        .await
        .map_err(sdk_err("organizations:CreatePolicy"))?
        .policy()
        .and_then(|p| p.policy_summary())
        .and_then(|s| s.id())
        .map(str::to_owned)
        .ok_or("CreatePolicy returned no id")?;

    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let summary = summary_line(&plan.stdout).ok_or_else(|| format!("no summary\n{plan}"))?;
    assert_contains(summary, "to adopt", "summary")?;
    assert_contains(summary, "2 to adopt", "summary")?;
    for adopted in [estate.addr().scp, estate.addr().agent_role] {
        assert_lacks(
            &plan.stdout,
            &format!("# {adopted} will be created"),
            "adoption plan",
        )?;
        assert_contains(
            &plan.stdout,
            &format!("# {adopted} will be adopted"),
            "adoption plan",
        )?;
    }
    for created in [
        estate.addr().attachment,
        estate.addr().stack_set,
        estate.addr().instances,
    ] {
        assert_contains(
            &plan.stdout,
            &format!("# {created} will be created"),
            "adoption plan",
        )?;
    }

    estate.expect(&["apply", "--auto-approve"], 0)?;
    let scp_id = the_scp_id(&org).await?;
    assert_eq!(
        scp_id, pre_id,
        "the existing SCP should have been adopted, not replaced"
    );
    assert_scp_content_is_desired(&scp_content(&org, &scp_id).await?)?;
    assert_eq!(
        scps_on(&org, &seed.eks_ou_id).await?,
        vec![SCP_NAME.to_owned()]
    );
    assert_hub_role_is_desired(&estate).await?;

    let replan = estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    assert_contains(&replan.stdout, "No changes.", "re-plan")?;
    eprintln!("adopts_existing_resources took {:?}", started.elapsed());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. No confirmation, no apply
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_without_confirmation_when_not_interactive() -> R {
    let estate = Governance::new()?;
    let out = estate.expect(&["apply"], 1)?;
    assert_contains(
        &out.stderr,
        "refusing to apply without confirmation",
        "apply",
    )?;
    assert_contains(&out.stderr, "--auto-approve", "apply")?;
    // The plan was shown before refusing.
    assert_contains(
        &out.stdout,
        "Plan: 7 to add, 0 to change, 0 to destroy.",
        "apply",
    )?;
    assert!(!estate.lock_path().exists(), "apply left its lock file");

    let org = estate.org();
    let cfn = estate.cfn();
    let hub_iam = estate.hub_iam().await?;
    assert!(scps_named(&org, SCP_NAME).await?.is_empty());
    assert!(stack_set(&cfn, STACK_SET).await?.is_none());
    assert!(get_role(&hub_iam, AGENT_ROLE).await?.is_none());
    // Nothing to destroy yet: destroy needs no confirmation and does nothing.
    let out = estate.expect(&["destroy"], 0)?;
    assert_contains(&out.stdout, "No changes.", "destroy of nothing")?;

    // Destroy refuses the same way once there is something to destroy, and deletes nothing.
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let out = estate.expect(&["destroy"], 1)?;
    assert_contains(
        &out.stderr,
        "refusing to destroy without confirmation",
        "destroy",
    )?;
    assert_contains(&out.stderr, "--auto-approve", "destroy")?;
    assert_contains(
        &out.stdout,
        "Plan: 0 to add, 0 to change, 5 to destroy, 2 to forget.",
        "destroy",
    )?;
    assert!(!estate.lock_path().exists(), "destroy left its lock file");
    the_scp_id(&org).await?;
    assert!(stack_set(&cfn, STACK_SET).await?.is_some());
    assert!(get_role(&hub_iam, AGENT_ROLE).await?.is_some());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 5. The state lock
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn second_run_is_refused_while_locked() -> R {
    use eksmgr_state::{StateFile, StateLock};

    let started = Instant::now();
    let estate = Governance::new()?;
    let state_file = StateFile::new(estate.state_path());

    // Held by this test process.
    let guard = StateLock::acquire(&state_file, "eksmgr-e2e lock holder")
        .map_err(err("acquire the state lock"))?;
    let lock_id = guard.info().id.clone();
    let out = estate.expect(&["apply", "--auto-approve"], 1)?;
    assert_contains(
        &out.stderr,
        "state is locked by `eksmgr-e2e lock holder`",
        "locked apply",
    )?;
    assert_contains(
        &out.stderr,
        &format!("pid {}", std::process::id()),
        "locked apply",
    )?;
    assert_contains(
        &out.stderr,
        &format!("eksmgr unlock {lock_id}"),
        "locked apply",
    )?;
    assert_lacks(&out.stderr, "stale", "locked apply (the holder is alive)")?;
    let out = estate.expect(&["plan"], 1)?;
    assert_contains(&out.stderr, &format!("lock id {lock_id}"), "locked plan")?;
    // The refused runs left the holder's lock alone and created nothing.
    let holder = StateLock::current(&state_file)
        .map_err(err("read the lock"))?
        .ok_or("the lock file vanished")?;
    assert_eq!(holder.id, lock_id);
    assert!(scps_named(&estate.org(), SCP_NAME).await?.is_empty());
    drop(guard);
    assert!(!estate.lock_path().exists());

    // A real race: two applies at once on a fresh estate, where a missing lock would make both
    // create the SCP.
    let apply = || estate.eksmgr.spawn(&["apply", "--auto-approve"]);
    let (first, second) = (apply()?, apply()?);
    let timeout = Duration::from_secs(600);
    let outputs = [first.wait(timeout)?, second.wait(timeout)?];
    let shown: Vec<String> = outputs.iter().map(ToString::to_string).collect();
    let mut codes: Vec<Option<i32>> = outputs.iter().map(|o| o.code).collect();
    codes.sort();
    match codes.as_slice() {
        [Some(0), Some(0)] => {
            eprintln!("the two applies did not overlap");
        }
        [Some(0), Some(1)] => {
            let loser = outputs
                .iter()
                .find(|o| o.code == Some(1))
                .ok_or("no loser")?;
            assert_contains(
                &loser.stderr,
                "state is locked by `eksmgr apply`",
                "losing apply",
            )?;
            assert_contains(&loser.stderr, "eksmgr unlock ", "losing apply")?;
            eprintln!("the two applies overlapped: one was refused");
        }
        _ => {
            return Err(format!(
                "unexpected outcome of two concurrent applies:\n{}",
                shown.join("\n=====\n")
            ));
        }
    }
    let org = estate.org();
    the_scp_id(&org)
        .await
        .map_err(|e| format!("{e}\n{}", shown.join("\n=====\n")))?;
    assert_eq!(
        scps_on(&org, &estate.seed.eks_ou_id).await?,
        vec![SCP_NAME.to_owned()]
    );
    assert!(!estate.lock_path().exists(), "a lock file was left behind");

    let replan = estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    assert_contains(&replan.stdout, "No changes.", "re-plan after the race")?;
    eprintln!(
        "second_run_is_refused_while_locked took {:?}",
        started.elapsed()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 6. Configuration errors
// ---------------------------------------------------------------------------------------------

/// 1-based line and column of the first occurrence of `needle` in `text`.
fn position_of(text: &str, needle: &str) -> R<(usize, usize)> {
    let offset = text
        .find(needle)
        .ok_or_else(|| format!("{needle:?} is not in the config"))?;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Ok((line, column))
}

#[test]
fn broken_config_reports_line_and_column() -> R {
    let seed = Seed {
        management_account_id: MGMT.into(),
        root_id: "r-abcd".into(),
        eks_ou_id: "ou-abcd-12345678".into(),
        shared_ou_id: "ou-abcd-87654321".into(),
        hub_account_id: "210987654321".into(),
        spoke_account_ids: vec!["310987654321".into(), "410987654321".into()],
        region: "us-east-1".into(),
    };
    let good = example_config(&seed)?;
    // Two mistakes in two sections: an unknown key in [organization], a bad account id in
    // [hub].
    let broken = good
        .replacen(
            "home_region = \"us-east-1\"",
            "home_region = \"us-east-1\"\ncolour = \"blue\"",
            1,
        )
        .replacen("account_id = \"210987654321\"", "account_id = \"12345\"", 1);
    assert_ne!(broken, good);
    let unknown_key = position_of(&broken, "colour = ")?;
    let bad_id = position_of(&broken, "\"12345\"")?;

    let dir = tempfile::tempdir().map_err(err("tempdir"))?;
    // Nothing listens on port 9: nothing here may need AWS.
    let eksmgr = Eksmgr::new(dir.path(), "http://127.0.0.1:9")?.timeout(RUN_TIMEOUT);
    eksmgr.write_config(&broken)?;
    for args in [
        &["validate"][..],
        &["plan"][..],
        &["plan", "--detailed-exitcode"][..],
        &["apply", "--auto-approve"][..],
    ] {
        let out = eksmgr.run(args)?;
        let what = format!("eksmgr {}", args.join(" "));
        assert_eq!(out.code, Some(1), "{what}\n{out}");
        for (line, column) in [unknown_key, bad_id] {
            assert_contains(
                &out.stderr,
                &format!("eksmgr.toml:{line}:{column}: error:"),
                &what,
            )?;
        }
        assert_contains(&out.stderr, "colour", &what)?;
        assert_contains(&out.stderr, "12345", &what)?;
        assert!(out.stdout.trim().is_empty(), "{what}: stdout\n{out}");
    }
    assert!(!dir.path().join("eksmgr.state.json").exists());
    assert!(!dir.path().join("eksmgr.state.json.lock").exists());

    // The unbroken example validates.
    eksmgr.write_config(&good)?;
    let out = eksmgr.run(&["validate"])?;
    assert_eq!(out.code, Some(0), "{out}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 7. The golden first plan
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn golden_plan() -> R {
    let estate = Governance::new()?;
    let plan = estate.expect(&["plan"], 0)?;
    let redacted = snapshot_text(&estate.seed, &plan.stdout, None)?;
    // Nothing random is left.
    let ids: BTreeSet<&String> = std::iter::once(&estate.seed.hub_account_id)
        .chain(&estate.seed.spoke_account_ids)
        .chain([&estate.seed.eks_ou_id, &estate.seed.root_id])
        .collect();
    for id in ids {
        assert_lacks(&redacted, id, "redacted plan")?;
    }
    insta::assert_snapshot!("first_plan", redacted);
    Ok(())
}

#[test]
fn governance_slice_keeps_only_the_governance_tables() {
    let text = "# head\n[organization]\na = 1\n\n# scp\n[governance.scp]\nb = 2\n\
                [[governance.scp.extra_statements]]\nSid = \"X\"\n[hub]\nc = 3\n\
                # registry\n[[hub.ecr_repositories]]\nname = \"r\"\n[spokes]\nd = 4\n\
                [[clusters]]\nname = \"x\"\n[clusters.kms]\ne = 5\n";
    assert_eq!(
        governance_slice(text),
        "# head\n[organization]\na = 1\n\n# scp\n[governance.scp]\nb = 2\n\
         [[governance.scp.extra_statements]]\nSid = \"X\"\n[hub]\nc = 3\n"
    );
}

#[test]
fn snapshot_text_redacts_ids_and_fixes_the_account_order() -> R {
    // A hub id that sorts before the management account, as moto's random ids sometimes do.
    let seed = Seed {
        management_account_id: MGMT.into(),
        root_id: "r-ab12".into(),
        eks_ou_id: "ou-ab12-eeeeeeee".into(),
        shared_ou_id: "ou-ab12-ssssssss".into(),
        hub_account_id: "012345678901".into(),
        spoke_account_ids: vec!["555555555555".into()],
        region: "us-east-1".into(),
    };
    let hub_first = "Drift: x\n\nAccount 012345678901\n  ~ role[012345678901] {\n    }\n\n\
                     Account 123456789012\n  - att:ou-ab12-eeeeeeee[123456789012] gone\n\n\
                     Unless\n\neksmgr will\n\nAccount 012345678901\n  # a\n    }\n\n\
                     Account 123456789012\n  # p-abc 555555555555\n    }\n\nPlan: 1.\n";
    let want = "Drift: x\n\nAccount 123456789012\n  - att:<EKS_OU>[123456789012] gone\n\n\
                Account <HUB>\n  ~ role[<HUB>] {\n    }\n\n\
                Unless\n\neksmgr will\n\nAccount 123456789012\n  # <SCP_ID> <SPOKE_1>\n    }\n\n\
                Account <HUB>\n  # a\n    }\n\nPlan: 1.\n";
    assert_eq!(snapshot_text(&seed, hub_first, Some("p-abc"))?, want);
    // Accounts out of id order are an eksmgr bug, not something to hide.
    let unordered = "Account 123456789012\n  # a\n\nAccount 012345678901\n  # b\n\nPlan: 1.\n";
    assert!(snapshot_text(&seed, unordered, None).is_err());
    Ok(())
}

/// A new organization's EKS OU often has no account yet: the StackSet is deployed to it (no
/// instance exists until an account joins), and the next plan sees no drift. Before, the
/// deployment read as deleted outside eksmgr at every plan.
#[test]
fn an_eks_ou_without_accounts_gets_the_stack_set_and_no_drift() -> R<()> {
    let estate = Estate::start("eksmgr-e2e-empty-ou-", 0)?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    if plan.stdout.contains("deleted outside eksmgr") {
        return Err(format!("no drift after the apply\n{plan}"));
    }
    Ok(())
}
