//! The example configuration, `examples/eksmgr.toml`, as the end-to-end tests use it: whole or
//! only its governance layer (the tables the governance and JSON plan tests plan on their own,
//! without spokes), with the placeholder ids replaced by a seeded organization's, exactly as
//! `scripts/demo.sh` does, so the example file itself is what is tested.

use crate::{Seed, repo_root};

/// The placeholders of the example, in the order of the ids that replace them.
const MANAGEMENT: &str = "111111111111";
const HUB: &str = "222222222222";
const EKS_OU: &str = "ou-abcd-11111111";
const SPOKES: [&str; 2] = ["333333333333", "444444444444"];
/// The subnets [`example_config_every_spoke`] gives the `workloads` cluster template.
pub const TEMPLATE_SUBNETS: [&str; 2] = ["subnet-2a1b2c3d4e5f60718", "subnet-2a1b2c3d4e5f60719"];

/// The text of `examples/eksmgr.toml`.
pub fn example_text() -> Result<String, String> {
    let path = repo_root().join("examples").join("eksmgr.toml");
    std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// The whole example with the seed's ids.
pub fn example_config(seed: &Seed) -> Result<String, String> {
    with_seed(&example_text()?, seed, &[HUB, EKS_OU, SPOKES[0], SPOKES[1]])
}

/// The whole example with the seed's ids, and default `subnet_ids` on the `workloads` cluster
/// template, so every spoke of a seed with more than two spokes (the example overrides the
/// subnets of two) gets a `workloads` cluster too.
pub fn example_config_every_spoke(seed: &Seed) -> Result<String, String> {
    const TEMPLATE: &str = "name = \"workloads\"\naccount = \"*\"\n";
    let text = example_config(seed)?;
    if !text.contains(TEMPLATE) {
        return Err(format!(
            "examples/eksmgr.toml's workloads template no longer starts with {TEMPLATE:?}; update tests/support/example.rs"
        ));
    }
    Ok(text.replacen(
        TEMPLATE,
        &format!(
            "{TEMPLATE}subnet_ids = [\"{}\", \"{}\"]\n",
            TEMPLATE_SUBNETS[0], TEMPLATE_SUBNETS[1]
        ),
        1,
    ))
}

/// The governance layer of the example (see [`governance_slice`]) with the seed's ids.
pub fn governance_config(seed: &Seed) -> Result<String, String> {
    with_seed(&governance_slice(&example_text()?), seed, &[HUB, EKS_OU])
}

/// `text` with the placeholders replaced by the seed's ids; each of `required` must be in
/// `text`, or the substitution would silently test something else. A spoke the seed does
/// not have gets a made-up id.
fn with_seed(text: &str, seed: &Seed, required: &[&str]) -> Result<String, String> {
    if let Some(missing) = required.iter().find(|p| !text.contains(*p)) {
        return Err(format!(
            "examples/eksmgr.toml no longer contains the placeholder {missing}; update tests/support/example.rs"
        ));
    }
    let spoke = |i: usize| {
        seed.spoke_account_ids
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("{}", 333333333333_u64 + 111111111111 * i as u64))
    };
    Ok(text
        .replace(MANAGEMENT, &seed.management_account_id)
        .replace(HUB, &seed.hub_account_id)
        .replace(EKS_OU, &seed.eks_ou_id)
        .replace(SPOKES[0], &spoke(0))
        .replace(SPOKES[1], &spoke(1)))
}

/// Whether a table of the example belongs to the governance layer: `[organization]`,
/// `[governance.*]` and `[hub]`, not the hub registry, the spokes, the clusters or access.
fn is_governance_table(name: &str) -> bool {
    name == "organization"
        || name == "governance"
        || name.starts_with("governance.")
        || name == "hub"
}

/// The lines of the governance tables of an eksmgr configuration, each with the comments just
/// above it.
pub fn governance_slice(text: &str) -> String {
    let mut out = String::new();
    let mut pending = String::new();
    let mut keep = true;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            pending.push_str(line);
            continue;
        }
        if trimmed.starts_with('[') {
            let name = trimmed
                .split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim();
            keep = is_governance_table(name);
        }
        if keep {
            out.push_str(&pending);
            out.push_str(line);
        }
        pending.clear();
    }
    out
}

/// A configuration of the seeded organization with one cluster template, `workloads`, in every
/// spoke: Kubernetes `version`, build pods `ci/builder`. `hub` goes into the `[hub]` table (its
/// ECR repositories), `rest` after the cluster (its pod identities, access, roles ...).
pub fn workloads_config(seed: &Seed, version: &str, hub: &str, rest: &str) -> String {
    format!(
        r#"
[organization]
eks_ou_id = "{ou}"

[hub]
account_id = "{hub_account}"
{hub}
[[clusters]]
name = "workloads"
account = "*"
version = "{version}"
subnet_ids = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
build_pods = {{ namespace = "ci", service_account = "builder" }}
{rest}"#,
        ou = seed.eks_ou_id,
        hub_account = seed.hub_account_id,
    )
}

/// The state addresses of the example's governance layer in a seeded organization (the SCP is
/// `EKSManagerDenyPolicy`, the StackSet `EKSManagerSpokeAdmin`, the agent role
/// `EKSManagerAgentRole`, StackSets in `us-east-1`).
#[derive(Debug, Clone)]
pub struct GovernanceAddresses {
    /// The deny SCP.
    pub scp: String,
    /// Its attachment to the EKS OU.
    pub attachment: String,
    /// The StackSet of the spoke admin role.
    pub stack_set: String,
    /// Its instances on the EKS OU.
    pub instances: String,
    /// The hub agent role.
    pub agent_role: String,
}

impl GovernanceAddresses {
    /// The addresses in `seed`'s organization.
    pub fn of(seed: &Seed) -> Self {
        let mgmt = &seed.management_account_id;
        let scp = "EKSManagerDenyPolicy";
        let stack_set = "EKSManagerSpokeAdmin";
        GovernanceAddresses {
            scp: format!("org_policy.{scp}[{mgmt}]"),
            attachment: format!("org_policy_attachment.{scp}:{}[{mgmt}]", seed.eks_ou_id),
            stack_set: format!("stack_set.{stack_set}[{mgmt}/us-east-1]"),
            instances: format!("stack_set_instances.{stack_set}[{mgmt}/us-east-1]"),
            agent_role: format!("iam_role.EKSManagerAgentRole[{}]", seed.hub_account_id),
        }
    }

    /// All five, in the order above.
    pub fn all(&self) -> [String; 5] {
        [
            self.scp.clone(),
            self.attachment.clone(),
            self.stack_set.clone(),
            self.instances.clone(),
            self.agent_role.clone(),
        ]
    }
}
