//! One target cluster's Kubernetes API: its endpoint and CA from `eks:DescribeCluster` (through
//! the spoke's admin role), a kube-rs client over rustls that trusts only that CA and
//! authenticates with an EKS token of the hub agent role, and the reads and server-side
//! applies of one secret.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use eksmgr_engine::provider::ProviderError;
use eksmgr_engine::secrets::{
    FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL, Observed, SOURCE_ARN_ANNOTATION, SecretData,
    VERSION_ID_ANNOTATION,
};
use eksmgr_providers::Sessions;
use eksmgr_providers::error::{Call, map};
use http::{HeaderName, HeaderValue};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::token;

/// How long to wait for a cluster's API to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for one Kubernetes API answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A cluster in a spoke account, as the state records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId {
    /// The spoke account.
    pub account: String,
    /// The cluster's region.
    pub region: String,
    /// The cluster's name.
    pub name: String,
}

impl std::fmt::Display for ClusterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}/{}", self.name, self.account, self.region)
    }
}

/// A connected cluster.
pub struct Cluster {
    client: kube::Client,
    id: ClusterId,
}

/// A failure talking to a cluster's Kubernetes API: what was asked and what the API (or the
/// connection) said. Kubernetes' Status messages name objects, never secret data.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} in cluster {cluster} failed: {message}")]
pub struct KubeError {
    /// The cluster.
    pub cluster: String,
    /// The request (`get secret apps/registry` ...).
    pub what: String,
    /// The API's answer or the connection error.
    pub message: String,
    /// The HTTP status, when the API answered.
    pub code: Option<u16>,
}

fn kube_error(id: &ClusterId, what: &str, e: &kube::Error) -> KubeError {
    let (message, code) = match e {
        kube::Error::Api(status) => (
            format!("{} ({} {})", status.message, status.code, status.reason),
            Some(status.code),
        ),
        other => (eksmgr_providers::error::chain(other), None),
    };
    KubeError {
        cluster: id.to_string(),
        what: what.to_string(),
        message,
        code,
    }
}

/// Why a cluster could not be connected to.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// An AWS call (DescribeCluster, the agent role's credentials) failed.
    #[error(transparent)]
    Aws(#[from] ProviderError),
    /// The cluster is not ready, or its answer lacks the endpoint or CA.
    #[error("cluster {cluster}: {message}")]
    NotReady {
        /// The cluster.
        cluster: String,
        /// What is missing.
        message: String,
    },
    /// The token or the client could not be made.
    #[error("cluster {cluster}: {message}")]
    Client {
        /// The cluster.
        cluster: String,
        /// Why.
        message: String,
    },
}

impl Cluster {
    /// Connects to `id`'s API: `DescribeCluster` through the spoke's admin role, then a
    /// client with the cluster's CA and an EKS token of the hub agent role.
    pub async fn connect(sessions: &Sessions, id: &ClusterId) -> Result<Cluster, ConnectError> {
        let eks = sessions
            .client("eks", &id.account, Some(&id.region), |conf, s| {
                aws_sdk_eks::Client::from_conf(
                    aws_sdk_eks::config::Builder::from(conf)
                        .region(s.region)
                        .retry_partition(s.partition)
                        .timeout_config(s.timeouts)
                        .retry_config(s.retry)
                        .interceptor(s.interceptor)
                        .build(),
                )
            })
            .await?;
        let resource = format!("cluster {}", id.name);
        let described = eks
            .describe_cluster()
            .name(&id.name)
            .send()
            .await
            .map_err(|e| map(Call::new(&id.account, &resource, "eks:DescribeCluster"), e))?;
        let not_ready = |message: String| ConnectError::NotReady {
            cluster: id.to_string(),
            message,
        };
        let c = described
            .cluster()
            .ok_or_else(|| not_ready("DescribeCluster returned no cluster".into()))?;
        if let Some(status) = c.status()
            && status.as_str() != "ACTIVE"
            && status.as_str() != "UPDATING"
        {
            return Err(not_ready(format!(
                "the cluster is {}, its API cannot take secrets yet",
                status.as_str()
            )));
        }
        let endpoint = c
            .endpoint()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| not_ready("the cluster has no API endpoint yet".into()))?;
        let ca = c
            .certificate_authority()
            .and_then(|ca| ca.data())
            .filter(|d| !d.is_empty())
            .ok_or_else(|| not_ready("the cluster has no certificate authority yet".into()))?;

        let agent = sessions.hub_agent().await?;
        let client_error = |message: String| ConnectError::Client {
            cluster: id.to_string(),
            message,
        };
        let provider = agent
            .credentials_provider()
            .ok_or_else(|| client_error("the hub agent role has no credentials".into()))?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            client_error(format!(
                "no credentials for the hub agent role: {}",
                eksmgr_providers::error::chain(&e)
            ))
        })?;
        let partition = sessions.settings().partition.clone();
        let sts = token::sts_endpoint(agent.endpoint_url(), &id.region, &partition);
        let bearer = token::eks_token(credentials, &id.region, &id.name, &sts, SystemTime::now())
            .map_err(|e| client_error(e.to_string()))?;

        // An in-memory kubeconfig, so kube-rs reads the CA (base64 PEM) as it does from a
        // file; the token goes in a sensitive header, never in a Debug-able field.
        let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(json!({
            "clusters": [{"name": "c", "cluster": {
                "server": endpoint, "certificate-authority-data": ca}}],
            "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }))
        .map_err(|e| client_error(format!("bad endpoint or CA: {e}")))?;
        let mut config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(|e| client_error(format!("bad endpoint or CA: {e}")))?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        config.write_timeout = Some(READ_TIMEOUT);
        let mut header = HeaderValue::from_str(&format!("Bearer {bearer}"))
            .map_err(|e| client_error(format!("bad token: {e}")))?;
        header.set_sensitive(true);
        config
            .headers
            .push((HeaderName::from_static("authorization"), header));
        let client = kube::Client::try_from(config).map_err(|e| client_error(format!("{e}")))?;
        Ok(Cluster {
            client,
            id: id.clone(),
        })
    }

    /// The cluster.
    pub fn id(&self) -> &ClusterId {
        &self.id
    }

    /// Whether `namespace` exists.
    pub async fn namespace_exists(&self, namespace: &str) -> Result<bool, KubeError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        api.get_opt(namespace)
            .await
            .map(|n| n.is_some())
            .map_err(|e| kube_error(&self.id, &format!("get namespace {namespace}"), &e))
    }

    /// Creates `namespace`.
    pub async fn create_namespace(&self, namespace: &str) -> Result<(), KubeError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY_LABEL.to_string(),
                    MANAGED_BY.to_string(),
                )])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        api.create(&params, &ns)
            .await
            .map(|_| ())
            .map_err(|e| kube_error(&self.id, &format!("create namespace {namespace}"), &e))
    }

    /// What `namespace` holds under `name`: only labels and annotations are kept, the data
    /// is dropped as soon as it is read.
    pub async fn observe(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Observed>, KubeError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let found = api
            .get_metadata_opt(name)
            .await
            .map_err(|e| kube_error(&self.id, &format!("get secret {namespace}/{name}"), &e))?;
        Ok(found.map(|m| {
            let labels = m.metadata.labels.unwrap_or_default();
            let annotations = m.metadata.annotations.unwrap_or_default();
            Observed {
                managed: labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY),
                version_id: annotations.get(VERSION_ID_ANNOTATION).cloned(),
                source_arn: annotations.get(SOURCE_ARN_ANNOTATION).cloned(),
            }
        }))
    }

    /// Writes the secret with server-side apply (field manager `eksmgr`): type, data, the
    /// managed-by label and the source annotations. `force` takes over fields another
    /// manager owns (a secret made by hand).
    #[allow(clippy::too_many_arguments)]
    pub async fn apply(
        &self,
        namespace: &str,
        name: &str,
        kind: &str,
        data: &SecretData,
        source_arn: &str,
        version_id: &str,
        force: bool,
    ) -> Result<(), KubeError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY_LABEL.to_string(),
                    MANAGED_BY.to_string(),
                )])),
                annotations: Some(BTreeMap::from([
                    (SOURCE_ARN_ANNOTATION.to_string(), source_arn.to_string()),
                    (VERSION_ID_ANNOTATION.to_string(), version_id.to_string()),
                ])),
                ..ObjectMeta::default()
            },
            type_: Some(kind.to_string()),
            data: Some(
                data.0
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                    .collect(),
            ),
            ..Secret::default()
        };
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        api.patch(name, &params, &Patch::Apply(&secret))
            .await
            .map(|_| ())
            .map_err(|e| kube_error(&self.id, &format!("apply secret {namespace}/{name}"), &e))
    }
}
