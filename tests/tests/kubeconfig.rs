//! End-to-end test of `eksmgr kubeconfig`: a small estate (one cluster in each of two spokes,
//! in two regions) applied by the real `eksmgr` binary against moto, then a kubeconfig that
//! already holds someone's own context merged with one context per cluster.
//!
//! The endpoints and CAs written are checked against what EKS itself reports (through the AWS
//! SDK, assuming `OrganizationAccountAccessRole` into each spoke), and the file is read back
//! by `kubectl config view`. kubectl must be on `PATH` (Debian's `kubernetes-client` package):
//! without it the test fails, saying so, rather than leave the check out.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::Region;
use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::{Eksmgr, Output, Seed, assume};
use serde_json::Value as Json;
use serde_norway::Value;

use eksmgr_e2e::R;

const ACCESS_ROLE: &str = "OrganizationAccountAccessRole";
const SPOKE_ADMIN_ROLE: &str = "EKSManagerAdmin";
/// Longest a single eksmgr run may take in this test.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// One cluster of the estate.
struct Cluster {
    name: &'static str,
    account: String,
    region: &'static str,
}

impl Cluster {
    fn context(&self) -> String {
        format!("{}@{}/{}", self.name, self.account, self.region)
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:eks:{}:{}:cluster/{}",
            self.region, self.account, self.name
        )
    }

    fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{SPOKE_ADMIN_ROLE}", self.account)
    }

    fn user(&self) -> String {
        format!("{}@{}", self.role_arn(), self.arn())
    }

    fn exec_args(&self) -> Vec<String> {
        [
            "eks",
            "get-token",
            "--cluster-name",
            self.name,
            "--region",
            self.region,
            "--role-arn",
            &self.role_arn(),
            "--output",
            "json",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    }
}

/// The clusters in the order eksmgr writes them: state order, by account, region and name
/// (the seed's account ids are random, so either spoke may come first).
fn clusters(seed: &Seed) -> Vec<Cluster> {
    let mut cs = vec![
        Cluster {
            name: "alpha",
            account: seed.spoke_account_ids[0].clone(),
            region: "us-east-1",
        },
        Cluster {
            name: "beta",
            account: seed.spoke_account_ids[1].clone(),
            region: "eu-west-1",
        },
    ];
    cs.sort_by(|a, b| (&a.account, a.region, a.name).cmp(&(&b.account, b.region, b.name)));
    cs
}

fn config(seed: &Seed) -> String {
    let mut cs = clusters(seed);
    cs.sort_by_key(|c| c.name);
    format!(
        r#"[organization]
eks_ou_id = "{ou}"
home_region = "us-east-1"

[hub]
account_id = "{hub}"

[[clusters]]
name = "{a}"
account = "{a_account}"
version = "1.35"
subnet_ids = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]

[[clusters]]
name = "{b}"
account = "{b_account}"
region = "{b_region}"
version = "1.35"
subnet_ids = ["subnet-1a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60719"]
"#,
        ou = seed.eks_ou_id,
        hub = seed.hub_account_id,
        a = cs[0].name,
        a_account = cs[0].account,
        b = cs[1].name,
        b_account = cs[1].account,
        b_region = cs[1].region,
    )
}

/// A kubeconfig someone already uses, with a context eksmgr must leave alone.
const FOREIGN: &str = r#"apiVersion: v1
kind: Config
current-context: kind-dev
preferences:
  colors: true
clusters:
- cluster:
    certificate-authority-data: S0lORA==
    server: https://127.0.0.1:6443
  name: kind-dev
contexts:
- context:
    cluster: kind-dev
    namespace: apps
    user: kind-dev
  name: kind-dev
users:
- name: kind-dev
  user:
    token: kind-token
"#;

fn run(eksmgr: &Eksmgr, args: &[&str], code: i32) -> R<Output> {
    let out = eksmgr.run(args)?;
    eprintln!("eksmgr {} -> {:?}", args.join(" "), out.code);
    ensure(out.code == Some(code), || {
        format!("eksmgr {} should exit {code}\n{out}", args.join(" "))
    })?;
    Ok(out)
}

fn yaml(path: &Path) -> R<Value> {
    let text = std::fs::read_to_string(path).map_err(err(format!("read {}", path.display())))?;
    serde_norway::from_str(&text).map_err(err(format!("{} is not YAML:\n{text}", path.display())))
}

/// The names of a kubeconfig list (`clusters`, `contexts`, `users`), in file order.
fn names(doc: &Value, list: &str) -> Vec<String> {
    doc.get(list)
        .and_then(Value::as_sequence)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The inner mapping (`cluster`, `context` or `user`) of the list item named `name`.
fn inner<'a>(doc: &'a Value, list: &str, field: &str, name: &str) -> R<&'a Value> {
    doc.get(list)
        .and_then(Value::as_sequence)
        .and_then(|items| {
            items
                .iter()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
        })
        .and_then(|i| i.get(field))
        .ok_or_else(|| format!("no {list} entry named {name} with a `{field}`"))
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The endpoint and CA data EKS reports for a cluster.
async fn described(endpoint: &str, c: &Cluster) -> R<(String, String)> {
    let conf = assume(endpoint, &c.account, ACCESS_ROLE)
        .await?
        .to_builder()
        .region(Region::new(c.region))
        .build();
    let cluster = aws_sdk_eks::Client::new(&conf)
        .describe_cluster()
        .name(c.name)
        .send()
        .await
        .map_err(sdk_err(format!("eks:DescribeCluster {}", c.arn())))?
        .cluster
        .ok_or_else(|| format!("eks:DescribeCluster {} returned no cluster", c.arn()))?;
    let server = cluster.endpoint().unwrap_or_default().to_owned();
    let ca = cluster
        .certificate_authority()
        .and_then(|ca| ca.data())
        .unwrap_or_default()
        .to_owned();
    ensure(!server.is_empty() && !ca.is_empty(), || {
        format!("EKS reports no endpoint or CA for {}", c.arn())
    })?;
    Ok((server, ca))
}

/// Structural checks of the written kubeconfig: exactly the foreign context plus one per
/// cluster, the foreign entries and keys as they were, eksmgr's entries as EKS describes the
/// clusters, with the exec plugin for the spoke admin role.
async fn check_file(path: &Path, endpoint: &str, cs: &[Cluster]) -> R {
    let doc = yaml(path)?;
    let before: Value = serde_norway::from_str(FOREIGN).map_err(err("FOREIGN"))?;

    let mut want_contexts = vec!["kind-dev".to_owned()];
    want_contexts.extend(cs.iter().map(Cluster::context));
    ensure(names(&doc, "contexts") == want_contexts, || {
        format!(
            "contexts should be {want_contexts:?}, got {:?}",
            names(&doc, "contexts")
        )
    })?;
    let mut want_users = vec!["kind-dev".to_owned()];
    want_users.extend(cs.iter().map(Cluster::user));
    ensure(names(&doc, "users") == want_users, || {
        format!(
            "users should be {want_users:?}, got {:?}",
            names(&doc, "users")
        )
    })?;
    let mut want_clusters = vec!["kind-dev".to_owned()];
    want_clusters.extend(cs.iter().map(Cluster::arn));
    ensure(names(&doc, "clusters") == want_clusters, || {
        format!(
            "clusters should be {want_clusters:?}, got {:?}",
            names(&doc, "clusters")
        )
    })?;

    for (list, field) in [
        ("clusters", "cluster"),
        ("contexts", "context"),
        ("users", "user"),
    ] {
        let now = inner(&doc, list, field, "kind-dev")?;
        let was = inner(&before, list, field, "kind-dev")?;
        ensure(now == was, || {
            format!("the foreign {list} entry changed: {was:?} -> {now:?}")
        })?;
    }
    for key in ["current-context", "preferences", "apiVersion", "kind"] {
        ensure(doc.get(key) == before.get(key), || {
            format!(
                "top-level `{key}` changed: {:?} -> {:?}",
                before.get(key),
                doc.get(key)
            )
        })?;
    }

    for c in cs {
        let (server, ca) = described(endpoint, c).await?;
        let cluster = inner(&doc, "clusters", "cluster", &c.arn())?;
        ensure(str_at(cluster, "server") == server, || {
            format!("{}: server should be {server}: {cluster:?}", c.arn())
        })?;
        ensure(str_at(cluster, "certificate-authority-data") == ca, || {
            format!("{}: CA data should be EKS's: {cluster:?}", c.arn())
        })?;

        let context = inner(&doc, "contexts", "context", &c.context())?;
        ensure(
            str_at(context, "cluster") == c.arn() && str_at(context, "user") == c.user(),
            || {
                format!(
                    "{}: context should join {} and {}",
                    c.context(),
                    c.arn(),
                    c.user()
                )
            },
        )?;

        let exec = inner(&doc, "users", "user", &c.user())?
            .get("exec")
            .ok_or_else(|| format!("{}: no exec", c.user()))?;
        let args: Vec<&str> = exec
            .get("args")
            .and_then(Value::as_sequence)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        ensure(
            str_at(exec, "command") == "aws"
                && str_at(exec, "apiVersion") == "client.authentication.k8s.io/v1beta1"
                && args == c.exec_args(),
            || {
                format!(
                    "{}: exec should run aws {:?}: {exec:?}",
                    c.user(),
                    c.exec_args()
                )
            },
        )?;
    }
    Ok(())
}

/// `kubectl` on `PATH`; an error saying to install it when it is not there.
fn kubectl() -> R<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            "kubectl is not on PATH: this test reads the kubeconfig back with `kubectl config view`; \
             install kubectl (on Debian: `apt-get install kubernetes-client`) and run it again"
                .to_owned()
        })
}

/// What kubectl makes of the file: the contexts (with their users' exec args) and the current
/// context.
fn check_with_kubectl(kubectl: &Path, file: &Path, cs: &[Cluster]) -> R {
    let out = std::process::Command::new(kubectl)
        .args(["config", "view", "--kubeconfig"])
        .arg(file)
        .args(["-o", "json"])
        .env_remove("KUBECONFIG")
        .output()
        .map_err(err(format!("run {}", kubectl.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.success(), || {
        format!(
            "kubectl config view failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let view: Json = serde_json::from_str(&stdout).map_err(err(format!(
        "kubectl config view printed no JSON:\n{stdout}"
    )))?;
    let named = |list: &str, name: &str| -> Option<&Json> {
        view[list]
            .as_array()?
            .iter()
            .find(|i| i["name"].as_str() == Some(name))
    };
    let mut contexts: Vec<&str> = view["contexts"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    contexts.sort_unstable();
    let mut want: Vec<String> = cs.iter().map(Cluster::context).collect();
    want.push("kind-dev".to_owned());
    want.sort();
    ensure(contexts == want, || {
        format!("kubectl sees contexts {contexts:?}, expected {want:?}")
    })?;
    ensure(view["current-context"] == "kind-dev", || {
        format!(
            "kubectl's current context should still be kind-dev: {}",
            view["current-context"]
        )
    })?;
    for c in cs {
        let context = named("contexts", &c.context())
            .ok_or_else(|| format!("kubectl sees no context {}", c.context()))?;
        ensure(
            context["context"]["cluster"] == c.arn().as_str()
                && context["context"]["user"] == c.user().as_str(),
            || format!("kubectl's context {} is {context}", c.context()),
        )?;
        let user = named("users", &c.user())
            .ok_or_else(|| format!("kubectl sees no user {}", c.user()))?;
        let args: Vec<&str> = user["user"]["exec"]["args"]
            .as_array()
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        ensure(
            args == c.exec_args() && user["user"]["exec"]["command"] == "aws",
            || {
                format!(
                    "kubectl's user {} should run aws {:?}: {user}",
                    c.user(),
                    c.exec_args()
                )
            },
        )?;
        ensure(
            named("clusters", &c.arn()).is_some_and(|cl| {
                cl["cluster"]["server"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("https://"))
            }),
            || format!("kubectl sees no https server for cluster {}", c.arn()),
        )?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_merges_one_context_per_cluster() -> R {
    // Before anything runs: a missing kubectl fails the test at once.
    let kubectl = kubectl()?;
    let estate = Estate::builder("eksmgr-e2e-kubeconfig-")
        .spokes(2)
        .config(|seed| Ok(config(seed)))
        .timeout(RUN_TIMEOUT)
        .start()?;
    let (moto, seed, eksmgr) = (&estate.moto, &estate.seed, &estate.eksmgr);
    let file = eksmgr.write_file("kube/config", FOREIGN)?;
    let kube = file.to_string_lossy().into_owned();
    let cs = clusters(seed);

    // Nothing applied yet: an error that says what to do, and the file untouched.
    let out = run(eksmgr, &["kubeconfig", "--kubeconfig", &kube], 1)?;
    ensure(out.stderr.contains("run `eksmgr apply` first"), || {
        format!("an empty state should say to apply first\n{out}")
    })?;
    let text = std::fs::read_to_string(&file).map_err(err("read kubeconfig"))?;
    ensure(text == FOREIGN, || {
        format!("a failed run changed the kubeconfig:\n{text}")
    })?;

    run(eksmgr, &["apply", "--auto-approve"], 0)
        .map_err(|e| format!("{e}\n--- moto log ---\n{}", moto.log_tail()))?;

    let out = run(eksmgr, &["kubeconfig", "--kubeconfig", &kube], 0)?;
    ensure(
        out.stderr
            .contains(&format!("2 contexts written to {kube}")),
        || format!("the summary should count 2 contexts\n{out}"),
    )?;
    ensure(out.stdout.is_empty(), || {
        format!("nothing should go to stdout\n{out}")
    })?;
    let mode = std::fs::metadata(&file)
        .map_err(err("stat kubeconfig"))?
        .permissions()
        .mode()
        & 0o777;
    ensure(mode == 0o600, || {
        format!("mode should be 0600, is {mode:o}")
    })?;
    check_file(&file, moto.endpoint(), &cs).await?;

    // Again: the same bytes, no duplicates.
    let first = std::fs::read_to_string(&file).map_err(err("read kubeconfig"))?;
    run(eksmgr, &["kubeconfig", "--kubeconfig", &kube], 0)?;
    let second = std::fs::read_to_string(&file).map_err(err("read kubeconfig"))?;
    ensure(second == first, || {
        format!("a second run changed the file:\n--- first ---\n{first}\n--- second ---\n{second}")
    })?;

    check_with_kubectl(&kubectl, &file, &cs)?;
    Ok(())
}
