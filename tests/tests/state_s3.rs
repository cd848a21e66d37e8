//! End-to-end tests of the S3 state backend (`[state] backend = "s3"`) through the real binary
//! against moto's S3:
//!
//! - `state migrate` copies a local state into S3 keeping its lineage; plans and applies then
//!   read and write the S3 object (the local file is left alone), leave no lock or journal
//!   object behind, and `state migrate --from s3://...` copies it back; a destination holding
//!   another state is refused without `--force`;
//! - runs racing for the lock: of four plans started at once (each made slow by the test
//!   proxy's latency, so they overlap), exactly one takes the lock and the others are told who
//!   holds it; a lock left by a run that is gone is named and removed with `eksmgr unlock ID`;
//! - an apply killed mid-way leaves its journal in S3 (in numbered parts, each line uploaded
//!   once), and the next run, on another machine (another work directory, no local files),
//!   replays it: nothing is created twice;
//! - `[state] role_arn`: every state call is made with the role's credentials (assumed once a
//!   run), and a role that cannot be assumed stops the run before anything is read.
//!
//! moto checks S3's conditional writes in two steps; the emulator started by the harness
//! (`scripts/emulator/eksmgr_moto.py`) makes them atomic, as they are in S3.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::{Estate, registry_config};
use eksmgr_e2e::proxy::Proxy;
use eksmgr_e2e::{Eksmgr, Output, sdk_config};
use serde_json::Value;

use eksmgr_e2e::R;

const BUCKET: &str = "platform-eksmgr-state";
const KEY: &str = "estates/prod/eksmgr.state.json";

fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(endpoint))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn create_bucket(client: &aws_sdk_s3::Client) -> R {
    client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map(|_| ())
        .map_err(sdk_err("s3:CreateBucket"))
}

/// The object `key`, or `None` when there is none.
async fn object(client: &aws_sdk_s3::Client, key: &str) -> R<Option<Vec<u8>>> {
    match client.get_object().bucket(BUCKET).key(key).send().await {
        Ok(out) => Ok(Some(
            out.body
                .collect()
                .await
                .map_err(err("read object"))?
                .into_bytes()
                .to_vec(),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(sdk_err(format!("s3:GetObject {key}"))(e)),
    }
}

/// The S3 state, parsed.
async fn remote_state(client: &aws_sdk_s3::Client) -> R<Value> {
    let body = object(client, KEY)
        .await?
        .ok_or_else(|| format!("no state object s3://{BUCKET}/{KEY}"))?;
    serde_json::from_slice(&body).map_err(err("parse the S3 state"))
}

/// The keys of the bucket that start with `prefix`, sorted.
async fn keys(client: &aws_sdk_s3::Client, prefix: &str) -> R<Vec<String>> {
    let out = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .map_err(sdk_err("s3:ListObjectsV2"))?;
    let mut keys: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    Ok(keys)
}

/// Neither a lock nor a journal part is left in the bucket.
async fn nothing_left_behind(client: &aws_sdk_s3::Client, after: &str) -> R {
    let left = keys(client, &format!("{KEY}.")).await?;
    ensure(left.is_empty(), || {
        format!("left behind in s3://{BUCKET} after {after}: {left:?}")
    })
}

fn addresses(state: &Value) -> Vec<String> {
    let mut out: Vec<String> = state["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["address"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn local_state(estate: &Estate, name: &str) -> R<Value> {
    let path = estate.dir.path().join(name);
    let text = std::fs::read_to_string(&path).map_err(err(format!("read {}", path.display())))?;
    serde_json::from_str(&text).map_err(err(format!("parse {}", path.display())))
}

/// The addresses of the operations an apply's stderr says completed
/// (`ADDRESS: Creation complete after 0s [id=...]`).
fn completed_operations(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(_, what)| what.starts_with("Creation complete"))
        .map(|(address, _)| address.to_owned())
        .collect()
}

/// The addresses of the records (`put` lines) of the journal parts in S3.
async fn uploaded_operations(client: &aws_sdk_s3::Client) -> R<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for key in keys(client, &format!("{KEY}.journal.")).await? {
        let body = object(client, &key).await?.unwrap_or_default();
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let entry: Value =
                serde_json::from_slice(line).map_err(err(format!("parse a line of {key}")))?;
            if entry["op"] == "put"
                && let Some(address) = entry["record"]["address"].as_str()
            {
                out.insert(address.to_owned());
            }
        }
    }
    Ok(out)
}

fn s3_section() -> String {
    format!("\n[state]\nbackend = \"s3\"\nbucket = \"{BUCKET}\"\nkey = \"{KEY}\"\n")
}

fn listed(out: &Output) -> Vec<String> {
    let mut v: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_state_moves_to_s3_is_used_there_and_comes_back() -> R {
    let estate = Estate::start("eksmgr-e2e-s3-", 1)?;
    let client = s3(estate.moto.endpoint());
    create_bucket(&client).await?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let local = local_state(&estate, "eksmgr.state.json")?;

    // Into S3: same lineage, same records.
    let base = registry_config(&estate.seed, &[]);
    estate
        .eksmgr
        .write_config(&format!("{base}{}", s3_section()))?;
    let out = estate.expect(&["state", "migrate"], 0)?;
    ensure(out.stdout.contains("Migrated the state"), || {
        format!("{out}")
    })?;
    let remote = remote_state(&client).await?;
    ensure(remote["lineage"] == local["lineage"], || {
        format!(
            "the lineage is kept: {} vs {}",
            remote["lineage"], local["lineage"]
        )
    })?;
    ensure(addresses(&remote) == addresses(&local), || {
        format!(
            "the records are copied: {:?} vs {:?}",
            addresses(&remote),
            addresses(&local)
        )
    })?;
    nothing_left_behind(&client, "state migrate").await?;

    // Used from there: a clean plan, the same list; migrating again has nothing to do.
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    let list = listed(&estate.expect(&["state", "list"], 0)?);
    ensure(list == addresses(&local), || {
        format!("state list reads S3: {list:?}")
    })?;
    // The S3 client takes the caller's credentials as --profile names them.
    let no_profile = estate.expect(&["state", "list", "--profile", "no-such-profile"], 1)?;
    ensure(no_profile.stderr.contains("no-such-profile"), || {
        format!("the S3 state is read with --profile's credentials\n{no_profile}")
    })?;
    let again = estate.expect(&["state", "migrate"], 0)?;
    ensure(again.stdout.contains("holds this state already"), || {
        format!("{again}")
    })?;

    // An apply writes S3, not the local file, and leaves neither lock nor journal.
    estate.eksmgr.write_config(&format!(
        "{}{}",
        registry_config(&estate.seed, &["platform/web"]),
        s3_section()
    ))?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let applied = remote_state(&client).await?;
    let web = format!("ecr_repository.platform/web[{}/us-east-1]", estate.hub());
    ensure(addresses(&applied).contains(&web), || {
        format!("the S3 state records {web}: {:?}", addresses(&applied))
    })?;
    ensure(
        applied["serial"].as_u64() > remote["serial"].as_u64(),
        || "the serial grows".to_owned(),
    )?;
    ensure(local_state(&estate, "eksmgr.state.json")? == local, || {
        "the local file is left as it was".to_owned()
    })?;
    nothing_left_behind(&client, "apply").await?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;

    // --state names a local file: refused while the configuration says S3.
    let refused = estate.expect(&["plan", "--state", "other.json"], 1)?;
    ensure(refused.stderr.contains("keeps the state in S3"), || {
        format!("{refused}")
    })?;

    // And back to a local file.
    let back = format!(
        "{}\n[state]\npath = \"back.state.json\"\n",
        registry_config(&estate.seed, &["platform/web"])
    );
    estate.eksmgr.write_config(&back)?;
    estate.expect(
        &[
            "state",
            "migrate",
            "--from",
            &format!("s3://{BUCKET}/{KEY}"),
        ],
        0,
    )?;
    let returned = local_state(&estate, "back.state.json")?;
    ensure(
        returned["lineage"] == local["lineage"] && addresses(&returned) == addresses(&applied),
        || "the state comes back whole".to_owned(),
    )?;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(estate.dir.path().join("back.state.json"))
            .map_err(err("stat back.state.json"))?
            .permissions(),
    );
    ensure(mode & 0o777 == 0o600, || format!("mode {mode:o}"))?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;

    // A destination that holds another state is refused, unless forced.
    let mut other = returned.clone();
    other["lineage"] = Value::String("00000000-0000-4000-8000-000000000000".into());
    estate.eksmgr.write_file(
        "other.state.json",
        &serde_json::to_string(&other).map_err(err("serialise"))?,
    )?;
    let refused = estate.expect(&["state", "migrate", "--from", "other.state.json"], 1)?;
    ensure(
        refused.stderr.contains("holds another state") && refused.stderr.contains("--force"),
        || format!("{refused}"),
    )?;
    ensure(
        local_state(&estate, "back.state.json")?["lineage"] == local["lineage"],
        || "a refused migration changes nothing".to_owned(),
    )?;
    estate.expect(
        &["state", "migrate", "--from", "other.state.json", "--force"],
        0,
    )?;
    ensure(
        local_state(&estate, "back.state.json")?["lineage"] == other["lineage"],
        || "--force replaces it".to_owned(),
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_racing_for_the_s3_lock_one_wins_and_a_dead_runs_lock_is_removed() -> R {
    let estate = Estate::start("eksmgr-e2e-s3-lock-", 1)?;
    let client = s3(estate.moto.endpoint());
    create_bucket(&client).await?;
    estate.eksmgr.write_config(&format!(
        "{}{}",
        registry_config(&estate.seed, &[]),
        s3_section()
    ))?;
    estate.expect(&["apply", "--auto-approve"], 0)?;

    // Every call held 150 ms: a plan takes seconds, so runs started together overlap.
    let proxy = Proxy::start(estate.moto.endpoint())?;
    proxy.set_latency(Duration::from_millis(150));
    let slow = Eksmgr::new(estate.dir.path(), proxy.endpoint())?.timeout(Duration::from_secs(120));
    let runs = (0..4)
        .map(|_| slow.spawn(&["plan", "--detailed-exitcode"]))
        .collect::<R<Vec<_>>>()?;
    let outs = runs
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(120)))
        .collect::<R<Vec<_>>>()?;
    let won: Vec<&Output> = outs.iter().filter(|o| o.code == Some(0)).collect();
    let lost: Vec<&Output> = outs.iter().filter(|o| o.code == Some(1)).collect();
    let all = || {
        outs.iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    ensure(won.len() == 1 && lost.len() == 3, || {
        format!("exactly one run takes the lock\n{}", all())
    })?;
    for o in &lost {
        ensure(
            o.stderr.contains("state is locked by `eksmgr plan`")
                && o.stderr.contains(&format!("s3://{BUCKET}/{KEY}.lock"))
                && o.stderr.contains("eksmgr unlock"),
            || format!("the loser is told who holds the lock and where\n{o}"),
        )?;
    }
    let puts = proxy
        .calls()
        .iter()
        .filter(|c| c.qualified().contains("PUT") && c.qualified().contains(".lock"))
        .count();
    ensure(puts >= 4, || {
        format!("every run tried to write the lock: {:?}", proxy.counts())
    })?;
    nothing_left_behind(&client, "the race").await?;

    // A lock left by a run on another machine: named, kept, and removed by its id only.
    let lock = serde_json::json!({
        "id": "5f0c2a3e-0000-4000-8000-00000000abcd",
        "pid": 4242,
        "host": "ci-runner-7",
        "user": "builder",
        "command": "eksmgr apply",
        "created": "2026-12-01T10:00:00Z",
        "version": "0.1.0"
    });
    client
        .put_object()
        .bucket(BUCKET)
        .key(format!("{KEY}.lock"))
        .body(ByteStream::from(lock.to_string().into_bytes()))
        .send()
        .await
        .map_err(sdk_err("s3:PutObject lock"))?;
    let blocked = estate.expect(&["plan"], 1)?;
    ensure(
        blocked.stderr.contains("state is locked by `eksmgr apply`")
            && blocked.stderr.contains("host ci-runner-7")
            && blocked
                .stderr
                .contains("5f0c2a3e-0000-4000-8000-00000000abcd"),
        || format!("{blocked}"),
    )?;
    let wrong = estate.expect(&["unlock", "not-the-id"], 1)?;
    ensure(wrong.stderr.contains("does not match"), || {
        format!("{wrong}")
    })?;
    ensure(
        object(&client, &format!("{KEY}.lock")).await?.is_some(),
        || "a wrong id removes nothing".to_owned(),
    )?;
    estate.expect(&["unlock", "5f0c2a3e-0000-4000-8000-00000000abcd"], 0)?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    nothing_left_behind(&client, "unlock and plan").await?;
    let not_locked = estate.expect(&["unlock", "5f0c2a3e-0000-4000-8000-00000000abcd"], 1)?;
    ensure(not_locked.stderr.contains("not locked"), || {
        format!("{not_locked}")
    })?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_mid_way_is_finished_from_another_machine() -> R {
    let estate = Estate::start("eksmgr-e2e-s3-crash-", 1)?;
    let client = s3(estate.moto.endpoint());
    create_bucket(&client).await?;
    let config = format!(
        "{}{}",
        registry_config(&estate.seed, &["platform/web", "platform/worker"]),
        s3_section()
    );
    estate.eksmgr.write_config(&config)?;

    // The eighth AWS write reaches moto and its answer is held: kill the run there. S3 (the
    // state) is reached directly, so the journal keeps being uploaded meanwhile. Not earlier:
    // an operation takes several calls (a repository is created, then described and given its
    // policy; a role is created, then given its policies) and the first writes are the first
    // calls of operations started side by side, so at the third write none has completed and
    // the journal holds only intents.
    let proxy = Proxy::start(estate.moto.endpoint())?;
    proxy.freeze_after_writes(8);
    let first = Eksmgr::new(estate.dir.path(), proxy.endpoint())?
        .timeout(Duration::from_secs(120))
        .env("AWS_ENDPOINT_URL_S3", estate.moto.endpoint());
    let mut run = first.spawn(&["apply", "--auto-approve"])?;
    let started = std::time::Instant::now();
    while !proxy.frozen() && started.elapsed() < Duration::from_secs(60) && !run.exited() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure(proxy.frozen(), || {
        "the apply reached its eighth write".to_owned()
    })?;
    // Kill once the journal in S3 holds every operation completed so far (none completes
    // while the proxy holds the answers): the uploads of a dying run lose nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let completed = loop {
        let completed = completed_operations(&run.stderr_so_far());
        let uploaded = uploaded_operations(&client).await?;
        if !completed.is_empty() && completed.is_subset(&uploaded) {
            break completed;
        }
        if run.exited() || std::time::Instant::now() >= deadline {
            let out = run.kill()?;
            return Err(format!(
                "the journal in S3 never held every completed operation: completed {completed:?}, uploaded {uploaded:?}\n{out}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let killed = run.kill()?;
    proxy.thaw();
    // The journal is in parts named by the serial it continues; each line is sent once.
    let serial = remote_state(&client).await?["serial"].clone();
    let parts = keys(&client, &format!("{KEY}.journal.")).await?;
    ensure(
        !parts.is_empty()
            && parts
                .iter()
                .enumerate()
                .all(|(i, k)| *k == format!("{KEY}.journal.{serial}.{i:06}")),
        || {
            format!(
                "the killed apply left its journal in S3, in numbered parts: {parts:?}\n{killed}"
            )
        },
    )?;
    let mut lines = Vec::new();
    for key in &parts {
        let body = object(&client, key).await?.unwrap_or_default();
        let text = String::from_utf8(body).map_err(err("journal part as UTF-8"))?;
        ensure(text.ends_with('\n'), || {
            format!("{key} holds whole lines only: {text:?}")
        })?;
        lines.extend(text.lines().map(str::to_owned));
    }
    ensure(
        lines
            .first()
            .is_some_and(|l| l.contains("\"op\":\"begin\"")),
        || format!("the first part starts with the journal's header: {lines:?}"),
    )?;
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    ensure(unique.len() == lines.len(), || {
        format!("no line is uploaded twice: {lines:#?}")
    })?;

    // Another machine: a new work directory with the configuration only.
    let other_dir = tempfile::Builder::new()
        .prefix("eksmgr-e2e-s3-other-")
        .tempdir()
        .map_err(err("tempdir"))?;
    let other =
        Eksmgr::new(other_dir.path(), estate.moto.endpoint())?.timeout(Duration::from_secs(120));
    other.write_config(&config)?;
    let blocked = other.run(&["apply", "--auto-approve"])?;
    ensure(
        blocked.code == Some(1) && blocked.stderr.contains("eksmgr unlock "),
        || format!("the killed run's lock is still there\n{blocked}"),
    )?;
    let id = blocked
        .stderr
        .split("eksmgr unlock ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .ok_or_else(|| format!("no lock id in\n{blocked}"))?
        .to_owned();
    ensure(other.run(&["unlock", &id])?.code == Some(0), || {
        "unlock".to_owned()
    })?;
    // The S3 state object holds no record yet (it was saved empty when the apply began): what
    // the other machine lists comes from the journal.
    ensure(addresses(&remote_state(&client).await?).is_empty(), || {
        "the state object itself is still empty".to_owned()
    })?;
    let replayed = other.run(&["state", "list"])?;
    let listed_there: BTreeSet<String> = listed(&replayed).into_iter().collect();
    ensure(
        replayed.code == Some(0) && completed.is_subset(&listed_there),
        || {
            format!(
                "the journal's records of every completed operation ({completed:?}) are replayed on the other machine\n{replayed}"
            )
        },
    )?;
    let plan = other.run(&["plan"])?;
    ensure(plan.code == Some(0), || format!("{plan}"))?;
    let applied = other.run(&["apply", "--auto-approve"])?;
    ensure(applied.code == Some(0), || format!("{applied}"))?;
    let finished = remote_state(&client).await?;
    let state_after = addresses(&finished);
    for repo in ["platform/api", "platform/web", "platform/worker"] {
        let address = format!("ecr_repository.{repo}[{}/us-east-1]", estate.hub());
        ensure(state_after.contains(&address), || {
            format!("{address} in the S3 state: {state_after:?}")
        })?;
    }
    nothing_left_behind(&client, "the recovery").await?;
    let clean = other.run(&["plan", "--detailed-exitcode"])?;
    ensure(clean.code == Some(0), || format!("{clean}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_in_another_account_is_reached_through_the_state_role() -> R {
    let estate = Estate::start("eksmgr-e2e-s3-role-", 1)?;
    let client = s3(estate.moto.endpoint());
    create_bucket(&client).await?;
    // The security account that holds the bucket; moto lets any role be assumed there.
    let role = "arn:aws:iam::999999999999:role/EksmgrStateAccess";
    estate.eksmgr.write_config(&format!(
        "{}{}role_arn = \"{role}\"\n",
        registry_config(&estate.seed, &["platform/web"]),
        s3_section()
    ))?;
    let proxy = Proxy::start(estate.moto.endpoint())?;
    let through = Eksmgr::new(estate.dir.path(), proxy.endpoint())?;
    let applied = through.run(&["apply", "--auto-approve"])?;
    ensure(applied.code == Some(0), || format!("{applied}"))?;
    ensure(!addresses(&remote_state(&client).await?).is_empty(), || {
        "the apply wrote the S3 state".to_owned()
    })?;

    // Every state call is signed with the role's keys, and the role is assumed once a run.
    let calls = proxy.calls();
    let s3_calls: Vec<_> = calls.iter().filter(|c| c.service == "s3").collect();
    let state_role: Vec<_> = calls
        .iter()
        .filter(|c| c.role_arn.as_deref() == Some(role))
        .collect();
    ensure(
        !s3_calls.is_empty()
            && s3_calls
                .iter()
                .all(|c| c.access_key_id.as_deref().is_some_and(|k| k != "testing")),
        || {
            format!(
                "the state calls use the role's credentials, not the caller's: {:?}",
                s3_calls
                    .iter()
                    .map(|c| (c.qualified(), c.access_key_id.clone()))
                    .collect::<Vec<_>>()
            )
        },
    )?;
    ensure(state_role.len() == 1, || {
        format!("the state role is assumed once: {}", state_role.len())
    })?;

    // A role that cannot be assumed: the run stops before anything is read, naming it.
    proxy.deny_assume_role("999999999999");
    let refused = through.run(&["plan"])?;
    ensure(
        refused.code == Some(1)
            && refused.stderr.contains("sts:AssumeRole")
            && refused.stderr.contains(role)
            && refused.stderr.contains("[state] role_arn"),
        || format!("a state role that cannot be assumed is named, with a hint\n{refused}"),
    )?;
    nothing_left_behind(&client, "a refused role").await
}
