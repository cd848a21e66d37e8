//! The hub's side: the current version of a `[[secrets]]` source, read with
//! `secretsmanager:GetSecretValue` as the hub agent role (whose policy allows exactly
//! `secret:<secrets_prefix>*` in the hub).

use eksmgr_engine::config::{Config, SecretConfig};
use eksmgr_engine::provider::ProviderError;
use eksmgr_engine::secrets::SecretValue;
use eksmgr_providers::Sessions;
use eksmgr_providers::error::{Call, map};

/// A secret's current version in the hub.
#[derive(Debug)]
pub struct Source {
    /// The secret's full ARN (with AWS's random suffix).
    pub arn: String,
    /// The current (`AWSCURRENT`) version id.
    pub version_id: String,
    /// The value; its `Debug` shows only its size.
    pub value: SecretValue,
}

/// The region a source is read in: its ARN's, else the organization's home region.
fn region_of<'a>(secret_id: &'a str, home: &'a str) -> &'a str {
    if secret_id.starts_with("arn:") {
        secret_id
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(home)
    } else {
        home
    }
}

/// Reads the current version of `secret`'s source.
pub async fn read(
    sessions: &Sessions,
    config: &Config,
    secret: &SecretConfig,
) -> Result<Source, ProviderError> {
    let id = secret.secret_id(&config.hub.secrets_prefix);
    let region = region_of(&id, &config.organization.home_region);
    let client = sessions
        .hub_agent_client("secretsmanager", Some(region), |conf, s| {
            aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(conf)
                    .region(s.region)
                    .retry_partition(s.partition)
                    .timeout_config(s.timeouts)
                    .retry_config(s.retry)
                    .interceptor(s.interceptor)
                    .build(),
            )
        })
        .await?;
    let hub = config.hub.account_id.as_str();
    let resource = format!("secret {id} (for [[secrets]] {})", secret.name);
    let out = client
        .get_secret_value()
        .secret_id(&id)
        .send()
        .await
        .map_err(|e| {
            let mut e = map(Call::new(hub, &resource, "secretsmanager:GetSecretValue"), e);
            if e.hint.is_none() {
                e.hint = Some(format!(
                    "create it in the hub's Secrets Manager ({region}) as {id}, e.g. `aws secretsmanager create-secret --name {id} --secret-string file://value.json`"
                ));
            }
            e
        })?;
    let value = match (out.secret_string(), out.secret_binary()) {
        (Some(s), _) => SecretValue::Text(s.to_string()),
        (None, Some(b)) => SecretValue::Binary(b.as_ref().to_vec()),
        (None, None) => {
            return Err(ProviderError {
                account: hub.to_string(),
                resource,
                api_call: "secretsmanager:GetSecretValue".into(),
                message: "the secret's current version has no value".into(),
                hint: None,
                kind: eksmgr_engine::provider::ErrorKind::Other,
            });
        }
    };
    Ok(Source {
        arn: out.arn().unwrap_or_default().to_string(),
        version_id: out.version_id().unwrap_or_default().to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::region_of;

    #[test]
    fn region_comes_from_the_arn() {
        assert_eq!(
            region_of(
                "arn:aws:secretsmanager:eu-west-1:111111111111:secret:/EksManager/x-AbCdEf",
                "us-east-1"
            ),
            "eu-west-1"
        );
        assert_eq!(region_of("/EksManager/x", "us-east-1"), "us-east-1");
    }
}
