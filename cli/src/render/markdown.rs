//! The plan as Markdown for a pull-request comment (`plan --format markdown`): a summary line
//! and a per-account table, risk labels a reviewer must see (a cluster replaced, a KMS key
//! deleted, a trust or resource policy widened, the SCP changed), drift, and each change in a
//! collapsible `diff` block. The whole comment stays under GitHub's comment size limit: when
//! the details do not fit, the remaining changes are listed by address only, and the comment
//! says so.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use eksmgr_engine::model::Value;
use eksmgr_engine::plan::{Action, Plan, PlannedChange};
use eksmgr_engine::risk;

use super::{Styler, human};

/// GitHub refuses comments over 65,536 characters; keep a margin for the wrapper text.
pub const COMMENT_LIMIT: usize = 60_000;

/// The plan as a Markdown comment of at most `limit` characters.
pub fn plan(p: &Plan, limit: usize) -> String {
    let plain = Styler::new(false);
    let mut head = String::new();
    let _ = writeln!(head, "### eksmgr plan\n");
    let _ = writeln!(head, "{}", human::summary(p, plain).trim_end());
    let changes: Vec<&PlannedChange> = p
        .changes
        .iter()
        .filter(|c| c.action.is_change() || c.adopt)
        .collect();
    let mut by_account: BTreeMap<&str, Vec<&PlannedChange>> = BTreeMap::new();
    for c in &changes {
        by_account
            .entry(c.address.account.as_str())
            .or_default()
            .push(c);
    }
    let mut drift_by_account: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &p.drift {
        *drift_by_account
            .entry(d.address.account.as_str())
            .or_default() += 1;
    }
    let accounts: BTreeSet<&str> = by_account
        .keys()
        .chain(drift_by_account.keys())
        .copied()
        .collect();
    if !accounts.is_empty() {
        let _ = writeln!(
            head,
            "\n| account | add | change | destroy | adopt | drifted |\n|---|---:|---:|---:|---:|---:|"
        );
        for a in &accounts {
            let list = by_account.get(a).cloned().unwrap_or_default();
            let count = |f: &dyn Fn(&PlannedChange) -> bool| list.iter().filter(|c| f(c)).count();
            let _ = writeln!(
                head,
                "| {a} | {} | {} | {} | {} | {} |",
                count(&|c| matches!(c.action, Action::Create | Action::Replace)),
                count(&|c| c.action == Action::Update),
                count(&|c| matches!(c.action, Action::Delete | Action::Replace)),
                count(&|c| c.adopt),
                drift_by_account.get(a).copied().unwrap_or(0)
            );
        }
    }
    let risky: Vec<(String, &'static str)> = changes
        .iter()
        .flat_map(|c| {
            risk::of(c)
                .into_iter()
                .map(|r| (c.address.to_string(), r.label()))
        })
        .collect();
    if !risky.is_empty() {
        let _ = writeln!(head, "\n**Risks** (review these first):\n");
        for (addr, r) in &risky {
            let _ = writeln!(head, "- :warning: **{r}**: `{addr}`");
        }
    }
    if !p.skipped_accounts.is_empty() {
        let _ = writeln!(
            head,
            "\n**Skipped accounts** (nothing is planned in these; the rest is):\n"
        );
        for a in &p.skipped_accounts {
            let name = if a.name.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.name)
            };
            let what = if a.waiting {
                "new account, not reachable yet: a later run plans it".to_string()
            } else {
                format!("to fix: {}", a.fix)
            };
            let _ = writeln!(
                head,
                "- `{}`{name}: {}. {}",
                a.account,
                a.reason.replace('\n', " "),
                what.replace('\n', " ")
            );
        }
    }
    for (title, items) in [("Errors", &p.problems), ("Warnings", &p.warnings)] {
        if !items.is_empty() {
            let _ = writeln!(head, "\n**{title}:**\n");
            for i in items.iter() {
                let _ = writeln!(head, "- {}", i.replace('\n', " "));
            }
        }
    }
    let unreadable: Vec<_> = p.unreadable().collect();
    if !unreadable.is_empty() {
        let _ = writeln!(
            head,
            "\n**Could not be checked** (not planned, no drift known):\n"
        );
        for d in unreadable {
            let _ = writeln!(head, "- `{}`: {}", d.address, d.reason.replace('\n', " "));
        }
    }

    // Details, in order: drift, then each account's changes; each block whole or not at all.
    let mut blocks: Vec<(String, String)> = Vec::new();
    for d in &p.drift {
        let mut body = String::new();
        if d.deleted {
            body.push_str("- deleted outside eksmgr\n");
        } else {
            for a in &d.attribute_diffs {
                let _ = writeln!(
                    body,
                    "~ {}: {} -> {}",
                    a.name,
                    compact(a.before.as_ref()),
                    compact(a.after.as_ref().and_then(|v| v.known()))
                );
            }
        }
        blocks.push((
            format!("Drift: `{}` changed outside eksmgr", d.address),
            body,
        ));
    }
    for list in by_account.values() {
        for c in list {
            let mut text = String::new();
            human::change(&mut text, c, plain);
            blocks.push((format!("`{}`: {}", c.address, verb(c)), text));
        }
    }
    let mut out = head;
    let mut omitted: Vec<&str> = Vec::new();
    let footer_room = 200
        + blocks
            .iter()
            .map(|(t, _)| t.len() + 4)
            .sum::<usize>()
            .min(limit / 4);
    for (title, body) in &blocks {
        let block = format!(
            "\n<details><summary>{title}</summary>\n\n```diff\n{}\n```\n</details>\n",
            body.trim_end().replace("```", "'''")
        );
        if omitted.is_empty() && out.len() + block.len() + footer_room <= limit {
            out.push_str(&block);
        } else {
            omitted.push(title);
        }
    }
    if !omitted.is_empty() {
        let _ = writeln!(
            out,
            "\n**{} more change(s) not shown in detail**: the plan is too large for one comment. Run `eksmgr plan` for the full plan.\n",
            omitted.len()
        );
        for t in omitted {
            let line = format!("- {t}\n");
            if out.len() + line.len() + 60 > limit {
                out.push_str("- … (list truncated)\n");
                break;
            }
            out.push_str(&line);
        }
    }
    out
}

fn verb(c: &PlannedChange) -> &'static str {
    match c.action {
        Action::Create => "create",
        Action::Update if c.adopt => "adopt and update",
        Action::Update => "update in place",
        Action::Replace => "**replace**",
        Action::Delete => "**destroy**",
        Action::Forget if c.before.is_some() => "forget (left in AWS)",
        Action::Forget => "forget (already gone)",
        Action::NoOp => "adopt",
    }
}

fn compact(v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 200 {
                format!(
                    "{}…",
                    &s[..s.char_indices().nth(200).map_or(s.len(), |(i, _)| i)]
                )
            } else {
                s
            }
        }
    }
}
