//! Core resource types shared by the blueprint, the planner and the providers: resource kinds,
//! attribute values (including values only known after apply) and desired/observed resources.

use std::fmt;
use std::sync::Arc;

use eksmgr_state::ResourceAddress;
pub use eksmgr_state::value::Value;
use serde::{Deserialize, Serialize};

/// Plain attribute map as AWS reports it (and as state stores it): compact (see
/// [`eksmgr_state::value`]).
pub type Attrs = eksmgr_state::value::Map;

/// Every kind of resource eksmgr manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A policy type (service control policies) enabled on the organization's root: SCPs can
    /// be attached only once it is.
    OrgPolicyType,
    /// CloudFormation StackSets' trusted access with AWS Organizations, which
    /// service-managed StackSets need.
    StackSetTrustedAccess,
    /// An Organizations service control policy (the governance deny SCP).
    OrgPolicy,
    /// The attachment of an SCP to an OU (or account).
    OrgPolicyAttachment,
    /// A CloudFormation StackSet (service-managed).
    StackSet,
    /// The stack instances of a StackSet deployed to OUs and regions.
    StackSetInstances,
    /// An IAM role with its trust policy, managed policies and inline policies.
    IamRole,
    /// A KMS customer managed key with its alias (found again by the alias).
    KmsKey,
    /// An EKS cluster.
    EksCluster,
    /// An ECR repository with its repository policy.
    EcrRepository,
    /// An EKS access entry (an IAM principal's access to a cluster) with its associated
    /// access policies.
    EksAccessEntry,
    /// An EKS pod identity association (a service account's IAM role).
    EksPodIdentityAssociation,
    /// An EKS add-on (`vpc-cni`, `coredns` ...) on a cluster.
    EksAddon,
    /// An EKS managed node group of a cluster.
    EksNodeGroup,
    /// An IAM instance profile (the hub agent host's, holding the agent role).
    IamInstanceProfile,
    /// An EC2 instance (the hub agent host).
    Ec2Instance,
}

impl ResourceKind {
    /// All kinds, in a stable order.
    pub const ALL: &'static [ResourceKind] = &[
        ResourceKind::OrgPolicyType,
        ResourceKind::StackSetTrustedAccess,
        ResourceKind::OrgPolicy,
        ResourceKind::OrgPolicyAttachment,
        ResourceKind::StackSet,
        ResourceKind::StackSetInstances,
        ResourceKind::IamRole,
        ResourceKind::KmsKey,
        ResourceKind::EksCluster,
        ResourceKind::EcrRepository,
        ResourceKind::EksAccessEntry,
        ResourceKind::EksPodIdentityAssociation,
        ResourceKind::EksAddon,
        ResourceKind::EksNodeGroup,
        ResourceKind::IamInstanceProfile,
        ResourceKind::Ec2Instance,
    ];

    /// The name used in addresses (`iam_role.X[acct]`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::OrgPolicyType => "org_policy_type",
            ResourceKind::StackSetTrustedAccess => "stack_set_trusted_access",
            ResourceKind::OrgPolicy => "org_policy",
            ResourceKind::OrgPolicyAttachment => "org_policy_attachment",
            ResourceKind::StackSet => "stack_set",
            ResourceKind::StackSetInstances => "stack_set_instances",
            ResourceKind::IamRole => "iam_role",
            ResourceKind::KmsKey => "kms_key",
            ResourceKind::EksCluster => "eks_cluster",
            ResourceKind::EcrRepository => "ecr_repository",
            ResourceKind::EksAccessEntry => "eks_access_entry",
            ResourceKind::EksPodIdentityAssociation => "eks_pod_identity_association",
            ResourceKind::EksAddon => "eks_addon",
            ResourceKind::EksNodeGroup => "eks_node_group",
            ResourceKind::IamInstanceProfile => "iam_instance_profile",
            ResourceKind::Ec2Instance => "ec2_instance",
        }
    }

    /// Parses the address form of a kind.
    pub fn parse(s: &str) -> Option<ResourceKind> {
        ResourceKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The kind of an address, if eksmgr knows it.
    pub fn of(address: &ResourceAddress) -> Option<ResourceKind> {
        ResourceKind::parse(&address.kind)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to an attribute of another resource, resolved when that resource exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// The resource whose attribute is needed.
    pub address: ResourceAddress,
    /// The attribute name (e.g. `id`, `arn`).
    pub attribute: String,
}

/// A desired attribute value: known now, or only after apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// Not known until the referenced resource exists (`(known after apply)`).
    Unknown {
        /// What the value will be taken from (boxed: an address is four strings, and every
        /// attribute map's node would otherwise reserve that much for each of its entries).
        #[serde(rename = "$unknown")]
        from: Box<Ref>,
    },
    /// A concrete value.
    Known(Value),
}

impl AttrValue {
    /// The concrete value, if known.
    pub fn known(&self) -> Option<&Value> {
        match self {
            AttrValue::Known(v) => Some(v),
            AttrValue::Unknown { .. } => None,
        }
    }
}

impl From<Value> for AttrValue {
    fn from(v: Value) -> Self {
        AttrValue::Known(v)
    }
}

/// Desired attributes, possibly with unknown values, in name order (a compact map: see
/// [`crate::sorted_map`]).
pub type DesiredAttrs = crate::sorted_map::SortedMap<AttrValue>;

/// A resource as the configuration wants it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredResource {
    /// Where it lives and what it is called.
    pub address: ResourceAddress,
    /// Its kind.
    pub kind: ResourceKind,
    /// The attributes eksmgr manages; shared with the plan's `after` when no reference
    /// needs resolving (change them with [`Arc::make_mut`]).
    pub attrs: Arc<DesiredAttrs>,
    /// Resources that must exist first (explicit ones and every `Unknown` reference).
    pub depends_on: Vec<ResourceAddress>,
    /// Resources to apply first when they change, without waiting for them to be readable:
    /// a deferred or failed one of these does not defer this resource.
    #[serde(default)]
    pub order_after: Vec<ResourceAddress>,
    /// Whether the configuration allows replacing it when a change cannot be made in place.
    #[serde(default = "yes")]
    pub allow_replacement: bool,
    /// Resources whose replacement replaces this one too (AWS binds an access entry or a pod
    /// identity association to the role's unique id, not its ARN).
    #[serde(default)]
    pub replace_triggered_by: Vec<ResourceAddress>,
}

fn yes() -> bool {
    true
}

impl DesiredResource {
    /// A new desired resource with no attributes.
    pub fn new(kind: ResourceKind, name: &str, account: &str, region: Option<&str>) -> Self {
        DesiredResource {
            address: ResourceAddress::new(
                kind.as_str().to_string(),
                name.to_string(),
                account.to_string(),
                region.map(str::to_string),
            ),
            kind,
            attrs: Arc::new(DesiredAttrs::new()),
            depends_on: Vec::new(),
            order_after: Vec::new(),
            allow_replacement: true,
            replace_triggered_by: Vec::new(),
        }
    }

    /// Gives back the room its attributes and dependency lists grew into while it was built.
    pub fn shrink_to_fit(&mut self) {
        // Values hold no spare room (their arrays and objects are slices of their length).
        if let Some(attrs) = Arc::get_mut(&mut self.attrs) {
            attrs.shrink_to_fit();
        }
        self.depends_on.shrink_to_fit();
        self.order_after.shrink_to_fit();
        self.replace_triggered_by.shrink_to_fit();
    }

    /// Sets a known attribute.
    pub fn set(mut self, name: &str, value: impl Into<Value>) -> Self {
        Arc::make_mut(&mut self.attrs).insert(name.to_string(), AttrValue::Known(value.into()));
        self
    }

    /// Sets an attribute to another resource's attribute and records the dependency.
    pub fn set_ref(mut self, name: &str, target: &ResourceAddress, attribute: &str) -> Self {
        Arc::make_mut(&mut self.attrs).insert(
            name.to_string(),
            AttrValue::Unknown {
                from: Box::new(Ref {
                    address: target.clone(),
                    attribute: attribute.to_string(),
                }),
            },
        );
        self.depend_on(target)
    }

    /// Records an explicit dependency.
    pub fn depend_on(mut self, target: &ResourceAddress) -> Self {
        if !self.depends_on.contains(target) {
            self.depends_on.push(target.clone());
        }
        self
    }

    /// Records an ordering-only dependency.
    pub fn order_after(mut self, target: &ResourceAddress) -> Self {
        if !self.order_after.contains(target) && !self.depends_on.contains(target) {
            self.order_after.push(target.clone());
        }
        self
    }

    /// Records a dependency whose replacement replaces this resource too.
    pub fn replaced_with(mut self, target: &ResourceAddress) -> Self {
        if !self.replace_triggered_by.contains(target) {
            self.replace_triggered_by.push(target.clone());
        }
        self.depend_on(target)
    }

    /// Hard and ordering-only dependencies together, hard ones first.
    pub fn dependencies(&self) -> impl Iterator<Item = &ResourceAddress> {
        self.depends_on.iter().chain(
            self.order_after
                .iter()
                .filter(|a| !self.depends_on.contains(a)),
        )
    }

    /// [`Self::dependencies`], as a list.
    pub fn all_dependencies(&self) -> Vec<ResourceAddress> {
        self.dependencies().cloned().collect()
    }

    /// The known attributes only (what a provider can use to find the resource).
    pub fn known_attrs(&self) -> Attrs {
        self.attrs
            .iter()
            .filter_map(|(k, v)| v.known().map(|v| (*k, v.clone())))
            .collect()
    }
}

/// A resource as AWS reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedResource {
    /// The provider's identifier (policy id, role name, stack set name ...).
    pub id: String,
    /// Every attribute read, managed and computed (arn, id ...); shared with the plan's
    /// `before`.
    pub attrs: Arc<Attrs>,
}

impl ObservedResource {
    /// A resource read as `attrs`, known to AWS as `id`.
    pub fn new(id: impl Into<String>, attrs: Attrs) -> Self {
        ObservedResource {
            id: id.into(),
            attrs: Arc::new(attrs),
        }
    }
}
