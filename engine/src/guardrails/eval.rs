//! A small, deliberately conservative evaluator of the `Deny` statements of an IAM-style policy
//! document (a service control policy), for one request.
//!
//! Given a policy and a [`Request`] (principal ARN, action, resource ARN and the condition keys
//! known before apply), [`evaluate`] decides whether some statement certainly denies the request
//! ([`Decision::Denied`]), certainly none does ([`Decision::NotDenied`]), or it cannot tell
//! ([`Decision::Unknown`], with each statement that may deny and why it cannot be proven not
//! to). It answers `NotDenied` only when every statement is proven not to apply.
//!
//! What it understands:
//!
//! - `Effect`: only `"Deny"` statements are evaluated (an SCP's `Allow` statements never
//!   restrict anything as long as `FullAWSAccess` stays attached).
//! - `Action` / `NotAction`: `*` and `?` wildcards, case-insensitive.
//! - `Resource` / `NotResource`: `*` and `?` wildcards, case-sensitive, compared segment by
//!   segment when both sides are six-part ARNs; no `Resource` counts as every resource.
//! - `Condition`: every operator must hold, every key of an operator must hold, and one of a
//!   key's values is enough (none, for the negated operators). The operators
//!   `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`,
//!   `StringLike`, `StringNotLike`, `ArnEquals`, `ArnLike`, `ArnNotEquals`, `ArnNotLike` (each
//!   also with `IfExists`, and with the `ForAnyValue:` / `ForAllValues:` qualifiers, which
//!   reduce to the plain operator for the single-valued keys a request carries) and `Null`.
//!
//! The request's condition keys are whatever its caller knows; [`Request::new`] fills in
//! `aws:PrincipalArn` and `aws:PrincipalAccount`, [`Request::in_region`] adds
//! `aws:RequestedRegion`, [`Request::with_key`] anything else (`aws:PrincipalOrgID` when the
//! organization id is known). A key the request does not carry, an operator not listed above,
//! a policy variable (`${...}`) or an element other than the ones above makes the statement
//! "may deny": it is never silently taken as not applying.
//!
//! A request value may be known only as a pattern ([`RequestValue::Pattern`], `*` standing for
//! any text): the StackSet execution role is `stacksets-exec-<hash>`, and only its prefix is
//! known before it exists. A pattern matches a policy pattern when every text it stands for
//! does, does not when none does (by their literal prefixes and suffixes), and may otherwise.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};
use smallvec::SmallVec;

use crate::model::Value;

use crate::policy::{self, PolicyError, wildcard_match};

/// A value of the request: known exactly, or only as a pattern where `*` stands for any text.
/// The text is shared: the guardrails make many requests of each principal and resource (one
/// per action), and copying one copies a pointer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestValue {
    /// The value itself.
    Exact(Arc<str>),
    /// A pattern every possible value matches (`*` is any text, `?` is not special).
    Pattern(Arc<str>),
}

impl RequestValue {
    /// An exactly known value.
    pub fn exact(s: impl Into<Arc<str>>) -> Self {
        RequestValue::Exact(s.into())
    }

    /// A value known only as a pattern (`*` is any text).
    pub fn pattern(s: impl Into<Arc<str>>) -> Self {
        RequestValue::Pattern(s.into())
    }

    /// The text (the value, or its pattern).
    pub fn as_str(&self) -> &str {
        match self {
            RequestValue::Exact(s) | RequestValue::Pattern(s) => s,
        }
    }

    /// The value, borrowed.
    fn text(&self) -> Text<'_> {
        match self {
            RequestValue::Exact(s) => Text::Exact(s),
            RequestValue::Pattern(s) => Text::Pattern(s),
        }
    }
}

/// A [`RequestValue`] or a part of one, borrowed (the evaluator looks at millions of them and
/// copies none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text<'a> {
    /// The value itself.
    Exact(&'a str),
    /// A pattern every possible value matches (`*` is any text, `?` is not special).
    Pattern(&'a str),
}

impl<'a> Text<'a> {
    fn as_str(self) -> &'a str {
        match self {
            Text::Exact(s) | Text::Pattern(s) => s,
        }
    }

    /// A part of this value, exact unless it is a pattern part holding a `*`.
    fn part(self, text: &'a str) -> Text<'a> {
        match self {
            Text::Pattern(_) if text.contains('*') => Text::Pattern(text),
            _ => Text::Exact(text),
        }
    }
}

impl fmt::Display for RequestValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One API call to check: who makes it, what it is, on what, and the condition keys known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Request {
    /// The calling principal's ARN (for a role session: the role's ARN).
    pub principal: RequestValue,
    /// The action, `service:Operation`.
    pub action: Cow<'static, str>,
    /// The resource ARN (`*` for actions without a resource).
    pub resource: RequestValue,
    /// Condition keys known before apply, by lower-case name, sorted by name: a few, so a
    /// sorted list (which orders requests as a map would) rather than a map.
    context: Vec<(Cow<'static, str>, RequestValue)>,
}

impl Request {
    /// A request; `aws:PrincipalArn` is the principal and `aws:PrincipalAccount` its ARN's
    /// account (when that part holds no wildcard).
    pub fn new(
        principal: RequestValue,
        action: impl Into<Cow<'static, str>>,
        resource: RequestValue,
    ) -> Self {
        let mut request = Request {
            context: Vec::with_capacity(3),
            principal,
            action: action.into(),
            resource,
        };
        if let Some(account) = request.principal.as_str().split(':').nth(4)
            && !account.is_empty()
            && !account.contains(['*', '?'])
        {
            let account = RequestValue::exact(account);
            request.set(Cow::Borrowed("aws:principalaccount"), account);
        }
        let arn = request.principal.clone();
        request.set(Cow::Borrowed("aws:principalarn"), arn);
        request
    }

    /// The same call for another action on another resource: the principal and the
    /// condition keys stay (none of [`Request::new`]'s or [`Request::in_region`]'s depends on
    /// either), and are not worked out again.
    pub fn for_call(
        &self,
        action: impl Into<Cow<'static, str>>,
        resource: RequestValue,
    ) -> Request {
        Request {
            principal: self.principal.clone(),
            action: action.into(),
            resource,
            context: self.context.clone(),
        }
    }

    /// Sets `aws:RequestedRegion`.
    pub fn in_region(mut self, region: impl Into<Arc<str>>) -> Self {
        let region = RequestValue::exact(region);
        self.set(Cow::Borrowed("aws:requestedregion"), region);
        self
    }

    /// Sets a condition key (names are case-insensitive).
    pub fn with_key(mut self, key: &str, value: RequestValue) -> Self {
        self.set(Cow::Owned(key.to_ascii_lowercase()), value);
        self
    }

    /// Sets the condition key `name` (in lower case), keeping the keys sorted.
    fn set(&mut self, name: Cow<'static, str>, value: RequestValue) {
        match self.context.binary_search_by(|(n, _)| n.cmp(&name)) {
            Ok(at) => {
                if let Some(slot) = self.context.get_mut(at) {
                    slot.1 = value;
                }
            }
            Err(at) => self.context.insert(at, (name, value)),
        }
    }

    /// A condition key's value, if the request carries it.
    pub fn key(&self, key: &str) -> Option<&RequestValue> {
        // The names are stored in lower case: comparing without case finds the same one as
        // looking the lower-cased name up, without making it.
        self.context
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value)
    }
}

/// Which statement of a document: its position and its `Sid`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatementRef {
    /// Position in the document's `Statement` list, from 0.
    pub index: usize,
    /// The statement's `Sid`, if it has one.
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "`{sid}`"),
            None => write!(f, "#{} (no Sid)", self.index + 1),
        }
    }
}

/// A statement that may deny the request, and why that cannot be ruled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unproven {
    /// The statement.
    pub statement: StatementRef,
    /// What could not be evaluated (`condition key aws:SourceVpc is not known ...`).
    pub reason: String,
}

/// What the policy does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// This statement certainly denies it (the first such statement).
    Denied {
        /// The denying statement.
        statement: StatementRef,
    },
    /// No statement denies it.
    NotDenied,
    /// No statement certainly denies it, but these may.
    Unknown {
        /// The statements that may deny it.
        statements: Vec<Unproven>,
    },
}

/// Why a document could not be evaluated at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EvalError {
    /// Not a policy document.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// An object without a `Statement`.
    #[error("the policy document has no `Statement`")]
    NoStatement,
}

/// Evaluates the `Deny` statements of `doc` (an object, or a possibly URL-encoded JSON string)
/// for `req`.
pub fn evaluate(doc: &Value, req: &Request) -> Result<Decision, EvalError> {
    Ok(Policy::new(doc)?.evaluate(req))
}

/// A policy document read once, to evaluate many requests: what [`evaluate`] decides, without
/// reading the document again for each request, and with what each statement's `Action` or
/// `NotAction` says of an action (the same for every request of that action) worked out once
/// per action. The guardrails evaluate one SCP for every call eksmgr needs in every spoke.
#[derive(Debug)]
pub struct Policy {
    statements: Vec<Compiled>,
    /// Where in [`Policy::by_action`] each action's results are.
    actions: HashMap<Cow<'static, str>, usize>,
    /// Per action seen: the `Action` / `NotAction` result of each statement (no for a
    /// statement whose outcome does not depend on the request).
    by_action: Vec<Box<[Eval]>>,
}

impl Policy {
    /// Reads `doc` (an object, or a possibly URL-encoded JSON string).
    pub fn new(doc: &Value) -> Result<Policy, EvalError> {
        let parsed;
        let doc = match doc {
            Value::Object(_) => doc,
            other => {
                parsed = policy::parse(other)?;
                &parsed
            }
        };
        let statements: &[Value] = match doc.get("Statement") {
            Some(Value::Array(list)) => list,
            Some(single) => std::slice::from_ref(single),
            None => return Err(EvalError::NoStatement),
        };
        Ok(Policy {
            statements: statements
                .iter()
                .enumerate()
                .map(|(index, st)| Compiled::read(index, st))
                .collect(),
            actions: HashMap::new(),
            by_action: Vec::new(),
        })
    }

    /// What the policy's `Deny` statements do to `req`: the same as [`evaluate`].
    pub fn evaluate(&mut self, req: &Request) -> Decision {
        let at = match self.actions.get(&*req.action) {
            Some(&at) => at,
            None => {
                let results = self
                    .statements
                    .iter()
                    .map(|c| match &c.rule {
                        Rule::Fixed(_) => Eval::no(),
                        Rule::Deny(d) => d.action.eval(|p| action_matches(p, &req.action)),
                    })
                    .collect();
                self.by_action.push(results);
                let at = self.by_action.len() - 1;
                self.actions.insert(req.action.clone(), at);
                at
            }
        };
        let actions: &[Eval] = self.by_action.get(at).map_or(&[], |a| a);
        let mut unproven = Vec::new();
        for (c, action) in self.statements.iter().zip(actions) {
            let outcome = match &c.rule {
                Rule::Fixed(e) => e.clone(),
                Rule::Deny(d) => d.applies(action, req),
            };
            match outcome.tri {
                Tri::Yes => {
                    return Decision::Denied {
                        statement: c.statement.clone(),
                    };
                }
                Tri::No => {}
                Tri::Maybe => unproven.push(Unproven {
                    statement: c.statement.clone(),
                    reason: outcome.why.join("; "),
                }),
            }
        }
        if unproven.is_empty() {
            Decision::NotDenied
        } else {
            Decision::Unknown {
                statements: unproven,
            }
        }
    }
}

/// One statement of a [`Policy`], read.
#[derive(Debug)]
struct Compiled {
    statement: StatementRef,
    rule: Rule,
}

/// What a statement does.
#[derive(Debug)]
enum Rule {
    /// The same to every request (a statement that is not an object, or not a `Deny`).
    Fixed(Eval),
    /// A `Deny` statement.
    Deny(Deny),
}

/// A `Deny` statement's elements, read.
#[derive(Debug)]
struct Deny {
    action: Element,
    resource: Element,
    /// Why each element that is not evaluated makes the statement "may deny", in order.
    unevaluated: Vec<String>,
    condition: Option<Condition>,
}

/// An `Action`, `NotAction`, `Resource` or `NotResource` element, read.
#[derive(Debug)]
enum Element {
    /// The same for every request.
    Fixed(Eval),
    /// One of the values matches (when `negated`, none does).
    Any { values: Vec<String>, negated: bool },
}

impl Element {
    fn read(v: &Value, element: &str, negated: bool) -> Element {
        match strings(v) {
            Some(list) => Element::Any {
                values: list.into_iter().map(Cow::into_owned).collect(),
                negated,
            },
            None => {
                let e = Eval::maybe(format!("{element} is not a string or a list of strings"));
                Element::Fixed(if negated { e.not() } else { e })
            }
        }
    }

    fn eval(&self, f: impl Fn(&str) -> Eval) -> Eval {
        match self {
            Element::Fixed(e) => e.clone(),
            Element::Any { values, negated } => {
                let e = Eval::any(values.iter().map(|s| f(s)));
                if *negated { e.not() } else { e }
            }
        }
    }
}

impl Compiled {
    fn read(index: usize, st: &Value) -> Compiled {
        let statement = StatementRef {
            index,
            sid: st.get("Sid").and_then(Value::as_str).map(str::to_string),
        };
        let rule = match st {
            Value::Object(m) => Deny::read(m).map_or_else(|| Rule::Fixed(Eval::no()), Rule::Deny),
            _ => Rule::Fixed(Eval::maybe("the statement is not an object")),
        };
        Compiled { statement, rule }
    }
}

impl Deny {
    /// The statement's elements; `None` when it is not a `Deny`.
    fn read(m: &eksmgr_state::value::Map) -> Option<Deny> {
        if m.get("Effect").and_then(Value::as_str) != Some("Deny") {
            return None;
        }
        let action = match (m.get("Action"), m.get("NotAction")) {
            (Some(a), None) => Element::read(a, "Action", false),
            (None, Some(a)) => Element::read(a, "NotAction", true),
            _ => Element::Fixed(Eval::maybe(
                "the statement needs exactly one of Action and NotAction",
            )),
        };
        let resource = match (m.get("Resource"), m.get("NotResource")) {
            (Some(r), None) => Element::read(r, "Resource", false),
            (None, Some(r)) => Element::read(r, "NotResource", true),
            (None, None) => Element::Fixed(Eval::yes()),
            (Some(_), Some(_)) => Element::Fixed(Eval::maybe(
                "the statement has both Resource and NotResource",
            )),
        };
        let unevaluated = m
            .keys()
            .filter(|k| !STATEMENT_KEYS.contains(&k.as_str()))
            .map(|k| format!("the element `{k}` is not evaluated"))
            .collect();
        Some(Deny {
            action,
            resource,
            unevaluated,
            condition: m.get("Condition").map(Condition::read),
        })
    }

    /// Whether the statement denies `req`, given what its `Action` / `NotAction` says of the
    /// request's action.
    fn applies(&self, action: &Eval, req: &Request) -> Eval {
        if action.tri == Tri::No {
            return Eval::no();
        }
        let resource = self.resource.eval(|p| resource_matches(p, &req.resource));
        let mut result = action.clone().and(resource);
        if result.tri == Tri::No {
            return result;
        }
        for why in &self.unevaluated {
            result = result.and(Eval::maybe(why.as_str()));
        }
        if let Some(c) = &self.condition {
            result = result.and(c.eval(req));
        }
        result
    }
}

/// A `Condition` block, read.
#[derive(Debug)]
enum Condition {
    /// The same for every request (not an object).
    Fixed(Eval),
    /// Each operator, with its keys (or what it is for every request).
    Operators(Vec<(String, Result<Vec<KeyTest>, Eval>)>),
}

/// One key of one condition operator, read.
#[derive(Debug)]
struct KeyTest {
    key: String,
    /// The values, or what the key test is for every request that carries the key.
    values: Result<Vec<String>, Eval>,
}

impl Condition {
    fn read(c: &Value) -> Condition {
        let Value::Object(ops) = c else {
            return Condition::Fixed(Eval::maybe("Condition is not an object"));
        };
        Condition::Operators(
            ops.iter()
                .map(|(op, keys)| {
                    let tests = match keys {
                        Value::Object(keys) => Ok(keys
                            .iter()
                            .map(|(key, values)| KeyTest {
                                key: key.as_str().to_string(),
                                values: key_values(op, key, values),
                            })
                            .collect()),
                        _ => Err(Eval::maybe(format!("the {op} condition is not an object"))),
                    };
                    (op.as_str().to_string(), tests)
                })
                .collect(),
        )
    }

    /// Every operator holds.
    fn eval(&self, req: &Request) -> Eval {
        match self {
            Condition::Fixed(e) => e.clone(),
            Condition::Operators(ops) => Eval::all(ops.iter().map(|(op, tests)| match tests {
                Ok(tests) => Eval::all(tests.iter().map(|t| t.eval(op, req))),
                Err(e) => e.clone(),
            })),
        }
    }
}

impl KeyTest {
    fn eval(&self, op: &str, req: &Request) -> Eval {
        let key = self.key.as_str();
        let Some(actual) = req.key(key) else {
            return Eval::maybe(format!(
                "the condition key {key} ({op}) is not known before apply"
            ));
        };
        match &self.values {
            Ok(values) => key_condition(op, values, actual),
            Err(e) => e.clone(),
        }
    }
}

/// The values of one key of one condition operator, or why the test cannot be evaluated.
fn key_values(op: &str, key: &str, values: &Value) -> Result<Vec<String>, Eval> {
    let Some(values) = strings(values) else {
        return Err(Eval::maybe(format!(
            "the values of {op} {key} are not strings"
        )));
    };
    if values.iter().any(|v| v.contains("${")) {
        return Err(Eval::maybe(format!(
            "{op} {key} uses a policy variable, which is not evaluated"
        )));
    }
    Ok(values.into_iter().map(Cow::into_owned).collect())
}

/// Three-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

/// A three-valued result with the reasons for a `Maybe`.
#[derive(Debug, Clone)]
struct Eval {
    tri: Tri,
    why: Vec<String>,
}

impl Eval {
    fn yes() -> Self {
        Eval {
            tri: Tri::Yes,
            why: Vec::new(),
        }
    }

    fn no() -> Self {
        Eval {
            tri: Tri::No,
            why: Vec::new(),
        }
    }

    fn maybe(why: impl Into<String>) -> Self {
        Eval {
            tri: Tri::Maybe,
            why: vec![why.into()],
        }
    }

    fn of(tri: Tri) -> Self {
        Eval {
            tri,
            why: Vec::new(),
        }
    }

    fn from_bool(b: bool) -> Self {
        if b { Eval::yes() } else { Eval::no() }
    }

    fn and(self, other: Eval) -> Eval {
        match (self.tri, other.tri) {
            (Tri::No, _) | (_, Tri::No) => Eval::no(),
            (Tri::Yes, Tri::Yes) => Eval::yes(),
            _ => {
                let mut why = self.why;
                why.extend(other.why);
                Eval {
                    tri: Tri::Maybe,
                    why,
                }
            }
        }
    }

    fn not(self) -> Eval {
        let tri = match self.tri {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
        };
        Eval { tri, why: self.why }
    }

    /// True when one is, false when all are not (an empty list is false).
    fn any(items: impl IntoIterator<Item = Eval>) -> Eval {
        let mut why = Vec::new();
        let mut maybe = false;
        for e in items {
            match e.tri {
                Tri::Yes => return Eval::yes(),
                Tri::No => {}
                Tri::Maybe => {
                    maybe = true;
                    why.extend(e.why);
                }
            }
        }
        if maybe {
            Eval {
                tri: Tri::Maybe,
                why,
            }
        } else {
            Eval::no()
        }
    }

    /// True when all are (an empty list is true).
    fn all(items: impl IntoIterator<Item = Eval>) -> Eval {
        items.into_iter().fold(Eval::yes(), Eval::and)
    }
}

const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

/// The strings of a value (booleans and numbers as text, as IAM reads them). Held inline up
/// to a dozen: an element is read for every request the guardrails check.
fn strings(v: &Value) -> Option<SmallVec<[Cow<'_, str>; 12]>> {
    fn one(x: &Value) -> Option<Cow<'_, str>> {
        match x {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            _ => None,
        }
    }
    match v {
        Value::Array(list) => list.iter().map(one).collect(),
        other => one(other).map(|s| smallvec::smallvec![s]),
    }
}

fn action_matches(pattern: &str, action: &str) -> Eval {
    Eval::from_bool(policy::wildcard_match_ignore_ascii_case(pattern, action))
}

/// A `Resource` pattern against the request's resource.
fn resource_matches(pattern: &str, resource: &RequestValue) -> Eval {
    if pattern == "*" {
        return Eval::yes();
    }
    let resource = resource.text();
    match (arn_parts(pattern), arn_parts(resource.as_str())) {
        (Some(p), Some(r)) => Eval::all(
            p.iter()
                .zip(r)
                .map(|(p, r)| Eval::of(like(p, resource.part(r), false))),
        ),
        _ => Eval::of(like(pattern, resource, false)),
    }
}

/// The six colon-separated parts of an ARN (the last one keeps its colons).
fn arn_parts(s: &str) -> Option<[&str; 6]> {
    let mut it = s.splitn(6, ':');
    let parts = [
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ];
    (parts[0] == "arn").then_some(parts)
}

fn fold(s: &str, ci: bool) -> Cow<'_, str> {
    if ci {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// A wildcard pattern of the policy against a request value.
fn like(pattern: &str, value: Text<'_>, ci: bool) -> Tri {
    let p = fold(pattern, ci);
    match value {
        Text::Exact(t) => {
            if wildcard_match(&p, &fold(t, ci)) {
                Tri::Yes
            } else {
                Tri::No
            }
        }
        Text::Pattern(t) => {
            let t = fold(t, ci);
            // The policy's literal characters are never `*`, so when the pattern matches the
            // request pattern read literally, every `*` of the latter fell in a `*` of the
            // former, which matches whatever that `*` stands for. `?` could eat a `*`.
            if !p.contains('?') && wildcard_match(&p, &t) {
                Tri::Yes
            } else if may_overlap(&p, &t) {
                Tri::Maybe
            } else {
                Tri::No
            }
        }
    }
}

/// A literal value of the policy against a request value.
fn equals(literal: &str, value: Text<'_>, ci: bool) -> Tri {
    let l = fold(literal, ci);
    match value {
        Text::Exact(t) => {
            if l == fold(t, ci) {
                Tri::Yes
            } else {
                Tri::No
            }
        }
        Text::Pattern(t) => {
            let t = fold(t, ci);
            if !t.contains('*') {
                if l == t { Tri::Yes } else { Tri::No }
            } else if wildcard_match(&t.replace('?', "\u{0}"), &l) {
                // `?` is literal in a request pattern; NUL never occurs in a policy.
                Tri::Maybe
            } else {
                Tri::No
            }
        }
    }
}

/// Whether a policy pattern and a request pattern could match a common text: false only when
/// their literal prefixes or suffixes disagree.
fn may_overlap(policy: &str, request: &str) -> bool {
    let is_policy_wild = |c: &char| *c == '*' || *c == '?';
    let is_request_wild = |c: &char| *c == '*';
    // Up to the shorter of the two literal prefixes (and suffixes), they agree.
    let prefixes = policy
        .chars()
        .take_while(|c| !is_policy_wild(c))
        .zip(request.chars().take_while(|c| !is_request_wild(c)));
    let suffixes = policy
        .chars()
        .rev()
        .take_while(|c| !is_policy_wild(c))
        .zip(request.chars().rev().take_while(|c| !is_request_wild(c)));
    prefixes.chain(suffixes).all(|(p, r)| p == r)
}

/// An ARN condition value against a request value, part by part.
fn arn_like(pattern: &str, value: &RequestValue) -> Eval {
    let value = value.text();
    match (arn_parts(pattern), arn_parts(value.as_str())) {
        (Some(p), Some(v)) => Eval::all(
            p.iter()
                .zip(v)
                .map(|(p, v)| Eval::of(like(p, value.part(v), false))),
        ),
        (None, _) => Eval::maybe(format!("{pattern:?} is not an ARN")),
        (Some(_), None) => Eval::no(),
    }
}

/// One key of one condition operator, the request carrying the key.
fn key_condition(op: &str, values: &[String], actual: &RequestValue) -> Eval {
    // The request's keys are single-valued and present: both set qualifiers reduce to the
    // plain operator, and `IfExists` changes nothing.
    let base = op
        .strip_prefix("ForAnyValue:")
        .or_else(|| op.strip_prefix("ForAllValues:"))
        .unwrap_or(op);
    let base = base.strip_suffix("IfExists").unwrap_or(base);
    let any = |f: &dyn Fn(&str) -> Eval| Eval::any(values.iter().map(|v| f(v)));
    match base {
        "StringEquals" => any(&|v| Eval::of(equals(v, actual.text(), false))),
        "StringNotEquals" => any(&|v| Eval::of(equals(v, actual.text(), false))).not(),
        "StringEqualsIgnoreCase" => any(&|v| Eval::of(equals(v, actual.text(), true))),
        "StringNotEqualsIgnoreCase" => any(&|v| Eval::of(equals(v, actual.text(), true))).not(),
        "StringLike" => any(&|v| Eval::of(like(v, actual.text(), false))),
        "StringNotLike" => any(&|v| Eval::of(like(v, actual.text(), false))).not(),
        "ArnEquals" | "ArnLike" => any(&|v| arn_like(v, actual)),
        "ArnNotEquals" | "ArnNotLike" => any(&|v| arn_like(v, actual)).not(),
        // The key is present: `Null: true` is false, `Null: false` is true.
        "Null" if base == op => any(&|v| Eval::from_bool(v.eq_ignore_ascii_case("false"))),
        _ => Eval::maybe(format!("the condition operator {op} is not evaluated")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_values() {
        let exec = Text::Pattern("stacksets-exec-*");
        assert_eq!(like("stacksets-exec-*", exec, false), Tri::Yes);
        assert_eq!(like("*", exec, false), Tri::Yes);
        assert_eq!(like("stacksets-*", exec, false), Tri::Yes);
        assert_eq!(like("stacksets-exec-a*", exec, false), Tri::Maybe);
        assert_eq!(like("stacksets-exec-?*", exec, false), Tri::Maybe);
        assert_eq!(like("admin-*", exec, false), Tri::No);
        assert_eq!(like("*-admin", Text::Pattern("x*-user"), false), Tri::No);
        assert_eq!(equals("stacksets-exec-1", exec, false), Tri::Maybe);
        assert_eq!(equals("other", exec, false), Tri::No);
    }
}
