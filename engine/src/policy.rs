//! Semantic comparison of IAM-style policy documents (IAM, SCP, KMS key and ECR repository
//! policies, trust policies) and of JSON documents.
//!
//! Two documents are equal when they mean the same thing: statement order, a single value vs
//! a one-element list, duplicate values, the `Version` default, `"*"` vs `{"AWS": "*"}`, a bare
//! account id vs its root ARN as a principal, and the URL-encoding IAM applies when it returns
//! a document are all ignored. [`normalize`] yields a canonical form; compare those.

use eksmgr_state::value::Map;

use crate::model::Value;

/// Why a policy document could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// Not JSON, even after URL-decoding.
    #[error("policy document is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object with statements.
    #[error("policy document is not an object")]
    NotObject,
}

/// Parses a policy given as a JSON value or a (possibly URL-encoded) JSON string.
pub fn parse(doc: &Value) -> Result<Value, PolicyError> {
    match doc {
        Value::String(s) => parse_str(s),
        Value::Object(_) => Ok(doc.clone()),
        _ => Err(PolicyError::NotObject),
    }
}

/// Parses a policy string, URL-decoding it first when it is encoded (as IAM returns them).
pub fn parse_str(s: &str) -> Result<Value, PolicyError> {
    let trimmed = s.trim();
    let text = if trimmed.starts_with('%') || (trimmed.contains("%22") && !trimmed.contains('"')) {
        percent_encoding::percent_decode_str(trimmed)
            .decode_utf8()
            .map_err(|e| PolicyError::NotJson(e.to_string()))?
            .replace('+', " ")
    } else {
        trimmed.to_string()
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| PolicyError::NotJson(e.to_string()))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(PolicyError::NotObject)
    }
}

/// The canonical form of a policy document (see the module docs). Documents that cannot be
/// parsed normalise to themselves, so they still compare by text.
pub fn normalize(doc: &Value) -> Value {
    let Ok(Value::Object(obj)) = parse(doc) else {
        return doc.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "Statement" => {
                let mut statements: Vec<Value> =
                    as_list(&v).iter().map(normalize_statement).collect();
                statements.sort_by_cached_key(canonical_string);
                statements.dedup();
                out.insert(k, Value::Array(statements.into()));
            }
            _ => {
                out.insert(k, v);
            }
        }
    }
    out.entry_or_insert_with("Version", || Value::String("2008-10-17".into()));
    sort_object(Value::Object(out))
}

/// Whether two policy documents mean the same.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

/// Normalises a JSON document given as an object or a JSON string (templates): parsed and
/// with sorted keys. Unparseable strings stay as they are.
pub fn normalize_document(doc: &Value) -> Value {
    match doc {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => sort_object(v),
            Err(_) => doc.clone(),
        },
        other => sort_object(other.clone()),
    }
}

/// Minified JSON of a policy, as AWS measures it against size quotas.
pub fn minified_len(doc: &Value) -> usize {
    // Counted as it is written, not written out: every policy of the estate is measured.
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, doc) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// A writer that only counts the bytes written to it.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn normalize_statement(st: &Value) -> Value {
    let Value::Object(obj) = st else {
        return st.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let nv = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(v),
            "Principal" | "NotPrincipal" => normalize_principal(v),
            "Condition" => normalize_condition(v),
            _ => v.clone(),
        };
        out.insert(*k, nv);
    }
    Value::Object(out)
}

fn normalize_principal(v: &Value) -> Value {
    match v {
        Value::String(s) if s == "*" => {
            let mut m = Map::new();
            m.insert(
                "AWS".into(),
                Value::Array(Box::new([Value::String("*".into())])),
            );
            Value::Object(m)
        }
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, vals) in m {
                let mut list: Vec<String> = as_list(vals)
                    .iter()
                    .map(|x| match x.as_str() {
                        Some(s) if k == "AWS" && is_account_id(s) => {
                            format!("arn:aws:iam::{s}:root")
                        }
                        Some(s) => s.to_string(),
                        None => canonical_string(x),
                    })
                    .collect();
                list.sort();
                list.dedup();
                out.insert(
                    *k,
                    Value::Array(list.into_iter().map(Value::from).collect()),
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn normalize_condition(v: &Value) -> Value {
    let Value::Object(ops) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (op, keys) in ops {
        let Value::Object(keys) = keys else {
            out.insert(*op, keys.clone());
            continue;
        };
        let mut nk = Map::new();
        for (key, vals) in keys {
            nk.insert(*key, string_set(vals));
        }
        out.insert(*op, Value::Object(nk));
    }
    Value::Object(out)
}

fn string_set(v: &Value) -> Value {
    let mut list: Vec<Value> = as_list(v)
        .into_iter()
        .map(|x| match x {
            Value::Bool(b) => Value::String(b.to_string().into()),
            Value::Number(n) => Value::String(n.to_string().into()),
            other => other,
        })
        .collect();
    list.sort_by_cached_key(canonical_string);
    list.dedup();
    Value::Array(list.into())
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.to_vec(),
        other => vec![other.clone()],
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Recursively sorts object keys, so equal documents serialise identically.
pub fn sort_object(v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            m.sort_keys();
            for v in m.values_mut() {
                *v = sort_object(v.take());
            }
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_object).collect()),
        other => other,
    }
}

fn canonical_string(v: &Value) -> String {
    serde_json::to_string(&sort_object(v.clone())).unwrap_or_default()
}

/// `*` and `?` wildcard matching, as IAM does it in ARNs, actions and principals.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        // One byte per character: no need to decode them.
        glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', |a, b| {
            a == b
        })
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        glob(&p, &t, '*', '?', |a, b| a == b)
    }
}

/// [`wildcard_match`] of both strings in ASCII lower case (IAM actions), without making the
/// lower-cased copies.
pub fn wildcard_match_ignore_ascii_case(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', |a, b| {
            a.eq_ignore_ascii_case(&b)
        })
    } else {
        wildcard_match(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
    }
}

/// The wildcard matching of [`wildcard_match`] over characters (or bytes), `eq` comparing two
/// of them.
fn glob<T: Copy + PartialEq>(p: &[T], t: &[T], star: T, one: T, eq: impl Fn(T, T) -> bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || eq(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = backtrack {
            pi = sp + 1;
            ti = st + 1;
            backtrack = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eksmgr_state::json;

    #[test]
    fn statement_order_and_single_values_do_not_matter() {
        let a = json!({"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Effect":"Deny","Action":["iam:DeleteRole","iam:UpdateRole"],"Resource":["arn:aws:iam::*:role/X"]}
        ]});
        let b = json!({"Statement":[
            {"Resource":"arn:aws:iam::*:role/X","Action":["iam:UpdateRole","iam:DeleteRole"],"Effect":"Deny"},
            {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["*"]}
        ],"Version":"2012-10-17"});
        assert!(equivalent(&a, &b));
    }

    #[test]
    fn url_encoded_documents_from_iam_compare_equal() {
        let doc = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]});
        let text = serde_json::to_string(&doc).unwrap_or_default();
        let encoded: String =
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(equivalent(&doc, &Value::from(encoded)));
    }

    #[test]
    fn version_default_and_principal_forms() {
        let a = json!({"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}});
        let b = json!({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["sts:AssumeRole"]}]});
        assert!(equivalent(&a, &b));
        let c = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]});
        let d = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]});
        assert!(equivalent(&c, &d));
    }

    #[test]
    fn real_differences_are_seen() {
        let a = json!({"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]});
        let b = json!({"Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]});
        assert!(!equivalent(&a, &b));
        let c = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]});
        assert!(!equivalent(&a, &c), "2012-10-17 is not the default version");
    }

    #[test]
    fn condition_values_are_sets() {
        let a = json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalArn":["b","a"]}}}]});
        let b = json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalArn":["a","b","a"]}}}]});
        assert!(equivalent(&a, &b));
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        assert!(parse_str("{not json").is_err());
        assert!(parse_str("[1,2]").is_err());
        assert_eq!(normalize(&json!("garbage")), json!("garbage"));
    }
}
