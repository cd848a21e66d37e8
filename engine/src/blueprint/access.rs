//! Cluster access: the EKS access entries (the organisation-wide admin principal and the
//! `[[access.grants]]`), the pod identity associations (build pods, external-dns and the
//! declared `[[clusters.pod_identities]]`) and the `[[cross_account_roles]]` with their access
//! entries.
//!
//! Principals are resolved per cluster account against the IAM roles discovery listed
//! ([`Discovery::iam_roles`]): a pattern (`arn:aws:iam::*:role/AWSReservedSSO_EKSAdmin_*`)
//! becomes the matching roles of each account, an exact ARN is checked to exist. A principal
//! eksmgr itself creates counts as existing, and its access entries and associations are
//! replaced with it (AWS binds them to the role's unique id).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::Value;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::Discovery;
use super::spokes::{self, PlannedCluster};
use crate::config::{AccessPolicy, AccountId, Config, CrossAccountRoleConfig};
use crate::model::{DesiredResource, ResourceKind};
use crate::policy;

/// What the access layer adds to the blueprint's findings.
#[derive(Debug, Default)]
pub(super) struct Findings {
    /// Parts that cannot be planned (a principal that does not exist ...).
    pub problems: Vec<String>,
    /// What a reviewer should know (a pattern that matched nothing ...).
    pub warnings: Vec<String>,
    /// Principals that do not exist in the account of the cluster granted to them: (that
    /// account, the message). The account is skipped until they exist (an IAM Identity
    /// Center role appears once its permission set is assigned to a new account).
    pub missing: Vec<(String, String)>,
}

/// The accounts whose IAM roles discovery must list so the principals the configuration
/// names can be resolved and checked: the accounts of named principals that eksmgr can reach
/// (management, hub, spokes), and every cluster account when a principal's account is `*`
/// or a pod identity names a role by name. Empty when the configuration grants no access.
pub fn principal_accounts(config: &Config, d: &Discovery) -> BTreeSet<String> {
    let mut cluster_accounts = BTreeSet::new();
    for spoke in &d.spokes {
        let Ok(account) = AccountId::try_from(spoke.id.as_str()) else {
            continue;
        };
        if config.clusters.iter().any(|c| c.applies_to(&account)) {
            cluster_accounts.insert(spoke.id.clone());
        }
    }
    let reachable: BTreeSet<&str> = d
        .spokes
        .iter()
        .map(|s| s.id.as_str())
        .chain([
            d.management_account_id.as_str(),
            config.hub.account_id.as_str(),
        ])
        .collect();
    let mut principals: Vec<&str> = Vec::new();
    if let Some(a) = &config.access.admin_principal_arn {
        principals.push(a.as_str());
    }
    principals.extend(
        config
            .access
            .grants
            .iter()
            .map(|g| g.principal_arn.as_str()),
    );
    principals.extend(
        config
            .cross_account_roles
            .iter()
            .filter_map(|r| r.trusted_principal_arn.as_ref().map(|a| a.as_str())),
    );
    let mut out = BTreeSet::new();
    for c in &config.clusters {
        for pi in &c.pod_identities {
            match &pi.role_arn {
                Some(arn) => principals.push(arn.as_str()),
                None => out.extend(
                    cluster_accounts
                        .iter()
                        .filter(|a| {
                            AccountId::try_from(a.as_str()).is_ok_and(|id| c.applies_to(&id))
                        })
                        .cloned(),
                ),
            }
        }
    }
    for p in principals {
        let Some(arn) = ParsedArn::parse(p) else {
            continue;
        };
        if arn.account == "*" {
            out.extend(cluster_accounts.iter().cloned());
        } else if reachable.contains(arn.account) {
            out.insert(arn.account.to_string());
        }
    }
    out
}

/// An ARN split into its parts.
struct ParsedArn<'a> {
    partition: &'a str,
    service: &'a str,
    account: &'a str,
    resource: &'a str,
}

impl<'a> ParsedArn<'a> {
    fn parse(s: &'a str) -> Option<Self> {
        let mut it = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(_), Some(account), Some(resource)) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return None;
        };
        Some(ParsedArn {
            partition,
            service,
            account,
            resource,
        })
    }
}

/// How a principal of the configuration resolved in one account.
enum Resolved {
    /// These ARNs (exactly one for an exact ARN), each with the eksmgr role it is, if any,
    /// and what the reviewer should know (a principal that could not be checked).
    Principals(Vec<(String, Option<ResourceAddress>)>, Option<String>),
    /// It cannot be used: the message says why and what to do.
    Problem(String),
    /// It does not exist in the cluster's own account (named there): that account waits
    /// for it.
    Missing(String, String),
    /// Nothing to plan, and the reviewer should know why.
    Warning(String),
}

/// Resolves principals against discovery's role lists and the roles this blueprint plans.
struct Resolver<'a> {
    d: &'a Discovery,
    /// ARN (lower case) -> address of the role eksmgr plans.
    planned: BTreeMap<String, ResourceAddress>,
    /// Principals already reported as not checked.
    unchecked: BTreeSet<String>,
}

impl<'a> Resolver<'a> {
    fn new(d: &'a Discovery, out: &[DesiredResource]) -> Self {
        let mut r = Resolver {
            d,
            planned: BTreeMap::new(),
            unchecked: BTreeSet::new(),
        };
        // The roles' ARNs are made in parts of a large estate at once, then recorded in order.
        let parts = super::in_parts(out, |part| {
            part.iter()
                .filter_map(|res| role_arn_of(d, res).map(|arn| (arn, &res.address)))
                .collect::<Vec<_>>()
        });
        for (arn, address) in parts.into_iter().flatten() {
            r.planned.insert(arn, address.clone());
        }
        r
    }

    fn plan_role(&mut self, res: &DesiredResource) {
        if let Some(arn) = role_arn_of(self.d, res) {
            self.planned.insert(arn, res.address.clone());
        }
    }
}

/// The ARN (lower case) of a role eksmgr plans; `None` for other resources.
fn role_arn_of(d: &Discovery, res: &DesiredResource) -> Option<String> {
    if res.kind != ResourceKind::IamRole {
        return None;
    }
    let path = res
        .attrs
        .get("path")
        .and_then(|v| v.known())
        .and_then(Value::as_str)
        .unwrap_or("/");
    let name = res
        .attrs
        .get("name")
        .and_then(|v| v.known())
        .and_then(Value::as_str)
        .unwrap_or(&res.address.name);
    let arn = format!(
        "arn:{}:iam::{}:role{path}{name}",
        d.partition, res.address.account
    );
    Some(arn.to_ascii_lowercase())
}

impl Resolver<'_> {
    /// Resolves `principal` (an ARN, maybe with `*` as account or in the role name) for a
    /// cluster in `account`. `what` names the grant for messages.
    fn resolve(&mut self, principal: &str, account: &str, what: &str) -> Resolved {
        let Some(arn) = ParsedArn::parse(principal) else {
            return Resolved::Problem(format!("{what}: {principal:?} is not an ARN"));
        };
        let principal_account = if arn.account == "*" {
            account
        } else {
            arn.account
        };
        let concrete = format!(
            "arn:{}:{}::{principal_account}:{}",
            arn.partition, arn.service, arn.resource
        );
        let role_part = arn.resource.strip_prefix("role/");
        let wildcard = arn.resource.contains(['*', '?']);
        if let Some(address) = self.planned.get(&concrete.to_ascii_lowercase()) {
            return Resolved::Principals(vec![(concrete, Some(address.clone()))], None);
        }
        let listed = self.d.iam_roles.get(principal_account);
        match (role_part, listed) {
            (Some(role), Some(roles)) => {
                let found: Vec<String> = roles
                    .iter()
                    .filter(|listed| {
                        let Some(resource) =
                            ParsedArn::parse(listed).and_then(|l| l.resource.strip_prefix("role/"))
                        else {
                            return false;
                        };
                        let name = resource.rsplit('/').next().unwrap_or(resource);
                        if wildcard {
                            if role.contains('/') {
                                policy::wildcard_match(role, resource)
                            } else {
                                policy::wildcard_match(role, name)
                            }
                        } else if role.contains('/') {
                            resource.eq_ignore_ascii_case(role)
                        } else {
                            name.eq_ignore_ascii_case(role)
                        }
                    })
                    .cloned()
                    .collect();
                if found.is_empty() && wildcard {
                    Resolved::Warning(format!(
                        "{what}: no IAM role in account {principal_account} matches {principal:?}, so no access entry is planned there (an IAM Identity Center role appears once its permission set is assigned to the account)"
                    ))
                } else if found.is_empty() {
                    let message = format!(
                        "{what}: the principal {concrete} does not exist in account {principal_account}; create it first or correct the ARN in eksmgr.toml"
                    );
                    if principal_account == account {
                        Resolved::Missing(account.to_string(), message)
                    } else {
                        Resolved::Problem(message)
                    }
                } else {
                    Resolved::Principals(found.into_iter().map(|a| (a, None)).collect(), None)
                }
            }
            (Some(_), None) if wildcard => Resolved::Warning(format!(
                "{what}: the roles matching {principal:?} in account {principal_account} cannot be resolved because its IAM roles could not be listed; no access entry is planned there this run"
            )),
            _ if wildcard => Resolved::Problem(format!(
                "{what}: {principal:?} has a wildcard, which only IAM role names may have"
            )),
            _ => {
                let is_root = arn.resource == "root";
                let note = (!is_root && self.unchecked.insert(concrete.clone())).then(|| {
                    format!(
                        "{what}: {concrete} was not checked to exist: eksmgr does not list {} in account {principal_account}",
                        if role_part.is_some() { "the roles" } else { "the principals" }
                    )
                });
                Resolved::Principals(vec![(concrete, None)], note)
            }
        }
    }
}

/// Takes a resolution apart: the principals to use, findings recorded.
fn principals(r: Resolved, f: &mut Findings) -> Vec<(String, Option<ResourceAddress>)> {
    match r {
        Resolved::Principals(p, note) => {
            f.warnings.extend(note);
            p
        }
        Resolved::Problem(m) => {
            f.problems.push(m);
            Vec::new()
        }
        Resolved::Missing(account, m) => {
            f.missing.push((account, m));
            Vec::new()
        }
        Resolved::Warning(m) => {
            f.warnings.push(m);
            Vec::new()
        }
    }
}

/// One access entry being assembled from the grants that name its principal.
#[derive(Default)]
struct Entry {
    groups: BTreeSet<String>,
    /// Policy ARN -> namespaces (empty: the whole cluster).
    policies: BTreeMap<String, Option<BTreeSet<String>>>,
    role: Option<ResourceAddress>,
}

impl Entry {
    fn grant(&mut self, policy_arn: String, namespaces: &[String], groups: &[String]) {
        self.groups.extend(groups.iter().cloned());
        let scope = self.policies.entry(policy_arn).or_insert_with(|| {
            if namespaces.is_empty() {
                None
            } else {
                Some(BTreeSet::new())
            }
        });
        match scope {
            // Cluster-wide already: the widest scope wins.
            None => {}
            Some(_) if namespaces.is_empty() => *scope = None,
            Some(set) => set.extend(namespaces.iter().cloned()),
        }
    }
}

fn policy_arn(partition: &str, policy: AccessPolicy) -> String {
    format!(
        "arn:{partition}:eks::aws:cluster-access-policy/{}",
        policy.policy_name()
    )
}

/// Adds the access entries, pod identity associations and cross-account roles of every
/// planned cluster.
pub(super) fn resources(
    config: &Config,
    d: &Discovery,
    clusters: &[PlannedCluster],
    out: &mut Vec<DesiredResource>,
) -> Findings {
    let mut f = Findings::default();
    let mut resolver = Resolver::new(d, out);
    let mut cross: Vec<(&CrossAccountRoleConfig, &PlannedCluster, ResourceAddress)> = Vec::new();
    for r in &config.cross_account_roles {
        cross_account_role(
            config,
            d,
            r,
            clusters,
            out,
            &mut resolver,
            &mut f,
            &mut cross,
        );
    }
    // The cross-account roles of each cluster, in the order they were planned (looked up per
    // cluster: a scan of them all for each cluster is quadratic in the number of spokes).
    let mut cross_of: BTreeMap<&ResourceAddress, Vec<CrossRole<'_>>> = BTreeMap::new();
    for (r, c, role) in &cross {
        cross_of.entry(&c.address).or_default().push((*r, *c, role));
    }
    for c in clusters {
        let cross = cross_of.get(&c.address).map_or(&[][..], Vec::as_slice);
        access_entries(config, d, c, cross, out, &mut resolver, &mut f);
        pod_identities(d, c, out, &mut resolver, &mut f);
    }
    f
}

/// A cross-account role planned for a cluster: its configuration, the cluster, and the role.
type CrossRole<'a> = (
    &'a CrossAccountRoleConfig,
    &'a PlannedCluster,
    &'a ResourceAddress,
);

fn access_entries(
    config: &Config,
    d: &Discovery,
    c: &PlannedCluster,
    cross: &[CrossRole<'_>],
    out: &mut Vec<DesiredResource>,
    resolver: &mut Resolver<'_>,
    f: &mut Findings,
) {
    let p = &d.partition;
    let name = &c.config.name;
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    if let Some(admin) = &config.access.admin_principal_arn {
        let what = format!(
            "access.admin_principal_arn on cluster {name} in {}",
            c.account
        );
        for (arn, role) in principals(resolver.resolve(admin.as_str(), &c.account, &what), f) {
            let e = entries.entry(arn).or_default();
            e.role = e.role.take().or(role);
            e.grant(policy_arn(p, AccessPolicy::ClusterAdmin), &[], &[]);
        }
    }
    for g in &config.access.grants {
        if !g.clusters.iter().any(|n| n == "*" || n == name) {
            continue;
        }
        let what = format!(
            "the grant of `{}` to {} on cluster {name} in {}",
            g.policy.as_str(),
            g.principal_arn.as_str(),
            c.account
        );
        for (arn, role) in principals(
            resolver.resolve(g.principal_arn.as_str(), &c.account, &what),
            f,
        ) {
            let e = entries.entry(arn).or_default();
            e.role = e.role.take().or(role);
            e.grant(policy_arn(p, g.policy), &g.namespaces, &g.groups);
        }
    }
    // `[[secrets]]`: `eksmgr secrets push` authenticates to the cluster as the hub agent role
    // (a STANDARD access entry may name a principal of another account,
    // https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html) and
    // writes secrets only in the target namespaces: AmazonEKSEditPolicy, scoped to them
    // (https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html).
    let namespaces: BTreeSet<&String> = config
        .secrets
        .iter()
        .filter(|s| s.targets(name))
        .flat_map(|s| &s.namespaces)
        .collect();
    if !namespaces.is_empty() {
        let agent = super::hub::agent_role_arn(config, d);
        let what = format!(
            "the hub agent role, which pushes [[secrets]] to cluster {name} in {}",
            c.account
        );
        let namespaces: Vec<String> = namespaces.into_iter().cloned().collect();
        for (arn, role) in principals(resolver.resolve(&agent, &c.account, &what), f) {
            let e = entries.entry(arn).or_default();
            e.role = e.role.take().or(role);
            e.grant(policy_arn(p, AccessPolicy::Edit), &namespaces, &[]);
        }
    }
    for (r, rc, role) in cross {
        if rc.address != c.address {
            continue;
        }
        let arn = spokes::role_arn(d, &c.account, &r.name);
        let e = entries.entry(arn).or_default();
        e.role = Some((*role).clone());
        e.grant(policy_arn(p, r.policy), &r.namespaces, &r.groups);
    }
    for (principal, e) in entries {
        let policies: eksmgr_state::value::Map = e
            .policies
            .into_iter()
            .map(|(arn, scope)| {
                let scope = match scope {
                    None => json!({"type": "cluster"}),
                    Some(ns) => json!({"type": "namespace", "namespaces": ns}),
                };
                (arn, scope)
            })
            .collect();
        let mut entry = DesiredResource::new(
            ResourceKind::EksAccessEntry,
            &format!("{name}/{principal}"),
            &c.account,
            Some(&c.region),
        )
        .set("cluster_name", json!(name))
        .set("principal_arn", json!(principal))
        .set("type", json!("STANDARD"))
        .set("kubernetes_groups", json!(e.groups))
        .set("access_policies", Value::Object(policies))
        .depend_on(&c.address);
        if let Some(role) = &e.role {
            entry = entry.replaced_with(role);
        }
        out.push(entry);
    }
}

fn pod_identities(
    d: &Discovery,
    c: &PlannedCluster,
    out: &mut Vec<DesiredResource>,
    resolver: &mut Resolver<'_>,
    f: &mut Findings,
) {
    let cfg = &c.config;
    let name = &cfg.name;
    // (namespace, service account) -> (role ARN, eksmgr role, where it was declared).
    let mut wanted: BTreeMap<(String, String), (String, Option<ResourceAddress>, String)> =
        BTreeMap::new();
    let mut add = |ns: &str,
                   sa: &str,
                   arn: String,
                   role: Option<ResourceAddress>,
                   what: String,
                   f: &mut Findings| {
        let key = (ns.to_string(), sa.to_string());
        if let Some((_, _, first)) = wanted.get(&key) {
            f.problems.push(format!(
                "cluster {name} in {}: the service account {ns}/{sa} has two pod identity associations ({first} and {what}); EKS allows one per service account",
                c.account
            ));
            return;
        }
        wanted.insert(key, (arn, role, what));
    };
    if let Some(sa) = &cfg.build_pods {
        let role = spokes::build_role_name(cfg);
        add(
            &sa.namespace,
            &sa.service_account,
            spokes::role_arn(d, &c.account, &role),
            Some(role_address(&c.account, &role)),
            "build_pods".into(),
            f,
        );
    }
    if let (Some(sa), Some(_)) = (cfg.external_dns_service_account(), &cfg.hosted_zone_id) {
        let role = spokes::external_dns_role_name(cfg);
        add(
            &sa.namespace,
            &sa.service_account,
            spokes::role_arn(d, &c.account, &role),
            Some(role_address(&c.account, &role)),
            "external_dns".into(),
            f,
        );
    }
    for pi in &cfg.pod_identities {
        let principal = match (&pi.role_arn, &pi.role_name) {
            (Some(arn), _) => arn.as_str().to_string(),
            (None, Some(role)) => spokes::role_arn(d, &c.account, role),
            (None, None) => continue,
        };
        let what = format!(
            "the pod identity of {}/{} on cluster {name} in {}",
            pi.namespace, pi.service_account, c.account
        );
        for (arn, role) in principals(resolver.resolve(&principal, &c.account, &what), f) {
            add(
                &pi.namespace,
                &pi.service_account,
                arn,
                role,
                what.clone(),
                f,
            );
        }
    }
    for ((ns, sa), (arn, role, _)) in wanted {
        let mut assoc = DesiredResource::new(
            ResourceKind::EksPodIdentityAssociation,
            &format!("{name}/{ns}/{sa}"),
            &c.account,
            Some(&c.region),
        )
        .set("cluster_name", json!(name))
        .set("namespace", json!(ns))
        .set("service_account", json!(sa))
        .set("role_arn", json!(arn))
        .depend_on(&c.address);
        if let Some(role) = &role {
            assoc = assoc.replaced_with(role);
        }
        out.push(assoc);
    }
}

fn role_address(account: &str, name: &str) -> ResourceAddress {
    ResourceAddress::new(
        ResourceKind::IamRole.as_str().to_string(),
        name.to_string(),
        account.to_string(),
        None,
    )
}

/// The trust policy statement of a web identity (OIDC) provider for some subjects.
fn web_identity_statement(provider_arn: &str, audience: &str, subjects: &[String]) -> Value {
    let host = provider_arn
        .split_once(":oidc-provider/")
        .map(|(_, h)| h)
        .unwrap_or(provider_arn);
    let wildcard = subjects.iter().any(|s| s.contains(['*', '?']));
    let mut condition = json!({"StringEquals": {format!("{host}:aud"): audience}});
    let op = if wildcard {
        "StringLike"
    } else {
        "StringEquals"
    };
    let sub = if subjects.len() == 1 {
        json!(subjects[0])
    } else {
        json!(subjects)
    };
    if let Some(obj) = condition.as_object_mut() {
        obj.entry_or_insert_with(op, || json!({}))
            .as_object_mut()
            .map(|m| m.insert(format!("{host}:sub").into(), sub));
    }
    json!({
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition
    })
}

#[allow(clippy::too_many_arguments)]
fn cross_account_role<'c>(
    config: &Config,
    d: &Discovery,
    r: &'c CrossAccountRoleConfig,
    clusters: &'c [PlannedCluster],
    out: &mut Vec<DesiredResource>,
    resolver: &mut Resolver<'_>,
    f: &mut Findings,
    cross: &mut Vec<(
        &'c CrossAccountRoleConfig,
        &'c PlannedCluster,
        ResourceAddress,
    )>,
) {
    let p = &d.partition;
    let targets: Vec<&PlannedCluster> = clusters
        .iter()
        .filter(|c| c.config.name == r.cluster)
        .collect();
    if targets.is_empty() {
        return;
    }
    let hub = config.hub.account_id.as_str();
    // The web-identity variant through the hub: a hub role trusted by the hub cluster's OIDC
    // provider, allowed to assume the spoke roles; the spoke roles trust it.
    let mut via_hub: Option<(String, ResourceAddress)> = None;
    if let Some(oidc) = &r.oidc {
        let provider_account = oidc.provider_arn.account();
        let elsewhere: Vec<&&PlannedCluster> = targets
            .iter()
            .filter(|c| c.account != provider_account)
            .collect();
        if !elsewhere.is_empty() {
            if provider_account != hub {
                f.problems.push(format!(
                    "cross-account role `{}`: its OIDC provider is in account {provider_account}, but a role can only trust an OIDC provider of its own account, or (through a role eksmgr creates in the hub) the hub's ({hub}); cluster {} is in {}",
                    r.name, r.cluster, elsewhere[0].account
                ));
                return;
            }
            // The role of that name in any account of the organization: the policy's size
            // does not grow with the clusters' accounts (an ARN each reached IAM's 10,240
            // characters at about 245), and only the roles eksmgr made there trust this one.
            // `aws:ResourceOrgID`:
            // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid
            let spoke_roles = format!("arn:{p}:iam::*:role/{}", r.name);
            let hub_role = spokes::role(
                hub,
                &r.name,
                &format!(
                    "eksmgr: web identity role that assumes `{}` in the accounts of cluster {}",
                    r.name, r.cluster
                ),
                json!({
                    "Version": "2012-10-17",
                    "Statement": [web_identity_statement(oidc.provider_arn.as_str(), &oidc.audience, &oidc.subjects)]
                }),
                Vec::new(),
                json!({
                    "AssumeClusterRoles": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                            "Resource": spoke_roles,
                            "Condition": {"StringEquals": {"aws:ResourceOrgID": d.organization_id}}
                        }]
                    }
                }),
                super::tags(&[("eksmgr-cross-account-role", &r.name)]),
            )
            .set(
                "max_session_duration",
                json!(r.max_session_duration_seconds),
            );
            via_hub = Some((spokes::role_arn(d, hub, &r.name), hub_role.address.clone()));
            resolver.plan_role(&hub_role);
            out.push(hub_role);
        }
    }
    for c in targets {
        let trust_statement = match (&r.trusted_principal_arn, &r.oidc, &via_hub) {
            (_, Some(oidc), _) if oidc.provider_arn.account() == c.account => {
                web_identity_statement(oidc.provider_arn.as_str(), &oidc.audience, &oidc.subjects)
            }
            (_, Some(_), Some((hub_arn, _))) => json!({
                "Effect": "Allow",
                "Principal": {"AWS": hub_arn},
                "Action": ["sts:AssumeRole", "sts:TagSession"]
            }),
            (Some(principal), _, _) => {
                let what = format!("cross-account role `{}` in {}", r.name, c.account);
                let resolved =
                    principals(resolver.resolve(principal.as_str(), &c.account, &what), f);
                let Some((arn, _)) = resolved.into_iter().next() else {
                    continue;
                };
                let mut actions = vec!["sts:AssumeRole"];
                let mut equals = eksmgr_state::value::Map::new();
                if let Some(e) = &r.external_id {
                    equals.insert("sts:ExternalId".into(), json!(e));
                }
                if let Some(s) = &r.source_identity {
                    actions.push("sts:SetSourceIdentity");
                    equals.insert("sts:SourceIdentity".into(), json!(s));
                }
                let mut st = json!({
                    "Effect": "Allow",
                    "Principal": {"AWS": arn},
                    "Action": actions
                });
                if !equals.is_empty() {
                    st["Condition"] = json!({"StringEquals": equals});
                }
                st
            }
            _ => continue,
        };
        let mut role = spokes::role(
            &c.account,
            &r.name,
            &format!(
                "eksmgr: cross-account access to EKS cluster {} ({} access)",
                c.config.name,
                r.policy.as_str()
            ),
            json!({"Version": "2012-10-17", "Statement": [trust_statement]}),
            Vec::new(),
            json!({
                "EKSDescribeCluster": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action": "eks:DescribeCluster",
                        "Resource": c.arn(p)
                    }]
                }
            }),
            spokes::tags(&c.config, &[("eksmgr-cross-account-role", &r.name)]),
        )
        .set(
            "max_session_duration",
            json!(r.max_session_duration_seconds),
        );
        if let Some((_, hub_role)) = &via_hub {
            role = role.depend_on(hub_role);
        }
        // A trusted principal eksmgr creates must exist before the trust policy names it.
        if let Some(principal) = &r.trusted_principal_arn
            && let Some(addr) = resolver
                .planned
                .get(&principal.as_str().to_ascii_lowercase())
                .cloned()
        {
            role = role.depend_on(&addr);
        }
        resolver.plan_role(&role);
        cross.push((r, c, role.address.clone()));
        out.push(role);
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::wildcard_match as glob;

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob(
            "AWSReservedSSO_EKSAdmin_*",
            "AWSReservedSSO_EKSAdmin_0123abcd"
        ));
        assert!(!glob(
            "AWSReservedSSO_EKSAdmin_*",
            "AWSReservedSSO_EKSView_0123abcd"
        ));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
        assert!(glob("*admin*", "my-admin-role"));
        assert!(!glob("admin", "admin2"));
    }
}
