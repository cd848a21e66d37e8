//! Terraform-style human rendering of a plan (`+ ~ - -/+`, attribute by attribute, policy
//! documents as line diffs, a drift section per account, a summary line) and of apply events.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use eksmgr_engine::annotation::Reason;
use eksmgr_engine::apply::{ApplyEvent, ApplyOutcome};
use eksmgr_engine::diff::AttrDiff;
use eksmgr_engine::model::AttrValue;
use eksmgr_engine::model::Value;
use eksmgr_engine::plan::{Action, Drift, Plan, PlannedChange};

use super::Styler;
use super::textdiff::{Line, diff_lines};

/// Renders the whole plan.
pub fn plan(p: &Plan, s: Styler) -> String {
    let mut text = Vec::new();
    // Writing to a vector cannot fail, and the text is UTF-8.
    let _infallible = write_plan(p, s, &mut text);
    String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes the whole plan to `w` as it is rendered, one change at a time (a large plan is never
/// held whole as text).
pub fn write_plan(p: &Plan, s: Styler, w: &mut impl io::Write) -> io::Result<()> {
    let mut out = String::new();
    if !p.drift.is_empty() {
        drift(&mut out, &p.drift, s);
    }
    let changes: Vec<&PlannedChange> = p
        .changes
        .iter()
        .filter(|c| c.action.is_change() || c.adopt)
        .collect();
    if !changes.is_empty() {
        let _ = writeln!(out, "eksmgr will perform the following actions:\n");
        let mut by_account: BTreeMap<&str, Vec<&PlannedChange>> = BTreeMap::new();
        for c in changes {
            by_account
                .entry(c.address.account.as_str())
                .or_default()
                .push(c);
        }
        for (account, list) in by_account {
            let _ = writeln!(out, "{}", s.bold(&format!("Account {account}")));
            for c in list {
                change(&mut out, c, s);
                w.write_all(out.as_bytes())?;
                out.clear();
            }
        }
    }
    let awaiting: Vec<_> = p.deferred.iter().filter(|d| d.awaiting.is_some()).collect();
    if !awaiting.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            s.bold("Planned after this apply (they are reached through resources it creates; run plan again afterwards):")
        );
        for d in awaiting {
            let after = d
                .awaiting
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let _ = writeln!(out, "  {} {} (after {after})", s.dim("…"), d.address);
        }
        out.push('\n');
    }
    let unreadable: Vec<_> = p.unreadable().collect();
    if !unreadable.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            s.bold("Could not be planned (nothing will be done to these):")
        );
        for d in unreadable {
            let _ = writeln!(out, "  {} {}", s.red("!"), d.address);
            for line in d.reason.lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
        out.push('\n');
    }
    skipped_accounts(&mut out, p, s);
    for problem in &p.problems {
        let _ = writeln!(out, "{} {problem}", s.red("Error:"));
    }
    if !p.problems.is_empty() {
        out.push('\n');
    }
    for w in &p.warnings {
        let _ = writeln!(out, "{} {w}", s.yellow("Warning:"));
    }
    out.push_str(&summary(p, s));
    let blocked: Vec<_> = p.blocked().collect();
    if !blocked.is_empty() {
        let _ = writeln!(
            out,
            "\n{} {} change(s) are refused or need an explicit opt-in; apply refuses this plan until then:",
            s.red("Error:"),
            blocked.len()
        );
        for c in blocked {
            let _ = writeln!(
                out,
                "  - {}: {}",
                c.address,
                c.blocked.as_deref().unwrap_or_default()
            );
        }
    }
    w.write_all(out.as_bytes())
}

/// The spoke accounts left out of the plan, each with why and what to do.
pub fn skipped_accounts(out: &mut String, p: &Plan, s: Styler) {
    if p.skipped_accounts.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{}",
        s.bold("Skipped accounts (nothing is planned in these; the rest of the estate is):")
    );
    for a in &p.skipped_accounts {
        let name = if a.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.name)
        };
        let mark = if a.waiting {
            s.dim("…")
        } else {
            s.yellow("!")
        };
        let _ = writeln!(out, "  {mark} {}{name}: {}", a.account, a.reason);
        if a.waiting {
            let _ = writeln!(
                out,
                "      new account, not reachable yet: a later run plans it once the StackSet has deployed its spoke admin role"
            );
        } else {
            let _ = writeln!(out, "      To fix: {}", a.fix);
        }
    }
    out.push('\n');
}

/// The summary line.
pub fn summary(p: &Plan, s: Styler) -> String {
    if !p.has_changes() {
        return if p.drift.is_empty() {
            format!(
                "{} Your estate matches the configuration.\n",
                s.green("No changes.")
            )
        } else {
            format!(
                "{} The drift above needs no change: the configuration already allows it, or state will be refreshed on the next apply.\n",
                s.green("No changes.")
            )
        };
    }
    let n = p.summary();
    let mut line = format!(
        "{} {} to add, {} to change, {} to destroy",
        s.bold("Plan:"),
        n.add,
        n.change,
        n.destroy
    );
    if n.adopt > 0 {
        let _ = write!(line, ", {} to adopt", n.adopt);
    }
    if n.forget > 0 {
        let _ = write!(line, ", {} to forget", n.forget);
    }
    line.push_str(".\n");
    line
}

fn symbol(c: &PlannedChange, s: Styler) -> String {
    match c.action {
        Action::Create => s.green("+"),
        Action::Update => s.yellow("~"),
        Action::Replace => s.red("-/+"),
        Action::Delete => s.red("-"),
        Action::Forget => s.dim("-"),
        Action::NoOp => s.dim("="),
    }
}

fn headline(c: &PlannedChange) -> String {
    let what = match c.action {
        Action::Create => "will be created",
        Action::Update if c.adopt => "will be adopted and updated in place",
        Action::Update => "will be updated in place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be destroyed",
        Action::Forget if c.before.is_some() => "stays in AWS and will be removed from state",
        Action::Forget => "is gone from AWS and will be removed from state",
        Action::NoOp => "exists and will be adopted into state",
    };
    format!("# {} {what}", c.address)
}

/// One change as a block of text (also the body of the Markdown view's details).
pub(crate) fn change(out: &mut String, c: &PlannedChange, s: Styler) {
    let _ = writeln!(out, "  {}", s.bold(&headline(c)));
    // An adoption is in the headline already.
    if let Some(r) = c.reason.as_ref().filter(|r| **r != Reason::Adopted) {
        let _ = writeln!(out, "  # ({r})");
    }
    for n in &c.notes {
        let _ = writeln!(out, "  {} {n}", s.yellow("# note:"));
    }
    if let Some(b) = &c.blocked {
        let _ = writeln!(out, "  {} {b}", s.red("# blocked:"));
    }
    let _ = writeln!(out, "  {} {} {{", symbol(c, s), c.address);
    match c.action {
        Action::Create => {
            if let Some(after) = &c.after {
                let width = after.keys().map(|k| k.len()).max().unwrap_or(0);
                for (k, v) in after.iter() {
                    let val = match v {
                        AttrValue::Known(v) => value(v, 8),
                        AttrValue::Unknown { .. } => "(known after apply)".into(),
                    };
                    let _ = writeln!(out, "      {} {k:width$} = {val}", s.green("+"));
                }
            }
        }
        Action::Delete | Action::Forget => {
            if let Some(id) = &c.id {
                let _ = writeln!(out, "      {} id = {}", s.red("-"), quoted(id));
            }
        }
        _ => {
            for d in &c.attribute_diffs {
                attr_diff(out, d, s, 6);
            }
            let unchanged = c
                .after
                .as_ref()
                .map(|a| a.len().saturating_sub(c.attribute_diffs.len()))
                .unwrap_or(0);
            if unchanged > 0 {
                let _ = writeln!(
                    out,
                    "        {}",
                    s.dim(&format!("# ({unchanged} unchanged attributes hidden)"))
                );
            }
        }
    }
    let _ = writeln!(out, "    }}\n");
}

/// One attribute's change.
fn attr_diff(out: &mut String, d: &AttrDiff, s: Styler, indent: usize) {
    let pad = " ".repeat(indent);
    let marker = if d.forces_replacement {
        format!(" {}", s.red("# forces replacement"))
    } else {
        String::new()
    };
    let after_known = d.after.as_ref().and_then(AttrValue::known);
    let unknown = matches!(d.after, Some(AttrValue::Unknown { .. }));
    if d.document && !unknown {
        let old = d.before.as_ref().map(pretty).unwrap_or_default();
        let new = after_known.map(pretty).unwrap_or_default();
        let _ = writeln!(out, "{pad}{} {} ={marker}", s.yellow("~"), d.name);
        for line in diff_lines(&old, &new) {
            let _ = match line {
                Line::Same(l) => writeln!(out, "{pad}      {l}"),
                Line::Removed(l) => writeln!(out, "{pad}    {} {l}", s.red("-")),
                Line::Added(l) => writeln!(out, "{pad}    {} {l}", s.green("+")),
            };
        }
        return;
    }
    let before = d
        .before
        .as_ref()
        .map(|v| value(v, indent + 4))
        .unwrap_or_else(|| "null".into());
    let after = if unknown {
        "(known after apply)".to_string()
    } else {
        after_known
            .map(|v| value(v, indent + 4))
            .unwrap_or_else(|| "null".into())
    };
    let _ = writeln!(
        out,
        "{pad}{} {} = {before} -> {after}{marker}",
        s.yellow("~"),
        d.name
    );
}

/// The drift section (also the whole of a refresh-only plan).
pub fn drift(out: &mut String, drifts: &[Drift], s: Styler) {
    let _ = writeln!(
        out,
        "{}",
        s.bold("Drift: objects changed outside eksmgr since the last apply")
    );
    let _ = writeln!(out);
    let mut by_account: BTreeMap<&str, Vec<&Drift>> = BTreeMap::new();
    for d in drifts {
        by_account
            .entry(d.address.account.as_str())
            .or_default()
            .push(d);
    }
    for (account, list) in by_account {
        let _ = writeln!(out, "{}", s.bold(&format!("Account {account}")));
        for d in list {
            if d.deleted {
                let _ = writeln!(
                    out,
                    "  {} {} was deleted outside eksmgr\n",
                    s.red("-"),
                    d.address
                );
                continue;
            }
            let _ = writeln!(
                out,
                "  {} {} changed outside eksmgr {{",
                s.yellow("~"),
                d.address
            );
            for a in &d.attribute_diffs {
                attr_diff(out, a, s, 6);
            }
            let _ = writeln!(out, "    }}\n");
        }
    }
    let _ = writeln!(
        out,
        "{}\n",
        s.dim("Unless the configuration agrees with these changes, the plan below undoes them.")
    );
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| s.to_string())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A value on one line when short, else pretty-printed and indented.
fn value(v: &Value, indent: usize) -> String {
    let one = serde_json::to_string(v).unwrap_or_default();
    if one.len() <= 60 || !(v.is_object() || v.is_array()) {
        return one;
    }
    let pad = " ".repeat(indent);
    pretty(v)
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One progress line for an apply event (for stderr).
pub fn event(e: &ApplyEvent, s: Styler) -> String {
    match e {
        ApplyEvent::Started { address, action } => {
            let verb = match action {
                Action::Create => "Creating...",
                Action::Update => "Modifying...",
                Action::Replace => "Replacing...",
                Action::Delete => "Destroying...",
                Action::Forget => "Removing from state...",
                Action::NoOp => "Adopting...",
            };
            format!("{address}: {verb}")
        }
        ApplyEvent::Completed {
            address,
            action,
            id,
            elapsed,
        } => {
            let verb = match action {
                Action::Create => "Creation complete",
                Action::Update => "Modifications complete",
                Action::Replace => "Replacement complete",
                Action::Delete => "Destruction complete",
                Action::Forget => "Removed from state",
                Action::NoOp => "Adopted",
            };
            let id = id
                .as_deref()
                .map(|i| format!(" [id={i}]"))
                .unwrap_or_default();
            format!(
                "{address}: {} after {}s{id}",
                s.green(verb),
                elapsed.as_secs()
            )
        }
        ApplyEvent::Failed { address, error, .. } => {
            format!("{address}: {} {error}", s.red("Error:"))
        }
        ApplyEvent::Skipped {
            address, reason, ..
        } => {
            format!("{address}: {} ({reason})", s.yellow("Skipped"))
        }
        ApplyEvent::StateFailed { error } => format!(
            "{} steps can no longer be recorded in state: {error}\n  Starting no new operations; the ones under way finish and are kept in memory to be saved at the end.",
            s.red("Error:")
        ),
    }
}

/// The closing lines of an apply. Adopted and forgotten resources are counted apart from
/// the ones changed in AWS (shown only when there are any, as Terraform shows "imported").
pub fn outcome(o: &ApplyOutcome, verb: &str, s: Styler) -> String {
    let mut added = 0;
    let mut changed = 0;
    let mut destroyed = 0;
    let mut forgotten = 0;
    for (_, a) in &o.completed {
        match a {
            Action::Create => added += 1,
            Action::Update => changed += 1,
            Action::Replace => {
                added += 1;
                destroyed += 1
            }
            Action::Delete => destroyed += 1,
            Action::Forget => forgotten += 1,
            Action::NoOp => {}
        }
    }
    let mut counts = format!("{added} added, {changed} changed, {destroyed} destroyed");
    for (n, what) in [(o.adopted.len(), "adopted"), (forgotten, "forgotten")] {
        if n > 0 {
            let _ = write!(counts, ", {n} {what}");
        }
    }
    let mut out = String::new();
    if o.is_success() {
        let _ = writeln!(
            out,
            "{} Resources: {counts}.",
            s.green(&format!("{verb} complete!"))
        );
        return out;
    }
    let _ = write!(
        out,
        "{} Resources: {counts}; {} failed, {} not started",
        s.red(&format!("{verb} incomplete.")),
        o.failed.len(),
        o.skipped.len()
    );
    if !o.abandoned.is_empty() {
        let _ = write!(out, ", {} left running", o.abandoned.len());
    }
    let _ = writeln!(out, ".");
    for (a, e) in &o.failed {
        let _ = writeln!(out, "\n{} {a}\n  {e}", s.red("Error:"));
    }
    if let Some(e) = &o.state_error {
        let _ = writeln!(
            out,
            "\n{} a step could not be recorded in state, so no new operation was started: {e}",
            s.red("Error:")
        );
    }
    if !o.abandoned.is_empty() {
        let _ = writeln!(
            out,
            "\nLeft running in AWS when the run stopped waiting for them (each has an intent in the state; the next plan adopts what it made):"
        );
        for (a, action) in &o.abandoned {
            let _ = writeln!(out, "  - {a} ({})", action_name(*action));
        }
    }
    if o.interrupted {
        let _ = writeln!(
            out,
            "\nThe run was interrupted; what completed is recorded in state. Run `eksmgr apply` again to finish."
        );
    }
    out
}

/// How an operation is named in messages.
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Forget => "forget",
        Action::NoOp => "adopt",
    }
}
