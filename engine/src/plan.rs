//! The planner: a pure, synchronous function from (desired resources, state, observations) to
//! a [`Plan`]: one [`PlannedChange`] per resource with its action and attribute diffs, the
//! drift found since the last apply, what could not be planned, and warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use std::collections::hash_map::Entry;

use foldhash::{HashMap, HashMapExt};

use crate::model::Value;
use eksmgr_state::{ResourceAddress, ResourceRecord, State};
use serde::{Deserialize, Serialize};

use crate::annotation::{Note, Reason, Resolution};
use crate::diff::{self, AttrDiff};
use crate::graph::{Graph, GraphError};
use crate::model::{AttrValue, Attrs, DesiredAttrs, DesiredResource, ResourceKind};
use crate::refresh::{Observation, Observations};

/// Version of the plan's serialised form.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// What will be done to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Destroy it and create it again.
    Replace,
    /// Destroy it.
    Delete,
    /// It is already gone: only the state record is removed.
    Forget,
}

impl Action {
    /// Whether apply has any work to do for this action.
    pub fn is_change(self) -> bool {
        !matches!(self, Action::NoOp)
    }
}

/// One resource's planned change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedChange {
    /// The resource.
    pub address: ResourceAddress,
    /// Its kind.
    pub kind: ResourceKind,
    /// What happens to it.
    pub action: Action,
    /// It exists in AWS under its natural key but not in state: apply records it (adoption).
    pub adopt: bool,
    /// The provider id of the existing resource.
    pub id: Option<String>,
    /// The resource as observed now (None when it does not exist); shared with the
    /// observation.
    pub before: Option<Arc<Attrs>>,
    /// The resource as wanted (None for deletes); unknown values stay unknown. Shared with the
    /// desired resource unless a reference was resolved.
    pub after: Option<Arc<DesiredAttrs>>,
    /// The attributes that change.
    pub attribute_diffs: Vec<AttrDiff>,
    /// Why the change has its action, where the action alone does not say.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// Addresses this one depends on (for apply order); shared with the state record when it
    /// names the same ones.
    pub depends_on: Arc<[ResourceAddress]>,
    /// What a reviewer must know (irreversible, slow or destructive effects).
    #[serde(default)]
    pub notes: Vec<Note>,
    /// Why apply refuses this change until the user opts in, if it does.
    #[serde(default)]
    pub blocked: Option<String>,
}

/// How a resource drifted since eksmgr last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The resource.
    pub address: ResourceAddress,
    /// Deleted outside eksmgr (true) or changed (false).
    pub deleted: bool,
    /// What changed, attribute by attribute (recorded -> now).
    pub attribute_diffs: Vec<AttrDiff>,
}

/// A resource that could not be planned, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deferred {
    /// The resource.
    pub address: ResourceAddress,
    /// Why (the read error, or the dependency that could not be read).
    pub reason: String,
    /// The resource this one waits for, when it could not be read because that one does not
    /// exist yet (a spoke reached through a role this plan creates): expected, not an error.
    #[serde(default)]
    pub awaiting: Option<ResourceAddress>,
}

/// Why a spoke account was left out of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipCause {
    /// A cluster's subnets: none given, or none (or not enough) matching its selector.
    Subnets,
    /// The account could not be reached: its spoke admin role could not be assumed.
    Unreachable,
    /// A principal an access grant names does not exist in the account.
    Principal,
}

/// A spoke account left out of a plan: nothing is planned there (what eksmgr made there
/// before is left as it is), and the rest of the estate is planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSpoke {
    /// The account id.
    pub account: String,
    /// The account's name, when known.
    #[serde(default)]
    pub name: String,
    /// What kind of gap.
    pub cause: SkipCause,
    /// What is missing, per cluster or grant.
    pub reason: String,
    /// What to do about it.
    pub fix: String,
    /// The account is new to eksmgr (nothing recorded there) and cannot be reached yet: the
    /// StackSet deploys the spoke admin role into accounts that join the OU, so a later run
    /// plans it. Not something for a human (yet).
    #[serde(default)]
    pub waiting: bool,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Serialised form version.
    pub format_version: u32,
    /// Lineage of the state this plan was made against.
    pub state_lineage: String,
    /// Serial of that state.
    pub state_serial: u64,
    /// Digest of the configuration this plan was made from.
    pub config_digest: String,
    /// Every resource's change, in dependency order (dependencies first).
    pub changes: Vec<PlannedChange>,
    /// Drift since the last apply.
    pub drift: Vec<Drift>,
    /// Resources that could not be planned.
    pub deferred: Vec<Deferred>,
    /// Warnings for the reviewer.
    pub warnings: Vec<String>,
    /// Parts of the configuration that could not be planned for some account (the rest
    /// was planned): errors the user must fix.
    #[serde(default)]
    pub problems: Vec<String>,
    /// Spoke accounts left out of this plan, each with why and what to do; the rest of the
    /// estate is planned and can be applied.
    #[serde(default)]
    pub skipped_accounts: Vec<SkippedSpoke>,
    /// Operations an interrupted apply started (open intents in state) that need no step in
    /// this plan: AWS already matches. Applying closes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_intents: Vec<ResourceAddress>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Creates (replacements count here too).
    pub add: usize,
    /// In-place updates.
    pub change: usize,
    /// Deletes (replacements count here too).
    pub destroy: usize,
    /// Adoptions of existing resources into state.
    pub adopt: usize,
    /// State records dropped for resources already gone.
    pub forget: usize,
}

impl Plan {
    /// Whether applying would do anything (drift alone with no change does not count).
    /// Resources awaiting a dependency this plan creates count: they come after the apply.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change() || c.adopt)
            || self.deferred.iter().any(|d| d.awaiting.is_some())
    }

    /// Whether anything in the plan is an error the user must fix (a resource that could not
    /// be read, a configuration gap, a change that needs an opt-in).
    pub fn has_errors(&self) -> bool {
        self.unreadable().next().is_some()
            || !self.problems.is_empty()
            || self.blocked().next().is_some()
    }

    /// Whether a spoke account was left out for a reason a human must act on (not one
    /// waiting for the StackSet to reach a new account).
    pub fn needs_attention(&self) -> bool {
        self.skipped_accounts.iter().any(|s| !s.waiting)
    }

    /// Resources that could not be read for a reason other than a dependency this plan
    /// creates: something is wrong (an account unreachable, access denied ...).
    pub fn unreadable(&self) -> impl Iterator<Item = &Deferred> {
        self.deferred.iter().filter(|d| d.awaiting.is_none())
    }

    /// Counts of each action.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1
                }
                Action::Delete => s.destroy += 1,
                Action::Forget => s.forget += 1,
                Action::NoOp => {}
            }
            if c.adopt {
                s.adopt += 1;
            }
        }
        s
    }

    /// Changes that need an opt-in before apply carries them out.
    pub fn blocked(&self) -> impl Iterator<Item = &PlannedChange> {
        self.changes.iter().filter(|c| c.blocked.is_some())
    }

    /// The change for an address.
    pub fn change(&self, addr: &ResourceAddress) -> Option<&PlannedChange> {
        self.changes.iter().find(|c| &c.address == addr)
    }
}

/// Who a plan was made as: a saved plan is applied only with the same identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanIdentity {
    /// The Organizations management account the credentials belong to (or the configured one).
    pub management_account_id: String,
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,
    /// The hub account.
    pub hub_account_id: String,
}

/// What `eksmgr plan --out FILE` writes and `eksmgr apply FILE` carries out: the complete plan
/// and what it was made against. It holds no credentials or secret values (plans never do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always [`SAVED_PLAN_FORMAT`].
    pub format: String,
    /// The version of eksmgr that wrote it.
    pub eksmgr_version: String,
    /// When it was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Who it was made as.
    pub identity: PlanIdentity,
    /// The plan.
    pub plan: Plan,
}

/// The `format` of a saved plan file.
pub const SAVED_PLAN_FORMAT: &str = "eksmgr-saved-plan";

impl SavedPlan {
    /// A plan to save, made now as `identity`.
    pub fn new(identity: PlanIdentity, plan: Plan) -> Self {
        SavedPlan {
            format: SAVED_PLAN_FORMAT.to_string(),
            eksmgr_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: chrono::Utc::now(),
            identity,
            plan,
        }
    }

    /// Why the saved plan may no longer be applied (empty: it may): the state moved (another
    /// lineage, or a newer serial), the configuration changed, or the credentials are for
    /// another organization. Each reason says what happened and what to do.
    pub fn staleness(
        &self,
        state: &State,
        config_digest: &str,
        identity: &PlanIdentity,
    ) -> Vec<String> {
        let mut why = Vec::new();
        let p = &self.plan;
        if p.format_version != PLAN_FORMAT_VERSION {
            why.push(format!(
                "the plan has format version {}, this eksmgr reads version {PLAN_FORMAT_VERSION}",
                p.format_version
            ));
        }
        if p.state_lineage != state.lineage {
            why.push(format!(
                "the state belongs to another estate: its lineage is {}, the plan was made against lineage {}",
                state.lineage, p.state_lineage
            ));
        } else if p.state_serial != state.serial {
            why.push(format!(
                "the state changed since the plan was made: it is at serial {}, the plan was made at serial {} (another apply, import or state command ran)",
                state.serial, p.state_serial
            ));
        }
        if p.config_digest != config_digest {
            why.push("the configuration file changed since the plan was made".to_string());
        }
        if self.identity.partition != identity.partition
            || self.identity.management_account_id != identity.management_account_id
        {
            why.push(format!(
                "the credentials are for management account {} ({}), the plan was made as {} ({})",
                identity.management_account_id,
                identity.partition,
                self.identity.management_account_id,
                self.identity.partition
            ));
        }
        if self.identity.hub_account_id != identity.hub_account_id {
            why.push(format!(
                "the hub account is {}, the plan was made for hub {}",
                identity.hub_account_id, self.identity.hub_account_id
            ));
        }
        why
    }
}

/// Errors that stop planning.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The dependency graph is broken.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// Two desired resources share an address.
    #[error("resource {0} is defined twice")]
    Duplicate(ResourceAddress),
    /// A state record has a kind this version does not know.
    #[error("state holds {0}, a kind this version of eksmgr does not know; upgrade eksmgr")]
    UnknownKind(ResourceAddress),
}

/// Inputs other than resources.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Digest of the configuration file.
    pub config_digest: String,
    /// Plan the destruction of everything in state instead.
    pub destroy: bool,
    /// Allow scheduling the deletion of KMS keys.
    pub allow_key_deletion: bool,
    /// Allow removing the resources of accounts that left the estate.
    pub allow_account_removal: bool,
    /// The SCP that denies eksmgr the deletion of KMS keys, when it does
    /// ([`crate::config::Config::key_deletion_denied_by`]): a key to delete is then left in
    /// AWS and removed from state only.
    pub key_deletion_denied_by: Option<String>,
}

/// The resources a plan defers: why, and the resource whose creation they wait for.
type Deferrals = BTreeMap<ResourceAddress, (String, Option<ResourceAddress>)>;

/// What a plan knows of its resources while it is made, by their numbers (see
/// [`Planner::plan`]).
struct Known<'a> {
    /// The number of every resource by address.
    index: &'a HashMap<&'a ResourceAddress, usize>,
    /// What refresh observed of each.
    observations: Vec<Option<&'a Observation>>,
    /// The action planned for each, once it is planned (dependencies come first).
    actions: Vec<Option<Action>>,
}

impl Known<'_> {
    /// The action planned for `addr`, if it is planned yet.
    fn action(&self, addr: &ResourceAddress) -> Option<Action> {
        self.index
            .get(addr)
            .and_then(|&i| self.actions.get(i).copied().flatten())
    }

    /// What refresh observed of `addr`.
    fn observation(&self, addr: &ResourceAddress) -> Option<&Observation> {
        self.index
            .get(addr)
            .and_then(|&i| self.observations.get(i).copied().flatten())
    }
}

/// The pure planner.
#[derive(Debug, Default)]
pub struct Planner;

impl Planner {
    /// Plans the changes that take what is observed to what is desired.
    pub fn plan(
        desired: &[DesiredResource],
        state: &State,
        observed: &Observations,
        options: &PlanOptions,
    ) -> Result<Plan, PlanError> {
        let empty: Vec<DesiredResource> = Vec::new();
        let desired = if options.destroy { &empty } else { desired };
        // Every resource of the plan is numbered: the desired ones first, in their order, then
        // the records of state no desired resource has. The graph numbers its nodes the same
        // way, and what the plan knows of a resource is kept in vectors by that number: an
        // address is hashed once or twice per resource, not at every lookup (at 100,000
        // resources each lookup is a cache miss).
        let mut index: HashMap<&ResourceAddress, usize> =
            HashMap::with_capacity(desired.len().max(state.resources.len()));
        for (i, d) in desired.iter().enumerate() {
            if index.insert(&d.address, i).is_some() {
                return Err(PlanError::Duplicate(d.address.clone()));
            }
        }
        let mut addresses: Vec<&ResourceAddress> = desired.iter().map(|d| &d.address).collect();
        let mut records: Vec<Option<&ResourceRecord>> = vec![None; desired.len()];
        for (addr, rec) in &state.resources {
            match index.entry(addr) {
                Entry::Occupied(at) => {
                    if let Some(slot) = records.get_mut(*at.get()) {
                        *slot = Some(rec);
                    }
                }
                Entry::Vacant(at) => {
                    if ResourceKind::of(addr).is_none() {
                        return Err(PlanError::UnknownKind(addr.clone()));
                    }
                    at.insert(addresses.len());
                    addresses.push(addr);
                    records.push(Some(rec));
                }
            }
        }
        // Graph over desired resources and state-only records, built from their numbers (the
        // dependencies of resource `i` are `deps[starts[i]..starts[i + 1]]`); a state-only
        // record's dependencies on what no longer exists are left out.
        let mut deps: Vec<usize> = Vec::with_capacity(2 * addresses.len());
        let mut starts: Vec<usize> = Vec::with_capacity(addresses.len() + 1);
        for (i, &addr) in addresses.iter().enumerate() {
            starts.push(deps.len());
            match (desired.get(i), records.get(i).copied().flatten()) {
                (Some(d), _) => {
                    for dep in d.depends_on.iter().chain(&d.order_after) {
                        let Some(&j) = index.get(dep) else {
                            return Err(GraphError::Dangling {
                                from: addr.clone(),
                                to: dep.clone(),
                            }
                            .into());
                        };
                        deps.push(j);
                    }
                }
                (None, Some(rec)) => {
                    deps.extend(rec.depends_on.iter().filter_map(|dep| index.get(dep)));
                }
                (None, None) => {}
            }
        }
        starts.push(deps.len());
        let graph = Graph::build_numbered(
            &addresses,
            starts
                .windows(2)
                .map(|w| deps.get(w[0]..w[1]).unwrap_or_default().iter().copied()),
        )?;
        drop((deps, starts));
        let index = &index;
        let graph_len = addresses.len();

        let mut plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            state_lineage: state.lineage.clone(),
            state_serial: state.serial,
            config_digest: options.config_digest.clone(),
            // One change per resource at most: sized once rather than grown by doubling (at
            // 100,000 resources the doubling left 30,000 changes' room unused).
            changes: Vec::with_capacity(graph_len),
            drift: Vec::new(),
            deferred: Vec::new(),
            warnings: Vec::new(),
            problems: Vec::new(),
            skipped_accounts: Vec::new(),
            resolved_intents: Vec::new(),
        };
        let estate_accounts: BTreeSet<&str> =
            desired.iter().map(|d| d.address.account.as_str()).collect();
        let order = graph.topological_nodes();
        let mut known = Known {
            index,
            observations: vec![None; graph_len],
            actions: vec![None; graph_len],
        };
        for (addr, obs) in observed {
            if let Some(slot) = index.get(addr).and_then(|&i| known.observations.get_mut(i)) {
                *slot = Some(obs);
            }
        }
        let mut deferred: Deferrals = BTreeMap::new();

        for i in order {
            let Some(&addr) = addresses.get(i) else {
                continue;
            };
            let wanted = desired.get(i);
            let record = records.get(i).copied().flatten();
            let obs = known.observations.get(i).copied().flatten();
            // Drift: recorded vs now.
            if let Some(rec) = record {
                match obs {
                    // Refresh shares the record's map with an observation that equals it
                    // (the steady state): nothing drifted, and nothing to compare again.
                    Some(Observation::Found(o)) if Arc::ptr_eq(&rec.attrs, &o.attrs) => {}
                    Some(Observation::Found(o)) => {
                        if let Some(kind) = ResourceKind::of(addr) {
                            let diffs = diff::diff_observed(kind, &rec.attrs, &o.attrs);
                            if !diffs.is_empty() {
                                plan.drift.push(Drift {
                                    address: addr.clone(),
                                    deleted: false,
                                    attribute_diffs: diffs,
                                });
                            }
                        }
                    }
                    Some(Observation::Missing) => plan.drift.push(Drift {
                        address: addr.clone(),
                        deleted: true,
                        attribute_diffs: Vec::new(),
                    }),
                    _ => {}
                }
            }
            // Unreadable, or depending on something deferred: defer. Ordering-only
            // dependencies (`order_after`) never defer.
            let state_only_deps;
            let hard: &[ResourceAddress] = match wanted {
                Some(d) => &d.depends_on,
                None => {
                    let mut deps: Vec<ResourceAddress> = graph
                        .dependencies_of(i)
                        .filter_map(|j| addresses.get(j).map(|&a| a.clone()))
                        .collect();
                    deps.sort();
                    state_only_deps = deps;
                    &state_only_deps
                }
            };
            // Asked only of a resource that is deferred (its dependencies looked up then).
            let awaiting = |known: &Known<'_>, deferred: &Deferrals| {
                hard.iter().find_map(|d| {
                    if matches!(known.action(d), Some(Action::Create | Action::Replace)) {
                        Some(d.clone())
                    } else {
                        deferred.get(d).and_then(|(_, a)| a.clone())
                    }
                })
            };
            if let Some(Observation::Unreadable { error }) = obs {
                let awaiting = awaiting(&known, &deferred);
                deferred.insert(addr.clone(), (error.to_string(), awaiting));
                continue;
            }
            // An ordering-only dependency that could not be read and was never created may
            // not exist: a resource naming it (a policy principal) would be refused.
            let unknown_soft = wanted.and_then(|d| {
                d.order_after
                    .iter()
                    .find(|o| deferred.contains_key(*o) && !state.resources.contains_key(*o))
            });
            if let Some(dep) = unknown_soft {
                let awaiting = deferred.get(dep).and_then(|(_, a)| a.clone());
                deferred.insert(
                    addr.clone(),
                    (
                        format!("waits for {dep}, which could not be read and has not been created by eksmgr yet"),
                        awaiting,
                    ),
                );
                continue;
            }
            if let Some(dep) = hard.iter().find(|d| deferred.contains_key(*d)) {
                let awaiting = awaiting(&known, &deferred);
                deferred.insert(
                    addr.clone(),
                    (
                        format!("depends on {dep}, which could not be read"),
                        awaiting,
                    ),
                );
                continue;
            }
            let found = match obs {
                Some(Observation::Found(o)) => Some(o),
                _ => None,
            };
            let change = match wanted {
                Some(d) => plan_desired(d, record, found, &known),
                None => {
                    let Some(kind) = ResourceKind::of(addr) else {
                        return Err(PlanError::UnknownKind(addr.clone()));
                    };
                    let deps = record.map(|r| r.depends_on.clone()).unwrap_or_default();
                    PlannedChange {
                        address: addr.clone(),
                        kind,
                        action: if found.is_some() {
                            Action::Delete
                        } else {
                            Action::Forget
                        },
                        adopt: false,
                        id: found.map(|o| o.id.clone()).or(record.map(|r| r.id.clone())),
                        before: found.map(|o| Arc::clone(&o.attrs)),
                        after: None,
                        attribute_diffs: Vec::new(),
                        reason: found.is_none().then_some(Reason::GoneFromAws),
                        depends_on: deps,
                        notes: Vec::new(),
                        blocked: None,
                    }
                }
            };
            let mut change = change;
            crate::rules::review(&mut change, wanted, &estate_accounts, options);
            if let Some(slot) = known.actions.get_mut(i) {
                *slot = Some(change.action);
            }
            plan.changes.push(change);
        }
        crate::kinds::eks_cluster::node_groups_hold_back(&mut plan.changes);
        role_replacement_notes(&mut plan, desired);
        interrupted_operations(&mut plan, state, &deferred);
        plan.deferred = deferred
            .into_iter()
            .map(|(address, (reason, awaiting))| Deferred {
                address,
                reason,
                awaiting,
            })
            .collect();
        Ok(plan)
    }
}

/// Resolves the operations an interrupted apply left open (its intents): the resource was
/// looked up like any other, so this plan already adopts it, creates it again, or finds that
/// nothing is left to do. Says which, on the change and as a warning.
fn interrupted_operations(plan: &mut Plan, state: &State, deferred: &Deferrals) {
    for (address, intent) in &state.intents {
        let what = Note::interrupted(&intent.action, address, &intent.started_at);
        if deferred.contains_key(address) {
            plan.warnings.push(format!(
                "{what}; it could not be read now, so it stays open until a plan can read it"
            ));
            continue;
        }
        match plan.changes.iter_mut().find(|c| &c.address == address) {
            Some(change) if change.action.is_change() || change.adopt => {
                let resolution = if change.adopt {
                    Resolution::Adopts
                } else {
                    Resolution::Finishes(change.action)
                };
                plan.warnings.push(format!("{what}; {resolution}"));
                change.notes.push(Note::InterruptedOperation {
                    address: address.clone(),
                    operation: intent.action.clone(),
                    started_at: intent.started_at,
                    resolution,
                });
            }
            _ => {
                plan.warnings.push(format!(
                    "{what}; AWS already matches, so nothing is left to do: the next apply closes it"
                ));
                plan.resolved_intents.push(address.clone());
            }
        }
    }
}

/// A replaced role takes its access entries and pod identity associations with it: say so on
/// the role's change and as a warning.
fn role_replacement_notes(plan: &mut Plan, desired: &[DesiredResource]) {
    let mut bound: BTreeMap<&ResourceAddress, Vec<&ResourceAddress>> = BTreeMap::new();
    for d in desired {
        for t in &d.replace_triggered_by {
            bound.entry(t).or_default().push(&d.address);
        }
    }
    for change in &mut plan.changes {
        if change.action != Action::Replace {
            continue;
        }
        let Some(dependents) = bound.get(&change.address) else {
            continue;
        };
        let list = dependents
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        change.notes.push(Note::RecreatesDependents {
            resources: dependents.iter().map(|&a| a.clone()).collect(),
        });
        plan.warnings.push(format!(
            "{} will be replaced: {list} will be recreated, and access through them is interrupted meanwhile",
            change.address
        ));
    }
}

fn plan_desired(
    d: &DesiredResource,
    record: Option<&ResourceRecord>,
    found: Option<&crate::model::ObservedResource>,
    known: &Known<'_>,
) -> PlannedChange {
    let in_state = record.is_some();
    let after = resolve_refs(&d.attrs, known);
    let before = found.map(|o| &*o.attrs);
    let diffs = diff::diff_desired(d.kind, before, &after);
    let (action, reason) = match found {
        None => (
            Action::Create,
            in_state.then_some(Reason::RecreatedAfterDeletion),
        ),
        Some(_) => {
            let forced: Vec<String> = diffs
                .iter()
                .filter(|x| x.forces_replacement)
                .map(|x| x.name.clone())
                .collect();
            let triggered: Vec<ResourceAddress> = d
                .replace_triggered_by
                .iter()
                .filter(|t| known.action(t) == Some(Action::Replace))
                .cloned()
                .collect();
            let adopted = (!in_state).then_some(Reason::Adopted);
            if !forced.is_empty() {
                (
                    Action::Replace,
                    Some(Reason::ForcesReplacement { attributes: forced }),
                )
            } else if !triggered.is_empty() {
                (
                    Action::Replace,
                    Some(Reason::ReplacedWith {
                        resources: triggered,
                    }),
                )
            } else if diffs.is_empty() {
                (Action::NoOp, adopted)
            } else {
                (Action::Update, adopted)
            }
        }
    };
    PlannedChange {
        address: d.address.clone(),
        kind: d.kind,
        action,
        adopt: found.is_some() && !in_state,
        id: found.map(|o| o.id.clone()),
        before: found.map(|o| Arc::clone(&o.attrs)),
        after: Some(after),
        attribute_diffs: diffs,
        reason,
        // What the record says already (the steady state): one list, shared by the two.
        depends_on: match record {
            Some(r) if r.depends_on.iter().eq(d.dependencies()) => Arc::clone(&r.depends_on),
            _ => d.dependencies().cloned().collect(),
        },
        notes: Vec::new(),
        blocked: None,
    }
}

/// Replaces references whose target exists and stays by the target's observed value. The
/// desired attributes are shared, not copied, when no reference resolves.
fn resolve_refs(attrs: &Arc<DesiredAttrs>, known: &Known<'_>) -> Arc<DesiredAttrs> {
    let resolved = |v: &AttrValue| -> Option<Value> {
        let AttrValue::Unknown { from } = v else {
            return None;
        };
        let stays = matches!(
            known.action(&from.address),
            Some(Action::NoOp | Action::Update)
        );
        match known.observation(&from.address) {
            Some(Observation::Found(o)) if stays => o.attrs.get(&from.attribute).cloned(),
            _ => None,
        }
    };
    let mut out: Option<DesiredAttrs> = None;
    for (k, v) in attrs.iter() {
        if let Some(value) = resolved(v) {
            out.get_or_insert_with(|| DesiredAttrs::clone(attrs))
                .insert(*k, AttrValue::Known(value));
        }
    }
    match out {
        Some(map) => Arc::new(map),
        None => Arc::clone(attrs),
    }
}
