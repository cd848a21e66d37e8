//! `eksmgr secrets push | status`: the targets from the configuration's `[[secrets]]` and the
//! clusters in state, the run (`eksmgr_secrets::run`), and the report as text (stdout) or
//! JSON. Values never reach this module: rows carry names, versions and outcomes only.

use anyhow::{Context as _, Result};
use eksmgr_engine::secrets::Standing;
use eksmgr_secrets::{ClusterId, Done, Mode, Report, Row};

use crate::cli::{Cli, SecretsCommand};
use crate::context;
use crate::render::Styler;

/// The version of `secrets --json`'s format.
const JSON_FORMAT: &str = "1.0";

/// Runs `eksmgr secrets push` or `eksmgr secrets status`.
pub async fn run(cli: &Cli, command: &SecretsCommand, s: Styler) -> Result<u8> {
    let (args, mode) = match command {
        SecretsCommand::Push(a) => (
            a,
            Mode::Push {
                dry_run: a.dry_run,
                force: a.force,
                create_namespaces: a.create_namespace,
            },
        ),
        SecretsCommand::Status(a) => (a, Mode::Status),
    };
    if matches!(command, SecretsCommand::Status(_))
        && (args.dry_run || args.force || args.create_namespace)
    {
        anyhow::bail!("--dry-run, --force and --create-namespace are options of `secrets push`");
    }
    let loaded = context::load(cli)?;
    let state = loaded.store.load().await?;
    let clusters = clusters_in(&state);
    let targets = eksmgr_secrets::targets(
        &loaded.config,
        &clusters,
        &args.names,
        &args.clusters,
        &args.namespaces,
    )?;
    let parallelism = usize::from(args.parallelism.max(1));
    let (sessions, _discovery) =
        eksmgr_providers::connect_sessions(&loaded.config, parallelism, &cli.caller())
            .await
            .context("cannot reach AWS")?;
    let report = eksmgr_secrets::run(&sessions, &loaded.config, targets, mode, parallelism).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&report, mode))?);
    } else {
        print!("{}", text(&report, mode, s));
    }
    Ok(report.exit_code(mode))
}

/// The clusters the state records (`eks_cluster` records: account, region, name).
pub fn clusters_in(state: &eksmgr_state::State) -> Vec<ClusterId> {
    state
        .resources
        .values()
        .filter(|r| r.address.kind == "eks_cluster")
        .filter_map(|r| {
            let name = r
                .attrs
                .get("name")
                .and_then(eksmgr_state::value::Value::as_str)
                .unwrap_or(&r.address.name)
                .to_string();
            Some(ClusterId {
                account: r.address.account.to_string(),
                region: r.address.region.as_ref()?.to_string(),
                name,
            })
        })
        .collect()
}

/// What happened at a row, in words.
fn outcome(row: &Row, mode: Mode) -> String {
    let version = row.version_id.as_deref().unwrap_or("?");
    match &row.result {
        Err(e) => format!("failed: {e}"),
        Ok((standing, done)) => match (standing, done, mode) {
            (Standing::Current, Done::Nothing, _) => format!("current (version {version})"),
            (Standing::Outdated { held }, Done::Nothing, _) => format!(
                "outdated: holds version {}, the hub has {version}",
                held.as_deref().unwrap_or("(none)")
            ),
            (Standing::Missing, Done::Nothing, _) => {
                format!("missing (the hub has version {version})")
            }
            (Standing::Unmanaged, Done::Nothing, Mode::Push { .. }) => {
                "left alone: a secret of that name exists that eksmgr does not manage (--force overwrites it)".into()
            }
            (Standing::Unmanaged, Done::Nothing, Mode::Status) => {
                "unmanaged: a secret of that name exists that eksmgr does not manage".into()
            }
            (Standing::NoNamespace, Done::Nothing, _) => {
                "no such namespace (create it, or push with --create-namespace)".into()
            }
            (Standing::Missing, Done::Written, _) => format!("created (version {version})"),
            (Standing::NoNamespace, Done::CreatedNamespaceAndWritten, _) => {
                format!("namespace created, secret created (version {version})")
            }
            (before, Done::Written | Done::CreatedNamespaceAndWritten, _) => {
                format!("updated to version {version} (was {})", before.as_str())
            }
            (before, Done::WouldWrite, _) => format!(
                "would write version {version} (now {}; --dry-run)",
                before.as_str()
            ),
        },
    }
}

fn text(report: &Report, mode: Mode, s: Styler) -> String {
    let mut out = String::new();
    for row in &report.rows {
        let t = &row.target;
        let line = outcome(row, mode);
        let styled = match row.exit_code(mode) {
            0 => s.green(&line),
            1 => s.red(&line),
            _ => s.yellow(&line),
        };
        out.push_str(&format!(
            "{}  {}  {}  {styled}\n",
            s.bold(&t.secret),
            t.cluster,
            t.namespace
        ));
    }
    let count = |f: &dyn Fn(&Row) -> bool| report.rows.iter().filter(|r| f(r)).count();
    let written = count(&|r| {
        matches!(
            r.result,
            Ok((_, Done::Written | Done::CreatedNamespaceAndWritten))
        )
    });
    let would = count(&|r| matches!(r.result, Ok((_, Done::WouldWrite))));
    let human = count(&|r| r.exit_code(mode) == 3);
    let failed = count(&|r| r.result.is_err());
    let n = report.rows.len();
    let mut parts = vec![format!("{n} target{}", if n == 1 { "" } else { "s" })];
    match mode {
        Mode::Status => {
            parts.push(format!(
                "{} current",
                count(&|r| matches!(r.result, Ok((Standing::Current, _))))
            ));
            parts.push(format!("{} to push", count(&|r| r.exit_code(mode) == 2)));
        }
        Mode::Push { .. } => {
            parts.push(format!("{written} written"));
            if would > 0 {
                parts.push(format!("{would} would be written (dry run)"));
            }
        }
    }
    parts.push(format!("{human} left for a human"));
    parts.push(format!("{failed} failed"));
    out.push_str(&format!("\n{}.\n", parts.join(", ")));
    out
}

/// `--json`: `{"format_version", "mode", "exit_code", "sources": {name: arn}, "targets":
/// [{"secret", "account", "region", "cluster", "namespace", "version_id", "standing",
/// "held_version_id", "done", "error"}]}`.
fn json(report: &Report, mode: Mode) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|r| {
            let (standing, held, done, error) = match &r.result {
                Ok((st, done)) => {
                    let held = match st {
                        Standing::Outdated { held } => held.clone(),
                        _ => None,
                    };
                    let done = match done {
                        Done::Nothing => "nothing",
                        Done::Written => "written",
                        Done::WouldWrite => "would-write",
                        Done::CreatedNamespaceAndWritten => "namespace-created-and-written",
                    };
                    (Some(st.as_str()), held, Some(done), None)
                }
                Err(e) => (None, None, None, Some(e.clone())),
            };
            serde_json::json!({
                "secret": r.target.secret,
                "account": r.target.cluster.account,
                "region": r.target.cluster.region,
                "cluster": r.target.cluster.name,
                "namespace": r.target.namespace,
                "version_id": r.version_id,
                "standing": standing,
                "held_version_id": held,
                "done": done,
                "error": error,
            })
        })
        .collect();
    serde_json::json!({
        "format_version": JSON_FORMAT,
        "mode": match mode { Mode::Status => "status", Mode::Push { .. } => "push" },
        "exit_code": report.exit_code(mode),
        "sources": report.sources,
        "targets": rows,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eksmgr_secrets::Target;

    fn row(account: &str, ns: &str, result: Result<(Standing, Done), String>) -> Row {
        Row {
            target: Target {
                secret: "app-credentials".into(),
                cluster: ClusterId {
                    account: account.into(),
                    region: "us-east-1".into(),
                    name: "workloads".into(),
                },
                namespace: ns.into(),
            },
            version_id: Some("v2".into()),
            result,
        }
    }

    fn report() -> Report {
        let mut r = Report::default();
        r.sources.insert(
            "app-credentials".into(),
            "arn:aws:secretsmanager:us-east-1:222222222222:secret:/EksManager/app-credentials-AbCdEf"
                .into(),
        );
        r.rows = vec![
            row("333333333333", "apps", Ok((Standing::Missing, Done::Written))),
            row(
                "333333333333",
                "jobs",
                Ok((Standing::Outdated { held: Some("v1".into()) }, Done::Written)),
            ),
            row("333333333333", "tools", Ok((Standing::Unmanaged, Done::Nothing))),
            row("444444444444", "apps", Ok((Standing::Current, Done::Nothing))),
            row("444444444444", "tools", Ok((Standing::NoNamespace, Done::Nothing))),
            row(
                "555555555555",
                "apps",
                Err("get namespace apps in cluster workloads@555555555555/us-east-1 failed: connection closed".into()),
            ),
        ];
        r
    }

    #[test]
    fn push_and_status_reports() {
        let r = report();
        let push = Mode::Push {
            dry_run: false,
            force: false,
            create_namespaces: false,
        };
        assert_eq!(r.exit_code(push), 1);
        insta::assert_snapshot!("push", text(&r, push, Styler::new(false)));
        insta::assert_json_snapshot!("push_json", json(&r, push));
        let mut status = report();
        status.rows.pop();
        for row in &mut status.rows {
            if let Ok((_, done)) = &mut row.result {
                *done = Done::Nothing;
            }
        }
        assert_eq!(status.exit_code(Mode::Status), 3);
        insta::assert_snapshot!("status", text(&status, Mode::Status, Styler::new(false)));
    }
}
