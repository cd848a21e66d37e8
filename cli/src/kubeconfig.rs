//! `eksmgr kubeconfig`: writes (or merges into) a kubeconfig with one context per managed EKS
//! cluster, from the state file alone (no AWS calls).
//!
//! Each cluster's user runs the exec credential plugin `aws eks get-token --cluster-name NAME
//! --region REGION --role-arn ROLE_ARN --output json` (`client.authentication.k8s.io/v1beta1`,
//! as `aws eks update-kubeconfig --role-arn` writes it), with `AWS_PROFILE` in its
//! environment when `--profile` is given.
//!
//! Names, stable across runs and unique:
//!
//! - cluster entry: the cluster ARN, as the AWS CLI names it (an entry the AWS CLI wrote for
//!   the same cluster is updated, not duplicated);
//! - user entry: `ROLE_ARN@CLUSTER_ARN` (a cluster ARN never contains `@`, so the split at the
//!   last `@` is unambiguous), e.g.
//!   `arn:aws:iam::333333333333:role/EKSManagerAdmin@arn:aws:eks:us-east-1:333333333333:cluster/workloads`;
//! - context: `CLUSTER@ACCOUNT/REGION`, e.g. `workloads@333333333333/us-east-1`.
//!
//! The existing file is parsed into a generic YAML value; only the `clusters`, `contexts` and
//! `users` entries with those names are replaced, in place (and `current-context` with
//! `--set-current`). Everything else is kept: other entries, other top-level keys
//! (`preferences`, `extensions`, `current-context`), and keys eksmgr does not own inside its
//! own entries (a context's `namespace`, a cluster's `proxy-url`, `extensions`). Comments are
//! not kept (the YAML is re-emitted). When a run switches a context to another role, the
//! user entry it pointed at is removed if it was eksmgr's and no other context uses it.
//!
//! A file that is not valid YAML, or not a kubeconfig, is refused and left untouched. The new
//! file is written atomically (a temporary file renamed over it) with mode 0600; a symbolic
//! link is followed, so the file it points at is the one replaced.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use eksmgr_state::{ResourceRecord, State};
use serde_norway::{Mapping, Sequence, Value};

use crate::cli::KubeconfigArgs;
use crate::context::Loaded;

/// The state kind of EKS clusters.
const CLUSTER_KIND: &str = "eks_cluster";
/// The exec credential API version the AWS CLI's `eks get-token` speaks.
const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";
/// Permissions of the written kubeconfig (it names roles and endpoints: private).
const FILE_MODE: u32 = 0o600;
/// Permissions of a kubeconfig directory eksmgr creates.
const DIR_MODE: u32 = 0o700;

/// The IAM role the contexts use, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A role name (optionally with a path, `team/Admin`), resolved in each cluster's account.
    Name(String),
    /// A full role ARN, used as it is for every cluster.
    Arn(String),
}

impl Role {
    /// Reads `--role`: an ARN (`arn:PARTITION:iam::ACCOUNT:role/NAME`) or a role name.
    pub fn parse(s: &str) -> Result<Role> {
        let s = s.trim();
        if s.starts_with("arn:") {
            let parts: Vec<&str> = s.splitn(6, ':').collect();
            let ok = parts.len() == 6
                && !parts[1].is_empty()
                && parts[2] == "iam"
                && parts[3].is_empty()
                && !parts[4].is_empty()
                && parts[5]
                    .strip_prefix("role/")
                    .is_some_and(|n| !n.is_empty() && !n.ends_with('/'));
            if !ok {
                bail!(
                    "`{s}` is not an IAM role ARN; expected `arn:aws:iam::ACCOUNT:role/NAME` or a role name"
                );
            }
            return Ok(Role::Arn(s.to_owned()));
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
        if s.is_empty() || s.starts_with('/') || s.ends_with('/') || !s.chars().all(valid) {
            bail!(
                "`{s}` is not an IAM role name (letters, digits and `+=,.@_-`, optionally after a `path/`) nor a role ARN"
            );
        }
        Ok(Role::Name(s.to_owned()))
    }

    /// The role's ARN for a cluster in `account` of `partition`.
    pub fn arn_for(&self, partition: &str, account: &str) -> String {
        match self {
            Role::Name(name) => format!("arn:{partition}:iam::{account}:role/{name}"),
            Role::Arn(arn) => arn.clone(),
        }
    }
}

/// One context to write: a cluster, the role to reach it with, and the entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The context name, `CLUSTER@ACCOUNT/REGION`.
    pub context: String,
    /// The cluster ARN: the cluster entry's name.
    pub cluster_arn: String,
    /// The user entry's name, `ROLE_ARN@CLUSTER_ARN`.
    pub user: String,
    /// The EKS cluster name.
    pub cluster_name: String,
    /// The cluster's account.
    pub account: String,
    /// The cluster's region.
    pub region: String,
    /// The Kubernetes API endpoint.
    pub server: String,
    /// The cluster CA, base64 PEM as EKS returns it.
    pub certificate_authority: String,
    /// The role `aws eks get-token` assumes.
    pub role_arn: String,
    /// `AWS_PROFILE` for the exec plugin.
    pub profile: Option<String>,
}

/// The clusters in state that get a context, and notes on those that do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The contexts to write, in state (account, region, name) order.
    pub entries: Vec<Entry>,
    /// Why clusters in state were left out.
    pub notes: Vec<String>,
}

/// Picks the `eks_cluster` records of `state` (only those named in `filter`, by cluster or
/// address name, when it is not empty) and builds their entries. Clusters without an
/// endpoint or CA yet are left out with a note. A filter name that matches no cluster in
/// state is an error.
pub fn select(
    state: &State,
    role: &Role,
    profile: Option<&str>,
    filter: &[String],
) -> Result<Selection> {
    let clusters: Vec<&ResourceRecord> = state
        .resources
        .values()
        .filter(|r| r.address.kind == CLUSTER_KIND)
        .collect();
    let name_of = |r: &ResourceRecord| -> String {
        attr(r, "name")
            .map(str::to_owned)
            .unwrap_or_else(|| r.address.name.to_string())
    };
    let matches = |r: &ResourceRecord, f: &str| name_of(r) == f || r.address.name == f;
    let unknown: Vec<&str> = filter
        .iter()
        .map(String::as_str)
        .filter(|f| !clusters.iter().any(|r| matches(r, f)))
        .collect();
    if !unknown.is_empty() {
        let mut known: Vec<String> = clusters.iter().map(|r| name_of(r)).collect();
        known.sort();
        known.dedup();
        bail!(
            "no cluster named {} in state (clusters in state: {})",
            unknown
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let mut selection = Selection::default();
    for r in clusters {
        if !filter.is_empty() && !filter.iter().any(|f| matches(r, f)) {
            continue;
        }
        match entry(r, &name_of(r), role, profile) {
            Ok(e) => selection.entries.push(e),
            Err(why) => selection
                .notes
                .push(format!("skipping {}: {why}", r.address)),
        }
    }
    Ok(selection)
}

/// A string attribute of a record, when present and not empty.
fn attr<'a>(r: &'a ResourceRecord, key: &str) -> Option<&'a str> {
    r.attrs
        .get(key)
        .and_then(eksmgr_state::value::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The entry of one cluster record, or why it has none.
fn entry(
    r: &ResourceRecord,
    name: &str,
    role: &Role,
    profile: Option<&str>,
) -> Result<Entry, String> {
    let status = attr(r, "status").unwrap_or("unknown");
    let region = r
        .address
        .region
        .as_ref()
        .map(ToString::to_string)
        .ok_or_else(|| "its address has no region".to_owned())?;
    let arn = attr(r, "arn").ok_or_else(|| {
        format!("no cluster ARN in state yet (status {status}); run `eksmgr apply` again")
    })?;
    let partition = arn
        .split(':')
        .nth(1)
        .filter(|p| arn.starts_with("arn:") && !p.is_empty())
        .ok_or_else(|| format!("`{arn}` is not an ARN"))?;
    let (Some(server), Some(ca)) = (attr(r, "endpoint"), attr(r, "certificate_authority")) else {
        return Err(format!(
            "no endpoint or certificate authority in state yet (status {status}); run `eksmgr apply` again once the cluster is ACTIVE"
        ));
    };
    let account = r.address.account.to_string();
    let role_arn = role.arn_for(partition, &account);
    Ok(Entry {
        context: format!("{name}@{account}/{region}"),
        cluster_arn: arn.to_owned(),
        user: format!("{role_arn}@{arn}"),
        cluster_name: name.to_owned(),
        account,
        region,
        server: server.to_owned(),
        certificate_authority: ca.to_owned(),
        role_arn,
        profile: profile.map(str::to_owned),
    })
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The whole new kubeconfig, as YAML.
    pub yaml: String,
    /// The `current-context` set by `--set-current`, if any.
    pub current: Option<String>,
}

/// Merges `entries` into the kubeconfig text `existing` (`None`, empty or only comments: a new
/// kubeconfig) and, with `set_current`, makes that context current. `origin` names the file
/// in errors.
pub fn merge(
    existing: Option<&str>,
    origin: &Path,
    entries: &[Entry],
    set_current: Option<&str>,
) -> Result<Merged> {
    let mut doc = parse(existing, origin)?;
    let Some(top) = doc.as_mapping_mut() else {
        bail!(
            "{} is not a kubeconfig (its top level is not a mapping); refusing to overwrite it",
            origin.display()
        );
    };
    if let Some(kind) = top.get("kind")
        && kind.as_str() != Some("Config")
    {
        bail!(
            "{} is not a kubeconfig (`kind` is {}, not `Config`); refusing to overwrite it",
            origin.display(),
            brief(kind)
        );
    }
    let mut clusters = take_list(top, "clusters", origin)?;
    let mut contexts = take_list(top, "contexts", origin)?;
    let mut users = take_list(top, "users", origin)?;

    // Users that contexts pointed at before this run replaced them.
    let mut replaced_users: Vec<(String, &Entry)> = Vec::new();
    for e in entries {
        upsert(
            &mut clusters,
            &e.cluster_arn,
            "cluster",
            cluster_fields(e),
            Owned::Keys(&[
                "server",
                "certificate-authority-data",
                "certificate-authority",
                "insecure-skip-tls-verify",
            ]),
        );
        let old = upsert(
            &mut contexts,
            &e.context,
            "context",
            context_fields(e),
            Owned::Keys(&["cluster", "user"]),
        );
        if let Some(old_user) = old
            .as_ref()
            .and_then(|c| c.get("user"))
            .and_then(Value::as_str)
            .filter(|u| *u != e.user)
        {
            replaced_users.push((old_user.to_owned(), e));
        }
        // A user entry is eksmgr's through and through: it is replaced whole.
        upsert(&mut users, &e.user, "user", user_fields(e), Owned::All);
    }
    remove_orphaned_users(&mut users, &contexts, &replaced_users);

    let current = match set_current {
        None => None,
        Some(wanted) => Some(resolve_context(&contexts, entries, wanted)?),
    };
    set_key(top, "clusters", Value::Sequence(clusters));
    set_key(top, "contexts", Value::Sequence(contexts));
    set_key(top, "users", Value::Sequence(users));
    if let Some(name) = &current {
        set_key(top, "current-context", Value::String(name.clone()));
    }
    let yaml = serde_norway::to_string(&doc)
        .with_context(|| format!("cannot render the kubeconfig for {}", origin.display()))?;
    Ok(Merged { yaml, current })
}

/// The existing document, or a new kubeconfig's skeleton.
fn parse(existing: Option<&str>, origin: &Path) -> Result<Value> {
    let parsed = match existing {
        None => Value::Null,
        Some(text) if text.trim().is_empty() => Value::Null,
        Some(text) => serde_norway::from_str::<Value>(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            anyhow!(
                "{}{at}: not valid YAML ({e}); refusing to overwrite it: fix or move the file, or choose another with --kubeconfig",
                origin.display()
            )
        })?,
    };
    if !parsed.is_null() {
        return Ok(parsed);
    }
    let mut top = Mapping::new();
    top.insert("apiVersion".into(), "v1".into());
    top.insert("kind".into(), "Config".into());
    top.insert("preferences".into(), Value::Mapping(Mapping::new()));
    Ok(Value::Mapping(top))
}

/// A short description of a YAML value for error messages.
fn brief(v: &Value) -> String {
    match v {
        Value::Null => "empty".to_owned(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Takes the list under `key` out of `top` (leaving an empty one in its place, so the key
/// keeps its position); a missing or empty key gives an empty list.
fn take_list(top: &mut Mapping, key: &str, origin: &Path) -> Result<Sequence> {
    match top.get_mut(key) {
        None => {
            top.insert(key.into(), Value::Sequence(Sequence::new()));
            Ok(Sequence::new())
        }
        Some(Value::Sequence(items)) => Ok(std::mem::take(items)),
        Some(Value::Null) => Ok(Sequence::new()),
        Some(other) => bail!(
            "{}: `{key}` is {}, not a list; refusing to overwrite it",
            origin.display(),
            brief(other)
        ),
    }
}

/// Sets `key` in place when present, else appends it.
fn set_key(top: &mut Mapping, key: &str, value: Value) {
    match top.get_mut(key) {
        Some(v) => *v = value,
        None => {
            top.insert(key.into(), value);
        }
    }
}

/// The name of a named-list item (`{name: ..., <field>: {...}}`).
fn item_name(item: &Value) -> Option<&str> {
    item.get("name").and_then(Value::as_str)
}

/// Which keys of an entry's inner mapping eksmgr owns: those are replaced or removed, the
/// others are kept.
#[derive(Clone, Copy)]
enum Owned<'a> {
    /// All of them: the entry is replaced whole.
    All,
    /// The keys eksmgr writes and these.
    Keys(&'a [&'a str]),
}

/// Puts `{name, <field>: fields}` into `items`: replaces the first item of that name in place
/// (removing any later ones), else appends. Keys of the old inner mapping that eksmgr does not
/// own are kept after ours. Returns the old inner mapping.
fn upsert(
    items: &mut Sequence,
    name: &str,
    field: &str,
    fields: Mapping,
    owned: Owned<'_>,
) -> Option<Mapping> {
    let mut positions = items
        .iter()
        .enumerate()
        .filter(|(_, item)| item_name(item) == Some(name))
        .map(|(i, _)| i);
    let first = positions.next();
    let later: Vec<usize> = positions.collect();
    for i in later.into_iter().rev() {
        items.remove(i);
    }
    let old = first.and_then(|i| items[i].get(field).and_then(Value::as_mapping).cloned());
    let mut inner = fields;
    if let (Some(old), Owned::Keys(owned)) = (&old, owned) {
        for (k, v) in old {
            let ours = k.as_str().is_some_and(|k| owned.contains(&k));
            if !ours && !inner.contains_key(k) {
                inner.insert(k.clone(), v.clone());
            }
        }
    }
    let mut item = Mapping::new();
    item.insert("name".into(), name.into());
    item.insert(field.into(), Value::Mapping(inner));
    match first {
        Some(i) => items[i] = Value::Mapping(item),
        None => items.push(Value::Mapping(item)),
    }
    old
}

fn cluster_fields(e: &Entry) -> Mapping {
    let mut m = Mapping::new();
    m.insert("server".into(), e.server.as_str().into());
    m.insert(
        "certificate-authority-data".into(),
        e.certificate_authority.as_str().into(),
    );
    m
}

fn context_fields(e: &Entry) -> Mapping {
    let mut m = Mapping::new();
    m.insert("cluster".into(), e.cluster_arn.as_str().into());
    m.insert("user".into(), e.user.as_str().into());
    m
}

/// The exec arguments of `aws` for an entry.
pub fn exec_args(e: &Entry) -> Vec<String> {
    [
        "eks",
        "get-token",
        "--cluster-name",
        &e.cluster_name,
        "--region",
        &e.region,
        "--role-arn",
        &e.role_arn,
        "--output",
        "json",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn user_fields(e: &Entry) -> Mapping {
    let mut exec = Mapping::new();
    exec.insert("apiVersion".into(), EXEC_API_VERSION.into());
    exec.insert("command".into(), "aws".into());
    exec.insert(
        "args".into(),
        Value::Sequence(exec_args(e).into_iter().map(Value::String).collect()),
    );
    if let Some(profile) = &e.profile {
        let mut var = Mapping::new();
        var.insert("name".into(), "AWS_PROFILE".into());
        var.insert("value".into(), profile.as_str().into());
        exec.insert("env".into(), Value::Sequence(vec![Value::Mapping(var)]));
    }
    let mut m = Mapping::new();
    m.insert("exec".into(), Value::Mapping(exec));
    m
}

/// Removes the user entries that a replaced context pointed at, when they were eksmgr's (named
/// `...@CLUSTER_ARN` for that context's cluster) and no context uses them any more.
fn remove_orphaned_users(users: &mut Sequence, contexts: &Sequence, replaced: &[(String, &Entry)]) {
    let used: Vec<&str> = contexts
        .iter()
        .filter_map(|c| c.get("context")?.get("user")?.as_str())
        .collect();
    let orphans: Vec<&str> = replaced
        .iter()
        .filter(|(user, e)| {
            user.ends_with(&format!("@{}", e.cluster_arn)) && !used.contains(&user.as_str())
        })
        .map(|(user, _)| user.as_str())
        .collect();
    users.retain(|u| !item_name(u).is_some_and(|n| orphans.contains(&n)));
}

/// The context `--set-current` names: one written this run, a cluster name that names
/// exactly one written context, or a context already in the file.
fn resolve_context(contexts: &Sequence, entries: &[Entry], wanted: &str) -> Result<String> {
    if entries.iter().any(|e| e.context == wanted) {
        return Ok(wanted.to_owned());
    }
    let by_cluster: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.cluster_name == wanted)
        .collect();
    match by_cluster.as_slice() {
        [one] => return Ok(one.context.clone()),
        [] => {}
        many => bail!(
            "--set-current {wanted}: several clusters have that name; name one of these contexts: {}",
            many.iter()
                .map(|e| e.context.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    if contexts.iter().any(|c| item_name(c) == Some(wanted)) {
        return Ok(wanted.to_owned());
    }
    bail!(
        "--set-current {wanted}: no such context; contexts written: {}",
        entries
            .iter()
            .map(|e| e.context.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The default kubeconfig: the first path of `KUBECONFIG` (as kubectl writes to), else
/// `HOME/.kube/config`.
pub fn default_path(kubeconfig: Option<OsString>, home: Option<OsString>) -> Result<PathBuf> {
    if let Some(list) = kubeconfig
        && let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    match home.filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".kube").join("config")),
        None => bail!("neither KUBECONFIG nor HOME is set: name the file with --kubeconfig"),
    }
}

/// The file to read and replace for `path`: the file a symbolic link points at, not the link.
fn write_target(path: &Path) -> Result<PathBuf> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::canonicalize(path)
            .with_context(|| format!("cannot follow the symbolic link {}", path.display()))
    } else {
        Ok(path.to_path_buf())
    }
}

/// Reads the kubeconfig at `path`; `None` when there is none yet.
fn read_existing(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            anyhow!(
                "{} is not UTF-8 text, so not a kubeconfig; refusing to overwrite it",
                path.display()
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `contents` to `path` atomically with mode 0600, creating its directory (0700) when
/// missing.
fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let dir = crate::store::dir_of(path);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(&dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubeconfig".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.eksmgr-{}-{nanos:09}",
        std::process::id()
    ));
    let written = (|| -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    // Best effort: the rename is what makes the write atomic.
    let _ = File::open(&dir).and_then(|d| d.sync_all());
    Ok(())
}

/// Runs `eksmgr kubeconfig`; `profile` (the global `--profile`) is the AWS profile
/// `aws eks get-token` runs with (AWS_PROFILE in its environment).
pub async fn run(loaded: &Loaded, args: &KubeconfigArgs, profile: Option<&str>) -> Result<u8> {
    let state = loaded.store.load().await?;
    let state_path = loaded.store.describe();
    if state.is_empty() {
        bail!("the state {state_path} has no resources, so no clusters: run `eksmgr apply` first");
    }
    if !state.resources.keys().any(|a| a.kind == CLUSTER_KIND) {
        bail!(
            "the state {state_path} has no EKS clusters: declare them under [[clusters]] and run `eksmgr apply` first"
        );
    }
    let role = Role::parse(
        args.role
            .as_deref()
            .unwrap_or_else(|| loaded.config.spoke_admin_role_name()),
    )?;
    let selection = select(&state, &role, profile, &args.clusters)?;
    for note in &selection.notes {
        eprintln!("Note: {note}");
    }
    if selection.entries.is_empty() {
        bail!(
            "none of the clusters in {state_path} can be reached yet (see the notes above); nothing written"
        );
    }

    let path = match &args.kubeconfig {
        Some(p) => p.clone(),
        None => default_path(std::env::var_os("KUBECONFIG"), std::env::var_os("HOME"))?,
    };
    let target = write_target(&path)?;
    let existing = read_existing(&target)?;
    let merged = merge(
        existing.as_deref(),
        &path,
        &selection.entries,
        args.set_current.as_deref(),
    )?;
    let n = selection.entries.len();
    let plural = if n == 1 { "" } else { "s" };
    if args.print {
        print!("{}", merged.yaml);
        eprintln!(
            "{n} context{plural} for {} printed (nothing written):",
            path.display()
        );
    } else {
        write_atomically(&target, &merged.yaml)?;
        eprintln!("{n} context{plural} written to {}:", path.display());
    }
    for e in &selection.entries {
        eprintln!("  {}  (role {})", e.context, e.role_arn);
    }
    if let Some(current) = &merged.current {
        eprintln!("Current context: {current}");
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
