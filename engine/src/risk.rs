//! The risks of a planned change a reviewer must see first: a cluster or node group replaced or
//! deleted, a KMS key deleted, the SCP changed, a trust, role or resource policy widened (an
//! Allow that grants what no grant before it did). Part of the plan's JSON (`risks` of each change) and
//! of its Markdown view, from this one definition.

use serde::{Deserialize, Serialize};

use crate::kinds;
use crate::model::Value;
use crate::plan::PlannedChange;
use crate::policy;
use crate::schema::{self, AttrType};

/// A risk of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// An EKS cluster is replaced (destroyed with its workloads, then created).
    ReplacesCluster,
    /// An EKS cluster is deleted.
    DeletesCluster,
    /// An EKS node group is replaced (its nodes terminated, their pods rescheduled).
    ReplacesNodeGroup,
    /// An EKS node group is deleted.
    DeletesNodeGroup,
    /// A KMS key is scheduled for deletion.
    DeletesKmsKey,
    /// The governance SCP or its attachment changes.
    ChangesScp,
    /// A role's trust policy lets in a principal it did not.
    WidensTrustPolicy,
    /// A role's permissions grow.
    WidensRolePermissions,
    /// A resource policy (ECR, KMS ...) grants what it did not.
    WidensResourcePolicy,
}

impl Risk {
    /// How the Markdown view names it.
    pub fn label(self) -> &'static str {
        match self {
            Risk::ReplacesCluster => "replaces a cluster",
            Risk::DeletesCluster => "deletes a cluster",
            Risk::ReplacesNodeGroup => "replaces a node group",
            Risk::DeletesNodeGroup => "deletes a node group",
            Risk::DeletesKmsKey => "deletes a KMS key",
            Risk::ChangesScp => "changes the SCP",
            Risk::WidensTrustPolicy => "widens a trust policy",
            Risk::WidensRolePermissions => "widens a role's permissions",
            Risk::WidensResourcePolicy => "widens a resource policy",
        }
    }
}

/// The risks of a change a reviewer must see first.
pub fn of(c: &PlannedChange) -> Vec<Risk> {
    let kind = kinds::of(c.kind);
    let mut out: Vec<Risk> = kind.action_risk(c.action).into_iter().collect();
    for d in &c.attribute_diffs {
        let ty = schema::attribute(c.kind, &d.name).ty;
        if !matches!(ty, AttrType::Policy | AttrType::PolicyMap) {
            continue;
        }
        let after = d.after.as_ref().and_then(|a| a.known());
        if widens(ty, d.before.as_ref(), after) {
            out.push(kind.widening_risk(&d.name));
        }
    }
    out
}

/// One (principal, action, resource, condition) an Allow statement grants.
#[derive(Debug, PartialEq)]
struct Grant {
    principal: String,
    action: String,
    resource: String,
    condition: Value,
}

impl Grant {
    /// Whether this grant already allows everything `other` does (wildcards included; a
    /// condition only narrows, so an unconditional grant covers a conditional one).
    fn covers(&self, other: &Grant) -> bool {
        policy::wildcard_match(&self.principal, &other.principal)
            && policy::wildcard_match(&self.action, &other.action)
            && policy::wildcard_match(&self.resource, &other.resource)
            && (self.condition.is_null() || self.condition == other.condition)
    }
}

/// What the Allow statements of a policy (or a map of policies) grant.
fn grants(ty: AttrType, doc: Option<&Value>) -> Vec<Grant> {
    let mut out = Vec::new();
    let Some(doc) = doc else {
        return out;
    };
    let docs: Vec<Value> = match ty {
        AttrType::PolicyMap => doc
            .as_object()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default(),
        _ => vec![doc.clone()],
    };
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.to_string()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect(),
            // Absent (identity policies have no Principal; some have no Resource): anything.
            Value::Null => vec!["*".to_string()],
            other => vec![other.to_string()],
        }
    };
    for d in docs {
        let Ok(parsed) = policy::parse(&d) else {
            continue;
        };
        let statements = match &parsed["Statement"] {
            Value::Array(a) => a.to_vec(),
            v @ Value::Object(_) => vec![v.clone()],
            _ => Vec::new(),
        };
        for st in statements {
            if st["Effect"] != "Allow" {
                continue;
            }
            // `Principal: "*"` and `{"AWS": "*"}` both mean anyone.
            let principals: Vec<String> = match &st["Principal"] {
                Value::Object(m) => m
                    .iter()
                    .flat_map(|(k, v)| {
                        strings(v)
                            .into_iter()
                            .map(move |p| if p == "*" { p } else { format!("{k}:{p}") })
                    })
                    .collect(),
                other => strings(other),
            };
            // NotAction / NotResource are wide by nature: treat them as everything.
            let actions = if st["NotAction"].is_null() {
                strings(&st["Action"])
            } else {
                vec!["*".to_string()]
            };
            let resources = if st["NotResource"].is_null() {
                strings(&st["Resource"])
            } else {
                vec!["*".to_string()]
            };
            for p in &principals {
                for a in &actions {
                    for r in &resources {
                        out.push(Grant {
                            principal: p.clone(),
                            action: a.to_ascii_lowercase(),
                            resource: r.clone(),
                            condition: st["Condition"].clone(),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Whether `after` allows anything `before` did not: a grant no old grant covers.
fn widens(ty: AttrType, before: Option<&Value>, after: Option<&Value>) -> bool {
    if before.is_none() {
        return false;
    }
    let (b, a) = (grants(ty, before), grants(ty, after));
    a.iter().any(|g| !b.iter().any(|old| old.covers(g)))
}
