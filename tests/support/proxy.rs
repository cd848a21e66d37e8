//! A loopback HTTP/1.1 forwarder in front of a moto server that counts the API calls going
//! through it and can inject faults. HTTP is hyper's: it serves the client and forwards to
//! moto; this module only decides what to do with each request.
//!
//! eksmgr is pointed at the proxy through `AWS_ENDPOINT_URL` (`Eksmgr::env`); every request
//! is recorded ([`Call`]: service, action, access key id, the `RoleArn` of an STS
//! `AssumeRole`, the status answered) and forwarded to moto on a fresh connection with
//! `Connection: close`; the response is relayed whole, so the client may keep its connection
//! alive.
//!
//! How the action is recognised:
//!
//! * query protocols (STS, IAM, CloudFormation): the form body's `Action=...`;
//! * JSON protocols (Organizations, KMS, ECR): the `X-Amz-Target: Service.Operation` header
//!   (the action is the operation, the part after the last `.`);
//! * REST-JSON (EKS): `METHOD path`, e.g. `GET /clusters/workloads` (query string left out).
//!
//! The service is the one named in the SigV4 credential scope of the `Authorization` header.
//!
//! Faults: [`Proxy::deny_assume_role`] answers any `sts:AssumeRole` of a role in an account
//! with HTTP 403 and STS's `AccessDenied` XML error, as AWS does when the role does not trust
//! the caller. [`Proxy::reject_credentials`] answers every request signed with an access key
//! id with HTTP 403 and STS's `InvalidClientTokenId` XML error, as STS does for a key it does
//! not know (moto, checking credentials, answers in another XML shape that the SDK cannot
//! read). [`Proxy::inject_faults`] answers every n-th first attempt of a call (a retry,
//! `amz-sdk-request: attempt=2` and later, always goes through), without forwarding it,
//! with throttling (HTTP 400 `Throttling` / `ThrottlingException` in the protocol's error
//! shape) or a server error (HTTP 503), in turn, as AWS does under load.
//!
//! Crashes: [`Proxy::freeze_after_writes`] lets the n-th write call (anything but a read:
//! `Get*`, `List*`, `Describe*`, `AssumeRole`, REST `GET`) reach moto, then holds its answer
//! and every later request: AWS has done the work and the client does not know it. The test
//! kills the client while it is frozen, the worst moment for a crash, then calls
//! [`Proxy::thaw`] (the held answer is never sent: its connection is closed). [`Proxy::freeze`]
//! holds every request from now on ([`Proxy::held`] counts them): a run that is reading AWS
//! waits there while the test interrupts it.
//!
//! Latency: [`Proxy::set_latency`] holds every request for a fixed delay once it has been
//! read, before it is answered (forwarded to moto, or answered with an injected fault), as a
//! network round trip to AWS would. Each connection is served by its own task, so requests in
//! flight at once each wait their own delay, concurrently: `n` parallel requests take about one
//! delay, `n` sequential ones `n` delays. Every [`Call`] records when the proxy received it and
//! when its answer was ready ([`Call::received`], [`Call::answered`], measured from the
//! proxy's start; [`Proxy::now`] is the same clock), so a test or a benchmark can see which
//! calls overlapped and which waited for others.
//!
//! Secrets: the credentials moto hands out in `AssumeRole` answers are remembered
//! ([`Proxy::secrets_seen`]), so a test can check they appear in no file or log.
//!
//! Bounded: the proxy listens on 127.0.0.1 only and forwards only to the loopback endpoint
//! it was started with. It runs its own Tokio runtime on its own thread (so it works from
//! synchronous and asynchronous tests alike) and stops when dropped. It never panics on bad
//! input: hyper answers a request it cannot read with 400, and a body over 64 MiB is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Longest body accepted either way.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long moto may take to answer one request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// Request headers for one hop only, not forwarded to moto (hyper frames the body anew).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "expect",
    "te",
    "upgrade",
    "transfer-encoding",
    "content-length",
];

/// One API call seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The signing name of the service (`sts`, `iam`, `eks` ...), from the credential scope
    /// of the `Authorization` header; empty when unsigned.
    pub service: String,
    /// The API action: `AssumeRole`, `ListAccountsForParent`, or `GET /clusters/workloads`
    /// for REST protocols.
    pub action: String,
    /// The access key id the request was signed with (moto maps it to an account).
    pub access_key_id: Option<String>,
    /// For `AssumeRole`: the role asked for.
    pub role_arn: Option<String>,
    /// The HTTP status answered to the client (403 for an injected fault, 502 when moto
    /// could not be reached).
    pub status: u16,
    /// Whether the answer was an injected fault.
    pub injected: bool,
    /// When the proxy had read the whole request, since the proxy started ([`Proxy::now`]).
    pub received: Duration,
    /// When the answer was ready to be written back (after the injected latency and moto's
    /// answer), since the proxy started.
    pub answered: Duration,
}

impl Call {
    /// `service:action`, e.g. `sts:AssumeRole`, `eks:GET /clusters/workloads`.
    pub fn qualified(&self) -> String {
        format!("{}:{}", self.service, self.action)
    }

    /// Whether the call is REST-style (`METHOD path`).
    pub fn is_rest(&self) -> bool {
        self.action.contains(' ')
    }

    /// Whether the call changes something: anything but `Get*`, `List*`, `Describe*`,
    /// `BatchGet*`, `AssumeRole` and REST `GET`/`HEAD`.
    pub fn is_write(&self) -> bool {
        if let Some((method, _)) = self.action.split_once(' ') {
            return !matches!(method, "GET" | "HEAD");
        }
        let read = ["Get", "List", "Describe", "BatchGet"]
            .iter()
            .any(|p| self.action.starts_with(p));
        !(read || self.action == "AssumeRole")
    }

    /// The account of the `RoleArn` of an `AssumeRole`.
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(arn_account)
    }
}

/// What the proxy's connections share with its owner.
#[derive(Debug, Default)]
struct Shared {
    calls: Vec<Call>,
    denied_assume_role: BTreeSet<String>,
    /// Access key ids whose every request is refused as invalid.
    rejected_keys: BTreeSet<String>,
    /// Inject a fault on every n-th request (0: never).
    fault_every: usize,
    /// Requests counted for fault injection, and faults injected.
    fault_counter: usize,
    faults_injected: usize,
    /// Freeze once this many write calls have been answered by moto.
    freeze_after: Option<usize>,
    writes: usize,
    /// Secret keys and session tokens seen in `AssumeRole` answers.
    secrets: BTreeSet<String>,
    /// Delay added to every request before it is answered.
    latency: Duration,
    /// Requests waiting while the proxy is frozen.
    held: usize,
    /// Whether whole requests and answers are kept ([`Proxy::record_exchanges`]).
    record: bool,
    exchanges: Vec<Exchange>,
}

/// One request and moto's answer, whole, as [`Proxy::record_exchanges`] keeps them: what the
/// synthetic AWS of the load benchmark replays (`crate::synthetic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The HTTP method.
    pub method: String,
    /// The path and query string.
    pub target: String,
    /// The `X-Amz-Target` header (JSON protocols).
    pub amz_target: Option<String>,
    /// The request's `Content-Type`.
    pub content_type: Option<String>,
    /// The request body.
    pub body: Vec<u8>,
    /// The access key id the request was signed with.
    pub access_key_id: Option<String>,
    /// The status of the answer.
    pub status: u16,
    /// The answer's `Content-Type`.
    pub answer_type: Option<String>,
    /// The answer's body.
    pub answer: Vec<u8>,
}

/// The state behind the proxy: where it forwards, its clock, its rules and records.
#[derive(Debug)]
struct Inner {
    upstream: SocketAddr,
    /// The start of the clock [`Call::received`] and [`Call::answered`] are measured on.
    epoch: Instant,
    shared: Mutex<Shared>,
    /// `true` while frozen; requests wait for `false`.
    frozen: watch::Sender<bool>,
}

/// The fault the proxy injected, if any, for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Throttle,
    ServerError,
}

/// The running proxy; stops (and closes every connection) when dropped.
#[derive(Debug)]
pub struct Proxy {
    endpoint: String,
    inner: Arc<Inner>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Start a proxy on a free 127.0.0.1 port in front of `upstream`
    /// (`http://127.0.0.1:PORT`, e.g. [`crate::MotoServer::endpoint`]).
    pub fn start(upstream: &str) -> Result<Proxy, String> {
        let upstream = loopback_addr(upstream)?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("proxy: cannot bind 127.0.0.1:0: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("proxy: cannot make the listener non-blocking: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("proxy: cannot read the bound port: {e}"))?
            .port();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("eksmgr-e2e-proxy")
            .enable_all()
            .build()
            .map_err(|e| format!("proxy: cannot build a Tokio runtime: {e}"))?;
        let inner = Arc::new(Inner {
            upstream,
            epoch: Instant::now(),
            shared: Mutex::new(Shared::default()),
            frozen: watch::Sender::new(false),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let task_inner = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("eksmgr-e2e-proxy".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, task_inner, stop_rx));
                // Open connections are abandoned with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| format!("proxy: cannot start its thread: {e}"))?;
        Ok(Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            inner,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT`: give it to eksmgr as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The moto endpoint requests are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.inner.upstream
    }

    /// From now on, hold every request for `latency` before answering it (see the module doc);
    /// `Duration::ZERO` stops. Requests already waiting keep the delay they started with.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// The delay added to every request now.
    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// The time since the proxy started: the clock of [`Call::received`] and
    /// [`Call::answered`].
    pub fn now(&self) -> Duration {
        self.inner.epoch.elapsed()
    }

    /// From now on, answer every `sts:AssumeRole` of a role in `account_id` with HTTP 403
    /// `AccessDenied`.
    pub fn deny_assume_role(&self, account_id: &str) {
        self.lock().denied_assume_role.insert(account_id.to_owned());
    }

    /// From now on, answer every request signed with `access_key_id` with HTTP 403
    /// `InvalidClientTokenId` in STS's error shape (for the caller's first call,
    /// `sts:GetCallerIdentity`).
    pub fn reject_credentials(&self, access_key_id: &str) {
        self.lock().rejected_keys.insert(access_key_id.to_owned());
    }

    /// Stop denying `AssumeRole` into `account_id`.
    pub fn allow_assume_role(&self, account_id: &str) {
        self.lock().denied_assume_role.remove(account_id);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        let mut shared = self.lock();
        shared.denied_assume_role.clear();
        shared.rejected_keys.clear();
        shared.fault_every = 0;
    }

    /// From now on, answer every `every`-th first attempt of a call (counting from the next)
    /// with a fault, throttling and server errors in turn, without forwarding it; retries go
    /// through; `0` stops.
    pub fn inject_faults(&self, every: usize) {
        let mut shared = self.lock();
        shared.fault_every = every;
        shared.fault_counter = 0;
    }

    /// How many faults were injected so far.
    pub fn faults_injected(&self) -> usize {
        self.lock().faults_injected
    }

    /// Freeze once `writes` more write calls have been answered by moto (see the module doc).
    pub fn freeze_after_writes(&self, writes: usize) {
        let mut shared = self.lock();
        shared.writes = 0;
        shared.freeze_after = Some(writes);
    }

    /// Freeze now: every request from now on is held, unanswered, until [`Proxy::thaw`] (a
    /// client that is reading AWS waits there).
    pub fn freeze(&self) {
        self.inner.frozen.send_replace(true);
    }

    /// How many requests are being held by a freeze now.
    pub fn held(&self) -> usize {
        self.lock().held
    }

    /// Whether the proxy is frozen, holding answers.
    pub fn frozen(&self) -> bool {
        *self.inner.frozen.borrow()
    }

    /// Write calls answered by moto since [`Proxy::freeze_after_writes`].
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// Stop freezing and let held requests go on (their clients are usually gone).
    pub fn thaw(&self) {
        self.lock().freeze_after = None;
        self.inner.frozen.send_replace(false);
    }

    /// The secret access keys and session tokens moto handed out in `AssumeRole` answers.
    pub fn secrets_seen(&self) -> BTreeSet<String> {
        self.lock().secrets.clone()
    }

    /// Every call seen since the start or the last [`Proxy::reset_counts`], in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Keep (or stop keeping) every request forwarded to moto with its answer, whole, from now
    /// on; [`Proxy::exchanges`] returns them. Injected faults are not kept.
    pub fn record_exchanges(&self, on: bool) {
        self.lock().record = on;
    }

    /// The exchanges kept since [`Proxy::record_exchanges`] was turned on, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.lock().exchanges.clone()
    }

    /// Forget the calls seen so far.
    pub fn reset_counts(&self) {
        self.lock().calls.clear();
    }

    /// How many calls of each `service:action` were seen.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for call in self.lock().calls.iter() {
            *out.entry(call.qualified()).or_insert(0) += 1;
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.inner.lock()
    }
}

/// The most calls in flight at once, a call being in flight from when the proxy received it
/// to when its answer was ready. The client waited for it at least that long, so eksmgr had at
/// least this many calls in flight.
pub fn max_in_flight<'a>(calls: impl IntoIterator<Item = &'a Call>) -> usize {
    let mut events: Vec<(Duration, i64)> = calls
        .into_iter()
        .flat_map(|c| [(c.received, 1), (c.answered, -1)])
        .collect();
    // At the same instant, an answer comes before a new request.
    events.sort();
    let (mut now, mut most) = (0_i64, 0_i64);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `http://127.0.0.1:PORT` (or `localhost`) to a socket address; anything else is refused.
fn loopback_addr(endpoint: &str) -> Result<SocketAddr, String> {
    let uri: Uri = endpoint
        .parse()
        .map_err(|e| format!("proxy: upstream {endpoint:?} is not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "proxy: upstream {endpoint:?} is not an http:// URL"
        ));
    }
    if !matches!(uri.host(), Some("127.0.0.1" | "localhost")) {
        return Err(format!(
            "proxy: upstream {endpoint:?} is not on 127.0.0.1; the proxy only forwards to loopback"
        ));
    }
    let port = uri
        .port_u16()
        .ok_or_else(|| format!("proxy: upstream {endpoint:?} has no port"))?;
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// Accepts connections until told to stop; each is served by hyper on its own task.
async fn accept_loop(
    listener: std::net::TcpListener,
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let inner = Arc::clone(&inner);
                let service = service_fn(move |request| {
                    let inner = Arc::clone(&inner);
                    async move { Ok::<_, std::io::Error>(inner.handle(request).await?.map(Full::new)) }
                });
                tokio::spawn(
                    http1::Builder::new()
                        .timer(TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Answers one request: records it, waits the latency and any freeze, then injects a
    /// fault or forwards it to moto.
    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Bytes>, std::io::Error> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => {
                return Ok(simple(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("proxy: cannot read the request body: {e}"),
                ));
            }
        };
        let received = self.epoch.elapsed();

        // The network round trip: this task's own wait, concurrent with every other's.
        let latency = self.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        // While frozen, nothing goes on (the client is about to be killed or interrupted).
        if *self.frozen.borrow() {
            self.lock().held += 1;
            let _ = self.frozen.subscribe().wait_for(|f| !*f).await;
            self.lock().held -= 1;
        }

        let mut call = classify(&parts, &body);
        call.received = received;
        if let Some(response) = self.injected(&call, &parts) {
            call.status = response.status().as_u16();
            call.injected = true;
            call.answered = self.epoch.elapsed();
            self.lock().calls.push(call);
            return Ok(response);
        }

        let body_kept = body.clone();
        let forwarded =
            tokio::time::timeout(UPSTREAM_TIMEOUT, forward(self.upstream, &parts, body)).await;
        let response = match forwarded {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => simple(
                StatusCode::BAD_GATEWAY,
                "text/plain",
                format!("proxy: forwarding to moto failed: {e}"),
            ),
            Err(_) => simple(
                StatusCode::GATEWAY_TIMEOUT,
                "text/plain",
                "proxy: moto did not answer in time".into(),
            ),
        };
        call.status = response.status().as_u16();
        call.answered = self.epoch.elapsed();
        let freeze = {
            let mut shared = self.lock();
            if call.action == "AssumeRole" {
                remember_secrets(&mut shared.secrets, response.body());
            }
            if shared.record {
                let text =
                    |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).map(str::to_owned);
                shared.exchanges.push(Exchange {
                    method: parts.method.to_string(),
                    target: parts
                        .uri
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned(),
                    amz_target: header(&parts.headers, "x-amz-target").map(str::to_owned),
                    content_type: header(&parts.headers, "content-type").map(str::to_owned),
                    body: body_kept.to_vec(),
                    access_key_id: call.access_key_id.clone(),
                    status: call.status,
                    answer_type: text(response.headers().get(header::CONTENT_TYPE)),
                    answer: response.body().to_vec(),
                });
            }
            let write = call.is_write() && call.status < 300;
            if write {
                shared.writes += 1;
            }
            shared.calls.push(call);
            write && shared.freeze_after.is_some_and(|n| shared.writes >= n)
        };
        if freeze {
            // AWS did it; the client never hears so.
            self.frozen.send_replace(true);
            let _ = self.frozen.subscribe().wait_for(|f| !*f).await;
            // The answer is never sent: the service fails and hyper closes the connection.
            return Err(std::io::Error::other("frozen after a write"));
        }
        Ok(response)
    }

    /// The answer of a fault rule for `call`, if one applies.
    fn injected(&self, call: &Call, request: &Parts) -> Option<Response<Bytes>> {
        // The SDK numbers a call's attempts (`amz-sdk-request: attempt=2; max=6`): only first
        // attempts are counted and faulted, so every faulted call succeeds on its retry, as
        // the fault test asserts, instead of failing now and then on six faults in a row.
        let first_attempt = header(&request.headers, "amz-sdk-request")
            .and_then(|v| v.split(';').next())
            .is_none_or(|attempt| attempt.trim() == "attempt=1");
        let mut shared = self.lock();
        let fault = next_fault(&mut shared, first_attempt);
        let rejected = call
            .access_key_id
            .as_ref()
            .is_some_and(|key| shared.rejected_keys.contains(key));
        let denied = call.action == "AssumeRole"
            && call
                .role_account()
                .is_some_and(|account| shared.denied_assume_role.contains(account));
        if rejected {
            Some(simple(
                StatusCode::FORBIDDEN,
                "text/xml",
                invalid_client_token_id(),
            ))
        } else if denied {
            let role = call.role_arn.as_deref().unwrap_or_default();
            Some(simple(
                StatusCode::FORBIDDEN,
                "text/xml",
                access_denied(role),
            ))
        } else {
            fault.map(|fault| fault_response(fault, &request.headers))
        }
    }
}

/// Sends the request to moto on a new connection with `Connection: close` and reads the
/// whole response.
async fn forward(
    upstream: SocketAddr,
    request: &Parts,
    body: Bytes,
) -> Result<Response<Bytes>, String> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connect {upstream}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut builder = Request::builder()
        .method(request.method.clone())
        .uri(target)
        .header(header::CONNECTION, "close");
    for (name, value) in &request.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    let outgoing = builder
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(outgoing)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let (mut parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("read the answer: {e}"))?
        .to_bytes();
    for name in ["connection", "keep-alive", "transfer-encoding"] {
        parts.headers.remove(name);
    }
    // hyper sets the length of the body relayed; a HEAD answer keeps moto's, which describes
    // the body of a GET.
    if request.method != Method::HEAD {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    Ok(Response::from_parts(parts, body))
}

/// A header's value as text.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An answer made by the proxy itself, with a request id as AWS gives one.
pub(crate) fn simple(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        headers.insert(HeaderName::from_static("x-amzn-requestid"), id);
    }
    response
}

/// Counts a request for fault injection; the fault to answer it with, if it is its turn.
fn next_fault(shared: &mut Shared, first_attempt: bool) -> Option<Fault> {
    if shared.fault_every == 0 || !first_attempt {
        return None;
    }
    shared.fault_counter += 1;
    if !shared.fault_counter.is_multiple_of(shared.fault_every) {
        return None;
    }
    shared.faults_injected += 1;
    Some(if !shared.faults_injected.is_multiple_of(2) {
        Fault::Throttle
    } else {
        Fault::ServerError
    })
}

/// Whether a request is in a query protocol (STS, IAM, CloudFormation): a form, no target.
pub(crate) fn is_query(headers: &HeaderMap) -> bool {
    header(headers, "x-amz-target").is_none()
        && header(headers, "content-type").is_some_and(|t| {
            t.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
}

/// The answer AWS gives when it throttles or fails, in the request's protocol: XML for the
/// query protocols (STS, IAM, CloudFormation), JSON with `__type` (and the
/// `x-amzn-ErrorType` header REST-JSON services use) otherwise.
pub(crate) fn fault_response(fault: Fault, request: &HeaderMap) -> Response<Bytes> {
    let (status, code, json_code, message) = match fault {
        Fault::Throttle => (
            StatusCode::BAD_REQUEST,
            "Throttling",
            "ThrottlingException",
            "Rate exceeded",
        ),
        Fault::ServerError => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "ServiceUnavailableException",
            "Service is unavailable",
        ),
    };
    let message = format!("{message} (injected by the eksmgr e2e proxy)");
    let (mut response, code) = if is_query(request) {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error>\
             <RequestId>{}</RequestId></ErrorResponse>",
            request_id()
        );
        (simple(status, "text/xml", body), code)
    } else {
        let body = serde_json::json!({ "__type": json_code, "message": message }).to_string();
        (
            simple(status, "application/x-amz-json-1.1", body),
            json_code,
        )
    };
    response.headers_mut().insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static(code),
    );
    response
}

/// Remembers the `SecretAccessKey` and `SessionToken` of an STS `AssumeRole` answer.
fn remember_secrets(secrets: &mut BTreeSet<String>, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    for tag in ["SecretAccessKey", "SessionToken"] {
        let value = text
            .split_once(&format!("<{tag}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{tag}>")))
            .map(|(value, _)| value.trim());
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            secrets.insert(value.to_owned());
        }
    }
}

/// A request id that looks like STS's (a UUID-shaped, distinct per call).
pub(crate) fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("e2e0e2e0-0000-4000-8000-{n:012x}")
}

/// STS's answer to an `AssumeRole` the role's trust policy does not allow.
fn access_denied(role_arn: &str) -> String {
    let role = role_arn
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <Error><Type>Sender</Type><Code>AccessDenied</Code>\
         <Message>User: arn:aws:sts::000000000000:assumed-role/eksmgr-e2e-proxy is not authorized to perform: sts:AssumeRole on resource: {role} (injected by the eksmgr e2e proxy)</Message>\
         </Error><RequestId>{}</RequestId></ErrorResponse>",
        request_id()
    )
}

/// STS's answer to a request signed with an access key id it does not know
/// (<https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html>).
fn invalid_client_token_id() -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>\
         <Message>The security token included in the request is invalid. (injected by the eksmgr e2e proxy)</Message>\
         </Error><RequestId>{}</RequestId></ErrorResponse>",
        request_id()
    )
}

/// What a request is: service, action, access key, role ARN.
fn classify(request: &Parts, body: &[u8]) -> Call {
    let (access_key_id, service) = header(&request.headers, "authorization")
        .map(credential_scope)
        .unwrap_or_default();
    let form: Vec<(String, String)> = if is_query(&request.headers) {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        Vec::new()
    };
    let param = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let action = if let Some(target) = header(&request.headers, "x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_owned()
    } else if let Some(action) = param("Action") {
        action
    } else {
        format!("{} {}", request.method, request.uri.path())
    };
    let role_arn = (action == "AssumeRole").then(|| param("RoleArn")).flatten();
    Call {
        service: service.unwrap_or_default(),
        action,
        access_key_id,
        role_arn,
        status: 0,
        injected: false,
        received: Duration::ZERO,
        answered: Duration::ZERO,
    }
}

/// The access key id and service of `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
pub(crate) fn credential_scope(authorization: &str) -> (Option<String>, Option<String>) {
    let Some((_, rest)) = authorization.split_once("Credential=") else {
        return (None, None);
    };
    let scope = rest.split([',', ' ']).next().unwrap_or_default();
    let mut parts = scope.split('/');
    let key = parts.next().map(str::to_owned);
    let service = parts.nth(2).map(str::to_owned);
    (key, service)
}

/// The account of `arn:PARTITION:SERVICE:REGION:ACCOUNT:...`.
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scopes_and_arns() {
        assert_eq!(
            credential_scope(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=abc"
            ),
            (Some("AKIDEXAMPLE".into()), Some("sts".into()))
        );
        assert_eq!(
            arn_account("arn:aws:iam::111122223333:role/X"),
            Some("111122223333")
        );
    }

    /// An upstream answering `200 ok` to everything, with the length of the body it received
    /// in `x-body-length`.
    fn fake_upstream() -> SocketAddr {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                while let Ok((stream, _)) = listener.accept().await {
                    let service = service_fn(|request: Request<Incoming>| async move {
                        let length = request
                            .into_body()
                            .collect()
                            .await
                            .map_or(0, |b| b.to_bytes().len());
                        Response::builder()
                            .header("content-type", "text/plain")
                            .header("x-body-length", length)
                            .body(Full::new(Bytes::from_static(b"ok")))
                    });
                    tokio::spawn(
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                    );
                }
            });
        });
        addr
    }

    /// Writes `request` on a new connection; everything answered, lower-cased.
    fn exchange(proxy: &Proxy, request: &str) -> String {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(proxy.endpoint().trim_start_matches("http://")).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out.to_ascii_lowercase()
    }

    fn form(body: &str) -> String {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn forwards_counts_denies_and_dechunks() {
        let upstream = fake_upstream();
        let proxy = Proxy::start(&format!("http://127.0.0.1:{}", upstream.port())).unwrap();

        let ok = exchange(&proxy, &form("Action=GetCallerIdentity&Version=2011-06-15"));
        assert!(ok.starts_with("http/1.1 200"), "{ok}");
        assert!(
            ok.contains("content-length: 2") && ok.ends_with("ok"),
            "{ok}"
        );

        proxy.deny_assume_role("111122223333");
        let assume = "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FX&RoleSessionName=a+b%";
        let denied = exchange(&proxy, &form(assume));
        assert!(denied.starts_with("http/1.1 403"), "{denied}");
        assert!(denied.contains("content-type: text/xml"), "{denied}");
        assert!(
            denied.contains("<code>accessdenied</code>") && denied.contains("<type>sender</type>"),
            "{denied}"
        );
        proxy.clear_faults();
        assert!(exchange(&proxy, &form(assume)).starts_with("http/1.1 200"));

        proxy.reject_credentials("AKID");
        let rejected = exchange(&proxy, &form("Action=GetCallerIdentity&Version=2011-06-15"));
        assert!(rejected.starts_with("http/1.1 403"), "{rejected}");
        assert!(
            rejected.contains("<code>invalidclienttokenid</code>"),
            "{rejected}"
        );
        proxy.clear_faults();

        // A chunked body reaches moto whole, with its length.
        let chunked = exchange(
            &proxy,
            "POST /clusters HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\n\r\n",
        );
        assert!(chunked.starts_with("http/1.1 200"), "{chunked}");
        assert!(chunked.contains("x-body-length: 3"), "{chunked}");

        let calls = proxy.calls();
        let seen: Vec<(&str, &str, u16, bool)> = calls
            .iter()
            .map(|c| (c.service.as_str(), c.action.as_str(), c.status, c.injected))
            .collect();
        assert_eq!(
            seen,
            [
                ("sts", "GetCallerIdentity", 200, false),
                ("sts", "AssumeRole", 403, true),
                ("sts", "AssumeRole", 200, false),
                ("sts", "GetCallerIdentity", 403, true),
                ("", "POST /clusters", 200, false),
            ]
        );
        assert_eq!(
            calls[1].role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/X")
        );
        assert_eq!(calls[0].access_key_id.as_deref(), Some("AKID"));
        assert!(calls[4].is_rest() && calls[4].is_write());
        proxy.reset_counts();
        assert!(proxy.calls().is_empty());
        let address = proxy.endpoint().trim_start_matches("http://").to_owned();
        drop(proxy);
        assert!(std::net::TcpStream::connect(address).is_err());
    }

    #[test]
    fn faults_first_attempts_only_in_the_protocol_shape() {
        let upstream = fake_upstream();
        let proxy = Proxy::start(&format!("http://127.0.0.1:{}", upstream.port())).unwrap();
        proxy.inject_faults(1);
        let json = |attempt: u32| {
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSOrganizationsV20161128.ListRoots\r\namz-sdk-request: attempt={attempt}; max=3\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )
        };
        let throttled = exchange(&proxy, &json(1));
        assert!(throttled.starts_with("http/1.1 400"), "{throttled}");
        assert!(
            throttled.contains("x-amzn-errortype: throttlingexception")
                && throttled.contains("\"__type\":\"throttlingexception\""),
            "{throttled}"
        );
        assert!(exchange(&proxy, &json(2)).starts_with("http/1.1 200"));
        let failed = exchange(&proxy, &form("Action=ListRoles"));
        assert!(failed.starts_with("http/1.1 503"), "{failed}");
        assert!(
            failed.contains("<code>serviceunavailable</code>"),
            "{failed}"
        );
        assert_eq!(proxy.faults_injected(), 2);
        assert_eq!(
            proxy.counts().get("organizations:ListRoots"),
            None,
            "unsigned calls have no service"
        );
        assert_eq!(proxy.counts().get(":ListRoots"), Some(&2));
    }

    #[test]
    fn only_loopback_upstreams() {
        assert!(loopback_addr("http://127.0.0.1:5000").is_ok());
        assert!(loopback_addr("http://localhost:5000/").is_ok());
        assert!(loopback_addr("http://example.com:80").is_err());
        assert!(loopback_addr("https://127.0.0.1:5000").is_err());
        assert!(loopback_addr("http://127.0.0.1").is_err());
    }
}
