//! Clusters that run workloads, against the emulator: a cluster's add-ons and node groups are
//! created (add-ons first), re-plan empty, a node group scales in place, an autoscaler's
//! desired size is left alone, an add-on deleted out of band is drift and is created again,
//! an add-on installed by hand is adopted (never created twice), and a Kubernetes upgrade is
//! planned and applied as control plane, then add-ons, then node groups (the order checked at
//! the proxy), after a two-minor jump was refused at plan time.

use aws_config::SdkConfig;
use eksmgr_e2e::R;
use eksmgr_e2e::check::{ensure, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::workloads_config;
use eksmgr_e2e::proxy::Call;

const CLUSTER: &str = "workloads";

const COMPUTE: &str = r#"
[[clusters.addons]]
name = "aws-ebs-csi-driver"
pod_identity = { service_account = "ebs-csi-controller-sa", managed_policies = ["service-role/AmazonEBSCSIDriverPolicy"] }

[[clusters.node_groups]]
name = "general"
instance_types = ["m6i.large"]
min_size = 2
max_size = 6
labels = { role = "general" }
taints = [{ key = "dedicated", value = "general", effect = "PREFER_NO_SCHEDULE" }]
"#;

/// The position of the first call whose action starts with `prefix` (an EKS REST call,
/// `POST /clusters/workloads/...`), or an error naming the calls seen.
fn first(calls: &[Call], prefix: &str) -> R<usize> {
    calls
        .iter()
        .position(|c| c.service == "eks" && c.action.starts_with(prefix))
        .ok_or_else(|| {
            let seen: Vec<String> = calls
                .iter()
                .filter(|c| c.service == "eks" && c.is_write())
                .map(|c| c.action.clone())
                .collect();
            format!("no call {prefix} among the EKS writes {seen:?}")
        })
}

fn last(calls: &[Call], prefix: &str) -> R<usize> {
    calls
        .iter()
        .rposition(|c| c.service == "eks" && c.action.starts_with(prefix))
        .ok_or_else(|| format!("no call {prefix}"))
}

async fn addon_names(conf: &SdkConfig) -> R<Vec<String>> {
    let eks = aws_sdk_eks::Client::new(conf);
    let mut names = eks
        .list_addons()
        .cluster_name(CLUSTER)
        .send()
        .await
        .map_err(sdk_err("list the add-ons"))?
        .addons()
        .to_vec();
    names.sort();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread")]
async fn addons_and_node_groups_are_created_scaled_repaired_adopted_and_upgraded_in_order() -> R {
    let estate = Estate::builder("eksmgr-e2e-workloads-")
        .spokes(1)
        .proxy()
        .start()?;
    let spoke = estate.spoke(0).to_owned();
    let conf = estate.sdk(&spoke).await?;
    let eks = aws_sdk_eks::Client::new(&conf);
    let config = |version: &str, max: u32, more: &str| {
        workloads_config(
            &estate.seed,
            version,
            "",
            &format!(
                "{}{more}",
                COMPUTE.replace("max_size = 6", &format!("max_size = {max}"))
            ),
        )
    };

    // Created: every add-on, then the node group.
    estate.eksmgr.write_config(&config("1.33", 6, ""))?;
    let plan = estate.expect(&["plan"], 0)?;
    for addon in ["coredns", "kube-proxy", "vpc-cni", "eks-pod-identity-agent"] {
        let line = format!("eks_addon.{CLUSTER}/{addon}[{spoke}/us-east-1]");
        ensure(plan.stdout.contains(&line), || {
            format!("the default add-on {addon} is planned\n{plan}")
        })?;
    }
    ensure(plan.stdout.contains("addon_version"), || {
        format!("the plan shows the add-on versions EKS offers\n{plan}")
    })?;
    let proxy = estate.proxy()?;
    proxy.reset_counts();
    estate.apply()?;
    let calls = proxy.calls();
    let node_group = first(&calls, &format!("POST /clusters/{CLUSTER}/node-groups"))?;
    ensure(
        last(&calls, &format!("POST /clusters/{CLUSTER}/addons"))? < node_group,
        || "every add-on is created before the node group".to_owned(),
    )?;
    ensure(
        addon_names(&conf).await?
            == [
                "aws-ebs-csi-driver",
                "coredns",
                "eks-pod-identity-agent",
                "kube-proxy",
                "vpc-cni",
            ],
        || "the cluster runs the four default add-ons and the EBS CSI driver".to_owned(),
    )?;
    let ebs = eks
        .describe_addon()
        .cluster_name(CLUSTER)
        .addon_name("aws-ebs-csi-driver")
        .send()
        .await
        .map_err(sdk_err("describe the EBS CSI driver"))?;
    ensure(
        ebs.addon()
            .is_some_and(|a| a.pod_identity_associations().len() == 1),
        || format!("the EBS CSI driver has its pod identity association: {ebs:?}"),
    )?;
    estate.replan_clean()?;

    // Scaling changes in place; an autoscaler's desired size is left alone.
    estate.eksmgr.write_config(&config("1.33", 8, ""))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout.contains("max_size")
            && plan.stdout.contains("0 to add, 1 to change, 0 to destroy"),
        || format!("raising max_size is one change in place\n{plan}"),
    )?;
    proxy.reset_counts();
    estate.apply()?;
    first(
        &proxy.calls(),
        &format!("POST /clusters/{CLUSTER}/node-groups/general/update-config"),
    )?;
    estate.replan_clean()?;
    eks.update_nodegroup_config()
        .cluster_name(CLUSTER)
        .nodegroup_name("general")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(2)
                .max_size(8)
                .desired_size(5)
                .build(),
        )
        .send()
        .await
        .map_err(sdk_err("scale the node group as an autoscaler would"))?;
    estate.replan_clean()?;

    // An add-on deleted out of band is drift, and is created again.
    eks.delete_addon()
        .cluster_name(CLUSTER)
        .addon_name("coredns")
        .send()
        .await
        .map_err(sdk_err("delete coredns out of band"))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let coredns = format!("eks_addon.{CLUSTER}/coredns[{spoke}/us-east-1]");
    ensure(
        plan.stdout
            .contains("Drift: objects changed outside eksmgr")
            && plan.stdout.contains(&coredns)
            && plan.stdout.contains("1 to add, 0 to change, 0 to destroy"),
        || format!("the deleted add-on is drift and is created again\n{plan}"),
    )?;
    estate.apply()?;
    ensure(
        addon_names(&conf).await?.contains(&"coredns".to_owned()),
        || "coredns is back".to_owned(),
    )?;
    estate.replan_clean()?;

    // An add-on installed by hand is adopted, never created twice.
    eks.create_addon()
        .cluster_name(CLUSTER)
        .addon_name("metrics-server")
        .send()
        .await
        .map_err(sdk_err("install metrics-server by hand"))?;
    estate.eksmgr.write_config(&config(
        "1.33",
        8,
        "\n[[clusters.addons]]\nname = \"metrics-server\"\n",
    ))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout.contains("metrics-server") && plan.stdout.contains("adopt"),
        || format!("the hand-made add-on is adopted\n{plan}"),
    )?;
    proxy.reset_counts();
    estate.apply()?;
    ensure(
        first(&proxy.calls(), &format!("POST /clusters/{CLUSTER}/addons")).is_err(),
        || "adopting creates nothing".to_owned(),
    )?;
    estate.replan_clean()?;
    let adopted = config(
        "1.33",
        8,
        "\n[[clusters.addons]]\nname = \"metrics-server\"\n",
    );

    // Two minors at once is refused at plan time; one minor is planned and applied as control
    // plane, add-ons, node groups.
    estate
        .eksmgr
        .write_config(&adopted.replacen("version = \"1.33\"", "version = \"1.35\"", 1))?;
    let plan = estate.expect(&["plan"], 1)?;
    ensure(
        format!("{}{}", plan.stdout, plan.stderr)
            .contains("EKS upgrades one minor version at a time"),
        || format!("a two-minor jump is refused\n{plan}"),
    )?;
    estate
        .eksmgr
        .write_config(&adopted.replacen("version = \"1.33\"", "version = \"1.34\"", 1))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let at = |what: &str| {
        plan.stdout
            .find(what)
            .ok_or_else(|| format!("the upgrade plan names {what}\n{plan}"))
    };
    let cluster_at = at(&format!(
        "eks_cluster.{CLUSTER}[{spoke}/us-east-1] will be updated"
    ))?;
    let kube_proxy_at = at(&format!(
        "eks_addon.{CLUSTER}/kube-proxy[{spoke}/us-east-1] will be updated"
    ))?;
    let group_at = at(&format!(
        "eks_node_group.{CLUSTER}/general[{spoke}/us-east-1] will be updated"
    ))?;
    let addons: Vec<usize> = plan
        .stdout
        .match_indices(&format!("# eks_addon.{CLUSTER}/"))
        .map(|(i, _)| i)
        .collect();
    ensure(
        cluster_at < kube_proxy_at && addons.iter().all(|a| cluster_at < *a && *a < group_at),
        || format!("the plan shows control plane, add-ons, node group in that order\n{plan}"),
    )?;
    proxy.reset_counts();
    estate.apply()?;
    let calls = proxy.calls();
    let control_plane = first(&calls, &format!("POST /clusters/{CLUSTER}/updates"))?;
    let addons_first = first(&calls, &format!("POST /clusters/{CLUSTER}/addons/"))?;
    let addons_last = last(&calls, &format!("POST /clusters/{CLUSTER}/addons/"))?;
    let nodes = first(
        &calls,
        &format!("POST /clusters/{CLUSTER}/node-groups/general/update-version"),
    )?;
    ensure(control_plane < addons_first && addons_last < nodes, || {
        format!(
            "applied as control plane ({control_plane}), add-ons ({addons_first}..{addons_last}), node group ({nodes})"
        )
    })?;
    let group = eks
        .describe_nodegroup()
        .cluster_name(CLUSTER)
        .nodegroup_name("general")
        .send()
        .await
        .map_err(sdk_err("describe the node group"))?;
    ensure(
        group.nodegroup().and_then(|g| g.version()) == Some("1.34"),
        || format!("the node group runs 1.34: {group:?}"),
    )?;
    estate.replan_clean()?;
    Ok(())
}
