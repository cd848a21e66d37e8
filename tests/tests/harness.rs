//! Smoke test of the end-to-end harness itself: moto starts, the seed script builds the
//! organization, the SDK helpers see it, and an assumed-role config acts in the member
//! account rather than in the management account; the proxy's injected latency delays
//! concurrent requests concurrently, not one after the other.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use aws_sdk_organizations::types::ChildType;
use eksmgr_e2e::check::ensure;
use eksmgr_e2e::proxy::Proxy;
use eksmgr_e2e::{MotoServer, assume, env_for, sdk_config};

fn err<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{context}: {e}")
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_starts_seeds_and_assumes_roles() -> Result<(), String> {
    let moto = MotoServer::start()?;
    let seed = moto.seed(2)?;
    assert_eq!(seed.management_account_id, "123456789012");
    assert_eq!(seed.region, "us-east-1");
    assert_eq!(seed.spoke_account_ids.len(), 2);
    assert!(seed.root_id.starts_with("r-"), "{seed:?}");
    for id in seed
        .spoke_account_ids
        .iter()
        .chain(std::iter::once(&seed.hub_account_id))
    {
        assert!(
            id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
    }

    // The eks OU holds exactly the two spokes; the shared OU the hub.
    let mgmt = sdk_config(moto.endpoint());
    let org = aws_sdk_organizations::Client::new(&mgmt);
    let accounts_in = |ou: String| {
        let org = org.clone();
        async move {
            let mut ids: Vec<String> = org
                .list_accounts_for_parent()
                .parent_id(ou)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| format!("ListAccountsForParent: {e:?}"))?
                .into_iter()
                .flat_map(|page| page.accounts.unwrap_or_default())
                .filter_map(|a| a.id)
                .collect();
            ids.sort();
            Ok::<_, String>(ids)
        }
    };
    let mut spokes = seed.spoke_account_ids.clone();
    spokes.sort();
    assert_eq!(accounts_in(seed.eks_ou_id.clone()).await?, spokes);
    assert_eq!(
        accounts_in(seed.shared_ou_id.clone()).await?,
        vec![seed.hub_account_id.clone()]
    );
    let ous = org
        .list_children()
        .parent_id(&seed.root_id)
        .child_type(ChildType::OrganizationalUnit)
        .send()
        .await
        .map_err(err("ListChildren"))?;
    assert_eq!(ous.children().len(), 2);

    // One more spoke lands in the eks OU.
    let third = moto.add_spoke()?;
    assert_eq!(third.name, "spoke-3");
    assert!(
        accounts_in(seed.eks_ou_id.clone())
            .await?
            .contains(&third.account_id)
    );

    // Assumed credentials act in the member account.
    let spoke = &seed.spoke_account_ids[0];
    let member = assume(moto.endpoint(), spoke, "OrganizationAccountAccessRole").await?;
    let who = aws_sdk_sts::Client::new(&member)
        .get_caller_identity()
        .send()
        .await
        .map_err(err("GetCallerIdentity"))?;
    assert_eq!(who.account(), Some(spoke.as_str()));

    let role = "eksmgr-e2e-probe";
    aws_sdk_iam::Client::new(&member)
        .create_role()
        .role_name(role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .map_err(err("CreateRole in the member account"))?;
    let role_names = |config: aws_config::SdkConfig| async move {
        let roles = aws_sdk_iam::Client::new(&config)
            .list_roles()
            .send()
            .await
            .map_err(|e| format!("ListRoles: {e:?}"))?;
        Ok::<_, String>(
            roles
                .roles()
                .iter()
                .map(|r| r.role_name().to_owned())
                .collect::<Vec<_>>(),
        )
    };
    assert!(role_names(member.clone()).await?.iter().any(|r| r == role));
    assert!(!role_names(mgmt.clone()).await?.iter().any(|r| r == role));

    // The management config really is the management account.
    let who = aws_sdk_sts::Client::new(&mgmt)
        .get_caller_identity()
        .send()
        .await
        .map_err(err("GetCallerIdentity"))?;
    assert_eq!(who.account(), Some("123456789012"));

    // reset clears everything.
    moto.reset()?;
    let after = org.list_roots().send().await;
    assert!(
        after.is_err(),
        "the organization should be gone after reset"
    );
    Ok(())
}

#[test]
fn env_for_targets_the_emulator() {
    let env = env_for("http://127.0.0.1:9");
    assert!(env.contains(&("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into())));
    assert!(env.contains(&("AWS_EC2_METADATA_DISABLED".into(), "true".into())));
    assert!(env.contains(&("AWS_ACCESS_KEY_ID".into(), "testing".into())));
}

#[test]
fn servers_are_independent_and_stop_on_drop() -> Result<(), String> {
    let a = MotoServer::start()?;
    let b = MotoServer::start()?;
    assert_ne!(a.port(), b.port());
    a.seed(1)?;
    // b is fresh: seeding it works too.
    b.seed(0)?;
    let port = a.port();
    drop(a);
    let gone = std::net::TcpStream::connect(("127.0.0.1", port)).is_err();
    assert!(gone, "moto_server should stop listening once dropped");
    Ok(())
}

#[cfg(unix)]
#[test]
fn runner_passes_args_env_and_exit_code() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().map_err(err("tempdir"))?;
    let script = dir.path().join("fake-eksmgr");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         echo \"args:$*\"\n\
         echo \"cwd:$(pwd)\"\n\
         env | grep -E '^(AWS_|NO_COLOR)' | sort\n\
         read line && echo \"stdin:$line\"\n\
         echo oops >&2\n\
         exit 2\n",
    )
    .map_err(err("write script"))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(err("chmod"))?;
    let workdir = dir.path().join("work");
    std::fs::create_dir(&workdir).map_err(err("mkdir"))?;

    let eksmgr = eksmgr_e2e::Eksmgr::with_binary(&script, &workdir, "http://127.0.0.1:9")
        .env("EKSMGR_EXTRA", "1");
    let config = eksmgr.write_config("[organization]\n")?;
    assert_eq!(config, workdir.join("eksmgr.toml"));
    let out = eksmgr.run(&["plan", "--detailed-exitcode"])?;
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stdout.contains("args:plan --detailed-exitcode"),
        "{out}"
    );
    assert!(
        out.stdout.contains("AWS_ENDPOINT_URL=http://127.0.0.1:9"),
        "{out}"
    );
    assert!(out.stdout.contains("NO_COLOR=1"), "{out}");
    assert!(!out.stdout.contains("stdin:"), "stdin must be null: {out}");
    assert!(
        out.stdout.contains(&format!("cwd:{}", workdir.display())),
        "{out}"
    );
    assert_eq!(out.stderr.trim(), "oops");
    Ok(())
}

/// A loopback upstream answering `200 ok` at once to every request, a thread per connection.
fn instant_upstream() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(err("bind"))?;
    let addr = listener.local_addr().map_err(err("local_addr"))?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                // The proxy's requests in this test have no body: the head is the request.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
                );
                let _ = stream.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    Ok(addr)
}

/// One `GET` through the proxy on its own connection; the response.
fn get_through(proxy: &Proxy, path: &str) -> Result<String, String> {
    let port: u16 = proxy
        .endpoint()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no port in {}", proxy.endpoint()))?;
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(err("connect"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(err("set_read_timeout"))?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .map_err(err("write"))?;
    let mut out = String::new();
    stream.read_to_string(&mut out).map_err(err("read"))?;
    Ok(out)
}

#[test]
fn proxy_latency_is_per_request_and_concurrent() -> Result<(), String> {
    const N: u32 = 16;
    const LATENCY: Duration = Duration::from_millis(50);
    let upstream = instant_upstream()?;
    let proxy = Proxy::start(&format!("http://127.0.0.1:{}", upstream.port()))?;

    // Without latency a request is quick (a loopback round trip).
    let started = Instant::now();
    ensure(
        get_through(&proxy, "/warm")?.starts_with("HTTP/1.1 200"),
        || "the warm-up request failed".into(),
    )?;
    let unloaded = started.elapsed();

    proxy.set_latency(LATENCY);
    ensure(proxy.latency() == LATENCY, || "latency not kept".into())?;
    proxy.reset_counts();

    // One request: at least the delay.
    let started = Instant::now();
    get_through(&proxy, "/one")?;
    let one = started.elapsed();
    ensure(one >= LATENCY, || {
        format!("one request took {one:?}, less than the {LATENCY:?} latency")
    })?;

    // N requests at once: each waits its own delay, concurrently.
    let started = Instant::now();
    let answers: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let proxy = &proxy;
                scope.spawn(move || get_through(proxy, &format!("/parallel/{i}")))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    let parallel = started.elapsed();
    for answer in answers {
        let answer = answer?;
        ensure(answer.starts_with("HTTP/1.1 200"), || answer.clone())?;
    }
    ensure(parallel >= LATENCY, || {
        format!("{N} parallel requests took {parallel:?}, less than the {LATENCY:?} latency")
    })?;
    // Serialised, they would take N x 50 ms = 800 ms; concurrent, about 50 ms. Generous bound.
    let serial = LATENCY * N;
    ensure(parallel < serial / 2, || {
        format!(
            "{N} parallel requests took {parallel:?}: the latency is applied one request after \
             another (serial would be {serial:?}; one request unloaded took {unloaded:?})"
        )
    })?;

    // Every call records when it was received and answered, at least the latency apart.
    let calls = proxy.calls();
    ensure(calls.len() == N as usize + 1, || {
        format!("expected {} calls, saw {calls:?}", N + 1)
    })?;
    for call in &calls {
        let held = call.answered.saturating_sub(call.received);
        ensure(held >= LATENCY && call.answered <= proxy.now(), || {
            format!("{call:?} was held {held:?}, not the {LATENCY:?} latency")
        })?;
    }

    // Switched off, the proxy holds requests no longer: measured by the proxy itself, from
    // receiving the request to having its answer, so a busy machine's scheduling of this test's
    // client does not count.
    proxy.set_latency(Duration::ZERO);
    get_through(&proxy, "/after")?;
    let calls = proxy.calls();
    let after = calls.last().ok_or("the last call was not recorded")?;
    let held = after.answered.saturating_sub(after.received);
    ensure(held < LATENCY, || {
        format!("with the latency off the proxy still held {after:?} for {held:?}")
    })?;
    Ok(())
}
