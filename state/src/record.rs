//! The in-memory state: one [`ResourceRecord`] per managed resource, kept in a
//! [`State`] keyed by [`ResourceAddress`].
//!
//! On disk a state is
//! `{"format_version":1,"lineage":"...","serial":N,"resources":[...]}` with
//! the records in address order; reading it back rejects a repeated address.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::value::Map;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::address::ResourceAddress;
use crate::journal::Intent;

/// The state file format this crate reads and writes.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// What eksmgr knows about one managed resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// The resource's address.
    pub address: ResourceAddress,
    /// The resource's AWS identifier (ARN, name or id, depending on the kind).
    pub id: String,
    /// What eksmgr last saw of the resource in AWS after an operation. Shared (not copied)
    /// with a plan's observation of the resource when AWS still holds exactly this; change it
    /// with [`Arc::make_mut`].
    #[serde(default)]
    pub attrs: Arc<Map>,
    /// Resources this one depended on when it was last applied. Shared (not copied) with the
    /// plan's change of the resource when the configuration still says exactly this.
    #[serde(default)]
    pub depends_on: Arc<[ResourceAddress]>,
    /// When this record was last written.
    pub updated_at: DateTime<Utc>,
}

impl ResourceRecord {
    /// A record with no attributes or dependencies, stamped now.
    pub fn new(address: ResourceAddress, id: impl Into<String>) -> Self {
        Self {
            address,
            id: id.into(),
            attrs: Arc::default(),
            depends_on: Arc::default(),
            updated_at: Utc::now(),
        }
    }
}

/// The estate a state belongs to: the organization's management account and the EKS OU,
/// recorded at the first apply, so that a state is never used for another estate by mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estate {
    /// The organization's management account.
    pub management_account_id: String,
    /// The EKS organizational unit.
    pub eks_ou_id: String,
}

impl std::fmt::Display for Estate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "management account {}, EKS OU {}",
            self.management_account_id, self.eks_ou_id
        )
    }
}

/// The whole persisted state of one eksmgr estate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawState")]
pub struct State {
    /// Format version of the file ([`STATE_FORMAT_VERSION`]).
    #[serde(rename = "format_version")]
    pub version: u32,
    /// Identifies this state's history; fixed when the state is first created.
    pub lineage: String,
    /// Incremented on every save.
    pub serial: u64,
    /// The managed resources, by address.
    #[serde(serialize_with = "serialize_records")]
    pub resources: BTreeMap<ResourceAddress, ResourceRecord>,
    /// Operations an interrupted run started and never recorded the result of (see
    /// [`crate::journal`]); the next plan resolves them by looking the resources up.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "serialize_intents"
    )]
    pub intents: BTreeMap<ResourceAddress, Intent>,
    /// The estate this state belongs to (none before its first apply, or in a state written
    /// by an eksmgr that did not record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estate: Option<Estate>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// An empty state with a fresh lineage and serial 0.
    pub fn new() -> Self {
        Self {
            version: STATE_FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            estate: None,
            resources: BTreeMap::new(),
            intents: BTreeMap::new(),
        }
    }

    /// The record at `address`, if any.
    pub fn get(&self, address: &ResourceAddress) -> Option<&ResourceRecord> {
        self.resources.get(address)
    }

    /// Inserts or replaces the record at `record.address`; returns the old one.
    pub fn upsert(&mut self, record: ResourceRecord) -> Option<ResourceRecord> {
        self.resources.insert(record.address.clone(), record)
    }

    /// Removes and returns the record at `address`.
    pub fn remove(&mut self, address: &ResourceAddress) -> Option<ResourceRecord> {
        self.resources.remove(address)
    }

    /// All addresses, in (account, region, kind, name) order.
    pub fn addresses(&self) -> impl Iterator<Item = &ResourceAddress> {
        self.resources.keys()
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Whether there are no resources.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

fn serialize_records<S: Serializer>(
    resources: &BTreeMap<ResourceAddress, ResourceRecord>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(resources.values())
}

fn serialize_intents<S: Serializer>(
    intents: &BTreeMap<ResourceAddress, Intent>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(intents.values())
}

/// The on-disk shape with every resource record still as its text, so that the format version
/// is checked before the records are trusted, and the records are parsed in parallel.
#[derive(Debug, Deserialize)]
pub(crate) struct LazyState<'a> {
    pub(crate) format_version: u32,
    pub(crate) lineage: String,
    pub(crate) serial: u64,
    #[serde(default)]
    pub(crate) estate: Option<Estate>,
    #[serde(default, borrow)]
    pub(crate) resources: Vec<&'a RawValue>,
    #[serde(default)]
    pub(crate) intents: Vec<Intent>,
}

/// The on-disk shape, before the duplicate-address check.
#[derive(Debug, Deserialize)]
pub(crate) struct RawState {
    pub(crate) format_version: u32,
    pub(crate) lineage: String,
    pub(crate) serial: u64,
    #[serde(default)]
    pub(crate) estate: Option<Estate>,
    #[serde(default)]
    pub(crate) resources: Vec<ResourceRecord>,
    #[serde(default)]
    pub(crate) intents: Vec<Intent>,
}

impl RawState {
    /// Builds the state, or returns the first address that appears twice.
    pub(crate) fn into_state(self) -> Result<State, ResourceAddress> {
        // Saved states are in address order, so the sort is one pass that finds them sorted,
        // repeats are neighbours, and the map is built from sorted input in one go (inserting
        // one record at a time compared addresses 17 times each at 100,000 records).
        let mut records = self.resources;
        records.sort_by(|a, b| a.address.cmp(&b.address));
        if let Some(pair) = records
            .windows(2)
            .find(|pair| pair[0].address == pair[1].address)
        {
            return Err(pair[1].address.clone());
        }
        // A dependency names another record: share that record's address instead of keeping
        // the copy parsed from the file (an address's parts are 112 bytes, a copy 8).
        let addresses: Vec<ResourceAddress> = records.iter().map(|r| r.address.clone()).collect();
        for r in &mut records {
            let shared = |d: &ResourceAddress| match addresses.binary_search(d) {
                Ok(i) => addresses.get(i).cloned(),
                Err(_) => None,
            };
            if r.depends_on.iter().any(|d| shared(d).is_some()) {
                r.depends_on = r
                    .depends_on
                    .iter()
                    .map(|d| shared(d).unwrap_or_else(|| d.clone()))
                    .collect();
            }
        }
        drop(addresses);
        let resources = records
            .into_iter()
            .map(|r| (r.address.clone(), r))
            .collect();
        Ok(State {
            version: self.format_version,
            lineage: self.lineage,
            serial: self.serial,
            estate: self.estate,
            resources,
            intents: self
                .intents
                .into_iter()
                .map(|i| (i.address.clone(), i))
                .collect(),
        })
    }
}

impl TryFrom<RawState> for State {
    type Error = String;

    fn try_from(raw: RawState) -> Result<Self, Self::Error> {
        raw.into_state()
            .map_err(|address| format!("duplicate resource address `{address}`"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ResourceAddress {
        s.parse().unwrap()
    }

    #[test]
    fn new_state() {
        let s = State::new();
        assert_eq!(s.version, STATE_FORMAT_VERSION);
        assert_eq!(s.serial, 0);
        assert!(uuid::Uuid::parse_str(&s.lineage).is_ok());
        assert_ne!(s.lineage, State::new().lineage);
        assert!(s.is_empty());
    }

    #[test]
    fn helpers() {
        let mut s = State::new();
        let a = addr("eks_cluster.prod[1/eu-west-1]");
        assert!(s.upsert(ResourceRecord::new(a.clone(), "arn:1")).is_none());
        assert!(s.upsert(ResourceRecord::new(a.clone(), "arn:2")).is_some());
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(&a).unwrap().id, "arn:2");
        assert_eq!(s.addresses().collect::<Vec<_>>(), vec![&a]);
        assert_eq!(s.remove(&a).unwrap().id, "arn:2");
        assert!(s.remove(&a).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn json_shape_and_round_trip() {
        let mut s = State::new();
        let mut rec = ResourceRecord::new(addr("eks_cluster.b[2/eu-west-1]"), "b");
        std::sync::Arc::make_mut(&mut rec.attrs).insert("version".into(), "1.31");
        rec.depends_on = Arc::from([addr("iam_role.r[2]")]);
        s.upsert(rec);
        s.upsert(ResourceRecord::new(addr("iam_role.r[2]"), "r"));
        s.upsert(ResourceRecord::new(addr("eks_cluster.a[1/eu-west-1]"), "a"));
        let v = serde_json::to_value(&s).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["format_version", "lineage", "serial", "resources"]);
        assert_eq!(v["format_version"], 1);
        let addrs: Vec<&str> = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["address"].as_str().unwrap())
            .collect();
        assert_eq!(
            addrs,
            [
                "eks_cluster.a[1/eu-west-1]",
                "iam_role.r[2]",
                "eks_cluster.b[2/eu-west-1]"
            ]
        );
        let back: State = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        // One copy of an address, shared by the map's key, the record and the records that
        // depend on it.
        let (key, r) = back
            .resources
            .get_key_value(&addr("iam_role.r[2]"))
            .unwrap();
        assert!(key.same_copy(&r.address));
        let b = &back.resources[&addr("eks_cluster.b[2/eu-west-1]")];
        assert!(b.depends_on[0].same_copy(key));
    }

    #[test]
    fn duplicate_address_rejected_by_deserialize() {
        let r = serde_json::to_value(ResourceRecord::new(addr("iam_role.r[2]"), "r")).unwrap();
        let v = serde_json::json!({
            "format_version": 1, "lineage": "x", "serial": 3, "resources": [r.clone(), r]
        });
        let err = serde_json::from_value::<State>(v).unwrap_err();
        assert!(
            err.to_string()
                .contains("duplicate resource address `iam_role.r[2]`")
        );
    }
}
