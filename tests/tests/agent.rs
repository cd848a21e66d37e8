//! `eksmgr agent` against the emulator: hands-off onboarding. An estate whose cluster template
//! selects subnets by tags is applied; accounts join the OU; `agent --once` onboards the one
//! with tagged subnets in two zones (no edit to `eksmgr.toml`), reports and skips the one
//! without, and a second cycle changes nothing; a cluster replacement and an account removal
//! are held, never applied; of two agents started at once, one runs and the other reports
//! the lock and exits; and a continuous agent ends at once on SIGTERM while it waits.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::SdkConfig;
use eksmgr_e2e::check::{ensure, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::example_config;
use eksmgr_e2e::{Output, R, REGION, Seed};
use serde_json::Value;

/// The `workloads` template of the example, choosing each new account's subnets by tags (the
/// two seeded spokes keep their explicit `subnet_ids`, which win).
fn agent_config(seed: &Seed) -> R<String> {
    const TEMPLATE: &str = "name = \"workloads\"\naccount = \"*\"\n";
    let text = example_config(seed)?;
    ensure(text.contains(TEMPLATE), || {
        format!("examples/eksmgr.toml's workloads template no longer starts with {TEMPLATE:?}")
    })?;
    Ok(text.replacen(
        TEMPLATE,
        &format!(
            "{TEMPLATE}subnet_selector = {{ tags = {{ \"kubernetes.io/role/internal-elb\" = \"1\" }} }}\n"
        ),
        1,
    ))
}

/// A VPC with one subnet per zone of `zones`, tagged for internal load balancers; their ids.
async fn tagged_subnets(conf: &SdkConfig, zones: &[&str]) -> R<Vec<String>> {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .send()
        .await
        .map_err(sdk_err("CreateVpc"))?;
    let vpc = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or("CreateVpc returned no id")?
        .to_owned();
    let mut ids = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.42.{i}.0/24"))
            .availability_zone(*zone)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Subnet)
                    .tags(
                        Tag::builder()
                            .key("kubernetes.io/role/internal-elb")
                            .value("1")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_err("CreateSubnet"))?;
        ids.push(
            subnet
                .subnet()
                .and_then(|s| s.subnet_id())
                .ok_or("CreateSubnet returned no id")?
                .to_owned(),
        );
    }
    ids.sort();
    Ok(ids)
}

/// The cycle's JSON line: the last line of stdout.
fn cycle_line(out: &Output) -> R<Value> {
    let line = out.stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line)
        .map_err(|e| format!("the agent's last stdout line is not JSON ({e}):\n{out}"))?;
    ensure(v["event"] == "eksmgr.agent.cycle", || {
        format!("not a cycle line: {v}")
    })?;
    Ok(v)
}

/// The addresses of a list of the cycle line (`applied`, `held`), with their action.
fn listed(v: &Value, key: &str) -> BTreeSet<(String, String)> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["address"].as_str().unwrap_or_default().to_owned(),
                c["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The account of an address `kind.name[account/region]`.
fn account_of(address: &str) -> &str {
    address
        .rsplit_once('[')
        .map(|(_, rest)| rest.trim_end_matches(']'))
        .and_then(|a| a.split('/').next())
        .unwrap_or_default()
}

/// The cluster `name` as EKS describes it.
async fn describe(conf: &SdkConfig, name: &str) -> R<aws_sdk_eks::types::Cluster> {
    let eks = aws_sdk_eks::Client::new(conf);
    let c = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(sdk_err(format!("DescribeCluster {name}")))?;
    c.cluster()
        .cloned()
        .ok_or_else(|| format!("DescribeCluster {name} returned no cluster"))
}

async fn cluster_subnets(conf: &SdkConfig, name: &str) -> R<Vec<String>> {
    let c = describe(conf, name).await?;
    let mut ids: Vec<String> = c
        .resources_vpc_config()
        .map(|v| v.subnet_ids().to_vec())
        .unwrap_or_default();
    ids.sort();
    Ok(ids)
}

async fn cluster_role(conf: &SdkConfig, name: &str) -> R<String> {
    Ok(describe(conf, name)
        .await?
        .role_arn()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_onboards_new_accounts_and_holds_what_needs_a_human() -> R {
    let estate = Estate::builder("eksmgr-e2e-agent-")
        .spokes(2)
        .config(agent_config)
        .proxy()
        .start()?;
    let proxy = estate.proxy()?;
    estate.apply()?;
    let hub = estate.hub().to_owned();

    // Two accounts join the OU: one with tagged subnets in two zones, one in a single zone.
    let three = estate.moto.add_spoke()?.account_id;
    let four = estate.moto.add_spoke()?.account_id;
    let subnets = tagged_subnets(&estate.sdk(&three).await?, &["us-east-1a", "us-east-1b"]).await?;
    tagged_subnets(&estate.sdk(&four).await?, &["us-east-1a"]).await?;

    let first = estate.expect(&["agent", "--once"], 3)?;
    let line = cycle_line(&first)?;
    ensure(
        line["outcome"] == "attention" && line["accounts_seen"] == 4,
        || format!("the first cycle should see 4 accounts and need attention: {line}"),
    )?;
    let skipped = &line["skipped_accounts"];
    ensure(
        skipped.as_array().map(Vec::len) == Some(1)
            && skipped[0]["account"] == four.as_str()
            && skipped[0]["cause"] == "subnets"
            && skipped[0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("us-east-1a")),
        || format!("{four} should be skipped for its subnets: {skipped}"),
    )?;
    let applied = listed(&line, "applied");
    let cluster = format!("eks_cluster.workloads[{three}/{REGION}]");
    ensure(
        applied.contains(&(cluster.clone(), "create".to_owned())),
        || format!("the agent should create {cluster}: {applied:?}"),
    )?;
    let elsewhere: Vec<_> = applied
        .iter()
        .filter(|(a, _)| account_of(a) != three && account_of(a) != hub)
        .collect();
    ensure(elsewhere.is_empty(), || {
        format!("only {three} (and the hub) should change: {elsewhere:?}")
    })?;
    ensure(line["held"] == serde_json::json!([]), || {
        format!("nothing should be held: {line}")
    })?;
    let got = cluster_subnets(&estate.sdk(&three).await?, "workloads").await?;
    ensure(got == subnets, || {
        format!("{three}'s cluster should run in the tagged subnets {subnets:?}, it has {got:?}")
    })?;
    eprintln!(
        "agent: first cycle applied {} change(s) in {three}, skipped {four} (exit 3)",
        applied.len()
    );

    let second = estate.expect(&["agent", "--once"], 3)?;
    let line = cycle_line(&second)?;
    ensure(
        line["applied"] == serde_json::json!([]) && line["held"] == serde_json::json!([]),
        || format!("the second cycle should change nothing: {line}"),
    )?;

    // A cluster replacement (a new control plane role) and an account removal (the account
    // moved out of the OU) are held, never applied.
    let edge_spoke = estate.spoke(1).to_owned();
    let conf_text = agent_config(&estate.seed)?;
    const EDGE: &str = "name = \"edge\"\n";
    ensure(conf_text.contains(EDGE), || {
        "the example has no edge cluster".into()
    })?;
    estate.eksmgr.write_config(&conf_text.replacen(
        EDGE,
        &format!("{EDGE}cluster_role_name = \"edge-control-plane\"\n"),
        1,
    ))?;
    let org =
        aws_sdk_organizations::Client::new(&estate.sdk(&estate.seed.management_account_id).await?);
    org.move_account()
        .account_id(&three)
        .source_parent_id(&estate.seed.eks_ou_id)
        .destination_parent_id(&estate.seed.shared_ou_id)
        .send()
        .await
        .map_err(sdk_err("MoveAccount"))?;
    let role_before = cluster_role(&estate.sdk(&edge_spoke).await?, "edge").await?;
    let third = estate.expect(&["agent", "--once"], 3)?;
    let line = cycle_line(&third)?;
    let held = listed(&line, "held");
    let edge = format!("eks_cluster.edge[{edge_spoke}/{REGION}]");
    ensure(held.contains(&(edge.clone(), "replace".to_owned())), || {
        format!("the replacement of {edge} should be held: {held:?}")
    })?;
    ensure(
        held.contains(&(cluster.clone(), "delete".to_owned())),
        || format!("the removal of {cluster} should be held: {held:?}"),
    )?;
    let applied = listed(&line, "applied");
    ensure(
        !applied
            .iter()
            .any(|(a, _)| a == &edge || account_of(a) == three),
        || format!("nothing held may be applied: {applied:?}"),
    )?;
    ensure(
        cluster_role(&estate.sdk(&edge_spoke).await?, "edge").await? == role_before,
        || "the edge cluster must not be replaced".into(),
    )?;
    ensure(
        cluster_subnets(&estate.sdk(&three).await?, "workloads").await? == subnets,
        || format!("{three}'s cluster must still exist"),
    )?;
    eprintln!(
        "agent: third cycle held {} change(s), applied {}",
        held.len(),
        applied.len()
    );

    // Two agents at once: the first holds the lock (its reads held by the frozen proxy); the
    // second reports the lock and exits 1.
    proxy.freeze();
    let mut running = estate.eksmgr.spawn(&["agent", "--once"])?;
    let lock = estate.file("eksmgr.state.json.lock");
    running.wait_until("the state lock", Duration::from_secs(60), || lock.exists())?;
    let other = estate.expect(&["agent", "--once"], 1)?;
    proxy.thaw();
    let line = cycle_line(&other)?;
    ensure(
        line["outcome"] == "locked"
            && line["errors"][0]
                .as_str()
                .is_some_and(|e| e.contains("eksmgr agent")),
        || format!("the second agent should report the lock and its holder: {line}"),
    )?;
    let first_agent = running.wait(Duration::from_secs(300))?;
    ensure(first_agent.code == Some(3), || {
        format!("the first agent should finish its cycle (exit 3, changes held):\n{first_agent}")
    })?;

    // Run continuously: a cycle, then a wait that SIGTERM ends at once (exit 143), with no
    // lock left behind.
    let mut running = estate.eksmgr.spawn(&["agent", "--interval", "1h"])?;
    ensure(
        running.wait_for_stderr("next cycle in", Duration::from_secs(120))?,
        || {
            format!(
                "the agent should finish a cycle and wait:\n{}",
                running.stderr_so_far()
            )
        },
    )?;
    running.signal("TERM")?;
    let stopped = running.wait(Duration::from_secs(60))?;
    ensure(stopped.code == Some(143) && !lock.exists(), || {
        format!("SIGTERM should end the waiting agent with 143 and no lock:\n{stopped}")
    })?;
    ensure(stopped.stdout.lines().count() == 1, || {
        format!("one cycle, one JSON line:\n{stopped}")
    })?;
    Ok(())
}
