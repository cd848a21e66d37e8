//! `eksmgr whoami`: prints who eksmgr is in every account tier of the estate (the caller, the
//! management account, the hub and its agent role, each spoke), as found by
//! [`eksmgr_providers::whoami`], as text or as JSON (`--json`). A tier that cannot be reached
//! is shown with its error and a hint, and the others are still shown; the exit code is 1 if
//! any tier failed.

use std::fmt::Write as _;

use anyhow::Result;
use eksmgr_engine::provider::ProviderError;
use eksmgr_providers::whoami::{Outcome, Tier, TierReport, WhoAmI};

use crate::cli::{Cli, WhoamiArgs};
use crate::render::Styler;

/// Version of the `--json` document.
const JSON_FORMAT: u32 = 1;

/// Runs `eksmgr whoami`.
pub async fn run(cli: &Cli, args: &WhoamiArgs, s: Styler) -> Result<u8> {
    let config = eksmgr_engine::config::load(&cli.config)?;
    let report = eksmgr_providers::whoami::whoami(
        &config,
        &cli.caller(),
        crate::cli::DEFAULT_PARALLELISM.into(),
    )
    .await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&report))?);
    } else {
        print!("{}", text(&report, s));
    }
    Ok(if report.all_ok() { 0 } else { 1 })
}

/// The report as JSON: `{"format_version", "ok", "eks_ou_id", "tiers": [...], "spokes_error"}`,
/// each tier with its `tier`, `account`, `name`, `via` (roles assumed), `status` (`ok`,
/// `failed`, `skipped`) and `identity`, `error` or `reason`.
fn json(report: &WhoAmI) -> serde_json::Value {
    serde_json::json!({
        "format_version": JSON_FORMAT,
        "ok": report.all_ok(),
        "eks_ou_id": report.eks_ou_id,
        "tiers": report.tiers,
        "spokes_error": report.spokes_error,
    })
}

/// The report as text, one block per tier.
fn text(report: &WhoAmI, s: Styler) -> String {
    let mut t = String::new();
    let width = report
        .tiers
        .iter()
        .map(|r| r.tier.label().len())
        .max()
        .unwrap_or(0);
    let mut spokes_header = false;
    for r in &report.tiers {
        if r.tier == Tier::Spoke && !spokes_header {
            spokes_header = true;
            let n = report
                .tiers
                .iter()
                .filter(|r| r.tier == Tier::Spoke && !matches!(r.outcome, Outcome::Skipped { .. }))
                .count();
            let _ = writeln!(
                t,
                "{}",
                s.bold(&format!("spokes: {n} account(s) in {}", report.eks_ou_id))
            );
        }
        tier(&mut t, r, width, s);
    }
    if let Some(e) = &report.spokes_error {
        let _ = writeln!(
            t,
            "{} {}",
            s.bold(&format!("{:<width$}", "spokes")),
            s.red("FAILED: cannot list the spoke accounts")
        );
        error_lines(&mut t, e, "  ", s);
    } else if !spokes_header
        && report
            .tiers
            .iter()
            .any(|r| r.tier == Tier::Caller && r.outcome.is_ok())
    {
        let _ = writeln!(
            t,
            "{}",
            s.bold(&format!("spokes: none in {}", report.eks_ou_id))
        );
    }
    t
}

fn tier(t: &mut String, r: &TierReport, width: usize, s: Styler) {
    let (head, indent) = if r.tier == Tier::Spoke {
        let name = if r.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.name)
        };
        (format!("  {}{name}", r.account), "    ")
    } else {
        let account = if r.account.is_empty() {
            String::new()
        } else {
            format!("  {}", r.account)
        };
        (
            format!(
                "{}{account}",
                s.bold(&format!("{:<width$}", r.tier.label()))
            ),
            "  ",
        )
    };
    match &r.outcome {
        Outcome::Ok { identity } => {
            let _ = writeln!(t, "{head}  {}", s.green(&identity.arn));
        }
        Outcome::Failed { .. } => {
            let _ = writeln!(t, "{head}  {}", s.red("FAILED"));
        }
        Outcome::Skipped { reason } => {
            let _ = writeln!(t, "{head}  {}", s.yellow(&format!("skipped: {reason}")));
        }
    }
    // A spoke's way is the hub agent's (shown above) and then its own role.
    let via = match (r.tier, r.via.last()) {
        (Tier::Spoke, Some(role)) => format!("via {role} (from the hub agent role)"),
        _ => format!("via {}", r.via.join(" > ")),
    };
    if !r.via.is_empty() {
        let _ = writeln!(t, "{indent}{}", s.dim(&via));
    }
    if let Some(note) = &r.note {
        let _ = writeln!(t, "{indent}{}", s.dim(note));
    }
    if let Outcome::Failed { error } = &r.outcome {
        error_lines(t, error, indent, s);
    }
}

fn error_lines(t: &mut String, e: &ProviderError, indent: &str, s: Styler) {
    let _ = writeln!(
        t,
        "{indent}{}",
        s.red(&format!("{} failed: {}", e.api_call, e.message))
    );
    if let Some(h) = &e.hint {
        let _ = writeln!(t, "{indent}hint: {h}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eksmgr_engine::provider::ErrorKind;
    use eksmgr_providers::caller::CallerIdentity;

    fn ok(tier: Tier, account: &str, arn: &str, via: &[&str]) -> TierReport {
        TierReport {
            tier,
            account: account.into(),
            name: String::new(),
            via: via.iter().map(|v| v.to_string()).collect(),
            outcome: Outcome::Ok {
                identity: CallerIdentity {
                    account: account.into(),
                    arn: arn.into(),
                    user_id: "AROAEXAMPLE:eksmgr".into(),
                },
            },
            note: None,
        }
    }

    fn report() -> WhoAmI {
        let hub_role = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole";
        let agent = "arn:aws:iam::222222222222:role/EKSManagerAgentRole";
        let mut spoke = ok(
            Tier::Spoke,
            "444444444444",
            "",
            &[
                hub_role,
                agent,
                "arn:aws:iam::444444444444:role/EKSManagerAdmin",
            ],
        );
        spoke.name = "spoke-2".into();
        spoke.outcome = Outcome::Failed {
            error: ProviderError {
                account: "444444444444".into(),
                resource: "arn:aws:iam::444444444444:role/EKSManagerAdmin".into(),
                api_call: "sts:AssumeRole".into(),
                message: "AccessDenied: not authorized".into(),
                hint: Some("apply the governance layer first".into()),
                kind: ErrorKind::AccessDenied,
            },
        };
        let mut first = ok(
            Tier::Spoke,
            "333333333333",
            "arn:aws:sts::333333333333:assumed-role/EKSManagerAdmin/eksmgr",
            &[
                hub_role,
                agent,
                "arn:aws:iam::333333333333:role/EKSManagerAdmin",
            ],
        );
        first.name = "spoke-1".into();
        let mut management = ok(
            Tier::Management,
            "111111111111",
            "arn:aws:iam::111111111111:user/admin",
            &[],
        );
        management.note = Some("management account of organization o-abcdef1234".into());
        WhoAmI {
            tiers: vec![
                ok(
                    Tier::Caller,
                    "111111111111",
                    "arn:aws:iam::111111111111:user/admin",
                    &[],
                ),
                management,
                ok(
                    Tier::Hub,
                    "222222222222",
                    "arn:aws:sts::222222222222:assumed-role/OrganizationAccountAccessRole/eksmgr",
                    &[hub_role],
                ),
                ok(
                    Tier::HubAgent,
                    "222222222222",
                    "arn:aws:sts::222222222222:assumed-role/EKSManagerAgentRole/eksmgr",
                    &[hub_role, agent],
                ),
                first,
                spoke,
            ],
            eks_ou_id: "ou-abcd-11111111".into(),
            spokes_error: None,
        }
    }

    #[test]
    fn every_tier_is_shown_and_a_failure_has_its_hint() {
        let r = report();
        assert!(!r.all_ok());
        insta::assert_snapshot!(text(&r, Styler::new(false)));
    }

    #[test]
    fn the_json_document_has_a_status_per_tier() {
        let v = json(&report());
        assert_eq!(v["format_version"], 1);
        assert_eq!(v["ok"], false);
        let tiers = v["tiers"].as_array().unwrap();
        assert_eq!(tiers.len(), 6);
        assert_eq!(tiers[0]["tier"], "caller");
        assert_eq!(tiers[0]["status"], "ok");
        assert_eq!(
            tiers[0]["identity"]["arn"],
            "arn:aws:iam::111111111111:user/admin"
        );
        assert_eq!(tiers[3]["tier"], "hub_agent");
        assert_eq!(tiers[5]["status"], "failed");
        assert_eq!(tiers[5]["error"]["api_call"], "sts:AssumeRole");
        assert_eq!(
            tiers[5]["error"]["hint"],
            "apply the governance layer first"
        );
    }
}
