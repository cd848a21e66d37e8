//! `eksmgr agent` against the emulator: hands-off onboarding. An estate whose cluster template
//! selects subnets by tags is applied; accounts join the OU; `agent --once` onboards the one
//! with tagged subnets in two zones (no edit to `eksmgr.toml`), reports and skips the one
//! without, and a second cycle changes nothing; a cluster replacement and an account removal
//! are held, never applied; of two agents started at once, one runs and the other reports
//! the lock and exits; and a continuous agent ends at once on SIGTERM while it waits. The
//! agent host (`[hub.agent_host]`) is launched with the agent role as its instance profile,
//! IMDSv2 required, no key pair and no rule added to its security group.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::SdkConfig;
use eksmgr_e2e::check::{check_requests, ensure, sdk_err};
use eksmgr_e2e::estate::{Estate, registry_config};
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

/// A new VPC of `cidr` (a /16); its id.
async fn vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> R<String> {
    let vpc = ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .map_err(sdk_err("CreateVpc"))?;
    vpc.vpc()
        .and_then(|v| v.vpc_id())
        .map(str::to_owned)
        .ok_or_else(|| "CreateVpc returned no id".into())
}

/// A new subnet of `vpc` in `zone` with `tags`; its id.
async fn subnet(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    cidr: String,
    zone: &str,
    tags: &[(&str, &str)],
) -> R<String> {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let mut spec = TagSpecification::builder().resource_type(ResourceType::Subnet);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let subnet = ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(zone)
        .set_tag_specifications((!tags.is_empty()).then(|| vec![spec.build()]))
        .send()
        .await
        .map_err(sdk_err("CreateSubnet"))?;
    subnet
        .subnet()
        .and_then(|s| s.subnet_id())
        .map(str::to_owned)
        .ok_or_else(|| "CreateSubnet returned no id".into())
}

/// A VPC with one subnet per zone of `zones`, tagged for internal load balancers; their ids.
async fn tagged_subnets(conf: &SdkConfig, zones: &[&str]) -> R<Vec<String>> {
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let vpc = vpc(&ec2, "10.42.0.0/16").await?;
    let mut ids = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        let tag = [("kubernetes.io/role/internal-elb", "1")];
        ids.push(subnet(&ec2, &vpc, format!("10.42.{i}.0/24"), zone, &tag).await?);
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
    let logs = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let log = logs.path().join("requests.jsonl");
    let estate = Estate::builder("eksmgr-e2e-agent-")
        .spokes(2)
        .config(agent_config)
        .proxy()
        .moto_env("EKSMGR_EMULATOR_REQUEST_LOG", &log.display().to_string())
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
    // DescribeSubnets and every other request, as AWS's models define them.
    check_requests(&estate.moto, &log)
}

/// A VPC in the hub with one subnet and a security group with no inbound rule; their ids.
async fn hub_network(conf: &SdkConfig) -> R<(String, String)> {
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let vpc = vpc(&ec2, "10.9.0.0/16").await?;
    let subnet = subnet(&ec2, &vpc, "10.9.1.0/24".into(), "us-east-1a", &[]).await?;
    let group = ec2
        .create_security_group()
        .group_name("eksmgr-agent")
        .description("eksmgr agent host: outbound 443 only")
        .vpc_id(&vpc)
        .send()
        .await
        .map_err(sdk_err("CreateSecurityGroup"))?;
    Ok((subnet, group.group_id().unwrap_or_default().to_owned()))
}

async fn ingress_rules(conf: &SdkConfig, group: &str) -> R<usize> {
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let out = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .map_err(sdk_err("DescribeSecurityGroups"))?;
    Ok(out
        .security_groups()
        .iter()
        .map(|g| g.ip_permissions().len())
        .sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_host_runs_with_its_instance_profile_and_imdsv2() -> R {
    // IAM takes seconds to show a new instance profile to EC2: the emulator refuses it for 4 s,
    // as EC2 does, and the launch must wait for it.
    let logs = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let log = logs.path().join("requests.jsonl");
    let estate = Estate::builder("eksmgr-e2e-agent-host-")
        .spokes(1)
        .config(|seed| Ok(registry_config(seed, &[])))
        .moto_env("EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS", "4")
        .moto_env("EKSMGR_EMULATOR_REQUEST_LOG", &log.display().to_string())
        .start()?;
    let hub = estate.hub().to_owned();
    let conf = estate.sdk(&hub).await?;
    let (subnet, group) = hub_network(&conf).await?;
    let rules_before = ingress_rules(&conf, &group).await?;
    let sha = "0123456789abcdef".repeat(4);
    estate.eksmgr.write_config(&format!(
        "{}\n[hub.agent_host]\nsubnet_id = \"{subnet}\"\nsecurity_group_ids = [\"{group}\"]\neksmgr_url = \"s3://eksmgr-releases/eksmgr-x86_64-linux.tar.gz\"\neksmgr_sha256 = \"{sha}\"\nconfig_url = \"s3://eksmgr-config/eksmgr.toml\"\n",
        registry_config(&estate.seed, &[])
    ))?;
    let plan = estate.expect(&["plan"], 0)?;
    for needle in [
        "ec2_instance.eksmgr-agent",
        "iam_instance_profile.EKSManagerAgentRole",
        "ec2.amazonaws.com",
    ] {
        ensure(plan.stdout.contains(needle), || {
            format!("the plan should show {needle}\n{plan}")
        })?;
    }
    estate.apply()?;

    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let found = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:eksmgr-instance")
                .values("eksmgr-agent")
                .build(),
        )
        .send()
        .await
        .map_err(sdk_err("DescribeInstances"))?;
    let instances: Vec<_> = found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    ensure(instances.len() == 1, || {
        format!("one agent host should run: {instances:?}")
    })?;
    let i = instances[0];
    let profile = i
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .unwrap_or_default();
    ensure(
        profile.ends_with("instance-profile/EKSManagerAgentRole"),
        || format!("the host's instance profile should be the agent role's: {profile:?}"),
    )?;
    let tokens = i
        .metadata_options()
        .and_then(|m| m.http_tokens())
        .map(|t| t.as_str().to_owned());
    ensure(tokens.as_deref() == Some("required"), || {
        format!("IMDSv2 should be required: {tokens:?}")
    })?;
    ensure(i.key_name().is_none(), || {
        format!("no key pair: {:?}", i.key_name())
    })?;
    ensure(i.subnet_id() == Some(subnet.as_str()), || {
        format!("the host should run in {subnet}: {:?}", i.subnet_id())
    })?;
    ensure(ingress_rules(&conf, &group).await? == rules_before, || {
        "no inbound rule may be added to the host's security group".into()
    })?;
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = iam
        .get_role()
        .role_name("EKSManagerAgentRole")
        .send()
        .await
        .map_err(sdk_err("GetRole"))?;
    let trust = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .map(|d| {
            percent_encoding::percent_decode_str(d)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    ensure(trust.contains("ec2.amazonaws.com"), || {
        format!("the agent role should trust the EC2 service: {trust}")
    })?;
    let attached = iam
        .list_attached_role_policies()
        .role_name("EKSManagerAgentRole")
        .send()
        .await
        .map_err(sdk_err("ListAttachedRolePolicies"))?;
    ensure(
        attached
            .attached_policies()
            .iter()
            .any(|p| p.policy_name() == Some("AmazonSSMManagedInstanceCore")),
        || "the agent role should have AmazonSSMManagedInstanceCore (SSM instead of SSH)".into(),
    )?;
    estate.replan_clean()?;
    // RunInstances, the instance profile calls and the rest, as AWS's models define them.
    check_requests(&estate.moto, &log)
}
