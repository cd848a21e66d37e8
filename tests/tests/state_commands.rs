//! End-to-end tests of `eksmgr state rm`, `eksmgr state mv` and `eksmgr import` through the
//! real binary against moto: a forgotten resource stays in AWS and is adopted again by the
//! next apply, never duplicated; a move keeps the record (and references to it); an import
//! records what eksmgr would have created (a clean re-plan); refusals leave state as it was.

use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::{Estate, registry_config};
use eksmgr_e2e::{Output, assume};

use eksmgr_e2e::R;

fn listed(out: &Output) -> Vec<String> {
    out.stdout.lines().map(str::to_owned).collect()
}

/// moto with one spoke, and the governance layer and one repository applied.
fn applied_estate() -> R<Estate> {
    let estate = Estate::start("eksmgr-e2e-state-", 1)?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    Ok(estate)
}

#[tokio::test(flavor = "multi_thread")]
async fn state_rm_forgets_and_state_mv_renames() -> R {
    let estate = applied_estate()?;
    let hub = estate.hub();
    let repo = format!("ecr_repository.platform/api[{hub}/us-east-1]");
    let agent = format!("iam_role.EKSManagerAgentRole[{hub}]");
    let before = listed(&estate.expect(&["state", "list"], 0)?);
    ensure(before.contains(&repo), || {
        format!("{repo} in state: {before:?}")
    })?;

    // rm: gone from state, still in AWS, adopted (not created) by the next plan.
    let out = estate.expect(&["state", "rm", &repo], 0)?;
    ensure(out.stdout.contains(&format!("Removed {repo}")), || {
        format!("{out}")
    })?;
    let after = listed(&estate.expect(&["state", "list"], 0)?);
    ensure(
        !after.contains(&repo) && after.len() + 1 == before.len(),
        || format!("only {repo} is forgotten: {after:?}"),
    )?;
    let ecr = aws_sdk_ecr::Client::new(
        &assume(estate.moto.endpoint(), hub, "OrganizationAccountAccessRole").await?,
    );
    let count = || async {
        ecr.describe_repositories()
            .send()
            .await
            .map(|r| r.repositories().len())
            .map_err(sdk_err("DescribeRepositories"))
    };
    ensure(count().await? == 1, || {
        "the repository is still in AWS".to_owned()
    })?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout
            .contains(&format!("# {repo} exists and will be adopted into state")),
        || format!("the next plan adopts it\n{plan}"),
    )?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    ensure(count().await? == 1, || "adopted, not duplicated".to_owned())?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;

    // rm of an unknown address removes nothing, and says which.
    let missing = format!("ecr_repository.nope[{hub}/us-east-1]");
    let out = estate.expect(&["state", "rm", &repo, &missing], 1)?;
    ensure(
        out.stderr.contains(&missing) && out.stderr.contains("nothing was removed"),
        || format!("{out}"),
    )?;
    ensure(
        listed(&estate.expect(&["state", "list"], 0)?).contains(&repo),
        || "a refused rm leaves state as it was".to_owned(),
    )?;

    // mv: the record moves and back; another kind, a taken or a missing address is refused.
    let moved = format!("iam_role.HubAgent[{hub}]");
    estate.expect(&["state", "mv", &agent, &moved], 0)?;
    let now = listed(&estate.expect(&["state", "list"], 0)?);
    ensure(now.contains(&moved) && !now.contains(&agent), || {
        format!("{now:?}")
    })?;
    let shown = estate.expect(&["state", "show", &moved], 0)?;
    ensure(shown.stdout.contains("EKSManagerAgentRole"), || {
        format!("{shown}")
    })?;
    for (from, to, why) in [
        (moved.as_str(), repo.as_str(), "keeps its kind"),
        (moved.as_str(), moved.as_str(), "is in state already"),
        (agent.as_str(), moved.as_str(), "is not in state"),
    ] {
        let out = estate.expect(&["state", "mv", from, to], 1)?;
        ensure(out.stderr.contains(why), || {
            format!("mv {from} {to}: {out}")
        })?;
    }
    estate.expect(&["state", "mv", &moved, &agent], 0)?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn import_records_what_eksmgr_would_have_created() -> R {
    let estate = applied_estate()?;
    let hub = estate.hub();

    // A repository made by hand, as eksmgr would make it, then declared.
    let ecr = aws_sdk_ecr::Client::new(
        &assume(estate.moto.endpoint(), hub, "OrganizationAccountAccessRole").await?,
    );
    ecr.create_repository()
        .repository_name("platform/legacy")
        .image_scanning_configuration(
            aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .tags(
            aws_sdk_ecr::types::Tag::builder()
                .key("managed-by")
                .value("eksmgr")
                .build()
                .map_err(err("tag"))?,
        )
        .send()
        .await
        .map_err(sdk_err("create platform/legacy by hand"))?;
    estate
        .eksmgr
        .write_config(&registry_config(&estate.seed, &["platform/legacy"]))?;
    let legacy = format!("ecr_repository.platform/legacy[{hub}/us-east-1]");
    let api = format!("ecr_repository.platform/api[{hub}/us-east-1]");

    // Refusals first: an undeclared address, an id naming another resource.
    let undeclared = format!("ecr_repository.platform/none[{hub}/us-east-1]");
    let out = estate.expect(&["import", &undeclared, "platform/none"], 1)?;
    ensure(
        out.stderr.contains("is not declared by the configuration"),
        || format!("{out}"),
    )?;
    let out = estate.expect(&["import", &legacy, "platform/api"], 1)?;
    ensure(out.stderr.contains("not platform/api"), || format!("{out}"))?;

    let out = estate.expect(&["import", &legacy, "platform/legacy"], 0)?;
    ensure(out.stdout.contains(&format!("Imported {legacy}")), || {
        format!("{out}")
    })?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    let out = estate.expect(&["import", &legacy, "platform/legacy"], 1)?;
    ensure(out.stderr.contains("is in state already"), || {
        format!("{out}")
    })?;

    // The same record as for the repository eksmgr created, names and times aside.
    let show = |addr: &str| -> R<serde_json::Value> {
        let out = estate.expect(&["state", "show", addr], 0)?;
        serde_json::from_str(&out.stdout).map_err(err("state show is JSON"))
    };
    let (a, b) = (show(&api)?, show(&legacy)?);
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v["attrs"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    ensure(
        keys(&a) == keys(&b) && a["depends_on"] == b["depends_on"],
        || format!("an imported record has the shape of a created one:\n{a:#}\n{b:#}"),
    )?;
    Ok(())
}
