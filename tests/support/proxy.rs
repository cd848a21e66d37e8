//! A loopback HTTP/1.1 forwarder in front of a moto server that counts the API calls going
//! through it and can inject faults.
//!
//! eksmgr is pointed at the proxy through `AWS_ENDPOINT_URL` (`Eksmgr::env`); every request
//! is recorded ([`Call`]: service, action, access key id, the `RoleArn` of an STS
//! `AssumeRole`, the status answered) and forwarded to moto on a fresh connection with
//! `Connection: close`; the response is relayed with a `Content-Length` body, so the client
//! may keep its connection alive.
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
//! shape) or a server error (HTTP 500 / 503), in turn, as AWS does under load.
//!
//! Crashes: [`Proxy::freeze_after_writes`] lets the n-th write call (anything but a read:
//! `Get*`, `List*`, `Describe*`, `AssumeRole`, REST `GET`) reach moto, then holds its answer
//! and every later request: AWS has done the work and the client does not know it. The test
//! kills the client while it is frozen, the worst moment for a crash, then calls
//! [`Proxy::thaw`]. [`Proxy::freeze`] holds every request from now on ([`Proxy::held`]
//! counts them): a run that is reading AWS waits there while the test interrupts it.
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
//! input: a request it cannot read is answered 400 and the connection closed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Longest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Longest body accepted either way.
const MAX_BODY: usize = 64 * 1024 * 1024;
/// How long moto may take to answer one request.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

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

/// What the proxy shares between its connections and its owner.
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
}

/// The fault the proxy injected, if any, for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Throttle,
    ServerError,
}

/// The running proxy; stops (and closes every connection) when dropped.
#[derive(Debug)]
pub struct Proxy {
    endpoint: String,
    upstream: SocketAddr,
    /// The start of the clock [`Call::received`] and [`Call::answered`] are measured on.
    epoch: Instant,
    shared: Arc<Mutex<Shared>>,
    /// `true` while frozen; requests wait for `false`.
    frozen: Arc<watch::Sender<bool>>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Start a proxy on a free 127.0.0.1 port in front of `upstream`
    /// (`http://127.0.0.1:PORT`, e.g. [`crate::MotoServer::endpoint`]).
    pub fn start(upstream: &str) -> Result<Proxy, String> {
        let upstream_addr = loopback_addr(upstream)?;
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
        let shared = Arc::new(Mutex::new(Shared::default()));
        let epoch = Instant::now();
        let (stop_tx, stop_rx) = watch::channel(false);
        let frozen = Arc::new(watch::Sender::new(false));
        let task_shared = Arc::clone(&shared);
        let task_frozen = Arc::clone(&frozen);
        let thread = std::thread::Builder::new()
            .name("eksmgr-e2e-proxy".into())
            .spawn(move || {
                runtime.block_on(accept_loop(
                    listener,
                    upstream_addr,
                    epoch,
                    task_shared,
                    task_frozen,
                    stop_rx,
                ));
                // Open connections are abandoned with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| format!("proxy: cannot start its thread: {e}"))?;
        Ok(Proxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            upstream: upstream_addr,
            epoch,
            shared,
            frozen,
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
        self.upstream
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
        self.epoch.elapsed()
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
        self.frozen.send_replace(true);
    }

    /// How many requests are being held by a freeze now.
    pub fn held(&self) -> usize {
        self.lock().held
    }

    /// Whether the proxy is frozen, holding answers.
    pub fn frozen(&self) -> bool {
        *self.frozen.borrow()
    }

    /// Write calls answered by moto since [`Proxy::freeze_after_writes`].
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// Stop freezing and let held requests go on (their clients are usually gone).
    pub fn thaw(&self) {
        self.lock().freeze_after = None;
        self.frozen.send_replace(false);
    }

    /// The secret access keys and session tokens moto handed out in `AssumeRole` answers.
    pub fn secrets_seen(&self) -> BTreeSet<String> {
        self.lock().secrets.clone()
    }

    /// Every call seen since the start or the last [`Proxy::reset_counts`], in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
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
        lock(&self.shared)
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

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `http://127.0.0.1:PORT` (or `localhost`) to a socket address; anything else is refused.
fn loopback_addr(endpoint: &str) -> Result<SocketAddr, String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("proxy: upstream {endpoint:?} is not an http:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("proxy: upstream {endpoint:?} has no port"))?;
    if host != "127.0.0.1" && host != "localhost" {
        return Err(format!(
            "proxy: upstream {endpoint:?} is not on 127.0.0.1; the proxy only forwards to loopback"
        ));
    }
    let port: u16 = port
        .parse()
        .map_err(|e| format!("proxy: upstream {endpoint:?} has a bad port: {e}"))?;
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

async fn accept_loop(
    listener: std::net::TcpListener,
    upstream: SocketAddr,
    epoch: Instant,
    shared: Arc<Mutex<Shared>>,
    frozen: Arc<watch::Sender<bool>>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let shared = Arc::clone(&shared);
                    let frozen = Arc::clone(&frozen);
                    tokio::spawn(serve(stream, upstream, epoch, shared, frozen));
                }
            }
        }
    }
}

/// A parsed request or response head.
struct Head {
    /// The first line, split in three (`METHOD TARGET VERSION` or `VERSION CODE REASON`).
    first: [String; 3],
    /// Header names and values, in order.
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> Option<Head> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.split("\r\n");
        let mut parts = lines.next()?.splitn(3, ' ');
        let first = [
            parts.next()?.to_owned(),
            parts.next()?.to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        ];
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Some(Head { first, headers })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn content_length(&self) -> Result<Option<usize>, String> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|e| format!("bad Content-Length {v:?}: {e}")),
        }
    }
}

/// Reads until the end of a head (`\r\n\r\n`); returns the head and leaves what followed it
/// in `buf`. `Ok(None)` on a clean end of stream before any byte of a new head.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = buf[..end].to_vec();
            buf.drain(..end + 4);
            return Ok(Some(head));
        }
        if buf.len() > MAX_HEAD {
            return Err(format!("head longer than {MAX_HEAD} bytes"));
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err("connection closed in the middle of a head".into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads `len` bytes of body, starting with what is already in `buf`.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    len: usize,
) -> Result<Vec<u8>, String> {
    if len > MAX_BODY {
        return Err(format!("body of {len} bytes is over {MAX_BODY}"));
    }
    while buf.len() < len {
        let mut chunk = [0u8; 64 * 1024];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection closed after {} of {len} body bytes",
                buf.len()
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf.drain(..len).collect())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Serves one client connection: request after request until the client closes it or asks
/// for `Connection: close`.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    epoch: Instant,
    shared: Arc<Mutex<Shared>>,
    frozen: Arc<watch::Sender<bool>>,
) {
    let mut buf = Vec::new();
    loop {
        let head = match read_head(&mut client, &mut buf).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => {
                let _ = write_simple(&mut client, 400, "text/plain", &format!("proxy: {e}")).await;
                return;
            }
        };
        let Some(request) = Head::parse(&head) else {
            let _ = write_simple(
                &mut client,
                400,
                "text/plain",
                "proxy: unreadable request head",
            )
            .await;
            return;
        };
        if request.has_token("transfer-encoding", "chunked") {
            let _ = write_simple(
                &mut client,
                400,
                "text/plain",
                "proxy: chunked request bodies are not supported by the eksmgr e2e proxy",
            )
            .await;
            return;
        }
        let length = match request.content_length() {
            Ok(length) => length.unwrap_or(0),
            Err(e) => {
                let _ = write_simple(&mut client, 400, "text/plain", &format!("proxy: {e}")).await;
                return;
            }
        };
        if request.has_token("expect", "100-continue")
            && buf.len() < length
            && client
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let body = match read_body(&mut client, &mut buf, length).await {
            Ok(body) => body,
            Err(e) => {
                let _ = write_simple(&mut client, 400, "text/plain", &format!("proxy: {e}")).await;
                return;
            }
        };
        let close = request.has_token("connection", "close") || request.first[2] == "HTTP/1.0";
        let received = epoch.elapsed();

        // The network round trip: this task's own wait, concurrent with every other's.
        let latency = lock(&shared).latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }

        // While frozen, nothing goes on (the client is about to be killed or interrupted).
        if *frozen.borrow() {
            lock(&shared).held += 1;
            let _ = frozen.subscribe().wait_for(|f| !*f).await;
            lock(&shared).held -= 1;
        }
        let mut call = classify(&request, &body);
        call.received = received;
        let denied = call.action == "AssumeRole"
            && call
                .role_account()
                .is_some_and(|account| lock(&shared).denied_assume_role.contains(account));
        let rejected = call
            .access_key_id
            .as_ref()
            .is_some_and(|key| lock(&shared).rejected_keys.contains(key));
        // The SDK numbers a call's attempts (`amz-sdk-request: attempt=2; max=6`): only first
        // attempts are counted and faulted, so every faulted call succeeds on its retry, as
        // the fault test asserts, instead of failing now and then on six faults in a row.
        let first_attempt = request
            .header("amz-sdk-request")
            .and_then(|v| v.split(';').next())
            .is_none_or(|attempt| attempt.trim() == "attempt=1");
        let fault = next_fault(&mut lock(&shared), first_attempt);
        let written = if rejected {
            call.status = 403;
            call.injected = true;
            call.answered = epoch.elapsed();
            lock(&shared).calls.push(call);
            write_simple(&mut client, 403, "text/xml", &invalid_client_token_id()).await
        } else if denied {
            call.status = 403;
            call.injected = true;
            call.answered = epoch.elapsed();
            lock(&shared).calls.push(call.clone());
            let role = call.role_arn.clone().unwrap_or_default();
            write_simple(&mut client, 403, "text/xml", &access_denied(&role)).await
        } else if let Some(fault) = fault {
            let response = fault_response(fault, &request);
            call.status = response.status;
            call.injected = true;
            call.answered = epoch.elapsed();
            lock(&shared).calls.push(call);
            write_response(&mut client, &response, false, close).await
        } else {
            let response =
                match tokio::time::timeout(UPSTREAM_TIMEOUT, forward(upstream, &request, &body))
                    .await
                {
                    Ok(Ok(response)) => response,
                    Ok(Err(e)) => {
                        Response::error(502, &format!("proxy: forwarding to moto failed: {e}"))
                    }
                    Err(_) => Response::error(504, "proxy: moto did not answer in time"),
                };
            call.status = response.status;
            call.answered = epoch.elapsed();
            let freeze = {
                let mut shared = lock(&shared);
                if call.action == "AssumeRole" {
                    remember_secrets(&mut shared.secrets, &response.body);
                }
                let write = call.is_write() && response.status < 300;
                if write {
                    shared.writes += 1;
                }
                let freeze = write && shared.freeze_after.is_some_and(|n| shared.writes >= n);
                shared.calls.push(call);
                freeze
            };
            if freeze {
                // AWS did it; the client never hears so.
                frozen.send_replace(true);
                let _ = frozen.subscribe().wait_for(|f| !*f).await;
                return;
            }
            let head_only = request.first[0].eq_ignore_ascii_case("HEAD");
            write_response(&mut client, &response, head_only, close).await
        };
        if written.is_err() || close {
            return;
        }
    }
}

/// What moto answered.
struct Response {
    status: u16,
    /// `VERSION CODE REASON` parts 2 and 3 (`200 OK`).
    status_line: String,
    headers: Vec<(String, String)>,
    /// The body, de-chunked.
    body: Vec<u8>,
    /// No body allowed (1xx, 204, 304).
    bodiless: bool,
}

impl Response {
    fn error(status: u16, message: &str) -> Response {
        Response {
            status,
            status_line: format!("{status} {}", reason(status)),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: message.as_bytes().to_vec(),
            bodiless: false,
        }
    }
}

/// Sends the request to moto on a new connection with `Connection: close` and reads the
/// whole response.
async fn forward(upstream: SocketAddr, request: &Head, body: &[u8]) -> Result<Response, String> {
    let mut out = format!("{} {} HTTP/1.1\r\n", request.first[0], request.first[1]);
    for (name, value) in &request.headers {
        let skip = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "expect",
            "te",
            "upgrade",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h));
        if !skip {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connect {upstream}: {e}"))?;
    stream
        .write_all(out.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream
        .write_all(body)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let end = find(&raw, b"\r\n\r\n").ok_or("moto's response has no complete head")?;
    let head = Head::parse(&raw[..end]).ok_or("moto's response head is unreadable")?;
    let status: u16 = head.first[1]
        .parse()
        .map_err(|e| format!("moto answered a bad status {:?}: {e}", head.first[1]))?;
    let mut rest = raw[end + 4..].to_vec();
    let bodiless = status < 200 || status == 204 || status == 304;
    let body = if bodiless || request.first[0].eq_ignore_ascii_case("HEAD") {
        Vec::new()
    } else if head.has_token("transfer-encoding", "chunked") {
        dechunk(&rest)?
    } else if let Some(len) = head.content_length()? {
        rest.truncate(len);
        rest
    } else {
        rest
    };
    Ok(Response {
        status,
        status_line: format!("{} {}", head.first[1], head.first[2]),
        headers: head.headers,
        body,
        bodiless,
    })
}

/// Decodes a chunked body (trailers ignored).
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("truncated chunk size line")?;
        let line = std::str::from_utf8(&data[..line_end]).map_err(|e| e.to_string())?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

async fn write_response(
    client: &mut TcpStream,
    response: &Response,
    head_only: bool,
    close: bool,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {}\r\n", response.status_line.trim_end());
    let framing = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
    ];
    for (name, value) in &response.headers {
        let is_framing = framing.iter().any(|h| name.eq_ignore_ascii_case(h));
        // A HEAD answer keeps moto's Content-Length: it describes the body of a GET.
        let keep_length = head_only && name.eq_ignore_ascii_case("content-length");
        if !is_framing || keep_length {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !response.bodiless && !head_only {
        out.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes()).await?;
    if !response.bodiless && !head_only {
        client.write_all(&response.body).await?;
    }
    client.flush().await
}

async fn write_simple(
    client: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: {}\r\nContent-Length: {}\r\n\r\n{body}",
        reason(status),
        request_id(),
        body.len()
    );
    client.write_all(out.as_bytes()).await?;
    client.flush().await
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
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

/// The answer AWS gives when it throttles or fails, in the request's protocol: XML for the
/// query protocols (STS, IAM, CloudFormation), JSON with `__type` (and the
/// `x-amzn-ErrorType` header REST-JSON services use) otherwise.
fn fault_response(fault: Fault, request: &Head) -> Response {
    let (status, code, message) = match fault {
        Fault::Throttle => (400, "Throttling", "Rate exceeded"),
        Fault::ServerError => (503, "ServiceUnavailable", "Service is unavailable"),
    };
    let query = request.header("x-amz-target").is_none()
        && request.header("content-type").is_some_and(|t| {
            t.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let id = request_id();
    let (content_type, body, json_code) = if query {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message} (injected by the eksmgr e2e proxy)</Message></Error>\
             <RequestId>{id}</RequestId></ErrorResponse>"
        );
        ("text/xml", body, code.to_string())
    } else {
        let json_code = match fault {
            Fault::Throttle => "ThrottlingException",
            Fault::ServerError => "ServiceUnavailableException",
        };
        let body = format!(
            "{{\"__type\":\"{json_code}\",\"message\":\"{message} (injected by the eksmgr e2e proxy)\"}}"
        );
        ("application/x-amz-json-1.1", body, json_code.to_string())
    };
    Response {
        status,
        status_line: format!("{status} {}", reason(status)),
        headers: vec![
            ("Content-Type".into(), content_type.into()),
            ("x-amzn-RequestId".into(), id),
            ("x-amzn-ErrorType".into(), json_code),
        ],
        body: body.into_bytes(),
        bodiless: false,
    }
}

/// Remembers the `SecretAccessKey` and `SessionToken` of an STS `AssumeRole` answer.
fn remember_secrets(secrets: &mut BTreeSet<String>, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    for tag in ["SecretAccessKey", "SessionToken"] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        if let Some(start) = text.find(&open) {
            let rest = &text[start + open.len()..];
            if let Some(end) = rest.find(&close) {
                let value = rest[..end].trim();
                if !value.is_empty() {
                    secrets.insert(value.to_string());
                }
            }
        }
    }
}

/// A request id that looks like STS's (a UUID-shaped, distinct per call).
fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("e2e0e2e0-0000-4000-8000-{n:012x}")
}

/// STS's answer to an `AssumeRole` the role's trust policy does not allow.
fn access_denied(role_arn: &str) -> String {
    let role = xml_escape(role_arn);
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

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a request is: service, action, access key, role ARN.
fn classify(request: &Head, body: &[u8]) -> Call {
    let (access_key_id, service) = request
        .header("authorization")
        .map(credential_scope)
        .unwrap_or_default();
    let form = request.header("content-type").is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let params = if form { form_params(body) } else { Vec::new() };
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let action = if let Some(target) = request.header("x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_owned()
    } else if let Some(action) = param("Action") {
        action
    } else {
        let path = request.first[1].split('?').next().unwrap_or_default();
        format!("{} {path}", request.first[0])
    };
    let role_arn = if action == "AssumeRole" {
        param("RoleArn")
    } else {
        None
    };
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
fn credential_scope(authorization: &str) -> (Option<String>, Option<String>) {
    let Some(start) = authorization.find("Credential=") else {
        return (None, None);
    };
    let scope = authorization[start + "Credential=".len()..]
        .split([',', ' '])
        .next()
        .unwrap_or_default();
    let mut parts = scope.split('/');
    let key = parts.next().map(str::to_owned);
    let service = parts.nth(2).map(str::to_owned);
    (key, service)
}

/// `application/x-www-form-urlencoded` pairs.
fn form_params(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The account of `arn:PARTITION:SERVICE:REGION:ACCOUNT:...`.
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_and_scopes() {
        let params = form_params(
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FX&RoleSessionName=a+b%",
        );
        assert_eq!(params[0], ("Action".into(), "AssumeRole".into()));
        assert_eq!(params[2].1, "arn:aws:iam::111122223333:role/X".to_owned());
        assert_eq!(params[3].1, "a b%");
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

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").ok(),
            Some(b"abcde".to_vec())
        );
        assert!(dechunk(b"5\r\nab").is_err());
    }

    /// A one-request-per-connection upstream answering `200 ok` to everything.
    fn fake_upstream() -> std::net::SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while find(&buf, b"\r\n\r\n").is_none() {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                // Read the whole body before answering: closing a socket with unread data
                // resets the connection, and the proxy may then lose the response.
                let head_end = find(&buf, b"\r\n\r\n").map_or(buf.len(), |i| i + 4);
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nok");
                let _ = stream.shutdown(std::net::Shutdown::Write);
            }
        });
        addr
    }

    fn exchange(proxy: &Proxy, request: &str) -> String {
        use std::io::{Read, Write};
        let port = proxy.endpoint().rsplit(':').next().unwrap();
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    fn form(body: &str) -> String {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn forwards_counts_denies_and_refuses_chunked() {
        let upstream = fake_upstream();
        let proxy = Proxy::start(&format!("http://127.0.0.1:{}", upstream.port())).unwrap();

        let ok = exchange(&proxy, &form("Action=GetCallerIdentity&Version=2011-06-15"));
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(
            ok.contains("Content-Length: 2") && ok.ends_with("ok"),
            "{ok}"
        );

        proxy.deny_assume_role("111122223333");
        let assume = "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FX&RoleSessionName=s";
        let denied = exchange(&proxy, &form(assume));
        assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
        assert!(denied.contains("Content-Type: text/xml"), "{denied}");
        assert!(
            denied.contains("<Code>AccessDenied</Code>") && denied.contains("<Type>Sender</Type>"),
            "{denied}"
        );
        proxy.clear_faults();
        assert!(exchange(&proxy, &form(assume)).starts_with("HTTP/1.1 200"));

        proxy.reject_credentials("AKID");
        let rejected = exchange(&proxy, &form("Action=GetCallerIdentity&Version=2011-06-15"));
        assert!(rejected.starts_with("HTTP/1.1 403"), "{rejected}");
        assert!(
            rejected.contains("<Code>InvalidClientTokenId</Code>"),
            "{rejected}"
        );
        proxy.clear_faults();

        let chunked = exchange(
            &proxy,
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        );
        assert!(chunked.starts_with("HTTP/1.1 400"), "{chunked}");

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
            ]
        );
        assert_eq!(
            calls[1].role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/X")
        );
        assert_eq!(calls[0].access_key_id.as_deref(), Some("AKID"));
        proxy.reset_counts();
        assert!(proxy.calls().is_empty());
        let port = proxy
            .endpoint()
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        drop(proxy);
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn only_loopback_upstreams() {
        assert!(loopback_addr("http://127.0.0.1:5000").is_ok());
        assert!(loopback_addr("http://example.com:80").is_err());
        assert!(loopback_addr("https://127.0.0.1:5000").is_err());
    }
}
