//! `[[secrets]]`, the rules without I/O: which clusters and namespaces a secret goes to, how
//! a Secrets Manager value becomes the data of a Kubernetes secret, the labels and annotations
//! eksmgr marks its secrets with, and what a target holds compared with the hub's current
//! version (`eksmgr secrets status`).
//!
//! A secret value is only ever held in [`SecretData`], whose `Debug` shows key names and
//! sizes, never bytes; every error here names keys and fields, never values.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

use crate::config::{SecretConfig, SecretType};

/// The label every secret eksmgr writes carries (and the one `status` checks before
/// overwriting): `app.kubernetes.io/managed-by=eksmgr`, Kubernetes' recommended label
/// (<https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/>).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "eksmgr";
/// The field manager of eksmgr's server-side applies.
pub const FIELD_MANAGER: &str = "eksmgr";
/// Annotation: the ARN of the Secrets Manager secret the value came from.
pub const SOURCE_ARN_ANNOTATION: &str = "eksmgr.io/source-arn";
/// Annotation: the Secrets Manager version id the value came from.
pub const VERSION_ID_ANNOTATION: &str = "eksmgr.io/version-id";
/// The most data a Kubernetes secret may hold
/// (<https://kubernetes.io/docs/concepts/configuration/secret/#restriction-data-size>).
pub const MAX_SECRET_BYTES: usize = 1024 * 1024;

/// A Secrets Manager value as `GetSecretValue` returns it.
pub enum SecretValue {
    /// `SecretString`.
    Text(String),
    /// `SecretBinary`.
    Binary(Vec<u8>),
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Text(s) => write!(f, "SecretValue::Text({} bytes)", s.len()),
            SecretValue::Binary(b) => write!(f, "SecretValue::Binary({} bytes)", b.len()),
        }
    }
}

/// The data of a Kubernetes secret: key to bytes. `Debug` shows the keys and sizes only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretData(pub BTreeMap<String, Vec<u8>>);

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, format!("({} bytes)", v.len()))),
            )
            .finish()
    }
}

/// Why a value cannot become the secret's data. Messages name keys and fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DataError {
    /// The mapping needs a JSON object and the value is not one.
    #[error("the value is not a JSON object ({0}); give `key` to write the whole value to one key")]
    NotJsonObject(String),
    /// A mapped field is absent.
    #[error("the JSON value has no field {0:?}")]
    MissingField(String),
    /// A field is not a string.
    #[error("the JSON field {field:?} is {found}, not a string")]
    NotString {
        /// The field.
        field: String,
        /// What it is instead (`a number`, `an object` ...).
        found: &'static str,
    },
    /// A binary value cannot be split into fields.
    #[error("the value is binary (SecretBinary): give `key` to write it whole to one key")]
    BinaryNeedsKey,
    /// A JSON object field is not a valid data key.
    #[error(
        "the JSON field {0:?} is not a valid secret data key (letters, digits, '-', '_', '.'): map it with `keys`"
    )]
    BadKey(String),
    /// `.dockerconfigjson` must be JSON.
    #[error(
        "the value for .dockerconfigjson is not JSON (a kubernetes.io/dockerconfigjson secret needs a docker config.json)"
    )]
    DockerConfigNotJson,
    /// The type's required keys are missing.
    #[error("a {kind} secret needs the data keys {needed}; missing {missing}")]
    MissingKeys {
        /// The secret type.
        kind: &'static str,
        /// All the keys it needs.
        needed: String,
        /// Those missing.
        missing: String,
    },
    /// Over Kubernetes' 1 MiB.
    #[error("the secret data is {0} bytes, over Kubernetes' limit of 1 MiB")]
    TooLarge(usize),
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn is_data_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// The Kubernetes data of `secret` from the hub's `value`: the whole value under `key`, the
/// mapped JSON fields (`keys`), or the type's default (see [`SecretConfig`]); checked against
/// the type's required keys and Kubernetes' size limit.
pub fn data(secret: &SecretConfig, value: &SecretValue) -> Result<SecretData, DataError> {
    let key = secret.key.clone().or_else(|| {
        (secret.kind == SecretType::DockerConfigJson && secret.keys.is_empty())
            .then(|| ".dockerconfigjson".to_string())
    });
    let mut out = BTreeMap::new();
    if let Some(key) = key {
        let bytes = match value {
            SecretValue::Text(s) => s.as_bytes().to_vec(),
            SecretValue::Binary(b) => b.clone(),
        };
        out.insert(key, bytes);
    } else {
        let SecretValue::Text(text) = value else {
            return Err(DataError::BinaryNeedsKey);
        };
        // serde_json's syntax errors give a line and column, never the input.
        let parsed: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            DataError::NotJsonObject(format!(
                "not JSON: invalid at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        let serde_json::Value::Object(fields) = parsed else {
            return Err(DataError::NotJsonObject(json_kind(&parsed).to_string()));
        };
        let string = |field: &str| -> Result<Vec<u8>, DataError> {
            match fields.get(field) {
                None => Err(DataError::MissingField(field.to_string())),
                Some(serde_json::Value::String(s)) => Ok(s.as_bytes().to_vec()),
                Some(other) => Err(DataError::NotString {
                    field: field.to_string(),
                    found: json_kind(other),
                }),
            }
        };
        if !secret.keys.is_empty() {
            for (k, field) in &secret.keys {
                out.insert(k.clone(), string(field)?);
            }
        } else if secret.kind == SecretType::Tls {
            for k in SecretType::Tls.required_keys() {
                out.insert((*k).to_string(), string(k)?);
            }
        } else {
            for field in fields.keys() {
                if !is_data_key(field) {
                    return Err(DataError::BadKey(field.clone()));
                }
                out.insert(field.clone(), string(field)?);
            }
        }
    }
    let missing: Vec<&str> = secret
        .kind
        .required_keys()
        .iter()
        .copied()
        .filter(|k| !out.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(DataError::MissingKeys {
            kind: secret.kind.as_str(),
            needed: secret.kind.required_keys().join(", "),
            missing: missing.join(", "),
        });
    }
    if secret.kind == SecretType::DockerConfigJson
        && out
            .get(".dockerconfigjson")
            .is_some_and(|v| serde_json::from_slice::<serde_json::Value>(v).is_err())
    {
        return Err(DataError::DockerConfigNotJson);
    }
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_SECRET_BYTES {
        return Err(DataError::TooLarge(size));
    }
    Ok(SecretData(out))
}

/// What a target namespace holds under the secret's name, as read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Labelled `app.kubernetes.io/managed-by=eksmgr`.
    pub managed: bool,
    /// The `eksmgr.io/version-id` annotation.
    pub version_id: Option<String>,
    /// The `eksmgr.io/source-arn` annotation.
    pub source_arn: Option<String>,
}

/// Where a target stands against the hub's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// eksmgr's secret, at the current version of the same source.
    Current,
    /// eksmgr's secret, at another version (or from another source).
    Outdated {
        /// The version id it holds (`None`: not annotated).
        held: Option<String>,
    },
    /// No secret of that name.
    Missing,
    /// A secret of that name eksmgr did not write: never overwritten without `--force`.
    Unmanaged,
    /// The namespace does not exist.
    NoNamespace,
}

impl Standing {
    /// Compares what a namespace holds with the current version `version_id` of `source_arn`.
    pub fn of(
        namespace_exists: bool,
        observed: Option<&Observed>,
        source_arn: &str,
        version_id: &str,
    ) -> Standing {
        if !namespace_exists {
            return Standing::NoNamespace;
        }
        match observed {
            None => Standing::Missing,
            Some(o) if !o.managed => Standing::Unmanaged,
            Some(o)
                if o.version_id.as_deref() == Some(version_id)
                    && o.source_arn.as_deref() == Some(source_arn) =>
            {
                Standing::Current
            }
            Some(o) => Standing::Outdated {
                held: o.version_id.clone(),
            },
        }
    }

    /// One word for tables and JSON: `current`, `outdated`, `missing`, `unmanaged`,
    /// `no-namespace`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Standing::Current => "current",
            Standing::Outdated { .. } => "outdated",
            Standing::Missing => "missing",
            Standing::Unmanaged => "unmanaged",
            Standing::NoNamespace => "no-namespace",
        }
    }

    /// The exit code `eksmgr secrets status` gives for this standing (the worst of all
    /// targets wins, as `plan --detailed-exitcode`): 0 current, 2 a push would change it,
    /// 3 a human must act (a secret eksmgr does not manage, a missing namespace).
    pub fn exit_code(&self) -> u8 {
        match self {
            Standing::Current => 0,
            Standing::Outdated { .. } | Standing::Missing => 2,
            Standing::Unmanaged | Standing::NoNamespace => 3,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret(kind: SecretType, key: Option<&str>, keys: &[(&str, &str)]) -> SecretConfig {
        SecretConfig {
            name: "s".into(),
            source: "s".into(),
            clusters: vec!["*".into()],
            namespaces: vec!["apps".into()],
            kind,
            key: key.map(str::to_string),
            keys: keys
                .iter()
                .map(|(k, f)| ((*k).to_string(), (*f).to_string()))
                .collect(),
            auto: false,
        }
    }

    fn text(s: &str) -> SecretValue {
        SecretValue::Text(s.to_string())
    }

    #[test]
    fn json_fields_become_keys_and_errors_never_show_values() {
        let all = data(
            &secret(SecretType::Opaque, None, &[]),
            &text(r#"{"user":"u1","password":"hunter2"}"#),
        )
        .unwrap();
        assert_eq!(all.0["password"], b"hunter2");
        assert!(!format!("{all:?}").contains("hunter2"));
        let mapped = data(
            &secret(SecretType::Opaque, None, &[("PASS", "password")]),
            &text(r#"{"user":"u1","password":"hunter2"}"#),
        )
        .unwrap();
        assert_eq!(mapped.0.keys().collect::<Vec<_>>(), ["PASS"]);
        let whole = data(
            &secret(SecretType::Opaque, Some("token"), &[]),
            &text("hunter2"),
        )
        .unwrap();
        assert_eq!(whole.0["token"], b"hunter2");
        for (s, v) in [
            (secret(SecretType::Opaque, None, &[]), text("hunter2")),
            (
                secret(SecretType::Opaque, None, &[("a", "b")]),
                text(r#"{"b": 12345}"#),
            ),
            (
                secret(SecretType::Opaque, None, &[]),
                text(r#"{"bad key": "hunter2"}"#),
            ),
            (
                secret(SecretType::DockerConfigJson, None, &[]),
                text("hunter2"),
            ),
            (
                secret(SecretType::Tls, None, &[]),
                text(r#"{"tls.crt": "hunter2"}"#),
            ),
        ] {
            let e = data(&s, &v).unwrap_err().to_string();
            assert!(!e.contains("hunter2") && !e.contains("12345"), "{e}");
        }
    }

    #[test]
    fn types_get_their_keys() {
        let d = data(
            &secret(SecretType::DockerConfigJson, None, &[]),
            &text(r#"{"auths":{}}"#),
        )
        .unwrap();
        assert_eq!(d.0.keys().collect::<Vec<_>>(), [".dockerconfigjson"]);
        let t = data(
            &secret(SecretType::Tls, None, &[]),
            &text(r#"{"tls.crt":"C","tls.key":"K","ca":"x"}"#),
        )
        .unwrap();
        assert_eq!(t.0.keys().collect::<Vec<_>>(), ["tls.crt", "tls.key"]);
        assert_eq!(
            data(
                &secret(SecretType::Opaque, None, &[]),
                &SecretValue::Binary(vec![1])
            ),
            Err(DataError::BinaryNeedsKey)
        );
        let big = "x".repeat(MAX_SECRET_BYTES);
        assert!(matches!(
            data(&secret(SecretType::Opaque, Some("k"), &[]), &text(&big)),
            Err(DataError::TooLarge(_))
        ));
    }

    #[test]
    fn standing_compares_version_and_source() {
        let mine = |v: &str| Observed {
            managed: true,
            version_id: Some(v.into()),
            source_arn: Some("arn:s".into()),
        };
        assert_eq!(
            Standing::of(true, Some(&mine("v1")), "arn:s", "v1"),
            Standing::Current
        );
        assert_eq!(
            Standing::of(true, Some(&mine("v0")), "arn:s", "v1"),
            Standing::Outdated {
                held: Some("v0".into())
            }
        );
        assert_eq!(Standing::of(true, None, "arn:s", "v1"), Standing::Missing);
        let theirs = Observed {
            managed: false,
            version_id: None,
            source_arn: None,
        };
        assert_eq!(
            Standing::of(true, Some(&theirs), "arn:s", "v1").exit_code(),
            3
        );
        assert_eq!(
            Standing::of(false, None, "arn:s", "v1"),
            Standing::NoNamespace
        );
    }
}
