//! Add-ons and node groups: which add-ons a cluster gets and at which version, the pod
//! identity agent's explicit opt-out, refusals at plan time (an add-on version or node group
//! EKS would refuse), the upgrade order, and the node group rules of the plan (desired size
//! set at creation only, downgrades and replacements refused).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use eksmgr_engine::annotation::Note;
use eksmgr_engine::blueprint::{self, AddonVersions, BlueprintError, Discovery};
use eksmgr_engine::config;
use eksmgr_engine::model::{DesiredResource, ObservedResource, ResourceKind};
use eksmgr_engine::plan::{Action, PlanOptions, Planner};
use eksmgr_engine::refresh::{Observation, Observations};
use eksmgr_state::{State, json};

const BASE: &str = r#"
[organization]
management_account_id = "111111111111"
eks_ou_id = "ou-abcd-11111111"

[hub]
account_id = "222222222222"

[[clusters]]
name = "workloads"
account = "*"
version = "1.34"
subnet_ids = ["subnet-0f0f0f01", "subnet-0f0f0f02"]
build_pods = { namespace = "ci", service_account = "builder" }
"#;

const GROUPS: &str = r#"
[[clusters.node_groups]]
name = "general"
min_size = 2
max_size = 5
labels = { role = "general" }
taints = [{ key = "dedicated", value = "ci", effect = "NO_SCHEDULE" }]
"#;

fn catalog(k8s: &str) -> Vec<AddonVersions> {
    let minor = k8s.trim_start_matches("1.");
    let v = |name: &str, versions: &[&str], default: &str| AddonVersions {
        name: name.into(),
        versions: versions.iter().map(|s| s.to_string()).collect(),
        default: Some(default.into()),
    };
    vec![
        v(
            "vpc-cni",
            &["v1.19.2-eksbuild.1", "v1.20.0-eksbuild.1"],
            "v1.19.2-eksbuild.1",
        ),
        v(
            "coredns",
            &[&format!("v1.11.{minor}-eksbuild.1")],
            &format!("v1.11.{minor}-eksbuild.1"),
        ),
        v(
            "kube-proxy",
            &[&format!("v{k8s}.0-eksbuild.2")],
            &format!("v{k8s}.0-eksbuild.2"),
        ),
        v(
            "eks-pod-identity-agent",
            &["v1.3.8-eksbuild.2"],
            "v1.3.8-eksbuild.2",
        ),
        v(
            "aws-ebs-csi-driver",
            &["v1.45.0-eksbuild.2", "v1.44.0-eksbuild.1"],
            "v1.45.0-eksbuild.2",
        ),
    ]
}

fn discovery() -> Discovery {
    let mut d = Discovery::of_spokes(
        "111111111111",
        "o-a1b2c3d4e5/r-ab12/ou-abcd-11111111/",
        ["333333333333"],
    );
    for k8s in ["1.34", "1.35"] {
        d.addon_versions
            .insert(("us-east-1".into(), k8s.into()), catalog(k8s));
    }
    d
}

fn expand(toml: &str) -> Result<blueprint::Blueprint, BlueprintError> {
    let cfg = config::parse(toml, "eksmgr.toml").unwrap_or_else(|e| panic!("{e}"));
    blueprint::expand(&cfg, &discovery())
}

fn find<'a>(rs: &'a [DesiredResource], kind: ResourceKind, name: &str) -> &'a DesiredResource {
    rs.iter()
        .find(|r| r.kind == kind && r.address.name == name)
        .unwrap_or_else(|| panic!("no {kind}.{name}"))
}

fn attr(r: &DesiredResource, name: &str) -> eksmgr_engine::model::Value {
    r.attrs[name].known().cloned().unwrap_or_default()
}

#[test]
fn a_cluster_gets_the_default_addons_at_the_default_versions_and_its_node_groups_after_them() {
    let bp = expand(&format!("{BASE}{GROUPS}")).unwrap();
    assert!(bp.warnings.is_empty(), "{:?}", bp.warnings);
    let addons: Vec<(String, eksmgr_engine::model::Value)> = bp
        .resources
        .iter()
        .filter(|r| r.kind == ResourceKind::EksAddon)
        .map(|r| (r.address.name.to_string(), attr(r, "addon_version")))
        .collect();
    assert_eq!(
        addons,
        vec![
            ("workloads/coredns".into(), json!("v1.11.34-eksbuild.1")),
            (
                "workloads/eks-pod-identity-agent".into(),
                json!("v1.3.8-eksbuild.2")
            ),
            ("workloads/kube-proxy".into(), json!("v1.34.0-eksbuild.2")),
            ("workloads/vpc-cni".into(), json!("v1.19.2-eksbuild.1")),
        ]
    );
    let ng = find(
        &bp.resources,
        ResourceKind::EksNodeGroup,
        "workloads/general",
    );
    assert_eq!(attr(ng, "version"), json!("1.34"));
    assert_eq!(attr(ng, "desired_size"), json!(2));
    assert_eq!(
        attr(ng, "node_role_arn"),
        json!("arn:aws:iam::333333333333:role/workloads-node")
    );
    assert_eq!(
        attr(ng, "subnet_ids"),
        json!(["subnet-0f0f0f01", "subnet-0f0f0f02"])
    );
    assert_eq!(
        attr(ng, "taints"),
        json!([{"key": "dedicated", "value": "ci", "effect": "NO_SCHEDULE"}])
    );
    // The node group comes after the cluster and every add-on of it.
    let cluster = find(&bp.resources, ResourceKind::EksCluster, "workloads");
    // EKS installs no self-managed copies of the add-ons eksmgr manages.
    assert_eq!(attr(cluster, "bootstrap_self_managed_addons"), json!(false));
    assert!(ng.depends_on.contains(&cluster.address));
    for addon in ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"] {
        let a = find(
            &bp.resources,
            ResourceKind::EksAddon,
            &format!("workloads/{addon}"),
        );
        assert!(a.depends_on.contains(&cluster.address));
        assert!(ng.depends_on.contains(&a.address), "{addon}");
    }
}

#[test]
fn the_pod_identity_agent_comes_with_pod_identities_and_leaves_only_with_a_warning() {
    // default_addons = false leaves the networking add-ons out, not the agent.
    let no_defaults = BASE.replace(
        "version = \"1.34\"",
        "version = \"1.34\"\ndefault_addons = false",
    );
    let bp = expand(&no_defaults).unwrap();
    let names: Vec<&str> = bp
        .resources
        .iter()
        .filter(|r| r.kind == ResourceKind::EksAddon)
        .map(|r| r.address.name.as_str())
        .collect();
    assert_eq!(names, vec!["workloads/eks-pod-identity-agent"]);
    assert!(bp.warnings.is_empty(), "{:?}", bp.warnings);
    let cluster = find(&bp.resources, ResourceKind::EksCluster, "workloads");
    assert_eq!(attr(cluster, "bootstrap_self_managed_addons"), json!(true));

    // Leaving it out takes `enabled = false`, and the plan warns.
    let opted_out = format!(
        "{no_defaults}\n[[clusters.addons]]\nname = \"eks-pod-identity-agent\"\nenabled = false\n"
    );
    let bp = expand(&opted_out).unwrap();
    assert!(
        !bp.resources
            .iter()
            .any(|r| r.kind == ResourceKind::EksAddon)
    );
    assert_eq!(bp.warnings.len(), 1, "{:?}", bp.warnings);
    assert!(
        bp.warnings[0].contains("pod identity associations")
            && bp.warnings[0].contains("enabled = false"),
        "{}",
        bp.warnings[0]
    );

    // Without any pod identity, no agent and no warning.
    let plain = BASE.replace(
        "build_pods = { namespace = \"ci\", service_account = \"builder\" }\n",
        "",
    );
    let bp = expand(&plain).unwrap();
    assert!(
        !bp.resources
            .iter()
            .any(|r| r.address.name.ends_with("eks-pod-identity-agent"))
    );
}

#[test]
fn an_addon_with_a_pod_identity_gets_its_role_and_passes_it() {
    let toml = format!(
        "{BASE}\n[[clusters.addons]]\nname = \"aws-ebs-csi-driver\"\nresolve_conflicts = \"OVERWRITE\"\nconfiguration = {{ controller = {{ replicaCount = 1 }} }}\npod_identity = {{ service_account = \"ebs-csi-controller-sa\", managed_policies = [\"service-role/AmazonEBSCSIDriverPolicy\"] }}\n"
    );
    let bp = expand(&toml).unwrap();
    let ebs = find(
        &bp.resources,
        ResourceKind::EksAddon,
        "workloads/aws-ebs-csi-driver",
    );
    assert_eq!(attr(ebs, "addon_version"), json!("v1.45.0-eksbuild.2"));
    assert_eq!(attr(ebs, "resolve_conflicts"), json!("OVERWRITE"));
    assert_eq!(
        attr(ebs, "configuration"),
        json!({"controller": {"replicaCount": 1}})
    );
    assert_eq!(
        attr(ebs, "pod_identity_associations"),
        json!([{
            "service_account": "ebs-csi-controller-sa",
            "role_arn": "arn:aws:iam::333333333333:role/workloads-aws-ebs-csi-driver"
        }])
    );
    let role = find(
        &bp.resources,
        ResourceKind::IamRole,
        "workloads-aws-ebs-csi-driver",
    );
    assert!(ebs.depends_on.contains(&role.address));
    assert_eq!(
        attr(role, "managed_policy_arns"),
        json!(["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"])
    );
    let trust = attr(role, "assume_role_policy").to_string();
    assert!(
        trust.contains("pods.eks.amazonaws.com") && trust.contains("ebs-csi-controller-sa"),
        "{trust}"
    );
}

#[test]
fn what_eks_would_refuse_is_refused_before_anything_is_planned() {
    let cases = [
        (
            format!("{BASE}\n[[clusters.addons]]\nname = \"no-such-addon\"\n"),
            "EKS offers no add-on `no-such-addon` for Kubernetes 1.34",
        ),
        (
            format!(
                "{BASE}\n[[clusters.addons]]\nname = \"vpc-cni\"\nversion = \"v1.12.0-eksbuild.1\"\n"
            ),
            "add-on `vpc-cni` v1.12.0-eksbuild.1 does not run on Kubernetes 1.34",
        ),
        (
            format!("{BASE}{GROUPS}version = \"1.35\"\n"),
            "node group `general` asks for Kubernetes 1.35, newer than its control plane's 1.34",
        ),
        (
            format!("{BASE}{GROUPS}ami_type = \"AL2_x86_64\"\n"),
            "EKS publishes no Amazon Linux 2 AMIs for Kubernetes 1.33 or later",
        ),
    ];
    for (toml, want) in cases {
        match expand(&toml) {
            Err(e @ BlueprintError::Compute(_)) => {
                let text = e.to_string();
                assert!(text.contains(want), "{text}");
                assert!(text.contains("nothing was planned"), "{text}");
            }
            other => panic!("expected a refusal containing {want:?}, got {other:?}"),
        }
    }
}

/// The cloud as the 1.34 estate left it, for the resources of `bp` of the given kinds.
fn observed_as(
    bp: &[DesiredResource],
    edit: impl Fn(&DesiredResource, &mut eksmgr_engine::model::Attrs),
) -> Observations {
    bp.iter()
        .map(|r| {
            let mut attrs = r.known_attrs();
            edit(r, &mut attrs);
            (
                r.address.clone(),
                Observation::Found(ObservedResource::new(r.address.name.to_string(), attrs)),
            )
        })
        .collect()
}

fn only_compute(rs: &[DesiredResource]) -> Vec<DesiredResource> {
    rs.iter()
        .filter(|r| {
            matches!(
                r.kind,
                ResourceKind::EksCluster | ResourceKind::EksAddon | ResourceKind::EksNodeGroup
            )
        })
        .map(|r| {
            let mut r = r.clone();
            r.depends_on
                .retain(|d| matches!(d.kind.as_str(), "eks_cluster" | "eks_addon"));
            r
        })
        .collect()
}

#[test]
fn an_upgrade_plans_the_control_plane_then_the_addons_then_the_node_groups() {
    let old = only_compute(&expand(&format!("{BASE}{GROUPS}")).unwrap().resources);
    let new = only_compute(
        &expand(&format!("{BASE}{GROUPS}").replace("version = \"1.34\"", "version = \"1.35\""))
            .unwrap()
            .resources,
    );
    let observed = observed_as(&old, |_, _| {});
    let plan = Planner::plan(&new, &State::new(), &observed, &PlanOptions::default()).unwrap();
    let updates: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Update)
        .map(|c| c.address.to_string())
        .collect();
    // vpc-cni and the agent keep their versions; the rest move, in dependency order.
    let at = |s: &str| {
        updates
            .iter()
            .position(|a| a.starts_with(s))
            .unwrap_or_else(|| panic!("{s} not updated: {updates:?}"))
    };
    assert_eq!(updates.len(), 4, "{updates:?}");
    assert!(at("eks_cluster.workloads") < at("eks_addon.workloads/coredns"));
    assert!(at("eks_addon.workloads/coredns") < at("eks_node_group.workloads/general"));
    assert!(at("eks_addon.workloads/kube-proxy") < at("eks_node_group.workloads/general"));
    let ng = plan
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::EksNodeGroup)
        .unwrap();
    assert!(
        ng.notes.contains(&Note::NodeGroupUpgrade {
            version: "1.35".into()
        }),
        "{:?}",
        ng.notes
    );
    assert!(plan.blocked().next().is_none());
}

#[test]
fn a_node_groups_desired_size_is_set_at_creation_and_left_to_the_autoscaler_afterwards() {
    let rs = only_compute(&expand(&format!("{BASE}{GROUPS}")).unwrap().resources);
    let ng = rs
        .iter()
        .find(|r| r.kind == ResourceKind::EksNodeGroup)
        .unwrap();

    let create = Planner::plan(
        &rs,
        &State::new(),
        &Observations::new(),
        &PlanOptions::default(),
    )
    .unwrap();
    let c = create.change(&ng.address).unwrap();
    assert_eq!(c.action, Action::Create);
    assert!(c.notes.contains(&Note::DesiredSizeAtCreate {
        desired: 2,
        now: None
    }));

    // An autoscaler moved it to 4: no change.
    let scaled = observed_as(&rs, |r, a| {
        if r.kind == ResourceKind::EksNodeGroup {
            a.insert("desired_size".into(), json!(4));
        }
    });
    let plan = Planner::plan(&rs, &State::new(), &scaled, &PlanOptions::default()).unwrap();
    assert_eq!(plan.change(&ng.address).unwrap().action, Action::NoOp);

    // Raising max_size is in place, and the plan says the desired size stays as AWS has it.
    let more = observed_as(&rs, |r, a| {
        if r.kind == ResourceKind::EksNodeGroup {
            a.insert("desired_size".into(), json!(4));
            a.insert("max_size".into(), json!(4));
        }
    });
    let plan = Planner::plan(&rs, &State::new(), &more, &PlanOptions::default()).unwrap();
    let c = plan.change(&ng.address).unwrap();
    assert_eq!(c.action, Action::Update);
    let names: Vec<&str> = c.attribute_diffs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["max_size"]);
    assert!(c.notes.contains(&Note::DesiredSizeAtCreate {
        desired: 2,
        now: Some(4)
    }));

    // Another instance type replaces the group: blocked without allow_replacement.
    let other = observed_as(&rs, |r, a| {
        if r.kind == ResourceKind::EksNodeGroup {
            a.insert("instance_types".into(), json!(["m5.large"]));
        }
    });
    let plan = Planner::plan(&rs, &State::new(), &other, &PlanOptions::default()).unwrap();
    let c = plan.change(&ng.address).unwrap();
    assert_eq!(c.action, Action::Replace);
    assert!(c.notes.contains(&Note::NodeGroupReplacementTerminatesNodes));
    assert!(
        c.blocked.as_deref().unwrap().contains("allow_replacement"),
        "{:?}",
        c.blocked
    );

    // A newer node group than desired cannot go back.
    let newer = observed_as(&rs, |r, a| {
        if r.kind == ResourceKind::EksNodeGroup {
            a.insert("version".into(), json!("1.35"));
        }
    });
    let plan = Planner::plan(&rs, &State::new(), &newer, &PlanOptions::default()).unwrap();
    let c = plan.change(&ng.address).unwrap();
    assert!(
        c.blocked.as_deref().unwrap().contains("cannot downgrade"),
        "{:?}",
        c.blocked
    );
}

#[test]
fn an_addon_is_adopted_and_never_downgraded() {
    let rs = only_compute(&expand(BASE).unwrap().resources);
    let coredns = rs
        .iter()
        .find(|r| r.address.name == "workloads/coredns")
        .unwrap();
    let newer = observed_as(&rs, |r, a| {
        if r.address.name == "workloads/coredns" {
            a.insert("addon_version".into(), json!("v1.12.0-eksbuild.1"));
        }
    });
    let plan = Planner::plan(&rs, &State::new(), &newer, &PlanOptions::default()).unwrap();
    let c = plan.change(&coredns.address).unwrap();
    assert_eq!(c.action, Action::Update);
    assert!(c.adopt);
    assert!(c.notes.contains(&Note::AddonAdopted));
    assert!(
        c.blocked.as_deref().unwrap().contains("does not downgrade"),
        "{:?}",
        c.blocked
    );
}

#[test]
fn a_node_group_behind_its_control_plane_holds_the_upgrade_back() {
    // The cluster runs 1.34, its group is pinned at 1.33 (EKS allows the skew) ...
    let pinned = format!("{BASE}{GROUPS}version = \"1.33\"\n");
    let now = only_compute(&expand(&pinned).unwrap().resources);
    let observed = observed_as(&now, |_, _| {});
    // ... so the control plane cannot go to 1.35 until the group follows it.
    let upgrade = only_compute(
        &expand(&pinned.replacen("version = \"1.34\"", "version = \"1.35\"", 1))
            .unwrap()
            .resources,
    );
    let plan = Planner::plan(&upgrade, &State::new(), &observed, &PlanOptions::default()).unwrap();
    let cluster = plan
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::EksCluster)
        .unwrap();
    assert_eq!(cluster.action, Action::Update);
    let why = cluster.blocked.as_deref().unwrap_or_default();
    assert!(
        why.contains("node group(s) general (1.33)") && why.contains("remove their `version`"),
        "{why}"
    );
    // Following the cluster (no pin), the same upgrade is planned.
    let following = only_compute(
        &expand(&format!("{BASE}{GROUPS}").replacen("version = \"1.34\"", "version = \"1.35\"", 1))
            .unwrap()
            .resources,
    );
    let caught_up = observed_as(&now, |r, a| {
        if r.kind == ResourceKind::EksNodeGroup {
            a.insert("version".into(), json!("1.34"));
        }
    });
    let plan = Planner::plan(
        &following,
        &State::new(),
        &caught_up,
        &PlanOptions::default(),
    )
    .unwrap();
    assert!(plan.blocked().next().is_none());
}
