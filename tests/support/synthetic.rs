//! A synthetic AWS for load benchmarks: a loopback HTTP server that answers the read calls of
//! an estate of thousands of spoke accounts the way moto answered them for one.
//!
//! moto is one Python process (a few hundred requests a second); a no-op plan of 5,000 spokes
//! makes over 100,000 calls. The synthetic AWS is built from a [`Recording`]: the requests a
//! no-op plan of a small estate made through the [`crate::proxy::Proxy`] and moto's answers,
//! whole ([`crate::proxy::Exchange`]). One spoke of that estate is the *template*: its
//! requests and answers are kept with its account id as a placeholder, and every spoke of the
//! synthetic estate is answered with them, its own id put in. The other accounts (the
//! management account, the hub) are answered exactly as recorded. So the answers have moto's
//! exact shapes (XML for the query protocols, JSON for the others, headers included), which
//! the request checker holds to AWS's service models.
//!
//! Spokes the configuration gives something of their own (the example's two spokes with
//! their own subnets) are kept *exact*: answered as recorded, like the hub.
//!
//! What depends on the number of spokes is generated, paginated as AWS does:
//! `organizations:ListAccountsForParent` of the EKS OU (pages of at most 20 accounts) and
//! `cloudformation:ListStackInstances` (pages of at most 100): a recorded account's entry as
//! recorded, any other's from the template's. [`generate_state`] makes the state file to
//! match: the template spoke's records for every generated spoke.
//!
//! Identity: `sts:AssumeRole` answers carry an access key id that names the role's account
//! (`ASIA` + the 12 digits + `SYNT`), so every later request's account is read from the
//! `Credential=` of its `Authorization` header; signatures are not checked.
//!
//! Load: every call waits [`Options::latency`] before it is answered, each on its own task
//! (as a network round trip would), and the accounts of [`Options::throttled`] are held to
//! [`Options::throttle_rate`] requests a second each (a token bucket as AWS's, with a burst of
//! one second): above it they answer `ThrottlingException` in the protocol's error shape.
//! [`SyntheticAws::stats`] counts calls by action, role assumptions by account, calls in
//! flight (the most at once and the average), throttled answers, and requests it had no
//! answer for ([`Stats::misses`]; a benchmark or test must fail on any).
//!
//! A request the recording has no answer for gets HTTP 500 with a message naming it, so a plan
//! that asks for something new fails loudly instead of reading a wrong answer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Output;
use crate::estate::Estate;
use crate::example::example_config_every_spoke;
use crate::proxy::{
    Exchange, Fault, arn_account, credential_scope, fault_response, header, simple,
};

/// Longest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// What stands for the template spoke's account id in kept requests and answers.
const PLACEHOLDER: &str = "{ACCOUNT}";
/// `organizations:ListAccountsForParent` returns at most 20 accounts a page
/// (<https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html>).
const ACCOUNTS_PAGE: usize = 20;
/// `cloudformation:ListStackInstances` returns at most 100 instances a page
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackInstances.html>).
const INSTANCES_PAGE: usize = 100;

/// Who signed a kept request: an account answered as recorded, or the template spoke.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Signer {
    Exact(String),
    Spoke,
}

/// A request as it is looked up: signer, method, path and query, `X-Amz-Target`, body; the
/// spoke it is about replaced by [`PLACEHOLDER`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    signer: Signer,
    method: String,
    target: String,
    amz_target: String,
    body: String,
}

/// An answer as recorded: the template spoke's id replaced by [`PLACEHOLDER`].
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// What a no-op plan of a small estate asked moto and how moto answered, ready to answer any
/// number of spokes. See the module doc.
#[derive(Debug, Clone)]
pub struct Recording {
    template: String,
    answers: HashMap<Key, Answer>,
    /// The access keys the recording saw that no `AssumeRole` handed out (the caller's own),
    /// with their accounts.
    base_keys: HashMap<String, String>,
    /// Spokes answered as recorded.
    exact: BTreeSet<String>,
    /// The EKS OU's id and the recorded entries of its account listing (JSON text), by id.
    ou_id: String,
    account_entries: BTreeMap<String, String>,
    /// The recorded `<member>`s of the stack set's instances by account, and the answer
    /// around the members (before `<Summaries>`, after `</Summaries>`).
    instance_members: BTreeMap<String, String>,
    instances_around: (String, String),
}

impl Recording {
    /// The recording of `exchanges` (a no-op plan through the proxy with
    /// [`crate::proxy::Proxy::record_exchanges`] on) of an estate whose EKS OU is `ou_id`:
    /// `template` is the spoke every generated spoke is answered like, `exact` the spokes
    /// answered as recorded, and `others` the rest of the recorded spokes, whose exchanges are
    /// left out (the synthetic AWS answers them from the template's).
    pub fn new(
        exchanges: &[Exchange],
        ou_id: &str,
        template: &str,
        exact: &[String],
        others: &[String],
    ) -> Result<Recording, String> {
        if exact.iter().any(|s| s == template) {
            return Err(format!("the template {template} cannot be an exact spoke"));
        }
        let mut spoke_set: BTreeSet<String> = others.iter().cloned().collect();
        spoke_set.insert(template.to_owned());
        let mut key_accounts: HashMap<String, String> = HashMap::new();
        let mut base_keys = HashMap::new();
        let mut answers = HashMap::new();
        let mut account_entries = BTreeMap::new();
        let mut instance_members = BTreeMap::new();
        let mut instances_around = None;
        for x in exchanges {
            let body = String::from_utf8_lossy(&x.body).into_owned();
            let answer = String::from_utf8_lossy(&x.answer).into_owned();
            let form = form_of(x.content_type.as_deref(), &body);
            let action = action_of(x.amz_target.as_deref(), &form);
            let key_id = x.access_key_id.clone().unwrap_or_default();
            if action.as_deref() == Some("GetCallerIdentity")
                && let Some(account) = xml_text(&answer, "Account")
            {
                base_keys.insert(key_id.clone(), account.to_owned());
                key_accounts.insert(key_id.clone(), account.to_owned());
            }
            let Some(signer_account) = key_accounts.get(&key_id).cloned() else {
                return Err(format!(
                    "the recording has a request signed with {key_id:?} before any answer named \
                     its account ({} {})",
                    x.method, x.target
                ));
            };
            if action.as_deref() == Some("AssumeRole")
                && let Some(account) = param(&form, "RoleArn").and_then(arn_account)
                && let Some(key) = xml_text(&answer, "AccessKeyId")
            {
                key_accounts.insert(key.to_owned(), account.to_owned());
            }
            let subject = subject_of(&signer_account, &x.target, &body, &spoke_set);
            if subject.as_deref().is_some_and(|s| s != template) {
                continue; // another spoke: answered from the template's
            }
            let spoke_signed = spoke_set.contains(&signer_account);
            let signer = if spoke_signed {
                Signer::Spoke
            } else {
                Signer::Exact(signer_account.clone())
            };
            let templated = |text: &str| {
                if subject.is_some() {
                    text.replace(template, PLACEHOLDER)
                } else {
                    text.to_owned()
                }
            };
            if action.as_deref() == Some("ListAccountsForParent")
                && json_param(&body, "ParentId").as_deref() == Some(ou_id)
            {
                let listing: serde_json::Value = serde_json::from_str(&answer)
                    .map_err(|e| format!("ListAccountsForParent answer: {e}"))?;
                for entry in listing["Accounts"].as_array().into_iter().flatten() {
                    if let Some(id) = entry["Id"].as_str() {
                        account_entries.insert(id.to_owned(), entry.to_string());
                    }
                }
                continue;
            }
            if action.as_deref() == Some("ListStackInstances") {
                let (members, around) = stack_instances_parts(&answer)?;
                instance_members.extend(members);
                instances_around = Some(around);
                continue;
            }
            answers.insert(
                Key {
                    signer,
                    method: x.method.clone(),
                    target: templated(&x.target),
                    amz_target: x.amz_target.clone().unwrap_or_default(),
                    body: templated(&body),
                },
                Answer {
                    status: x.status,
                    content_type: x.answer_type.clone(),
                    body: templated(&answer),
                },
            );
        }
        if !account_entries.contains_key(template) {
            return Err(format!(
                "the recording has no listing of the OU {ou_id} naming the template {template}"
            ));
        }
        if !instance_members.contains_key(template) {
            return Err(format!(
                "the recording has no stack instance listing naming the template {template}"
            ));
        }
        let instances_around = instances_around.unwrap_or_default();
        Ok(Recording {
            template: template.to_owned(),
            answers,
            base_keys,
            exact: exact.iter().cloned().collect(),
            ou_id: ou_id.to_owned(),
            account_entries,
            instance_members,
            instances_around,
        })
    }

    /// The template spoke's account id.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The recorded entry of `account` in a listing, else the template's with `account` in
    /// it.
    fn entry(&self, entries: &BTreeMap<String, String>, account: &str) -> String {
        match entries.get(account) {
            Some(e) => e.clone(),
            None => entries
                .get(&self.template)
                .map(|t| t.replace(&self.template, account))
                .unwrap_or_default(),
        }
    }

    /// Requests kept.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether no request was kept.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

/// How the synthetic AWS behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// The spoke accounts of the EKS OU, in the order the OU lists them.
    pub spokes: Vec<String>,
    /// Added to every call before it is answered.
    pub latency: Duration,
    /// Accounts held to [`Options::throttle_rate`].
    pub throttled: BTreeSet<String>,
    /// Requests a second a throttled account is allowed.
    pub throttle_rate: f64,
}

/// What the synthetic AWS saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Calls answered, injected throttling included.
    pub calls: u64,
    /// Calls by `service:action` (REST calls by method and path pattern).
    pub by_action: BTreeMap<String, u64>,
    /// `sts:AssumeRole` calls by the role's account.
    pub assume_role: BTreeMap<String, u64>,
    /// Calls of each throttled account, and how many of them were answered
    /// `ThrottlingException`.
    pub throttled_calls: BTreeMap<String, (u64, u64)>,
    /// The most calls in flight at once.
    pub max_in_flight: u64,
    /// Calls in flight on average between the first call and the last answer.
    pub mean_in_flight: f64,
    /// Requests the recording had no answer for (at most 20 described).
    pub misses: u64,
    /// The first misses, described.
    pub missed: Vec<String>,
}

/// A running synthetic AWS; stops when dropped.
#[derive(Debug)]
pub struct SyntheticAws {
    endpoint: String,
    inner: Arc<Inner>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl SyntheticAws {
    /// Serve `recording` for `options.spokes` on a free 127.0.0.1 port, with `threads` Tokio
    /// worker threads.
    pub fn start(
        recording: Recording,
        options: Options,
        threads: usize,
    ) -> Result<SyntheticAws, String> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("synthetic AWS: cannot bind 127.0.0.1:0: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("synthetic AWS: cannot make the listener non-blocking: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("synthetic AWS: cannot read the bound port: {e}"))?
            .port();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("eksmgr-synthetic-aws")
            .enable_all()
            .build()
            .map_err(|e| format!("synthetic AWS: cannot build a Tokio runtime: {e}"))?;
        // The spokes answered from the template.
        let spoke_set = options
            .spokes
            .iter()
            .filter(|s| !recording.exact.contains(*s))
            .cloned()
            .collect();
        let buckets = options
            .throttled
            .iter()
            .map(|a| (a.clone(), Bucket::new(options.throttle_rate)))
            .collect();
        let inner = Arc::new(Inner {
            recording,
            spoke_set,
            options,
            epoch: Instant::now(),
            buckets: Mutex::new(buckets),
            counts: Mutex::new(Counts::default()),
            calls: AtomicU64::new(0),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let task_inner = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("eksmgr-synthetic-aws".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, task_inner, stop_rx));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| format!("synthetic AWS: cannot start its thread: {e}"))?;
        Ok(SyntheticAws {
            endpoint: format!("http://127.0.0.1:{port}"),
            inner,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT`: eksmgr's `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What was seen since the start or the last [`SyntheticAws::reset`].
    pub fn stats(&self) -> Stats {
        let c = self.inner.lock_counts();
        let span = c.last_answer.saturating_sub(c.first_call).as_secs_f64();
        Stats {
            calls: self.inner.calls.load(Ordering::Relaxed),
            by_action: c.by_action.clone(),
            assume_role: c.assume_role.clone(),
            throttled_calls: c.throttled_calls.clone(),
            max_in_flight: c.max_in_flight,
            mean_in_flight: if span > 0.0 {
                c.busy.as_secs_f64() / span
            } else {
                0.0
            },
            misses: c.misses,
            missed: c.missed.clone(),
        }
    }

    /// Forget what was seen.
    pub fn reset(&self) {
        *self.inner.lock_counts() = Counts::default();
        self.inner.calls.store(0, Ordering::Relaxed);
    }
}

impl Drop for SyntheticAws {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `rate` held.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket {
            rate,
            tokens: rate,
            at: Instant::now(),
        }
    }

    /// Takes a token if there is one.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    by_action: BTreeMap<String, u64>,
    assume_role: BTreeMap<String, u64>,
    throttled_calls: BTreeMap<String, (u64, u64)>,
    in_flight: u64,
    max_in_flight: u64,
    /// Time with at least one call in flight, weighted by the calls in flight.
    busy: Duration,
    changed: Duration,
    first_call: Duration,
    last_answer: Duration,
    misses: u64,
    missed: Vec<String>,
}

impl Counts {
    /// Moves the in-flight count by `delta` at `now`.
    fn flight(&mut self, now: Duration, delta: i64) {
        let since = now.saturating_sub(self.changed);
        self.busy += since.mul_f64(self.in_flight as f64);
        self.changed = now;
        self.in_flight = self.in_flight.saturating_add_signed(delta);
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
    }
}

#[derive(Debug)]
struct Inner {
    recording: Recording,
    spoke_set: BTreeSet<String>,
    options: Options,
    epoch: Instant,
    buckets: Mutex<HashMap<String, Bucket>>,
    counts: Mutex<Counts>,
    calls: AtomicU64,
}

async fn accept_loop(
    listener: std::net::TcpListener,
    inner: Arc<Inner>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let inner = Arc::clone(&inner);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let inner = Arc::clone(&inner);
                async move { inner.handle(request).await }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Inner {
    fn lock_counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let r = simple(StatusCode::BAD_REQUEST, "text/plain", format!("body: {e}"));
                return Ok(r.map(Full::new));
            }
        };
        let started = self.epoch.elapsed();
        {
            let mut c = self.lock_counts();
            if c.first_call.is_zero() && self.calls.load(Ordering::Relaxed) == 0 {
                c.first_call = started;
                c.changed = started;
            }
            c.flight(started, 1);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !self.options.latency.is_zero() {
            tokio::time::sleep(self.options.latency).await;
        }
        let response = self.answer(&parts, &body);
        let done = self.epoch.elapsed();
        {
            let mut c = self.lock_counts();
            c.flight(done, -1);
            c.last_answer = c.last_answer.max(done);
        }
        Ok(response.map(Full::new))
    }

    /// The answer to one request.
    fn answer(&self, parts: &hyper::http::request::Parts, body: &[u8]) -> Response<Bytes> {
        let text = String::from_utf8_lossy(body);
        let content_type = header(&parts.headers, "content-type");
        let amz_target = header(&parts.headers, "x-amz-target").unwrap_or_default();
        let form = form_of(content_type, &text);
        let action = action_of(Some(amz_target).filter(|t| !t.is_empty()), &form);
        let (key_id, service) = header(&parts.headers, "authorization")
            .map(credential_scope)
            .unwrap_or_default();
        let key_id = key_id.unwrap_or_default();
        let signer = decode_key(&key_id)
            .map(str::to_owned)
            .or_else(|| self.recording.base_keys.get(&key_id).cloned())
            .unwrap_or_default();
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let qualified = format!(
            "{}:{}",
            service.unwrap_or_default(),
            action.clone().unwrap_or_else(|| format!(
                "{} {}",
                parts.method,
                rest_pattern(parts.uri.path())
            ))
        );
        let subject = subject_of(&signer, target, &text, &self.spoke_set);
        {
            let mut c = self.lock_counts();
            *c.by_action.entry(qualified.clone()).or_insert(0) += 1;
            if action.as_deref() == Some("AssumeRole") {
                let role = param(&form, "RoleArn").and_then(arn_account).unwrap_or("?");
                *c.assume_role.entry(role.to_owned()).or_insert(0) += 1;
            }
        }
        // The account's quota: its own calls, whoever the subject.
        if self.options.throttled.contains(&signer) {
            let allowed = self
                .buckets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&signer)
                .is_none_or(Bucket::take);
            let mut c = self.lock_counts();
            let entry = c.throttled_calls.entry(signer.clone()).or_insert((0, 0));
            entry.0 += 1;
            if !allowed {
                entry.1 += 1;
                drop(c);
                return fault_response(Fault::Throttle, &parts.headers);
            }
        }
        match action.as_deref() {
            Some("ListAccountsForParent")
                if json_param(&text, "ParentId").as_deref() == Some(&self.recording.ou_id) =>
            {
                return self.accounts_page(&text);
            }
            Some("ListStackInstances") => return self.instances_page(&form),
            _ => {}
        }
        let spoke_signed = self.spoke_set.contains(&signer);
        let templated = |t: &str| match &subject {
            Some(s) => t.replace(s.as_str(), PLACEHOLDER),
            None => t.to_owned(),
        };
        let key = Key {
            signer: if spoke_signed {
                Signer::Spoke
            } else {
                Signer::Exact(signer.clone())
            },
            method: parts.method.to_string(),
            target: templated(target),
            amz_target: amz_target.to_owned(),
            body: templated(&text),
        };
        let Some(answer) = self.recording.answers.get(&key) else {
            let what = format!(
                "{qualified} signed by {signer:?} about {subject:?}: {} {target} {}",
                parts.method,
                text.chars().take(300).collect::<String>()
            );
            let mut c = self.lock_counts();
            c.misses += 1;
            if c.missed.len() < 20 {
                c.missed.push(what.clone());
            }
            return simple(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("synthetic AWS: no recorded answer for {what}"),
            );
        };
        let mut out = match &subject {
            Some(s) => answer.body.replace(PLACEHOLDER, s),
            None => answer.body.clone(),
        };
        if action.as_deref() == Some("AssumeRole") {
            let role_account = param(&form, "RoleArn").and_then(arn_account).unwrap_or("");
            out = fresh_credentials(&out, role_account);
        }
        let mut response = simple(
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
            "text/plain",
            out,
        );
        if let Some(t) = answer
            .content_type
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            response.headers_mut().insert(header::CONTENT_TYPE, t);
        }
        response
    }

    /// A page of the EKS OU's accounts.
    fn accounts_page(&self, body: &str) -> Response<Bytes> {
        let request: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let start = request["NextToken"]
            .as_str()
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(0);
        let size = request["MaxResults"]
            .as_u64()
            .map_or(ACCOUNTS_PAGE, |n| (n as usize).clamp(1, ACCOUNTS_PAGE));
        let spokes = &self.options.spokes;
        let end = (start + size).min(spokes.len());
        let entries = &self.recording.account_entries;
        let accounts: Vec<serde_json::Value> = spokes
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter_map(|a| serde_json::from_str(&self.recording.entry(entries, a)).ok())
            .collect();
        let mut page = serde_json::json!({ "Accounts": accounts });
        if end < spokes.len() {
            page["NextToken"] = end.to_string().into();
        }
        simple(
            StatusCode::OK,
            "application/x-amz-json-1.1",
            page.to_string(),
        )
    }

    /// A page of the stack set's instances: one per spoke.
    fn instances_page(&self, form: &[(String, String)]) -> Response<Bytes> {
        let start = param(form, "NextToken")
            .and_then(|t| t.parse::<usize>().ok())
            .unwrap_or(0);
        let size = param(form, "MaxResults")
            .and_then(|n| n.parse::<usize>().ok())
            .map_or(INSTANCES_PAGE, |n| n.clamp(1, INSTANCES_PAGE));
        let spokes = &self.options.spokes;
        let end = (start + size).min(spokes.len());
        let (before, after) = &self.recording.instances_around;
        let mut out = String::with_capacity(before.len() + after.len() + 600 * size);
        out.push_str(before);
        out.push_str("<Summaries>");
        for a in spokes.get(start..end).unwrap_or_default() {
            out.push_str(&self.recording.entry(&self.recording.instance_members, a));
        }
        out.push_str("</Summaries>");
        if end < spokes.len() {
            out.push_str(&format!("<NextToken>{end}</NextToken>"));
        }
        out.push_str(after);
        simple(StatusCode::OK, "text/xml", out)
    }
}

/// The access key id an `AssumeRole` of a role in `account` hands out.
fn synthetic_key(account: &str) -> String {
    format!("ASIA{account}SYNT")
}

/// The account of a [`synthetic_key`].
fn decode_key(key: &str) -> Option<&str> {
    key.strip_prefix("ASIA")
        .and_then(|k| k.strip_suffix("SYNT"))
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

/// An `AssumeRole` answer with the access key id of the role's account and credentials valid
/// for an hour from now.
fn fresh_credentials(answer: &str, role_account: &str) -> String {
    let mut out = replace_xml_text(answer, "AccessKeyId", &synthetic_key(role_account));
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let secs = expires
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    out = replace_xml_text(&out, "Expiration", &iso8601(secs));
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch.
fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `text` with the content of the first `<tag>` replaced by `value`.
fn replace_xml_text(text: &str, tag: &str, value: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let Some(start) = text.find(&open).map(|i| i + open.len()) else {
        return text.to_owned();
    };
    let Some(len) = text[start..].find(&close) else {
        return text.to_owned();
    };
    format!("{}{value}{}", &text[..start], &text[start + len..])
}

/// The content of the first `<tag>` of an XML text.
fn xml_text<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(&format!("<{tag}>"))?;
    let (value, _) = rest.split_once(&format!("</{tag}>"))?;
    Some(value.trim())
}

/// The `<member>`s of a `ListStackInstances` answer by account, and the answer before
/// `<Summaries>` and after `</Summaries>` (its `NextToken` left out).
type InstanceParts = (BTreeMap<String, String>, (String, String));

fn stack_instances_parts(answer: &str) -> Result<InstanceParts, String> {
    let shape = || format!("a ListStackInstances answer of an unknown shape: {answer}");
    let (before, rest) = answer.split_once("<Summaries>").ok_or_else(shape)?;
    let (members, after) = rest.split_once("</Summaries>").ok_or_else(shape)?;
    let mut out = BTreeMap::new();
    for m in members.split("</member>") {
        if let Some(account) = xml_text(m, "Account") {
            out.insert(account.to_owned(), format!("{}</member>", m.trim_start()));
        }
    }
    let after = match (after.find("<NextToken>"), after.find("</NextToken>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &after[..a], &after[b + 12..]),
        _ => after.to_owned(),
    };
    Ok((out, (before.to_owned(), after)))
}

/// The form fields of a query-protocol request (empty for other protocols).
fn form_of(content_type: Option<&str>, body: &str) -> Vec<(String, String)> {
    let form = content_type.is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if form {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    } else {
        Vec::new()
    }
}

/// A form field.
fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A top-level string field of a JSON body.
fn json_param(body: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v[key].as_str().map(str::to_owned)
}

/// The action of a query or JSON request (`None` for REST).
fn action_of(amz_target: Option<&str>, form: &[(String, String)]) -> Option<String> {
    if let Some(t) = amz_target {
        return t.rsplit('.').next().map(str::to_owned);
    }
    param(form, "Action").map(str::to_owned)
}

/// A REST path with its names and ids replaced by `{}`: `/clusters/{}/addons/{}`.
fn rest_pattern(path: &str) -> String {
    const WORDS: [&str; 9] = [
        "clusters",
        "addons",
        "access-entries",
        "access-policies",
        "pod-identity-associations",
        "node-groups",
        "cluster-versions",
        "updates",
        "tags",
    ];
    path.split('/')
        .map(|s| {
            if s.is_empty() || WORDS.contains(&s) {
                s
            } else {
                "{}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The spoke a request is about: its signer when that is a spoke, else the first spoke
/// account id in its path or body.
fn subject_of(signer: &str, target: &str, body: &str, spokes: &BTreeSet<String>) -> Option<String> {
    if spokes.contains(signer) {
        return Some(signer.to_owned());
    }
    for text in [target, body] {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i - start == 12 {
                    let id = &text[start..i];
                    if spokes.contains(id) {
                        return Some(id.to_owned());
                    }
                }
            } else {
                i += 1;
            }
        }
    }
    None
}

/// An example estate in moto and the recording of its no-op plan: what a synthetic AWS is
/// built from.
pub struct Recorded {
    /// The estate (moto, proxy, work directory), applied.
    pub estate: Estate,
    /// The recording of its no-op plan.
    pub recording: Recording,
    /// The no-op plan recorded.
    pub noop: Output,
    /// The configuration (`examples/eksmgr.toml` with the seed's ids, a cluster in every
    /// spoke).
    pub config: String,
    /// The EKS OU's spokes, in the seed's order.
    pub spokes: Vec<String>,
    /// The spokes answered as recorded: the example gives them subnets of their own.
    pub exact: Vec<String>,
    /// The recorded spokes answered from the template (the fourth).
    pub others: Vec<String>,
}

/// Starts moto with an organization of four spokes, applies the example estate
/// (`examples/eksmgr.toml`, a `workloads` cluster in every spoke), and records a no-op plan
/// through the proxy. The first two spokes are exact, the third is the template, the fourth
/// is answered from the template. `binary` is the eksmgr that applies and plans (default: the
/// one the tests use): the recording holds the calls of that build.
pub fn record_example(prefix: &str, binary: Option<&Path>) -> Result<Recorded, String> {
    let mut builder = Estate::builder(prefix)
        .spokes(4)
        .proxy()
        .config(example_config_every_spoke);
    if let Some(binary) = binary {
        builder = builder.binary(binary);
    }
    let estate = builder.start()?;
    estate.apply()?;
    let spokes = estate.seed.spoke_account_ids.clone();
    let (exact, template, others) = (
        spokes[..2].to_vec(),
        spokes[2].clone(),
        spokes[3..].to_vec(),
    );
    let proxy = estate.proxy()?;
    proxy.record_exchanges(true);
    let noop = estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    proxy.record_exchanges(false);
    let recording = Recording::new(
        &proxy.exchanges(),
        &estate.seed.eks_ou_id,
        &template,
        &exact,
        &others,
    )?;
    let config = std::fs::read_to_string(estate.file("eksmgr.toml"))
        .map_err(|e| format!("read the estate's configuration: {e}"))?;
    Ok(Recorded {
        estate,
        recording,
        noop,
        config,
        spokes,
        exact,
        others,
    })
}

/// The state of the synthetic estate of `spokes`, written to `out`: the records of `state`
/// (the recorded estate's state file) outside the templated spokes as they are, and the
/// template spoke's records for every spoke that is not exact (its account id replaced); the
/// records of `others` (recorded spokes answered from the template) are left out. An array of
/// account ids naming the template (a stack set's accounts) names every spoke instead.
/// Returns the number of records.
pub fn generate_state(
    recording: &Recording,
    state: &Path,
    out: &Path,
    others: &[String],
    spokes: &[String],
) -> Result<usize, String> {
    let template = recording.template.as_str();
    let text = std::fs::read_to_string(state)
        .map_err(|e| format!("cannot read {}: {e}", state.display()))?;
    let mut doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", state.display()))?;
    let records = doc["resources"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("{}: no resources array", state.display()))?;
    let dropped: BTreeSet<&str> = others.iter().map(String::as_str).collect();
    let mut template_records = Vec::new();
    let mut out_records = Vec::new();
    for r in records {
        let account = record_account(&r).unwrap_or_default();
        if account == template {
            template_records.push(serde_json::to_string(&r).map_err(|e| e.to_string())?);
        } else if !dropped.contains(account.as_str()) {
            let mut r = r;
            widen_account_lists(&mut r, template, spokes);
            out_records.push(r);
        }
    }
    for spoke in spokes.iter().filter(|s| !recording.exact.contains(*s)) {
        for t in &template_records {
            let r: serde_json::Value =
                serde_json::from_str(&t.replace(template, spoke)).map_err(|e| e.to_string())?;
            out_records.push(r);
        }
    }
    let n = out_records.len();
    doc["resources"] = serde_json::Value::Array(out_records);
    // Through the state crate: its order and layout, as eksmgr writes them.
    let json = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
    let file = eksmgr_state::StateFile::new(out);
    let mut parsed = file
        .parse(&json)
        .map_err(|e| format!("the generated state does not load: {e}"))?;
    // Saving counts a new serial; the generated state is the recorded one, serial included.
    parsed.serial = parsed.serial.saturating_sub(1);
    file.save(&mut parsed)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(n)
}

/// The account of a state record (`address.account`, or the address text's).
fn record_account(r: &serde_json::Value) -> Option<String> {
    if let Some(a) = r["address"]["account"].as_str() {
        return Some(a.to_owned());
    }
    let text = r["address"].as_str()?;
    let inside = text.rsplit_once('[')?.1.trim_end_matches(']');
    Some(inside.split('/').next()?.to_owned())
}

/// Every array of strings under `v` that holds `template` holds `spokes` instead (sorted).
fn widen_account_lists(v: &mut serde_json::Value, template: &str, spokes: &[String]) {
    match v {
        serde_json::Value::Array(items) => {
            let names_template = items.iter().any(|i| i.as_str() == Some(template));
            if names_template && items.iter().all(serde_json::Value::is_string) {
                let mut all: Vec<&String> = spokes.iter().collect();
                all.sort();
                *items = all.into_iter().map(|s| s.clone().into()).collect();
            } else {
                items
                    .iter_mut()
                    .for_each(|i| widen_account_lists(i, template, spokes));
            }
        }
        serde_json::Value::Object(map) => map
            .values_mut()
            .for_each(|i| widen_account_lists(i, template, spokes)),
        _ => {}
    }
}

/// `n` spoke account ids, distinct from `taken`, in order.
pub fn spoke_ids(n: usize, taken: &BTreeSet<String>) -> Vec<String> {
    (0..)
        .map(|i: u64| format!("{:012}", 700_000_000_000 + i * 7919))
        .filter(|id| !taken.contains(id))
        .take(n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_account() {
        let key = synthetic_key("123456789012");
        assert_eq!(key.len(), 20);
        assert_eq!(decode_key(&key), Some("123456789012"));
        assert_eq!(decode_key("ASIAXXXXXXXXXXXXXXXX"), None);
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_796_515_200), "2026-12-06T00:00:00Z");
    }

    #[test]
    fn rest_paths_become_patterns() {
        assert_eq!(
            rest_pattern("/clusters/workloads/addons/vpc-cni"),
            "/clusters/{}/addons/{}"
        );
    }

    #[test]
    fn subjects_are_found_in_requests() {
        let spokes: BTreeSet<String> = ["111111111111".to_owned()].into();
        assert_eq!(
            subject_of(
                "222222222222",
                "/",
                "RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole",
                &spokes
            ),
            Some("111111111111".to_owned())
        );
        assert_eq!(
            subject_of("222222222222", "/", "x=1234567890123", &spokes),
            None
        );
        assert_eq!(
            subject_of("111111111111", "/", "", &spokes),
            Some("111111111111".to_owned())
        );
    }
}
