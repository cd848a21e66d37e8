//! Discovery before planning: who the caller is (the management account and the partition).

use aws_types::SdkConfig;
use eksmgr_engine::blueprint::Discovery;
use eksmgr_engine::config::Config;
use eksmgr_engine::provider::ProviderError;

use crate::AwsProvider;
use crate::error::{Call, map};
use crate::sessions::{Sessions, SessionsConfig};

/// The caller's AWS configuration through the standard chain (environment, profiles, SSO,
/// web identity, instance metadata), with the home region when none is configured.
pub async fn base_config(home_region: &str) -> SdkConfig {
    let region = aws_config::meta::region::RegionProviderChain::default_provider()
        .or_else(aws_types::region::Region::new(home_region.to_string()));
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .load()
        .await
}

/// Loads the caller's configuration, discovers who it is, and builds the provider.
pub async fn connect(config: &Config) -> Result<(AwsProvider, Discovery), ProviderError> {
    let base = base_config(&config.organization.home_region).await;
    let configured = config
        .organization
        .management_account_id
        .as_ref()
        .map(|a| a.as_str());
    let discovery = discover(&base, configured).await?;
    let sessions = Sessions::new(
        base,
        SessionsConfig {
            management_account_id: discovery.management_account_id.clone(),
            hub_account_id: config.hub.account_id.as_str().to_string(),
            hub_access_role_name: config.hub.access_role_name.clone(),
            partition: discovery.partition.clone(),
            home_region: config.organization.home_region.clone(),
        },
    );
    Ok((AwsProvider::new(sessions), discovery))
}

/// Asks STS who the caller is; the configured management account wins if given.
pub async fn discover(
    base: &SdkConfig,
    configured_management: Option<&str>,
) -> Result<Discovery, ProviderError> {
    let sts = aws_sdk_sts::Client::new(base);
    let who = sts.get_caller_identity().send().await.map_err(|e| {
        map(
            Call::new(
                "of the caller",
                "the caller's identity",
                "sts:GetCallerIdentity",
            ),
            e,
        )
    })?;
    let account = who.account().unwrap_or_default().to_string();
    let partition = who
        .arn()
        .and_then(|a| a.split(':').nth(1))
        .unwrap_or("aws")
        .to_string();
    Ok(Discovery {
        management_account_id: configured_management.map(str::to_string).unwrap_or(account),
        partition,
    })
}
