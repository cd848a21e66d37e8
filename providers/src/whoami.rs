//! `eksmgr whoami`: the identity eksmgr acts as in every account tier, found the way a plan
//! reaches each account, each tier checked on its own so that one failure does not hide the
//! others.
//!
//! * the caller: the credentials eksmgr runs with (`sts:GetCallerIdentity`);
//! * the management account: the caller's credentials, which must be able to read the
//!   organization (`organizations:DescribeOrganization`);
//! * the hub: the hub's access role assumed from the caller, then the hub agent role assumed
//!   from it (the identity every spoke role is assumed from);
//! * each spoke (the accounts discovery finds, as a plan finds them): its admin role assumed
//!   from the hub agent role.
//!
//! Each identity is what `sts:GetCallerIdentity` answers with the credentials of that tier.

use eksmgr_engine::blueprint::Discovery;
use eksmgr_engine::config::Config;
use eksmgr_engine::provider::{ErrorKind, ProviderError};
use futures::StreamExt;
use serde::Serialize;

use crate::caller::{CallerIdentity, CallerOptions};
use crate::error::{Call, map};
use crate::sessions::{Sessions, SessionsConfig};

crate::service_client!(aws_sdk_sts, "sts");

/// A tier of accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The credentials eksmgr runs with.
    Caller,
    /// The organization's management account (the caller's credentials).
    Management,
    /// The hub account, through its access role.
    Hub,
    /// The hub agent role, assumed from the hub's access role.
    HubAgent,
    /// A spoke account, through its admin role.
    Spoke,
}

impl Tier {
    /// How the tier is named in output.
    pub fn label(self) -> &'static str {
        match self {
            Tier::Caller => "caller",
            Tier::Management => "management",
            Tier::Hub => "hub",
            Tier::HubAgent => "hub agent",
            Tier::Spoke => "spoke",
        }
    }
}

/// What became of a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Reached: who eksmgr is there.
    Ok {
        /// The identity.
        identity: CallerIdentity,
    },
    /// Could not be reached.
    Failed {
        /// Why, with a hint.
        error: ProviderError,
    },
    /// Not tried: a tier it depends on failed, or the account is not a spoke this run.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// Whether the tier was reached.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
}

/// One account of a tier and who eksmgr is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierReport {
    /// The tier.
    pub tier: Tier,
    /// The account id (empty when unknown: the caller's credentials did not work).
    pub account: String,
    /// The account's name in the organization, when known.
    pub name: String,
    /// The roles assumed to get there, in order (none for the caller and management tiers).
    pub via: Vec<String>,
    /// What became of it (in JSON, `status` and `identity`, `error` or `reason`).
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Something worth knowing that is not a failure.
    pub note: Option<String>,
}

/// Every tier, the caller first, then the management account, the hub, its agent role and
/// each spoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhoAmI {
    /// The reports, in that order.
    pub tiers: Vec<TierReport>,
    /// The OU the spokes come from.
    pub eks_ou_id: String,
    /// Why the spokes could not be listed, if they could not.
    pub spokes_error: Option<ProviderError>,
}

impl WhoAmI {
    /// Whether every tier was reached (skipped accounts that are not spokes aside).
    pub fn all_ok(&self) -> bool {
        self.spokes_error.is_none()
            && self.tiers.iter().all(|t| match &t.outcome {
                Outcome::Ok { .. } => true,
                Outcome::Failed { .. } => false,
                Outcome::Skipped { .. } => t.tier == Tier::Spoke,
            })
    }
}

/// Finds out who eksmgr is in every tier of `config`'s estate, with the caller's credentials
/// as `options` say; at most `parallelism` calls in flight.
pub async fn whoami(config: &Config, options: &CallerOptions, parallelism: usize) -> WhoAmI {
    let hub = config.hub.account_id.as_str().to_string();
    let mut report = WhoAmI {
        tiers: Vec::new(),
        eks_ou_id: config.organization.eks_ou_id.as_str().to_string(),
        spokes_error: None,
    };
    let caller = match crate::caller::sdk_config(options, &config.organization.home_region).await {
        Ok(conf) => {
            let base = crate::limit::limit_calls(conf, parallelism);
            crate::caller::identity(&base, "of the caller")
                .await
                .map(|caller| (base, caller))
        }
        Err(error) => Err(error),
    };
    let (base, caller) = match caller {
        Ok(found) => found,
        Err(error) => {
            let unreachable = error.kind == ErrorKind::Transient;
            report.tiers.push(TierReport {
                tier: Tier::Caller,
                account: String::new(),
                name: String::new(),
                via: Vec::new(),
                outcome: Outcome::Failed { error },
                note: None,
            });
            // STS out of reach says nothing of the credentials.
            let reason = if unreachable {
                "not tried: AWS could not be reached with the caller's configuration"
            } else {
                "not tried: the caller's credentials do not work"
            };
            for (tier, account) in [
                (
                    Tier::Management,
                    configured_management(config).unwrap_or_default(),
                ),
                (Tier::Hub, hub.clone()),
                (Tier::HubAgent, hub.clone()),
            ] {
                report
                    .tiers
                    .push(skipped(tier, account, Vec::new(), reason));
            }
            return report;
        }
    };
    report.tiers.push(TierReport {
        tier: Tier::Caller,
        account: caller.account.clone(),
        name: String::new(),
        via: Vec::new(),
        outcome: Outcome::Ok {
            identity: caller.clone(),
        },
        note: None,
    });

    let mut discovery = Discovery {
        management_account_id: configured_management(config)
            .unwrap_or_else(|| caller.account.clone()),
        partition: caller.partition().to_string(),
        ..Discovery::default()
    };
    let sessions = Sessions::new(base, SessionsConfig::from_config(config, &discovery));
    let settings = sessions.settings().clone();

    let (management, (hub_tier, agent_tier)) = futures::join!(
        management_tier(&sessions, &caller),
        hub_tiers(&sessions, &hub)
    );
    report.tiers.push(management);
    let agent_ok = agent_tier.outcome.is_ok();
    report.tiers.push(hub_tier);
    report.tiers.push(agent_tier);

    if let Err(e) = crate::discovery::discover_spokes(&sessions, config, &mut discovery).await {
        report.spokes_error = Some(e);
        return report;
    }
    let spokes: Vec<TierReport> = futures::stream::iter(discovery.spokes.iter())
        .map(|spoke| {
            let sessions = &sessions;
            let via = settings.chain(&spoke.id);
            async move {
                let outcome = if agent_ok {
                    reach(sessions, &spoke.id).await
                } else {
                    Outcome::Skipped {
                        reason: "not tried: the hub agent role, which every spoke role is assumed from, could not be reached".to_string(),
                    }
                };
                TierReport {
                    tier: Tier::Spoke,
                    account: spoke.id.clone(),
                    name: spoke.name.clone(),
                    via,
                    outcome,
                    note: None,
                }
            }
        })
        .buffered(parallelism.max(1))
        .collect()
        .await;
    report.tiers.extend(spokes);
    for s in &discovery.skipped {
        report.tiers.push(TierReport {
            name: s.name.clone(),
            ..skipped(Tier::Spoke, s.id.clone(), Vec::new(), &s.reason)
        });
    }
    report
}

fn configured_management(config: &Config) -> Option<String> {
    config
        .organization
        .management_account_id
        .as_ref()
        .map(|a| a.as_str().to_string())
}

fn skipped(tier: Tier, account: String, via: Vec<String>, reason: &str) -> TierReport {
    TierReport {
        tier,
        account,
        name: String::new(),
        via,
        outcome: Outcome::Skipped {
            reason: reason.to_string(),
        },
        note: None,
    }
}

/// The management tier: the caller's credentials, which must read the organization; a caller
/// of another account than the management account is a delegated administrator (noted), and
/// a configured management account that is not the organization's is an error.
async fn management_tier(sessions: &Sessions, caller: &CallerIdentity) -> TierReport {
    let management = sessions.settings().management_account_id.clone();
    let mut report = TierReport {
        tier: Tier::Management,
        account: management.clone(),
        name: String::new(),
        via: Vec::new(),
        outcome: Outcome::Ok {
            identity: caller.clone(),
        },
        note: None,
    };
    let described = match crate::organizations::client(sessions, &management, None).await {
        Ok(c) => c.describe_organization().send().await.map_err(|e| {
            let mut err = map(
                Call::new(&management, "the organization", "organizations:DescribeOrganization"),
                e,
            );
            if err.kind == ErrorKind::AccessDenied {
                err.hint = Some(format!(
                    "eksmgr reads and governs the organization with the caller's credentials ({}): run it with credentials of the management account, or of a delegated administrator for AWS Organizations (--profile NAME or AWS_PROFILE)",
                    caller.arn
                ));
            }
            err
        }),
        Err(e) => Err(e),
    };
    let org = match described {
        Ok(d) => d,
        Err(error) => {
            report.outcome = Outcome::Failed { error };
            return report;
        }
    };
    let org = org.organization();
    let actual = org
        .and_then(|o| o.master_account_id())
        .unwrap_or_default()
        .to_string();
    let org_id = org.and_then(|o| o.id()).unwrap_or_default();
    if !actual.is_empty() && actual != management {
        if management != caller.account {
            report.outcome = Outcome::Failed {
                error: Call::new(
                    &management,
                    "organization.management_account_id",
                    "organizations:DescribeOrganization",
                )
                .error(
                    ErrorKind::Invalid,
                    format!(
                        "the management account of organization {org_id} is {actual}, not {management}"
                    ),
                    Some("set organization.management_account_id in eksmgr.toml to the organization's management account, or remove it to use the caller's account"),
                ),
            };
            return report;
        }
        report.note = Some(format!(
            "the caller's account is not the management account of organization {org_id} ({actual}): eksmgr acts as a delegated administrator"
        ));
    } else {
        report.note = Some(format!("management account of organization {org_id}"));
    }
    report
}

/// The hub through its access role, and the hub agent role through that.
async fn hub_tiers(sessions: &Sessions, hub: &str) -> (TierReport, TierReport) {
    let settings = sessions.settings();
    let access = settings.chain(hub);
    let access_report = TierReport {
        tier: Tier::Hub,
        account: hub.to_string(),
        name: String::new(),
        via: access.clone(),
        outcome: reach(sessions, hub).await,
        note: None,
    };
    let agent_role = format!(
        "arn:{}:iam::{hub}:role/{}",
        settings.partition, settings.hub_agent_role_name
    );
    let mut via = access;
    via.push(agent_role);
    let outcome = if access_report.outcome.is_ok() {
        match sessions.hub_agent().await {
            Ok(conf) => identity_of(&conf, hub).await,
            Err(error) => Outcome::Failed {
                error: agent_hint(error, hub, &settings.hub_agent_role_name),
            },
        }
    } else {
        Outcome::Skipped {
            reason: "not tried: the hub's access role, which the agent role is assumed from, could not be reached".to_string(),
        }
    };
    let agent_report = TierReport {
        tier: Tier::HubAgent,
        account: hub.to_string(),
        name: String::new(),
        via,
        outcome,
        note: None,
    };
    (access_report, agent_report)
}

/// The hint of a hub agent role that cannot be assumed (the hub's access role could): eksmgr
/// creates the agent role on its first apply.
fn agent_hint(mut e: ProviderError, hub: &str, role: &str) -> ProviderError {
    e.hint = Some(format!(
        "eksmgr creates the hub agent role on its first apply (`iam_role.{role}[{hub}]`): run `eksmgr apply`; if the role exists, check that its trust policy allows the hub's access role (hub.agent_trusted_principals)"
    ));
    e
}

/// Who eksmgr is in `account`, reached as a plan reaches it.
async fn reach(sessions: &Sessions, account: &str) -> Outcome {
    match client(sessions, account, None).await {
        Ok(c) => {
            let out = c.get_caller_identity().send().await;
            match out {
                Ok(o) => Outcome::Ok {
                    identity: CallerIdentity {
                        account: o.account().unwrap_or_default().to_string(),
                        arn: o.arn().unwrap_or_default().to_string(),
                        user_id: o.user_id().unwrap_or_default().to_string(),
                    },
                },
                Err(e) => Outcome::Failed {
                    error: sessions.explain(map(
                        Call::new(
                            account,
                            "the assumed role's identity",
                            "sts:GetCallerIdentity",
                        ),
                        e,
                    )),
                },
            }
        }
        Err(error) => Outcome::Failed {
            error: sessions.explain(error),
        },
    }
}

/// Who the credentials of `conf` are (counted in `account`).
async fn identity_of(conf: &aws_types::SdkConfig, account: &str) -> Outcome {
    match crate::caller::identity(conf, account).await {
        Ok(identity) => Outcome::Ok { identity },
        Err(error) => Outcome::Failed { error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tier: Tier, outcome: Outcome) -> TierReport {
        TierReport {
            tier,
            account: "111111111111".into(),
            name: String::new(),
            via: Vec::new(),
            outcome,
            note: None,
        }
    }

    #[test]
    fn a_skipped_account_that_is_not_a_spoke_is_no_failure_but_a_skipped_hub_is() {
        let ok = Outcome::Ok {
            identity: CallerIdentity::default(),
        };
        let skip = Outcome::Skipped {
            reason: "account status is SUSPENDED".into(),
        };
        let mut w = WhoAmI {
            tiers: vec![report(Tier::Caller, ok), report(Tier::Spoke, skip.clone())],
            eks_ou_id: "ou-abcd-11111111".into(),
            spokes_error: None,
        };
        assert!(w.all_ok());
        w.tiers.push(report(Tier::Hub, skip));
        assert!(!w.all_ok());
    }
}
