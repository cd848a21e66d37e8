//! Cluster changes EKS refuses are refused by `plan`, naming the cluster, before anything is
//! applied: a version jump of two minors, a downgrade, and an authentication mode going back
//! towards the `aws-auth` ConfigMap. One minor version up is planned as an update.

use eksmgr_e2e::check::ensure;
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::example_config;

use eksmgr_e2e::R;

#[test]
fn plan_refuses_what_eks_cannot_change_in_place() -> R {
    let estate = Estate::start("eksmgr-e2e-cluster-changes-", 2)?;
    let base = example_config(&estate.seed)?.replace("version = \"1.35\"", "version = \"1.33\"");
    estate.eksmgr.write_config(&base)?;
    estate.expect(&["apply", "--auto-approve"], 0)?;

    let workloads = format!(
        "eks_cluster.workloads[{}/",
        estate.seed.spoke_account_ids[0]
    );
    let with_mode = base.replacen(
        "version = \"1.33\"",
        "version = \"1.33\"\nauthentication_mode = \"API_AND_CONFIG_MAP\"",
        1,
    );
    let cases = [
        (
            "a two-minor jump",
            base.replacen("version = \"1.33\"", "version = \"1.35\"", 1),
            "EKS upgrades one minor version at a time",
        ),
        (
            "a downgrade",
            base.replacen("version = \"1.33\"", "version = \"1.32\"", 1),
            "EKS cannot downgrade it to 1.32",
        ),
        (
            "an authentication mode step back",
            with_mode,
            "authentication mode API cannot go back to API_AND_CONFIG_MAP",
        ),
    ];
    for (what, config, reason) in cases {
        estate.eksmgr.write_config(&config)?;
        let plan = estate.expect(&["plan"], 1)?;
        let named = plan
            .stdout
            .lines()
            .chain(plan.stderr.lines())
            .any(|l| l.contains(reason) && l.contains(&workloads));
        ensure(named, || {
            format!("{what}: the plan refuses it naming {workloads}\n{plan}")
        })?;
        let apply = estate.expect(&["apply", "--auto-approve"], 1)?;
        ensure(apply.stderr.contains("nothing was changed"), || {
            format!("{what}: apply refuses the whole plan\n{apply}")
        })?;
    }

    // Nothing was applied; one minor version up is an update.
    estate.eksmgr.write_config(&base)?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    estate
        .eksmgr
        .write_config(&base.replacen("version = \"1.33\"", "version = \"1.34\"", 1))?;
    let upgrade = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        upgrade.stdout.contains("version = \"1.33\" -> \"1.34\""),
        || format!("one minor up is an in-place update\n{upgrade}"),
    )?;
    Ok(())
}
