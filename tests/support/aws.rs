//! AWS SDK configurations for checking the emulator from tests: the management account
//! with static test credentials, and any member account through STS AssumeRole.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::time::Duration;

/// The region every test uses.
pub const REGION: &str = "us-east-1";
/// Access key id of the management account (moto maps unknown keys to 123456789012).
pub const TEST_ACCESS_KEY_ID: &str = "testing";
/// Secret key paired with [`TEST_ACCESS_KEY_ID`].
pub const TEST_SECRET_ACCESS_KEY: &str = "testing";

/// Session name used for the roles [`assume`] assumes.
const SESSION_NAME: &str = "eksmgr-e2e";

fn config_with(endpoint: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .build()
}

/// An `SdkConfig` acting as the management account of the emulator at `endpoint`:
/// static test credentials, region `us-east-1`, every service at `endpoint`. Nothing is
/// read from the environment or from profile files.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    config_with(
        endpoint,
        Credentials::new(
            TEST_ACCESS_KEY_ID,
            TEST_SECRET_ACCESS_KEY,
            None,
            None,
            "eksmgr-e2e-static",
        ),
    )
}

/// An `SdkConfig` acting in `account_id`: assumes `arn:aws:iam::<account_id>:role/<role_name>`
/// from the management account through STS and uses the temporary keys it returns. In
/// moto those keys act in the target account, and the role need not exist.
pub async fn assume(
    endpoint: &str,
    account_id: &str,
    role_name: &str,
) -> Result<SdkConfig, String> {
    let role_arn = format!("arn:aws:iam::{account_id}:role/{role_name}");
    let sts = aws_sdk_sts::Client::new(&sdk_config(endpoint));
    let response = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name(SESSION_NAME)
        .send()
        .await
        .map_err(|err| {
            format!(
                "sts:AssumeRole {role_arn} at {endpoint} failed: {}",
                aws_sdk_sts::error::DisplayErrorContext(&err)
            )
        })?;
    let creds = response
        .credentials()
        .ok_or_else(|| format!("sts:AssumeRole {role_arn} returned no credentials"))?;
    Ok(config_with(
        endpoint,
        Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            "eksmgr-e2e-assumed",
        ),
    ))
}
