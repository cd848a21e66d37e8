//! At most `--parallelism` AWS calls in flight at once, across every account and service.
//!
//! The limit sits in the HTTP client that every SDK client of a run shares, so it counts HTTP
//! requests: role assumptions, retries and reads that make several calls at once (a KMS key's
//! policy, rotation status and tags) all stay within it. A request holds its slot only while it
//! is on the wire; a call backing off between retries holds none, so a throttled account does
//! not keep slots from the others.

use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use tokio::sync::Semaphore;

/// `base` with its HTTP client limited to `calls` requests in flight at once (at least one).
/// Every client built from the result shares the one limit. Without an HTTP client of its
/// own (the usual case: each SDK client would make the default one), the SDK's default
/// HTTPS client is made here and shared.
pub fn limit_calls(base: SdkConfig, calls: usize) -> SdkConfig {
    let inner = base.http_client().unwrap_or_else(default_https_client);
    let limited = LimitedClient {
        inner,
        slots: Arc::new(Semaphore::new(calls.clamp(1, Semaphore::MAX_PERMITS))),
    };
    let shared: SharedHttpClient = limited.into_shared();
    base.into_builder().http_client(shared).build()
}

/// The HTTPS client the SDK makes when it is given none (`aws-smithy-runtime`'s
/// `default_https_client`): hyper with rustls on aws-lc, the proxy taken from the standard
/// environment variables (`HTTPS_PROXY`, `NO_PROXY` ...) as the SDK's latest behaviour
/// version does.
fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// An HTTP client whose requests take a slot of a shared semaphore while they run.
#[derive(Debug, Clone)]
struct LimitedClient {
    inner: SharedHttpClient,
    slots: Arc<Semaphore>,
}

impl HttpClient for LimitedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            slots: Arc::clone(&self.slots),
        }
        .into_shared()
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

struct LimitedConnector {
    inner: SharedHttpConnector,
    slots: Arc<Semaphore>,
}

impl fmt::Debug for LimitedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitedConnector")
            .field("free", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let slots = Arc::clone(&self.slots);
        HttpConnectorFuture::new(async move {
            // The semaphore is never closed, so this waits for a slot and never fails; were it
            // closed, the request would go out unlimited rather than fail.
            let _slot = slots.acquire_owned().await.ok();
            inner.call(request).await
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use aws_credential_types::Credentials;
    use aws_smithy_runtime_api::client::http::{HttpConnector, http_client_fn};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    use aws_types::region::Region;

    use super::*;

    /// Answers every request after a pause, counting how many are in flight.
    #[derive(Debug, Default)]
    struct Counting {
        now: AtomicUsize,
        most: AtomicUsize,
        calls: AtomicUsize,
    }

    #[derive(Debug, Clone)]
    struct CountingConnector(Arc<Counting>);

    impl HttpConnector for CountingConnector {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let c = Arc::clone(&self.0);
            HttpConnectorFuture::new(async move {
                let now = c.now.fetch_add(1, Ordering::SeqCst) + 1;
                c.most.fetch_max(now, Ordering::SeqCst);
                c.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                c.now.fetch_sub(1, Ordering::SeqCst);
                let body = "<GetCallerIdentityResponse><GetCallerIdentityResult>\
                    <Account>111111111111</Account>\
                    <Arn>arn:aws:iam::111111111111:user/u</Arn><UserId>U</UserId>\
                    </GetCallerIdentityResult></GetCallerIdentityResponse>";
                Ok(HttpResponse::new(
                    200.try_into().expect("status"),
                    SdkBody::from(body),
                ))
            })
        }
    }

    fn config(counting: &Arc<Counting>) -> SdkConfig {
        let connector = CountingConnector(Arc::clone(counting));
        SdkConfig::builder()
            .http_client(http_client_fn(move |_, _| connector.clone().into_shared()))
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    Credentials::for_tests(),
                ),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    /// Calls of two clients (two accounts) share one limit, and every call is made.
    #[tokio::test]
    async fn calls_of_every_client_share_the_limit() {
        let counting = Arc::new(Counting::default());
        let base = limit_calls(config(&counting), 3);
        let a = aws_sdk_sts::Client::new(&base);
        let b = aws_sdk_sts::Client::new(&base);
        let calls = (0..24).map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            async move { c.get_caller_identity().send().await }
        });
        for result in futures::future::join_all(calls).await {
            assert_eq!(result.unwrap().account(), Some("111111111111"));
        }
        assert_eq!(counting.calls.load(Ordering::SeqCst), 24);
        assert_eq!(counting.most.load(Ordering::SeqCst), 3);
    }

    /// Without the limit the same calls overlap beyond it: the test above can fail.
    #[tokio::test]
    async fn unlimited_calls_overlap() {
        let counting = Arc::new(Counting::default());
        let base = config(&counting);
        let c = aws_sdk_sts::Client::new(&base);
        let calls = (0..24).map(|_| {
            let c = c.clone();
            async move { c.get_caller_identity().send().await }
        });
        futures::future::join_all(calls).await;
        assert!(counting.most.load(Ordering::SeqCst) > 3);
    }
}
