//! Tests of `eksmgr kubeconfig`: selecting clusters from state, naming, merging into an
//! existing kubeconfig (golden files with `insta`), and writing the file.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use eksmgr_state::{ResourceAddress, ResourceRecord, State};
use serde_json::json;
use serde_norway::Value;

use super::*;

const SPOKE_A: &str = "333333333333";
const SPOKE_B: &str = "444444444444";

/// A cluster record as apply leaves it; `ready` false: still CREATING, no endpoint or CA.
fn cluster(
    name: &str,
    account: &str,
    region: &str,
    partition: &str,
    ready: bool,
) -> ResourceRecord {
    let address = ResourceAddress::new("eks_cluster", name, account, Some(region.into()));
    let mut r = ResourceRecord::new(address, name);
    let a = std::sync::Arc::make_mut(&mut r.attrs);
    a.insert("name".into(), json!(name));
    a.insert(
        "arn".into(),
        json!(format!(
            "arn:{partition}:eks:{region}:{account}:cluster/{name}"
        )),
    );
    a.insert("version".into(), json!("1.31"));
    if ready {
        a.insert("status".into(), json!("ACTIVE"));
        a.insert(
            "endpoint".into(),
            json!(format!(
                "https://{name}-{account}.gr7.{region}.eks.amazonaws.com"
            )),
        );
        a.insert("certificate_authority".into(), json!(format!("Q0Et{name}")));
    } else {
        a.insert("status".into(), json!("CREATING"));
    }
    r
}

/// Two ready clusters in two spokes and regions, a cluster still being created, and a role
/// (which is not a cluster).
fn estate() -> State {
    let mut s = State::new();
    s.upsert(cluster("workloads", SPOKE_A, "us-east-1", "aws", true));
    s.upsert(cluster("edge", SPOKE_B, "eu-west-1", "aws", true));
    s.upsert(cluster("batch", SPOKE_B, "us-east-1", "aws", false));
    s.upsert(ResourceRecord::new(
        ResourceAddress::new("iam_role", "workloads-node", SPOKE_A, None),
        "workloads-node",
    ));
    s
}

fn admin() -> Role {
    Role::Name("EKSManagerAdmin".into())
}

fn entries(state: &State, role: &Role, filter: &[&str]) -> Vec<Entry> {
    let filter: Vec<String> = filter.iter().map(|f| (*f).to_owned()).collect();
    select(state, role, None, &filter).unwrap().entries
}

fn origin() -> PathBuf {
    PathBuf::from("team/kubeconfig")
}

fn merged(existing: Option<&str>, entries: &[Entry]) -> String {
    merge(existing, &origin(), entries, None).unwrap().yaml
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

/// The names of a named list (`clusters`, `contexts`, `users`).
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

/// The item of a named list with that name.
fn named<'a>(doc: &'a Value, list: &str, name: &str) -> &'a Value {
    doc.get(list)
        .and_then(Value::as_sequence)
        .and_then(|items| {
            items
                .iter()
                .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
        })
        .unwrap_or_else(|| panic!("no {list} entry named {name}"))
}

/// A kubeconfig someone already uses: a kind cluster, preferences, extensions, a current
/// context and a top-level key kubectl does not know.
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
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
extensions:
- name: team
  extension:
    owner: platform
x-notes: keep me
"#;

#[test]
fn new_kubeconfig() {
    let es = entries(&estate(), &admin(), &[]);
    insta::assert_snapshot!(merged(None, &es));
}

#[test]
fn names_are_the_cluster_arn_role_at_cluster_and_cluster_at_account_region() {
    let es = entries(&estate(), &admin(), &[]);
    let got: Vec<(&str, &str, &str)> = es
        .iter()
        .map(|e| (e.context.as_str(), e.cluster_arn.as_str(), e.user.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "workloads@333333333333/us-east-1",
                "arn:aws:eks:us-east-1:333333333333:cluster/workloads",
                "arn:aws:iam::333333333333:role/EKSManagerAdmin@arn:aws:eks:us-east-1:333333333333:cluster/workloads",
            ),
            (
                "edge@444444444444/eu-west-1",
                "arn:aws:eks:eu-west-1:444444444444:cluster/edge",
                "arn:aws:iam::444444444444:role/EKSManagerAdmin@arn:aws:eks:eu-west-1:444444444444:cluster/edge",
            ),
        ]
    );
    assert_eq!(
        exec_args(&es[1]),
        [
            "eks",
            "get-token",
            "--cluster-name",
            "edge",
            "--region",
            "eu-west-1",
            "--role-arn",
            "arn:aws:iam::444444444444:role/EKSManagerAdmin",
            "--output",
            "json",
        ]
    );
}

#[test]
fn merge_keeps_foreign_entries_and_top_level_keys() {
    let es = entries(&estate(), &admin(), &[]);
    let out = merged(Some(FOREIGN), &es);
    insta::assert_snapshot!(out);

    let before = yaml(FOREIGN);
    let after = yaml(&out);
    for list in ["clusters", "contexts", "users"] {
        assert_eq!(
            named(&after, list, "kind-dev"),
            named(&before, list, "kind-dev"),
            "{list}"
        );
        // The foreign entry stays first; eksmgr's follow.
        assert_eq!(names(&after, list)[0], "kind-dev", "{list}");
        assert_eq!(names(&after, list).len(), 3, "{list}: {out}");
    }
    for key in ["current-context", "preferences", "extensions", "x-notes"] {
        assert_eq!(after.get(key), before.get(key), "{key}");
    }
    // Top-level keys keep their order.
    let keys = |v: &Value| -> Vec<String> {
        v.as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(keys(&after), keys(&before));
}

#[test]
fn rerun_is_idempotent() {
    let es = entries(&estate(), &admin(), &[]);
    for start in [None, Some(FOREIGN)] {
        let once = merged(start, &es);
        let twice = merged(Some(&once), &es);
        assert_eq!(twice, once);
        let doc = yaml(&twice);
        let want = if start.is_some() { 3 } else { 2 };
        for list in ["clusters", "contexts", "users"] {
            assert_eq!(names(&doc, list).len(), want, "{list}: {twice}");
        }
    }
}

#[test]
fn rerun_replaces_in_place_keeps_what_eksmgr_does_not_own_and_drops_duplicates() {
    let es = entries(&estate(), &admin(), &["workloads"]);
    let e = &es[0];
    // An older run's entries, edited by hand: a namespace on the context, a proxy on the
    // cluster, an old endpoint, a CA file that would clash with the data, a duplicate.
    let existing = format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: {arn}
  cluster:
    server: https://old.example
    certificate-authority: ca.pem
    proxy-url: http://proxy:3128
- name: other
  cluster:
    server: https://other.example
- name: {arn}
  cluster:
    server: https://duplicate.example
contexts:
- name: {ctx}
  context:
    cluster: {arn}
    user: {user}
    namespace: team-a
users:
- name: {user}
  user:
    token: stale
"#,
        arn = e.cluster_arn,
        ctx = e.context,
        user = e.user
    );
    let out = merged(Some(&existing), &es);
    insta::assert_snapshot!(out);
    let doc = yaml(&out);
    assert_eq!(names(&doc, "clusters"), [e.cluster_arn.as_str(), "other"]);
    let c = named(&doc, "clusters", &e.cluster_arn)
        .get("cluster")
        .unwrap();
    assert_eq!(
        c.get("server").and_then(Value::as_str),
        Some(e.server.as_str())
    );
    assert_eq!(
        c.get("proxy-url").and_then(Value::as_str),
        Some("http://proxy:3128")
    );
    assert!(c.get("certificate-authority").is_none(), "{out}");
    let ctx = named(&doc, "contexts", &e.context).get("context").unwrap();
    assert_eq!(ctx.get("namespace").and_then(Value::as_str), Some("team-a"));
    let user = named(&doc, "users", &e.user).get("user").unwrap();
    assert!(user.get("token").is_none(), "{out}");
    assert!(user.get("exec").is_some(), "{out}");
}

#[test]
fn role_name_is_resolved_per_account_and_partition_and_an_arn_is_kept() {
    let mut s = State::new();
    s.upsert(cluster("a", SPOKE_A, "us-east-1", "aws", true));
    s.upsert(cluster("b", SPOKE_B, "cn-north-1", "aws-cn", true));
    let by_name = entries(&s, &Role::parse("Viewer").unwrap(), &[]);
    let arns: Vec<&str> = by_name.iter().map(|e| e.role_arn.as_str()).collect();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::333333333333:role/Viewer",
            "arn:aws-cn:iam::444444444444:role/Viewer",
        ]
    );
    let with_path = entries(&s, &Role::parse("team/Viewer").unwrap(), &["a"]);
    assert_eq!(
        with_path[0].role_arn,
        "arn:aws:iam::333333333333:role/team/Viewer"
    );

    let central = "arn:aws:iam::222222222222:role/platform/ClusterAdmin";
    let by_arn = entries(&s, &Role::parse(central).unwrap(), &[]);
    assert!(by_arn.iter().all(|e| e.role_arn == central), "{by_arn:?}");
    assert_eq!(
        by_arn[1].user,
        format!("{central}@arn:aws-cn:eks:cn-north-1:444444444444:cluster/b")
    );
    assert!(
        exec_args(&by_arn[0]).contains(&central.to_owned()),
        "{by_arn:?}"
    );

    for bad in [
        "",
        "has space",
        "/lead",
        "trail/",
        "arn:aws:iam::1:user/bob",
        "arn:aws:s3:::bucket",
        "arn:aws:iam::1:role/",
        "a:b",
    ] {
        assert!(Role::parse(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn filters_pick_clusters_by_name_and_refuse_unknown_names() {
    let s = estate();
    let only_edge = entries(&s, &admin(), &["edge"]);
    assert_eq!(
        only_edge
            .iter()
            .map(|e| e.context.as_str())
            .collect::<Vec<_>>(),
        ["edge@444444444444/eu-west-1"]
    );
    let both = entries(&s, &admin(), &["edge", "workloads"]);
    assert_eq!(both.len(), 2);

    let err = select(&s, &admin(), None, &["nope".into(), "edge".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no cluster named `nope`"), "{err}");
    assert!(err.contains("batch, edge, workloads"), "{err}");

    // A filter naming only a cluster that is not ready yet selects nothing, with a note.
    let sel = select(&s, &admin(), None, &["batch".into()]).unwrap();
    assert!(sel.entries.is_empty());
    assert_eq!(sel.notes.len(), 1, "{:?}", sel.notes);
}

#[test]
fn clusters_without_endpoint_are_skipped_with_a_note() {
    let sel = select(&estate(), &admin(), None, &[]).unwrap();
    assert_eq!(sel.entries.len(), 2);
    assert_eq!(sel.notes.len(), 1, "{:?}", sel.notes);
    let note = &sel.notes[0];
    assert!(
        note.contains("eks_cluster.batch[444444444444/us-east-1]"),
        "{note}"
    );
    assert!(note.contains("CREATING"), "{note}");
}

#[test]
fn profile_goes_into_the_exec_environment() {
    let s = estate();
    let filter = vec!["edge".to_owned()];
    let es = select(&s, &admin(), Some("estate-admin"), &filter)
        .unwrap()
        .entries;
    let doc = yaml(&merged(None, &es));
    let exec = named(&doc, "users", &es[0].user)
        .get("user")
        .and_then(|u| u.get("exec"))
        .unwrap();
    assert_eq!(
        exec.get("env"),
        Some(&yaml("- name: AWS_PROFILE\n  value: estate-admin\n"))
    );
    // Without a profile there is no env at all.
    let plain = yaml(&merged(None, &entries(&s, &admin(), &["edge"])));
    let exec = named(&plain, "users", &es[0].user)
        .get("user")
        .and_then(|u| u.get("exec"))
        .unwrap();
    assert!(exec.get("env").is_none());
}

#[test]
fn switching_role_moves_the_context_and_removes_the_old_user_only() {
    let s = estate();
    let first = merged(Some(FOREIGN), &entries(&s, &admin(), &[]));
    let viewer = entries(&s, &Role::Name("Viewer".into()), &[]);
    let second = merged(Some(&first), &viewer);
    let doc = yaml(&second);
    let mut want = vec!["kind-dev".to_owned()];
    want.extend(viewer.iter().map(|e| e.user.clone()));
    assert_eq!(names(&doc, "users"), want, "{second}");
    assert_eq!(names(&doc, "contexts"), names(&yaml(&first), "contexts"));
    for e in &viewer {
        let ctx = named(&doc, "contexts", &e.context).get("context").unwrap();
        assert_eq!(
            ctx.get("user").and_then(Value::as_str),
            Some(e.user.as_str())
        );
    }
}

#[test]
fn a_user_still_in_use_by_another_context_is_kept() {
    let s = estate();
    let es = entries(&s, &admin(), &["edge"]);
    let e = &es[0];
    // Someone made their own context with eksmgr's user.
    let existing = merged(None, &es).replace(
        "contexts:\n",
        &format!(
            "contexts:\n- name: mine\n  context:\n    cluster: {}\n    user: {}\n",
            e.cluster_arn, e.user
        ),
    );
    let viewer = entries(&s, &Role::Name("Viewer".into()), &["edge"]);
    let doc = yaml(&merged(Some(&existing), &viewer));
    assert_eq!(
        names(&doc, "users"),
        [e.user.as_str(), viewer[0].user.as_str()]
    );
}

#[test]
fn set_current_takes_a_context_a_cluster_name_or_a_context_in_the_file() {
    let s = estate();
    let es = entries(&s, &admin(), &[]);
    let current = |wanted: &str| -> Result<String> {
        let m = merge(Some(FOREIGN), &origin(), &es, Some(wanted))?;
        let doc = yaml(&m.yaml);
        let in_file = doc
            .get("current-context")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        assert_eq!(m.current.as_deref(), Some(in_file.as_str()));
        Ok(in_file)
    };
    assert_eq!(
        current("edge@444444444444/eu-west-1").unwrap(),
        "edge@444444444444/eu-west-1"
    );
    assert_eq!(
        current("workloads").unwrap(),
        "workloads@333333333333/us-east-1"
    );
    assert_eq!(current("kind-dev").unwrap(), "kind-dev");
    let err = current("prod").unwrap_err().to_string();
    assert!(err.contains("no such context"), "{err}");

    // A name two written clusters share is ambiguous.
    let mut twins = State::new();
    twins.upsert(cluster("workloads", SPOKE_A, "us-east-1", "aws", true));
    twins.upsert(cluster("workloads", SPOKE_B, "us-east-1", "aws", true));
    let err = merge(
        None,
        &origin(),
        &entries(&twins, &admin(), &[]),
        Some("workloads"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("several clusters"), "{err}");

    // Without --set-current the current context is left alone.
    let doc = yaml(&merged(Some(FOREIGN), &es));
    assert_eq!(
        doc.get("current-context").and_then(Value::as_str),
        Some("kind-dev")
    );
}

#[test]
fn invalid_yaml_is_refused_naming_file_and_line() {
    let es = entries(&estate(), &admin(), &[]);
    let broken = "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: [\n";
    let err = merge(Some(broken), &origin(), &es, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("team/kubeconfig:6:1: not valid YAML"),
        "{err}"
    );
    assert!(err.contains("refusing to overwrite"), "{err}");

    for (text, why) in [
        ("- just\n- a list\n", "top level is not a mapping"),
        ("apiVersion: v1\nkind: Secret\n", "`kind` is `Secret`"),
        ("kind: Config\nusers: 5\n", "`users` is `5`, not a list"),
        (
            "kind: Config\ncontexts: {a: 1}\n",
            "`contexts` is a mapping, not a list",
        ),
    ] {
        let err = merge(Some(text), &origin(), &es, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{text:?}: {err}");
        assert!(err.contains("team/kubeconfig"), "{err}");
    }
}

#[test]
fn empty_or_comment_only_files_start_a_new_kubeconfig() {
    let es = entries(&estate(), &admin(), &[]);
    let fresh = merged(None, &es);
    for text in ["", "\n  \n", "# nothing here yet\n"] {
        assert_eq!(merged(Some(text), &es), fresh, "{text:?}");
    }
    // A file with empty lists (as `kubectl config` leaves them) is filled in.
    let out = merged(
        Some("apiVersion: v1\nkind: Config\nclusters: null\ncontexts: []\n"),
        &es,
    );
    let doc = yaml(&out);
    for list in ["clusters", "contexts", "users"] {
        assert_eq!(names(&doc, list).len(), 2, "{list}: {out}");
    }
}

#[test]
fn default_path_is_first_kubeconfig_entry_else_home() {
    let os = |s: &str| Some(OsString::from(s));
    assert_eq!(
        default_path(os("a/one:b/two"), os("home/u")).unwrap(),
        Path::new("a/one")
    );
    assert_eq!(
        default_path(os(":b/two"), os("home/u")).unwrap(),
        Path::new("b/two")
    );
    assert_eq!(
        default_path(os(""), os("home/u")).unwrap(),
        Path::new("home/u/.kube/config")
    );
    assert_eq!(
        default_path(None, os("home/u")).unwrap(),
        Path::new("home/u/.kube/config")
    );
    assert!(default_path(None, None).is_err());
}

#[test]
fn writes_atomically_with_mode_0600_creating_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home").join(".kube").join("config");
    write_atomically(&path, "first\n").unwrap();
    write_atomically(&path, "second\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let kube = path.parent().unwrap();
    let dir_mode = std::fs::metadata(kube).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(kube).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn a_symbolic_link_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("dotfiles-kubeconfig");
    std::fs::write(&real, FOREIGN).unwrap();
    let link = dir.path().join("config");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_eq!(write_target(&link).unwrap(), real.canonicalize().unwrap());
    assert_eq!(write_target(&real).unwrap(), real);
    let missing = dir.path().join("none");
    assert_eq!(write_target(&missing).unwrap(), missing);
}
