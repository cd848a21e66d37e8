//! The machine-readable plan (`eksmgr plan --json`, `eksmgr show --json FILE`): one versioned
//! JSON document, described field by field in `docs/plan-json.md` and by
//! `docs/plan-json.schema.json`.
//!
//! The document is built from its own types, not from the engine's serde form, so the engine can
//! change its internals without changing this format. Policy documents (attributes whose schema
//! type is a policy, a map of policies or a JSON document) are emitted parsed, as JSON objects:
//! IAM returns them URL-encoded, other services as JSON text.

use serde::Serialize;
use serde_json::{Map, Value};

use eksmgr_engine::diff::AttrDiff;
use eksmgr_engine::model::{AttrValue, Attrs, DesiredAttrs, ResourceKind};
use eksmgr_engine::plan::{Action, Deferred, Drift, Plan, PlannedChange};
use eksmgr_engine::policy;
use eksmgr_engine::schema::{self, AttrType};

/// Version of the JSON format: `MAJOR.MINOR`. Additive changes (a new field, a new resource
/// kind) bump the minor version; anything a consumer could trip on (a field removed, renamed or
/// given another meaning or type, a new `action` value) bumps the major version.
pub const FORMAT_VERSION: &str = "1.0";

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanJson {
    /// [`FORMAT_VERSION`].
    pub format_version: &'static str,
    /// The version of eksmgr that made the plan.
    pub eksmgr_version: String,
    /// The state the plan was made against.
    pub state: StateJson,
    /// sha256 (hex) of the configuration file the plan was made from.
    pub config_digest: String,
    /// Counts of the changes.
    pub summary: SummaryJson,
    /// Every change apply would make (and every adoption), in apply order.
    pub resource_changes: Vec<ResourceChangeJson>,
    /// What changed outside eksmgr since the last apply.
    pub drift: Vec<DriftJson>,
    /// Resources that could not be planned this time.
    pub deferred: Vec<DeferredJson>,
    /// Configuration errors found while planning.
    pub problems: Vec<String>,
    /// Warnings for the reviewer.
    pub warnings: Vec<String>,
    /// Whether the plan has errors (apply would refuse or skip something).
    pub errors: bool,
    /// Whether applying would do anything.
    pub changes: bool,
}

/// `state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateJson {
    /// The state's lineage (one per estate).
    pub lineage: String,
    /// The state's serial (incremented by every write).
    pub serial: u64,
}

/// `summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SummaryJson {
    /// Creates, replacements included.
    pub add: usize,
    /// In-place updates.
    pub change: usize,
    /// Deletes, replacements included.
    pub destroy: usize,
    /// Adoptions into state.
    pub adopt: usize,
    /// State records dropped for resources already gone.
    pub forget: usize,
}

/// One entry of `resource_changes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChangeJson {
    /// The address, e.g. `iam_role.EKSManagerAgentRole[222222222222]`.
    pub address: String,
    /// The resource kind, e.g. `iam_role`.
    pub kind: String,
    /// The name within kind, account and region.
    pub name: String,
    /// The AWS account id.
    pub account: String,
    /// The region; `None` for account-global resources (IAM, Organizations).
    pub region: Option<String>,
    /// `create`, `update`, `replace`, `delete`, `forget` or `no-op`.
    pub action: &'static str,
    /// The resource exists in AWS but not in state: apply records it.
    pub adopt: bool,
    /// The provider id of the existing resource.
    pub id: Option<String>,
    /// Every attribute as read from AWS now; `None` when it does not exist.
    pub before: Option<Map<String, Value>>,
    /// Every managed attribute as wanted; `None` for deletes. Values known only after apply
    /// are `null` here and named in `after_unknown`.
    pub after: Option<Map<String, Value>>,
    /// The attributes of `after` known only after apply.
    pub after_unknown: Vec<String>,
    /// Why the resource must be replaced (only for `replace`).
    pub replace_reason: Option<String>,
    /// The attributes that differ, by meaning.
    pub changed_attributes: Vec<ChangedAttributeJson>,
    /// What a reviewer must know.
    pub notes: Vec<String>,
    /// Why apply refuses this change until the user opts in.
    pub blocked: Option<String>,
}

/// One entry of a change's `changed_attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedAttributeJson {
    /// The attribute.
    pub name: String,
    /// Changing it replaces the resource.
    pub forces_replacement: bool,
}

/// One entry of `drift`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftJson {
    /// The address.
    pub address: String,
    /// The AWS account id.
    pub account: String,
    /// Deleted outside eksmgr (then `changed_attributes` is empty).
    pub deleted: bool,
    /// The attributes changed outside eksmgr: as recorded after the last apply, and now.
    pub changed_attributes: Vec<DriftAttributeJson>,
}

/// One entry of a drift's `changed_attributes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftAttributeJson {
    /// The attribute.
    pub name: String,
    /// As recorded after the last apply (`null`: not recorded).
    pub before: Value,
    /// As read now (`null`: not reported any more).
    pub after: Value,
}

/// One entry of `deferred`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeferredJson {
    /// The address.
    pub address: String,
    /// The AWS account id.
    pub account: String,
    /// Why it could not be planned.
    pub reason: String,
    /// The resource this plan creates that it waits for: it is planned after this apply
    /// (expected, not an error). `None`: it could not be read (an error).
    pub awaiting: Option<String>,
}

/// The document for a plan made by eksmgr `eksmgr_version`.
pub fn document(p: &Plan, eksmgr_version: &str) -> PlanJson {
    let s = p.summary();
    PlanJson {
        format_version: FORMAT_VERSION,
        eksmgr_version: eksmgr_version.to_string(),
        state: StateJson {
            lineage: p.state_lineage.clone(),
            serial: p.state_serial,
        },
        config_digest: p.config_digest.clone(),
        summary: SummaryJson {
            add: s.add,
            change: s.change,
            destroy: s.destroy,
            adopt: s.adopt,
            forget: s.forget,
        },
        resource_changes: p
            .changes
            .iter()
            .filter(|c| c.action.is_change() || c.adopt)
            .map(resource_change)
            .collect(),
        drift: p.drift.iter().map(drift).collect(),
        deferred: p.deferred.iter().map(deferred).collect(),
        problems: p.problems.clone(),
        warnings: p.warnings.clone(),
        errors: p.has_errors(),
        changes: p.has_changes(),
    }
}

/// The document as text: pretty-printed JSON and a final newline.
pub fn render(p: &Plan, eksmgr_version: &str) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(&document(p, eksmgr_version))?;
    text.push('\n');
    Ok(text)
}

/// The `action` string.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Forget => "forget",
        Action::NoOp => "no-op",
    }
}

fn resource_change(c: &PlannedChange) -> ResourceChangeJson {
    let (after, after_unknown) = match &c.after {
        Some(a) => {
            let (after, unknown) = desired_attrs(c.kind, a);
            (Some(after), unknown)
        }
        None => (None, Vec::new()),
    };
    ResourceChangeJson {
        address: c.address.to_string(),
        kind: c.kind.as_str().to_string(),
        name: c.address.name.clone(),
        account: c.address.account.clone(),
        region: c.address.region.clone(),
        action: action_name(c.action),
        adopt: c.adopt,
        id: c.id.clone(),
        before: c.before.as_ref().map(|b| observed_attrs(Some(c.kind), b)),
        after,
        after_unknown,
        replace_reason: if c.action == Action::Replace {
            c.reason.clone()
        } else {
            None
        },
        changed_attributes: c
            .attribute_diffs
            .iter()
            .map(|d| ChangedAttributeJson {
                name: d.name.clone(),
                forces_replacement: d.forces_replacement,
            })
            .collect(),
        notes: c.notes.clone(),
        blocked: c.blocked.clone(),
    }
}

fn drift(d: &Drift) -> DriftJson {
    let kind = ResourceKind::of(&d.address);
    DriftJson {
        address: d.address.to_string(),
        account: d.address.account.clone(),
        deleted: d.deleted,
        changed_attributes: d
            .attribute_diffs
            .iter()
            .map(|a| drift_attribute(kind, a))
            .collect(),
    }
}

fn drift_attribute(kind: Option<ResourceKind>, a: &AttrDiff) -> DriftAttributeJson {
    let value = |v: Option<&Value>| match v {
        Some(v) => attribute_value(kind, &a.name, v),
        None => Value::Null,
    };
    DriftAttributeJson {
        name: a.name.clone(),
        before: value(a.before.as_ref()),
        after: value(a.after.as_ref().and_then(AttrValue::known)),
    }
}

fn deferred(d: &Deferred) -> DeferredJson {
    DeferredJson {
        address: d.address.to_string(),
        account: d.address.account.clone(),
        reason: d.reason.clone(),
        awaiting: d.awaiting.as_ref().map(ToString::to_string),
    }
}

/// Observed attributes with their policy documents parsed.
fn observed_attrs(kind: Option<ResourceKind>, attrs: &Attrs) -> Map<String, Value> {
    attrs
        .iter()
        .map(|(k, v)| (k.clone(), attribute_value(kind, k, v)))
        .collect()
}

/// Desired attributes with their policy documents parsed, unknown values as `null`, and the
/// names of the unknown ones.
fn desired_attrs(kind: ResourceKind, attrs: &DesiredAttrs) -> (Map<String, Value>, Vec<String>) {
    let mut unknown = Vec::new();
    let map = attrs
        .iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::Known(v) => attribute_value(Some(kind), k, v),
                AttrValue::Unknown { .. } => {
                    unknown.push(k.clone());
                    Value::Null
                }
            };
            (k.clone(), v)
        })
        .collect();
    (map, unknown)
}

/// One attribute's value for the document: policy documents (and JSON documents) parsed into
/// JSON, every other value as it is.
fn attribute_value(kind: Option<ResourceKind>, name: &str, v: &Value) -> Value {
    let Some(kind) = kind else {
        return v.clone();
    };
    match schema::attribute(kind, name).ty {
        AttrType::Policy => policy_value(v),
        AttrType::PolicyMap => match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(name, doc)| (name.clone(), policy_value(doc)))
                    .collect(),
            ),
            // The whole map as JSON text.
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => attribute_value(Some(kind), name, &Value::Object(m)),
                _ => v.clone(),
            },
            other => other.clone(),
        },
        AttrType::Document => match v {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
            other => other.clone(),
        },
        AttrType::Value | AttrType::Set => v.clone(),
    }
}

/// A policy document parsed (URL-decoded first when IAM encoded it). A document that is not
/// JSON even after decoding (AWS never returns one) is kept as its text, so nothing is lost.
fn policy_value(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        other => policy::parse(other).unwrap_or_else(|_| other.clone()),
    }
}

#[cfg(test)]
mod tests;
