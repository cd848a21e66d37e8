//! An estate of 500 spokes against the emulator, which enforces AWS's size limits on every
//! policy eksmgr writes (ECR repository policy 10,240 characters, a role's inline policies
//! 10,240, trust policy 2,048, KMS key policy 32,768, SCP 5,120): the whole estate plans and
//! applies, every document within its limit, and a spoke that joins the OU changes no hub
//! repository policy (the grants name the EKS OU's path and role names, never a spoke).
//!
//! Before, the hub repository policy listed every spoke's node and build-pod role and passed
//! ECR's limit at about 104 spokes; the hub's web identity role listed one ARN per spoke and
//! passed IAM's at about 245.

use std::time::{Duration, Instant};

use eksmgr_e2e::check::{ensure, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::workloads_config;
use eksmgr_e2e::{Seed, assume};

use eksmgr_e2e::R;

const SPOKES: usize = 500;
/// The AWS managed policies eksmgr attaches: the spoke admin role's, the cluster role's and the
/// node role's.
const MANAGED_POLICIES: &str = "AdministratorAccess,AmazonEKSClusterPolicy,AmazonEKSWorkerNodePolicy,AmazonEC2ContainerRegistryReadOnly,AmazonEKS_CNI_Policy,AmazonSSMManagedInstanceCore,AutoScalingFullAccess,AmazonEBSCSIDriverPolicy";
const OIDC_HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF";

/// One cluster in every spoke, with a build-pod role (pushes to the hub), and a web identity
/// role in the hub that may assume a role in every cluster's account.
fn config(seed: &Seed) -> String {
    let hub = &seed.hub_account_id;
    let rest = format!(
        r#"
[[cross_account_roles]]
name = "eks-auditor"
cluster = "workloads"
policy = "view"

[cross_account_roles.oidc]
provider_arn = "arn:aws:iam::{hub}:oidc-provider/{OIDC_HOST}"
subjects = ["system:serviceaccount:audit:auditor"]
"#
    );
    workloads_config(seed, "1.35", REGISTRY, &rest)
}

/// Lines of a plan's output that name a hub repository's change.
fn repository_changes(plan: &str) -> Vec<&str> {
    plan.lines()
        .filter(|l| l.contains("# ecr_repository.") && !l.contains("no changes"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_spokes_plan_and_apply_within_every_limit() -> R {
    let started = Instant::now();
    // Only the AWS managed policies eksmgr attaches are built in each of the 500 accounts.
    let estate = Estate::builder("eksmgr-scale-")
        .spokes(SPOKES)
        .moto_env("EKSMGR_EMULATOR_IAM_MANAGED_POLICIES", MANAGED_POLICIES)
        .config(|seed| Ok(config(seed)))
        .timeout(Duration::from_secs(30 * 60))
        .start()?;
    let seeded = started.elapsed();

    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let planned = started.elapsed();
    ensure(
        plan.stderr
            .contains(&format!("Spokes: {SPOKES} account(s)")),
        || format!("the plan should discover {SPOKES} spokes\n{}", plan.stderr),
    )?;
    // The emulator refuses any document over its AWS limit: a clean apply proves each fits.
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let applied = started.elapsed();

    // The documents whose size used to follow the estate, read back from AWS.
    let hub = assume(
        estate.moto.endpoint(),
        &estate.seed.hub_account_id,
        "OrganizationAccountAccessRole",
    )
    .await?;
    let ecr = aws_sdk_ecr::Client::new(&hub);
    for repo in ["platform/api", "platform/worker"] {
        let text = ecr
            .get_repository_policy()
            .repository_name(repo)
            .send()
            .await
            .map_err(sdk_err(format!("ecr:GetRepositoryPolicy {repo}")))?
            .policy_text
            .unwrap_or_default();
        ensure(text.len() < 1_500, || {
            format!(
                "{repo}: the policy should not grow with the spokes ({} characters): {text}",
                text.len()
            )
        })?;
    }
    let iam = aws_sdk_iam::Client::new(&hub);
    let inline = iam
        .get_role_policy()
        .role_name("eks-auditor")
        .policy_name("AssumeClusterRoles")
        .send()
        .await
        .map_err(sdk_err("iam:GetRolePolicy eks-auditor AssumeClusterRoles"))?
        .policy_document;
    ensure(inline.len() < 1_000, || {
        format!(
            "the hub auditor role's policy should not grow with the spokes ({} characters): {inline}",
            inline.len()
        )
    })?;

    // A spoke joins the OU: its resources are added, no hub repository policy changes.
    let new = estate.moto.add_spoke()?;
    let next = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let changes = repository_changes(&next.stdout);
    ensure(changes.is_empty(), || {
        format!(
            "a new spoke should change no repository: {changes:?}\n{}",
            next.stdout
        )
    })?;
    ensure(
        next.stdout.contains(&format!("[{}]", new.account_id)),
        || {
            format!(
                "the plan should add the new spoke {}\n{}",
                new.account_id, next.stdout
            )
        },
    )?;
    ensure(next.stdout.contains("0 to change"), || {
        format!("nothing existing should change:\n{}", next.stdout)
    })?;
    eprintln!(
        "{SPOKES} spokes: seeded in {:.1}s, planned in {:.1}s, applied in {:.1}s; with one more spoke planned in {:.1}s (total {:.1}s)",
        seeded.as_secs_f64(),
        (planned - seeded).as_secs_f64(),
        (applied - planned).as_secs_f64(),
        (started.elapsed() - applied).as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

const REGISTRY: &str = r#"
[[hub.ecr_repositories]]
name = "platform/api"

[[hub.ecr_repositories]]
name = "platform/worker"

"#;
