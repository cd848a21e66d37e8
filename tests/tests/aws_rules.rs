//! End-to-end tests of AWS rules eksmgr relies on, against the emulator that enforces them:
//! IAM's eventual consistency (a cluster role created moments before is not visible to EKS
//! for a while; eksmgr waits for it), the seed design's unconditional deny of KMS key deletion
//! (destroy leaves the key in AWS), and the Kubernetes versions EKS offers (one it no longer
//! offers is refused at plan time, before anything is written).

use std::time::Duration;

use eksmgr_e2e::check::{ensure, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::workloads_config;
use eksmgr_e2e::{Seed, assume};

use eksmgr_e2e::R;

/// One spoke with one cluster, the governance layer and the hub registry.
fn config(seed: &Seed, version: &str) -> String {
    workloads_config(seed, version, REGISTRY, "")
}

const REGISTRY: &str = r#"
[[hub.ecr_repositories]]
name = "platform/api"
"#;

/// The emulator hides every new role from EKS for 4 s (as IAM's propagation delay can):
/// CreateCluster is refused at first and eksmgr tries again until it goes through. Then a
/// destroy removes the cluster but leaves its key, which the SCP forbids anyone to delete.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_cluster_role_is_waited_for_and_destroy_leaves_the_key() -> R {
    let logs = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let log = logs.path().join("requests.jsonl");
    let log_text = log.display().to_string();
    let estate = Estate::builder("eksmgr-rules-")
        .moto_env("EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS", "4")
        .moto_env("EKSMGR_EMULATOR_REQUEST_LOG", &log_text)
        .config(|seed| Ok(config(seed, "1.35")))
        .timeout(Duration::from_secs(300))
        .start()?;
    estate.expect(&["apply", "--auto-approve"], 0)?;

    let requests = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let create_cluster = requests
        .lines()
        .filter(|l| l.contains("\"POST\"") && l.contains("\"/clusters\""))
        .count();
    ensure(create_cluster >= 2, || {
        format!(
            "CreateCluster should have been refused first and sent again: {create_cluster} request(s)"
        )
    })?;
    let spoke = &estate.seed.spoke_account_ids[0];
    let member = assume(
        estate.moto.endpoint(),
        spoke,
        "OrganizationAccountAccessRole",
    )
    .await?;
    let eks = aws_sdk_eks::Client::new(&member);
    eks.describe_cluster()
        .name("workloads")
        .send()
        .await
        .map_err(sdk_err("eks:DescribeCluster workloads"))?;

    let destroyed = estate.expect(&["destroy", "--auto-approve"], 0)?;
    ensure(
        destroyed.stdout.contains(&format!(
            "kms_key.workloads[{spoke}/us-east-1] stays in AWS"
        )),
        || format!("the destroy plan should leave the key in AWS\n{destroyed}"),
    )?;
    let kms = aws_sdk_kms::Client::new(&member);
    let key = kms
        .describe_key()
        .key_id("alias/eksmgr/workloads")
        .send()
        .await
        .map_err(sdk_err("kms:DescribeKey alias/eksmgr/workloads"))?;
    let state = key
        .key_metadata()
        .and_then(|m| m.key_state())
        .map(|s| s.as_str().to_owned());
    ensure(state.as_deref() == Some("Enabled"), || {
        format!("the key should stay enabled, not pending deletion: {state:?}")
    })?;
    ensure(
        eks.describe_cluster()
            .name("workloads")
            .send()
            .await
            .is_err(),
        || "the cluster should be gone".to_owned(),
    )?;
    Ok(())
}

/// Kubernetes 1.31 left extended support in November 2026: the plan refuses it and writes
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_eks_no_longer_offers_is_refused_at_plan_time() -> R {
    let estate = Estate::start("eksmgr-rules-", 1)?;
    estate.eksmgr.write_config(&config(&estate.seed, "1.31"))?;
    let out = estate.expect(&["apply", "--auto-approve"], 1)?;
    ensure(
        out.stderr.contains(
            "cluster `workloads` asks for Kubernetes 1.31, which EKS does not offer in us-east-1",
        ),
        || format!("the refusal should name the cluster, the version and the region\n{out}"),
    )?;
    ensure(!out.stdout.contains("Apply complete"), || {
        format!("nothing should be applied\n{out}")
    })?;
    Ok(())
}
