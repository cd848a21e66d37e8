//! The Kubernetes version of every cluster, checked at plan time against what EKS offers in
//! its region (`DescribeClusterVersions`, read by discovery): a version EKS no longer offers
//! (past its extended support) or does not offer yet is refused before anything is planned,
//! and a version in extended support, billed at a higher hourly price, is named in a warning
//! with the date its support ends. EKS gives a version 14 months of standard support, then 12
//! of extended support.
//! <https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html>
//! <https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeClusterVersions.html>

use std::collections::BTreeSet;

use super::Discovery;
use crate::config::Config;

/// Refusals (a version not offered) and warnings (extended support, not checked), one per
/// cluster template, region and version.
pub(super) fn check(config: &Config, d: &Discovery) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    let templates = config.clusters.iter().flat_map(|c| {
        std::iter::once((
            c.name.as_str(),
            c.version.as_str(),
            config.cluster_region(c),
        ))
        .chain(c.overrides.values().filter_map(move |o| {
            o.version.as_deref().map(|v| {
                (
                    c.name.as_str(),
                    v,
                    o.region.as_deref().unwrap_or(config.cluster_region(c)),
                )
            })
        }))
    });
    for (name, version, region) in templates {
        if !seen.insert((name, version, region)) {
            continue;
        }
        let Some(offered) = d.kubernetes_versions.get(region) else {
            if let Some(why) = d.kubernetes_versions_unread.get(region) {
                warnings.push(format!(
                    "cluster `{name}`: Kubernetes {version} was not checked against what EKS offers in {region}: {why}"
                ));
            }
            continue;
        };
        match offered.iter().find(|v| v.version == version) {
            None => {
                let list: Vec<&str> = offered.iter().map(|v| v.version.as_str()).collect();
                errors.push(format!(
                    "cluster `{name}` asks for Kubernetes {version}, which EKS does not offer in {region} (offered: {}); set `version` to one of them",
                    list.join(", ")
                ));
            }
            Some(v) if v.status == "EXTENDED_SUPPORT" => warnings.push(format!(
                "cluster `{name}` runs Kubernetes {version} in extended support in {region}{}: EKS charges more per cluster hour for it; upgrade one minor version at a time",
                v.end_of_extended_support
                    .as_deref()
                    .map(|d| format!(" (until {d})"))
                    .unwrap_or_default()
            )),
            Some(_) => {}
        }
    }
    (errors, warnings)
}
