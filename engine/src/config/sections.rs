//! The configuration schema: one struct per section of `eksmgr.toml`.
//!
//! Every struct denies unknown keys, and every optional key has a documented default. The doc
//! comments are user documentation: they become the descriptions of the JSON Schema.
//! Formats that need the whole configuration (duplicates, references, ranges) are checked by
//! `validate` after deserialisation.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, Arn, ClusterAccount, OuId};

/// The whole estate, as declared in `eksmgr.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The AWS Organization and the OU that holds the EKS spoke accounts.
    pub organization: OrganizationConfig,
    /// Guard rails set up from the management account: the deny SCP and the StackSet.
    #[serde(default)]
    pub governance: GovernanceConfig,
    /// The hub (shared services) account: the agent role and the ECR registry.
    pub hub: HubConfig,
    /// How spoke accounts are found and reached.
    #[serde(default)]
    pub spokes: SpokesConfig,
    /// EKS clusters, one `[[clusters]]` table each.
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// Who may use the clusters (EKS access entries).
    #[serde(default)]
    pub access: AccessConfig,
    /// IAM roles in cluster accounts that principals elsewhere assume to reach a cluster.
    #[serde(default)]
    pub cross_account_roles: Vec<CrossAccountRoleConfig>,
    /// Where eksmgr keeps its state: a local file (the default) or an S3 object.
    #[serde(default)]
    pub state: StateConfig,
    /// `[agent]`: what `eksmgr agent` carries out on its own.
    #[serde(default)]
    pub agent: AgentConfig,
    /// Secrets Manager secrets in the hub pushed, on demand, as Kubernetes secrets into
    /// spoke clusters (`eksmgr secrets push`), one `[[secrets]]` table each.
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
}

/// `[organization]`: the AWS Organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    /// The management account. Default: the account of the credentials eksmgr runs with.
    /// When given, eksmgr refuses to run with credentials of another account.
    #[serde(default)]
    pub management_account_id: Option<AccountId>,
    /// The OU whose accounts are the EKS spokes (`ou-xxxx-xxxxxxxx`).
    pub eks_ou_id: OuId,
    /// The region of the organization-level resources (StackSet, default for the rest).
    #[serde(default = "default_home_region")]
    pub home_region: String,
}

fn default_home_region() -> String {
    "us-east-1".to_string()
}

/// `[governance]`: the deny SCP and the spoke-admin StackSet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceConfig {
    /// The service control policy attached to the EKS OU.
    pub scp: ScpConfig,
    /// The service-managed StackSet that creates the spoke admin role in every spoke.
    pub stackset: StackSetConfig,
}

/// `[governance.scp]`: the deny SCP attached to the EKS OU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScpConfig {
    /// Create and attach the SCP. Default `true`.
    pub enabled: bool,
    /// Name of the policy (1 to 128 characters). Default `EKSManagerDenyPolicy`.
    pub name: String,
    /// Description of the policy (at most 512 characters).
    pub description: String,
    /// Maximum size of the minified policy document, in characters (at most 5120, the AWS
    /// limit). Default 5120.
    #[schemars(range(min = 1, max = 5120))]
    pub size_limit: usize,
    /// Deny billing, cost explorer, budgets and payments actions. Default `true`.
    pub deny_billing: bool,
    /// Deny KMS key deletion and disabling to every principal of the OU, eksmgr's spoke admin
    /// role included, as the seed design says. eksmgr then never deletes a cluster's key: when
    /// the cluster goes, its key stays in AWS and only leaves eksmgr's state. Default `true`.
    pub deny_kms_key_deletion: bool,
    /// Exempt the spoke admin role from `deny_kms_key_deletion`, so that eksmgr can schedule
    /// the deletion of a key you opt into (`--allow-key-deletion`). Default `false`.
    pub exempt_admin_from_key_deletion_deny: bool,
    /// Deny the spoke admin role (and so the hub agent, which acts through it) the
    /// cryptographic use of KMS keys in the spokes (`Encrypt`, `Decrypt`, `GenerateDataKey*`,
    /// `ReEncrypt*`): a cluster's key is used by the cluster, never by eksmgr. Default `true`.
    pub deny_admin_key_use: bool,
    /// Deny leaving, deleting or reshaping the organization, and closing accounts.
    /// Default `true`.
    pub deny_organizations_changes: bool,
    /// Extra IAM policy statements appended to the SCP, as `[[governance.scp.extra_statements]]`
    /// tables; each needs `Effect` and `Action` or `NotAction`.
    #[schemars(with = "Vec<super::schema::ScpStatement>")]
    pub extra_statements: Vec<serde_json::Value>,
    /// `Sid`s of extra statements that eksmgr cannot prove harmless to its own calls (a
    /// condition key or operator its policy check does not evaluate) and that you have
    /// reviewed: for them the check warns instead of refusing to plan. A statement that
    /// certainly denies what eksmgr needs is always an error. Default: none.
    pub acknowledged_unverifiable_sids: Vec<String>,
}

impl Default for ScpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "EKSManagerDenyPolicy".to_string(),
            description: "Managed by eksmgr: protects the EKS manager role, KMS keys, billing and \
                          the organization"
                .to_string(),
            size_limit: 5120,
            deny_billing: true,
            deny_kms_key_deletion: true,
            exempt_admin_from_key_deletion_deny: false,
            deny_admin_key_use: true,
            deny_organizations_changes: true,
            extra_statements: Vec::new(),
            acknowledged_unverifiable_sids: Vec::new(),
        }
    }
}

/// `[governance.stackset]`: the StackSet that deploys the spoke admin role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StackSetConfig {
    /// Name of the StackSet (a letter, then letters, digits and `-`; at most 128).
    /// Default `EKSManagerSpokeAdmin`.
    pub name: String,
    /// Description of the StackSet.
    pub description: String,
    /// Name of the IAM role the StackSet creates in every spoke, assumed by the hub agent.
    /// Default `EKSManagerAdmin`.
    pub spoke_admin_role_name: String,
    /// Regions the stack instances are deployed to. Default: `[organization.home_region]`
    /// (IAM is global, one region is enough).
    pub regions: Vec<String>,
    /// Deploy to accounts that join the OU later (and remove from accounts that leave).
    /// Default `true`.
    pub auto_deployment: bool,
    /// Keep the stack (and the role) when an account leaves the OU. Default `false`.
    pub retain_stacks_on_account_removal: bool,
    /// Managed policies attached to the spoke admin role.
    /// Default `["arn:aws:iam::aws:policy/AdministratorAccess"]`.
    pub spoke_admin_managed_policy_arns: Vec<Arn>,
}

impl Default for StackSetConfig {
    fn default() -> Self {
        Self {
            name: "EKSManagerSpokeAdmin".to_string(),
            description: "eksmgr: the spoke admin role assumed by the eksmgr hub agent".to_string(),
            spoke_admin_role_name: "EKSManagerAdmin".to_string(),
            regions: Vec::new(),
            auto_deployment: true,
            retain_stacks_on_account_removal: false,
            spoke_admin_managed_policy_arns: vec![Arn::administrator_access()],
        }
    }
}

impl Arn {
    /// `arn:aws:iam::aws:policy/AdministratorAccess`.
    fn administrator_access() -> Self {
        Self::from_validated("arn:aws:iam::aws:policy/AdministratorAccess")
    }
}

/// `[hub]`: the hub (shared services) account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The hub account id.
    pub account_id: AccountId,
    /// Region of the hub resources (ECR registry). Default: `organization.home_region`.
    #[serde(default)]
    pub region: Option<String>,
    /// Role assumed from the management account to reach the hub.
    /// Default `OrganizationAccountAccessRole`.
    #[serde(default = "default_access_role_name")]
    pub access_role_name: String,
    /// Name of the agent role eksmgr creates in the hub. Default `EKSManagerAgentRole`.
    #[serde(default = "default_agent_role_name")]
    pub agent_role_name: String,
    /// Principals allowed to assume the agent role. Default: the hub account root (that is,
    /// whoever the hub account's IAM policies allow).
    #[serde(default)]
    pub agent_trusted_principals: Vec<Arn>,
    /// Allow `agent_trusted_principals` to name a whole other account (its root ARN): every
    /// principal of that account its IAM policies allow could then act as eksmgr in every
    /// spoke. Without it such a principal is refused at plan time. The default trust of the
    /// hub's own account root needs no opt-in. Default `false`.
    #[serde(default)]
    pub allow_account_root_trust: bool,
    /// Secrets Manager name prefix the agent may read; starts and ends with `/`.
    /// Default `/EksManager/`.
    #[serde(default = "default_secrets_prefix")]
    pub secrets_prefix: String,
    /// ECR repositories in the hub registry, as `[[hub.ecr_repositories]]` tables. Spoke node
    /// roles may pull from them and spoke build pods may push.
    #[serde(default)]
    pub ecr_repositories: Vec<EcrRepositoryConfig>,
    /// `[hub.agent_host]`: an EC2 instance in the hub that runs `eksmgr agent`, with the agent
    /// role as its instance profile. None by default (run the agent from CI instead).
    #[serde(default)]
    pub agent_host: Option<AgentHostConfig>,
}

/// `[hub.agent_host]`: the EC2 instance that runs `eksmgr agent` in the hub account (the
/// design's agent host). It has the agent role as its instance profile (the role then trusts
/// `ec2.amazonaws.com` too), IMDSv2 required, no key pair (shell access through SSM Session
/// Manager: the role gets `AmazonSSMManagedInstanceCore`), and user data that installs eksmgr
/// (checked against its SHA-256) and runs `eksmgr agent --once` every `[agent] interval` from a
/// systemd timer, with `eksmgr.toml` fetched before each cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentHostConfig {
    /// The subnet it runs in (`subnet-...`); its VPC is the subnet's. It needs outbound HTTPS
    /// to AWS (a NAT gateway or VPC endpoints), nothing inbound.
    pub subnet_id: String,
    /// Its security groups (`sg-...`), given as they are: eksmgr adds no rule. Give groups with
    /// no inbound rule and outbound 443 only.
    pub security_group_ids: Vec<String>,
    /// Instance type. Default `t3.medium`.
    #[serde(default = "default_agent_host_instance_type")]
    pub instance_type: String,
    /// The image: an AMI id (`ami-...`) or `resolve:ssm:PARAMETER`, resolved by EC2 at launch.
    /// Default: the latest Amazon Linux 2023 for x86_64
    /// (`resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`).
    #[serde(default = "default_agent_host_image")]
    pub image_id: String,
    /// Where the host downloads the eksmgr release archive (a `.tar.gz` holding the `eksmgr`
    /// binary): `s3://BUCKET/KEY` (read with the agent role, which is granted that object) or
    /// `https://...`.
    pub eksmgr_url: String,
    /// The archive's SHA-256, 64 hexadecimal digits: checked before it is unpacked. A new
    /// release (a new checksum) replaces the instance.
    pub eksmgr_sha256: String,
    /// Where the host reads `eksmgr.toml` before each cycle: `s3://BUCKET/KEY` (granted to the
    /// agent role) or `https://...`. It should keep its state in S3 (`[state] backend = "s3"`).
    pub config_url: String,
}

fn default_agent_host_instance_type() -> String {
    "t3.medium".to_string()
}

fn default_agent_host_image() -> String {
    "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".to_string()
}

fn default_access_role_name() -> String {
    "OrganizationAccountAccessRole".to_string()
}

fn default_agent_role_name() -> String {
    "EKSManagerAgentRole".to_string()
}

fn default_secrets_prefix() -> String {
    "/EksManager/".to_string()
}

/// `[[hub.ecr_repositories]]`: one ECR repository in the hub registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcrRepositoryConfig {
    /// Repository name: 2 to 256 characters, lowercase letters and digits separated by `.`,
    /// `_`, `-` or `/` (e.g. `team/app-api`).
    pub name: String,
    /// `MUTABLE` or `IMMUTABLE`. Default `MUTABLE`.
    #[serde(default)]
    pub image_tag_mutability: ImageTagMutability,
    /// Scan images for vulnerabilities when they are pushed. Default `true`.
    #[serde(default = "default_true")]
    pub scan_on_push: bool,
}

/// Whether image tags may be overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ImageTagMutability {
    /// Tags may be moved to another image.
    #[default]
    #[serde(rename = "MUTABLE")]
    Mutable,
    /// A pushed tag can never change.
    #[serde(rename = "IMMUTABLE")]
    Immutable,
}

fn default_true() -> bool {
    true
}

/// `[spokes]`: which accounts are spokes and how eksmgr reaches them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SpokesConfig {
    /// Treat every active account of `organization.eks_ou_id` as a spoke. Default `true`.
    pub discover: bool,
    /// Also include accounts of OUs nested under the EKS OU. Default `false`.
    pub include_nested_ous: bool,
    /// Accounts that are spokes even if discovery does not find them (e.g. `discover = false`).
    pub accounts: Vec<AccountId>,
    /// Accounts never treated as spokes, even when found in the OU.
    pub exclude_accounts: Vec<AccountId>,
    /// Role assumed in each spoke. Default: `governance.stackset.spoke_admin_role_name`.
    pub admin_role_name: Option<String>,
    /// Duration of the assumed-role sessions, 900 to 43200 seconds. Default 3600.
    #[schemars(range(min = 900, max = 43200))]
    pub session_duration_seconds: u32,
    /// Session name used when assuming spoke roles (2 to 64 characters of
    /// letters, digits and `=,.@-_`; shows up in CloudTrail). Default `eksmgr`.
    pub session_name: String,
}

impl Default for SpokesConfig {
    fn default() -> Self {
        Self {
            discover: true,
            include_nested_ous: false,
            accounts: Vec::new(),
            exclude_accounts: Vec::new(),
            admin_role_name: None,
            session_duration_seconds: 3600,
            session_name: "eksmgr".to_string(),
        }
    }
}

/// `[agent]`: the policy of `eksmgr agent`, the continuous reconciler: which changes of each
/// cycle's plan it carries out on its own. Everything else is held and reported, never
/// applied, and a change that needs an opt-in (`allow_replacement`, `--allow-account-removal`
/// ...) is always held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Time between cycles when `eksmgr agent` is given neither `--once` nor `--interval`:
    /// e.g. `"10m"`, `"1h"`, `"90s"`. Default `"10m"`.
    #[serde(default = "default_agent_interval")]
    pub interval: String,
    /// The actions it carries out: `create` (adoptions too), `update` (in place), `replace`,
    /// `delete` (forgetting records of resources already gone too). Default
    /// `["create", "update"]`.
    #[serde(default = "default_agent_actions")]
    pub apply: Vec<AgentAction>,
    /// Where: `spokes` (the spoke accounts), `registry` (the hub's ECR repositories), `hub` (the
    /// hub's other resources: roles), `governance` (the SCP and its attachment, the StackSet
    /// and its instances, the organization's settings). Default `["spokes", "registry"]`.
    #[serde(default = "default_agent_scopes")]
    pub scopes: Vec<AgentScope>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            interval: default_agent_interval(),
            apply: default_agent_actions(),
            scopes: default_agent_scopes(),
        }
    }
}

fn default_agent_interval() -> String {
    "10m".into()
}

fn default_agent_actions() -> Vec<AgentAction> {
    vec![AgentAction::Create, AgentAction::Update]
}

fn default_agent_scopes() -> Vec<AgentScope> {
    vec![AgentScope::Spokes, AgentScope::Registry]
}

/// A kind of change, as `[agent] apply` names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AgentAction {
    /// Creations and adoptions.
    Create,
    /// In-place updates.
    Update,
    /// Replacements (delete and create again).
    Replace,
    /// Deletions, and records forgotten for resources already gone.
    Delete,
}

impl AgentAction {
    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentAction::Create => "create",
            AgentAction::Update => "update",
            AgentAction::Replace => "replace",
            AgentAction::Delete => "delete",
        }
    }
}

/// A part of the estate, as `[agent] scopes` names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AgentScope {
    /// The spoke accounts.
    Spokes,
    /// The hub's ECR repositories.
    Registry,
    /// The hub's other resources.
    Hub,
    /// The SCP, the StackSet, the organization's settings.
    Governance,
}

impl AgentScope {
    /// The name used in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentScope::Spokes => "spokes",
            AgentScope::Registry => "registry",
            AgentScope::Hub => "hub",
            AgentScope::Governance => "governance",
        }
    }
}

/// `subnet_selector`: subnets chosen by their tags (and their VPC's) in each account and
/// region, as `DescribeSubnets` lists them through the spoke's session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubnetSelectorConfig {
    /// Tags every selected subnet has, with these values.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Only subnets of this VPC (`vpc-...`).
    #[serde(default)]
    pub vpc_id: Option<String>,
    /// Only subnets of VPCs with these tags and values.
    #[serde(default)]
    pub vpc_tags: BTreeMap<String, String>,
}

/// `[[clusters]]`: an EKS cluster, or (with `account = "*"`) a template for one cluster in
/// every spoke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Cluster name: 1 to 100 characters, a letter or digit then letters, digits, `-`, `_`.
    /// Unique per account and region.
    pub name: String,
    /// The account id the cluster lives in, or `"*"` for every discovered spoke.
    pub account: ClusterAccount,
    /// Region of the cluster. Default: `organization.home_region`.
    #[serde(default)]
    pub region: Option<String>,
    /// Kubernetes version, `"<major>.<minor>"` (e.g. `"1.35"`). Upgrades are in place, one
    /// minor version at a time; downgrades are refused.
    pub version: String,
    /// Subnets of the control plane ENIs (`subnet-...`), in at least two availability zones.
    /// A cluster needs these or `subnet_selector`; for a template, give them per account in
    /// `overrides`, or select them by tags.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Subnets selected by tags in each account and region the cluster is planned in
    /// (`DescribeSubnets` through the spoke's session), when `subnet_ids` is empty:
    /// `subnet_selector = { tags = { "kubernetes.io/role/internal-elb" = "1" } }`. The
    /// selected subnets must be in one VPC and in at least two availability zones, or the
    /// account is skipped and the plan says why.
    #[serde(default)]
    pub subnet_selector: Option<SubnetSelectorConfig>,
    /// Extra security groups for the control plane ENIs (`sg-...`).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Expose the Kubernetes API endpoint publicly. Default `true`.
    #[serde(default = "default_true")]
    pub endpoint_public_access: bool,
    /// Expose the Kubernetes API endpoint inside the VPC. Default `true`.
    #[serde(default = "default_true")]
    pub endpoint_private_access: bool,
    /// IPv4 CIDR blocks allowed to reach the public endpoint. Default: `0.0.0.0/0`.
    #[serde(default)]
    pub public_access_cidrs: Vec<String>,
    /// Control plane log types sent to CloudWatch. Default: none.
    #[serde(default)]
    pub logging: Vec<ClusterLogType>,
    /// Tags on the cluster and the resources eksmgr creates for it (`managed-by = eksmgr` is
    /// always added).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// How the cluster authenticates IAM principals. Default `API`.
    #[serde(default)]
    pub authentication_mode: AuthenticationMode,
    /// The KMS key used for envelope encryption of Kubernetes secrets.
    #[serde(default)]
    pub kms: KmsConfig,
    /// Name of the IAM role of the cluster control plane. Default `<cluster>-cluster`.
    #[serde(default)]
    pub cluster_role_name: Option<String>,
    /// Name of the IAM role of the worker nodes. Default `<cluster>-node`.
    #[serde(default)]
    pub node_role_name: Option<String>,
    /// Route 53 hosted zone managed by external-dns (`Z...`). external-dns gets
    /// `ChangeResourceRecordSets` on this zone only.
    #[serde(default)]
    pub hosted_zone_id: Option<String>,
    /// The service account of build pods; it gets a role that may push to the hub ECR
    /// repositories. Default: no build pods.
    #[serde(default)]
    pub build_pods: Option<ServiceAccountConfig>,
    /// The service account of external-dns. Default: `external-dns/external-dns` when
    /// `hosted_zone_id` is set.
    #[serde(default)]
    pub external_dns: Option<ServiceAccountConfig>,
    /// Extra EKS pod identity associations.
    #[serde(default)]
    pub pod_identities: Vec<PodIdentityConfig>,
    /// Allow changes that replace (destroy and recreate) the cluster. Default `false`.
    #[serde(default)]
    pub allow_replacement: bool,
    /// Install EKS's default add-ons `vpc-cni`, `coredns` and `kube-proxy` as managed add-ons.
    /// Default `true`. `eks-pod-identity-agent` is installed whenever the cluster has a pod
    /// identity association (its own or an add-on's), whatever this says.
    #[serde(default = "default_true")]
    pub default_addons: bool,
    /// EKS add-ons (`eks_addon` resources), one `[[clusters.addons]]` table each: another
    /// add-on by name, a default add-on's settings, or `enabled = false` to leave a default
    /// add-on out.
    #[serde(default)]
    pub addons: Vec<AddonConfig>,
    /// Managed node groups (`eks_node_group` resources), one `[[clusters.node_groups]]` table
    /// each; their nodes use the cluster's node role. Default: none.
    #[serde(default)]
    pub node_groups: Vec<NodeGroupConfig>,
    /// Per-account changes to a template (`account = "*"`), keyed by account id:
    /// `[clusters.overrides."123456789012"]`.
    #[serde(default)]
    pub overrides: BTreeMap<AccountId, ClusterOverrideConfig>,
}

/// Declares [`ClusterOverrideConfig`] from the cluster fields an account may override, and
/// its merge over the template: each field replaces the template's when it is set (`value`
/// for a field the template always has, `option` for one it may leave unset), so a field
/// added here is merged without another line.
macro_rules! cluster_overrides {
    ($($(#[$doc:meta])* $field:ident: $ty:ty => $how:ident,)*) => {
        /// `[clusters.overrides."<account id>"]`: what differs for one account of a template.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, default)]
        pub struct ClusterOverrideConfig {
            /// Skip this account: no cluster is created there. Default `false`.
            pub skip: bool,
            $($(#[$doc])* pub $field: Option<$ty>,)*
            /// Merged over `tags` (same key: the override wins).
            pub tags: BTreeMap<String, String>,
        }

        impl ClusterOverrideConfig {
            /// Merges this override over `c`, the template's copy for the account.
            fn merge_into(&self, c: &mut ClusterConfig) {
                $(if let Some(v) = &self.$field {
                    cluster_overrides!(@set $how, c.$field, v);
                })*
                c.tags
                    .extend(self.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    };
    (@set value, $target:expr, $v:expr) => {
        $target.clone_from($v)
    };
    (@set option, $target:expr, $v:expr) => {
        $target = Some($v.clone())
    };
}

cluster_overrides! {
    /// Replaces `region`.
    region: String => option,
    /// Replaces `version`.
    version: String => value,
    /// Replaces `subnet_ids`.
    subnet_ids: Vec<String> => value,
    /// Replaces `subnet_selector` (used when `subnet_ids` is empty).
    subnet_selector: SubnetSelectorConfig => option,
    /// Replaces `security_group_ids`.
    security_group_ids: Vec<String> => value,
    /// Replaces `endpoint_public_access`.
    endpoint_public_access: bool => value,
    /// Replaces `endpoint_private_access`.
    endpoint_private_access: bool => value,
    /// Replaces `public_access_cidrs`.
    public_access_cidrs: Vec<String> => value,
    /// Replaces `hosted_zone_id`.
    hosted_zone_id: String => option,
    /// Replaces `allow_replacement`.
    allow_replacement: bool => value,
}

impl ClusterConfig {
    /// The cluster as it applies to `account`: the template with that account's override
    /// merged in and `account` set. `None` when the cluster does not apply to the account or
    /// the override skips it.
    pub fn for_account(&self, account: &AccountId) -> Option<ClusterConfig> {
        if !self.account.matches(account) {
            return None;
        }
        let mut c = self.without_overrides(ClusterAccount::Account(account.clone()));
        if let Some(o) = self.overrides.get(account) {
            if o.skip {
                return None;
            }
            o.merge_into(&mut c);
        }
        Some(c)
    }

    /// Whether the cluster applies to `account` (what [`ClusterConfig::for_account`] says,
    /// without building the merged configuration).
    pub fn applies_to(&self, account: &AccountId) -> bool {
        self.account.matches(account) && !self.overrides.get(account).is_some_and(|o| o.skip)
    }

    /// A copy of the template for `account`, without its overrides: a template may have one
    /// per spoke, and copying them for every spoke would make expanding an estate quadratic.
    fn without_overrides(&self, account: ClusterAccount) -> ClusterConfig {
        let ClusterConfig {
            name,
            account: _,
            region,
            version,
            subnet_ids,
            subnet_selector,
            security_group_ids,
            endpoint_public_access,
            endpoint_private_access,
            public_access_cidrs,
            logging,
            tags,
            authentication_mode,
            kms,
            cluster_role_name,
            node_role_name,
            hosted_zone_id,
            build_pods,
            external_dns,
            pod_identities,
            allow_replacement,
            default_addons,
            addons,
            node_groups,
            overrides: _,
        } = self;
        ClusterConfig {
            name: name.clone(),
            account,
            region: region.clone(),
            version: version.clone(),
            subnet_ids: subnet_ids.clone(),
            subnet_selector: subnet_selector.clone(),
            security_group_ids: security_group_ids.clone(),
            endpoint_public_access: *endpoint_public_access,
            endpoint_private_access: *endpoint_private_access,
            public_access_cidrs: public_access_cidrs.clone(),
            logging: logging.clone(),
            tags: tags.clone(),
            authentication_mode: *authentication_mode,
            kms: kms.clone(),
            cluster_role_name: cluster_role_name.clone(),
            node_role_name: node_role_name.clone(),
            hosted_zone_id: hosted_zone_id.clone(),
            build_pods: build_pods.clone(),
            external_dns: external_dns.clone(),
            pod_identities: pod_identities.clone(),
            allow_replacement: *allow_replacement,
            default_addons: *default_addons,
            addons: addons.clone(),
            node_groups: node_groups.clone(),
            overrides: BTreeMap::new(),
        }
    }

    /// The control plane role name (`cluster_role_name`, default `<name>-cluster`).
    pub fn cluster_role_name(&self) -> String {
        self.cluster_role_name
            .clone()
            .unwrap_or_else(|| format!("{}-cluster", self.name))
    }

    /// The node role name (`node_role_name`, default `<name>-node`).
    pub fn node_role_name(&self) -> String {
        self.node_role_name
            .clone()
            .unwrap_or_else(|| format!("{}-node", self.name))
    }

    /// The KMS alias (`kms.alias`, default `alias/eksmgr/<name>`).
    pub fn kms_alias(&self) -> String {
        self.kms
            .alias
            .clone()
            .unwrap_or_else(|| format!("alias/eksmgr/{}", self.name))
    }

    /// The external-dns service account: the configured one, or `external-dns/external-dns`
    /// when a hosted zone is set.
    pub fn external_dns_service_account(&self) -> Option<ServiceAccountConfig> {
        match (&self.external_dns, &self.hosted_zone_id) {
            (Some(sa), _) => Some(sa.clone()),
            (None, Some(_)) => Some(ServiceAccountConfig {
                namespace: "external-dns".to_string(),
                service_account: "external-dns".to_string(),
            }),
            (None, None) => None,
        }
    }
}

/// A control plane log type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ClusterLogType {
    /// The Kubernetes API server's logs.
    Api,
    /// The Kubernetes audit logs: who did what through the API.
    Audit,
    /// The IAM authenticator's logs: which IAM principal signed in as whom.
    Authenticator,
    /// The controller manager's logs.
    ControllerManager,
    /// The scheduler's logs.
    Scheduler,
}

/// How a cluster authenticates IAM principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum AuthenticationMode {
    /// EKS access entries only.
    #[default]
    #[serde(rename = "API")]
    Api,
    /// Access entries and the `aws-auth` ConfigMap.
    #[serde(rename = "API_AND_CONFIG_MAP")]
    ApiAndConfigMap,
}

/// `[clusters.kms]`: the customer managed key for secrets encryption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KmsConfig {
    /// Waiting period before a removed key is deleted, 7 to 30 days. Default 30.
    #[schemars(range(min = 7, max = 30))]
    pub deletion_window_days: u32,
    /// Alias of the key (`alias/...`). Default `alias/eksmgr/<cluster>`.
    pub alias: Option<String>,
}

impl Default for KmsConfig {
    fn default() -> Self {
        Self {
            deletion_window_days: 30,
            alias: None,
        }
    }
}

/// A Kubernetes service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountConfig {
    /// Namespace (a DNS label: lowercase letters, digits, `-`; at most 63).
    pub namespace: String,
    /// Service account name (lowercase letters, digits, `-` and `.`; at most 253).
    pub service_account: String,
}

/// `[[clusters.pod_identities]]`: an EKS pod identity association.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodIdentityConfig {
    /// Namespace of the service account.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// The role the pods get, by ARN. Exactly one of `role_arn` and `role_name`.
    #[serde(default)]
    pub role_arn: Option<Arn>,
    /// The role the pods get, by name, in the cluster's account.
    #[serde(default)]
    pub role_name: Option<String>,
}

/// `[[clusters.addons]]`: an EKS add-on on the cluster.
/// <https://docs.aws.amazon.com/eks/latest/userguide/eks-add-ons.html>
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonConfig {
    /// The add-on's name as EKS knows it (`aws-ebs-csi-driver`, `metrics-server` ...).
    pub name: String,
    /// Install the add-on. `false` leaves a default add-on out; for `eks-pod-identity-agent` on
    /// a cluster with pod identity associations it is the explicit opt-out (the plan warns that
    /// the associations do nothing without an agent). Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The add-on version (`v1.19.2-eksbuild.1`). Default: EKS's default version for the
    /// cluster's Kubernetes version, read at plan time and shown in the plan; upgrading the
    /// cluster moves it to the new Kubernetes version's default.
    #[serde(default)]
    pub version: Option<String>,
    /// The add-on's configuration values as a table (sent to EKS as JSON, compared by
    /// meaning). Default: none.
    #[serde(default)]
    pub configuration: Option<serde_json::Map<String, serde_json::Value>>,
    /// What EKS does with the add-on's Kubernetes fields changed outside it, when it creates
    /// or updates the add-on: `PRESERVE` (keep them; a creation that would overwrite fails) or
    /// `OVERWRITE`, or `NONE`. Default `PRESERVE`.
    #[serde(default)]
    pub resolve_conflicts: ResolveConflicts,
    /// An IAM role for one of the add-on's service accounts through EKS Pod Identity, for
    /// add-ons that support it (`aws-ebs-csi-driver`, `vpc-cni` ...). eksmgr creates the role
    /// `<cluster>-<add-on>`. Default: none (the add-on uses the node role).
    #[serde(default)]
    pub pod_identity: Option<AddonPodIdentityConfig>,
}

/// How EKS resolves conflicts with fields of the add-on changed outside it.
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ResolveConflicts {
    /// Keep the values changed outside EKS.
    #[default]
    #[serde(rename = "PRESERVE")]
    Preserve,
    /// Overwrite them with EKS's.
    #[serde(rename = "OVERWRITE")]
    Overwrite,
    /// Change nothing; the operation may fail.
    #[serde(rename = "NONE")]
    None,
}

impl ResolveConflicts {
    /// As the EKS API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolveConflicts::Preserve => "PRESERVE",
            ResolveConflicts::Overwrite => "OVERWRITE",
            ResolveConflicts::None => "NONE",
        }
    }
}

/// `pod_identity` of `[[clusters.addons]]`: the add-on's service account and its role's
/// permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonPodIdentityConfig {
    /// The add-on's service account (e.g. `ebs-csi-controller-sa`).
    pub service_account: String,
    /// The namespace the add-on runs in. Default `kube-system`.
    #[serde(default = "default_addon_namespace")]
    pub namespace: String,
    /// AWS managed policies of the role, by their name under `arn:aws:iam::aws:policy/` (e.g.
    /// `service-role/AmazonEBSCSIDriverPolicy`).
    pub managed_policies: Vec<String>,
}

fn default_addon_namespace() -> String {
    "kube-system".to_string()
}

/// `[[clusters.node_groups]]`: an EKS managed node group.
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html>
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeGroupConfig {
    /// Node group name: 1 to 63 letters, digits, `-` and `_`, starting with a letter or digit.
    /// Unique in the cluster.
    pub name: String,
    /// EC2 instance types. Default `["t3.medium"]` (EKS's default). Changing them replaces
    /// the group.
    #[serde(default = "default_instance_types")]
    pub instance_types: Vec<String>,
    /// `ON_DEMAND` or `SPOT`. Default `ON_DEMAND`. Changing it replaces the group.
    #[serde(default)]
    pub capacity_type: CapacityType,
    /// The AMI type (`AL2023_x86_64_STANDARD`, `AL2023_ARM_64_STANDARD`,
    /// `BOTTLEROCKET_x86_64` ...). Default `AL2023_x86_64_STANDARD`. Changing it replaces the
    /// group.
    #[serde(default = "default_ami_type")]
    pub ami_type: String,
    /// Root volume size of each node, GiB. Default 20 (EKS's default). Changing it replaces
    /// the group.
    #[serde(default = "default_disk_size")]
    pub disk_size: u32,
    /// Fewest nodes. Default 1.
    #[serde(default = "default_min_size")]
    pub min_size: u32,
    /// Most nodes, at least 1. Default 3.
    #[serde(default = "default_max_size")]
    pub max_size: u32,
    /// Nodes at creation, between `min_size` and `max_size`. Default `min_size`. Set when the
    /// group is created only: an autoscaler owns it afterwards.
    #[serde(default)]
    pub desired_size: Option<u32>,
    /// Kubernetes labels of the nodes.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Kubernetes taints of the nodes.
    #[serde(default)]
    pub taints: Vec<TaintConfig>,
    /// Subnets of the nodes (`subnet-...`). Default: the cluster's.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Subnets of the nodes selected by tags, when `subnet_ids` is empty (as the cluster's
    /// `subnet_selector`; the nodes' subnets need not span two availability zones). Default:
    /// the cluster's subnets.
    #[serde(default)]
    pub subnet_selector: Option<SubnetSelectorConfig>,
    /// Kubernetes version, at most the cluster's (hold a group back during an upgrade).
    /// Default: the cluster's, so an upgrade moves the group after the control plane and
    /// the add-ons.
    #[serde(default)]
    pub version: Option<String>,
    /// Allow changes that replace the group (terminating its nodes). Default `false`.
    #[serde(default)]
    pub allow_replacement: bool,
    /// Tags on the node group, merged over the cluster's.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_instance_types() -> Vec<String> {
    vec!["t3.medium".to_string()]
}

fn default_ami_type() -> String {
    "AL2023_x86_64_STANDARD".to_string()
}

const fn default_disk_size() -> u32 {
    20
}

const fn default_min_size() -> u32 {
    1
}

const fn default_max_size() -> u32 {
    3
}

impl NodeGroupConfig {
    /// The desired size at creation (`desired_size`, default `min_size`).
    pub fn desired_size(&self) -> u32 {
        self.desired_size.unwrap_or(self.min_size)
    }
}

/// On-demand or spot capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum CapacityType {
    /// On-demand instances.
    #[default]
    #[serde(rename = "ON_DEMAND")]
    OnDemand,
    /// Spot instances.
    #[serde(rename = "SPOT")]
    Spot,
}

impl CapacityType {
    /// As the EKS API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityType::OnDemand => "ON_DEMAND",
            CapacityType::Spot => "SPOT",
        }
    }
}

/// `[[clusters.node_groups.taints]]`: a Kubernetes taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaintConfig {
    /// The taint's key.
    pub key: String,
    /// The taint's value. Default: none.
    #[serde(default)]
    pub value: Option<String>,
    /// `NO_SCHEDULE`, `NO_EXECUTE` or `PREFER_NO_SCHEDULE`.
    pub effect: TaintEffect,
}

/// A taint's effect, as the EKS API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    /// `NoSchedule`.
    #[serde(rename = "NO_SCHEDULE")]
    NoSchedule,
    /// `NoExecute`.
    #[serde(rename = "NO_EXECUTE")]
    NoExecute,
    /// `PreferNoSchedule`.
    #[serde(rename = "PREFER_NO_SCHEDULE")]
    PreferNoSchedule,
}

impl TaintEffect {
    /// As the EKS API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NO_SCHEDULE",
            TaintEffect::NoExecute => "NO_EXECUTE",
            TaintEffect::PreferNoSchedule => "PREFER_NO_SCHEDULE",
        }
    }
}

/// `[access]`: who may use the clusters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// A principal (e.g. an SSO role ARN with `*`) that gets `cluster-admin` on every
    /// cluster.
    pub admin_principal_arn: Option<Arn>,
    /// Further grants, as `[[access.grants]]` tables.
    pub grants: Vec<AccessGrantConfig>,
}

/// `[[access.grants]]`: an access entry with an access policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessGrantConfig {
    /// The IAM principal granted access.
    pub principal_arn: Arn,
    /// The EKS access policy: `view`, `edit`, `admin` or `cluster-admin`.
    pub policy: AccessPolicy,
    /// Limit the policy to these namespaces. Default: the whole cluster. Not allowed with
    /// `cluster-admin`.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Kubernetes groups of the access entry (for your own RBAC bindings).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Cluster names the grant applies to, or `["*"]` for every cluster.
    pub clusters: Vec<String>,
}

/// An EKS access policy.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AccessPolicy {
    /// Read most objects, not secrets (`AmazonEKSViewPolicy`).
    #[default]
    View,
    /// Read and write most objects, not roles or role bindings (`AmazonEKSEditPolicy`).
    Edit,
    /// Read and write most objects, roles and role bindings included (`AmazonEKSAdminPolicy`).
    Admin,
    /// Everything, on the whole cluster (`AmazonEKSClusterAdminPolicy`).
    ClusterAdmin,
}

impl AccessPolicy {
    /// The name of the AWS managed access policy.
    pub fn policy_name(self) -> &'static str {
        match self {
            Self::View => "AmazonEKSViewPolicy",
            Self::Edit => "AmazonEKSEditPolicy",
            Self::Admin => "AmazonEKSAdminPolicy",
            Self::ClusterAdmin => "AmazonEKSClusterAdminPolicy",
        }
    }

    /// The configuration spelling (`view`, `edit`, `admin`, `cluster-admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Edit => "edit",
            Self::Admin => "admin",
            Self::ClusterAdmin => "cluster-admin",
        }
    }
}

/// `[[cross_account_roles]]`: an IAM role in a cluster's account that a principal elsewhere
/// assumes to reach the cluster (the role may describe the cluster and has an access entry).
/// Trusted either by an AWS principal (`trusted_principal_arn`) or by an OIDC identity
/// provider (`[cross_account_roles.oidc]`), not both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrossAccountRoleConfig {
    /// Name of the IAM role; unique among the cross-account roles.
    pub name: String,
    /// Name of the cluster (a `[[clusters]]` entry) the role gives access to.
    pub cluster: String,
    /// The AWS principal (role, user or account root) allowed to assume the role.
    #[serde(default)]
    pub trusted_principal_arn: Option<Arn>,
    /// Required `sts:ExternalId` (2 to 1224 characters). Only with `trusted_principal_arn`.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Required `sts:SourceIdentity` of the caller. Only with `trusted_principal_arn`.
    #[serde(default)]
    pub source_identity: Option<String>,
    /// Allow `trusted_principal_arn` to be a whole other account (its root ARN) with neither
    /// `external_id` nor `source_identity`: every principal of that account its IAM policies
    /// allow could assume the role. Without it that is refused at plan time. Only with
    /// `trusted_principal_arn`. Default `false`.
    #[serde(default)]
    pub allow_account_root_trust: bool,
    /// Trust an OIDC provider instead (web identity federation, e.g. CI jobs).
    #[serde(default)]
    pub oidc: Option<OidcTrustConfig>,
    /// The EKS access policy of the role in the cluster. Default `view`.
    #[serde(default)]
    pub policy: AccessPolicy,
    /// Limit the access policy to these namespaces. Default: the whole cluster.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Kubernetes groups of the role's access entry.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Maximum session duration, 3600 to 43200 seconds. Default 3600.
    #[serde(default = "default_max_session")]
    #[schemars(range(min = 3600, max = 43200))]
    pub max_session_duration_seconds: u32,
}

fn default_max_session() -> u32 {
    3600
}

/// `[cross_account_roles.oidc]`: trust of a web identity (OIDC) provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcTrustConfig {
    /// ARN of the IAM OIDC identity provider (`arn:aws:iam::<account>:oidc-provider/<host>`).
    pub provider_arn: Arn,
    /// Required audience (`aud`). Default `sts.amazonaws.com`.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Allowed subjects (`sub`, `*` wildcards allowed), at least one.
    pub subjects: Vec<String>,
}

fn default_audience() -> String {
    "sts.amazonaws.com".to_string()
}

/// `[state]`: where eksmgr keeps the record of what it manages.
///
/// `local` keeps it in a file next to the configuration, locked by a lock file beside it.
/// `s3` keeps it in an S3 object, for teams and CI: the lock is the object `KEY.lock`, created
/// with a conditional write (`If-None-Match: *`, as Terraform's S3 backend does since 1.10;
/// no DynamoDB table), and an apply under way mirrors its journal to `KEY.journal.SERIAL.PART`
/// objects (each part the lines added since the last), so a run that dies on one machine
/// loses nothing for the next run on another.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `local` (a file next to the configuration) or `s3` (an object in an S3 bucket).
    /// Default `local`. `eksmgr state migrate` copies the state from one to the other.
    pub backend: StateBackend,
    /// `local` only: the state file, relative to the configuration's directory. Default
    /// `eksmgr.state.json`. The `--state` flag overrides it.
    pub path: Option<String>,
    /// `s3` only, required: the bucket (it must exist; turn versioning on to keep every
    /// earlier state). The caller's credentials (the management account's), or the
    /// `role_arn` role, must be allowed `s3:GetObject`, `s3:PutObject` and `s3:DeleteObject`
    /// on the state, lock and journal objects.
    pub bucket: Option<String>,
    /// `s3` only: the key of the state object. Default `eksmgr.state.json`.
    pub key: Option<String>,
    /// `s3` only: the bucket's region. Default `organization.home_region`.
    pub region: Option<String>,
    /// `s3` only: address the bucket in the URL path (`https://HOST/BUCKET/KEY`) instead of
    /// the host name, as S3-compatible stores and local emulators need. Default `false`.
    pub use_path_style: bool,
    /// `s3` only: a role to assume with the caller's credentials for every state, lock and
    /// journal call, for a bucket in another account (as Terraform's S3 backend
    /// `assume_role`). The role must trust the caller and allow `s3:GetObject`,
    /// `s3:PutObject` and `s3:DeleteObject` on the objects. Default: the caller's own
    /// credentials.
    pub role_arn: Option<Arn>,
}

/// Where the state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// A file next to the configuration.
    #[default]
    Local,
    /// An object in an S3 bucket, locked with S3 conditional writes.
    S3,
}

impl StateConfig {
    /// The key of the state object (`s3`).
    pub fn s3_key(&self) -> &str {
        self.key.as_deref().unwrap_or("eksmgr.state.json")
    }
}

/// `[[secrets]]`: a Secrets Manager secret in the hub, written on demand (`eksmgr secrets
/// push`) as a Kubernetes secret into the listed namespaces of the target clusters. Planning
/// adds, in every target cluster, an access entry for the hub agent role with
/// `AmazonEKSEditPolicy` limited to those namespaces (what the push authenticates as).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// The Kubernetes secret's name (a DNS subdomain); also how `eksmgr secrets push NAME`
    /// selects it. Unique among `[[secrets]]`.
    pub name: String,
    /// The Secrets Manager secret in the hub: a name under `hub.secrets_prefix` (`"registry"`
    /// is `/EksManager/registry`; a name starting with `/` must start with the prefix), or
    /// the secret's ARN in the hub account (its name under the prefix too: the agent role
    /// may read nothing else).
    pub source: String,
    /// Target cluster names (of `[[clusters]]`), or `["*"]` for every cluster.
    pub clusters: Vec<String>,
    /// Target namespaces in each cluster. They are not created (`--create-namespace` asks
    /// for it).
    pub namespaces: Vec<String>,
    /// The Kubernetes secret type: `Opaque` (default), `kubernetes.io/dockerconfigjson` or
    /// `kubernetes.io/tls`.
    #[serde(default, rename = "type")]
    pub kind: SecretType,
    /// The whole secret string into this one data key. Default for
    /// `kubernetes.io/dockerconfigjson`: `.dockerconfigjson`.
    #[serde(default)]
    pub key: Option<String>,
    /// Fields of a JSON secret into data keys: `{ "data-key" = "json-field" }`. Without `key`
    /// or `keys`, every field of the JSON object becomes a data key of the same name
    /// (`Opaque`), or the fields `tls.crt` and `tls.key` (`kubernetes.io/tls`).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Push this secret in every `eksmgr agent` cycle too (default `false`: only when
    /// `eksmgr secrets push` is run).
    #[serde(default)]
    pub auto: bool,
}

/// The type of a Kubernetes secret eksmgr writes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema,
)]
pub enum SecretType {
    /// Arbitrary keys.
    #[default]
    Opaque,
    /// A registry credential: the key `.dockerconfigjson`, a JSON document.
    #[serde(rename = "kubernetes.io/dockerconfigjson")]
    DockerConfigJson,
    /// A TLS certificate and key: the keys `tls.crt` and `tls.key`.
    #[serde(rename = "kubernetes.io/tls")]
    Tls,
}

impl SecretType {
    /// The value of the secret's `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretType::Opaque => "Opaque",
            SecretType::DockerConfigJson => "kubernetes.io/dockerconfigjson",
            SecretType::Tls => "kubernetes.io/tls",
        }
    }

    /// The data keys a secret of this type must have
    /// (<https://kubernetes.io/docs/concepts/configuration/secret/#secret-types>).
    pub fn required_keys(self) -> &'static [&'static str] {
        match self {
            SecretType::Opaque => &[],
            SecretType::DockerConfigJson => &[".dockerconfigjson"],
            SecretType::Tls => &["tls.crt", "tls.key"],
        }
    }
}

impl SecretConfig {
    /// Whether the secret targets the cluster named `cluster`.
    pub fn targets(&self, cluster: &str) -> bool {
        self.clusters.iter().any(|c| c == "*" || c == cluster)
    }

    /// The secret's id for `GetSecretValue`: its ARN as given, or its full name under
    /// `prefix` (which ends with `/`).
    pub fn secret_id(&self, prefix: &str) -> String {
        if self.source.starts_with("arn:") || self.source.starts_with('/') {
            self.source.clone()
        } else {
            format!("{prefix}{}", self.source)
        }
    }
}
