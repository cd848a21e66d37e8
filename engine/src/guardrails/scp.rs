//! The SCP guardrail: the deny SCP eksmgr attaches to the EKS OU must not block what eksmgr
//! itself needs in the spokes.
//!
//! [`requirements`] lists, from the planned resources, every call eksmgr depends on in each
//! spoke, as a [`Requirement`]: who makes it ([`Caller`]), the action, the resource and the
//! region. [`check`] evaluates the planned SCP for each of them with [`super::eval`] and turns
//! what it denies, or cannot be proven not to deny, into errors and warnings:
//!
//! | finding | [`Need::Required`] | [`Need::Deletion`] |
//! |---|---|---|
//! | denied | error | warning |
//! | cannot be proven not denied | error, or a warning when the statement's `Sid` is listed in `governance.scp.acknowledged_unverifiable_sids` | warning |
//!
//! Deletions only warn: an organization may mean to forbid them (a cluster or key that nobody
//! may delete), and nothing is deleted without a plan that says so.
//!
//! The calls, and why each is needed:
//!
//! - The StackSet execution role (`stacksets-exec-*`, the role a service-managed StackSet runs
//!   as in each member account; not a service-linked role, so SCPs do apply to it) on the spoke
//!   admin role: [`ROLE_ACTIONS`](crate::kinds::iam_role::ROLE_ACTIONS) and
//!   [`STACKSET_EXECUTION_ACTIONS`] (what CloudFormation calls to create, update
//!   and read an `AWS::IAM::Role`), and `iam:DeleteRole` when an account leaves the OU.
//! - The hub agent role: `sts:AssumeRole` on the spoke admin role of each spoke. An SCP only
//!   restricts principals of the accounts under it, so this matters when the hub itself is
//!   under the OU; it is checked regardless, since a statement that denies it signals a
//!   mistake.
//! - The spoke admin role (`spokes.admin_role_name`, else the StackSet's role), for the calls
//!   the providers make in each spoke: [`ROLE_ACTIONS`](crate::kinds::iam_role::ROLE_ACTIONS) on every role eksmgr plans there,
//!   `iam:PassRole` on the cluster role and on the pod identity roles (EKS checks it on
//!   `CreateCluster` and `CreatePodIdentityAssociation`), `iam:CreateServiceLinkedRole` for
//!   EKS's service-linked role (created with the first cluster), `iam:ListRoles` where
//!   principals are resolved (role reads also list the account's roles with `iam:ListRoles`
//!   and `iam:GetAccountAuthorizationDetails`, but fall back to the per-role reads of
//!   [`ROLE_ACTIONS`](crate::kinds::iam_role::ROLE_ACTIONS) when denied, so neither is required for them), [`KMS_ACCOUNT_ACTIONS`](crate::kinds::kms_key::KMS_ACCOUNT_ACTIONS) and [`KEY_ACTIONS`](crate::kinds::kms_key::KEY_ACTIONS) for each cluster key
//!   (`kms:CreateGrant` and `kms:DescribeKey` because EKS checks the caller may use the key
//!   when encryption is set), [`ALIAS_ACTIONS`](crate::kinds::kms_key::ALIAS_ACTIONS) on its alias, [`CLUSTER_ACTIONS`](crate::kinds::eks_cluster::CLUSTER_ACTIONS) on each
//!   cluster, and the access entry and pod identity association calls.
//!   Deletions ([`Need::Deletion`]): `iam:DeleteRole`, `kms:ScheduleKeyDeletion`,
//!   `kms:DeleteAlias`, `eks:DeleteCluster`, `eks:DeleteAccessEntry`,
//!   `eks:DeletePodIdentityAssociation`.
//!
//! The seed design's `DenyKMSKeyDeletion` statement applies to every principal, eksmgr's spoke
//! admin role included: eksmgr then never schedules a key's deletion (the plan leaves the key
//! in AWS, see [`crate::config::Config::key_deletion_denied_by`]), so `kms:ScheduleKeyDeletion`
//! is not checked. With `exempt_admin_from_key_deletion_deny` the statement exempts the spoke
//! admin role, and the check proves that it does.
//!
//! Calls in the management account (Organizations, StackSets) and in the hub (ECR, the agent
//! role) are not checked: an SCP never restricts the management account, and the hub is not a
//! spoke. The hub account's own resources are left out even when the hub is also a spoke:
//! eksmgr manages them through `hub.access_role_name`, not the spoke admin role.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::model::Value;

use super::Findings;
use super::eval::{self, Decision, Request, RequestValue, StatementRef};
use crate::blueprint::{Discovery, SpokeAccount, principal_accounts};
use crate::config::Config;
use crate::kinds::iam_role::ROLE_ACTIONS;
use crate::kinds::{self, Calls};
use crate::model::{DesiredResource, ResourceKind};

/// Who makes a call eksmgr needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Caller {
    /// The role a service-managed StackSet runs as in a member account (`stacksets-exec-*`).
    StackSetExecution,
    /// The hub agent role, assuming the spoke admin roles.
    HubAgent,
    /// The spoke admin role, managing a spoke's resources.
    SpokeAdmin,
}

impl Caller {
    fn describe(self) -> &'static str {
        match self {
            Caller::StackSetExecution => "the StackSet execution role",
            Caller::HubAgent => "the hub agent role",
            Caller::SpokeAdmin => "the spoke admin role",
        }
    }

    fn consequence(self, need: Need) -> &'static str {
        match (self, need) {
            (_, Need::Deletion) => {
                "eksmgr could not delete what it manages there: destroy, replacements and the removal of clusters or accounts would fail at apply"
            }
            (Caller::StackSetExecution, Need::Required) => {
                "the StackSet could not create or update the spoke admin role, and eksmgr could not reach the spokes"
            }
            (Caller::HubAgent, Need::Required) => {
                "eksmgr could not reach the spokes through the spoke admin role"
            }
            (Caller::SpokeAdmin, Need::Required) => {
                "eksmgr could not create or update the resources it plans in the spokes"
            }
        }
    }
}

/// How much a call matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// Needed to create, read or update what the configuration declares.
    Required,
    /// Needed only to delete (destroy, replacement, removal).
    Deletion,
}

/// One call eksmgr depends on in a spoke.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Requirement {
    /// Who makes it.
    pub caller: Caller,
    /// How much it matters.
    pub need: Need,
    /// The spoke account.
    pub account: Arc<str>,
    /// The call.
    pub request: Request,
}

/// What the StackSet execution role calls on the spoke admin role besides what eksmgr calls on
/// its own roles ([`ROLE_ACTIONS`](crate::kinds::iam_role::ROLE_ACTIONS)) and `iam:DeleteRole`.
pub const STACKSET_EXECUTION_ACTIONS: &[&str] = &["iam:UpdateRoleDescription"];

/// The region IAM (a global service) requests are made in, as `aws:RequestedRegion` sees it.
pub fn global_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        _ => "us-east-1",
    }
}

/// Collects requirements of one caller in one account.
struct Collector<'a> {
    out: &'a mut Vec<Requirement>,
    caller: Caller,
    account: Arc<str>,
    principal: RequestValue,
    /// The region last asked for, with a request of the principal made in it whose keys the
    /// requests made there share (an account's calls are in one or two regions).
    region: Option<(Arc<str>, Request)>,
}

impl<'a> Collector<'a> {
    fn new(
        out: &'a mut Vec<Requirement>,
        caller: Caller,
        account: &Arc<str>,
        principal: RequestValue,
    ) -> Self {
        Collector {
            out,
            caller,
            account: Arc::clone(account),
            principal,
            region: None,
        }
    }

    fn add(&mut self, need: Need, actions: &[&'static str], resource: RequestValue, region: &str) {
        let template = match &self.region {
            Some((shared, template)) if **shared == *region => template,
            _ => {
                let shared: Arc<str> = Arc::from(region);
                let template = Request::new(self.principal.clone(), "", RequestValue::exact(""))
                    .in_region(Arc::clone(&shared));
                &self.region.insert((shared, template)).1
            }
        };
        for action in actions {
            self.out.push(Requirement {
                caller: self.caller,
                need,
                account: Arc::clone(&self.account),
                request: template.for_call(*action, resource.clone()),
            });
        }
    }
}

/// Every call eksmgr depends on in the spokes, for the planned `resources`.
pub fn requirements(
    config: &Config,
    d: &Discovery,
    resources: &[DesiredResource],
) -> Vec<Requirement> {
    let mut out = BTreeSet::new();
    Spokes::new(config, d, resources).each(&d.spokes, |reqs| out.extend(reqs.drain(..)));
    out.into_iter().collect()
}

/// What the requirements of every spoke share.
struct Context<'a> {
    p: &'a str,
    iam_region: &'a str,
    hub: &'a str,
    home: &'a str,
    stackset_role: &'a str,
    spoke_role: &'a str,
    agent: String,
    listed: BTreeSet<String>,
    /// eksmgr leaves keys in AWS instead of deleting them (the SCP denies it the deletion).
    keys_kept: bool,
}

/// The spokes' requirements, made one spoke at a time (each list holds that spoke's only,
/// every requirement names its account), so that they need not all be held at once; the
/// resources are grouped by account first, so each spoke's are found without a scan.
struct Spokes<'a> {
    ctx: Context<'a>,
    by_account: BTreeMap<&'a str, Vec<&'a DesiredResource>>,
}

impl<'a> Spokes<'a> {
    fn new(config: &'a Config, d: &'a Discovery, resources: &'a [DesiredResource]) -> Self {
        let p = d.partition.as_str();
        let hub = config.hub.account_id.as_str();
        let ctx = Context {
            p,
            iam_region: global_region(p),
            hub,
            home: config.organization.home_region.as_str(),
            stackset_role: &config.governance.stackset.spoke_admin_role_name,
            spoke_role: config.spoke_admin_role_name(),
            agent: format!("arn:{p}:iam::{hub}:role/{}", config.hub.agent_role_name),
            listed: principal_accounts(config, d),
            keys_kept: config.key_deletion_denied_by().is_some(),
        };
        let mut by_account: BTreeMap<&str, Vec<&DesiredResource>> = BTreeMap::new();
        for r in resources {
            by_account
                .entry(r.address.account.as_str())
                .or_default()
                .push(r);
        }
        Spokes { ctx, by_account }
    }

    /// Calls `f` with the requirements of each of `spokes` in turn, in no particular order
    /// and possibly more than once (what the SCP does to them does not depend on either).
    fn each(&self, spokes: &[SpokeAccount], mut f: impl FnMut(&mut Vec<Requirement>)) {
        let mut out = Vec::new();
        for spoke in spokes {
            let s = spoke.id.as_str();
            let planned = self.by_account.get(s).map_or(&[][..], Vec::as_slice);
            spoke_requirements(&self.ctx, s, planned, &mut out);
            f(&mut out);
            out.clear();
        }
    }
}

/// The requirements of one spoke, given the resources planned in it.
fn spoke_requirements(
    ctx: &Context<'_>,
    spoke: &str,
    resources: &[&DesiredResource],
    out: &mut Vec<Requirement>,
) {
    let Context {
        p,
        iam_region,
        hub,
        home,
        stackset_role,
        spoke_role,
        agent,
        listed,
        keys_kept,
    } = ctx;
    let s = spoke;
    let account: Arc<str> = Arc::from(s);
    let mut exec = Collector::new(
        &mut *out,
        Caller::StackSetExecution,
        &account,
        RequestValue::pattern(format!("arn:{p}:iam::{s}:role/stacksets-exec-*")),
    );
    let admin_by_stackset = RequestValue::exact(format!("arn:{p}:iam::{s}:role/{stackset_role}"));
    for actions in [ROLE_ACTIONS, STACKSET_EXECUTION_ACTIONS] {
        exec.add(
            Need::Required,
            actions,
            admin_by_stackset.clone(),
            iam_region,
        );
    }
    exec.add(
        Need::Deletion,
        &["iam:DeleteRole"],
        admin_by_stackset,
        iam_region,
    );

    let mut hub_agent = Collector::new(
        &mut *out,
        Caller::HubAgent,
        &account,
        RequestValue::exact(agent.as_str()),
    );
    hub_agent.add(
        Need::Required,
        &["sts:AssumeRole"],
        RequestValue::exact(format!("arn:{p}:iam::{s}:role/{spoke_role}")),
        home,
    );

    if s == *hub {
        return;
    }
    let mut admin = Collector::new(
        &mut *out,
        Caller::SpokeAdmin,
        &account,
        RequestValue::exact(format!("arn:{p}:iam::{s}:role/{spoke_role}")),
    );
    if listed.contains(s) {
        admin.add(
            Need::Required,
            &["iam:ListRoles"],
            RequestValue::exact("*"),
            iam_region,
        );
    }
    spoke_resources(&mut admin, p, iam_region, *keys_kept, resources);
}

/// The spoke admin role's calls for the resources planned in its account (each kind's module
/// says which: [`crate::kinds::Kind::spoke_admin_calls`]).
fn spoke_resources(
    admin: &mut Collector<'_>,
    p: &str,
    iam_region: &str,
    keys_kept: bool,
    resources: &[&DesiredResource],
) {
    let account = admin.account.to_string();
    for r in resources {
        let region = r.address.region.as_deref().unwrap_or(iam_region);
        let mut add = |need, actions: &[&'static str], resource, region: &str| {
            admin.add(need, actions, resource, region)
        };
        let mut calls = Calls {
            partition: p,
            account: &account,
            region,
            iam_region,
            keys_kept,
            add: &mut add,
        };
        kinds::of(r.kind).spoke_admin_calls(r, &mut calls);
    }
}

/// What a statement does to a group of requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Denied,
    Unproven,
}

/// Requirements one statement denies (or may deny): for a denial, those of one caller (the
/// fix names that caller); for a statement that cannot be proven harmless, all of them.
#[derive(Debug, Default, PartialEq)]
struct Group {
    actions: BTreeMap<Caller, BTreeSet<String>>,
    accounts: BTreeSet<Arc<str>>,
    reasons: BTreeSet<String>,
    /// Whether something other than a deletion is blocked.
    required: bool,
    /// The call shown as an example: the first blocked call other than a deletion, in the
    /// order of [`Requirement`]s, or the first deletion when only deletions are blocked.
    example: Option<Requirement>,
}

impl Group {
    /// Takes `req` as the example if it comes before the current one (the requirements of
    /// each spoke are offered in turn, not in their overall order).
    fn offer_example(&mut self, req: &Requirement) {
        let better = match &self.example {
            None => true,
            Some(current) => {
                (req.need != Need::Required, req) < (current.need != Need::Required, current)
            }
        };
        if better {
            self.example = Some(req.clone());
        }
    }

    /// Adds what another part of the spokes found for the same statement.
    fn merge(&mut self, other: Group) {
        for (caller, actions) in other.actions {
            self.actions.entry(caller).or_default().extend(actions);
        }
        self.accounts.extend(other.accounts);
        self.reasons.extend(other.reasons);
        self.required |= other.required;
        if let Some(example) = &other.example {
            self.offer_example(example);
        }
    }

    /// `iam:CreateRole, iam:GetRole to the StackSet execution role; sts:AssumeRole to ...`,
    /// then an example call and the accounts.
    fn describe(&self) -> String {
        let per_caller: Vec<String> = self
            .actions
            .iter()
            .map(|(caller, actions)| {
                const SHOWN: usize = 10;
                let list: Vec<&str> = actions.iter().map(String::as_str).take(SHOWN).collect();
                let more = match actions.len().saturating_sub(SHOWN) {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                format!("{}{more} to {}", list.join(", "), caller.describe())
            })
            .collect();
        let example = self
            .example
            .as_ref()
            .map(|Requirement { request: r, .. }| {
                format!(
                    ", e.g. {} calling {} on {}",
                    r.principal, r.action, r.resource
                )
            })
            .unwrap_or_default();
        format!(
            "{}{example}, in {}",
            per_caller.join("; "),
            accounts(&self.accounts)
        )
    }

    fn need(&self) -> Need {
        if self.required {
            Need::Required
        } else {
            Need::Deletion
        }
    }
}

/// Below this many spokes the SCP is checked on one thread.
const PARALLEL_SPOKES_MIN: usize = 200;

/// What the SCP blocks, by statement, verdict and (for a denial) caller.
type Groups = BTreeMap<(StatementRef, Verdict, Option<Caller>), Group>;

/// What `doc` blocks of the requirements of `accounts`, found in `threads` contiguous parts of
/// them at once (the check is most of a large estate's expansion) and merged: the same as on
/// one thread.
fn find(
    doc: &Value,
    spokes: &Spokes<'_>,
    accounts: &[SpokeAccount],
    threads: usize,
) -> Result<Groups, eval::EvalError> {
    if threads <= 1 {
        return check_spokes(doc, spokes, accounts);
    }
    let part = accounts.len().div_ceil(threads).max(1);
    let found: Vec<Result<Groups, eval::EvalError>> = std::thread::scope(|scope| {
        let running: Vec<_> = accounts
            .chunks(part)
            .map(|chunk| scope.spawn(move || check_spokes(doc, spokes, chunk)))
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut groups = Groups::new();
    for part in found {
        for (key, g) in part? {
            groups.entry(key).or_default().merge(g);
        }
    }
    Ok(groups)
}

/// Evaluates `doc` for the requirements of `spokes`: what it blocks, grouped.
fn check_spokes(
    doc: &Value,
    spokes: &Spokes<'_>,
    accounts: &[SpokeAccount],
) -> Result<Groups, eval::EvalError> {
    let mut groups = Groups::new();
    let mut error = None;
    // Read when the first requirement is evaluated: a document that cannot be read is an
    // error only then, as when each requirement is evaluated on its own.
    let mut policy: Option<eval::Policy> = None;
    spokes.each(accounts, |requirements| {
        if error.is_some() {
            return;
        }
        for req in requirements.drain(..) {
            if policy.is_none() {
                match eval::Policy::new(doc) {
                    Ok(p) => policy = Some(p),
                    Err(e) => {
                        error = Some(e);
                        return;
                    }
                }
            }
            let Some(policy) = policy.as_mut() else {
                return;
            };
            let decision = policy.evaluate(&req.request);
            let hits: Vec<(StatementRef, Verdict, Option<String>)> = match decision {
                Decision::NotDenied => continue,
                Decision::Denied { statement } => vec![(statement, Verdict::Denied, None)],
                Decision::Unknown { statements } => statements
                    .into_iter()
                    .map(|u| (u.statement, Verdict::Unproven, Some(u.reason)))
                    .collect(),
            };
            for (statement, verdict, reason) in hits {
                let caller = (verdict == Verdict::Denied).then_some(req.caller);
                let g = groups.entry((statement, verdict, caller)).or_default();
                g.actions
                    .entry(req.caller)
                    .or_default()
                    .insert(req.request.action.to_string());
                g.accounts.insert(Arc::clone(&req.account));
                g.reasons.extend(reason);
                g.required |= req.need == Need::Required;
                g.offer_example(&req);
            }
        }
    });
    match error {
        Some(e) => Err(e),
        None => Ok(groups),
    }
}

/// Checks the planned SCP against every requirement; what it blocks goes to `findings`.
pub(crate) fn check(
    config: &Config,
    d: &Discovery,
    resources: &[DesiredResource],
    findings: &mut Findings,
) {
    let scp = &config.governance.scp;
    let Some(doc) = resources
        .iter()
        .find(|r| r.kind == ResourceKind::OrgPolicy && r.address.name == scp.name)
        .and_then(|r| r.attrs.get("content"))
        .and_then(|v| v.known())
    else {
        return;
    };
    let spokes = Spokes::new(config, d, resources);
    let threads = if d.spokes.len() < PARALLEL_SPOKES_MIN {
        1
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    };
    let groups = match find(doc, &spokes, &d.spokes, threads) {
        Ok(groups) => groups,
        Err(e) => {
            findings.errors.push(format!(
                "the SCP `{}` cannot be checked against what eksmgr needs: {e}",
                scp.name
            ));
            return;
        }
    };
    let doc_len = doc
        .get("Statement")
        .and_then(Value::as_array)
        .map_or(1, <[Value]>::len);
    let first_extra = doc_len.saturating_sub(scp.extra_statements.len());
    for ((statement, verdict, _), g) in groups {
        let label = statement_label(&statement, first_extra);
        let what = g.describe();
        let need = g.need();
        let exceptions: Vec<String> = g
            .actions
            .keys()
            .map(|c| format!("\"{}\"", exception(config, d, *c)))
            .collect();
        let exceptions = exceptions.join(", ");
        let consequences: Vec<&str> = g.actions.keys().map(|c| c.consequence(need)).collect();
        let consequence = consequences.join("; ");
        match verdict {
            Verdict::Denied => {
                let message = format!(
                    "the SCP `{name}` blocks eksmgr: its statement {label} denies {what}. Without these calls, {consequence}. Add an exception to that statement, e.g. \"Condition\": {{\"ArnNotLike\": {{\"aws:PrincipalArn\": [{exceptions}]}}}} (or add it to the statement's existing ArnNotLike aws:PrincipalArn list), or narrow its Action or Resource",
                    name = scp.name,
                );
                match need {
                    Need::Required => findings.errors.push(message),
                    Need::Deletion => findings.warnings.push(message),
                }
            }
            Verdict::Unproven => {
                let reasons = g.reasons.into_iter().collect::<Vec<_>>().join("; ");
                let acknowledged = statement
                    .sid
                    .as_ref()
                    .is_some_and(|sid| scp.acknowledged_unverifiable_sids.contains(sid));
                if acknowledged || need == Need::Deletion {
                    findings.warnings.push(format!(
                        "the SCP `{name}` may block eksmgr: its statement {label} may deny {what} ({reasons}){ack}",
                        name = scp.name,
                        ack = if acknowledged {
                            "; accepted in governance.scp.acknowledged_unverifiable_sids"
                        } else {
                            ""
                        },
                    ));
                } else {
                    let how = match &statement.sid {
                        Some(sid) => format!(
                            "add \"{sid}\" to governance.scp.acknowledged_unverifiable_sids"
                        ),
                        None => "give the statement a Sid and add it to governance.scp.acknowledged_unverifiable_sids".to_string(),
                    };
                    findings.errors.push(format!(
                        "the SCP `{name}` may block eksmgr, and eksmgr cannot prove it does not: its statement {label} may deny {what} ({reasons}). If it does, {consequence}. Review the statement: add an exception for eksmgr's roles (ArnNotLike aws:PrincipalArn [{exceptions}]), or, if it never blocks these calls, {how} to accept it (the check then only warns)",
                        name = scp.name,
                    ));
                }
            }
        }
    }
}

/// How a statement is named in messages: its Sid, or its place among the extra statements.
fn statement_label(statement: &StatementRef, first_extra: usize) -> String {
    match &statement.sid {
        Some(_) => statement.to_string(),
        None if statement.index >= first_extra => format!(
            "[[governance.scp.extra_statements]] #{} (no Sid)",
            statement.index - first_extra + 1
        ),
        None => statement.to_string(),
    }
}

/// The principal pattern an exception for `caller` names.
fn exception(config: &Config, d: &Discovery, caller: Caller) -> String {
    let p = &d.partition;
    match caller {
        Caller::StackSetExecution => format!("arn:{p}:iam::*:role/stacksets-exec-*"),
        Caller::HubAgent => format!(
            "arn:{p}:iam::{}:role/{}",
            config.hub.account_id.as_str(),
            config.hub.agent_role_name
        ),
        Caller::SpokeAdmin => format!("arn:{p}:iam::*:role/{}", config.spoke_admin_role_name()),
    }
}

/// `account 1`, or `accounts 1, 2, 3 and 4 more`.
fn accounts(set: &BTreeSet<Arc<str>>) -> String {
    const SHOWN: usize = 5;
    let list: Vec<&str> = set.iter().map(|a| &**a).take(SHOWN).collect();
    let more = set.len().saturating_sub(SHOWN);
    format!(
        "account{} {}{}",
        if set.len() == 1 { "" } else { "s" },
        list.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::synthetic::Estate;
    use eksmgr_state::json;

    #[test]
    fn the_check_in_parts_finds_what_it_finds_on_one_thread() {
        let estate = Estate::new(PARALLEL_SPOKES_MIN + 50);
        let config = crate::config::parse(&estate.config_toml(), "eksmgr.toml").unwrap();
        let d = estate.discovery();
        let bp = crate::blueprint::expand(&config, &d).unwrap();
        // A denial (of two callers) and a statement that cannot be proven harmless.
        let doc = json!({"Statement": [
            {"Sid": "NoRoles", "Effect": "Deny", "Action": "iam:CreateRole", "Resource": "*"},
            {"Sid": "Vpc", "Effect": "Deny", "Action": "eks:*", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}}}
        ]});
        let spokes = Spokes::new(&config, &d, &bp.resources);
        let one = find(&doc, &spokes, &d.spokes, 1).unwrap();
        assert_eq!(one.len(), 3, "{one:#?}");
        let all = d.spokes.len();
        assert!(one.values().all(|g| g.accounts.len() == all));
        for threads in [2, 3, 7] {
            assert_eq!(find(&doc, &spokes, &d.spokes, threads).unwrap(), one);
        }
    }
}
