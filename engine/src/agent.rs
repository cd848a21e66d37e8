//! The policy of `eksmgr agent`: which changes of a plan the agent carries out on its own and
//! which it holds for a human, with the reason. Pure: the CLI plans, asks [`decide`], applies
//! [`Decision::allowed`] and reports [`Decision::held`].

use std::collections::{BTreeMap, BTreeSet};

use eksmgr_state::ResourceAddress;
use serde::Serialize;

use crate::config::{AgentAction, AgentConfig, AgentScope};
use crate::model::ResourceKind;
use crate::plan::{Action, Plan, PlannedChange};

/// What the agent may do: `[agent]` in `eksmgr.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPolicy {
    /// The actions it carries out.
    pub actions: BTreeSet<AgentAction>,
    /// Where.
    pub scopes: BTreeSet<AgentScope>,
}

impl AgentPolicy {
    /// The policy `[agent]` declares.
    pub fn of(config: &AgentConfig) -> Self {
        AgentPolicy {
            actions: config.apply.iter().copied().collect(),
            scopes: config.scopes.iter().copied().collect(),
        }
    }
}

/// A change the agent did not carry out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// The resource.
    pub address: ResourceAddress,
    /// The change, as `[agent] apply` names it.
    pub action: AgentAction,
    /// Why it is held.
    pub reason: String,
}

/// A plan split by the policy.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The plan with only the changes the agent carries out (the others dropped).
    pub allowed: Plan,
    /// The changes held for a human, in plan order.
    pub held: Vec<Held>,
}

/// The part of the estate a resource belongs to, for `[agent] scopes`.
pub fn scope_of(kind: ResourceKind, address: &ResourceAddress, hub: &str) -> AgentScope {
    match kind {
        ResourceKind::OrgPolicyType
        | ResourceKind::StackSetTrustedAccess
        | ResourceKind::OrgPolicy
        | ResourceKind::OrgPolicyAttachment
        | ResourceKind::StackSet
        | ResourceKind::StackSetInstances => AgentScope::Governance,
        ResourceKind::EcrRepository => AgentScope::Registry,
        // The agent host runs the agent: changing it is changing the hub.
        ResourceKind::IamInstanceProfile | ResourceKind::Ec2Instance => AgentScope::Hub,
        ResourceKind::IamRole
        | ResourceKind::KmsKey
        | ResourceKind::EksCluster
        | ResourceKind::EksAccessEntry
        | ResourceKind::EksPodIdentityAssociation
        | ResourceKind::EksAddon
        | ResourceKind::EksNodeGroup => {
            if address.account == hub {
                AgentScope::Hub
            } else {
                AgentScope::Spokes
            }
        }
    }
}

/// The change's action as `[agent] apply` names it; `None` for no change.
pub fn action_of(c: &PlannedChange) -> Option<AgentAction> {
    match c.action {
        Action::Create => Some(AgentAction::Create),
        Action::Update => Some(AgentAction::Update),
        Action::Replace => Some(AgentAction::Replace),
        Action::Delete | Action::Forget => Some(AgentAction::Delete),
        Action::NoOp if c.adopt => Some(AgentAction::Create),
        Action::NoOp => None,
    }
}

/// Splits `plan` by `policy`: a change is held when it needs an opt-in, when its action or
/// its part of the estate is not in the policy, or when it depends on a held change that
/// would create what it needs. The changes are in dependency order, so one pass sees every
/// dependency's decision first.
pub fn decide(plan: &Plan, policy: &AgentPolicy, hub: &str) -> Decision {
    let mut held: Vec<Held> = Vec::new();
    let mut held_creating: BTreeMap<&ResourceAddress, ()> = BTreeMap::new();
    let mut allowed = plan.clone();
    allowed.changes.clear();
    for c in &plan.changes {
        let Some(action) = action_of(c) else {
            allowed.changes.push(c.clone());
            continue;
        };
        let scope = scope_of(c.kind, &c.address, hub);
        let reason = if let Some(why) = &c.blocked {
            Some(format!("needs an opt-in: {why}"))
        } else if !policy.actions.contains(&action) {
            Some(format!(
                "`{}` is not among the actions [agent] apply allows",
                action.as_str()
            ))
        } else if !policy.scopes.contains(&scope) {
            Some(format!(
                "the {} are not among the scopes [agent] scopes allows",
                scope.as_str()
            ))
        } else {
            c.depends_on
                .iter()
                .find(|d| held_creating.contains_key(d))
                .map(|d| format!("waits for {d}, which is held"))
        };
        match reason {
            Some(reason) => {
                if matches!(action, AgentAction::Create | AgentAction::Replace) {
                    held_creating.insert(&c.address, ());
                }
                held.push(Held {
                    address: c.address.clone(),
                    action,
                    reason,
                });
            }
            None => allowed.changes.push(c.clone()),
        }
    }
    Decision { allowed, held }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedChange;
    use std::sync::Arc;

    const HUB: &str = "222222222222";
    const SPOKE: &str = "333333333333";

    fn change(kind: ResourceKind, name: &str, account: &str, action: Action) -> PlannedChange {
        PlannedChange {
            address: ResourceAddress::new(kind.as_str(), name, account, None),
            kind,
            action,
            adopt: false,
            id: None,
            before: None,
            after: None,
            attribute_diffs: Vec::new(),
            reason: None,
            depends_on: Arc::default(),
            notes: Vec::new(),
            blocked: None,
        }
    }

    fn plan(changes: Vec<PlannedChange>) -> Plan {
        let mut p = Plan {
            format_version: crate::plan::PLAN_FORMAT_VERSION,
            state_lineage: String::new(),
            state_serial: 0,
            config_digest: String::new(),
            changes: Vec::new(),
            drift: Vec::new(),
            deferred: Vec::new(),
            warnings: Vec::new(),
            problems: Vec::new(),
            skipped_accounts: Vec::new(),
            resolved_intents: Vec::new(),
        };
        p.changes = changes;
        p
    }

    #[test]
    fn the_default_policy_creates_and_updates_in_spokes_and_the_registry_only() {
        let policy = AgentPolicy::of(&AgentConfig::default());
        let role = change(
            ResourceKind::IamRole,
            "workloads-node",
            SPOKE,
            Action::Create,
        );
        let mut cluster = change(ResourceKind::EksCluster, "workloads", SPOKE, Action::Create);
        cluster.depends_on = Arc::from([role.address.clone()]);
        let repo = change(ResourceKind::EcrRepository, "api", HUB, Action::Update);
        let mut replaced = change(ResourceKind::EksCluster, "edge", SPOKE, Action::Replace);
        replaced.blocked = Some("allow_replacement is false".into());
        let mut addon = change(
            ResourceKind::EksAddon,
            "edge/coredns",
            SPOKE,
            Action::Create,
        );
        addon.depends_on = Arc::from([replaced.address.clone()]);
        let gone = change(ResourceKind::KmsKey, "old", "444444444444", Action::Delete);
        let scp = change(
            ResourceKind::OrgPolicy,
            "deny",
            "111111111111",
            Action::Update,
        );
        let hub_role = change(ResourceKind::IamRole, "agent", HUB, Action::Update);
        let d = decide(
            &plan(vec![
                role.clone(),
                cluster.clone(),
                repo.clone(),
                replaced,
                addon,
                gone,
                scp,
                hub_role,
            ]),
            &policy,
            HUB,
        );
        let allowed: Vec<_> = d.allowed.changes.iter().map(|c| &c.address).collect();
        assert_eq!(allowed, [&role.address, &cluster.address, &repo.address]);
        let held: Vec<(String, &str)> = d
            .held
            .iter()
            .map(|h| (h.address.name.to_string(), h.reason.as_str()))
            .collect();
        assert_eq!(held.len(), 5, "{held:?}");
        assert!(held[0].1.starts_with("needs an opt-in"), "{held:?}");
        assert!(held[1].1.contains("which is held"), "{held:?}");
        assert!(held[2].1.contains("`delete`"), "{held:?}");
        assert!(held[3].1.contains("governance"), "{held:?}");
        assert!(held[4].1.contains("hub"), "{held:?}");
    }

    #[test]
    fn a_wider_policy_applies_more_but_never_what_needs_an_opt_in() {
        let policy = AgentPolicy {
            actions: [
                AgentAction::Create,
                AgentAction::Update,
                AgentAction::Replace,
                AgentAction::Delete,
            ]
            .into(),
            scopes: [
                AgentScope::Spokes,
                AgentScope::Registry,
                AgentScope::Hub,
                AgentScope::Governance,
            ]
            .into(),
        };
        let gone = change(ResourceKind::KmsKey, "old", SPOKE, Action::Delete);
        let mut blocked = change(ResourceKind::KmsKey, "other", SPOKE, Action::Delete);
        blocked.blocked = Some("--allow-key-deletion".into());
        let d = decide(&plan(vec![gone.clone(), blocked]), &policy, HUB);
        assert_eq!(d.allowed.changes.len(), 1);
        assert_eq!(d.held.len(), 1);
    }
}
