//! Resource addresses: the stable, human-readable key of every managed resource.
//!
//! The textual form is `kind.name[account]` for account-global resources (IAM)
//! and `kind.name[account/region]` for regional ones, e.g.
//! `iam_role.EKSManagerAgentRole[222222222222]` or
//! `eks_cluster.prod-eu[514890031187/eu-west-1]`. The kind never contains a
//! `.`; the name may contain `/`, `.`, `-`, `_` and `:` (e.g. an ECR
//! repository `platform/app`). Addresses serialize as that string and sort by
//! account, region, kind, then name.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The address of one managed resource.
///
/// A plan holds many copies of every resource's address (the resource, state's key and
/// record, the dependencies that name it, the observation and the change), so an address is
/// a shared pointer to its parts: a copy is 8 bytes and a reference count, and the parts are
/// read through it (`address.kind`, `address.account` ...). Two addresses are equal when
/// their parts are, wherever they were made.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceAddress(Arc<AddressParts>);

/// What a [`ResourceAddress`] is made of.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AddressParts {
    /// Resource kind, e.g. `eks_cluster`; never contains `.`.
    pub kind: CompactString,
    /// Resource name within its kind, account and region.
    pub name: CompactString,
    /// AWS account id the resource lives in.
    pub account: CompactString,
    /// AWS region, or `None` for account-global resources such as IAM.
    pub region: Option<CompactString>,
}

impl Deref for ResourceAddress {
    type Target = AddressParts;

    fn deref(&self) -> &AddressParts {
        &self.0
    }
}

impl fmt::Debug for ResourceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceAddress")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("account", &self.account)
            .field("region", &self.region)
            .finish()
    }
}

impl ResourceAddress {
    /// Builds an address from its parts (no validation; use [`str::parse`] for
    /// untrusted input).
    pub fn new(
        kind: impl Into<CompactString>,
        name: impl Into<CompactString>,
        account: impl Into<CompactString>,
        region: Option<String>,
    ) -> Self {
        Self(Arc::new(AddressParts {
            kind: kind.into(),
            name: name.into(),
            account: account.into(),
            region: region.map(Into::into),
        }))
    }

    /// Whether the two are the same copy (not only equal).
    pub fn same_copy(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn sort_key(&self) -> (&str, Option<&str>, &str, &str) {
        (
            &self.account,
            self.region.as_deref(),
            &self.kind,
            &self.name,
        )
    }
}

impl fmt::Display for ResourceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.region {
            Some(region) => write!(
                f,
                "{}.{}[{}/{}]",
                self.kind, self.name, self.account, region
            ),
            None => write!(f, "{}.{}[{}]", self.kind, self.name, self.account),
        }
    }
}

impl Ord for ResourceAddress {
    /// Orders by (account, region, kind, name); account-global resources
    /// (no region) come before regional ones of the same account.
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for ResourceAddress {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not a valid [`ResourceAddress`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid resource address `{input}`: {reason}; expected `kind.name[account]` or \
     `kind.name[account/region]`, e.g. `eks_cluster.prod-eu[514890031187/eu-west-1]`"
)]
pub struct AddressParseError {
    /// The rejected input.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for ResourceAddress {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddressParseError {
            input: s.to_owned(),
            reason,
        };
        let (kind, rest) = s
            .split_once('.')
            .ok_or_else(|| err("missing `.` after the kind"))?;
        if kind.is_empty() {
            return Err(err("the kind is empty"));
        }
        if kind
            .chars()
            .any(|c| c.is_whitespace() || c == '[' || c == ']' || c == '/')
        {
            return Err(err("the kind contains whitespace, `/`, `[` or `]`"));
        }
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| err("missing `[account]` or `[account/region]` at the end"))?;
        let (name, location) = inner
            .rsplit_once('[')
            .ok_or_else(|| err("missing `[` before the account"))?;
        if name.is_empty() {
            return Err(err("the name is empty"));
        }
        if location.contains(']') {
            return Err(err("unbalanced `]` in the account/region part"));
        }
        let (account, region) = match location.split_once('/') {
            Some((account, region)) => (account, Some(region)),
            None => (location, None),
        };
        if account.is_empty() {
            return Err(err("the account is empty"));
        }
        if let Some(region) = region {
            if region.is_empty() {
                return Err(err("the region after `/` is empty"));
            }
            if region.contains('/') {
                return Err(err("the region contains `/`"));
            }
        }
        Ok(Self(Arc::new(AddressParts {
            kind: kind.into(),
            name: name.into(),
            account: account.into(),
            region: region.map(CompactString::from),
        })))
    }
}

impl Serialize for ResourceAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(AddressVisitor)
    }
}

/// Parses an address from the string as the deserializer has it (no copy of it first).
struct AddressVisitor;

impl serde::de::Visitor<'_> for AddressVisitor {
    type Value = ResourceAddress;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ResourceAddress, E> {
        s.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ResourceAddress {
        match s.parse() {
            Ok(a) => a,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn display_forms() {
        let global = ResourceAddress::new("iam_role", "EKSManagerAgentRole", "222222222222", None);
        assert_eq!(
            global.to_string(),
            "iam_role.EKSManagerAgentRole[222222222222]"
        );
        let regional = ResourceAddress::new(
            "eks_cluster",
            "prod-eu",
            "514890031187",
            Some("eu-west-1".into()),
        );
        assert_eq!(
            regional.to_string(),
            "eks_cluster.prod-eu[514890031187/eu-west-1]"
        );
    }

    #[test]
    fn round_trip_including_odd_names() {
        for s in [
            "iam_role.EKSManagerAgentRole[222222222222]",
            "eks_cluster.prod-eu[514890031187/eu-west-1]",
            "ecr_repository.platform/app[111111111111/us-east-1]",
            "ecr_repository.platform/team.a/app_1[111111111111/us-east-1]",
            "ssm_parameter./eks/prod.v1:latest[111111111111/eu-west-1]",
            "weird.name[with]brackets[111111111111]",
            "iam_policy.a.b.c[111111111111]",
        ] {
            let a = parse(s);
            assert_eq!(a.to_string(), s);
            assert!(!a.kind.contains('.'));
        }
        let a = parse("ecr_repository.platform/app[111111111111/us-east-1]");
        assert_eq!(a.kind, "ecr_repository");
        assert_eq!(a.name, "platform/app");
        assert_eq!(a.account, "111111111111");
        assert_eq!(a.region.as_deref(), Some("us-east-1"));
        let a = parse("iam_policy.a.b.c[111111111111]");
        assert_eq!((a.kind.as_str(), a.name.as_str()), ("iam_policy", "a.b.c"));
        assert_eq!(a.region, None);
        let a = parse("weird.name[with]brackets[111111111111]");
        assert_eq!(a.name, "name[with]brackets");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "noseparator[1]",
            ".name[1]",
            "kind.[1]",
            "kind.name",
            "kind.name[1",
            "kind.name[]",
            "kind.name[/eu-west-1]",
            "kind.name[1/]",
            "kind.name[1/eu/west]",
            "kind.name1]",
            "ki nd.name[1]",
        ] {
            let err = match s.parse::<ResourceAddress>() {
                Ok(a) => panic!("{s:?} parsed as {a:?}"),
                Err(e) => e,
            };
            let msg = err.to_string();
            assert!(msg.contains("expected `kind.name[account]`"), "{msg}");
        }
    }

    #[test]
    fn ordering_is_account_region_kind_name() {
        let mut v = [
            parse("eks_cluster.b[2/eu-west-1]"),
            parse("iam_role.z[2]"),
            parse("eks_cluster.a[2/eu-west-1]"),
            parse("aaa.a[2/us-east-1]"),
            parse("zzz.z[1/us-east-1]"),
            parse("ecr_repository.x[2/eu-west-1]"),
        ];
        v.sort();
        let got: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "zzz.z[1/us-east-1]",
                "iam_role.z[2]",
                "ecr_repository.x[2/eu-west-1]",
                "eks_cluster.a[2/eu-west-1]",
                "eks_cluster.b[2/eu-west-1]",
                "aaa.a[2/us-east-1]",
            ]
        );
    }

    #[test]
    fn serde_as_string() -> Result<(), serde_json::Error> {
        let a = parse("ecr_repository.platform/app[111111111111/us-east-1]");
        let json = serde_json::to_string(&a)?;
        assert_eq!(
            json,
            "\"ecr_repository.platform/app[111111111111/us-east-1]\""
        );
        let back: ResourceAddress = serde_json::from_str(&json)?;
        assert_eq!(back, a);
        assert!(serde_json::from_str::<ResourceAddress>("\"bad\"").is_err());
        Ok(())
    }
}
