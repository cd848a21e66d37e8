//! Sessions: one SDK configuration per account, built once and reused for the whole run.
//!
//! The management account uses the caller's credentials; the hub is reached by assuming
//! `OrganizationAccountAccessRole` (configurable) from them. Each account gets its own retry
//! partition (AWS throttles per account) and every call an operation timeout. The assumed-role
//! credentials are cached by the SDK's identity cache and refreshed before they expire.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime::client::retries::RetryPartition;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::SdkConfig;
use aws_types::region::Region;
use eksmgr_engine::provider::{ErrorKind, ProviderError};

use tokio::sync::{Mutex, OnceCell};

use crate::error::Call;
use crate::stats::{CallStats, CountCalls};

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
    /// The hub agent role, assumed in the hub on the way to the spokes.
    pub hub_agent_role_name: String,
    /// The spoke admin role, assumed in each spoke from the hub agent role.
    pub spoke_role_name: String,
    /// Session name for assumed roles (shows in CloudTrail).
    pub session_name: String,
    /// Duration of assumed-role sessions.
    pub session_duration: Duration,
    /// The caller is a delegated administrator, not the management account: StackSet calls
    /// say `CallAs = DELEGATED_ADMIN`.
    pub delegated_admin: bool,
    /// The caller is the hub agent role itself (eksmgr on the agent host, through its
    /// instance profile): the hub is reached without assuming a role, and the spokes' admin
    /// roles straight from it.
    pub caller_is_hub_agent: bool,
}

impl SessionsConfig {
    /// The settings for a configuration and what discovery found.
    pub fn from_config(
        config: &eksmgr_engine::config::Config,
        d: &eksmgr_engine::blueprint::Discovery,
    ) -> Self {
        SessionsConfig {
            management_account_id: d.management_account_id.clone(),
            hub_account_id: config.hub.account_id.as_str().to_string(),
            hub_access_role_name: config.hub.access_role_name.clone(),
            partition: d.partition.clone(),
            home_region: config.organization.home_region.clone(),
            hub_agent_role_name: config.hub.agent_role_name.clone(),
            spoke_role_name: config.spoke_admin_role_name().to_string(),
            session_name: config.spokes.session_name.clone(),
            session_duration: Duration::from_secs(u64::from(
                config.spokes.session_duration_seconds,
            )),
            delegated_admin: !d.caller_account_id.is_empty()
                && d.caller_account_id != d.management_account_id,
            caller_is_hub_agent: d.caller_arn.starts_with(&format!(
                "arn:{}:sts::{}:assumed-role/{}/",
                d.partition,
                config.hub.account_id.as_str(),
                config.hub.agent_role_name
            )),
        }
    }

    fn role_arn(&self, account: &str, role: &str) -> String {
        format!("arn:{}:iam::{account}:role/{role}", self.partition)
    }

    /// The chain of roles assumed to reach an account, for messages.
    pub fn chain(&self, account: &str) -> Vec<String> {
        if account == self.management_account_id
            || (self.caller_is_hub_agent && account == self.hub_account_id)
        {
            Vec::new()
        } else if account == self.hub_account_id {
            vec![self.role_arn(account, &self.hub_access_role_name)]
        } else {
            let mut chain = self.hub_agent_chain();
            chain.push(self.role_arn(account, &self.spoke_role_name));
            chain
        }
    }

    /// The roles assumed before any spoke's own: the hub's access role, then its agent role.
    fn hub_agent_chain(&self) -> Vec<String> {
        if self.caller_is_hub_agent {
            return Vec::new();
        }
        vec![
            self.role_arn(&self.hub_account_id, &self.hub_access_role_name),
            self.role_arn(&self.hub_account_id, &self.hub_agent_role_name),
        ]
    }
}

/// Per-account SDK configurations and service clients, built lazily and cached.
#[derive(Clone)]
pub struct Sessions {
    base: SdkConfig,
    config: SessionsConfig,
    cache: Arc<Mutex<HashMap<String, SessionCell>>>,
    /// Service clients (a plain lock, never held across an await: see [`Sessions::release`]).
    clients: Arc<std::sync::Mutex<HashMap<ClientKey, Arc<dyn Any + Send + Sync>>>>,
    /// Shared reads (a plain lock, as `clients`).
    reads: Arc<std::sync::Mutex<HashMap<(String, String), ReadCell>>>,
    /// STS clients by the chain of roles of the identity they call with ("" is the caller).
    sts: Arc<std::sync::Mutex<HashMap<String, aws_sdk_sts::Client>>>,
    stats: CallStats,
}

/// The result of a read shared by the whole run (see [`Sessions::shared_read`]).
type ReadCell = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

/// The SDK configuration reached through one chain of roles, set up once.
type SessionCell = Arc<OnceCell<Result<SdkConfig, ProviderError>>>;

/// (service, account, region).
type ClientKey = (&'static str, String, String);

/// What a service client is built with: the region, its own retry partition, the timeouts.
pub struct ClientSettings {
    /// The region.
    pub region: Region,
    /// The retry partition of the service in the account.
    pub partition: RetryPartition,
    /// Operation and attempt timeouts.
    pub timeouts: aws_smithy_types::timeout::TimeoutConfig,
    /// Standard retry with backoff (see [`Sessions::retry`]).
    pub retry: aws_smithy_types::retry::RetryConfig,
    /// Counts the client's calls (`--stats`).
    pub interceptor: CountCalls,
}

/// Defines `client(sessions, account, region)` for an SDK crate, cached per run.
#[macro_export]
#[doc(hidden)]
macro_rules! service_client {
    ($sdk:ident, $service:literal) => {
        /// The service's client for an account and region, built once per run.
        pub(crate) async fn client(
            s: &$crate::sessions::Sessions,
            account: &str,
            region: Option<&str>,
        ) -> Result<$sdk::Client, eksmgr_engine::provider::ProviderError> {
            s.client($service, account, region, |conf, settings| {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(conf)
                        .region(settings.region)
                        .retry_partition(settings.partition)
                        .timeout_config(settings.timeouts)
                        .retry_config(settings.retry)
                        .interceptor(settings.interceptor)
                        .build(),
                )
            })
            .await
        }

        /// The service's client for a resource's account and region, with the resource its
        /// calls are for.
        #[allow(dead_code)]
        pub(crate) async fn ctx<'a>(
            s: &$crate::sessions::Sessions,
            address: &'a eksmgr_state::ResourceAddress,
        ) -> Result<$crate::sessions::Ctx<'a, $sdk::Client>, eksmgr_engine::provider::ProviderError>
        {
            Ok($crate::sessions::Ctx {
                c: client(s, &address.account, address.region.as_deref()).await?,
                account: &address.account,
                resource: address.to_string(),
            })
        }
    };
}

/// A service's client for the account (and region) of one resource, with the resource its
/// calls are for: what names an error ([`Ctx::call`]).
pub(crate) struct Ctx<'a, C> {
    /// The client.
    pub(crate) c: C,
    /// The resource's account.
    pub(crate) account: &'a str,
    /// The resource, as errors name it.
    pub(crate) resource: String,
}

impl<C> Ctx<'_, C> {
    /// A call of `api` for the resource.
    pub(crate) fn call<'b>(&'b self, api: &'b str) -> crate::error::Call<'b> {
        crate::error::Call::new(self.account, &self.resource, api)
    }
}

/// Attempts per call (the first one included) unless `AWS_MAX_ATTEMPTS` says otherwise: more
/// than the SDK's 3, since one account's quota is shared by every parallel operation in it.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;
/// Timeout for one API call, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
/// Timeout for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

impl Sessions {
    /// Sessions starting from the caller's configuration, counting calls into the process's
    /// counters ([`crate::stats::global`]).
    pub fn new(base: SdkConfig, config: SessionsConfig) -> Self {
        Sessions::with_stats(base, config, crate::stats::global().clone())
    }

    /// Sessions counting calls into `stats`.
    pub fn with_stats(base: SdkConfig, config: SessionsConfig, stats: CallStats) -> Self {
        Sessions {
            base,
            config,
            cache: Arc::new(Mutex::new(HashMap::new())),
            clients: Arc::default(),
            reads: Arc::default(),
            sts: Arc::default(),
            stats,
        }
    }

    /// The call counters.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// Runs `read` once per run for `key` (a read in `account`) and shares its result (an
    /// error included) with every caller asking for the same key, concurrent ones too: an
    /// account-wide listing serves the reads of many resources, and nothing is asked twice.
    /// Writes that change what a key describes call [`Sessions::forget`]; once the plan has
    /// read an account, [`Sessions::release`] drops its reads. The read is made (on the heap)
    /// only by the caller that runs it: the others wait without holding its future.
    pub(crate) async fn shared_read<T, F, R>(
        &self,
        account: &str,
        key: &str,
        read: F,
    ) -> Result<Arc<T>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> R,
        R: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let cell = {
            let mut cells = lock(&self.reads);
            cells
                .entry((account.to_string(), key.to_string()))
                .or_default()
                .clone()
        };
        let value = cell
            .get_or_init(|| async {
                let shared: Arc<dyn Any + Send + Sync> =
                    Arc::new(Box::pin(read()).await.map(Arc::new));
                shared
            })
            .await;
        match value.downcast_ref::<Result<Arc<T>, ProviderError>>() {
            Some(r) => r.clone(),
            None => Err(ProviderError {
                account: account.to_string(),
                resource: key.to_string(),
                api_call: "eksmgr:shared-read".into(),
                message: "a shared read was asked for with two different result types".into(),
                hint: Some("this is a bug in eksmgr; please report it".into()),
                kind: ErrorKind::Other,
            }),
        }
    }

    /// Drops the shared read of `key` in `account`, so that the next one asks AWS again.
    pub(crate) fn forget(&self, account: &str, key: &str) {
        lock(&self.reads).remove(&(account.to_string(), key.to_string()));
    }

    /// Drops what the run holds for `account` besides its credentials: its service clients
    /// and its shared reads (account-wide listings). The plan's reads call it once they have
    /// read the account, so that a run over thousands of accounts holds the clients of only
    /// the accounts being read (each client keeps its own copy of the SDK's endpoint rules
    /// and runtime plugins); anything asked of the account later builds them again. The
    /// assumed role is kept: it is not assumed twice.
    pub fn release(&self, account: &str) {
        self.release_clients(account);
        lock(&self.reads).retain(|(a, _), _| a != account);
    }

    /// Drops the service clients of `account` (see [`Sessions::release`]), keeping its
    /// shared reads: after discovery has listed an account's roles for the plan.
    pub fn release_clients(&self, account: &str) {
        lock(&self.clients).retain(|(_, a, _), _| a != account);
    }

    /// The settings.
    pub fn settings(&self) -> &SessionsConfig {
        &self.config
    }

    /// The caller's own configuration.
    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// The SDK configuration for an account: the caller's own for the management account,
    /// `OrganizationAccountAccessRole` for the hub, and for a spoke its admin role assumed from
    /// the hub agent role. Built once per account and reused: each role is assumed once per
    /// run (credentials are refreshed before they expire), accounts are set up concurrently,
    /// and an account whose role cannot be assumed fails at once on every later call.
    pub async fn for_account(&self, account: &str) -> Result<SdkConfig, ProviderError> {
        if account == self.config.management_account_id {
            return Ok(self.base.clone());
        }
        self.through(self.config.chain(account), account).await
    }

    /// Assumes the hub roles every spoke is reached through (the hub's access role, then its
    /// agent role), so that the spokes' own role assumptions need not wait for them: called
    /// while discovery lists the accounts. The outcome is kept as every role assumption's is;
    /// a failure is reported by the first call that needs the role, naming its account.
    pub async fn warm_up(&self) {
        // Kept in the session cache; the calls that need the role report a failure.
        let _kept = self.hub_agent().await;
    }

    /// The SDK configuration of the hub agent role, reached through the hub's access role:
    /// the identity every spoke's admin role is assumed from.
    pub async fn hub_agent(&self) -> Result<SdkConfig, ProviderError> {
        let hub = &self.config.hub_account_id;
        self.through(self.config.hub_agent_chain(), hub).await
    }

    /// Why `account`'s own role (the last of the way to it) could not be assumed this run,
    /// when it was tried and every role before it was assumed: the account's own gap, not
    /// the hub's. `None` when it was reached or not tried yet. Assumes nothing.
    pub async fn own_role_failure(&self, account: &str) -> Option<ProviderError> {
        let chain = self.config.chain(account);
        let cells = self.cache.lock().await;
        let mut key = String::new();
        for (i, arn) in chain.iter().enumerate() {
            key = if key.is_empty() {
                arn.clone()
            } else {
                format!("{key} > {arn}")
            };
            let outcome = cells.get(&key)?.get()?;
            match outcome {
                Ok(_) => {}
                Err(e) if i + 1 == chain.len() => return Some(e.clone()),
                Err(_) => return None,
            }
        }
        None
    }

    /// The configuration reached by assuming each role of `chain` in turn (for `account`),
    /// every step assumed once per run and shared.
    async fn through(&self, chain: Vec<String>, account: &str) -> Result<SdkConfig, ProviderError> {
        let mut conf = self.base.clone();
        let mut reached = String::new();
        for arn in &chain {
            let key = if reached.is_empty() {
                arn.clone()
            } else {
                format!("{reached} > {arn}")
            };
            let cell = {
                let mut cells = self.cache.lock().await;
                cells.entry(key.clone()).or_default().clone()
            };
            let sts = self.sts_for(&reached, &conf);
            conf = cell
                .get_or_init(|| async { self.assume(sts, arn, account, &chain).await })
                .await
                .clone()?;
            reached = key;
        }
        Ok(conf)
    }

    /// The STS client of the identity reached through `reached` (the keys of
    /// [`Sessions::through`]), whose configuration is `from`: built once and shared.
    fn sts_for(&self, reached: &str, from: &SdkConfig) -> aws_sdk_sts::Client {
        lock(&self.sts)
            .entry(reached.to_string())
            .or_insert_with(|| sts_client(from))
            .clone()
    }

    /// Assumes a role with `sts` (a step of `chain`, the way to `account`) and checks at once
    /// that it works.
    async fn assume(
        &self,
        sts: aws_sdk_sts::Client,
        role_arn: &str,
        account: &str,
        chain: &[String],
    ) -> Result<SdkConfig, ProviderError> {
        let provider = assumed_credentials(
            sts,
            role_arn,
            &self.config.session_name,
            self.config.session_duration,
            &self.stats,
        )
        .await
        .map_err(|message| {
            Call::new(account, role_arn, "sts:AssumeRole").error(
                ErrorKind::AccessDenied,
                message,
                Some(&chain_hint(account, chain)),
            )
        })?;
        Ok(self
            .base
            .to_builder()
            .credentials_provider(provider)
            .build())
    }

    /// Adds how the account is reached to a credentials error.
    pub fn explain(&self, mut e: ProviderError) -> ProviderError {
        if e.kind == ErrorKind::AccessDenied && e.message.starts_with("could not get credentials") {
            let chain = self.config.chain(&e.account);
            if !chain.is_empty() {
                e.hint = Some(chain_hint(&e.account, &chain));
            }
        }
        e
    }

    /// A client of `service` for an account and region, built by `make` the first time and
    /// reused after (clients share connection pools and credential caches).
    pub async fn client<C: Clone + Send + Sync + 'static>(
        &self,
        service: &'static str,
        account: &str,
        region: Option<&str>,
        make: impl FnOnce(&SdkConfig, ClientSettings) -> C,
    ) -> Result<C, ProviderError> {
        let region = self.region(region);
        let key = (service, account.to_string(), region.to_string());
        if let Some(c) = self.cached::<C>(&key).await {
            return Ok(c);
        }
        let conf = self.for_account(account).await?;
        self.build_client(key, conf, account, service, make).await
    }

    /// A client of `service` in the hub, as the hub agent role itself (not the hub's access
    /// role): what `eksmgr secrets` reads the hub's secrets with, within the agent role's
    /// permissions. Built once per run and region, as [`Sessions::client`].
    pub async fn hub_agent_client<C: Clone + Send + Sync + 'static>(
        &self,
        service: &'static str,
        region: Option<&str>,
        make: impl FnOnce(&SdkConfig, ClientSettings) -> C,
    ) -> Result<C, ProviderError> {
        let region = self.region(region);
        let hub = self.config.hub_account_id.clone();
        let key = (service, format!("{hub}/agent"), region.to_string());
        if let Some(c) = self.cached::<C>(&key).await {
            return Ok(c);
        }
        let conf = self.hub_agent().await?;
        self.build_client(key, conf, &hub, service, make).await
    }

    async fn cached<C: Clone + 'static>(&self, key: &ClientKey) -> Option<C> {
        lock(&self.clients)
            .get(key)
            .and_then(|c| c.downcast_ref::<C>())
            .cloned()
    }

    async fn build_client<C: Clone + Send + Sync + 'static>(
        &self,
        key: ClientKey,
        conf: SdkConfig,
        account: &str,
        service: &'static str,
        make: impl FnOnce(&SdkConfig, ClientSettings) -> C,
    ) -> Result<C, ProviderError> {
        let region = Region::new(key.2.clone());
        let client = make(
            &conf,
            ClientSettings {
                region,
                partition: Sessions::partition(service, account),
                timeouts: Sessions::timeouts(),
                retry: self.retry(),
                interceptor: self.stats.interceptor(account),
            },
        );
        lock(&self.clients).insert(key, Arc::new(client.clone()));
        Ok(client)
    }

    /// A retry partition of its own for each account and service.
    pub fn partition(service: &str, account: &str) -> RetryPartition {
        RetryPartition::new(format!("{service}-{account}"))
    }

    /// The SDK's standard retry mode (exponential backoff with jitter, a retry quota) with
    /// [`DEFAULT_MAX_ATTEMPTS`], or the caller's own settings when `AWS_MAX_ATTEMPTS` or
    /// `AWS_RETRY_MODE` is set
    /// (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>). The
    /// quota is kept per retry partition, and every client has the partition of its service
    /// in its account ([`Sessions::partition`]): AWS throttles each account on its own, so a
    /// throttled account spends only its own quota.
    ///
    /// Not the adaptive mode: its client-side rate limiter starts again from half a request
    /// a second after each throttling error and climbs back slowly, so an account throttled
    /// now and then (one call in four, in the end-to-end fault test) crawls: an apply of the
    /// example estate that takes seconds in the standard mode did not finish in 180 s.
    pub fn retry(&self) -> aws_smithy_types::retry::RetryConfig {
        let user_set = ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        match self.base.retry_config() {
            Some(r) if user_set => r.clone(),
            _ => aws_smithy_types::retry::RetryConfig::standard()
                .with_max_attempts(DEFAULT_MAX_ATTEMPTS),
        }
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

/// A plain lock's guard; a panic while it was held left nothing half-done in these maps
/// (each change is one insert or removal), so a poisoned lock is used as it is.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What to check when `account`, reached through the roles of `chain`, cannot be reached.
fn chain_hint(account: &str, chain: &[String]) -> String {
    format!(
        "eksmgr reaches account {account} by assuming {}; check that each role exists and trusts the one before it (the spoke admin role is created by the StackSet: apply the governance layer first)",
        chain.join(" then ")
    )
}

/// The STS client roles are assumed with from `from`: one per identity, shared by every
/// role assumed from it (thousands of spoke roles are assumed from the hub agent role; a
/// client each would hold its own copy of the SDK's endpoint rules and runtime plugins for
/// the whole run). In us-east-1 when `from` has no region, as the SDK's own assume-role
/// provider does.
pub(crate) fn sts_client(from: &SdkConfig) -> aws_sdk_sts::Client {
    let mut conf = aws_sdk_sts::config::Builder::from(from);
    if from.region().is_none() {
        conf = conf.region(Region::from_static("us-east-1"));
    }
    aws_sdk_sts::Client::from_conf(conf.build())
}

/// The credentials of `role_arn` assumed with `sts` (a client of the identity it is assumed
/// from, [`sts_client`]): assumed at once, to check that it works (the error is the
/// service's code and message), and again only shortly before they expire; every assumption
/// is counted in `stats`.
pub(crate) async fn assumed_credentials(
    sts: aws_sdk_sts::Client,
    role_arn: &str,
    session_name: &str,
    session_length: Duration,
    stats: &CallStats,
) -> Result<SharedCredentialsProvider, String> {
    let provider = RunCredentials {
        sts,
        role_arn: role_arn.to_string(),
        session_name: session_name.to_string(),
        session_length,
        cached: Mutex::new(None),
        stats: stats.clone(),
        account: account_of(role_arn).to_string(),
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(SharedCredentialsProvider::new(provider)),
        Err(e) => Err(credentials_error(&e)),
    }
}

/// Credentials of an assumed role, shared by every client of the account: the role is assumed
/// once and again only shortly before the credentials expire.
#[derive(Debug)]
struct RunCredentials {
    /// The client of the identity the role is assumed from (shared).
    sts: aws_sdk_sts::Client,
    role_arn: String,
    session_name: String,
    session_length: Duration,
    cached: Mutex<Option<Credentials>>,
    stats: CallStats,
    /// The account of the role.
    account: String,
}

impl RunCredentials {
    /// One `AssumeRole` call
    /// (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).
    async fn assume(&self) -> Result<Credentials, CredentialsError> {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .duration_seconds(i32::try_from(self.session_length.as_secs()).unwrap_or(3600))
            .send()
            .await
            .map_err(CredentialsError::provider_error)?;
        let c = out.credentials().ok_or_else(|| {
            CredentialsError::invalid_configuration("AssumeRole answered without credentials")
        })?;
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            SystemTime::try_from(*c.expiration()).ok(),
            "eksmgr-assume-role",
        ))
    }
}

/// The account id of a role ARN (`arn:aws:iam::ACCOUNT:role/NAME`).
fn account_of(role_arn: &str) -> &str {
    role_arn.split(':').nth(4).unwrap_or_default()
}

/// Credentials are renewed this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

impl ProvideCredentials for RunCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let mut cached = self.cached.lock().await;
            if let Some(c) = cached.as_ref() {
                let fresh = c
                    .expiry()
                    .is_none_or(|e| e > SystemTime::now() + REFRESH_MARGIN);
                if fresh {
                    return Ok(c.clone());
                }
            }
            let c = self.assume().await;
            self.stats.assumed_role(&self.account, c.is_ok());
            let c = c?;
            *cached = Some(c.clone());
            Ok(c)
        })
    }
}

/// The service's error code and message of a failed AssumeRole, else the error's causes.
fn credentials_error(e: &CredentialsError) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(SdkError::ServiceError(se)) =
            err.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>()
        {
            return format!(
                "{}: {}",
                se.err().code().unwrap_or("Unknown"),
                se.err().message().unwrap_or_default()
            );
        }
        cur = err.source();
    }
    crate::error::chain(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(caller_is_hub_agent: bool) -> SessionsConfig {
        SessionsConfig {
            management_account_id: "111111111111".into(),
            hub_account_id: "222222222222".into(),
            hub_access_role_name: "OrganizationAccountAccessRole".into(),
            partition: "aws".into(),
            home_region: "us-east-1".into(),
            hub_agent_role_name: "EKSManagerAgentRole".into(),
            spoke_role_name: "EKSManagerAdmin".into(),
            session_name: "eksmgr".into(),
            session_duration: Duration::from_secs(3600),
            delegated_admin: caller_is_hub_agent,
            caller_is_hub_agent,
        }
    }

    #[test]
    fn from_the_management_account_spokes_are_reached_through_the_hub() {
        let c = config(false);
        assert!(c.chain("111111111111").is_empty());
        assert_eq!(
            c.chain("222222222222"),
            ["arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"]
        );
        assert_eq!(
            c.chain("333333333333"),
            [
                "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole",
                "arn:aws:iam::222222222222:role/EKSManagerAgentRole",
                "arn:aws:iam::333333333333:role/EKSManagerAdmin"
            ]
        );
    }

    #[test]
    fn on_the_agent_host_the_agent_role_reaches_the_spokes_directly() {
        let c = config(true);
        assert!(c.chain("222222222222").is_empty());
        assert_eq!(
            c.chain("333333333333"),
            ["arn:aws:iam::333333333333:role/EKSManagerAdmin"]
        );
    }
}
