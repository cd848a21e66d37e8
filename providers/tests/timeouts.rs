//! The timeouts every SDK client gets, through the real configuration path of the caller's
//! credentials: an endpoint that accepts the connection and never answers ends the call within
//! the bound (30 s per attempt, 120 s per call) with an error naming the call, instead of
//! hanging the run. Before, `eksmgr plan` against such an endpoint printed nothing for minutes:
//! the caller's configuration had no timeout, and discovery's STS client used it. The clock is
//! tokio's paused test clock, so the test takes no real time.

#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use eksmgr_providers::{caller, discovery};

/// A listener that accepts connections and holds them without ever answering.
fn silent_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
    });
    format!("http://{addr}")
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_that_never_answers_fails_the_call_within_the_bound() {
    let endpoint = silent_endpoint();
    let base = caller::with_timeouts(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "timeouts"))
            .endpoint_url(&endpoint),
    )
    .load()
    .await;
    let started = tokio::time::Instant::now();
    // Without the timeouts the call would wait for ever: the test gives up after 10 minutes.
    let err = tokio::time::timeout(Duration::from_secs(600), discovery::discover(&base, None))
        .await
        .expect("the call must end by itself, within its timeout")
        .expect_err("a silent endpoint must fail the call");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited <= Duration::from_secs(121),
        "waited {waited:?}"
    );
    assert_eq!(err.api_call, "sts:GetCallerIdentity");
    assert!(err.message.contains("timed out"), "{err}");
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("AWS_ENDPOINT_URL")),
        "{err}"
    );
}
