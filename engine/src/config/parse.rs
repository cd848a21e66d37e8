//! From text to a [`Config`]: TOML syntax first (a syntax error stops there), then every
//! top-level section, and every element of the arrays of tables (`[[clusters]]`,
//! `[[hub.ecr_repositories]]`, `[[access.grants]]`, `[[cross_account_roles]]`), deserialised
//! on its own so that one bad value does not hide the problems elsewhere; then semantic
//! validation over everything that deserialised. serde's messages are rewritten to say what
//! was expected and where (`unknown key `x` in [[clusters]], expected one of: ...`).

use std::ops::Range;

use serde::de::DeserializeOwned;
use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{ConfigError, ConfigErrors};
use super::sections::{
    AccessConfig, AccessGrantConfig, AgentConfig, ClusterConfig, Config, CrossAccountRoleConfig,
    EcrRepositoryConfig, GovernanceConfig, HubConfig, OrganizationConfig, SecretConfig,
    SpokesConfig, StateConfig,
};
use super::validate;

/// The top-level keys of `eksmgr.toml`.
pub(super) const SECTIONS: &[&str] = &[
    "organization",
    "governance",
    "hub",
    "spokes",
    "clusters",
    "access",
    "cross_account_roles",
    "state",
    "agent",
    "secrets",
];

/// One step of a path into the document: a table key or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seg<'a> {
    /// A key of a table.
    K(&'a str),
    /// An element of an array.
    I(usize),
}

impl<'a> From<&'a str> for Seg<'a> {
    fn from(k: &'a str) -> Self {
        Seg::K(k)
    }
}

impl From<usize> for Seg<'_> {
    fn from(i: usize) -> Self {
        Seg::I(i)
    }
}

/// A path into the document, e.g. `at!["clusters", 2, "name"]`.
macro_rules! at {
    ($($seg:expr),* $(,)?) => {
        &[$($crate::config::parse::Seg::from($seg)),*][..]
    };
}
pub(super) use at;

/// Owned path segment, for the index of every node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathSeg {
    Key(String),
    Index(usize),
}

/// Every node of the document, with its path and spans (for error messages).
#[derive(Debug)]
struct NodeInfo {
    path: Vec<PathSeg>,
    key_span: Option<Range<usize>>,
    value_span: Range<usize>,
    type_name: &'static str,
    is_table: bool,
}

/// The parsed document and everything needed to turn a path or a span into an error.
pub(super) struct Document<'i> {
    file: &'i str,
    text: &'i str,
    root: Spanned<DeTable<'i>>,
    nodes: Vec<NodeInfo>,
    /// Indices in `nodes` of the arrays written where the schema has a table (usually none).
    misplaced_arrays: Vec<usize>,
}

/// What the sections deserialised into, each element with its index in its TOML array.
/// `None` means the section failed to deserialise (its errors are already recorded).
pub(super) struct Parsed {
    pub organization: Option<OrganizationConfig>,
    pub governance: Option<GovernanceConfig>,
    /// Without its `ecr_repositories` (they are in `ecr_repositories`).
    pub hub: Option<HubConfig>,
    pub ecr_repositories: Vec<(usize, EcrRepositoryConfig)>,
    pub spokes: Option<SpokesConfig>,
    pub clusters: Vec<(usize, ClusterConfig)>,
    /// Without its `grants` (they are in `grants`).
    pub access: Option<AccessConfig>,
    pub grants: Vec<(usize, AccessGrantConfig)>,
    pub cross_account_roles: Vec<(usize, CrossAccountRoleConfig)>,
    pub state: Option<StateConfig>,
    pub agent: Option<AgentConfig>,
    pub secrets: Vec<(usize, SecretConfig)>,
}

/// Parses and validates `text`, with the warnings of a valid configuration; see
/// [`super::parse_with_warnings`].
pub(super) fn parse(text: &str, file: &str) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => return Err(syntax_error(text, file, &e).into()),
    };
    let doc = Document::new(file, text, root);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let parsed = doc.deserialise(&mut errors);
    validate::validate(&doc, &parsed, &mut errors, &mut warnings);
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        return Err(ConfigErrors(errors));
    }
    warnings.sort_by_key(|e| (e.line, e.column));
    warnings.dedup();
    let config = assemble(parsed).ok_or_else(|| {
        // Unreachable in practice: a missing section always records an error.
        ConfigErrors(vec![ConfigError::at(
            file,
            text,
            0..0,
            "incomplete configuration",
        )])
    })?;
    Ok((config, warnings))
}

/// An error at the value `path` names in `text` (or, when it is absent, the closest enclosing
/// table); `None` when `text` is not valid TOML.
pub(super) fn error_at_path(
    text: &str,
    file: &str,
    path: &[&str],
    message: impl Into<String>,
) -> Option<ConfigError> {
    let root = DeTable::parse(text).ok()?;
    let doc = Document::new(file, text, root);
    let segs: Vec<Seg<'_>> = path.iter().map(|k| Seg::K(k)).collect();
    Some(doc.error(&segs, message))
}

fn assemble(p: Parsed) -> Option<Config> {
    let mut hub = p.hub?;
    hub.ecr_repositories = p.ecr_repositories.into_iter().map(|(_, r)| r).collect();
    let mut access = p.access?;
    access.grants = p.grants.into_iter().map(|(_, g)| g).collect();
    Some(Config {
        organization: p.organization?,
        governance: p.governance?,
        hub,
        spokes: p.spokes?,
        clusters: p.clusters.into_iter().map(|(_, c)| c).collect(),
        access,
        cross_account_roles: p.cross_account_roles.into_iter().map(|(_, r)| r).collect(),
        state: p.state?,
        agent: p.agent?,
        secrets: p.secrets.into_iter().map(|(_, s)| s).collect(),
    })
}

fn syntax_error(text: &str, file: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    let message = match e.message() {
        "duplicate key" => match text.get(span.clone()) {
            Some(key) if !key.is_empty() => format!("duplicate key `{key}`"),
            _ => "duplicate key".to_string(),
        },
        m => format!("invalid TOML: {m}"),
    };
    ConfigError::at(file, text, span, message)
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn index_nodes(
    value: &DeValue<'_>,
    path: &mut Vec<PathSeg>,
    key_span: Option<Range<usize>>,
    value_span: Range<usize>,
    out: &mut Vec<NodeInfo>,
) {
    out.push(NodeInfo {
        path: path.clone(),
        key_span,
        value_span,
        type_name: type_name(value),
        is_table: matches!(value, DeValue::Table(_)),
    });
    match value {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                path.push(PathSeg::Key(k.get_ref().to_string()));
                index_nodes(v.get_ref(), path, Some(k.span()), v.span(), out);
                path.pop();
            }
        }
        DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(PathSeg::Index(i));
                index_nodes(v.get_ref(), path, None, v.span(), out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `[a.b]`, `[[a.b]]` for an element of an array of tables, or `the top level`.
fn table_name(path: &[PathSeg]) -> String {
    if path.is_empty() {
        return "the top level".to_string();
    }
    let keys: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            PathSeg::Key(k) => Some(quote_key(k)),
            PathSeg::Index(_) => None,
        })
        .collect();
    let dotted = keys.join(".");
    if matches!(path.last(), Some(PathSeg::Index(_))) {
        format!("[[{dotted}]]")
    } else {
        format!("[{dotted}]")
    }
}

fn quote_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// The names between backticks in a serde message: "`a`, `b`" -> [a, b].
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// serde's name of an expected type -> words for a TOML user.
fn expected_phrase(expected: &str) -> String {
    match expected {
        "usize" | "u64" | "u128" => "a non-negative integer".to_string(),
        "u32" => "an integer between 0 and 4294967295".to_string(),
        "u16" => "an integer between 0 and 65535".to_string(),
        "u8" => "an integer between 0 and 255".to_string(),
        "i64" | "i32" | "i128" | "isize" => "an integer".to_string(),
        "f64" | "f32" => "a number".to_string(),
        "a sequence" | "sequence" => "an array".to_string(),
        "a map" | "map" | "any valid JSON value" => "a table".to_string(),
        e if e.starts_with("struct ") || e.starts_with("a map") => "a table".to_string(),
        e if e.starts_with("enum ") || e.starts_with("variant identifier") => {
            "a string".to_string()
        }
        e => e.to_string(),
    }
}

impl<'i> Document<'i> {
    fn new(file: &'i str, text: &'i str, root: Spanned<DeTable<'i>>) -> Self {
        let mut nodes = Vec::new();
        let span = root.span();
        for (k, v) in root.get_ref().iter() {
            let mut path = vec![PathSeg::Key(k.get_ref().to_string())];
            index_nodes(v.get_ref(), &mut path, Some(k.span()), v.span(), &mut nodes);
        }
        nodes.push(NodeInfo {
            path: Vec::new(),
            key_span: None,
            value_span: span,
            type_name: "a table",
            is_table: true,
        });
        let misplaced_arrays = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.type_name == "an array" && is_table_position(&n.path))
            .map(|(i, _)| i)
            .collect();
        Self {
            file,
            text,
            root,
            nodes,
            misplaced_arrays,
        }
    }

    /// An error at a byte range.
    pub(super) fn error_at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.text, span, message)
    }

    /// An error at the value a path names (or, when it is absent, the closest enclosing
    /// table).
    pub(super) fn error(&self, path: &[Seg<'_>], message: impl Into<String>) -> ConfigError {
        self.error_at(self.span_of(path), message)
    }

    /// An error at the key a path names (an unknown key, a bad tag key), or at the value
    /// when the key has no span of its own (an element of an array) or is absent.
    pub(super) fn key_error(&self, path: &[Seg<'_>], message: impl Into<String>) -> ConfigError {
        let key_span = self
            .nodes
            .iter()
            .find(|n| same_path(&n.path, path))
            .and_then(|n| n.key_span.clone());
        let span = key_span.unwrap_or_else(|| self.span_of(path));
        self.error_at(span, message)
    }

    /// 1-based line of the value a path names.
    pub(super) fn line_of(&self, path: &[Seg<'_>]) -> usize {
        super::error::locate(self.text, self.span_of(path)).0
    }

    /// The value a path names, if present.
    pub(super) fn get(&self, path: &[Seg<'_>]) -> Option<&DeValue<'i>> {
        let mut cur: &DeValue<'i> = match path.first() {
            Some(Seg::K(k)) => self.root.get_ref().get(*k)?.get_ref(),
            _ => return None,
        };
        for seg in path.iter().skip(1) {
            cur = match (seg, cur) {
                (Seg::K(k), DeValue::Table(t)) => t.get(*k)?.get_ref(),
                (Seg::I(i), DeValue::Array(a)) => a.get(*i)?.get_ref(),
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Span of the value a path names; when a step is missing, the span of the deepest
    /// enclosing value found (for a table, its header).
    pub(super) fn span_of(&self, path: &[Seg<'_>]) -> Range<usize> {
        let mut span = self.root.span();
        let mut cur: Option<&Spanned<DeValue<'i>>> = None;
        for seg in path {
            let next = match (seg, cur.map(Spanned::get_ref)) {
                (Seg::K(k), None) => self.root.get_ref().get(*k),
                (Seg::K(k), Some(DeValue::Table(t))) => t.get(*k),
                (Seg::I(i), Some(DeValue::Array(a))) => a.get(*i),
                _ => None,
            };
            match next {
                Some(n) => {
                    span = n.span();
                    cur = Some(n);
                }
                None => break,
            }
        }
        span
    }

    /// Source text of a span (empty when out of range).
    fn text_at(&self, span: &Range<usize>) -> &'i str {
        self.text.get(span.clone()).unwrap_or("")
    }

    /// The deepest node whose value has exactly this span (or, failing that, the smallest
    /// value containing it).
    fn node_at(&self, span: &Range<usize>, table_only: bool) -> Option<&NodeInfo> {
        let candidates = self.nodes.iter().filter(|n| !table_only || n.is_table);
        let exact = candidates
            .clone()
            .filter(|n| n.value_span == *span)
            .max_by_key(|n| n.path.len());
        exact.or_else(|| {
            candidates
                .filter(|n| n.value_span.start <= span.start && span.end <= n.value_span.end)
                .min_by_key(|n| (n.value_span.len(), usize::MAX - n.path.len()))
        })
    }

    /// Where a key sits: "in [table]" / "at the top level".
    fn where_key(&self, span: &Range<usize>) -> String {
        match self
            .nodes
            .iter()
            .find(|n| n.key_span.as_ref() == Some(span))
        {
            Some(n) => in_table(&n.path[..n.path.len().saturating_sub(1)]),
            None => match self.node_at(span, true) {
                Some(n) => in_table(&n.path),
                None => "here".to_string(),
            },
        }
    }

    /// Turns a deserialisation error into a positioned, reworded error.
    fn de_error(&self, e: &toml::de::Error, fallback: Range<usize>) -> ConfigError {
        let span = e.span().unwrap_or(fallback);
        let message = self.reword(e.message(), &span);
        self.error_at(span, message)
    }

    fn reword(&self, msg: &str, span: &Range<usize>) -> String {
        let raw = self.text_at(span);
        let found = self.node_at(span, false).map_or("a value", |n| n.type_name);
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
            let expected = backticked(tail);
            let place = self.where_key(span);
            return if expected.is_empty() {
                format!("unknown key `{name}` {place}: no keys are allowed here")
            } else {
                format!(
                    "unknown key `{name}` {place}, expected one of: {}",
                    expected.join(", ")
                )
            };
        }
        if let Some(rest) = msg.strip_prefix("missing field `") {
            let name = rest.trim_end_matches('`');
            let place = match self.node_at(span, true) {
                Some(n) => in_table(&n.path),
                None => "here".to_string(),
            };
            return format!("missing key `{name}` {place}");
        }
        if let Some(rest) = msg.strip_prefix("invalid type: ") {
            let (unexpected, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let expected = expected_phrase(expected);
            if unexpected.ends_with(" as i128") || unexpected.ends_with(" as u128") {
                return format!("integer {raw} is out of range, expected {expected}");
            }
            let mut m = format!("expected {expected}, found {found}");
            if expected == "a string"
                && matches!(found, "an integer" | "a float" | "a boolean")
                && !raw.is_empty()
            {
                m.push_str(&format!(" (write it in quotes: \"{raw}\")"));
            }
            if expected == "an array" && found == "a table" {
                m.push_str(" (write each element as its own [[table]], or use [...])");
            }
            if expected == "an array"
                && matches!(found, "a string" | "an integer" | "a float" | "a boolean")
                && !raw.is_empty()
            {
                m.push_str(&format!(" (write it in brackets: [{raw}])"));
            }
            if expected == "a boolean" {
                match raw {
                    "\"true\"" | "\"false\"" => m.push_str(&format!(
                        " (write it without quotes: {})",
                        raw.trim_matches('"')
                    )),
                    _ => m.push_str(" (write true or false)"),
                }
            }
            return m;
        }
        if let Some(rest) = msg.strip_prefix("invalid value: ") {
            let (_, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            return format!(
                "invalid value {raw}, expected {}",
                expected_phrase(expected)
            );
        }
        if let Some(rest) = msg.strip_prefix("unknown variant `") {
            let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
            return format!(
                "invalid value {name:?}, expected one of: {}",
                backticked(tail).join(", ")
            );
        }
        if msg == "wanted string or table"
            || msg.starts_with("wanted exactly 1 element")
            || msg.starts_with("expected table with exactly 1 entry")
        {
            return format!("expected a string, found {found}");
        }
        if msg == "integer number overflowed" {
            return format!("integer {raw} is too large");
        }
        if msg == "floating-point number overflowed" {
            return format!("number {raw} is too large");
        }
        msg.to_string()
    }

    /// Deserialises `node`, found at `path` (without its keys in `skip`). An array where the
    /// schema has a table is refused first: serde would read it field by field
    /// (`kms = [7]` as `deletion_window_days = 7`).
    fn de<T: DeserializeOwned>(
        &self,
        path: &[PathSeg],
        skip: &[&str],
        node: &Spanned<DeValue<'i>>,
    ) -> Result<T, ConfigError> {
        let misplaced = self
            .misplaced_arrays
            .iter()
            .filter_map(|i| self.nodes.get(*i))
            .filter(|n| {
                n.path.starts_with(path)
                    && !matches!(n.path.get(path.len()), Some(PathSeg::Key(k)) if skip.contains(&k.as_str()))
            })
            .min_by_key(|n| n.value_span.start);
        if let Some(n) = misplaced {
            return Err(self.error_at(
                n.value_span.clone(),
                "expected a table, found an array (write it as { key = value, ... }, or under a [table] header)",
            ));
        }
        let fallback = node.span();
        T::deserialize(ValueDeserializer::from(node.clone()))
            .map_err(|e| self.de_error(&e, fallback))
    }

    fn top(&self, key: &str) -> Option<&Spanned<DeValue<'i>>> {
        self.root.get_ref().get(key)
    }

    /// A required or defaulted top-level section.
    fn section<T: DeserializeOwned + Default>(
        &self,
        key: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        self.section_without(key, &[], errors, Some(T::default))
    }

    /// A top-level section, deserialised without the keys in `skip` (arrays of tables that
    /// are deserialised element by element). `default` is `None` for a required section.
    fn section_without<T: DeserializeOwned>(
        &self,
        key: &str,
        skip: &[&str],
        errors: &mut Vec<ConfigError>,
        default: Option<fn() -> T>,
    ) -> Option<T> {
        let Some(node) = self.top(key) else {
            return match default {
                Some(d) => Some(d()),
                None => {
                    errors.push(self.error_at(0..0, format!("missing table [{key}]")));
                    None
                }
            };
        };
        let node = match node.get_ref() {
            DeValue::Table(t) if !skip.is_empty() => {
                let mut t = t.clone();
                for k in skip {
                    t.remove(*k);
                }
                Spanned::new(node.span(), DeValue::Table(t))
            }
            _ => node.clone(),
        };
        self.de(&[PathSeg::Key(key.to_string())], skip, &node)
            .map_err(|e| errors.push(e))
            .ok()
    }

    /// An array of tables (`clusters`, or `section.key`), element by element.
    fn array<T: DeserializeOwned>(
        &self,
        keys: &[&str],
        errors: &mut Vec<ConfigError>,
    ) -> Vec<(usize, T)> {
        let node = match keys {
            [key] => self.top(key),
            [section, key] => self.nested(section, key),
            _ => None,
        };
        let Some(node) = node else {
            return Vec::new();
        };
        let path: Vec<PathSeg> = keys.iter().map(|k| PathSeg::Key(k.to_string())).collect();
        match node.get_ref() {
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .filter_map(|(i, el)| {
                    let mut here = path.clone();
                    here.push(PathSeg::Index(i));
                    match self.de::<T>(&here, &[], el) {
                        Ok(v) => Some((i, v)),
                        Err(e) => {
                            errors.push(e);
                            None
                        }
                    }
                })
                .collect(),
            // Not an array: let serde say what was expected.
            _ => match self.de::<Vec<T>>(&path, &[], node) {
                Ok(v) => v.into_iter().enumerate().collect(),
                Err(e) => {
                    errors.push(e);
                    Vec::new()
                }
            },
        }
    }

    /// A nested array of tables `section.key`, when `section` is a table.
    fn nested(&self, section: &str, key: &str) -> Option<&Spanned<DeValue<'i>>> {
        match self.top(section)?.get_ref() {
            DeValue::Table(t) => t.get(key),
            _ => None,
        }
    }

    fn deserialise(&self, errors: &mut Vec<ConfigError>) -> Parsed {
        for (k, _) in self.root.get_ref().iter() {
            if !SECTIONS.contains(&k.get_ref().as_ref()) {
                errors.push(self.error_at(
                    k.span(),
                    format!(
                        "unknown key `{}` at the top level, expected one of: {}",
                        k.get_ref(),
                        SECTIONS.join(", ")
                    ),
                ));
            }
        }
        Parsed {
            organization: self.section_without("organization", &[], errors, None),
            governance: self.section("governance", errors),
            hub: self.section_without("hub", &["ecr_repositories"], errors, None),
            ecr_repositories: self.array(&["hub", "ecr_repositories"], errors),
            spokes: self.section("spokes", errors),
            clusters: self.array(&["clusters"], errors),
            access: self.section_without(
                "access",
                &["grants"],
                errors,
                Some(AccessConfig::default),
            ),
            grants: self.array(&["access", "grants"], errors),
            cross_account_roles: self.array(&["cross_account_roles"], errors),
            state: self.section("state", errors),
            agent: self.section("agent", errors),
            secrets: self.array(&["secrets"], errors),
        }
    }
}

/// Where the schema has a table (a struct): `#` is any array index, `*` any key.
const TABLE_POSITIONS: &[&[&str]] = &[
    &["organization"],
    &["governance"],
    &["governance", "scp"],
    &["governance", "stackset"],
    &["hub"],
    &["hub", "agent_host"],
    &["hub", "ecr_repositories", "#"],
    &["spokes"],
    &["clusters", "#"],
    &["clusters", "#", "kms"],
    &["clusters", "#", "build_pods"],
    &["clusters", "#", "external_dns"],
    &["clusters", "#", "pod_identities", "#"],
    &["clusters", "#", "overrides", "*"],
    &["access"],
    &["access", "grants", "#"],
    &["cross_account_roles", "#"],
    &["cross_account_roles", "#", "oidc"],
    &["state"],
    &["agent"],
    &["secrets", "#"],
];

/// Whether the schema has a table at `path`.
fn is_table_position(path: &[PathSeg]) -> bool {
    TABLE_POSITIONS.iter().any(|pattern| {
        pattern.len() == path.len()
            && pattern.iter().zip(path).all(|(p, seg)| match seg {
                PathSeg::Index(_) => *p == "#",
                PathSeg::Key(k) => *p == "*" || p == k,
            })
    })
}

/// Whether an indexed node's path is the path `path` names.
fn same_path(node: &[PathSeg], path: &[Seg<'_>]) -> bool {
    node.len() == path.len()
        && node.iter().zip(path).all(|(n, p)| match (n, p) {
            (PathSeg::Key(a), Seg::K(b)) => a == b,
            (PathSeg::Index(a), Seg::I(b)) => a == b,
            _ => false,
        })
}

fn in_table(path: &[PathSeg]) -> String {
    if path.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in {}", table_name(path))
    }
}
