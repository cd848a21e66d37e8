//! Sessions: one SDK configuration per account, built once and reused for the whole run.
//!
//! The management account uses the caller's credentials; the hub is reached by assuming
//! `OrganizationAccountAccessRole` (configurable) from them. Each account gets its own retry
//! partition (AWS throttles per account) and every call an operation timeout. The assumed-role
//! credentials are cached by the SDK's identity cache and refreshed before they expire.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime::client::retries::RetryPartition;
use aws_types::SdkConfig;
use aws_types::region::Region;
use eksmgr_engine::provider::{ErrorKind, ProviderError};
use tokio::sync::Mutex;

/// How accounts are reached.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    /// The management account id.
    pub management_account_id: String,
    /// The hub account id.
    pub hub_account_id: String,
    /// Role assumed in the hub from the management account.
    pub hub_access_role_name: String,
    /// Partition for role ARNs.
    pub partition: String,
    /// The home region (global services and the StackSet).
    pub home_region: String,
}

/// Per-account SDK configurations, built lazily and cached.
#[derive(Clone)]
pub struct Sessions {
    base: SdkConfig,
    config: SessionsConfig,
    cache: Arc<Mutex<HashMap<String, SdkConfig>>>,
}

/// Timeout for one API call, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
/// Timeout for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

impl Sessions {
    /// Sessions starting from the caller's configuration.
    pub fn new(base: SdkConfig, config: SessionsConfig) -> Self {
        Sessions {
            base,
            config,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SessionsConfig {
        &self.config
    }

    /// The caller's own configuration.
    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// The SDK configuration for an account.
    pub async fn for_account(&self, account: &str) -> Result<SdkConfig, ProviderError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(account) {
            return Ok(c.clone());
        }
        let c = if account == self.config.management_account_id {
            self.base.clone()
        } else if account == self.config.hub_account_id {
            let arn = format!(
                "arn:{}:iam::{}:role/{}",
                self.config.partition, account, self.config.hub_access_role_name
            );
            self.assume(&arn).await
        } else {
            return Err(ProviderError {
                account: account.to_string(),
                resource: format!("account {account}"),
                api_call: "sts:AssumeRole".into(),
                message: "eksmgr does not know how to reach this account".into(),
                hint: Some(
                    "only the management and hub accounts are reachable in this version".into(),
                ),
                kind: ErrorKind::AccessDenied,
            });
        };
        cache.insert(account.to_string(), c.clone());
        Ok(c)
    }

    async fn assume(&self, role_arn: &str) -> SdkConfig {
        let provider = AssumeRoleProvider::builder(role_arn)
            .session_name("eksmgr")
            .configure(&self.base)
            .build()
            .await;
        self.base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build()
    }

    /// A retry partition of its own for each account and service.
    pub fn partition(service: &str, account: &str) -> RetryPartition {
        RetryPartition::new(format!("{service}-{account}"))
    }

    /// The timeouts every client uses.
    pub fn timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
        aws_smithy_types::timeout::TimeoutConfig::builder()
            .operation_timeout(OPERATION_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
    }

    /// The region of a resource, else the home region.
    pub fn region(&self, region: Option<&str>) -> Region {
        Region::new(region.unwrap_or(&self.config.home_region).to_string())
    }
}
