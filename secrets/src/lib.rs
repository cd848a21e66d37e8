//! eksmgr secrets: the design's phase 3 step 3, "secrets on demand". A `[[secrets]]` entry
//! names a Secrets Manager secret in the hub and the clusters and namespaces it goes to;
//! [`run`] reads its current version as the hub agent role ([`source`]), connects to each
//! target cluster's Kubernetes API with an EKS token of that role ([`token`], [`cluster`]) and
//! either reports where each target stands (`eksmgr secrets status`) or writes it with
//! server-side apply (`eksmgr secrets push`). One cluster failing does not stop the others.
//!
//! Values live in memory only, inside types whose `Debug` shows sizes; nothing here logs,
//! prints or returns them. The rules (mapping, standing, labels) are the engine's
//! ([`eksmgr_engine::secrets`]); this crate does the I/O and the CLI renders the [`Report`].

pub mod cluster;
pub mod source;
pub mod token;

use std::collections::BTreeMap;

use eksmgr_engine::config::{Config, SecretConfig};
use eksmgr_engine::secrets::{self as rules, Standing};
use eksmgr_providers::Sessions;
use futures::StreamExt;

pub use cluster::ClusterId;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read only: where each target stands.
    Status,
    /// Write what is not current.
    Push {
        /// Show what would be written, write nothing.
        dry_run: bool,
        /// Overwrite secrets eksmgr does not manage (taking over their fields), and write
        /// targets that are current already.
        force: bool,
        /// Create target namespaces that do not exist.
        create_namespaces: bool,
    },
}

/// One secret going to one namespace of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The `[[secrets]]` name.
    pub secret: String,
    /// The cluster.
    pub cluster: ClusterId,
    /// The namespace.
    pub namespace: String,
}

/// What was done at a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Nothing (status, current already, or left alone).
    Nothing,
    /// Written (created or updated).
    Written,
    /// Would be written (`--dry-run`).
    WouldWrite,
    /// The namespace was created, then the secret written.
    CreatedNamespaceAndWritten,
}

/// The outcome at one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The target.
    pub target: Target,
    /// The hub's current version id (when it could be read).
    pub version_id: Option<String>,
    /// Where the target stood before, and what was done; or why it failed.
    pub result: Result<(Standing, Done), String>,
}

impl Row {
    /// The exit code this row asks for: 1 failed; 3 left for a human (a secret eksmgr does
    /// not manage, a missing namespace); with `Status`, 2 when a push would change it.
    pub fn exit_code(&self, mode: Mode) -> u8 {
        match (&self.result, mode) {
            (Err(_), _) => 1,
            (Ok((standing, _)), Mode::Status) => standing.exit_code(),
            (Ok((Standing::Unmanaged | Standing::NoNamespace, Done::Nothing)), _) => 3,
            (Ok(_), Mode::Push { .. }) => 0,
        }
    }
}

/// Everything a run did, in target order.
#[derive(Debug, Default)]
pub struct Report {
    /// One row per target.
    pub rows: Vec<Row>,
    /// The source ARN of each secret read (by `[[secrets]]` name).
    pub sources: BTreeMap<String, String>,
}

impl Report {
    /// The run's exit code: the worst row's (1 before 3 before 2 before 0, as `plan
    /// --detailed-exitcode`).
    pub fn exit_code(&self, mode: Mode) -> u8 {
        let codes: Vec<u8> = self.rows.iter().map(|r| r.exit_code(mode)).collect();
        [1, 3, 2]
            .into_iter()
            .find(|c| codes.contains(c))
            .unwrap_or(0)
    }
}

/// Why the targets could not be chosen.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SelectError(pub String);

/// The targets of the `[[secrets]]` named in `names` (all when empty) among `clusters` (the
/// state's), narrowed to `cluster_filter` (cluster names or account ids) and
/// `namespace_filter` when given.
pub fn targets(
    config: &Config,
    clusters: &[ClusterId],
    names: &[String],
    cluster_filter: &[String],
    namespace_filter: &[String],
) -> Result<Vec<Target>, SelectError> {
    if config.secrets.is_empty() {
        return Err(SelectError(
            "the configuration declares no [[secrets]]: add one (see `eksmgr schema`) first".into(),
        ));
    }
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !config.secrets.iter().any(|s| &s.name == *n))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = config.secrets.iter().map(|s| s.name.as_str()).collect();
        return Err(SelectError(format!(
            "no [[secrets]] named {}: declared are {}",
            unknown
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        )));
    }
    let mut out = Vec::new();
    for s in &config.secrets {
        if !names.is_empty() && !names.contains(&s.name) {
            continue;
        }
        for c in clusters {
            if !s.targets(&c.name)
                || (!cluster_filter.is_empty()
                    && !cluster_filter
                        .iter()
                        .any(|f| f == &c.name || f == &c.account || *f == c.to_string()))
            {
                continue;
            }
            for ns in &s.namespaces {
                if namespace_filter.is_empty() || namespace_filter.contains(ns) {
                    out.push(Target {
                        secret: s.name.clone(),
                        cluster: c.clone(),
                        namespace: ns.clone(),
                    });
                }
            }
        }
    }
    if out.is_empty() {
        return Err(SelectError(
            "no target: no cluster in state is named by the selected [[secrets]] (with the --cluster and --namespace given); run `eksmgr apply` first if the clusters are new".into(),
        ));
    }
    out.sort();
    Ok(out)
}

/// What a secret's targets are written with: its source version and its Kubernetes data.
struct Prepared {
    arn: String,
    version_id: String,
    data: rules::SecretData,
}

/// Reads every selected secret in the hub, then goes through the targets cluster by cluster
/// (up to `parallelism` clusters at once) as `mode` says.
pub async fn run(
    sessions: &Sessions,
    config: &Config,
    targets: Vec<Target>,
    mode: Mode,
    parallelism: usize,
) -> Report {
    let mut report = Report::default();
    let mut prepared: BTreeMap<String, Result<Prepared, String>> = BTreeMap::new();
    for t in &targets {
        if prepared.contains_key(&t.secret) {
            continue;
        }
        let Some(secret) = config.secrets.iter().find(|s| s.name == t.secret) else {
            continue;
        };
        let p = match source::read(sessions, config, secret).await {
            Ok(src) => {
                report.sources.insert(t.secret.clone(), src.arn.clone());
                rules::data(secret, &src.value)
                    .map(|data| Prepared {
                        arn: src.arn,
                        version_id: src.version_id,
                        data,
                    })
                    .map_err(|e| format!("[[secrets]] {}: {e}", secret.name))
            }
            Err(e) => Err(e.to_string()),
        };
        prepared.insert(t.secret.clone(), p);
    }
    let mut by_cluster: BTreeMap<ClusterId, Vec<Target>> = BTreeMap::new();
    for t in targets {
        by_cluster.entry(t.cluster.clone()).or_default().push(t);
    }
    let prepared = &prepared;
    let rows: Vec<Vec<Row>> = futures::stream::iter(by_cluster)
        .map(|(id, targets)| async move {
            one_cluster(sessions, config, &id, targets, prepared, mode).await
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    report.rows = rows.into_iter().flatten().collect();
    report.rows.sort_by(|a, b| a.target.cmp(&b.target));
    report
}

async fn one_cluster(
    sessions: &Sessions,
    config: &Config,
    id: &ClusterId,
    targets: Vec<Target>,
    prepared: &BTreeMap<String, Result<Prepared, String>>,
    mode: Mode,
) -> Vec<Row> {
    let connected = cluster::Cluster::connect(sessions, id).await;
    let mut rows = Vec::with_capacity(targets.len());
    for target in targets {
        let p = prepared.get(&target.secret);
        let version_id = p
            .and_then(|p| p.as_ref().ok())
            .map(|p| p.version_id.clone());
        let result = match (&connected, p) {
            (_, None) => Err("the secret was not read".to_string()),
            (_, Some(Err(e))) => Err(e.clone()),
            (Err(e), _) => Err(e.to_string()),
            (Ok(c), Some(Ok(p))) => {
                let secret = config.secrets.iter().find(|s| s.name == target.secret);
                match secret {
                    Some(secret) => one_target(c, secret, &target.namespace, p, mode)
                        .await
                        .map_err(|e| e.to_string()),
                    None => Err("the secret is not declared".to_string()),
                }
            }
        };
        rows.push(Row {
            target,
            version_id,
            result,
        });
    }
    rows
}

async fn one_target(
    c: &cluster::Cluster,
    secret: &SecretConfig,
    namespace: &str,
    p: &Prepared,
    mode: Mode,
) -> Result<(Standing, Done), cluster::KubeError> {
    let exists = c.namespace_exists(namespace).await?;
    let observed = if exists {
        c.observe(namespace, &secret.name).await?
    } else {
        None
    };
    let standing = Standing::of(exists, observed.as_ref(), &p.arn, &p.version_id);
    let Mode::Push {
        dry_run,
        force,
        create_namespaces,
    } = mode
    else {
        return Ok((standing, Done::Nothing));
    };
    let write = match standing {
        Standing::Current | Standing::Unmanaged => force,
        Standing::NoNamespace => create_namespaces,
        Standing::Outdated { .. } | Standing::Missing => true,
    };
    if !write {
        return Ok((standing, Done::Nothing));
    }
    if dry_run {
        return Ok((standing, Done::WouldWrite));
    }
    let mut done = Done::Written;
    if standing == Standing::NoNamespace {
        c.create_namespace(namespace).await?;
        done = Done::CreatedNamespaceAndWritten;
    }
    c.apply(
        namespace,
        &secret.name,
        secret.kind.as_str(),
        &p.data,
        &p.arn,
        &p.version_id,
        force,
    )
    .await?;
    Ok((standing, done))
}
