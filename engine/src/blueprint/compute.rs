//! What makes a cluster run workloads: its EKS add-ons and its managed node groups.
//!
//! Add-ons: EKS's default networking add-ons (`vpc-cni`, `coredns`, `kube-proxy`) unless a
//! cluster says `default_addons = false`, `eks-pod-identity-agent` whenever the cluster has a
//! pod identity association (EKS Pod Identity gives pods no credentials without it,
//! <https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html>), and those the
//! cluster names. An add-on's version is pinned or EKS's default for the cluster's Kubernetes
//! version, read at plan time (`DescribeAddonVersions`); an add-on or a pinned version EKS does
//! not offer for that Kubernetes version is refused before anything is planned.
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html>
//!
//! Node groups use the cluster's node role and subnets (unless they name their own), and
//! depend on the cluster and on its add-ons: creating, the add-ons come first (the VPC CNI
//! must run before nodes can be ready); upgrading, the control plane goes first, then the
//! add-ons to versions of the new Kubernetes minor, then the node groups. A node group never
//! asks for a Kubernetes version newer than its cluster's.
//! <https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html>

use std::collections::BTreeSet;

use eksmgr_state::{ResourceAddress, json};

use super::Discovery;
use super::spokes::{PlannedCluster, pod_identity_trust, role, role_arn, tags};
use crate::config::{AddonConfig, ClusterConfig, NodeGroupConfig};
use crate::kinds::eks_cluster::KubernetesVersion;
use crate::model::{DesiredResource, ResourceKind, Value};

/// The add-ons every cluster gets unless it says `default_addons = false`.
pub const DEFAULT_ADDONS: &[&str] = &["vpc-cni", "coredns", "kube-proxy"];

/// The add-on that gives pods their EKS Pod Identity credentials.
pub const POD_IDENTITY_AGENT: &str = "eks-pod-identity-agent";

/// The first Kubernetes version EKS publishes no Amazon Linux 2 AMIs for: node groups of
/// the `AL2_*` AMI types cannot run it.
/// <https://docs.aws.amazon.com/eks/latest/userguide/eks-ami-deprecation-faqs.html>
const NO_AL2_FROM: KubernetesVersion = KubernetesVersion {
    major: 1,
    minor: 33,
};

/// What expanding the clusters' add-ons and node groups found.
#[derive(Debug, Default)]
pub(super) struct Compute {
    /// What EKS would refuse (the whole plan stops), once per cluster template.
    pub errors: Vec<String>,
    /// What a reviewer should know.
    pub warnings: Vec<String>,
}

/// Adds the add-ons and node groups of every planned cluster.
pub(super) fn resources(
    d: &Discovery,
    clusters: &[PlannedCluster],
    out: &mut Vec<DesiredResource>,
) -> Compute {
    // In parts of a large estate's clusters at once, put together in order.
    let parts = super::in_parts(clusters, |clusters| {
        let mut out = Vec::new();
        let mut errors = BTreeSet::new();
        let mut warnings = BTreeSet::new();
        for c in clusters {
            let addons = addons(d, c, &mut out, &mut errors, &mut warnings);
            node_groups(d, c, &addons, &mut out, &mut errors);
        }
        (out, errors, warnings)
    });
    let mut errors = BTreeSet::new();
    let mut warnings = BTreeSet::new();
    for (part_out, part_errors, part_warnings) in parts {
        out.extend(part_out);
        errors.extend(part_errors);
        warnings.extend(part_warnings);
    }
    Compute {
        errors: errors.into_iter().collect(),
        warnings: warnings.into_iter().collect(),
    }
}

/// Whether the cluster has a pod identity association: its own (build pods, external-dns,
/// `pod_identities`) or one of its add-ons'.
fn has_pod_identities(cfg: &ClusterConfig) -> bool {
    cfg.build_pods.is_some()
        || (cfg.hosted_zone_id.is_some() && cfg.external_dns_service_account().is_some())
        || !cfg.pod_identities.is_empty()
        || cfg
            .addons
            .iter()
            .any(|a| a.enabled && a.pod_identity.is_some())
}

/// The add-ons a cluster gets, by name, with their settings when it names them.
fn wanted_addons<'c>(
    c: &'c PlannedCluster,
    warnings: &mut BTreeSet<String>,
) -> Vec<(&'c str, Option<&'c AddonConfig>)> {
    let cfg = &c.config;
    let named = |n: &str| cfg.addons.iter().find(|a| a.name == n);
    let mut wanted: Vec<(&str, Option<&AddonConfig>)> = Vec::new();
    let defaults = if cfg.default_addons {
        DEFAULT_ADDONS
    } else {
        &[]
    };
    let agent = has_pod_identities(cfg).then_some(POD_IDENTITY_AGENT);
    for name in defaults.iter().copied().chain(agent) {
        if named(name).is_none() {
            wanted.push((name, None));
        }
    }
    for a in &cfg.addons {
        if a.enabled {
            wanted.push((&a.name, Some(a)));
        } else if a.name == POD_IDENTITY_AGENT && agent.is_some() {
            warnings.insert(format!(
                "cluster `{}` has pod identity associations but `{POD_IDENTITY_AGENT}` is disabled (`enabled = false`): EKS Pod Identity gives pods no credentials without an agent on the cluster; install one yourself, or remove `enabled = false`",
                cfg.name
            ));
        }
    }
    wanted.sort_by_key(|(name, _)| *name);
    wanted
}

/// Adds a cluster's add-ons (and the roles of their pod identities); returns their addresses.
fn addons(
    d: &Discovery,
    c: &PlannedCluster,
    out: &mut Vec<DesiredResource>,
    errors: &mut BTreeSet<String>,
    warnings: &mut BTreeSet<String>,
) -> Vec<ResourceAddress> {
    let cfg = &c.config;
    let key = (c.region.clone(), cfg.version.clone());
    let catalog = d.addon_versions.get(&key);
    if catalog.is_none()
        && let Some(why) = d.addon_versions_unread.get(&key)
    {
        warnings.insert(format!(
            "the add-on versions EKS offers for Kubernetes {} in {} could not be read ({why}): add-ons without a pinned version get EKS's default, which the plan cannot show",
            cfg.version, c.region
        ));
    }
    let mut addresses = Vec::new();
    for (name, settings) in wanted_addons(c, warnings) {
        let offered = catalog.map(|list| list.iter().find(|a| a.name == name));
        let version = match (settings.and_then(|s| s.version.as_deref()), offered) {
            (_, Some(None)) => {
                errors.insert(format!(
                    "cluster `{}`: EKS offers no add-on `{name}` for Kubernetes {} in {}; check its name (`aws eks describe-addon-versions --kubernetes-version {}`) or leave it out",
                    cfg.name, cfg.version, c.region, cfg.version
                ));
                continue;
            }
            (Some(pinned), Some(Some(a))) if !a.versions.iter().any(|v| v == pinned) => {
                errors.insert(format!(
                    "cluster `{}`: add-on `{name}` {pinned} does not run on Kubernetes {} (EKS offers {} for it); pin one of those or remove `version` to get the default",
                    cfg.name,
                    cfg.version,
                    a.versions.join(", ")
                ));
                continue;
            }
            (Some(pinned), _) => Some(pinned.to_string()),
            (None, Some(Some(a))) => a.default.clone(),
            (None, None) => None,
        };
        let r = addon(d, c, name, settings, version, out);
        addresses.push(r.address.clone());
        out.push(r);
    }
    addresses
}

/// One add-on, and its pod identity role when it has one.
fn addon(
    d: &Discovery,
    c: &PlannedCluster,
    name: &str,
    settings: Option<&AddonConfig>,
    version: Option<String>,
    out: &mut Vec<DesiredResource>,
) -> DesiredResource {
    let cfg = &c.config;
    let mut r = DesiredResource::new(
        ResourceKind::EksAddon,
        &format!("{}/{name}", cfg.name),
        &c.account,
        Some(&c.region),
    )
    .set("cluster_name", json!(cfg.name))
    .set("addon_name", json!(name))
    .set(
        "configuration",
        Value::from(serde_json::Value::Object(
            settings
                .and_then(|s| s.configuration.clone())
                .unwrap_or_default(),
        )),
    )
    .set(
        "resolve_conflicts",
        json!(
            settings
                .map(|s| s.resolve_conflicts)
                .unwrap_or_default()
                .as_str()
        ),
    )
    .set("tags", tags(cfg, &[]))
    .depend_on(&c.address);
    if let Some(v) = version {
        r = r.set("addon_version", json!(v));
    }
    let mut associations = Vec::new();
    if let Some(pi) = settings.and_then(|s| s.pod_identity.as_ref()) {
        let role_name = format!("{}-{name}", cfg.name);
        let p = &d.partition;
        let role = role(
            &c.account,
            &role_name,
            &format!(
                "eksmgr: pod identity role of the {name} add-on ({}/{}) on {}",
                pi.namespace, pi.service_account, cfg.name
            ),
            pod_identity_trust(&c.arn(p), &pi.namespace, &pi.service_account),
            pi.managed_policies
                .iter()
                .map(|n| format!("arn:{p}:iam::aws:policy/{n}"))
                .collect(),
            json!({}),
            tags(
                cfg,
                &[(
                    "eksmgr-service-account",
                    &format!("{}/{}", pi.namespace, pi.service_account),
                )],
            ),
        );
        associations.push(json!({
            "service_account": pi.service_account,
            "role_arn": role_arn(d, &c.account, &role_name),
        }));
        r = r.depend_on(&role.address);
        out.push(role);
    }
    r.set("pod_identity_associations", json!(associations))
}

/// Adds a cluster's node groups, after its add-ons.
fn node_groups(
    d: &Discovery,
    c: &PlannedCluster,
    addons: &[ResourceAddress],
    out: &mut Vec<DesiredResource>,
    errors: &mut BTreeSet<String>,
) {
    let cfg = &c.config;
    let node_role = ResourceAddress::new(
        ResourceKind::IamRole.as_str().to_string(),
        cfg.node_role_name(),
        c.account.clone(),
        None,
    );
    for ng in &cfg.node_groups {
        let version = ng.version.as_deref().unwrap_or(&cfg.version);
        if let Some(e) = version_problem(cfg, ng, version) {
            errors.insert(e);
            continue;
        }
        let subnets = if ng.subnet_ids.is_empty() {
            &cfg.subnet_ids
        } else {
            &ng.subnet_ids
        };
        let extra: Vec<(&str, &str)> = ng
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let taints: Vec<Value> = ng
            .taints
            .iter()
            .map(|t| {
                let mut m = eksmgr_state::value::Map::new();
                m.insert("key".into(), json!(t.key));
                if let Some(v) = &t.value {
                    m.insert("value".into(), json!(v));
                }
                m.insert("effect".into(), json!(t.effect.as_str()));
                Value::Object(m)
            })
            .collect();
        let mut r = DesiredResource::new(
            ResourceKind::EksNodeGroup,
            &format!("{}/{}", cfg.name, ng.name),
            &c.account,
            Some(&c.region),
        )
        .set("cluster_name", json!(cfg.name))
        .set("nodegroup_name", json!(ng.name))
        .set(
            "node_role_arn",
            json!(role_arn(d, &c.account, &cfg.node_role_name())),
        )
        .set("subnet_ids", json!(subnets))
        .set("instance_types", json!(ng.instance_types))
        .set("capacity_type", json!(ng.capacity_type.as_str()))
        .set("ami_type", json!(ng.ami_type))
        .set("disk_size", json!(ng.disk_size))
        .set("min_size", json!(ng.min_size))
        .set("max_size", json!(ng.max_size))
        .set("desired_size", json!(ng.desired_size()))
        .set("labels", json!(ng.labels))
        .set("taints", Value::Array(taints.into()))
        .set("version", json!(version))
        .set("tags", tags(cfg, &extra))
        .depend_on(&c.address)
        .depend_on(&node_role);
        for a in addons {
            r = r.depend_on(a);
        }
        r.allow_replacement = ng.allow_replacement;
        out.push(r);
    }
}

/// A node group's Kubernetes version EKS would refuse: newer than its cluster's, or one its
/// AMI type has no AMI for.
fn version_problem(cfg: &ClusterConfig, ng: &NodeGroupConfig, version: &str) -> Option<String> {
    let (Ok(group), Ok(cluster)) = (
        KubernetesVersion::parse(version),
        KubernetesVersion::parse(&cfg.version),
    ) else {
        return None;
    };
    if group > cluster {
        return Some(format!(
            "cluster `{}`: node group `{}` asks for Kubernetes {group}, newer than its control plane's {cluster}; a node group never runs ahead of its control plane: upgrade the cluster first, or remove the group's `version`",
            cfg.name, ng.name
        ));
    }
    if ng.ami_type.starts_with("AL2_") && group >= NO_AL2_FROM {
        return Some(format!(
            "cluster `{}`: node group `{}` uses ami_type {} and Kubernetes {group}, but EKS publishes no Amazon Linux 2 AMIs for Kubernetes {NO_AL2_FROM} or later; use an AL2023 or Bottlerocket AMI type",
            cfg.name, ng.name, ng.ami_type
        ));
    }
    None
}
