//! Attribute-level diffs between what is wanted and what exists, using each kind's schema:
//! sets ignore order, policy documents compare by meaning, unknown values always differ.

use crate::model::Value;
use serde::{Deserialize, Serialize};

use crate::model::{AttrValue, Attrs, DesiredAttrs, ResourceKind};
use crate::policy;
use crate::schema::{self, AttrType};

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrDiff {
    /// Attribute name.
    pub name: String,
    /// The value now (absent when the resource or attribute does not exist yet).
    pub before: Option<Value>,
    /// The value wanted, possibly known only after apply.
    pub after: Option<AttrValue>,
    /// Changing this attribute forces a replacement.
    pub forces_replacement: bool,
    /// The attribute holds a policy or JSON document (rendered as a document diff).
    pub document: bool,
}

/// Canonical form of a value of the given type, for comparison and rendering.
pub fn canonical(ty: AttrType, v: &Value) -> Value {
    let v = match ty {
        AttrType::Value => policy::sort_object(v.clone()),
        AttrType::Set => match v {
            Value::Array(items) => {
                let mut items: Vec<Value> =
                    items.iter().cloned().map(policy::sort_object).collect();
                items.sort_by_cached_key(|x| serde_json::to_string(x).unwrap_or_default());
                items.dedup();
                Value::Array(items.into())
            }
            other => other.clone(),
        },
        AttrType::Policy => policy::normalize(v),
        AttrType::Document => policy::normalize_document(v),
        AttrType::PolicyMap => match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, doc)| (*k, policy::normalize(doc)))
                    .collect::<crate::model::Attrs>(),
            ),
            other => other.clone(),
        },
    };
    policy::sort_object(v)
}

/// Whether two values of an attribute mean the same.
pub fn same(kind: ResourceKind, name: &str, a: &Value, b: &Value) -> bool {
    // Equal values have equal canonical forms: only values that differ are canonicalised
    // (which copies them).
    if a == b {
        return true;
    }
    let ty = schema::attribute(kind, name).ty;
    canonical(ty, a) == canonical(ty, b)
}

/// The diffs that turn `before` (observed) into `after` (desired). Only the attributes that
/// are desired are compared: computed attributes (arn, id) never cause a diff, and neither
/// does an attribute the service did not report for an existing resource, or one set only at
/// creation ([`crate::schema::Change::AtCreate`]).
pub fn diff_desired(
    kind: ResourceKind,
    before: Option<&Attrs>,
    after: &DesiredAttrs,
) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    for (name, want) in after {
        let s = schema::attribute(kind, name);
        if before.is_some() && !s.compared_after_create() {
            continue;
        }
        let have = before.and_then(|b| get(b, name));
        let differs = match (want, have) {
            (AttrValue::Unknown { .. }, _) => true,
            (AttrValue::Known(w), Some(h)) => !same(kind, name, w, h),
            (AttrValue::Known(Value::Null), None) => false,
            // The resource exists but the service does not report this attribute: it cannot
            // be compared (providers report every attribute the service returns).
            (AttrValue::Known(_), None) => before.is_none(),
        };
        if differs {
            out.push(AttrDiff {
                name: name.to_string(),
                before: have.map(|h| canonical(s.ty, h)),
                after: Some(match want {
                    AttrValue::Known(w) => AttrValue::Known(canonical(s.ty, w)),
                    u => u.clone(),
                }),
                forces_replacement: before.is_some() && s.forces_replacement(have),
                document: matches!(
                    s.ty,
                    AttrType::Policy | AttrType::Document | AttrType::PolicyMap
                ),
            });
        }
    }
    out
}

/// `attrs[name]`. A resource has a dozen attributes or so: comparing names is cheaper than
/// hashing one, and planning looks up every attribute of every resource.
fn get<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a Value> {
    if attrs.len() <= 16 {
        attrs
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    } else {
        attrs.get(name)
    }
}

/// The diffs between two observations of the same resource (drift: what was recorded after
/// the last apply vs what AWS reports now), over the attributes that were recorded.
pub fn diff_observed(kind: ResourceKind, recorded: &Attrs, now: &Attrs) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    for s in schema::attributes(kind)
        .iter()
        .filter(|s| s.compared_after_create())
    {
        let (a, b) = (get(recorded, s.name), get(now, s.name));
        let differs = match (a, b) {
            (Some(a), Some(b)) => !same(kind, s.name, a, b),
            (None, None) => false,
            (Some(x), None) | (None, Some(x)) => !x.is_null(),
        };
        if differs {
            out.push(AttrDiff {
                name: s.name.to_string(),
                before: a.map(|v| canonical(s.ty, v)),
                after: b.map(|v| AttrValue::Known(canonical(s.ty, v))),
                forces_replacement: false,
                document: matches!(
                    s.ty,
                    AttrType::Policy | AttrType::Document | AttrType::PolicyMap
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use eksmgr_state::json;

    fn attrs(v: Value) -> Attrs {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn sets_and_policies_compare_by_meaning() {
        let before = attrs(json!({
            "name": "R", "managed_policy_arns": ["b", "a"],
            "assume_role_policy": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D",
            "arn": "arn:aws:iam::1:role/R"
        }));
        let mut after = DesiredAttrs::new();
        after.insert("name", json!("R").into());
        after.insert("managed_policy_arns", json!(["a", "b"]).into());
        after.insert(
            "assume_role_policy",
            json!({"Statement":[{"Effect":"Allow","Action":["sts:AssumeRole"]}]}).into(),
        );
        assert!(diff_desired(ResourceKind::IamRole, Some(&before), &after).is_empty());
    }

    #[test]
    fn force_new_marks_replacement_only_for_existing() {
        let before = attrs(json!({"name": "A", "path": "/"}));
        let mut after = DesiredAttrs::new();
        after.insert("path", json!("/x/").into());
        let d = diff_desired(ResourceKind::IamRole, Some(&before), &after);
        assert_eq!(d.len(), 1);
        assert!(d[0].forces_replacement);
        let d = diff_desired(ResourceKind::IamRole, None, &after);
        assert!(!d[0].forces_replacement);
    }

    #[test]
    fn drift_compares_recorded_attributes() {
        let rec = attrs(json!({"description": "a", "tags": {"x": "1"}}));
        let now = attrs(json!({"description": "b", "tags": {"x": "1"}, "arn": "z"}));
        let d = diff_observed(ResourceKind::IamRole, &rec, &now);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "description");
    }
}
