//! Synthetic estates, for benchmarks and scale tests: no AWS, no I/O.
//!
//! An [`Estate`] of N spoke accounts is modelled on `examples/eksmgr.toml`: the governance
//! layer, the hub agent role and registry, and per spoke two clusters (`workloads`, with build
//! pods, a cross-account deployer role and per-account subnets; `edge`, with external-dns, a
//! declared pod identity, a view grant and per-account subnets): 20 resources per spoke, each
//! with its KMS keys, roles, pod identity associations and access entries.
//!
//! It gives the configuration text ([`Estate::config_toml`]), what discovery would find
//! ([`Estate::discovery`]), and for the desired resources an in-memory cloud where each of
//! them exists exactly as desired ([`cloud_matching`]), the observations of it
//! ([`observations`]), a state recording it ([`state_matching`]), and [`Provider`]s that serve
//! it: [`InMemoryProvider`] (a copy of the cloud, writable) and [`RecordedProvider`] (a cloud
//! that is exactly what state records, without a copy). Plans made from these have no changes (or only creates,
//! from an empty cloud and state), so each step can be measured on its own.
//!
//! The hub registry's repository policies list every spoke's node and build-pod role: with
//! more than a few dozen spokes they are larger than ECR accepts (10,240 characters), which
//! the blueprint does not check. [`Estate::ecr_repositories`] can be set to 0 for an estate
//! AWS would accept.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use crate::model::Value;
use async_trait::async_trait;
use eksmgr_state::json;
use eksmgr_state::{ResourceAddress, ResourceRecord, State};

use crate::blueprint::{Discovery, SpokeAccount};
use crate::model::{AttrValue, Attrs, DesiredResource, ObservedResource, ResourceKind};
use crate::provider::{ErrorKind, Provider, ProviderError, ReadRequest};
use crate::refresh::{Observation, Observations};

/// The management account of every synthetic estate.
pub const MANAGEMENT_ACCOUNT: &str = "111111111111";
/// The hub account of every synthetic estate.
pub const HUB_ACCOUNT: &str = "222222222222";
/// The organization of every synthetic estate.
pub const ORGANIZATION_ID: &str = "o-a1b2c3d4e5";
/// Resources the blueprint plans per spoke account of an [`Estate`] (two clusters, each with its
/// four add-ons).
pub const RESOURCES_PER_SPOKE: usize = 28;

/// The shape of a synthetic estate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estate {
    /// Number of spoke accounts.
    pub spokes: usize,
    /// Number of hub ECR repositories (each with the whole-estate policy).
    pub ecr_repositories: usize,
}

impl Estate {
    /// An estate of `spokes` spoke accounts and two hub repositories, as in the example.
    pub fn new(spokes: usize) -> Self {
        Estate {
            spokes,
            ecr_repositories: 2,
        }
    }

    /// The id of spoke `i` (from 0): twelve digits, distinct from the management and hub
    /// accounts.
    pub fn spoke_id(i: usize) -> String {
        format!("{:012}", 400_000_000_000_u64 + i as u64)
    }

    /// The `eksmgr.toml` text of the estate.
    pub fn config_toml(&self) -> String {
        let mut out = String::with_capacity(1_500 + self.spokes * 220);
        out.push_str(HEAD);
        for r in 0..self.ecr_repositories {
            let _ = writeln!(
                out,
                "\n[[hub.ecr_repositories]]\nname = \"platform/app-{r}\""
            );
        }
        out.push_str(WORKLOADS);
        for i in 0..self.spokes {
            let id = Estate::spoke_id(i);
            let _ = writeln!(
                out,
                "\n[clusters.overrides.\"{id}\"]\nsubnet_ids = [\"subnet-{a:017x}\", \"subnet-{b:017x}\"]",
                a = 4 * i,
                b = 4 * i + 1
            );
        }
        out.push_str(EDGE);
        for i in 0..self.spokes {
            let id = Estate::spoke_id(i);
            let _ = writeln!(
                out,
                "\n[clusters.overrides.\"{id}\"]\nsubnet_ids = [\"subnet-{a:017x}\", \"subnet-{b:017x}\"]",
                a = 4 * i + 2,
                b = 4 * i + 3
            );
        }
        out.push_str(ACCESS);
        out
    }

    /// What discovery finds: the spokes, and the IAM roles the configuration's principals are
    /// resolved against (the Identity Center admin role and the edge application role in each
    /// spoke, the CI and observer roles in the hub).
    pub fn discovery(&self) -> Discovery {
        let spokes: Vec<SpokeAccount> = (0..self.spokes)
            .map(|i| SpokeAccount {
                id: Estate::spoke_id(i),
                name: format!("spoke-{i}"),
            })
            .collect();
        let mut iam_roles: BTreeMap<String, Vec<String>> = spokes
            .iter()
            .map(|s| {
                let id = &s.id;
                (
                    id.clone(),
                    vec![
                        format!("arn:aws:iam::{id}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformAdmin_0123456789abcdef"),
                        format!("arn:aws:iam::{id}:role/edge-app"),
                    ],
                )
            })
            .collect();
        iam_roles.insert(
            HUB_ACCOUNT.to_string(),
            vec![
                format!("arn:aws:iam::{HUB_ACCOUNT}:role/platform-ci"),
                format!("arn:aws:iam::{HUB_ACCOUNT}:role/platform-observer"),
            ],
        );
        Discovery {
            spokes,
            iam_roles,
            ..Discovery::of_spokes(
                MANAGEMENT_ACCOUNT,
                &format!("{ORGANIZATION_ID}/r-ab12/ou-abcd-11111111/"),
                Vec::<String>::new(),
            )
        }
    }
}

const HEAD: &str = r#"# A synthetic estate (generated).

[organization]
eks_ou_id = "ou-abcd-11111111"
home_region = "us-east-1"

[governance.scp]
name = "EKSManagerDenyPolicy"
size_limit = 5120

[[governance.scp.extra_statements]]
Sid = "DenyLeavingRegions"
Effect = "Deny"
NotAction = ["iam:*", "organizations:*", "sts:*", "support:*", "cloudfront:*", "route53:*"]
Resource = "*"
Condition = { StringNotEquals = { "aws:RequestedRegion" = ["us-east-1", "eu-west-1"] } }

[governance.stackset]
name = "EKSManagerSpokeAdmin"
spoke_admin_role_name = "EKSManagerAdmin"
auto_deployment = true

[hub]
account_id = "222222222222"
access_role_name = "OrganizationAccountAccessRole"
agent_role_name = "EKSManagerAgentRole"
secrets_prefix = "/EksManager/"
"#;

const WORKLOADS: &str = r#"
[spokes]
discover = true

[[clusters]]
name = "workloads"
account = "*"
version = "1.31"
logging = ["api", "audit", "authenticator"]
build_pods = { namespace = "ci", service_account = "builder" }
tags = { team = "platform" }

[clusters.kms]
deletion_window_days = 30
"#;

const EDGE: &str = r#"
[[clusters]]
name = "edge"
account = "*"
version = "1.31"
endpoint_public_access = false
hosted_zone_id = "Z0123456789ABCDEFGHIJ"
tags = { team = "edge" }

[[clusters.pod_identities]]
namespace = "apps"
service_account = "edge-app"
role_name = "edge-app"
"#;

const ACCESS: &str = r#"
[access]
admin_principal_arn = "arn:aws:iam::*:role/AWSReservedSSO_PlatformAdmin_*"

[[access.grants]]
principal_arn = "arn:aws:iam::222222222222:role/platform-ci"
policy = "edit"
namespaces = ["apps"]
groups = ["deployers"]
clusters = ["*"]

[[access.grants]]
principal_arn = "arn:aws:iam::222222222222:role/platform-observer"
policy = "view"
clusters = ["edge"]

[[cross_account_roles]]
name = "eks-deployer"
cluster = "workloads"
trusted_principal_arn = "arn:aws:iam::222222222222:role/platform-ci"
external_id = "eksmgr-synthetic-deployer"
policy = "admin"
namespaces = ["apps"]
"#;

/// An in-memory cloud in which every desired resource exists exactly as desired: its known
/// attributes, an `id` and an `arn`, and its references resolved to the referenced
/// resource's attributes.
pub fn cloud_matching(desired: &[DesiredResource]) -> BTreeMap<ResourceAddress, ObservedResource> {
    let mut cloud: BTreeMap<ResourceAddress, ObservedResource> = desired
        .iter()
        .enumerate()
        .map(|(n, d)| {
            let a = &d.address;
            // A role's id is its name; the others get a numbered one, as AWS generates them.
            let id = match d.kind {
                ResourceKind::IamRole => a.name.to_string(),
                ResourceKind::OrgPolicyType
                | ResourceKind::StackSetTrustedAccess
                | ResourceKind::OrgPolicy
                | ResourceKind::OrgPolicyAttachment
                | ResourceKind::StackSet
                | ResourceKind::StackSetInstances
                | ResourceKind::KmsKey
                | ResourceKind::EksCluster
                | ResourceKind::EcrRepository
                | ResourceKind::EksAccessEntry
                | ResourceKind::EksPodIdentityAssociation
                | ResourceKind::EksAddon
                | ResourceKind::EksNodeGroup
                | ResourceKind::IamInstanceProfile
                | ResourceKind::Ec2Instance => format!("{}-{n:08x}", d.kind),
            };
            let arn = format!(
                "arn:aws:{}:{}:{}:{}/{}",
                d.kind,
                a.region.as_deref().unwrap_or(""),
                a.account,
                d.kind,
                id
            );
            let mut attrs: Attrs = d.known_attrs();
            attrs.insert("id".into(), json!(id));
            attrs.insert("arn".into(), json!(arn));
            (
                a.clone(),
                ObservedResource {
                    id,
                    attrs: attrs.into(),
                },
            )
        })
        .collect();
    // References (an encryption key's ARN, a policy's id) take the referenced attribute.
    for d in desired {
        for (name, value) in d.attrs.iter() {
            let AttrValue::Unknown { from } = value else {
                continue;
            };
            let resolved = cloud
                .get(&from.address)
                .and_then(|o| o.attrs.get(&from.attribute))
                .cloned();
            if let (Some(v), Some(o)) = (resolved, cloud.get_mut(&d.address)) {
                Arc::make_mut(&mut o.attrs).insert(name.as_str().into(), v);
            }
        }
    }
    cloud
}

/// The observations a refresh of `cloud` makes for `desired`: found or missing.
pub fn observations(
    desired: &[DesiredResource],
    cloud: &BTreeMap<ResourceAddress, ObservedResource>,
) -> Observations {
    desired
        .iter()
        .map(|d| {
            let obs = match cloud.get(&d.address) {
                Some(o) => Observation::Found(o.clone()),
                None => Observation::Missing,
            };
            (d.address.clone(), obs)
        })
        .collect()
}

/// A state recording every resource of `cloud` that is desired, as an apply would have left
/// it.
pub fn state_matching(
    desired: &[DesiredResource],
    cloud: &BTreeMap<ResourceAddress, ObservedResource>,
) -> State {
    let mut state = State::new();
    for d in desired {
        let Some(o) = cloud.get(&d.address) else {
            continue;
        };
        let mut record = ResourceRecord::new(d.address.clone(), o.id.clone());
        record.attrs = Arc::new(Attrs::clone(&o.attrs));
        record.depends_on = d.dependencies().cloned().collect();
        state.upsert(record);
    }
    state
}

/// A [`Provider`] serving an in-memory cloud: reads find what it holds, writes change it.
#[derive(Debug, Default)]
pub struct InMemoryProvider {
    objects: Mutex<BTreeMap<ResourceAddress, ObservedResource>>,
}

impl InMemoryProvider {
    /// A provider serving `cloud`.
    pub fn new(cloud: BTreeMap<ResourceAddress, ObservedResource>) -> Self {
        InMemoryProvider {
            objects: Mutex::new(cloud),
        }
    }

    fn objects(
        &self,
        address: &ResourceAddress,
        call: &str,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<ResourceAddress, ObservedResource>>, ProviderError>
    {
        self.objects.lock().map_err(|_| ProviderError {
            account: address.account.to_string(),
            resource: address.to_string(),
            api_call: format!("memory:{call}"),
            message: "the in-memory cloud was poisoned by a panic".into(),
            hint: None,
            kind: ErrorKind::Other,
        })
    }
}

#[async_trait]
impl Provider for InMemoryProvider {
    async fn read(&self, req: ReadRequest<'_>) -> Result<Option<ObservedResource>, ProviderError> {
        Ok(self.objects(req.address, "read")?.get(req.address).cloned())
    }

    async fn create(
        &self,
        address: &ResourceAddress,
        attrs: &Attrs,
    ) -> Result<ObservedResource, ProviderError> {
        let mut objects = self.objects(address, "create")?;
        let id = format!("{}-{:08x}", address.kind, objects.len());
        let mut attrs = attrs.clone();
        attrs.insert("id".into(), Value::from(id.as_str()));
        let o = ObservedResource {
            id,
            attrs: attrs.into(),
        };
        objects.insert(address.clone(), o.clone());
        Ok(o)
    }

    async fn update(
        &self,
        address: &ResourceAddress,
        id: &str,
        _before: &Attrs,
        after: &Attrs,
        _changed: &[String],
    ) -> Result<ObservedResource, ProviderError> {
        let mut attrs = after.clone();
        attrs.insert("id".into(), Value::from(id));
        let o = ObservedResource {
            id: id.to_string(),
            attrs: attrs.into(),
        };
        self.objects(address, "update")?
            .insert(address.clone(), o.clone());
        Ok(o)
    }

    async fn delete(
        &self,
        address: &ResourceAddress,
        _id: &str,
        _before: &Attrs,
    ) -> Result<(), ProviderError> {
        self.objects(address, "delete")?.remove(address);
        Ok(())
    }
}

/// A [`Provider`] whose cloud is exactly what state records: a read finds the recorded
/// resource (its id and attributes), or nothing when state has no record of it. It holds no
/// copy of the estate, so that a scale run measures eksmgr's memory rather than the simulated
/// cloud's. Writes are refused.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordedProvider;

impl RecordedProvider {
    fn refuse(address: &ResourceAddress, call: &str) -> ProviderError {
        ProviderError {
            account: address.account.to_string(),
            resource: address.to_string(),
            api_call: format!("recorded:{call}"),
            message: "this in-memory cloud is read-only".into(),
            hint: None,
            kind: ErrorKind::Invalid,
        }
    }
}

#[async_trait]
impl Provider for RecordedProvider {
    async fn read(&self, req: ReadRequest<'_>) -> Result<Option<ObservedResource>, ProviderError> {
        Ok(match (req.id, req.recorded) {
            (Some(id), Some(attrs)) => Some(ObservedResource {
                id: id.to_string(),
                attrs: Arc::new(attrs.clone()),
            }),
            _ => None,
        })
    }

    async fn create(
        &self,
        address: &ResourceAddress,
        _attrs: &Attrs,
    ) -> Result<ObservedResource, ProviderError> {
        Err(RecordedProvider::refuse(address, "create"))
    }

    async fn update(
        &self,
        address: &ResourceAddress,
        _id: &str,
        _before: &Attrs,
        _after: &Attrs,
        _changed: &[String],
    ) -> Result<ObservedResource, ProviderError> {
        Err(RecordedProvider::refuse(address, "update"))
    }

    async fn delete(
        &self,
        address: &ResourceAddress,
        _id: &str,
        _before: &Attrs,
    ) -> Result<(), ProviderError> {
        Err(RecordedProvider::refuse(address, "delete"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint;
    use crate::plan::{Action, PlanOptions, Planner};

    #[test]
    fn estate_is_valid_and_plans_without_changes_against_its_own_cloud() {
        let estate = Estate::new(3);
        let config = crate::config::parse(&estate.config_toml(), "synthetic.toml")
            .unwrap_or_else(|e| panic!("{e}"));
        let bp = blueprint::expand(&config, &estate.discovery()).unwrap_or_else(|e| panic!("{e}"));
        assert!(bp.problems.is_empty(), "{:?}", bp.problems);
        assert!(bp.warnings.is_empty(), "{:?}", bp.warnings);
        let spoke_resources = bp
            .resources
            .iter()
            .filter(|r| r.address.account.starts_with('4'))
            .count();
        assert_eq!(spoke_resources, 3 * RESOURCES_PER_SPOKE);

        let cloud = cloud_matching(&bp.resources);
        let observed = observations(&bp.resources, &cloud);
        let state = state_matching(&bp.resources, &cloud);
        let plan = Planner::plan(&bp.resources, &state, &observed, &PlanOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let changed: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp || c.adopt)
            .map(|c| format!("{} {:?} {:?}", c.address, c.action, c.attribute_diffs))
            .collect();
        assert!(changed.is_empty(), "{changed:#?}");
        assert!(plan.drift.is_empty());
        // The plan shares attribute trees instead of copying them: `before` is the observation's
        // and `after` the desired resource's, unless a reference was resolved into it.
        let desired: BTreeMap<_, _> = bp.resources.iter().map(|d| (&d.address, d)).collect();
        let mut shared_after = 0;
        for c in &plan.changes {
            let (Some(before), Some(Observation::Found(o))) = (&c.before, observed.get(&c.address))
            else {
                panic!("{}: no before", c.address);
            };
            assert!(
                Arc::ptr_eq(before, &o.attrs),
                "{}: before copied",
                c.address
            );
            let (Some(after), Some(d)) = (&c.after, desired.get(&c.address)) else {
                panic!("{}: no after", c.address);
            };
            let resolves = d.attrs.values().any(|v| v.known().is_none());
            assert_eq!(Arc::ptr_eq(after, &d.attrs), !resolves, "{}", c.address);
            shared_after += usize::from(!resolves);
            // The dependencies are the record's: the configuration still names the same ones.
            assert!(
                Arc::ptr_eq(&c.depends_on, &state.resources[&c.address].depends_on),
                "{}: dependencies copied",
                c.address
            );
        }
        assert!(shared_after > plan.changes.len() / 2, "{shared_after}");

        let empty = BTreeMap::new();
        let plan = Planner::plan(
            &bp.resources,
            &State::new(),
            &observations(&bp.resources, &empty),
            &PlanOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let creates = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count();
        assert_eq!(creates, bp.resources.len());
        assert!(plan.deferred.is_empty());
    }

    #[tokio::test]
    async fn recorded_provider_serves_what_state_records() {
        let estate = Estate::new(2);
        let config = crate::config::parse(&estate.config_toml(), "synthetic.toml")
            .unwrap_or_else(|e| panic!("{e}"));
        let bp = blueprint::expand(&config, &estate.discovery()).unwrap_or_else(|e| panic!("{e}"));
        let cloud = cloud_matching(&bp.resources);
        let state = state_matching(&bp.resources, &cloud);
        let read = crate::refresh::refresh(&RecordedProvider, &bp.resources, &state, 4).await;
        assert_eq!(read, observations(&bp.resources, &cloud));
        // What AWS holds equals what state records: one copy, shared.
        for (addr, obs) in &read {
            let Observation::Found(o) = obs else {
                panic!("{addr}: not found");
            };
            assert!(
                Arc::ptr_eq(&o.attrs, &state.resources[addr].attrs),
                "{addr}"
            );
        }
        let none =
            crate::refresh::refresh(&RecordedProvider, &bp.resources, &State::new(), 4).await;
        assert_eq!(none, observations(&bp.resources, &BTreeMap::new()));
    }
}
