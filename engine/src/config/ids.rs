//! Validated identifiers used in the configuration: AWS account ids, Organizations OU ids,
//! ARNs, and the `account` selector of a cluster (an account id or `"*"`); and durations
//! (`[agent] interval`, `--lock-timeout`).
//!
//! Each type checks its format while it is deserialised, so a malformed value is reported at
//! the value's position in `eksmgr.toml`. The checks are written by hand (no regex engine).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A malformed identifier; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(pub String);

/// Implements `FromStr`, `TryFrom<String>`, `Display`, `as_str`, `Serialize` and a
/// `Deserialize` that validates inside the deserialiser (so the error carries the span).
macro_rules! string_newtype {
    ($ty:ident, $validate:path, $expecting:literal) => {
        impl $ty {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $validate(s).map(|()| Self(s.to_string()))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $validate(&s).map(|()| Self(s))
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

/// An AWS account id: exactly 12 ASCII digits (leading zeros are significant).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);
string_newtype!(AccountId, validate_account_id, "a string");

/// An AWS Organizations organizational unit id, e.g. `ou-ab12-cdef3456`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OuId(String);
string_newtype!(OuId, validate_ou_id, "a string");

/// An AWS ARN, `arn:<partition>:<service>:<region>:<account>:<resource>`. The resource may
/// contain `*` wildcards (e.g. `arn:aws:iam::*:role/AWSReservedSSO_EKSAdmin_*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arn(String);
string_newtype!(Arn, validate_arn, "a string");

impl Arn {
    /// An ARN known to be well formed (a constant of this crate).
    pub(super) fn from_validated(s: &str) -> Self {
        Self(s.to_string())
    }

    /// The partition (`aws`, `aws-cn` or `aws-us-gov`).
    pub fn partition(&self) -> &str {
        self.part(1)
    }

    /// The service (`iam`, `sts`, ...).
    pub fn service(&self) -> &str {
        self.part(2)
    }

    /// The region (empty for global services).
    pub fn region(&self) -> &str {
        self.part(3)
    }

    /// The account field (12 digits, empty, `aws` or `*`).
    pub fn account(&self) -> &str {
        self.part(4)
    }

    /// The resource part (everything after the fifth colon).
    pub fn resource(&self) -> &str {
        self.0.splitn(6, ':').nth(5).unwrap_or("")
    }

    fn part(&self, i: usize) -> &str {
        self.0.splitn(6, ':').nth(i).unwrap_or("")
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn validate_account_id(s: &str) -> Result<(), IdError> {
    if is_account_id(s) {
        Ok(())
    } else {
        Err(IdError(format!(
            "invalid account id {s:?}: expected 12 digits"
        )))
    }
}

fn is_lower_alnum(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

fn validate_ou_id(s: &str) -> Result<(), IdError> {
    let ok = s
        .strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, ou)| {
            (4..=32).contains(&root.len())
                && is_lower_alnum(root)
                && (8..=32).contains(&ou.len())
                && is_lower_alnum(ou)
        });
    if ok {
        Ok(())
    } else {
        Err(IdError(format!(
            "invalid OU id {s:?}: expected \"ou-\", 4 to 32 lowercase letters or digits, \"-\", \
             then 8 to 32 lowercase letters or digits (e.g. \"ou-ab12-cdef3456\")"
        )))
    }
}

/// The AWS partitions an ARN may name.
pub const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov"];

fn validate_arn(s: &str) -> Result<(), IdError> {
    let fail = |why: &str| Err(IdError(format!("invalid ARN {s:?}: {why}")));
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return fail("expected arn:<partition>:<service>:<region>:<account>:<resource>");
    };
    if *arn != "arn" {
        return fail("expected it to start with \"arn:\"");
    }
    if !PARTITIONS.contains(partition) {
        return fail("expected the partition to be aws, aws-cn or aws-us-gov");
    }
    if service.is_empty()
        || !service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return fail("expected a service name of lowercase letters, digits and '-'");
    }
    if !region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*')
    {
        return fail("expected the region to be empty or a region name such as us-east-1");
    }
    if !(account.is_empty() || *account == "aws" || *account == "*" || is_account_id(account)) {
        return fail("expected the account to be 12 digits, empty, \"aws\" or \"*\"");
    }
    if resource.is_empty() {
        return fail("expected a non-empty resource after the account");
    }
    if resource.chars().any(char::is_whitespace) {
        return fail("the resource must not contain whitespace");
    }
    Ok(())
}

/// Which account(s) a cluster is created in: one account, or (`"*"`) every discovered spoke.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClusterAccount {
    /// A template: one cluster in every discovered spoke account (written `"*"`).
    AllSpokes,
    /// One cluster in this account.
    Account(AccountId),
}

impl ClusterAccount {
    /// `"*"` or the account id.
    pub fn as_str(&self) -> &str {
        match self {
            Self::AllSpokes => "*",
            Self::Account(a) => a.as_str(),
        }
    }

    /// Whether this cluster applies to `account`.
    pub fn matches(&self, account: &AccountId) -> bool {
        match self {
            Self::AllSpokes => true,
            Self::Account(a) => a == account,
        }
    }

    /// Whether two selectors can name the same account.
    pub fn overlaps(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Account(a), Self::Account(b)) => a == b,
            _ => true,
        }
    }
}

impl fmt::Display for ClusterAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClusterAccount {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" {
            Ok(Self::AllSpokes)
        } else if is_account_id(s) {
            Ok(Self::Account(AccountId(s.to_string())))
        } else {
            Err(IdError(format!(
                "invalid account {s:?}: expected a 12-digit account id, or \"*\" for every spoke"
            )))
        }
    }
}

impl Serialize for ClusterAccount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClusterAccount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ClusterAccount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClusterAccount, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// `pattern` of [`AccountId`] in the JSON Schema: exactly what [`AccountId::from_str`] accepts.
pub const ACCOUNT_ID_PATTERN: &str = "^[0-9]{12}$";

/// `pattern` of [`OuId`] in the JSON Schema: exactly what [`OuId::from_str`] accepts.
pub const OU_ID_PATTERN: &str = "^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$";

/// `pattern` of [`Arn`] in the JSON Schema: exactly what [`Arn::from_str`] accepts (the
/// resource, everything after the fifth colon, may itself contain colons).
pub const ARN_PATTERN: &str =
    r"^arn:(aws|aws-cn|aws-us-gov):[a-z0-9-]+:[a-z0-9*-]*:([0-9]{12}|aws|\*)?:\S+$";

/// `pattern` of [`ClusterAccount`] in the JSON Schema: an account id or `*`.
pub const CLUSTER_ACCOUNT_PATTERN: &str = r"^([0-9]{12}|\*)$";

/// Hand-written `JsonSchema` impls: a string with the `pattern` its parser accepts, kept in
/// `$defs` under the type's name.
macro_rules! string_schema {
    ($ty:ident, $pattern:expr, $description:literal) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn schema_id() -> std::borrow::Cow<'static, str> {
                concat!(module_path!(), "::", stringify!($ty)).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description,
                })
            }
        }
    };
}

string_schema!(
    AccountId,
    ACCOUNT_ID_PATTERN,
    "An AWS account id: exactly 12 digits (leading zeros are significant), as a string."
);
string_schema!(
    OuId,
    OU_ID_PATTERN,
    "An AWS Organizations OU id: `ou-`, 4 to 32 lowercase letters or digits, `-`, then 8 to \
     32 lowercase letters or digits (e.g. `ou-ab12-cdef3456`)."
);
string_schema!(
    Arn,
    ARN_PATTERN,
    "An AWS ARN, `arn:<partition>:<service>:<region>:<account>:<resource>`: partition `aws`, \
     `aws-cn` or `aws-us-gov`; account 12 digits, empty, `aws` or `*`; the resource may \
     contain `*` wildcards but no whitespace."
);
string_schema!(
    ClusterAccount,
    CLUSTER_ACCOUNT_PATTERN,
    "A 12-digit account id, or `*` for every discovered spoke (the cluster is then a \
     template)."
);

/// Where the agent host fetches a file from: `s3://BUCKET/KEY` or `https://HOST/...`; for an
/// S3 URL, its bucket and key. Refused otherwise (plain HTTP would let the network swap the
/// configuration, which no checksum protects).
pub fn fetch_url(url: &str) -> Result<Option<(&str, &str)>, String> {
    if let Some(rest) = url.strip_prefix("s3://") {
        return match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => {
                Ok(Some((bucket, key)))
            }
            _ => Err(format!(
                "invalid S3 URL {url:?}: expected s3://BUCKET/KEY naming one object"
            )),
        };
    }
    match url.strip_prefix("https://") {
        Some(rest)
            if rest.len() > 1 && !rest.contains(char::is_whitespace) && !rest.contains('\'') =>
        {
            Ok(None)
        }
        _ => Err(format!(
            "invalid URL {url:?}: expected s3://BUCKET/KEY or https://... (no spaces or quotes)"
        )),
    }
}

/// A duration such as `30s`, `5m`, `1h`, `1m30s` or `500ms` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let bad = || format!("`{text}` is not a duration: write e.g. 30s, 5m, 1m30s or 500ms");
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
        rest = &rest[unit..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!("012345678901".parse::<AccountId>().is_ok());
        for bad in [
            "",
            "12345",
            "1234567890123",
            "12345678901a",
            "１２３４５６７８９０１２",
        ] {
            assert!(bad.parse::<AccountId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ou_ids() {
        assert!("ou-ab12-cdef3456".parse::<OuId>().is_ok());
        assert!(
            "ou-abcd-12345678901234567890123456789012"
                .parse::<OuId>()
                .is_ok()
        );
        for bad in [
            "ou-ab1-cdef3456",
            "ou-ab12-cdef345",
            "ou-AB12-cdef3456",
            "r-ab12",
            "ou-ab12cdef3456",
            "ou-ab12-cdef-3456",
            "",
        ] {
            assert!(bad.parse::<OuId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn arns() {
        for good in [
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::*:role/AWSReservedSSO_EKSAdmin_*",
            "arn:aws-us-gov:iam::123456789012:role/x",
            "arn:aws-cn:s3:::bucket",
            "arn:aws:eks:us-east-1:123456789012:cluster/prod:with:colons",
        ] {
            let arn: Arn = good.parse().unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(arn.as_str(), good);
        }
        let arn: Arn = "arn:aws:eks:eu-west-1:123456789012:cluster/a:b"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                arn.partition(),
                arn.service(),
                arn.region(),
                arn.account(),
                arn.resource()
            ),
            ("aws", "eks", "eu-west-1", "123456789012", "cluster/a:b")
        );
        for bad in [
            "",
            "arn:aws:iam::123456789012",
            "arn:aws:iam::123456789012:",
            "arn:aws-xx:iam::123456789012:role/x",
            "arn:aws::us-east-1:123456789012:x",
            "arn:aws:iam::12345:role/x",
            "urn:aws:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:role/a b",
        ] {
            assert!(bad.parse::<Arn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cluster_account() {
        assert_eq!(
            "*".parse::<ClusterAccount>().ok(),
            Some(ClusterAccount::AllSpokes)
        );
        assert!("123".parse::<ClusterAccount>().is_err());
    }
}
