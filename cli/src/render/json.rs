//! The machine-readable plan (`eksmgr plan --json`, `eksmgr show --json FILE`): one versioned
//! JSON document, described field by field in `docs/plan-json.md` and by
//! `docs/plan-json.schema.json`.
//!
//! The document is built from its own types, not from the engine's serde form, so the engine can
//! change its internals without changing this format. Policy documents (attributes whose schema
//! type is a policy, a map of policies or a JSON document) are emitted parsed, as JSON objects:
//! IAM returns them URL-encoded, other services as JSON text.

use std::borrow::Cow;
use std::fmt;
use std::io;

use eksmgr_engine::model::Value;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use eksmgr_engine::annotation::{Note, Reason};
use eksmgr_engine::diff::AttrDiff;
use eksmgr_engine::model::{AttrValue, Attrs, DesiredAttrs, ResourceKind};
use eksmgr_engine::plan::{Action, Deferred, Drift, Plan, PlannedChange};
use eksmgr_engine::policy;
use eksmgr_engine::risk::{self, Risk};
use eksmgr_engine::schema::{self, AttrType};

/// Version of the JSON format: `MAJOR.MINOR`. Additive changes (a new field, a new resource
/// kind) bump the minor version; anything a consumer could trip on (a field removed, renamed or
/// given another meaning or type, a new `action` value) bumps the major version.
pub const FORMAT_VERSION: &str = "1.3";

/// The whole document. It borrows from the plan: a change's attributes are serialised straight
/// from the plan's own maps (policy documents parsed one at a time as they are written), so a
/// large plan is never copied whole.
#[derive(Debug, Clone, Serialize)]
pub struct PlanJson<'a> {
    /// [`FORMAT_VERSION`].
    pub format_version: &'static str,
    /// The version of eksmgr that made the plan.
    pub eksmgr_version: &'a str,
    /// The state the plan was made against.
    pub state: StateJson<'a>,
    /// sha256 (hex) of the configuration file the plan was made from.
    pub config_digest: &'a str,
    /// Counts of the changes.
    pub summary: SummaryJson,
    /// Every change apply would make (and every adoption), in apply order.
    pub resource_changes: ResourceChanges<'a>,
    /// What changed outside eksmgr since the last apply.
    pub drift: Vec<DriftJson<'a>>,
    /// Resources that could not be planned this time.
    pub deferred: Vec<DeferredJson<'a>>,
    /// Configuration errors found while planning.
    pub problems: &'a [String],
    /// Spoke accounts left out of the plan (nothing planned there), with why and what to do.
    pub skipped_accounts: &'a [eksmgr_engine::plan::SkippedSpoke],
    /// Warnings for the reviewer.
    pub warnings: &'a [String],
    /// Whether the plan has errors (apply would refuse or skip something).
    pub errors: bool,
    /// Whether applying would do anything.
    pub changes: bool,
    /// Whether a spoke account was skipped for a reason a human must act on.
    pub needs_attention: bool,
}

/// `state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateJson<'a> {
    /// The state's lineage (one per estate).
    pub lineage: &'a str,
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

/// The plan's changes that apply would make (and its adoptions), each written as a
/// [`ResourceChangeJson`] made when it is serialised: a plan of 100,000 creates is never held
/// twice.
#[derive(Debug, Clone, Copy)]
pub struct ResourceChanges<'a>(pub &'a [PlannedChange]);

impl Serialize for ResourceChanges<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .iter()
                .filter(|c| c.action.is_change() || c.adopt)
                .map(resource_change),
        )
    }
}

/// One entry of `resource_changes`.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceChangeJson<'a> {
    /// The address, e.g. `iam_role.EKSManagerAgentRole[222222222222]`.
    pub address: String,
    /// The resource kind, e.g. `iam_role`.
    pub kind: &'static str,
    /// The name within kind, account and region.
    pub name: &'a str,
    /// The AWS account id.
    pub account: &'a str,
    /// The region; `None` for account-global resources (IAM, Organizations).
    pub region: Option<&'a str>,
    /// `create`, `update`, `replace`, `delete`, `forget` or `no-op`.
    pub action: &'static str,
    /// The resource exists in AWS but not in state: apply records it.
    pub adopt: bool,
    /// The provider id of the existing resource.
    pub id: Option<&'a str>,
    /// Every attribute as read from AWS now; `None` when it does not exist.
    pub before: Option<ObservedJson<'a>>,
    /// Every managed attribute as wanted; `None` for deletes. Values known only after apply
    /// are `null` here and named in `after_unknown`.
    pub after: Option<DesiredJson<'a>>,
    /// The attributes of `after` known only after apply.
    pub after_unknown: Vec<&'a str>,
    /// Why the resource must be replaced (only for `replace`): the text of `reason`.
    pub replace_reason: Option<Text<'a, Reason>>,
    /// Why the change has its action, where the action alone does not say (since format
    /// 1.2): its `code` (`forces_replacement`, `replaced_with`, `recreated_after_deletion`,
    /// `gone_from_aws`, `adopted`), its fields and its `text`.
    pub reason: Option<Annotated<'a, Reason>>,
    /// The attributes that differ, by meaning.
    pub changed_attributes: Vec<ChangedAttributeJson<'a>>,
    /// What a reviewer must know, as text.
    pub notes: Texts<'a, Note>,
    /// The same notes, typed (since format 1.2): each its `code`, its fields and its `text`.
    pub note_details: AnnotatedList<'a, Note>,
    /// Why apply refuses this change until the user opts in.
    pub blocked: Option<&'a str>,
    /// What a reviewer must see first (since format 1.1): `replaces_cluster`,
    /// `deletes_cluster`, `replaces_node_group`, `deletes_node_group`, `deletes_kms_key`, `changes_scp`, `widens_trust_policy`,
    /// `widens_role_permissions`, `widens_resource_policy`; the Markdown view labels the same.
    pub risks: Vec<Risk>,
}

/// A typed annotation (a reason or a note) with its text, `{"code": ..., fields, "text": ...}`,
/// written from the plan's own value when the document is serialised.
#[derive(Debug, Clone, Copy)]
pub struct Annotated<'a, T>(pub &'a T);

impl<T: Serialize + fmt::Display> Serialize for Annotated<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(self.0).map_err(serde::ser::Error::custom)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("text".into(), serde_json::Value::String(self.0.to_string()));
        }
        value.serialize(serializer)
    }
}

/// Annotations, each as [`Annotated`].
#[derive(Debug, Clone, Copy)]
pub struct AnnotatedList<'a, T>(pub &'a [T]);

impl<T: Serialize + fmt::Display> Serialize for AnnotatedList<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Annotated))
    }
}

/// An annotation's text alone.
#[derive(Debug, Clone, Copy)]
pub struct Text<'a, T>(pub &'a T);

impl<T: fmt::Display> Serialize for Text<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// Annotations' texts.
#[derive(Debug, Clone, Copy)]
pub struct Texts<'a, T>(pub &'a [T]);

impl<T: fmt::Display> Serialize for Texts<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Text))
    }
}

/// A change's `before`: the observed attributes, written with their policy documents parsed.
#[derive(Debug, Clone, Copy)]
pub struct ObservedJson<'a> {
    kind: ResourceKind,
    attrs: &'a Attrs,
}

impl Serialize for ObservedJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.attrs.len()))?;
        for (k, v) in self.attrs {
            map.serialize_entry(k, &attribute_value(Some(self.kind), k, v))?;
        }
        map.end()
    }
}

/// A change's `after`: the desired attributes, written with their policy documents parsed and
/// the values known only after apply as `null`.
#[derive(Debug, Clone, Copy)]
pub struct DesiredJson<'a> {
    kind: ResourceKind,
    attrs: &'a DesiredAttrs,
}

impl Serialize for DesiredJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.attrs.len()))?;
        for (k, v) in self.attrs {
            match v {
                AttrValue::Known(v) => {
                    map.serialize_entry(k, &attribute_value(Some(self.kind), k, v))?;
                }
                AttrValue::Unknown { .. } => map.serialize_entry(k, &Value::Null)?,
            }
        }
        map.end()
    }
}

/// One entry of a change's `changed_attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedAttributeJson<'a> {
    /// The attribute.
    pub name: &'a str,
    /// Changing it replaces the resource.
    pub forces_replacement: bool,
}

/// One entry of `drift`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftJson<'a> {
    /// The address.
    pub address: String,
    /// The AWS account id.
    pub account: &'a str,
    /// Deleted outside eksmgr (then `changed_attributes` is empty).
    pub deleted: bool,
    /// The attributes changed outside eksmgr: as recorded after the last apply, and now.
    pub changed_attributes: Vec<DriftAttributeJson<'a>>,
}

/// One entry of a drift's `changed_attributes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftAttributeJson<'a> {
    /// The attribute.
    pub name: &'a str,
    /// As recorded after the last apply (`null`: not recorded).
    pub before: Cow<'a, Value>,
    /// As read now (`null`: not reported any more).
    pub after: Cow<'a, Value>,
}

/// One entry of `deferred`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeferredJson<'a> {
    /// The address.
    pub address: String,
    /// The AWS account id.
    pub account: &'a str,
    /// Why it could not be planned.
    pub reason: &'a str,
    /// The resource this plan creates that it waits for: it is planned after this apply
    /// (expected, not an error). `None`: it could not be read (an error).
    pub awaiting: Option<String>,
}

/// The document for a plan made by eksmgr `eksmgr_version`.
pub fn document<'a>(p: &'a Plan, eksmgr_version: &'a str) -> PlanJson<'a> {
    let s = p.summary();
    PlanJson {
        format_version: FORMAT_VERSION,
        eksmgr_version,
        state: StateJson {
            lineage: &p.state_lineage,
            serial: p.state_serial,
        },
        config_digest: &p.config_digest,
        summary: SummaryJson {
            add: s.add,
            change: s.change,
            destroy: s.destroy,
            adopt: s.adopt,
            forget: s.forget,
        },
        resource_changes: ResourceChanges(&p.changes),
        drift: p.drift.iter().map(drift).collect(),
        deferred: p.deferred.iter().map(deferred).collect(),
        problems: &p.problems,
        skipped_accounts: &p.skipped_accounts,
        warnings: &p.warnings,
        errors: p.has_errors(),
        changes: p.has_changes(),
        needs_attention: p.needs_attention(),
    }
}

/// Writes the document to `out` as it is made: pretty-printed JSON and a final newline.
pub fn write(p: &Plan, eksmgr_version: &str, mut out: impl io::Write) -> serde_json::Result<()> {
    serde_json::to_writer_pretty(&mut out, &document(p, eksmgr_version))?;
    out.write_all(b"\n").map_err(serde_json::Error::io)
}

/// The document as text: pretty-printed JSON and a final newline.
pub fn render(p: &Plan, eksmgr_version: &str) -> serde_json::Result<String> {
    let mut text = Vec::new();
    write(p, eksmgr_version, &mut text)?;
    String::from_utf8(text).map_err(|e| serde_json::Error::io(io::Error::other(e)))
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

fn resource_change(c: &PlannedChange) -> ResourceChangeJson<'_> {
    let after_unknown = c.after.as_deref().map_or_else(Vec::new, |a| {
        a.iter()
            .filter(|(_, v)| matches!(v, AttrValue::Unknown { .. }))
            .map(|(k, _)| k.as_str())
            .collect()
    });
    ResourceChangeJson {
        address: c.address.to_string(),
        kind: c.kind.as_str(),
        name: &c.address.name,
        account: &c.address.account,
        region: c.address.region.as_deref(),
        action: action_name(c.action),
        adopt: c.adopt,
        id: c.id.as_deref(),
        before: c.before.as_deref().map(|attrs| ObservedJson {
            kind: c.kind,
            attrs,
        }),
        after: c.after.as_deref().map(|attrs| DesiredJson {
            kind: c.kind,
            attrs,
        }),
        after_unknown,
        replace_reason: c
            .reason
            .as_ref()
            .filter(|_| c.action == Action::Replace)
            .map(Text),
        reason: c.reason.as_ref().map(Annotated),
        changed_attributes: c
            .attribute_diffs
            .iter()
            .map(|d| ChangedAttributeJson {
                name: &d.name,
                forces_replacement: d.forces_replacement,
            })
            .collect(),
        notes: Texts(&c.notes),
        note_details: AnnotatedList(&c.notes),
        blocked: c.blocked.as_deref(),
        risks: risk::of(c),
    }
}

fn drift(d: &Drift) -> DriftJson<'_> {
    let kind = ResourceKind::of(&d.address);
    DriftJson {
        address: d.address.to_string(),
        account: &d.address.account,
        deleted: d.deleted,
        changed_attributes: d
            .attribute_diffs
            .iter()
            .map(|a| drift_attribute(kind, a))
            .collect(),
    }
}

fn drift_attribute(kind: Option<ResourceKind>, a: &AttrDiff) -> DriftAttributeJson<'_> {
    fn value<'v>(kind: Option<ResourceKind>, name: &str, v: Option<&'v Value>) -> Cow<'v, Value> {
        v.map_or(Cow::Owned(Value::Null), |v| attribute_value(kind, name, v))
    }
    DriftAttributeJson {
        name: &a.name,
        before: value(kind, &a.name, a.before.as_ref()),
        after: value(kind, &a.name, a.after.as_ref().and_then(AttrValue::known)),
    }
}

fn deferred(d: &Deferred) -> DeferredJson<'_> {
    DeferredJson {
        address: d.address.to_string(),
        account: &d.address.account,
        reason: &d.reason,
        awaiting: d.awaiting.as_ref().map(ToString::to_string),
    }
}

/// One attribute's value for the document: policy documents (and JSON documents) parsed into
/// JSON, every other value as it is (borrowed).
fn attribute_value<'v>(kind: Option<ResourceKind>, name: &str, v: &'v Value) -> Cow<'v, Value> {
    let Some(kind) = kind else {
        return Cow::Borrowed(v);
    };
    match schema::attribute(kind, name).ty {
        AttrType::Policy => policy_value(v),
        AttrType::PolicyMap => match v {
            Value::Object(m) => Cow::Owned(Value::Object(
                m.iter()
                    .map(|(name, doc)| (*name, policy_value(doc).into_owned()))
                    .collect(),
            )),
            // The whole map as JSON text.
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => {
                    Cow::Owned(attribute_value(Some(kind), name, &Value::Object(m)).into_owned())
                }
                _ => Cow::Borrowed(v),
            },
            other => Cow::Borrowed(other),
        },
        AttrType::Document => match v {
            Value::String(s) => serde_json::from_str(s).map_or(Cow::Borrowed(v), Cow::Owned),
            other => Cow::Borrowed(other),
        },
        AttrType::Value | AttrType::Set => Cow::Borrowed(v),
    }
}

/// A policy document parsed (URL-decoded first when IAM encoded it). A document that is not
/// JSON even after decoding (AWS never returns one) is kept as its text, so nothing is lost.
fn policy_value(v: &Value) -> Cow<'_, Value> {
    match v {
        Value::Null => Cow::Borrowed(v),
        other => policy::parse(other).map_or(Cow::Borrowed(other), Cow::Owned),
    }
}

#[cfg(test)]
mod tests;
