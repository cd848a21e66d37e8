//! The executor: carries out a [`Plan`] through a [`Provider`] in dependency order (deletes in
//! reverse order), up to `parallelism` operations at once. Before each operation that changes
//! AWS it records an [`Intent`] (with the client request token a create carries), and after it
//! the result, through a [`StateStore`] (the state journal in production: O(1) per step), so a
//! run killed at any point leaves a trace the next plan resolves. A failure skips only the
//! failed resource's dependents; independent branches go on. Progress is reported as
//! [`ApplyEvent`]s; nothing is printed here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use eksmgr_state::{
    Intent, Journal, JournalEntry, ResourceAddress, ResourceRecord, State, StateError, StateFile,
};
use futures::future::Either;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::task::AtomicWaker;
use serde::Serialize;

use crate::model::{AttrValue, Attrs, DesiredAttrs, ObservedResource};
use crate::plan::{Action, Plan, PlannedChange};
use crate::provider::{Provider, ProviderError};
use crate::schedule::{FairQueue, Limits};

/// Where each step of an apply is recorded before the run goes on.
pub trait StateStore {
    /// Records `entry` durably and applies it to `state`.
    fn record(&mut self, state: &mut State, entry: JournalEntry) -> Result<(), StateError>;
}

/// Production: one synced journal line per step, O(1) in the state's size.
impl StateStore for Journal {
    fn record(&mut self, state: &mut State, entry: JournalEntry) -> Result<(), StateError> {
        let written = self.append(&entry);
        // What AWS did is kept in memory even when the journal cannot take it (a full disk),
        // so that a later save of the whole state holds it. An intent that could not be
        // written is not kept: its operation is not started.
        if written.is_ok() || !matches!(entry, JournalEntry::Intent(_)) {
            state.apply_entry(&entry);
        }
        written
    }
}

/// The whole state file rewritten at every completed step (intents are kept in memory only):
/// for small states and tests.
impl StateStore for StateFile {
    fn record(&mut self, state: &mut State, entry: JournalEntry) -> Result<(), StateError> {
        let writes = !matches!(
            entry,
            JournalEntry::Intent(_) | JournalEntry::Begin { .. } | JournalEntry::Abandon { .. }
        );
        state.apply_entry(&entry);
        if writes {
            // `apply_entry` counted the write; `save` counts it again.
            state.serial -= 1;
            self.save(state)?;
        }
        Ok(())
    }
}

/// What the executor reports while it works.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ApplyEvent {
    /// An operation started.
    Started {
        /// Resource.
        address: ResourceAddress,
        /// Action.
        action: Action,
    },
    /// An operation completed and state was saved.
    Completed {
        /// Resource.
        address: ResourceAddress,
        /// Action.
        action: Action,
        /// Resource id afterwards.
        id: Option<String>,
        /// How long it took.
        elapsed: Duration,
    },
    /// An operation failed.
    Failed {
        /// Resource.
        address: ResourceAddress,
        /// Action.
        action: Action,
        /// The provider's error.
        error: ProviderError,
    },
    /// Recording a step in state failed: no new operation starts (reported once).
    StateFailed {
        /// The error.
        error: String,
    },
    /// An operation was not started.
    Skipped {
        /// Resource.
        address: ResourceAddress,
        /// Action.
        action: Action,
        /// Why.
        reason: String,
    },
}

/// The result of an apply.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ApplyOutcome {
    /// Operations that completed.
    pub completed: Vec<(ResourceAddress, Action)>,
    /// Operations that failed, with their errors.
    pub failed: Vec<(ResourceAddress, ProviderError)>,
    /// Operations not started, with the reason.
    pub skipped: Vec<(ResourceAddress, String)>,
    /// Resources found in AWS and recorded in state (some of them updated as well: those are
    /// in `completed` too).
    pub adopted: Vec<ResourceAddress>,
    /// Operations the run stopped waiting for ([`Executor::abandon_flag`]): they go on in
    /// AWS, and their intents (recorded before they started) let the next plan adopt what
    /// they make.
    pub abandoned: Vec<(ResourceAddress, Action)>,
    /// Recording a step in state failed: the run stopped starting new work.
    pub state_error: Option<String>,
    /// Operations that completed in AWS after recording in state failed, so the state file may
    /// lack them (they are in the in-memory state, which the caller saves once it can).
    pub unrecorded: Vec<(ResourceAddress, Action)>,
    /// The run was interrupted.
    pub interrupted: bool,
}

impl ApplyOutcome {
    /// Whether everything planned was done.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
            && self.skipped.is_empty()
            && self.abandoned.is_empty()
            && self.state_error.is_none()
    }
}

/// Set when the run must stop waiting for the operations under way: the executor then
/// returns at once, listing them as abandoned.
#[derive(Debug, Default)]
pub struct Abandon {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Abandon {
    /// Stops the executor waiting for the operations under way.
    pub fn trigger(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Resolves once triggered.
    async fn triggered(&self) {
        futures::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            if self.set.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

/// Walks a plan's graph and applies it.
pub struct Executor<'a, P: Provider + ?Sized> {
    provider: &'a P,
    limits: Limits,
    cancel: Arc<AtomicBool>,
    abandon: Arc<Abandon>,
}

enum Done {
    Written(ObservedResource),
    Removed,
    /// A replacement deleted the old resource but failed to create the new one.
    RemovedThenFailed(ProviderError),
}

impl<'a, P: Provider + ?Sized> Executor<'a, P> {
    /// An executor using `provider`, within `limits` (a `usize` is `--parallelism` with the
    /// default per-account limit): accounts take turns for the free slots.
    pub fn new(provider: &'a P, limits: impl Into<Limits>) -> Self {
        Executor {
            provider,
            limits: limits.into(),
            cancel: Arc::new(AtomicBool::new(false)),
            abandon: Arc::new(Abandon::default()),
        }
    }

    /// A flag that, once set, stops the executor from starting new operations.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// A handle that, once triggered, makes the executor stop waiting for the operations
    /// under way and return (starting nothing new).
    pub fn abandon_flag(&self) -> Arc<Abandon> {
        self.abandon.clone()
    }

    /// Applies the plan, updating and persisting `state` after each operation.
    pub async fn apply(
        &self,
        plan: &Plan,
        state: &mut State,
        store: &mut dyn StateStore,
        on_event: &mut (dyn FnMut(ApplyEvent) + Send),
    ) -> ApplyOutcome {
        let ops: BTreeMap<&ResourceAddress, &PlannedChange> = plan
            .changes
            .iter()
            .filter(|c| c.action.is_change() || c.adopt)
            .map(|c| (&c.address, c))
            .collect();
        let waits_on = wait_graph(&ops);
        // Values of every resource the plan knows, updated as operations complete.
        let mut values: BTreeMap<ResourceAddress, Arc<Attrs>> = plan
            .changes
            .iter()
            .filter_map(|c| c.before.clone().map(|b| (c.address.clone(), b)))
            .collect();

        let mut outcome = ApplyOutcome::default();
        for entry in closing_entries(plan, state) {
            if let Err(e) = store.record(state, entry) {
                outcome.state_error = Some(e.to_string());
                return outcome;
            }
        }
        // Not started yet (waiting for dependencies, or queued).
        let mut pending: BTreeSet<&ResourceAddress> = ops.keys().copied().collect();
        let mut dependents: BTreeMap<&ResourceAddress, Vec<&ResourceAddress>> = BTreeMap::new();
        for (a, waits) in &waits_on {
            for w in waits {
                dependents.entry(*w).or_default().push(*a);
            }
        }
        // How many dependencies each operation still waits for; at zero it is queued.
        let mut remaining: BTreeMap<&ResourceAddress, usize> =
            waits_on.iter().map(|(a, w)| (*a, w.len())).collect();
        let mut queue = FairQueue::new(self.limits);
        for (a, _) in remaining.iter().filter(|(_, n)| **n == 0) {
            queue.push(&a.account, *a);
        }
        let mut running = FuturesUnordered::new();
        // What runs now, for the list of what was abandoned.
        let mut in_flight: BTreeMap<&ResourceAddress, Action> = BTreeMap::new();
        let mut stop = false;

        loop {
            if self.cancel.load(Ordering::SeqCst) && !stop {
                stop = true;
                outcome.interrupted = true;
            }
            while !stop {
                let Some((_, a)) = queue.start_next() else {
                    break;
                };
                pending.remove(a);
                let change = ops[a];
                let token = match intent_for(state, change) {
                    None => None,
                    Some(intent) => {
                        let token = intent.token.clone();
                        if let Err(e) = store.record(state, JournalEntry::Intent(intent)) {
                            outcome.state_error.get_or_insert_with(|| e.to_string());
                            on_event(ApplyEvent::StateFailed {
                                error: e.to_string(),
                            });
                            stop = true;
                            pending.insert(a);
                            queue.finished(&a.account);
                            break;
                        }
                        Some(token)
                    }
                };
                on_event(ApplyEvent::Started {
                    address: a.clone(),
                    action: change.action,
                });
                let resolved = change.after.as_ref().map(|after| resolve(after, &values));
                in_flight.insert(a, change.action);
                running.push(self.run(change, resolved, token));
            }
            let next = match futures::future::select(
                running.next(),
                std::pin::pin!(self.abandon.triggered()),
            )
            .await
            {
                Either::Left((next, _)) => next,
                Either::Right(((), _)) => {
                    outcome.interrupted = true;
                    outcome.abandoned = in_flight
                        .iter()
                        .map(|(a, action)| ((*a).clone(), *action))
                        .collect();
                    break;
                }
            };
            let Some((change, started, result)) = next else {
                break;
            };
            let addr = &change.address;
            in_flight.remove(addr);
            queue.finished(&addr.account);
            let key = ops.get_key_value(addr).map(|(k, _)| *k).unwrap_or(addr);
            let failure = match result {
                Ok(d) => {
                    let id = match &d {
                        Done::Written(o) => Some(o.id.clone()),
                        _ => None,
                    };
                    let (entry, failed_after_delete) = record(change, d, &mut values);
                    if let Err(e) = store.record(state, entry) {
                        outcome.state_error.get_or_insert_with(|| e.to_string());
                        outcome.unrecorded.push((addr.clone(), change.action));
                        if !stop {
                            on_event(ApplyEvent::StateFailed {
                                error: e.to_string(),
                            });
                        }
                        stop = true;
                    }
                    if change.adopt && failed_after_delete.is_none() {
                        outcome.adopted.push(addr.clone());
                    }
                    if failed_after_delete.is_none() {
                        on_event(ApplyEvent::Completed {
                            address: addr.clone(),
                            action: change.action,
                            id,
                            elapsed: started.elapsed(),
                        });
                        outcome.completed.push((addr.clone(), change.action));
                        for d in dependents.get(key).into_iter().flatten() {
                            if let Some(n) = remaining.get_mut(d) {
                                *n = n.saturating_sub(1);
                                if *n == 0 && pending.contains(d) {
                                    queue.push(&d.account, *d);
                                }
                            }
                        }
                    }
                    failed_after_delete
                }
                Err(error) => Some(error),
            };
            if let Some(error) = failure {
                on_event(ApplyEvent::Failed {
                    address: addr.clone(),
                    action: change.action,
                    error: error.clone(),
                });
                outcome.failed.push((addr.clone(), error));
                // Everything that waits on it, directly or not, is skipped.
                let mut failed = vec![key];
                while let Some(f) = failed.pop() {
                    for d in dependents.get(f).into_iter().flatten() {
                        if pending.remove(d) {
                            let why = format!("{f} did not complete");
                            on_event(ApplyEvent::Skipped {
                                address: (*d).clone(),
                                action: ops[d].action,
                                reason: why.clone(),
                            });
                            outcome.skipped.push(((*d).clone(), why));
                            failed.push(d);
                        }
                    }
                }
            }
        }
        for a in pending {
            let reason = if outcome.state_error.is_some() {
                "not started: saving state failed".to_string()
            } else {
                "not started: the run was interrupted".to_string()
            };
            on_event(ApplyEvent::Skipped {
                address: a.clone(),
                action: ops[a].action,
                reason: reason.clone(),
            });
            outcome.skipped.push((a.clone(), reason));
        }
        outcome
    }

    async fn run(
        &self,
        change: &'a PlannedChange,
        resolved: Option<Result<Attrs, ProviderError>>,
        token: Option<String>,
    ) -> (&'a PlannedChange, Instant, Result<Done, ProviderError>) {
        let started = Instant::now();
        let result = self.run_inner(change, resolved, token).await;
        (change, started, result)
    }

    async fn run_inner(
        &self,
        change: &PlannedChange,
        resolved: Option<Result<Attrs, ProviderError>>,
        token: Option<String>,
    ) -> Result<Done, ProviderError> {
        let p = self.provider;
        let token = token.unwrap_or_default();
        let addr = &change.address;
        let empty = Attrs::new();
        let before = change.before.as_deref().unwrap_or(&empty);
        let id = change.id.as_deref().unwrap_or_default();
        let after = match resolved {
            Some(r) => Some(r?),
            None => None,
        };
        match (change.action, after) {
            (Action::Create, Some(after)) => p
                .create_with_token(addr, &after, &token)
                .await
                .map(Done::Written),
            (Action::Update, Some(after)) => {
                let changed: Vec<String> = change
                    .attribute_diffs
                    .iter()
                    .map(|d| d.name.clone())
                    .collect();
                p.update(addr, id, before, &after, &changed)
                    .await
                    .map(Done::Written)
            }
            (Action::NoOp, _) => Ok(Done::Written(ObservedResource {
                id: id.to_string(),
                attrs: change.before.clone().unwrap_or_default(),
            })),
            (Action::Replace, Some(after)) => {
                p.delete(addr, id, before).await?;
                match p.create_with_token(addr, &after, &token).await {
                    Ok(o) => Ok(Done::Written(o)),
                    Err(e) => Ok(Done::RemovedThenFailed(e)),
                }
            }
            (Action::Delete, _) => p.delete(addr, id, before).await.map(|_| Done::Removed),
            (Action::Forget, _) => Ok(Done::Removed),
            (action, None) => Err(ProviderError {
                account: addr.account.to_string(),
                resource: addr.to_string(),
                api_call: "eksmgr:apply".into(),
                message: format!("the plan has no desired attributes for a {action:?}"),
                hint: Some("the plan file is damaged; run `eksmgr plan` again".into()),
                kind: crate::provider::ErrorKind::Other,
            }),
        }
    }
}

/// The journal entries that close the open intents `plan` found nothing left to do for (the
/// executor records them first; a plan with no change at all has them applied by the caller).
pub fn closing_entries(plan: &Plan, state: &State) -> Vec<JournalEntry> {
    plan.resolved_intents
        .iter()
        .filter(|a| state.intents.contains_key(*a))
        .map(|address| JournalEntry::Abandon {
            address: address.clone(),
        })
        .collect()
}

/// The intent to record before `change` starts: none for steps that change nothing in AWS
/// (adopting, forgetting). An open intent for the same address and action from an interrupted
/// run lends its token, so a retried create is the same request to AWS.
fn intent_for(state: &State, change: &PlannedChange) -> Option<Intent> {
    let action = match change.action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::NoOp | Action::Forget => return None,
    };
    let mut intent = Intent::new(change.address.clone(), action);
    if let Some(open) = state.intents.get(&change.address)
        && (open.action == action || (open.action == "replace" && action == "create"))
    {
        intent.token = open.token.clone();
    }
    Some(intent)
}

/// The journal entry for an operation's result; also returns the error of a half-done
/// replacement.
fn record(
    change: &PlannedChange,
    done: Done,
    values: &mut BTreeMap<ResourceAddress, Arc<Attrs>>,
) -> (JournalEntry, Option<ProviderError>) {
    match done {
        Done::Written(o) => {
            values.insert(change.address.clone(), o.attrs.clone());
            let record = ResourceRecord {
                address: change.address.clone(),
                id: o.id,
                attrs: o.attrs,
                depends_on: change.depends_on.clone(),
                updated_at: chrono::Utc::now(),
            };
            (JournalEntry::Put { record }, None)
        }
        Done::Removed => {
            values.remove(&change.address);
            let address = change.address.clone();
            (JournalEntry::Remove { address }, None)
        }
        Done::RemovedThenFailed(e) => {
            values.remove(&change.address);
            let address = change.address.clone();
            (JournalEntry::Remove { address }, Some(e))
        }
    }
}

/// For each operation, the operations it must wait for.
fn wait_graph<'p>(
    ops: &BTreeMap<&'p ResourceAddress, &'p PlannedChange>,
) -> BTreeMap<&'p ResourceAddress, Vec<&'p ResourceAddress>> {
    let is_removal = |c: &PlannedChange| matches!(c.action, Action::Delete | Action::Forget);
    let mut waits: BTreeMap<&ResourceAddress, Vec<&ResourceAddress>> =
        ops.keys().map(|a| (*a, Vec::new())).collect();
    for (addr, change) in ops {
        for dep in change.depends_on.iter() {
            let Some((dep_key, dep_change)) = ops.get_key_value(dep) else {
                continue;
            };
            if is_removal(dep_change) {
                // The dependency goes away: this one (delete or update) must go first.
                if let Some(w) = waits.get_mut(dep_key) {
                    w.push(addr);
                }
            } else if !is_removal(change)
                && let Some(w) = waits.get_mut(addr)
            {
                w.push(dep_key);
            }
        }
    }
    waits
}

/// Resolves unknown values from the results so far.
fn resolve(
    after: &DesiredAttrs,
    values: &BTreeMap<ResourceAddress, Arc<Attrs>>,
) -> Result<Attrs, ProviderError> {
    let mut out = Attrs::new();
    for (k, v) in after {
        let value = match v {
            AttrValue::Known(v) => v.clone(),
            AttrValue::Unknown { from } => values
                .get(&from.address)
                .and_then(|a| a.get(&from.attribute))
                .cloned()
                .ok_or_else(|| ProviderError {
                    account: from.address.account.to_string(),
                    resource: from.address.to_string(),
                    api_call: "eksmgr:resolve".into(),
                    message: format!("`{}` of {} is not known", from.attribute, from.address),
                    hint: Some(
                        "it should have been created earlier in this run; run `eksmgr plan` again"
                            .into(),
                    ),
                    kind: crate::provider::ErrorKind::Other,
                })?,
        };
        out.insert(k.as_str().into(), value);
    }
    Ok(out)
}
