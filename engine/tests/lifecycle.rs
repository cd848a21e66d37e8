//! Lifecycle tests of planner + executor with an in-memory fake provider: apply, re-plan is
//! empty, drift is seen and repaired, failures skip only dependents, deletes run in reverse
//! dependency order, unknown values are resolved from dependencies, adoption, and the journal's
//! intents: recorded before each operation, left open by a failure or a crash, resolved by the
//! next plan (adopt, create again with the same token, or close).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use eksmgr_engine::annotation::{Note, Resolution};
use eksmgr_engine::apply::{ApplyEvent, Executor};
use eksmgr_engine::model::{Attrs, DesiredResource, ObservedResource, ResourceKind};
use eksmgr_engine::plan::{Action, Plan, PlanOptions, Planner};
use eksmgr_engine::provider::{ErrorKind, Provider, ProviderError, ReadRequest};
use eksmgr_engine::refresh::refresh;
use eksmgr_engine::schedule::Limits;
use eksmgr_state::json;
use eksmgr_state::{Intent, JournalEntry, ResourceAddress, State, StateFile};

/// An in-memory cloud keyed by address.
#[derive(Default)]
struct Fake {
    objects: Mutex<BTreeMap<ResourceAddress, ObservedResource>>,
    log: Mutex<Vec<String>>,
    fail_create: Mutex<Vec<String>>,
    next_id: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    /// Per account: operations running now, and the most at once.
    by_account: Mutex<BTreeMap<String, (usize, usize)>>,
    /// Operations in this account take 50 ms instead of 5 ms (a throttled account).
    slow_account: Mutex<Option<String>>,
    tokens: Mutex<Vec<(String, String)>>,
    /// Creates of these names never return (AWS still working when the run stops waiting).
    hang: Mutex<Vec<String>>,
}

impl Fake {
    fn err(addr: &ResourceAddress, what: &str) -> ProviderError {
        ProviderError {
            account: addr.account.to_string(),
            resource: addr.to_string(),
            api_call: format!("fake:{what}"),
            message: "injected failure".into(),
            hint: None,
            kind: ErrorKind::Other,
        }
    }
    /// The client request tokens the creates of `name` carried, in order.
    fn tokens_for(&self, name: &str) -> Vec<String> {
        let tokens = self.tokens.lock().unwrap();
        tokens
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .collect()
    }
    async fn busy(&self, account: &str) {
        let n = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(n, Ordering::SeqCst);
        {
            let mut by = self.by_account.lock().unwrap();
            let e = by.entry(account.to_string()).or_default();
            e.0 += 1;
            e.1 = e.1.max(e.0);
        }
        let slow = self.slow_account.lock().unwrap().as_deref() == Some(account);
        let ms = if slow { 50 } else { 5 };
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        self.by_account
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_default()
            .0 -= 1;
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Provider for Fake {
    async fn read(&self, req: ReadRequest<'_>) -> Result<Option<ObservedResource>, ProviderError> {
        let objects = self.objects.lock().unwrap();
        // Resources in account 999999999999 are reachable only once `gate` exists.
        if req.address.account == "999999999999" && !objects.keys().any(|a| a.name == "gate") {
            return Err(Fake::err(req.address, "AssumeRole"));
        }
        Ok(objects.get(req.address).cloned())
    }
    async fn create(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
    ) -> Result<ObservedResource, ProviderError> {
        if self
            .hang
            .lock()
            .unwrap()
            .contains(&address.name.to_string())
        {
            std::future::pending::<()>().await;
        }
        self.busy(&address.account).await;
        if self
            .fail_create
            .lock()
            .unwrap()
            .contains(&address.name.to_string())
        {
            return Err(Fake::err(address, "Create"));
        }
        let id = format!("id-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let mut attrs = attrs.clone();
        attrs.insert("id".into(), json!(id));
        let o = ObservedResource {
            id,
            attrs: attrs.into(),
        };
        self.objects
            .lock()
            .unwrap()
            .insert(address.clone(), o.clone());
        self.log
            .lock()
            .unwrap()
            .push(format!("create {}", address.name));
        Ok(o)
    }
    async fn create_with_token(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
        token: &str,
    ) -> Result<ObservedResource, ProviderError> {
        self.tokens
            .lock()
            .unwrap()
            .push((address.name.to_string(), token.to_string()));
        self.create(address, attrs).await
    }
    async fn update(
        &self,
        address: &ResourceAddress,
        id: &str,
        _before: &Attrs,
        after: &Attrs,
        _changed: &[String],
    ) -> Result<ObservedResource, ProviderError> {
        self.busy(&address.account).await;
        let mut attrs = after.clone();
        attrs.insert("id".into(), json!(id));
        let o = ObservedResource {
            id: id.into(),
            attrs: attrs.into(),
        };
        self.objects
            .lock()
            .unwrap()
            .insert(address.clone(), o.clone());
        self.log
            .lock()
            .unwrap()
            .push(format!("update {}", address.name));
        Ok(o)
    }
    async fn delete(
        &self,
        address: &ResourceAddress,
        _id: &str,
        _before: &Attrs,
    ) -> Result<(), ProviderError> {
        self.busy(&address.account).await;
        self.objects.lock().unwrap().remove(address);
        self.log
            .lock()
            .unwrap()
            .push(format!("delete {}", address.name));
        Ok(())
    }
}

fn role(name: &str, desc: &str) -> DesiredResource {
    DesiredResource::new(ResourceKind::IamRole, name, "111111111111", None)
        .set("name", json!(name))
        .set("description", json!(desc))
        .set("managed_policy_arns", json!(["b", "a"]))
}

/// a <- b (b references a's id) <- c; d independent.
fn estate() -> Vec<DesiredResource> {
    let a = role("a", "first");
    let b = role("b", "second").set_ref("parent_id", &a.address, "id");
    let c = role("c", "third").depend_on(&b.address);
    let d = role("d", "independent");
    vec![a, b, c, d]
}

async fn plan(p: &Fake, desired: &[DesiredResource], state: &State, destroy: bool) -> Plan {
    let observed = refresh(p, desired, state, 4).await;
    Planner::plan(
        desired,
        state,
        &observed,
        &PlanOptions {
            destroy,
            ..Default::default()
        },
    )
    .unwrap()
}

async fn apply(
    p: &Fake,
    plan: &Plan,
    state: &mut State,
    file: &mut StateFile,
) -> (eksmgr_engine::apply::ApplyOutcome, Vec<ApplyEvent>) {
    let mut events = Vec::new();
    let mut on = |e| events.push(e);
    let out = Executor::new(p, 4).apply(plan, state, file, &mut on).await;
    (out, events)
}

fn setup() -> (tempfile::TempDir, StateFile) {
    let dir = tempfile::tempdir().unwrap();
    let file = StateFile::new(dir.path().join("eksmgr.state.json"));
    (dir, file)
}

#[tokio::test]
async fn create_then_replan_is_empty_and_refs_resolve() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    let mut state = State::new();
    let desired = estate();
    let first = plan(&p, &desired, &state, false).await;
    assert_eq!(first.summary().add, 4);
    let b = first
        .changes
        .iter()
        .find(|c| c.address.name == "b")
        .unwrap();
    assert!(
        b.after.as_ref().unwrap()["parent_id"].known().is_none(),
        "known after apply"
    );
    let (out, _) = apply(&p, &first, &mut state, &mut file).await;
    assert!(out.is_success(), "{out:?}");
    // b got a's real id.
    let a_id = p
        .objects
        .lock()
        .unwrap()
        .values()
        .find(|o| o.attrs["name"] == "a")
        .unwrap()
        .id
        .clone();
    let b_obj = p
        .objects
        .lock()
        .unwrap()
        .values()
        .find(|o| o.attrs["name"] == "b")
        .unwrap()
        .clone();
    assert_eq!(b_obj.attrs["parent_id"], json!(a_id));
    // State was persisted after each operation and reloads equal.
    let reloaded = file.load().unwrap();
    assert_eq!(reloaded.resources.len(), 4);
    assert!(reloaded.serial >= 4);
    let second = plan(&p, &desired, &reloaded, false).await;
    assert!(!second.has_changes(), "{:#?}", second.changes);
    assert!(second.drift.is_empty());
    // Order: a before b before c.
    let log = p.log.lock().unwrap().clone();
    let pos = |n: &str| {
        log.iter()
            .position(|l| l == &format!("create {n}"))
            .unwrap()
    };
    assert!(pos("a") < pos("b") && pos("b") < pos("c"));
}

#[tokio::test]
async fn failure_skips_only_dependents() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    p.fail_create.lock().unwrap().push("b".into());
    let mut state = State::new();
    let first = plan(&p, &estate(), &state, false).await;
    let (out, events) = apply(&p, &first, &mut state, &mut file).await;
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.skipped.len(), 1);
    assert_eq!(out.skipped[0].0.name, "c");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ApplyEvent::Skipped { address, .. } if address.name == "c"))
    );
    // a and d were created and recorded.
    let names: Vec<String> = file
        .load()
        .unwrap()
        .resources
        .keys()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(names, vec!["a", "d"]);
    // Re-run converges.
    p.fail_create.lock().unwrap().clear();
    let again = plan(&p, &estate(), &state, false).await;
    assert_eq!(again.summary().add, 2);
    let (out, _) = apply(&p, &again, &mut state, &mut file).await;
    assert!(out.is_success());
    assert!(!plan(&p, &estate(), &state, false).await.has_changes());
}

#[tokio::test]
async fn drift_is_reported_and_repaired() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    let mut state = State::new();
    let desired = estate();
    let first = plan(&p, &desired, &state, false).await;
    apply(&p, &first, &mut state, &mut file).await;
    // Out of band: change d's description, delete c.
    {
        let mut objs = p.objects.lock().unwrap();
        let d = objs.iter_mut().find(|(a, _)| a.name == "d").unwrap().1;
        std::sync::Arc::make_mut(&mut d.attrs).insert("description".into(), json!("hacked"));
        let c = objs.keys().find(|a| a.name == "c").unwrap().clone();
        objs.remove(&c);
    }
    let drifted = plan(&p, &desired, &state, false).await;
    assert_eq!(drifted.drift.len(), 2);
    assert!(
        drifted
            .drift
            .iter()
            .any(|d| d.address.name == "c" && d.deleted)
    );
    assert!(
        drifted
            .drift
            .iter()
            .any(|d| d.address.name == "d" && d.attribute_diffs[0].name == "description")
    );
    let actions: BTreeMap<String, Action> = drifted
        .changes
        .iter()
        .map(|c| (c.address.name.to_string(), c.action))
        .collect();
    assert_eq!(actions["c"], Action::Create);
    assert_eq!(actions["d"], Action::Update);
    let (out, _) = apply(&p, &drifted, &mut state, &mut file).await;
    assert!(out.is_success());
    let clean = plan(&p, &desired, &state, false).await;
    assert!(!clean.has_changes() && clean.drift.is_empty());
}

#[tokio::test]
async fn destroy_runs_in_reverse_order() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    let mut state = State::new();
    let desired = estate();
    let first = plan(&p, &desired, &state, false).await;
    apply(&p, &first, &mut state, &mut file).await;
    p.log.lock().unwrap().clear();
    let destroy = plan(&p, &desired, &state, true).await;
    assert_eq!(destroy.summary().destroy, 4);
    let (out, _) = apply(&p, &destroy, &mut state, &mut file).await;
    assert!(out.is_success());
    assert!(state.resources.is_empty());
    assert!(p.objects.lock().unwrap().is_empty());
    let log = p.log.lock().unwrap().clone();
    let pos = |n: &str| {
        log.iter()
            .position(|l| l == &format!("delete {n}"))
            .unwrap()
    };
    assert!(pos("c") < pos("b") && pos("b") < pos("a"), "{log:?}");
}

#[tokio::test]
async fn existing_resources_are_adopted_not_duplicated() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    let desired = vec![role("x", "exists"), role("y", "differs")];
    // Both exist already (as after a crash between create and the state write); y differs.
    for d in &desired {
        let mut attrs = d.known_attrs();
        if d.address.name == "y" {
            attrs.insert("description".into(), json!("old"));
        }
        p.objects.lock().unwrap().insert(
            d.address.clone(),
            ObservedResource {
                id: d.address.name.to_string(),
                attrs: attrs.into(),
            },
        );
    }
    let mut state = State::new();
    let adopt = plan(&p, &desired, &state, false).await;
    let s = adopt.summary();
    assert_eq!((s.add, s.change, s.adopt), (0, 1, 2));
    let (out, _) = apply(&p, &adopt, &mut state, &mut file).await;
    assert_eq!(state.resources.len(), 2);
    // Counted as adopted (y was updated as well).
    assert_eq!(out.adopted.len(), 2, "{out:?}");
    assert_eq!(out.completed.len(), 2, "{out:?}");
    assert!(
        !p.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("create"))
    );
    assert!(!plan(&p, &desired, &state, false).await.has_changes());
}

#[tokio::test]
async fn parallelism_is_bounded() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    let desired: Vec<DesiredResource> = (0..20).map(|i| role(&format!("r{i}"), "x")).collect();
    let mut state = State::new();
    let pl = plan(&p, &desired, &state, false).await;
    let mut on = |_e| {};
    let out = Executor::new(&p, 3)
        .apply(&pl, &mut state, &mut file, &mut on)
        .await;
    assert!(out.is_success());
    let max = p.max_running.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "max concurrent {max}");
}

#[tokio::test]
async fn a_slow_account_holds_only_its_share_of_the_slots() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    *p.slow_account.lock().unwrap() = Some("111111111111".into());
    let mut desired: Vec<DesiredResource> = (0..8).map(|i| role(&format!("s{i}"), "x")).collect();
    desired.extend((0..8).map(|i| {
        DesiredResource::new(
            ResourceKind::IamRole,
            &format!("f{i}"),
            "222222222222",
            None,
        )
        .set("name", json!(format!("f{i}")))
    }));
    let mut state = State::new();
    let pl = plan(&p, &desired, &state, false).await;
    let mut completed: Vec<String> = Vec::new();
    let mut on = |e| {
        if let ApplyEvent::Completed { address, .. } = e {
            completed.push(address.account.to_string());
        }
    };
    let out = Executor::new(&p, Limits::new(4, 2))
        .apply(&pl, &mut state, &mut file, &mut on)
        .await;
    assert!(out.is_success());
    let by = p.by_account.lock().unwrap().clone();
    assert_eq!(by["111111111111"].1, 2, "{by:?}");
    assert_eq!(by["222222222222"].1, 2, "{by:?}");
    // The fast account is done long before the slow one: it never waited for its slots.
    let last_fast = completed.iter().rposition(|a| a == "222222222222").unwrap();
    let first_slow_half = completed
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "111111111111")
        .nth(3)
        .map(|(i, _)| i)
        .unwrap();
    assert!(last_fast < first_slow_half, "{completed:?}");
}

#[tokio::test]
async fn cancel_stops_new_work() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    let desired: Vec<DesiredResource> = (0..10).map(|i| role(&format!("r{i}"), "x")).collect();
    let mut state = State::new();
    let pl = plan(&p, &desired, &state, false).await;
    let ex = Executor::new(&p, 1);
    let flag = ex.cancel_flag();
    let mut n = 0;
    let mut on = |e| {
        if matches!(e, ApplyEvent::Completed { .. }) {
            n += 1;
            if n == 2 {
                flag.store(true, Ordering::SeqCst);
            }
        }
    };
    let out = ex.apply(&pl, &mut state, &mut file, &mut on).await;
    assert!(out.interrupted);
    assert_eq!(out.completed.len(), 2);
    assert_eq!(out.skipped.len(), 8);
    assert_eq!(file.load().unwrap().resources.len(), 2);
}

#[tokio::test]
async fn resources_behind_a_created_dependency_wait_for_the_next_plan() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    let gate = role("gate", "opens the spoke");
    let spoke = DesiredResource::new(ResourceKind::IamRole, "inner", "999999999999", None)
        .set("name", json!("inner"))
        .depend_on(&gate.address);
    let desired = vec![gate.clone(), spoke.clone()];
    let mut state = State::new();
    let first = plan(&p, &desired, &state, false).await;
    assert_eq!(first.summary().add, 1);
    assert_eq!(first.deferred.len(), 1);
    assert_eq!(first.deferred[0].awaiting.as_ref(), Some(&gate.address));
    assert!(
        first.unreadable().next().is_none(),
        "expected, not an error"
    );
    assert!(first.has_changes());
    apply(&p, &first, &mut state, &mut file).await;
    let second = plan(&p, &desired, &state, false).await;
    assert!(second.deferred.is_empty());
    assert_eq!(
        second.change(&spoke.address).unwrap().action,
        Action::Create
    );
    apply(&p, &second, &mut state, &mut file).await;
    assert!(!plan(&p, &desired, &state, false).await.has_changes());
}

#[tokio::test]
async fn an_unreadable_resource_is_an_error_not_a_change() {
    let p = Fake::default();
    // The gate is not desired: nothing this plan creates would make the spoke reachable.
    let spoke = DesiredResource::new(ResourceKind::IamRole, "inner", "999999999999", None)
        .set("name", json!("inner"));
    let pl = plan(&p, std::slice::from_ref(&spoke), &State::new(), false).await;
    assert_eq!(pl.unreadable().count(), 1);
    assert!(
        pl.unreadable()
            .next()
            .unwrap()
            .reason
            .contains("fake:AssumeRole")
    );
    assert!(!pl.has_changes());
}

#[tokio::test]
async fn an_interrupted_create_is_retried_with_its_token_adopted_or_closed() {
    let dir = tempfile::tempdir().unwrap();
    let file = StateFile::new(dir.path().join("s.json"));
    let p = Fake::default();
    p.fail_create.lock().unwrap().push("d".into());
    let desired = estate();
    let mut state = file.load().unwrap();
    let pl = plan(&p, &desired, &state, false).await;
    let mut journal = file.start_journal(&mut state).unwrap();
    let mut on = |_| {};
    let out = Executor::new(&p, 4)
        .apply(&pl, &mut state, &mut journal, &mut on)
        .await;
    assert_eq!(out.failed.len(), 1);
    drop(journal);
    // No save: as after a crash, the state comes back from the file and its journal.
    let mut state = file.load().unwrap();
    assert_eq!(state.len(), 3);
    let open: Vec<&Intent> = state.intents.values().collect();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (open[0].address.name.as_str(), open[0].action.as_str()),
        ("d", "create")
    );
    let token = open[0].token.clone();
    let first = p.tokens_for("d");
    assert_eq!(first, vec![token.clone()]);

    // The next run sends the same token, and says why.
    p.fail_create.lock().unwrap().clear();
    let pl = plan(&p, &desired, &state, false).await;
    let d = pl.changes.iter().find(|c| c.address.name == "d").unwrap();
    assert_eq!(d.action, Action::Create);
    assert!(
        d.notes.iter().any(|n| matches!(
            n,
            Note::InterruptedOperation { operation, resolution: Resolution::Finishes(Action::Create), .. }
                if operation == "create"
        )),
        "{:?}",
        d.notes
    );
    assert!(
        pl.warnings
            .iter()
            .any(|w| w.contains("this plan finishes it (create)")),
        "{:?}",
        pl.warnings
    );
    let mut journal = file.start_journal(&mut state).unwrap();
    let out = Executor::new(&p, 4)
        .apply(&pl, &mut state, &mut journal, &mut on)
        .await;
    assert!(out.is_success(), "{out:?}");
    let tokens = p.tokens_for("d");
    assert_eq!(tokens, vec![token.clone(), token]);
    assert!(state.intents.is_empty());
    file.save(&mut state).unwrap();

    // AWS made it, the run died before recording it: adopted, never created twice.
    let e = role("e", "made before the crash");
    p.create(&e.address, &e.known_attrs()).await.unwrap();
    // And one whose create never reached AWS, no longer wanted: nothing left to do.
    let gone: ResourceAddress = "iam_role.gone[111111111111]".parse().unwrap();
    state.apply_entry(&JournalEntry::Intent(Intent::new(
        e.address.clone(),
        "create",
    )));
    state.apply_entry(&JournalEntry::Intent(Intent::new(gone.clone(), "create")));
    let mut desired = estate();
    desired.push(e.clone());
    let pl = plan(&p, &desired, &state, false).await;
    let ce = pl.change(&e.address).unwrap();
    assert!(ce.adopt, "{ce:?}");
    assert!(
        ce.notes.iter().any(|n| matches!(
            n,
            Note::InterruptedOperation {
                resolution: Resolution::Adopts,
                ..
            }
        )),
        "{:?}",
        ce.notes
    );
    assert_eq!(pl.resolved_intents, vec![gone.clone()]);
    let creates_before = p.log.lock().unwrap().len();
    let mut journal = file.start_journal(&mut state).unwrap();
    let out = Executor::new(&p, 4)
        .apply(&pl, &mut state, &mut journal, &mut on)
        .await;
    assert!(out.is_success(), "{out:?}");
    assert_eq!(
        p.log.lock().unwrap().len(),
        creates_before,
        "nothing created twice"
    );
    assert!(state.intents.is_empty(), "{:?}", state.intents);
    drop(journal);
    assert_eq!(file.load().unwrap(), state);
    assert!(
        plan(&p, &desired, &state, false)
            .await
            .changes
            .iter()
            .all(|c| !c.action.is_change() && !c.adopt)
    );
}

#[tokio::test]
async fn a_cluster_still_creating_is_waited_for_not_created_again() {
    let p = Fake::default();
    let cluster = DesiredResource::new(
        ResourceKind::EksCluster,
        "prod",
        "111111111111",
        Some("eu-west-1"),
    )
    .set("name", json!("prod"))
    .set("version", json!("1.31"));
    let mut attrs = cluster.known_attrs();
    attrs.insert("status".into(), json!("CREATING"));
    let observed = ObservedResource {
        id: "prod".into(),
        attrs: attrs.clone().into(),
    };
    p.objects
        .lock()
        .unwrap()
        .insert(cluster.address.clone(), observed);
    let desired = vec![cluster.clone()];
    let pl = plan(&p, &desired, &State::new(), false).await;
    let c = pl.change(&cluster.address).unwrap();
    assert_eq!((c.action, c.adopt), (Action::Update, true));
    let changed: Vec<&str> = c.attribute_diffs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(changed, ["status"]);
    assert!(
        c.notes
            .iter()
            .any(|n| matches!(n, Note::ClusterBusy { status } if status == "CREATING")),
        "{:?}",
        c.notes
    );
    // Once it is active there is nothing to wait for.
    attrs.insert("status".into(), json!("ACTIVE"));
    let observed = ObservedResource {
        id: "prod".into(),
        attrs: attrs.into(),
    };
    p.objects
        .lock()
        .unwrap()
        .insert(cluster.address.clone(), observed);
    let pl = plan(&p, &desired, &State::new(), false).await;
    let c = pl.change(&cluster.address).unwrap();
    assert_eq!((c.action, c.adopt), (Action::NoOp, true));
}

#[tokio::test]
async fn abandon_stops_waiting_for_what_runs_and_keeps_its_intent() {
    let (_d, mut file) = setup();
    let p = Fake::default();
    p.hang.lock().unwrap().push("hangs".into());
    let desired = vec![role("hangs", "x"), role("quick", "x"), role("later", "x")];
    let mut state = State::new();
    let pl = plan(&p, &desired, &state, false).await;
    // Two at once: hangs and later start first (by address), quick once later is done.
    let ex = Executor::new(&p, Limits::new(2, 2));
    let abandon = ex.abandon_flag();
    let cancel = ex.cancel_flag();
    let mut completed = 0;
    let mut on = |e| {
        if matches!(e, ApplyEvent::Completed { .. }) {
            completed += 1;
            if completed == 2 {
                cancel.store(true, Ordering::SeqCst);
                abandon.trigger();
            }
        }
    };
    let out = ex.apply(&pl, &mut state, &mut file, &mut on).await;
    assert!(out.interrupted);
    assert_eq!(
        out.abandoned,
        vec![(role("hangs", "x").address.clone(), Action::Create)],
        "{out:?}"
    );
    assert_eq!(out.completed.len(), 2, "{out:?}");
    assert!(!out.is_success());
    // Its intent stays open, for the next plan to resolve.
    assert!(
        state
            .intents
            .contains_key(&role("hangs", "x").address.clone())
    );
}

/// A journal on a disk that fills up after `room` entries: entries that do not fit are not
/// written, but what AWS did is kept in memory, as the production journal does.
struct FillingDisk {
    room: usize,
    written: usize,
}

impl eksmgr_engine::apply::StateStore for FillingDisk {
    fn record(
        &mut self,
        state: &mut State,
        entry: JournalEntry,
    ) -> Result<(), eksmgr_state::StateError> {
        if self.written < self.room {
            self.written += 1;
            state.apply_entry(&entry);
            return Ok(());
        }
        if !matches!(entry, JournalEntry::Intent(_)) {
            state.apply_entry(&entry);
        }
        Err(eksmgr_state::StateError::Io {
            path: "eksmgr.state.json.journal".into(),
            op: "append to journal",
            source: std::io::Error::from_raw_os_error(28),
        })
    }
}

#[tokio::test]
async fn a_full_disk_stops_new_work_says_so_once_and_lists_what_the_state_may_lack() {
    let p = Fake::default();
    let desired: Vec<DesiredResource> = (0..6).map(|i| role(&format!("r{i}"), "x")).collect();
    let mut state = State::new();
    let pl = plan(&p, &desired, &state, false).await;
    // Two at once: r0 and r1 record their intents (2 entries) and r0 its result (3); r1's
    // result no longer fits.
    let mut disk = FillingDisk {
        room: 3,
        written: 0,
    };
    let mut events = Vec::new();
    let mut on = |e| events.push(e);
    let out = Executor::new(&p, Limits::new(2, 2))
        .apply(&pl, &mut state, &mut disk, &mut on)
        .await;
    let failures: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, ApplyEvent::StateFailed { .. }))
        .collect();
    assert_eq!(failures.len(), 1, "said once: {events:?}");
    assert!(
        out.state_error
            .as_deref()
            .is_some_and(|e| e.contains("No space left on device")),
        "{out:?}"
    );
    // Nothing started after the failure; what completed after it is listed and kept in
    // memory for the final save.
    let created = p
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("create"))
        .count();
    assert_eq!(created, out.completed.len(), "{out:?}");
    assert!(created < 6, "new work stopped: {out:?}");
    assert!(!out.unrecorded.is_empty(), "{out:?}");
    for (address, _) in &out.unrecorded {
        assert!(
            state.resources.contains_key(address),
            "{address} kept in memory"
        );
    }
    assert_eq!(out.skipped.len(), 6 - created, "{out:?}");
    assert!(
        out.skipped
            .iter()
            .all(|(_, why)| why == "not started: saving state failed"),
        "{out:?}"
    );
}
