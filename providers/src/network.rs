//! EC2 network reads: the subnets (and VPCs) of a spoke account and region, listed through
//! the spoke's session, from which a cluster's `subnet_selector` picks its subnets.

use std::collections::BTreeMap;

use eksmgr_engine::blueprint::{Network, Subnet, Vpc};
use eksmgr_engine::provider::ProviderError;

use crate::error::{Call, map};
use crate::sessions::Sessions;

crate::service_client!(aws_sdk_ec2, "ec2");

/// Page size of the listings (EC2 takes 5 to 1000).
const PAGE: i32 = 1000;

/// Every subnet of `account` in `region` (`DescribeSubnets`, paginated), and its VPCs
/// (`DescribeVpcs`) when `vpcs` is set. Subnets are matched against selectors here, not by
/// EC2 filters: one listing serves every selector of the account and region.
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSubnets.html>
pub async fn read(
    s: &Sessions,
    account: &str,
    region: &str,
    vpcs: bool,
) -> Result<Network, ProviderError> {
    let c = client(s, account, Some(region)).await?;
    let what = format!("the subnets of {region}");
    let call = Call::new(account, &what, "ec2:DescribeSubnets");
    let mut network = Network::default();
    let mut pages = c
        .describe_subnets()
        .max_results(PAGE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map(call, e))?;
        network
            .subnets
            .extend(page.subnets().iter().map(|sn| Subnet {
                id: sn.subnet_id().unwrap_or_default().to_string(),
                vpc_id: sn.vpc_id().unwrap_or_default().to_string(),
                availability_zone: sn.availability_zone().unwrap_or_default().to_string(),
                available: sn.state() == Some(&aws_sdk_ec2::types::SubnetState::Available),
                tags: tags(sn.tags()),
            }));
    }
    if vpcs {
        let call = Call::new(account, &what, "ec2:DescribeVpcs");
        let mut pages = c.describe_vpcs().max_results(PAGE).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map(call, e))?;
            network.vpcs.extend(page.vpcs().iter().map(|v| Vpc {
                id: v.vpc_id().unwrap_or_default().to_string(),
                tags: tags(v.tags()),
            }));
        }
    }
    Ok(network)
}

fn tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}
