//! End-to-end test of secrets on demand (the design's phase 3 step 3) through the real
//! `eksmgr` binary: a Secrets Manager secret in the hub, `[[secrets]]` targeting `apps` and
//! `tools` in every `workloads` cluster of two spokes, `secrets status` and `secrets push`
//! against the Kubernetes API emulator beside moto (which authenticates EKS tokens by
//! replaying their presigned GetCallerIdentity and authorizes through the access entries
//! moto holds), read back with the real `kubectl` through `eksmgr kubeconfig` and
//! `aws eks get-token`. Also: a hand-made secret left alone without `--force`, a cluster that
//! is down failing alone, the access entries the secrets need planned and removed, and no
//! value anywhere in eksmgr's output, files, or the emulators' logs.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use eksmgr_e2e::check::{ensure, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::workloads_config;
use eksmgr_e2e::{Output, R, REGION, Seed, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, kube};
use serde_json::{Value, json};

const CLUSTER: &str = "workloads";
const SECRET: &str = "app-credentials";
const SOURCE: &str = "/EksManager/app-credentials";
const AGENT_ROLE: &str = "EKSManagerAgentRole";
const EDIT: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
/// The password of each version: distinctive, so that a leak is found by a plain search.
const VALUES: [&str; 4] = [
    "pw-first-Vq8xK2pLm9Zr",
    "pw-second-Hw3nT7cYb5Qd",
    "pw-third-Jf6sR1gNe4Uk",
    "pw-fourth-Pz7dM3kTq8Lw",
];
const HAND_MADE: &str = "made-by-hand-Xc2Wq";

fn config(seed: &Seed, with_secret: bool, auto: bool) -> String {
    let rest = if with_secret {
        format!(
            r#"
[[secrets]]
name = "{SECRET}"
source = "app-credentials"
clusters = ["{CLUSTER}"]
namespaces = ["apps", "tools"]
keys = {{ username = "username", password = "password" }}
auto = {auto}
"#
        )
    } else {
        String::new()
    };
    workloads_config(seed, "1.35", "", &rest)
}

fn value(password: &str) -> String {
    json!({"username": "svc-app", "password": password}).to_string()
}

/// The secrets report (`--json`) of a run, as (cluster account, namespace) -> row.
fn rows(out: &Output) -> R<Vec<(String, String, Value)>> {
    let report: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("secrets --json is not JSON ({e})\n{out}"))?;
    Ok(report["targets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap_or_default().to_string(),
                r["namespace"].as_str().unwrap_or_default().to_string(),
                r,
            )
        })
        .collect())
}

fn row<'a>(rows: &'a [(String, String, Value)], account: &str, ns: &str) -> R<&'a Value> {
    rows.iter()
        .find(|(a, n, _)| a == account && n == ns)
        .map(|(_, _, r)| r)
        .ok_or_else(|| format!("no row for {account}/{ns} in {rows:?}"))
}

/// The cluster's CA (PEM), from DescribeCluster in its account.
async fn cluster_ca(estate: &Estate, account: &str) -> R<String> {
    let eks = aws_sdk_eks::Client::new(&estate.sdk(account).await?);
    let c = eks
        .describe_cluster()
        .name(CLUSTER)
        .send()
        .await
        .map_err(sdk_err("DescribeCluster"))?;
    let data = c
        .cluster()
        .and_then(|c| c.certificate_authority())
        .and_then(|ca| ca.data())
        .ok_or("the cluster has no CA")?;
    let pem = STANDARD
        .decode(data)
        .map_err(|e| format!("CA data is not base64: {e}"))?;
    String::from_utf8(pem).map_err(|e| format!("CA is not PEM: {e}"))
}

/// The agent role's access entry in a spoke's cluster: its access policies and scopes.
async fn agent_entry(estate: &Estate, account: &str) -> R<Option<Vec<(String, Vec<String>)>>> {
    let eks = aws_sdk_eks::Client::new(&estate.sdk(account).await?);
    let principal = format!("arn:aws:iam::{}:role/{AGENT_ROLE}", estate.hub());
    let entries = eks
        .list_access_entries()
        .cluster_name(CLUSTER)
        .send()
        .await
        .map_err(sdk_err("ListAccessEntries"))?;
    if !entries.access_entries().contains(&principal) {
        return Ok(None);
    }
    let policies = eks
        .list_associated_access_policies()
        .cluster_name(CLUSTER)
        .principal_arn(&principal)
        .send()
        .await
        .map_err(sdk_err("ListAssociatedAccessPolicies"))?;
    Ok(Some(
        policies
            .associated_access_policies()
            .iter()
            .map(|p| {
                (
                    p.policy_arn().unwrap_or_default().to_string(),
                    p.access_scope()
                        .map(|s| s.namespaces().to_vec())
                        .unwrap_or_default(),
                )
            })
            .collect(),
    ))
}

/// Runs kubectl with `kubeconfig`; the exec plugin (`aws eks get-token`) comes from the
/// emulator's virtualenv and talks to moto as the management account.
fn kubectl(estate: &Estate, kubeconfig: &Path, args: &[&str]) -> R<std::process::Output> {
    let venv_bin = estate
        .moto
        .python()
        .parent()
        .ok_or("the emulator's python has no directory")?
        .to_path_buf();
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("PATH", path)
        .env("AWS_ENDPOINT_URL", estate.moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .output()
        .map_err(|e| format!("cannot run kubectl: {e}"))
}

/// `kubectl get secret app-credentials -n NS -o json` in a spoke's cluster.
fn read_back(estate: &Estate, kubeconfig: &Path, account: &str, ns: &str) -> R<Value> {
    let context = format!("{CLUSTER}@{account}/{REGION}");
    let out = kubectl(
        estate,
        kubeconfig,
        &[
            "--context",
            &context,
            "get",
            "secret",
            SECRET,
            "-n",
            ns,
            "-o",
            "json",
            "--show-managed-fields",
        ],
    )?;
    ensure(out.status.success(), || {
        format!(
            "kubectl get secret in {context} {ns} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    serde_json::from_slice(&out.stdout).map_err(|e| format!("kubectl's output is not JSON: {e}"))
}

fn decoded(secret: &Value, key: &str) -> R<String> {
    let b64 = secret["data"][key]
        .as_str()
        .ok_or_else(|| format!("no data key {key} in {secret}"))?;
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| format!("data {key} is not base64: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("data {key} is not UTF-8: {e}"))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_pushed_on_demand_and_never_leak() -> R {
    let port = eksmgr_e2e::free_port()?;
    let logs = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let kube_log = logs.path().join("kube-requests.jsonl");
    let estate = Estate::builder("eksmgr-secrets-")
        .spokes(2)
        .config(|seed| Ok(config(seed, true, false)))
        .moto_env("EKSMGR_EMULATOR_KUBE_PORT", &port.to_string())
        .moto_env("EKSMGR_EMULATOR_KUBE_LOG", &kube_log.display().to_string())
        .start()?;
    let (s0, s1) = (estate.spoke(0).to_string(), estate.spoke(1).to_string());
    let mut outputs: Vec<Output> = Vec::new();

    // The hub's secret, as the platform team stores it.
    let sm = aws_sdk_secretsmanager::Client::new(&estate.sdk(estate.hub()).await?);
    let v1 = sm
        .create_secret()
        .name(SOURCE)
        .secret_string(value(VALUES[0]))
        .send()
        .await
        .map_err(sdk_err("CreateSecret"))?
        .version_id()
        .unwrap_or_default()
        .to_string();

    // The plan grants the agent role Edit in the target namespaces of both clusters.
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("+ eks_access_entry.") && l.contains(AGENT_ROLE))
            .count()
            == 2,
        || format!("the plan should create the agent role's two access entries\n{plan}"),
    )?;
    estate.apply()?;
    for account in [&s0, &s1] {
        let entry = agent_entry(&estate, account).await?;
        ensure(
            entry
                == Some(vec![(
                    EDIT.to_string(),
                    vec!["apps".into(), "tools".into()],
                )]),
            || format!("the agent role's access in {account}: {entry:?}"),
        )?;
    }
    estate.replan_clean()?;

    // Namespaces: `apps` in both clusters; `tools` only in the first, where a secret of the
    // same name was made by hand.
    let mut cas = Vec::new();
    for account in [&s0, &s1] {
        let ca = cluster_ca(&estate, account).await?;
        let path = format!("{}/objects", kube::control_path(account, REGION, CLUSTER));
        kube::control(
            &estate.moto,
            port,
            &ca,
            &path,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
                .to_string(),
        )?;
        cas.push(ca);
    }
    let objects = format!("{}/objects", kube::control_path(&s0, REGION, CLUSTER));
    kube::control(
        &estate.moto,
        port,
        &cas[0],
        &objects,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tools"}})
            .to_string(),
    )?;
    kube::control(
        &estate.moto,
        port,
        &cas[0],
        &objects,
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET, "namespace": "tools"},
            "data": {"password": STANDARD.encode(HAND_MADE)}})
        .to_string(),
    )?;

    // Status before any push: missing where the namespace is, unmanaged and no-namespace
    // where a human must act (exit 3).
    let status = estate.expect(&["secrets", "status", "--json"], 3)?;
    let r = rows(&status)?;
    for (account, ns, standing) in [
        (&s0, "apps", "missing"),
        (&s0, "tools", "unmanaged"),
        (&s1, "apps", "missing"),
        (&s1, "tools", "no-namespace"),
    ] {
        ensure(row(&r, account, ns)?["standing"] == standing, || {
            format!("{account}/{ns} should be {standing}\n{status}")
        })?;
    }
    outputs.push(status);

    // The first push, at the highest verbosity: created in both `apps`, the hand-made
    // secret left alone, the missing namespace reported.
    let push = estate.expect(&["-vvvv", "secrets", "push"], 3)?;
    for needle in ["created (version", "left alone", "no such namespace"] {
        ensure(push.stdout.contains(needle), || {
            format!("the push should say {needle:?}\n{push}")
        })?;
    }
    ensure(push.stdout.matches("created (version").count() == 2, || {
        format!("two secrets should be created\n{push}")
    })?;
    outputs.push(push);

    // Read back with kubectl, through the kubeconfig eksmgr writes, as the agent role.
    let kubeconfig = estate.file("kubeconfig");
    let agent_arn = format!("arn:aws:iam::{}:role/{AGENT_ROLE}", estate.hub());
    outputs.push(estate.expect(
        &[
            "kubeconfig",
            "--role",
            &agent_arn,
            "--kubeconfig",
            &kubeconfig.display().to_string(),
        ],
        0,
    )?);
    for account in [&s0, &s1] {
        let secret = read_back(&estate, &kubeconfig, account, "apps")?;
        ensure(decoded(&secret, "password")? == VALUES[0], || {
            format!("{account}: kubectl should read the first version")
        })?;
        ensure(
            secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "eksmgr"
                && secret["metadata"]["annotations"]["eksmgr.io/version-id"] == v1.as_str()
                && secret["type"] == "Opaque",
            || format!("{account}: labels and annotations of {secret}"),
        )?;
        ensure(
            secret["metadata"]["managedFields"]
                .as_array()
                .is_some_and(|m| m.iter().any(|f| f["manager"] == "eksmgr")),
            || format!("{account}: eksmgr should be a field manager: {secret}"),
        )?;
    }
    let hand_made = read_back(&estate, &kubeconfig, &s0, "tools")?;
    ensure(decoded(&hand_made, "password")? == HAND_MADE, || {
        "the hand-made secret must be left alone".to_string()
    })?;
    // The agent role has no access policy in kube-system: refused.
    let context = format!("{CLUSTER}@{s0}/{REGION}");
    let refused = kubectl(
        &estate,
        &kubeconfig,
        &["--context", &context, "get", "secrets", "-n", "kube-system"],
    )?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    ensure(
        !refused.status.success() && stderr.contains("forbidden"),
        || format!("kubectl in kube-system should be forbidden: {stderr}"),
    )?;

    let status = estate.expect(&["secrets", "status", "--json", "--namespace", "apps"], 0)?;
    ensure(
        rows(&status)?
            .iter()
            .all(|(_, _, r)| r["standing"] == "current"),
        || format!("both apps secrets should be current\n{status}"),
    )?;
    outputs.push(status);

    // A new version in the hub: outdated, then the second push updates both.
    let v2 = sm
        .put_secret_value()
        .secret_id(SOURCE)
        .secret_string(value(VALUES[1]))
        .send()
        .await
        .map_err(sdk_err("PutSecretValue"))?
        .version_id()
        .unwrap_or_default()
        .to_string();
    let status = estate.expect(&["secrets", "status", "--json", "--namespace", "apps"], 2)?;
    for account in [&s0, &s1] {
        let r = rows(&status)?;
        let apps = row(&r, account, "apps")?;
        ensure(
            apps["standing"] == "outdated"
                && apps["held_version_id"] == v1.as_str()
                && apps["version_id"] == v2.as_str(),
            || format!("{account}/apps should be outdated\n{status}"),
        )?;
    }
    outputs.push(status);
    // --dry-run writes nothing.
    let dry = estate.expect(&["secrets", "push", "--dry-run", "--json"], 3)?;
    ensure(
        row(&rows(&dry)?, &s0, "apps")?["done"] == "would-write"
            && decoded(&read_back(&estate, &kubeconfig, &s0, "apps")?, "password")? == VALUES[0],
        || format!("--dry-run should write nothing\n{dry}"),
    )?;
    outputs.push(dry);
    let push = estate.expect(&["-vv", "secrets", "push", SECRET, "--json"], 3)?;
    let r = rows(&push)?;
    for account in [&s0, &s1] {
        ensure(row(&r, account, "apps")?["done"] == "written", || {
            format!("{account}/apps should be written\n{push}")
        })?;
        let secret = read_back(&estate, &kubeconfig, account, "apps")?;
        ensure(decoded(&secret, "password")? == VALUES[1], || {
            format!("{account}: kubectl should read the second version")
        })?;
    }
    outputs.push(push);

    // --force takes the hand-made secret over, only where asked.
    let forced = estate.expect(
        &[
            "secrets",
            "push",
            "--force",
            "--cluster",
            &s0,
            "--namespace",
            "tools",
        ],
        0,
    )?;
    let taken = read_back(&estate, &kubeconfig, &s0, "tools")?;
    ensure(
        decoded(&taken, "password")? == VALUES[1]
            && taken["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "eksmgr",
        || format!("--force should overwrite the hand-made secret\n{forced}"),
    )?;
    outputs.push(forced);

    // The second cluster is down: the third version reaches the first one only.
    sm.put_secret_value()
        .secret_id(SOURCE)
        .secret_string(value(VALUES[2]))
        .send()
        .await
        .map_err(sdk_err("PutSecretValue"))?;
    let down = format!("{}/down", kube::control_path(&s1, REGION, CLUSTER));
    kube::control(&estate.moto, port, &cas[1], &down, "")?;
    let push = estate.expect(&["secrets", "push", "--json"], 1)?;
    let r = rows(&push)?;
    ensure(
        row(&r, &s0, "apps")?["done"] == "written"
            && row(&r, &s0, "tools")?["done"] == "written"
            && row(&r, &s1, "apps")?["error"].is_string()
            && row(&r, &s1, "tools")?["error"].is_string(),
        || format!("only the second cluster should fail\n{push}"),
    )?;
    ensure(
        decoded(&read_back(&estate, &kubeconfig, &s0, "apps")?, "password")? == VALUES[2],
        || "the first cluster should hold the third version".to_string(),
    )?;
    outputs.push(push);
    let up = format!("{}/up", kube::control_path(&s1, REGION, CLUSTER));
    kube::control(&estate.moto, port, &cas[1], &up, "")?;

    // `auto = true`: an agent cycle pushes the new version to every target it can write
    // (the missing namespace still needs a human: exit 3).
    estate
        .eksmgr
        .write_config(&config(&estate.seed, true, true))?;
    let v4 = sm
        .put_secret_value()
        .secret_id(SOURCE)
        .secret_string(value(VALUES[3]))
        .send()
        .await
        .map_err(sdk_err("PutSecretValue"))?
        .version_id()
        .unwrap_or_default()
        .to_string();
    let agent = estate.expect(&["agent", "--once"], 3)?;
    let line: Value = agent
        .stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("the agent wrote no JSON line\n{agent}"))?;
    let pushed = line["secrets_pushed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure(
        pushed.len() == 3 && pushed.iter().all(|p| p["version_id"] == v4.as_str()),
        || format!("the agent should push the fourth version to three targets\n{agent}"),
    )?;
    ensure(
        decoded(&read_back(&estate, &kubeconfig, &s1, "apps")?, "password")? == VALUES[3],
        || "the agent's push should reach the second cluster".to_string(),
    )?;
    outputs.push(agent);

    // No value anywhere: eksmgr's output, every file of the work directory (state,
    // journals, kubeconfig), moto's log and the Kubernetes emulator's request log.
    let mut haystacks: Vec<(String, String)> = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            (
                format!("output of run {i}"),
                format!("{}\n{}", o.stdout, o.stderr),
            )
        })
        .collect();
    let mut files = Vec::new();
    files_under(estate.dir.path(), &mut files);
    files.push(estate.moto.log_path().to_path_buf());
    files.push(kube_log.clone());
    ensure(kube_log.is_file(), || {
        "the Kubernetes emulator should log its requests".to_string()
    })?;
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| format!("read {}: {e}", f.display()))?;
        haystacks.push((
            f.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    for v in VALUES {
        let encoded = STANDARD.encode(v);
        for (what, text) in &haystacks {
            ensure(!text.contains(v) && !text.contains(&encoded), || {
                format!("a secret value leaked into {what}")
            })?;
        }
    }

    // The last secret for the clusters removed: the agent role's access entries go.
    estate
        .eksmgr
        .write_config(&config(&estate.seed, false, false))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("- eks_access_entry.") && l.contains(AGENT_ROLE))
            .count()
            == 2,
        || format!("the plan should delete the agent role's two access entries\n{plan}"),
    )?;
    estate.apply()?;
    for account in [&s0, &s1] {
        let entry = agent_entry(&estate, account).await?;
        ensure(entry.is_none(), || {
            format!("the agent role's access entry in {account} should be gone: {entry:?}")
        })?;
    }
    estate.replan_clean()
}
