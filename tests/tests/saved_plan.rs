//! End-to-end tests of saved plans through the real `eksmgr` binary against moto:
//! `plan --out FILE` then `apply FILE` carries out exactly that plan (and asks nothing), and a
//! saved plan is refused, with the reason, once the state moved, the configuration changed or
//! it is applied to another state. What exists is checked through the AWS SDK.

use std::os::unix::fs::PermissionsExt;

use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::{Estate, registry_config};
use eksmgr_e2e::sdk_config;

use eksmgr_e2e::R;

/// The SCPs named like eksmgr's in the organization.
async fn scps(estate: &Estate) -> R<usize> {
    let org = aws_sdk_organizations::Client::new(&sdk_config(estate.moto.endpoint()));
    let list = org
        .list_policies()
        .filter(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
        .send()
        .await
        .map_err(sdk_err("ListPolicies"))?;
    Ok(list
        .policies()
        .iter()
        .filter(|p| p.name() == Some("EKSManagerDenyPolicy"))
        .count())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_applied_exactly_once_and_refused_when_stale() -> R {
    let estate = Estate::start("eksmgr-e2e-saved-", 1)?;
    let p1 = estate.path("first.plan");

    // plan --out: the human plan, and a private file that holds no credentials.
    let plan = estate.expect(&["plan", "--out", &p1, "--detailed-exitcode"], 2)?;
    ensure(plan.stderr.contains(&format!("eksmgr apply {p1}")), || {
        format!("plan --out should say how to apply it\n{plan}")
    })?;
    let meta = std::fs::metadata(&p1).map_err(err("stat the saved plan"))?;
    ensure(meta.permissions().mode() & 0o777 == 0o600, || {
        format!(
            "the saved plan should be 0600, it is {:o}",
            meta.permissions().mode()
        )
    })?;
    let text = std::fs::read_to_string(&p1).map_err(err("read the saved plan"))?;
    for secret in [
        eksmgr_e2e::TEST_SECRET_ACCESS_KEY,
        eksmgr_e2e::TEST_ACCESS_KEY_ID,
        "SessionToken",
    ] {
        ensure(!text.contains(secret), || {
            format!("the saved plan must not hold {secret:?}")
        })?;
    }
    ensure(scps(&estate).await? == 0, || {
        "plan changed nothing".to_owned()
    })?;

    // apply FILE: exactly that plan, without a question (stdin is not a terminal here).
    let applied = estate.expect(&["apply", &p1], 0)?;
    ensure(applied.stdout.contains("Apply complete!"), || {
        format!("apply FILE should apply\n{applied}")
    })?;
    ensure(scps(&estate).await? == 1, || {
        "the SCP exists once".to_owned()
    })?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;

    // Applying it again: the state moved on (its serial), so it is refused.
    let again = estate.expect(&["apply", &p1], 1)?;
    ensure(
        again
            .stderr
            .contains("the state changed since the plan was made"),
        || format!("a re-apply names the serial\n{again}"),
    )?;

    // A plan made before another apply is refused, naming the state change; nothing changes.
    estate
        .eksmgr
        .write_config(&registry_config(&estate.seed, &["platform/worker"]))?;
    let p2 = estate.path("second.plan");
    estate.expect(&["plan", "--out", &p2], 0)?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    estate.eksmgr.write_config(&registry_config(
        &estate.seed,
        &["platform/worker", "platform/batch"],
    ))?;
    let stale = estate.expect(&["apply", &p2], 1)?;
    for reason in [
        "is stale, nothing was changed",
        "the state changed since the plan was made",
        "the configuration file changed since the plan was made",
    ] {
        ensure(stale.stderr.contains(reason), || {
            format!("the refusal should say {reason:?}\n{stale}")
        })?;
    }
    ensure(!stale.stdout.contains("Apply complete"), || {
        format!("nothing is applied\n{stale}")
    })?;
    let ecr = aws_sdk_ecr::Client::new(
        &eksmgr_e2e::assume(
            estate.moto.endpoint(),
            &estate.seed.hub_account_id,
            "OrganizationAccountAccessRole",
        )
        .await?,
    );
    let repos = ecr
        .describe_repositories()
        .send()
        .await
        .map_err(sdk_err("DescribeRepositories"))?;
    ensure(
        !repos
            .repositories()
            .iter()
            .any(|r| r.repository_name() == Some("platform/batch")),
        || "the stale plan created nothing".to_owned(),
    )?;

    // A plan applied to another state (another lineage) is refused.
    let p3 = estate.path("third.plan");
    estate.expect(&["plan", "--out", &p3], 0)?;
    let other = estate.path("other.state.json");
    let foreign = estate.expect(&["apply", "--state", &other, &p3], 1)?;
    ensure(
        foreign
            .stderr
            .contains("the state belongs to another estate"),
        || format!("another state's lineage is refused\n{foreign}"),
    )?;
    // And the fresh one applies.
    estate.expect(&["apply", &p3], 0)?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;

    // Not a saved plan: an error naming the file and position.
    let junk = estate.path("junk.plan");
    std::fs::write(&junk, "{\"format\": 1").map_err(err("write junk"))?;
    let bad = estate.expect(&["apply", &junk], 1)?;
    ensure(bad.stderr.contains(&format!("{junk}:1:")), || {
        format!("a broken plan file is named with its position\n{bad}")
    })?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_targeted_plan_and_apply_touch_only_the_target_and_what_it_needs() -> R {
    let estate = Estate::start("eksmgr-e2e-saved-", 1)?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    estate.eksmgr.write_config(&registry_config(
        &estate.seed,
        &["platform/worker", "platform/batch"],
    ))?;
    let hub = estate.seed.hub_account_id.clone();
    let worker = format!("ecr_repository.platform/worker[{hub}/us-east-1]");
    let batch = format!("ecr_repository.platform/batch[{hub}/us-east-1]");

    let plan = estate.expect(&["plan", "--target", &worker, "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout.contains(&format!("# {worker} will be created"))
            && !plan.stdout.contains(&batch)
            && plan
                .stdout
                .contains("Plan: 1 to add, 0 to change, 0 to destroy.")
            && plan.stdout.contains("resource targeting is in effect"),
        || format!("only the targeted repository is planned, with a warning\n{plan}"),
    )?;
    estate.expect(&["apply", "--auto-approve", "--target", &worker], 0)?;
    let ecr = aws_sdk_ecr::Client::new(
        &eksmgr_e2e::assume(
            estate.moto.endpoint(),
            &hub,
            "OrganizationAccountAccessRole",
        )
        .await?,
    );
    let names: Vec<String> = ecr
        .describe_repositories()
        .send()
        .await
        .map_err(sdk_err("DescribeRepositories"))?
        .repositories()
        .iter()
        .filter_map(|r| r.repository_name().map(str::to_owned))
        .collect();
    ensure(
        names.contains(&"platform/worker".to_owned())
            && !names.contains(&"platform/batch".to_owned()),
        || format!("only the target was created: {names:?}"),
    )?;
    let full = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        full.stdout.contains(&format!("# {batch} will be created"))
            && full
                .stdout
                .contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        || format!("the full plan shows the rest\n{full}"),
    )?;

    let unknown = format!("ecr_repository.nope[{hub}/us-east-1]");
    let out = estate.expect(&["plan", "--target", &unknown], 1)?;
    ensure(
        out.stderr
            .contains(&format!("--target {unknown}: no such resource")),
        || format!("an unknown target is an error naming it\n{out}"),
    )?;
    Ok(())
}
