//! End-to-end test of `plan --refresh-only` and `apply --refresh-only` through the real binary
//! against moto: drift alone is shown (exit 2 with `--detailed-exitcode`), recording it changes
//! state and nothing in AWS, and afterwards only the configuration's own difference remains.

use eksmgr_e2e::assume;
use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::Estate;

use eksmgr_e2e::R;

#[tokio::test(flavor = "multi_thread")]
async fn refresh_only_shows_and_records_drift_without_touching_aws() -> R {
    let estate = Estate::start("eksmgr-e2e-refresh-", 1)?;
    let (moto, hub) = (&estate.moto, estate.hub());
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let clean = estate.expect(&["plan", "--refresh-only", "--detailed-exitcode"], 0)?;
    ensure(clean.stdout.contains("No drift"), || format!("{clean}"))?;

    let ecr = aws_sdk_ecr::Client::new(
        &assume(moto.endpoint(), hub, "OrganizationAccountAccessRole").await?,
    );
    ecr.put_image_tag_mutability()
        .repository_name("platform/api")
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .send()
        .await
        .map_err(sdk_err("PutImageTagMutability"))?;
    let addr = format!("ecr_repository.platform/api[{hub}/us-east-1]");

    let drift = estate.expect(&["plan", "--refresh-only", "--detailed-exitcode"], 2)?;
    ensure(
        drift
            .stdout
            .contains(&format!("~ {addr} changed outside eksmgr"))
            && drift
                .stdout
                .contains("Refresh-only: 1 resource(s) changed outside eksmgr")
            && !drift.stdout.contains("will be updated"),
        || format!("only the drift is shown\n{drift}"),
    )?;
    let json = estate.expect(&["plan", "--refresh-only", "--json"], 0)?;
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).map_err(err("JSON"))?;
    ensure(
        doc["resource_changes"]
            .as_array()
            .is_some_and(Vec::is_empty)
            && doc["drift"][0]["address"] == serde_json::Value::String(addr.clone()),
        || {
            format!(
                "the JSON view has the drift and no changes\n{}",
                json.stdout
            )
        },
    )?;

    let recorded = estate.expect(&["apply", "--refresh-only", "--auto-approve"], 0)?;
    ensure(
        recorded.stdout.contains("Refresh complete! 1 record(s)"),
        || format!("{recorded}"),
    )?;
    let now = ecr
        .describe_repositories()
        .repository_names("platform/api")
        .send()
        .await
        .map_err(sdk_err("DescribeRepositories"))?;
    ensure(
        now.repositories()[0].image_tag_mutability()
            == Some(&aws_sdk_ecr::types::ImageTagMutability::Immutable),
        || "apply --refresh-only changed nothing in AWS".to_owned(),
    )?;
    estate.expect(&["plan", "--refresh-only", "--detailed-exitcode"], 0)?;
    // The configuration still wants MUTABLE: a normal plan undoes the change, now as a plain
    // update rather than drift.
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout
            .contains(&format!("# {addr} will be updated in place"))
            && !plan.stdout.contains("changed outside eksmgr"),
        || format!("{plan}"),
    )?;
    Ok(())
}
