//! Blueprint: expands the configuration, together with what discovery found (the management
//! account, later the spoke accounts), into the list of [`DesiredResource`]s for the planner.
//! Pure: no I/O.

mod access;
pub mod agent_host;
mod compute;
mod governance;
mod hub;
pub mod limits;
pub mod network;
mod registry;
mod spokes;
mod versions;

use crate::model::Value;
use eksmgr_state::json;

use crate::config::Config;
use crate::model::DesiredResource;
use crate::policy;

pub use access::principal_accounts;
pub use governance::{
    SCP_POLICY_TYPE, STACKSET_TRUSTED_ACCESS, scp_document, spoke_admin_template,
};
pub use hub::agent_role_permissions;
pub use network::{Network, NetworkRead, Subnet, Vpc, network_reads};
pub use spokes::{NODE_ROLE_MANAGED_POLICIES, PlannedCluster, SpokeRoles};

/// Tag put on everything eksmgr creates, so it can be found again.
pub const MANAGED_BY_TAG: (&str, &str) = ("managed-by", "eksmgr");

/// Facts found by discovery before planning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discovery {
    /// The Organizations management account (the caller's account, or the configured one).
    pub management_account_id: String,
    /// The caller's own account: the management account, or a delegated administrator's.
    pub caller_account_id: String,
    /// The caller's ARN (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role), as
    /// STS says; empty offline.
    pub caller_arn: String,
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// The organization's id (`o-a1b2c3d4e5`).
    pub organization_id: String,
    /// The EKS OU's path in the organization, as IAM's `aws:PrincipalOrgPaths` gives it:
    /// `o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/`. Policies grant spoke principals by this path,
    /// so their size does not grow with the number of spokes.
    pub eks_ou_path: String,
    /// The spoke accounts: active accounts of the EKS OU (and nested OUs when configured),
    /// plus `spokes.accounts`, minus `spokes.exclude_accounts`; sorted by id.
    pub spokes: Vec<SpokeAccount>,
    /// Accounts of the OU that are not spokes this run, and why (suspended, closed ...).
    pub skipped: Vec<SkippedAccount>,
    /// The Kubernetes versions EKS offers, by region (`DescribeClusterVersions`), for the
    /// regions clusters are planned in; a region missing here could not be read, and its
    /// clusters' versions are not checked.
    pub kubernetes_versions: std::collections::BTreeMap<String, Vec<KubernetesVersion>>,
    /// Regions whose Kubernetes versions could not be read, with the error: their clusters'
    /// versions are not checked, and the plan says so.
    pub kubernetes_versions_unread: std::collections::BTreeMap<String, String>,
    /// The IAM role ARNs of the accounts named by [`principal_accounts`], as listed; an
    /// account missing here could not be listed. Principals are resolved against these.
    pub iam_roles: std::collections::BTreeMap<String, Vec<String>>,
    /// The add-ons EKS offers, by region and Kubernetes version (`DescribeAddonVersions`),
    /// for the clusters planned: what an add-on without a pinned version gets.
    pub addon_versions: std::collections::BTreeMap<(String, String), Vec<AddonVersions>>,
    /// (Region, Kubernetes version) pairs whose add-on versions could not be read, with the
    /// error: their add-ons' versions are left to EKS, and the plan says so.
    pub addon_versions_unread: std::collections::BTreeMap<(String, String), String>,
    /// The subnets (and VPCs) of the accounts and regions [`network_reads`] names, keyed by
    /// (account, region), as listed through the spokes' sessions; the error when they could
    /// not be listed (the spoke admin role not reachable yet, access denied).
    pub networks: std::collections::BTreeMap<(String, String), Result<Network, String>>,
}

/// The versions of one add-on EKS offers for one Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonVersions {
    /// The add-on's name (`coredns`).
    pub name: String,
    /// The versions compatible with the Kubernetes version.
    pub versions: Vec<String>,
    /// The one EKS installs when no version is given (`defaultVersion`).
    pub default: Option<String>,
}

impl Discovery {
    /// What discovery finds with the caller in the management account of an `aws` partition
    /// organization: the EKS OU's path (`o-.../r-.../ou-.../`, whose first part is the
    /// organization's id) and its spokes, unnamed, with nothing skipped and nothing else read
    /// (no Kubernetes versions, no IAM roles). Offline runs, tests and synthetic estates start
    /// from it.
    pub fn of_spokes(
        management_account_id: &str,
        eks_ou_path: &str,
        spokes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Discovery {
        Discovery {
            management_account_id: management_account_id.to_string(),
            caller_account_id: management_account_id.to_string(),
            caller_arn: String::new(),
            partition: "aws".to_string(),
            organization_id: eks_ou_path
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            eks_ou_path: eks_ou_path.to_string(),
            spokes: spokes
                .into_iter()
                .map(|id| SpokeAccount {
                    id: id.into(),
                    name: String::new(),
                })
                .collect(),
            skipped: Vec::new(),
            kubernetes_versions: Default::default(),
            kubernetes_versions_unread: Default::default(),
            iam_roles: Default::default(),
            addon_versions: Default::default(),
            addon_versions_unread: Default::default(),
            networks: Default::default(),
        }
    }

    /// The organization root's id (`r-ab12`), the second part of [`Discovery::eks_ou_path`].
    pub fn root_id(&self) -> &str {
        self.eks_ou_path.split('/').nth(1).unwrap_or_default()
    }
}

/// A Kubernetes version EKS offers in a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesVersion {
    /// `1.35`.
    pub version: String,
    /// `STANDARD_SUPPORT` or `EXTENDED_SUPPORT` (priced higher per cluster hour).
    pub status: String,
    /// End of standard support, `YYYY-MM-DD`, when EKS says.
    pub end_of_standard_support: Option<String>,
    /// End of extended support, `YYYY-MM-DD`, when EKS says.
    pub end_of_extended_support: Option<String>,
}

/// A spoke account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpokeAccount {
    /// Account id.
    pub id: String,
    /// Account name (for display).
    pub name: String,
}

/// An account of the OU left out of the estate this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedAccount {
    /// Account id.
    pub id: String,
    /// Account name.
    pub name: String,
    /// Why it was left out.
    pub reason: String,
}

/// Problems that make the configuration unplannable (found only with discovery facts), for
/// the whole estate: `validate`, `plan` and `apply` refuse them.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BlueprintError {
    /// The SCP is over the size quota.
    #[error(
        "the SCP `{name}` is {size} characters minified, over the limit of {limit}: remove extra statements or raise `governance.scp.size_limit` if your organization's quota is higher"
    )]
    ScpTooLarge {
        /// SCP name.
        name: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Clusters asking for a Kubernetes version EKS does not offer in their region.
    #[error("{}", versions_message(.0))]
    UnsupportedVersions(Vec<String>),
    /// Add-ons or node groups EKS would refuse (an add-on or version it does not offer for
    /// the cluster's Kubernetes version, a node group ahead of its control plane).
    #[error("{}", compute_message(.0))]
    Compute(Vec<String>),
    /// Documents over AWS's size limits (see [`limits`]), one message each.
    #[error("{}", too_large_message(.0))]
    PoliciesTooLarge(Vec<String>),
    /// The blueprint breaks a security guardrail (the SCP would lock eksmgr out, a role would
    /// trust a whole account): see [`crate::guardrails`].
    #[error("{}", guardrail_message(.0))]
    Guardrails(Vec<String>),
}

fn versions_message(errors: &[String]) -> String {
    let mut out =
        "a Kubernetes version EKS does not offer is asked for; nothing was planned:".to_string();
    for e in errors {
        out.push_str("\n  - ");
        out.push_str(e);
    }
    out
}

fn compute_message(errors: &[String]) -> String {
    let mut out = "EKS would refuse these add-ons or node groups; nothing was planned:".to_string();
    for e in errors {
        out.push_str("\n  - ");
        out.push_str(e);
    }
    out
}

fn too_large_message(errors: &[String]) -> String {
    let mut out = format!(
        "{} document{} over AWS's size limit{}; nothing was planned:",
        errors.len(),
        if errors.len() == 1 { " is" } else { "s are" },
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        out.push_str("\n  - ");
        out.push_str(e);
    }
    out
}

fn guardrail_message(errors: &[String]) -> String {
    let mut out = format!(
        "the configuration breaks {} security guardrail{}; nothing was planned:",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        out.push_str("\n  - ");
        out.push_str(e);
    }
    out
}

/// The desired resources, and what could not be expanded for one account (the rest of the
/// estate is still planned).
#[derive(Debug, Clone, Default)]
pub struct Blueprint {
    /// The desired resources.
    pub resources: Vec<DesiredResource>,
    /// Problems that leave part of an account unplanned, each saying what to change.
    pub problems: Vec<String>,
    /// What a reviewer should know about the expansion (a principal pattern that matched
    /// nothing, a principal that could not be checked).
    pub warnings: Vec<String>,
    /// Spoke accounts left out (a cluster's subnets not found, a principal missing there):
    /// none of their resources is in [`Blueprint::resources`].
    pub skipped: Vec<crate::plan::SkippedSpoke>,
}

/// Expands the configuration into desired resources.
pub fn expand(config: &Config, discovery: &Discovery) -> Result<Blueprint, BlueprintError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let (unsupported, mut version_warnings) = versions::check(config, discovery);
    if !unsupported.is_empty() {
        return Err(BlueprintError::UnsupportedVersions(unsupported));
    }
    let hub_role = hub::agent_role(config, discovery);
    let hub_role_arn = hub::agent_role_arn(config, discovery);
    governance::resources(
        config,
        discovery,
        &hub_role_arn,
        &hub_role.address,
        &mut out,
    )?;
    let hub_role_address = hub_role.address.clone();
    out.push(hub_role);
    agent_host::resources(config, discovery, &hub_role_address, &mut out);
    // Spokes are reached through the admin role the StackSet deploys: it comes first.
    let via: Vec<_> = out
        .iter()
        .filter(|r| r.kind == crate::model::ResourceKind::StackSetInstances)
        .map(|r| r.address.clone())
        .collect();
    let first_spoke = out.len();
    let mut skipped = Vec::new();
    let roles = spokes::resources(config, discovery, &mut out, &mut skipped);
    let compute = compute::resources(discovery, &roles.clusters, &mut out);
    if !compute.errors.is_empty() {
        return Err(BlueprintError::Compute(compute.errors));
    }
    for r in &mut out[first_spoke..] {
        for v in &via {
            if !r.depends_on.contains(v) {
                r.depends_on.push(v.clone());
            }
        }
    }
    let first_access = out.len();
    let access = access::resources(config, discovery, &roles.clusters, &mut out);
    // Access resources in spokes come after the spoke admin role too (the hub's web
    // identity roles need not).
    let hub = config.hub.account_id.as_str();
    for r in &mut out[first_access..] {
        if r.address.account == hub {
            continue;
        }
        for v in &via {
            if !r.depends_on.contains(v) {
                r.depends_on.push(v.clone());
            }
        }
    }
    problems.extend(access.problems);
    let mut missing: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (account, message) in access.missing {
        missing.entry(account).or_default().push(message);
    }
    if !missing.is_empty() {
        for (account, messages) in &missing {
            skipped.push(crate::plan::SkippedSpoke {
                account: account.clone(),
                name: discovery
                    .spokes
                    .iter()
                    .find(|s| &s.id == account)
                    .map(|s| s.name.clone())
                    .unwrap_or_default(),
                cause: crate::plan::SkipCause::Principal,
                reason: messages.join("; "),
                fix: "create the principal in the account (an IAM Identity Center role appears once its permission set is assigned to the account), or correct the grant in eksmgr.toml".into(),
                waiting: false,
            });
        }
        skipped.sort_by(|a, b| a.account.cmp(&b.account));
        let accounts: std::collections::BTreeSet<String> = missing.into_keys().collect();
        drop_accounts(&mut out, &accounts, hub);
    }
    registry::resources(config, discovery, &roles, &mut out);
    // A large estate's clusters are many small allocations to free.
    drop_in_parts(roles.clusters);
    let too_large = limits::check(&out);
    if !too_large.is_empty() {
        return Err(BlueprintError::PoliciesTooLarge(too_large));
    }
    let guardrails = crate::guardrails::check(config, discovery, &out);
    if !guardrails.errors.is_empty() {
        return Err(BlueprintError::Guardrails(guardrails.errors));
    }
    let mut warnings = access.warnings;
    warnings.extend(guardrails.warnings);
    warnings.append(&mut version_warnings);
    warnings.extend(compute.warnings);
    // The estate's resources are held for the whole run: give back the room their vectors
    // grew into while they were built.
    each_in_parts(&mut out, DesiredResource::shrink_to_fit);
    out.shrink_to_fit();
    Ok(Blueprint {
        resources: out,
        problems,
        warnings,
        skipped,
    })
}

/// Below this many items, [`in_parts`] works on one thread.
const PARALLEL_MIN: usize = 200;

/// The threads [`in_parts`] uses for `items` items: one per core, one below
/// [`PARALLEL_MIN`].
fn threads_for(items: usize) -> usize {
    if items < PARALLEL_MIN {
        1
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    }
}

/// `f` of contiguous parts of `items`, one part per core, worked out at once (for large
/// estates, whose expansion is mostly the same work for every spoke), in the parts' order;
/// one part, on this thread, below [`PARALLEL_MIN`] items.
pub(crate) fn in_parts<'a, T: Sync, R: Send>(
    items: &'a [T],
    f: impl Fn(&'a [T]) -> R + Sync,
) -> Vec<R> {
    let threads = threads_for(items.len());
    if threads <= 1 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .chunks(size)
            .map(|chunk| scope.spawn(move || f(chunk)))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// [`in_parts`] for changing each of `items` in place.
pub(crate) fn each_in_parts<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
    let threads = threads_for(items.len());
    if threads <= 1 {
        items.iter_mut().for_each(f);
        return;
    }
    let size = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        for chunk in items.chunks_mut(size) {
            scope.spawn(move || chunk.iter_mut().for_each(f));
        }
    });
}

/// Drops `items` in parts at once, one part per core (see [`in_parts`]).
fn drop_in_parts<T: Send>(mut items: Vec<T>) {
    let threads = threads_for(items.len());
    let size = items.len().div_ceil(threads.max(1)).max(1);
    let mut parts = Vec::new();
    while items.len() > size {
        parts.push(items.split_off(items.len() - size));
    }
    std::thread::scope(|scope| {
        for part in parts {
            scope.spawn(move || drop(part));
        }
        drop(items);
    });
}

/// Removes the resources of `accounts` (never the hub's, which serve every spoke), and every
/// other resource's references to them: what a run plans when those accounts are skipped.
pub fn drop_accounts(
    resources: &mut Vec<DesiredResource>,
    accounts: &std::collections::BTreeSet<String>,
    hub: &str,
) {
    if accounts.is_empty() {
        return;
    }
    let gone = |a: &eksmgr_state::ResourceAddress| {
        a.account != hub && accounts.contains(a.account.as_str())
    };
    resources.retain(|r| !gone(&r.address));
    for r in resources.iter_mut() {
        r.depends_on.retain(|a| !gone(a));
        r.order_after.retain(|a| !gone(a));
        r.replace_triggered_by.retain(|a| !gone(a));
    }
}

/// `{"managed-by": "eksmgr"}` merged with extra tags.
pub(crate) fn tags(extra: &[(&str, &str)]) -> Value {
    let mut m = eksmgr_state::value::Map::new();
    m.insert(MANAGED_BY_TAG.0.into(), json!(MANAGED_BY_TAG.1));
    for (k, v) in extra {
        m.insert((*k).into(), json!(v));
    }
    Value::Object(m)
}

/// Minified length of a policy document, as the quota counts it.
pub(crate) fn minified_len(doc: &Value) -> usize {
    policy::minified_len(doc)
}
