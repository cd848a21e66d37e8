//! Crash safety and faults, end to end, against moto through the test proxy:
//!
//! * `eksmgr apply` of the example estate (management account, hub, two spokes) is killed with
//!   SIGKILL at many points: each time the proxy lets the n-th write call reach moto, then
//!   holds its answer (AWS did it, eksmgr never heard), and the process is killed there. A
//!   user's recovery follows (`eksmgr unlock ID` for the stale lock, `apply` again), then every
//!   run must converge: an empty plan, no duplicate and no orphan in AWS (every resource
//!   eksmgr names or tags, counted through the SDK, is in state), the same estate as an
//!   uninterrupted apply makes.
//! * SIGTERM (as Ctrl-C) in the middle of an apply: no new operation starts, the ones under way
//!   finish and are recorded, the journal is compacted, the lock released; the next apply
//!   finishes the rest.
//! * Throttling and 5xx answers injected on a share of requests: apply and plan still succeed.
//! * No secret (the keys moto hands out, the test's static secret key) is in the state, its
//!   journal, a saved plan or any output, with logs at every verbosity (none, `-v`, `-vv`,
//!   `-vvv`); files and outputs are searched byte for byte, and a file that cannot be read
//!   fails the check.
//!
//! `EKSMGR_CRASH_POINTS` sets how many kill points are tried (`all`: after every write call);
//! the default is a spread of 8. The harness prints what it tried on stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::example_config;
use eksmgr_e2e::{Output, Seed, assume, sdk_config};

use eksmgr_e2e::R;

const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// Kill points tried when `EKSMGR_CRASH_POINTS` is not set.
const DEFAULT_POINTS: usize = 8;

/// The example estate with eksmgr talking to moto through the proxy, and what these tests do
/// with it.
struct Bench(Estate);

impl std::ops::Deref for Bench {
    type Target = Estate;
    fn deref(&self) -> &Estate {
        &self.0
    }
}

impl std::ops::DerefMut for Bench {
    fn deref_mut(&mut self) -> &mut Estate {
        &mut self.0
    }
}

impl Bench {
    fn start(prefix: &str) -> R<Bench> {
        Ok(Bench(
            Estate::builder(prefix)
                .spokes(2)
                .config(example_config)
                .proxy()
                .timeout(RUN_TIMEOUT)
                .start()?,
        ))
    }

    /// A fresh organization with two spokes, an empty work directory and the example
    /// configuration for it.
    fn fresh(&self) -> R<Seed> {
        self.moto.reset()?;
        let seed = self.moto.seed(2)?;
        for entry in std::fs::read_dir(self.dir.path()).map_err(err("read work dir"))? {
            let path = entry.map_err(err("read work dir"))?.path();
            std::fs::remove_file(&path).map_err(err(format!("remove {}", path.display())))?;
        }
        self.eksmgr.write_config(&example_config(&seed)?)?;
        self.proxy()?.clear_faults();
        self.proxy()?.thaw();
        Ok(seed)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// `apply` as a user recovering from a crash runs it: a stale lock is removed with
    /// `eksmgr unlock ID` first. Returns the apply's output and whether it unlocked.
    fn recover(&self) -> R<(Output, bool)> {
        let out = self.run(&["apply", "--auto-approve"])?;
        if out.code == Some(0) {
            return Ok((out, false));
        }
        let text = out.stderr.clone();
        ensure(text.contains("the lock is stale"), || {
            format!("apply after a crash failed for a reason other than a stale lock\n{out}")
        })?;
        let id = text
            .split("eksmgr unlock ")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .ok_or_else(|| format!("the stale-lock message names no lock id\n{out}"))?;
        self.expect(&["unlock", id], 0)?;
        Ok((self.expect(&["apply", "--auto-approve"], 0)?, true))
    }
}

/// The accounts of a seed by role: `management`, `hub`, `spoke-0`, `spoke-1`.
fn accounts(seed: &Seed) -> Vec<(String, String)> {
    let mut out = vec![
        ("management".to_string(), seed.management_account_id.clone()),
        ("hub".to_string(), seed.hub_account_id.clone()),
    ];
    for (i, id) in seed.spoke_account_ids.iter().enumerate() {
        out.push((format!("spoke-{i}"), id.clone()));
    }
    out
}

/// One resource found in AWS: its name (comparable across seeds) and its id (as state holds it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Item {
    name: String,
    id: String,
}

/// What exists in AWS, by (kind, account label).
type Inventory = BTreeMap<(String, String), Vec<Item>>;

/// Lists, through the SDK (straight to moto, not through the proxy), everything eksmgr names
/// or tags: IAM roles, KMS keys tagged `managed-by = eksmgr` and not pending deletion (named by
/// alias), EKS clusters, ECR repositories, SCPs (not AWS managed) and StackSets.
async fn inventory(endpoint: &str, seed: &Seed) -> R<Inventory> {
    let mut out = Inventory::new();
    for (label, account) in accounts(seed) {
        let conf: SdkConfig = if account == seed.management_account_id {
            sdk_config(endpoint)
        } else {
            assume(endpoint, &account, "OrganizationAccountAccessRole").await?
        };
        let mut put = |kind: &str, name: String, id: String| {
            out.entry((kind.to_string(), label.clone()))
                .or_default()
                .push(Item { name, id });
        };
        let iam = aws_sdk_iam::Client::new(&conf);
        let mut roles = iam.list_roles().into_paginator().send();
        while let Some(page) = roles.next().await {
            for r in page.map_err(sdk_err("iam:ListRoles"))?.roles() {
                put(
                    "iam_role",
                    r.role_name().to_string(),
                    r.role_name().to_string(),
                );
            }
        }
        let kms = aws_sdk_kms::Client::new(&conf);
        let aliases = kms
            .list_aliases()
            .send()
            .await
            .map_err(sdk_err("kms:ListAliases"))?;
        let keys = kms
            .list_keys()
            .send()
            .await
            .map_err(sdk_err("kms:ListKeys"))?;
        for k in keys.keys() {
            let id = k.key_id().unwrap_or_default().to_string();
            let meta = kms
                .describe_key()
                .key_id(&id)
                .send()
                .await
                .map_err(sdk_err("kms:DescribeKey"))?;
            let pending = meta
                .key_metadata()
                .and_then(|m| m.key_state())
                .is_some_and(|s| matches!(s, aws_sdk_kms::types::KeyState::PendingDeletion));
            let tags = kms
                .list_resource_tags()
                .key_id(&id)
                .send()
                .await
                .map_err(sdk_err("kms:ListResourceTags"))?;
            let ours = tags
                .tags()
                .iter()
                .any(|t| t.tag_key() == "managed-by" && t.tag_value() == "eksmgr");
            if ours && !pending {
                let alias = aliases
                    .aliases()
                    .iter()
                    .find(|a| a.target_key_id() == Some(id.as_str()))
                    .and_then(|a| a.alias_name())
                    .unwrap_or("(no alias)")
                    .to_string();
                put("kms_key", alias, id);
            }
        }
        let eks = aws_sdk_eks::Client::new(&conf);
        let clusters = eks
            .list_clusters()
            .send()
            .await
            .map_err(sdk_err("eks:ListClusters"))?;
        for c in clusters.clusters() {
            put("eks_cluster", c.clone(), c.clone());
        }
        let ecr = aws_sdk_ecr::Client::new(&conf);
        let repos = ecr
            .describe_repositories()
            .send()
            .await
            .map_err(sdk_err("ecr:DescribeRepositories"))?;
        for r in repos.repositories() {
            let name = r.repository_name().unwrap_or_default().to_string();
            put("ecr_repository", name.clone(), name);
        }
        if account == seed.management_account_id {
            let org = aws_sdk_organizations::Client::new(&conf);
            let policies = org
                .list_policies()
                .filter(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
                .send()
                .await
                .map_err(sdk_err("organizations:ListPolicies"))?;
            for p in policies.policies() {
                if !p.aws_managed() {
                    put(
                        "org_policy",
                        p.name().unwrap_or_default().to_string(),
                        p.id().unwrap_or_default().to_string(),
                    );
                }
            }
            let cfn = aws_sdk_cloudformation::Client::new(&conf);
            let sets = cfn
                .list_stack_sets()
                .status(aws_sdk_cloudformation::types::StackSetStatus::Active)
                .send()
                .await
                .map_err(sdk_err("cloudformation:ListStackSets"))?;
            for s in sets.summaries() {
                let name = s.stack_set_name().unwrap_or_default().to_string();
                put("stack_set", name.clone(), name);
            }
        }
    }
    for items in out.values_mut() {
        items.sort();
    }
    Ok(out)
}

/// `after` less what `before` had (by id).
fn added(before: &Inventory, after: &Inventory) -> Inventory {
    let mut out = Inventory::new();
    for (key, items) in after {
        let old: BTreeSet<&str> = before
            .get(key)
            .map(|v| v.iter().map(|i| i.id.as_str()).collect())
            .unwrap_or_default();
        let new: Vec<Item> = items
            .iter()
            .filter(|i| !old.contains(i.id.as_str()))
            .cloned()
            .collect();
        if !new.is_empty() {
            out.insert(key.clone(), new);
        }
    }
    out
}

/// The names only, for comparing estates made from different seeds.
fn names(inv: &Inventory) -> BTreeMap<(String, String), Vec<String>> {
    inv.iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|i| i.name.clone()).collect()))
        .collect()
}

/// The ids state holds, by (kind, account label); an ARN id counts by its last path part (a
/// KMS key's id).
fn state_ids(state_text: &str, seed: &Seed) -> R<BTreeSet<(String, String, String)>> {
    let state: serde_json::Value =
        serde_json::from_str(state_text).map_err(err("parse the state file"))?;
    let labels: BTreeMap<String, String> = accounts(seed)
        .into_iter()
        .map(|(label, id)| (id, label))
        .collect();
    let mut out = BTreeSet::new();
    for r in state["resources"].as_array().into_iter().flatten() {
        let address = r["address"].as_str().unwrap_or_default();
        let kind = address.split('.').next().unwrap_or_default();
        let account = address
            .rsplit_once('[')
            .map(|(_, rest)| rest.trim_end_matches(']'))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let id = r["id"].as_str().unwrap_or_default();
        let id = match id.strip_prefix("arn:") {
            Some(arn) => arn.rsplit('/').next().unwrap_or(arn),
            None => id,
        };
        let label = labels.get(account).cloned().unwrap_or_default();
        out.insert((kind.to_string(), label, id.to_string()));
    }
    Ok(out)
}

/// Every resource eksmgr made (in AWS now, not before the run) is in state, except the ones
/// made on its behalf by a StackSet (`indirect`, by name).
fn orphans(
    made: &Inventory,
    state: &BTreeSet<(String, String, String)>,
    indirect: &BTreeSet<(String, String, String)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for ((kind, label), items) in made {
        for item in items {
            let in_state = state.contains(&(kind.clone(), label.clone(), item.id.clone()));
            let by_stackset = indirect.contains(&(kind.clone(), label.clone(), item.name.clone()));
            if !in_state && !by_stackset {
                out.push(format!("{kind} {} ({}) in {label}", item.name, item.id));
            }
        }
    }
    out
}

fn kill_points(writes: usize) -> Vec<usize> {
    let wanted = std::env::var("EKSMGR_CRASH_POINTS").unwrap_or_default();
    if wanted == "all" {
        return (1..=writes).collect();
    }
    let k = wanted
        .parse()
        .unwrap_or(DEFAULT_POINTS)
        .clamp(1, writes.max(1));
    if k == 1 {
        return vec![writes.div_ceil(2)];
    }
    let mut points: Vec<usize> = (0..k).map(|j| 1 + j * (writes - 1) / (k - 1)).collect();
    points.dedup();
    points
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_killed_at_any_point_converges_with_no_duplicate_and_no_orphan() -> R<()> {
    let bench = Bench::start("eksmgr-e2e-crash-")?;
    let proxy = bench.proxy()?;

    // The reference: an uninterrupted apply, and how many write calls it makes.
    let seed = bench.fresh()?;
    let baseline = inventory(bench.moto.endpoint(), &seed).await?;
    proxy.freeze_after_writes(usize::MAX);
    bench.expect(&["apply", "--auto-approve"], 0)?;
    let writes = proxy.writes();
    proxy.thaw();
    bench.expect(&["plan", "--detailed-exitcode"], 0)?;
    let reference_made = added(&baseline, &inventory(bench.moto.endpoint(), &seed).await?);
    let reference_state = state_ids(&bench.read("eksmgr.state.json"), &seed)?;
    // What the StackSet makes (the spoke admin roles) is not a resource of its own in state.
    let indirect: BTreeSet<(String, String, String)> = reference_made
        .iter()
        .flat_map(|((kind, label), items)| {
            items
                .iter()
                .filter(|i| !reference_state.contains(&(kind.clone(), label.clone(), i.id.clone())))
                .map(|i| (kind.clone(), label.clone(), i.name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    ensure(
        indirect
            .iter()
            .all(|(kind, label, _)| kind == "iam_role" && label.starts_with("spoke-")),
        || format!("an uninterrupted apply left resources out of state: {indirect:?}"),
    )?;
    ensure(writes > 20, || {
        format!("the example apply made only {writes} write calls")
    })?;

    let points = kill_points(writes);
    let started = Instant::now();
    let mut killed = 0;
    let mut unlocked = 0;
    let mut resolved_intents = 0;
    for &n in &points {
        let seed = bench.fresh()?;
        let baseline = inventory(bench.moto.endpoint(), &seed).await?;
        proxy.freeze_after_writes(n);
        let mut running = bench.eksmgr.spawn(&["apply", "--auto-approve"])?;
        let was_frozen = running
            .wait_until("the write to freeze at", RUN_TIMEOUT, || proxy.frozen())
            .is_ok();
        let first = running.kill()?;
        proxy.thaw();
        ensure(was_frozen, || {
            format!("kill point {n}: the apply ended before its write call {n}\n{first}")
        })?;
        killed += 1;

        let (again, did_unlock) = bench.recover()?;
        unlocked += usize::from(did_unlock);
        if again.stdout.contains("interrupted during")
            || again.stderr.contains("interrupted during")
        {
            resolved_intents += 1;
        }
        let plan = bench.run(&["plan", "--detailed-exitcode"])?;
        ensure(plan.code == Some(0), || {
            format!(
                "kill point {n}: the plan after recovery is not empty\n{plan}\n--- recovery ---\n{again}"
            )
        })?;
        let made = added(&baseline, &inventory(bench.moto.endpoint(), &seed).await?);
        ensure(names(&made) == names(&reference_made), || {
            format!(
                "kill point {n}: AWS differs from an uninterrupted apply (a duplicate or a missing resource)\nnow: {:#?}\nreference: {:#?}",
                names(&made),
                names(&reference_made)
            )
        })?;
        let state = state_ids(&bench.read("eksmgr.state.json"), &seed)?;
        let lost = orphans(&made, &state, &indirect);
        ensure(lost.is_empty(), || {
            format!("kill point {n}: resources in AWS that state does not hold: {lost:#?}")
        })?;
        ensure(
            !bench.dir.path().join("eksmgr.state.json.journal").exists(),
            || format!("kill point {n}: the journal was not compacted after recovery"),
        )?;
    }
    eprintln!(
        "crash harness: {} write calls in an uninterrupted apply; {} kill points tried ({:?}); {killed} runs killed with SIGKILL after AWS had carried out the write; {unlocked} recoveries removed a stale lock; {resolved_intents} recoveries resolved an open intent; every run converged to an empty plan with the reference estate, no duplicate, no orphan ({:.0}s)",
        writes,
        points.len(),
        points,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The line an apply prints on its first interrupt.
const INTERRUPTED: &str = "SIGTERM received: finishing";
/// Why an operation an interrupted apply left out was not started.
const NOT_STARTED: &str = "not started: the run was interrupted";

/// The apply's event lines on stderr (`ADDRESS: Creating...`, `ADDRESS: Creation complete
/// after 1s`, `ADDRESS: Error: ...`, `ADDRESS: Skipped: ...`), by kind: the addresses of the
/// operations started, ended (completed or failed) and skipped with `reason`.
#[derive(Debug, Default)]
struct Events {
    started: BTreeSet<String>,
    ended: BTreeSet<String>,
    skipped: BTreeMap<String, String>,
}

fn events(stderr: &str) -> Events {
    const STARTED: [&str; 6] = [
        "Creating...",
        "Modifying...",
        "Replacing...",
        "Destroying...",
        "Removing from state...",
        "Adopting...",
    ];
    const ENDED: [&str; 7] = [
        "Creation complete",
        "Modifications complete",
        "Replacement complete",
        "Destruction complete",
        "Removed from state",
        "Adopted",
        "Error:",
    ];
    let mut out = Events::default();
    for line in stderr.lines() {
        let Some((address, what)) = line.split_once(": ") else {
            continue;
        };
        if STARTED.contains(&what) {
            out.started.insert(address.to_owned());
        } else if ENDED.iter().any(|e| what.starts_with(e)) {
            out.ended.insert(address.to_owned());
        } else if let Some(reason) = what.strip_prefix("Skipped") {
            out.skipped.insert(address.to_owned(), reason.to_owned());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_what_runs_and_starts_nothing_new() -> R<()> {
    let bench = Bench::start("eksmgr-e2e-sigterm-")?;
    let proxy = bench.proxy()?;
    let seed = bench.fresh()?;
    let baseline = inventory(bench.moto.endpoint(), &seed).await?;
    proxy.freeze_after_writes(20);
    let mut running = bench.eksmgr.spawn(&["apply", "--auto-approve"])?;
    running.wait_until("its 20th write", RUN_TIMEOUT, || proxy.frozen())?;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &running.pid().to_string()])
        .status()
        .map_err(err("kill -TERM"))?;
    ensure(kill.success(), || "kill -TERM failed".into())?;
    // The interrupt is taken once eksmgr says so (it stops starting operations before it
    // prints the line). Until the proxy thaws, no operation under way can complete, so none
    // can make room for a new one: what started so far is all the run may ever start.
    let said = running.wait_for_stderr(INTERRUPTED, RUN_TIMEOUT)?;
    let before = events(&running.stderr_so_far());
    proxy.thaw();
    let out = running.wait(RUN_TIMEOUT)?;
    ensure(said, || {
        format!("the apply never said it took the interrupt\n{out}")
    })?;
    let after = events(&out.stderr);

    // Nothing new: the operations started are the ones under way when the interrupt came.
    let new: Vec<&String> = after.started.difference(&before.started).collect();
    ensure(new.is_empty(), || {
        format!("operations started after the interrupt: {new:?}\n{out}")
    })?;
    // What ran finished: every operation started completed or failed.
    let unfinished: Vec<&String> = after.started.difference(&after.ended).collect();
    ensure(unfinished.is_empty(), || {
        format!("operations started but never finished: {unfinished:?}\n{out}")
    })?;
    // The rest is reported not started, and there was a rest: else the test shows nothing.
    let left_out: Vec<&String> = after
        .skipped
        .iter()
        .filter(|(_, reason)| reason.contains(NOT_STARTED))
        .map(|(address, _)| address)
        .collect();
    ensure(!left_out.is_empty(), || {
        format!("the interrupted apply left nothing out: the interrupt came too late\n{out}")
    })?;
    ensure(left_out.iter().all(|a| !after.started.contains(*a)), || {
        format!("an operation is both started and not started\n{out}")
    })?;
    ensure(out.code == Some(143), || {
        format!("an apply ended by SIGTERM exits 143\n{out}")
    })?;
    ensure(out.stdout.contains("The run was interrupted"), || {
        format!("the outcome says the run was interrupted\n{out}")
    })?;

    let dir = bench.dir.path();
    ensure(!dir.join("eksmgr.state.json.journal").exists(), || {
        "the journal was not compacted after the interrupt".into()
    })?;
    ensure(!dir.join("eksmgr.state.json.lock").exists(), || {
        "the lock was not released after the interrupt".into()
    })?;
    // State holds what completed and nothing else; AWS holds nothing state does not (the
    // spoke admin roles aside: the StackSet makes them, they are not resources of their own).
    let text = bench.read("eksmgr.state.json");
    let state: serde_json::Value = serde_json::from_str(&text).map_err(err("parse state"))?;
    let recorded: BTreeSet<String> = state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["address"].as_str().map(str::to_owned))
        .collect();
    ensure(!recorded.is_empty(), || {
        "nothing was recorded before the interrupt".into()
    })?;
    let not_recorded: Vec<&String> = left_out
        .iter()
        .copied()
        .filter(|a| recorded.contains(*a))
        .collect();
    ensure(not_recorded.is_empty(), || {
        format!("operations not started are in state: {not_recorded:?}")
    })?;
    let made = added(&baseline, &inventory(bench.moto.endpoint(), &seed).await?);
    let stack_set_made: BTreeSet<(String, String, String)> = seed
        .spoke_account_ids
        .iter()
        .enumerate()
        .map(|(i, _)| {
            (
                "iam_role".to_owned(),
                format!("spoke-{i}"),
                "EKSManagerAdmin".to_owned(),
            )
        })
        .collect();
    let lost = orphans(&made, &state_ids(&text, &seed)?, &stack_set_made);
    ensure(lost.is_empty(), || {
        format!("resources in AWS that state does not hold after the interrupt: {lost:#?}")
    })?;

    // The next apply finishes the rest; then nothing is left to do.
    bench.expect(&["apply", "--auto-approve"], 0)?;
    bench.expect(&["plan", "--detailed-exitcode"], 0)?;
    eprintln!(
        "sigterm: {} operations started before the interrupt, all finished ({} resources recorded in state), none started after it, {} reported not started; the next apply finished the rest",
        after.started.len(),
        recorded.len(),
        left_out.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried() -> R<()> {
    let bench = Bench::start("eksmgr-e2e-faults-")?;
    let proxy = bench.proxy()?;
    bench.fresh()?;
    // Every 4th request: throttled or a 503, in turn (a quarter of all requests).
    proxy.inject_faults(4);
    bench.expect(&["apply", "--auto-approve"], 0)?;
    bench.expect(&["plan", "--detailed-exitcode"], 0)?;
    let calls = proxy.calls();
    let injected = calls.iter().filter(|c| c.injected).count();
    ensure(
        injected == proxy.faults_injected() && injected >= 20,
        || {
            format!(
                "only {injected} faults were injected in {} calls",
                calls.len()
            )
        },
    )?;
    let statuses: BTreeSet<u16> = calls
        .iter()
        .filter(|c| c.injected)
        .map(|c| c.status)
        .collect();
    ensure(statuses == BTreeSet::from([400, 503]), || {
        format!("injected statuses {statuses:?}")
    })?;
    eprintln!(
        "fault injection: {injected} of {} requests ({:.0}%) answered with throttling or 503, each retried by the SDK; apply and the plan after it succeeded",
        calls.len(),
        100.0 * injected as f64 / calls.len() as f64
    );
    Ok(())
}

/// The secret access key eksmgr is given in the secrets test (moto takes any).
const STATIC_SECRET: &str = "eksmgr-e2e-static-secret-8c1f0b7e";

/// The verbosities a run's logs are checked at: none, `-v`, `-vv`, `-vvv` (eksmgr's crates at
/// trace and the AWS SDK's at debug: every request the SDK sends is logged).
const VERBOSITIES: [&[&str]; 4] = [&[], &["-v"], &["-vv"], &["-vvv"]];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_state_plans_or_output() -> R<()> {
    let mut bench = Bench::start("eksmgr-e2e-secrets-")?;
    // The flags alone set what is logged. The static secret key is one of its own, found
    // wherever it appears (the harness's, `testing`, is the access key id too, which the logs
    // may show).
    bench.eksmgr = bench
        .eksmgr
        .clone()
        .env("RUST_LOG", "")
        .env("AWS_SECRET_ACCESS_KEY", STATIC_SECRET);
    let proxy = bench.proxy()?;
    bench.fresh()?;
    // What every run wrote on stdout and stderr, byte for byte, by what was run.
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = |what: String, out: &Output| {
        let mut bytes = out.stdout_bytes.clone();
        bytes.extend_from_slice(&out.stderr_bytes);
        outputs.push((what, bytes));
    };
    // Each kind of run at each verbosity: the logs say most at -vvv.
    for verbosity in VERBOSITIES {
        for args in [
            &["plan", "--out", "saved.plan"][..],
            &["plan", "--json"],
            &["plan", "--format", "markdown"],
        ] {
            let args: Vec<&str> = verbosity.iter().chain(args).copied().collect();
            let out = bench.expect(&args, 0)?;
            // The logs are there to be checked: each flag's most verbose level shows.
            let levels: &[&str] = match verbosity.len() {
                0 => &[],
                1 => &[" INFO eksmgr"],
                2 => &[" DEBUG eksmgr"],
                _ => &[" TRACE eksmgr", " DEBUG aws_"],
            };
            for level in levels {
                ensure(contains(&out.stderr_bytes, level.as_bytes()), || {
                    format!("eksmgr {} logs no{level} line\n{out}", args.join(" "))
                })?;
            }
            record(args.join(" "), &out);
        }
    }
    // An apply killed half-way leaves its journal, its lock and an open intent behind.
    proxy.freeze_after_writes(10);
    let mut running = bench.eksmgr.spawn(&["-vvv", "apply", "--auto-approve"])?;
    let was_frozen = running
        .wait_until("its 10th write", RUN_TIMEOUT, || proxy.frozen())
        .is_ok();
    let killed = running.kill()?;
    proxy.thaw();
    ensure(was_frozen, || {
        format!("the apply ended before its 10th write\n{killed}")
    })?;
    record("-vvv apply (killed)".to_owned(), &killed);
    let mut files = work_files(&bench)?;
    ensure(files.iter().any(|(n, _)| n.ends_with(".journal")), || {
        format!(
            "no journal was left by the killed run: {:?}",
            files.iter().map(|f| &f.0).collect::<Vec<_>>()
        )
    })?;
    // The recovery: unlock (the lock is stale) and apply again, with every log.
    let stale = bench.run(&["-vvv", "apply", "--auto-approve"])?;
    record("-vvv apply (after the crash)".to_owned(), &stale);
    let id = stale
        .stderr
        .split("eksmgr unlock ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .ok_or_else(|| format!("the stale-lock message names no lock id\n{stale}"))?;
    record(
        "-vvv unlock".to_owned(),
        &bench.expect(&["-vvv", "unlock", id], 0)?,
    );
    for verbosity in VERBOSITIES {
        let apply: Vec<&str> = verbosity
            .iter()
            .chain(&["apply", "--auto-approve"])
            .copied()
            .collect();
        let out = bench.expect(&apply, 0)?;
        record(apply.join(" "), &out);
        let list: Vec<&str> = verbosity
            .iter()
            .chain(&["state", "list"])
            .copied()
            .collect();
        let out = bench.expect(&list, 0)?;
        record(list.join(" "), &out);
    }
    files.extend(work_files(&bench)?);

    let secrets = proxy.secrets_seen();
    ensure(!secrets.is_empty(), || {
        "moto handed out no credentials?".to_string()
    })?;
    let mut needles: Vec<&[u8]> = secrets.iter().map(String::as_bytes).collect();
    needles.push(STATIC_SECRET.as_bytes());
    for (what, bytes) in files.iter().chain(outputs.iter()) {
        for needle in needles.iter().copied() {
            ensure(!contains(bytes, needle), || {
                format!(
                    "a secret appears in {what}, in this line (the secret shown as <SECRET>):\n{}",
                    line_with(bytes, needle)
                )
            })?;
        }
    }
    eprintln!(
        "secrets: {} credentials handed out by STS, none in {} files or {} outputs (runs at no flag, -v, -vv and -vvv)",
        secrets.len(),
        files.len(),
        outputs.len()
    );
    Ok(())
}

/// Whether `needle` is somewhere in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first line of `haystack` holding `needle`, with `needle` masked (lossily decoded).
fn line_with(haystack: &[u8], needle: &[u8]) -> String {
    haystack
        .split(|b| *b == b'\n')
        .find(|line| contains(line, needle))
        .map(|line| {
            String::from_utf8_lossy(line)
                .replace(String::from_utf8_lossy(needle).as_ref(), "<SECRET>")
        })
        .unwrap_or_default()
}

/// Every file in the work directory (and below) with its bytes: one that cannot be read fails
/// the check. State, journal, lock and plan files must be private (no access for group or
/// others).
fn work_files(bench: &Bench) -> R<Vec<(String, Vec<u8>)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    let mut dirs = vec![bench.dir.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(err(format!("read directory {}", dir.display())))?;
        for entry in entries {
            let path = entry
                .map_err(err(format!("read directory {}", dir.display())))?
                .path();
            let meta = std::fs::symlink_metadata(&path)
                .map_err(err(format!("stat {}", path.display())))?;
            if meta.is_dir() {
                dirs.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).map_err(err(format!("read {}", path.display())))?;
            let name = path
                .strip_prefix(bench.dir.path())
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if name.starts_with("eksmgr.state.json") || name.ends_with(".plan") {
                let mode = meta.permissions().mode();
                ensure(mode & 0o077 == 0, || {
                    format!("{name} is mode {:o}", mode & 0o777)
                })?;
            }
            files.push((name, bytes));
        }
    }
    Ok(files)
}
