//! The caller's own AWS configuration, found as the AWS CLI finds it: the standard chain
//! (environment, profiles, SSO, web identity, container and instance credentials), with the
//! choices of the global `--profile` and `--region` flags on top.
//!
//! `--profile NAME` works as it does for the AWS CLI: the credentials and the region come from
//! that profile of the shared config and credentials files (static keys, `role_arn` with
//! `source_profile`, SSO, `credential_process`, web identity), even when `AWS_ACCESS_KEY_ID` is
//! set. `--region` sets the region of the caller's own calls only (who the caller is, and the
//! first role assumptions); the regions the configuration names for resources are unchanged.
//! `AWS_PROFILE`, `AWS_REGION` and `AWS_ENDPOINT_URL` keep working as the SDK reads them.
//!
//! When the caller's own identity cannot be found ([`identity`], [`explain`]), the error says
//! which of three things the user has to fix: the network (STS could not be reached: the
//! endpoint is named), the credentials (none found, or STS rejected them), or something else.

use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::SdkConfig;
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use eksmgr_engine::provider::{ErrorKind, ProviderError};
use serde::Serialize;

use crate::error::{Call, map};

/// The caller's choices of credentials and region (`--profile`, `--region`); the default
/// leaves everything to the standard chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerOptions {
    /// The named profile of the shared config and credentials files (`--profile`).
    pub profile: Option<String>,
    /// The region of the caller's own calls (`--region`).
    pub region: Option<String>,
}

impl CallerOptions {
    /// Options with a profile and a region, each optional.
    pub fn new(profile: Option<String>, region: Option<String>) -> Self {
        CallerOptions {
            profile: profile.filter(|p| !p.is_empty()),
            region: region.filter(|r| !r.is_empty()),
        }
    }
}

/// The caller's configuration: credentials and region as [`CallerOptions`] and the standard
/// chain say, the region falling back to `fallback_region` when nothing names one. A
/// `--profile` that no shared config or credentials file defines is refused here, as the AWS
/// CLI refuses it, rather than at the first call with an error that does not name it.
pub async fn sdk_config(
    options: &CallerOptions,
    fallback_region: &str,
) -> Result<SdkConfig, ProviderError> {
    check_profile(options, &Fs::real(), &Env::real()).await?;
    let mut chain = aws_config::default_provider::region::Builder::default();
    if let Some(profile) = &options.profile {
        chain = chain.profile_name(profile);
    }
    let region = RegionProviderChain::first_try(options.region.clone().map(Region::new))
        .or_else(chain.build())
        .region()
        .await
        .unwrap_or_else(|| Region::new(fallback_region.to_string()));
    let mut loader = with_timeouts(
        aws_config::defaults(aws_config::BehaviorVersion::latest()).region(region.clone()),
    );
    if let Some(profile) = &options.profile {
        // The profile's own chain (a role it assumes, SSO ...) signs in the same region.
        let provider_config = ProviderConfig::default().with_region(Some(region));
        loader = loader.profile_name(profile).credentials_provider(
            ProfileFileCredentialsProvider::builder()
                .configure(&provider_config)
                .profile_name(profile)
                .build(),
        );
    }
    Ok(loader.load().await)
}

/// The caller's configuration with the timeouts every client eksmgr builds gets
/// ([`crate::sessions::Sessions::timeouts`]: 30 s per attempt, 120 s per call, retries
/// included), so that an endpoint that accepts a connection and never answers ends the call
/// instead of hanging the run (the SDK sets no operation timeout by itself). Every client made
/// from the caller's configuration, discovery's included, inherits them.
/// <https://docs.aws.amazon.com/sdk-for-rust/latest/dg/timeouts.html>
pub fn with_timeouts(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    loader.timeout_config(crate::sessions::Sessions::timeouts())
}

/// Checks that the profile `options` names (if any) is defined in the shared config or
/// credentials files (read through `fs` and `env`).
async fn check_profile(options: &CallerOptions, fs: &Fs, env: &Env) -> Result<(), ProviderError> {
    let Some(name) = &options.profile else {
        return Ok(());
    };
    let resource = format!("--profile {name}");
    let call = Call::new("of the caller", &resource, "config:LoadProfile");
    let files = format!(
        "{} and {}",
        shared_file(env, "AWS_CONFIG_FILE", "~/.aws/config"),
        shared_file(env, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    );
    match aws_config::profile::load(fs, env, &EnvConfigFiles::default(), None).await {
        Ok(set) if set.get_profile(name).is_some() => Ok(()),
        Ok(set) => {
            let mut known: Vec<&str> = set.profiles().collect();
            known.sort_unstable();
            let known = if known.is_empty() {
                "they define no profile".to_string()
            } else {
                format!("they define {}", known.join(", "))
            };
            Err(call.error(
                ErrorKind::AccessDenied,
                format!("the profile `{name}` is not defined in {files} ({known})"),
                Some(
                    "check the name, or add the profile (`aws configure --profile NAME`, or `aws configure sso` for SSO); AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name other files",
                ),
            ))
        }
        Err(e) => Err(call.error(
            ErrorKind::Invalid,
            format!("cannot read {files}: {}", crate::error::chain(&e)),
            Some("fix the file at the place the message names, as the AWS CLI reads it"),
        )),
    }
}

/// A shared file as the environment places it: the variable's value, or the default path.
fn shared_file(env: &Env, variable: &str, default: &str) -> String {
    env.get(variable)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Who a set of credentials is (`sts:GetCallerIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallerIdentity {
    /// The account id.
    pub account: String,
    /// The ARN: a user, or an assumed-role session (`arn:aws:sts::ACCOUNT:assumed-role/...`).
    pub arn: String,
    /// The unique id of the principal (for a role session, `ROLEID:SESSION`).
    pub user_id: String,
}

impl CallerIdentity {
    /// The partition of the ARN (`aws`, `aws-cn`, `aws-us-gov`), `aws` if it cannot be read.
    pub fn partition(&self) -> &str {
        self.arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }
}

/// Asks STS who the credentials of `conf` are; `account` names the account the call is
/// counted in and reported for ("of the caller" before anyone knows). A failure says whether
/// STS could not be reached or the credentials are missing or rejected ([`explain`]).
pub async fn identity(conf: &SdkConfig, account: &str) -> Result<CallerIdentity, ProviderError> {
    let out = aws_sdk_sts::Client::new(conf)
        .get_caller_identity()
        .send()
        .await;
    let counted = out
        .as_ref()
        .ok()
        .and_then(|o| o.account())
        .unwrap_or(account);
    crate::stats::global().called(counted, "sts", "GetCallerIdentity", out.is_ok());
    let out = match out {
        Ok(out) => out,
        Err(e) => return Err(explain(conf, account, e).await),
    };
    Ok(CallerIdentity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
        user_id: out.user_id().unwrap_or_default().to_string(),
    })
}

/// What to check when the caller's own credentials do not work.
pub const CREDENTIALS_HINT: &str = "check the credentials eksmgr runs with, found as the AWS CLI finds them: --profile NAME or AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, `aws sso login` for an SSO profile; `aws sts get-caller-identity` with the same settings shows what AWS sees";

/// The error codes with which AWS refuses the credentials themselves, rather than what they
/// may do: an access key it does not know, a bad signature (a wrong secret key), an expired
/// session token, a request signed too long ago (a clock off by more than 5 minutes)
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html>,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html>).
const REJECTED_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "AuthFailure",
];

/// Why a call with the caller's own credentials failed, as the user fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerFailure {
    /// The request never got an answer: the connection was refused or reset, the name did
    /// not resolve, or the call timed out.
    Unreachable,
    /// The SDK found no credentials to sign with (or could not get them).
    NoCredentials,
    /// AWS answered, refusing the credentials, with this error code.
    CredentialsRejected(String),
    /// Anything else (access denied to the call, throttling ...).
    Other,
}

/// Classifies a failed call made with the caller's credentials.
pub fn classify<E, R>(err: &SdkError<E, R>) -> CallerFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::TimeoutError(_) => CallerFailure::Unreachable,
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => CallerFailure::Unreachable,
        SdkError::DispatchFailure(_) => {
            // Credentials are resolved before the request is sent: their failure is a
            // dispatch failure that is no I/O (`no providers in chain provided credentials`).
            let text = crate::error::chain(err);
            if text.contains("credential") {
                CallerFailure::NoCredentials
            } else {
                CallerFailure::Other
            }
        }
        SdkError::ServiceError(se) => match se.err().code() {
            Some(code) if REJECTED_CREDENTIALS.contains(&code) => {
                CallerFailure::CredentialsRejected(code.to_string())
            }
            _ => CallerFailure::Other,
        },
        _ => CallerFailure::Other,
    }
}

/// The endpoint the SDK sends STS calls of `conf` to: `AWS_ENDPOINT_URL` (or the
/// configuration's endpoint URL) when set, else the one the SDK's endpoint rules give for the
/// region.
pub async fn sts_endpoint(conf: &SdkConfig) -> String {
    if let Some(url) = conf.endpoint_url() {
        return url.to_string();
    }
    let region = conf.region().map(ToString::to_string);
    let params = Params::builder()
        .set_region(region.clone())
        .set_use_fips(conf.use_fips())
        .set_use_dual_stack(conf.use_dual_stack())
        .build();
    let resolved = match params {
        Ok(p) => DefaultResolver::new()
            .resolve_endpoint(&p)
            .await
            .ok()
            .map(|e| e.url().to_string()),
        Err(_) => None,
    };
    resolved.unwrap_or_else(|| {
        format!(
            "the STS endpoint of region {}",
            region.as_deref().unwrap_or("(none)")
        )
    })
}

/// A failed call made with the caller's credentials of `conf` (`sts:GetCallerIdentity`,
/// counted in `account`), with the hint of what to fix ([`classify`]): the network, naming the
/// endpoint that could not be reached, or the credentials.
pub async fn explain<E, R>(conf: &SdkConfig, account: &str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let failure = classify(&e);
    let mut err = map(
        Call::new(account, "the caller's identity", "sts:GetCallerIdentity"),
        e,
    );
    match failure {
        CallerFailure::Unreachable => {
            err.kind = ErrorKind::Transient;
            err.hint = Some(format!(
                "cannot reach {}: check the network, any proxy (HTTPS_PROXY, NO_PROXY) and AWS_ENDPOINT_URL",
                sts_endpoint(conf).await
            ));
        }
        CallerFailure::NoCredentials => {
            err.kind = ErrorKind::AccessDenied;
            err.hint = Some(format!("no credentials found: {CREDENTIALS_HINT}"));
        }
        CallerFailure::CredentialsRejected(code) => {
            err.kind = ErrorKind::AccessDenied;
            let why = match code.as_str() {
                "ExpiredToken" | "ExpiredTokenException" => {
                    "the session has expired: get new credentials (`aws sso login` for an SSO profile)"
                }
                "RequestExpired" => "the request was signed too long ago: check the clock",
                _ => "AWS does not accept the credentials eksmgr runs with",
            };
            err.hint = Some(format!(
                "credentials rejected by {} ({code}): {why}; {CREDENTIALS_HINT}",
                sts_endpoint(conf).await
            ));
        }
        CallerFailure::Other => {
            if err.hint.is_none() || err.kind == ErrorKind::AccessDenied {
                err.hint = Some(CREDENTIALS_HINT.to_string());
            }
        }
    }
    err
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_choices_are_no_choices() {
        let o = CallerOptions::new(Some(String::new()), Some(String::new()));
        assert_eq!(o, CallerOptions::default());
        let o = CallerOptions::new(Some("prod".into()), Some("eu-west-1".into()));
        assert_eq!(o.profile.as_deref(), Some("prod"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
    }

    fn service_error(
        code: &str,
    ) -> SdkError<
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError,
        aws_smithy_runtime_api::http::Response,
    > {
        use aws_smithy_types::body::SdkBody;
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code(code)
            .message("refused")
            .build();
        SdkError::service_error(
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError::generic(meta),
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                SdkBody::empty(),
            ),
        )
    }

    fn dispatch_failure(
        e: aws_smithy_runtime_api::client::result::ConnectorError,
    ) -> SdkError<
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError,
        aws_smithy_runtime_api::http::Response,
    > {
        SdkError::dispatch_failure(e)
    }

    #[test]
    fn a_network_failure_is_told_from_a_credentials_failure() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            classify(&dispatch_failure(ConnectorError::io(Box::new(refused)))),
            CallerFailure::Unreachable
        );
        let slow = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow");
        assert_eq!(
            classify(&dispatch_failure(ConnectorError::timeout(Box::new(slow)))),
            CallerFailure::Unreachable
        );
        let none: Box<dyn std::error::Error + Send + Sync> =
            "no providers in chain provided credentials".into();
        assert_eq!(
            classify(&dispatch_failure(ConnectorError::other(none, None))),
            CallerFailure::NoCredentials
        );
        for code in [
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
        ] {
            assert_eq!(
                classify(&service_error(code)),
                CallerFailure::CredentialsRejected(code.into())
            );
        }
        assert_eq!(
            classify(&service_error("AccessDenied")),
            CallerFailure::Other
        );
        assert_eq!(classify(&service_error("Throttling")), CallerFailure::Other);
    }

    #[tokio::test]
    async fn each_failure_has_its_own_hint_naming_the_endpoint() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let conf = SdkConfig::builder()
            .region(Region::new("eu-west-3"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        assert_eq!(
            sts_endpoint(&conf).await,
            "https://sts.eu-west-3.amazonaws.com"
        );
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = explain(
            &conf,
            "of the caller",
            dispatch_failure(ConnectorError::io(Box::new(refused))),
        )
        .await;
        assert_eq!(e.kind, ErrorKind::Transient);
        let hint = e.hint.unwrap();
        assert!(
            hint.starts_with("cannot reach https://sts.eu-west-3.amazonaws.com: check the network")
                && !hint.contains("credentials"),
            "{hint}"
        );
        let e = explain(
            &conf,
            "of the caller",
            service_error("InvalidClientTokenId"),
        )
        .await;
        assert_eq!(e.kind, ErrorKind::AccessDenied);
        let hint = e.hint.unwrap();
        assert!(
            hint.starts_with(
                "credentials rejected by https://sts.eu-west-3.amazonaws.com (InvalidClientTokenId)"
            ) && hint.contains("AWS_PROFILE")
                && hint.contains("aws sso login"),
            "{hint}"
        );
        let e = explain(&conf, "of the caller", service_error("ExpiredToken")).await;
        assert!(e.hint.unwrap().contains("the session has expired"));
        let local = SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:9")
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        assert_eq!(sts_endpoint(&local).await, "http://127.0.0.1:9");
    }

    #[test]
    fn the_partition_comes_from_the_arn() {
        let mut id = CallerIdentity {
            arn: "arn:aws-cn:iam::111111111111:user/me".into(),
            ..CallerIdentity::default()
        };
        assert_eq!(id.partition(), "aws-cn");
        id.arn.clear();
        assert_eq!(id.partition(), "aws");
    }

    #[tokio::test]
    async fn the_region_flag_wins_over_the_fallback() {
        let o = CallerOptions::new(None, Some("eu-west-3".into()));
        let conf = sdk_config(&o, "us-east-1").await.unwrap();
        assert_eq!(conf.region().unwrap().as_ref(), "eu-west-3");
    }

    #[tokio::test]
    async fn a_profile_must_be_defined_in_the_shared_files() {
        let fs = Fs::from_map(std::collections::HashMap::from([
            (
                "/home/dev/.aws/config".to_string(),
                "[profile hub-admin]\nregion = eu-west-1\n".to_string(),
            ),
            (
                "/home/dev/.aws/credentials".to_string(),
                "[base]\naws_access_key_id = A\naws_secret_access_key = B\n".to_string(),
            ),
        ]));
        let env = Env::from_slice(&[("HOME", "/home/dev")]);
        for known in ["hub-admin", "base"] {
            let o = CallerOptions::new(Some(known.into()), None);
            check_profile(&o, &fs, &env).await.unwrap();
        }
        check_profile(&CallerOptions::default(), &fs, &env)
            .await
            .unwrap();
        let o = CallerOptions::new(Some("prod".into()), None);
        let err = check_profile(&o, &fs, &env).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::AccessDenied);
        assert!(
            err.message.contains("the profile `prod` is not defined")
                && err.message.contains("~/.aws/config and ~/.aws/credentials")
                && err.message.contains("they define base, hub-admin"),
            "{err}"
        );
        assert!(err.hint.unwrap().contains("aws configure --profile"));

        let elsewhere = Env::from_slice(&[
            ("HOME", "/home/dev"),
            ("AWS_CONFIG_FILE", "/etc/aws/config"),
        ]);
        let err = check_profile(&o, &fs, &elsewhere).await.unwrap_err();
        assert!(
            err.message
                .contains("/etc/aws/config and ~/.aws/credentials"),
            "{err}"
        );
    }
}
