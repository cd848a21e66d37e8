//! Subnets chosen by tags: which accounts and regions discovery must list subnets in, and how
//! a `subnet_selector` picks subnets from what was listed. A selection EKS would refuse (no
//! subnet, subnets in two VPCs, a cluster's subnets in one availability zone) is a gap that
//! skips the account, with what to change.

use std::collections::{BTreeMap, BTreeSet};

use super::Discovery;
use crate::config::{AccountId, ClusterConfig, Config, SubnetSelectorConfig};

/// The subnets and VPCs of one account and region, as `DescribeSubnets` and `DescribeVpcs`
/// list them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    /// Every subnet.
    pub subnets: Vec<Subnet>,
    /// Every VPC (listed only when a selector names VPC tags).
    pub vpcs: Vec<Vpc>,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-...`.
    pub id: String,
    /// `vpc-...`.
    pub vpc_id: String,
    /// `us-east-1a`.
    pub availability_zone: String,
    /// Whether its state is `available`.
    pub available: bool,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    /// `vpc-...`.
    pub id: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// One account and region whose network discovery must list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NetworkRead {
    /// The spoke account.
    pub account: String,
    /// The region.
    pub region: String,
    /// Whether a selector there names VPC tags (the VPCs are listed too).
    pub vpcs: bool,
}

/// Whether the cluster (as it applies to one account) selects any subnets by tags: its own,
/// when it names none, or a node group's.
fn selectors(c: &ClusterConfig) -> impl Iterator<Item = &SubnetSelectorConfig> {
    let own = c
        .subnet_selector
        .as_ref()
        .filter(|_| c.subnet_ids.is_empty());
    let groups = c
        .node_groups
        .iter()
        .filter(|ng| ng.subnet_ids.is_empty())
        .filter_map(|ng| ng.subnet_selector.as_ref());
    own.into_iter().chain(groups)
}

/// The accounts and regions whose subnets the blueprint needs: the spokes of every cluster
/// that selects subnets by tags. Empty (and no template copied) when no cluster does.
pub fn network_reads(config: &Config, d: &Discovery) -> Vec<NetworkRead> {
    let any = config.clusters.iter().any(|c| {
        c.subnet_selector.is_some()
            || c.overrides.values().any(|o| o.subnet_selector.is_some())
            || c.node_groups.iter().any(|ng| ng.subnet_selector.is_some())
    });
    if !any {
        return Vec::new();
    }
    let mut reads: BTreeMap<(String, String), bool> = BTreeMap::new();
    for spoke in &d.spokes {
        let Ok(account) = AccountId::try_from(spoke.id.as_str()) else {
            continue;
        };
        for template in &config.clusters {
            let Some(c) = template.for_account(&account) else {
                continue;
            };
            let mut wanted = selectors(&c).peekable();
            if wanted.peek().is_none() {
                continue;
            }
            let vpcs = wanted.any(|s| !s.vpc_tags.is_empty());
            let region = config.cluster_region(&c).to_string();
            *reads.entry((spoke.id.clone(), region)).or_default() |= vpcs;
        }
    }
    reads
        .into_iter()
        .map(|((account, region), vpcs)| NetworkRead {
            account,
            region,
            vpcs,
        })
        .collect()
}

/// What a selector is, for messages: `tags {"k" = "v"}, vpc_id vpc-...`.
pub fn describe(sel: &SubnetSelectorConfig) -> String {
    let tags = |t: &BTreeMap<String, String>| {
        t.iter()
            .map(|(k, v)| format!("{k:?} = {v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !sel.tags.is_empty() {
        parts.push(format!("tags {{ {} }}", tags(&sel.tags)));
    }
    if let Some(v) = &sel.vpc_id {
        parts.push(format!("vpc_id {v}"));
    }
    if !sel.vpc_tags.is_empty() {
        parts.push(format!("vpc_tags {{ {} }}", tags(&sel.vpc_tags)));
    }
    parts.join(", ")
}

/// The subnets `sel` picks from `network`, sorted by id: available subnets with every tag of
/// the selector, in its VPC (by id, or by the VPC's tags). EKS needs a cluster's subnets in
/// one VPC and in at least two availability zones (`two_zones`); a node group's, in one VPC.
/// The error says what was found and what to change.
/// <https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html>
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html>
pub fn select(
    sel: &SubnetSelectorConfig,
    network: &Network,
    two_zones: bool,
) -> Result<Vec<String>, String> {
    let has = |tags: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>| {
        wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
    };
    let vpcs: BTreeSet<&str> = network
        .vpcs
        .iter()
        .filter(|v| has(&v.tags, &sel.vpc_tags))
        .map(|v| v.id.as_str())
        .collect();
    let picked: Vec<&Subnet> = network
        .subnets
        .iter()
        .filter(|s| s.available && has(&s.tags, &sel.tags))
        .filter(|s| sel.vpc_id.as_ref().is_none_or(|v| &s.vpc_id == v))
        .filter(|s| sel.vpc_tags.is_empty() || vpcs.contains(s.vpc_id.as_str()))
        .collect();
    if picked.is_empty() {
        return Err(format!(
            "no available subnet matches subnet_selector ({}) among the {} subnet(s) there",
            describe(sel),
            network.subnets.len()
        ));
    }
    let mut by_vpc: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &picked {
        by_vpc.entry(&s.vpc_id).or_default().push(&s.id);
    }
    if by_vpc.len() > 1 {
        let list: Vec<String> = by_vpc
            .iter()
            .map(|(v, s)| format!("{v}: {}", s.join(", ")))
            .collect();
        return Err(format!(
            "subnet_selector ({}) matches subnets in {} VPCs ({}), and EKS needs them in one: add `vpc_id` or `vpc_tags` to the selector",
            describe(sel),
            by_vpc.len(),
            list.join("; ")
        ));
    }
    let zones: BTreeSet<&str> = picked
        .iter()
        .map(|s| s.availability_zone.as_str())
        .collect();
    if two_zones && zones.len() < 2 {
        return Err(format!(
            "subnet_selector ({}) matches {} subnet(s), all in availability zone {}, and EKS needs a cluster's subnets in at least two",
            describe(sel),
            picked.len(),
            zones.iter().next().copied().unwrap_or("?")
        ));
    }
    let mut ids: Vec<String> = picked.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, vpc: &str, zone: &str, tags: &[(&str, &str)]) -> Subnet {
        Subnet {
            id: id.into(),
            vpc_id: vpc.into(),
            availability_zone: zone.into(),
            available: true,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    fn selector(tags: &[(&str, &str)]) -> SubnetSelectorConfig {
        SubnetSelectorConfig {
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Default::default()
        }
    }

    const ELB: (&str, &str) = ("kubernetes.io/role/internal-elb", "1");

    #[test]
    fn tagged_subnets_in_two_zones_are_picked_sorted() {
        let net = Network {
            subnets: vec![
                subnet("subnet-2", "vpc-a", "us-east-1b", &[ELB]),
                subnet("subnet-1", "vpc-a", "us-east-1a", &[ELB, ("x", "y")]),
                subnet("subnet-3", "vpc-a", "us-east-1a", &[]),
            ],
            vpcs: vec![],
        };
        assert_eq!(
            select(&selector(&[ELB]), &net, true),
            Ok(vec!["subnet-1".to_string(), "subnet-2".to_string()])
        );
    }

    #[test]
    fn one_zone_is_refused_for_a_cluster_but_not_a_node_group() {
        let net = Network {
            subnets: vec![
                subnet("subnet-1", "vpc-a", "us-east-1a", &[ELB]),
                subnet("subnet-2", "vpc-a", "us-east-1a", &[ELB]),
            ],
            vpcs: vec![],
        };
        let e = select(&selector(&[ELB]), &net, true).unwrap_err();
        assert!(e.contains("us-east-1a") && e.contains("two"), "{e}");
        assert!(select(&selector(&[ELB]), &net, false).is_ok());
    }

    #[test]
    fn two_vpcs_need_a_vpc_to_be_named() {
        let net = Network {
            subnets: vec![
                subnet("subnet-1", "vpc-a", "us-east-1a", &[ELB]),
                subnet("subnet-2", "vpc-a", "us-east-1b", &[ELB]),
                subnet("subnet-3", "vpc-b", "us-east-1a", &[ELB]),
            ],
            vpcs: vec![
                Vpc {
                    id: "vpc-a".into(),
                    tags: [("env".to_string(), "prod".to_string())].into(),
                },
                Vpc {
                    id: "vpc-b".into(),
                    tags: BTreeMap::new(),
                },
            ],
        };
        let e = select(&selector(&[ELB]), &net, true).unwrap_err();
        assert!(e.contains("2 VPCs") && e.contains("vpc_id"), "{e}");
        let mut by_id = selector(&[ELB]);
        by_id.vpc_id = Some("vpc-a".into());
        assert_eq!(select(&by_id, &net, true).map(|s| s.len()), Ok(2));
        let mut by_tags = selector(&[ELB]);
        by_tags.vpc_tags = [("env".to_string(), "prod".to_string())].into();
        assert_eq!(select(&by_tags, &net, true).map(|s| s.len()), Ok(2));
    }

    #[test]
    fn nothing_matching_says_what_was_looked_for() {
        let mut unavailable = subnet("subnet-1", "vpc-a", "us-east-1a", &[ELB]);
        unavailable.available = false;
        let net = Network {
            subnets: vec![unavailable],
            vpcs: vec![],
        };
        let e = select(&selector(&[ELB]), &net, true).unwrap_err();
        assert!(
            e.contains("no available subnet") && e.contains("internal-elb"),
            "{e}"
        );
    }
}
