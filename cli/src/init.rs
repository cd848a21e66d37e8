//! `eksmgr init`: writes a commented `eksmgr.toml` for the caller's organization.
//!
//! The organization is read with the caller's credentials ([`eksmgr_providers::org_tree`]);
//! the EKS OU and the hub account come from `--eks-ou` and `--hub-account`, or are asked for
//! when stdin and stderr are terminals (numbered choices, with a default: an OU whose name
//! contains "eks", an account whose name contains "hub" or "shared"). Without a terminal and
//! without the flags, init fails and lists the choices. The text is made by [`render`], a pure
//! function of the organization and the choices, and is validated as `eksmgr validate` would
//! before anything is written; an existing file is overwritten only with `--force`.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use eksmgr_providers::org_tree::{OrgAccount, OrgTree, OrgUnit};

use crate::cli::{Cli, InitArgs};

/// The region written when neither `--region`, the environment nor the profile name one.
const DEFAULT_REGION: &str = "us-east-1";
/// At most this many OUs, and accounts, are listed in the file's comments.
const MAX_LISTED: usize = 200;
/// At most this many spokes get a commented override in the cluster template.
const MAX_OVERRIDES: usize = 20;

/// What the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    /// The OU of the EKS spokes.
    pub eks_ou_id: String,
    /// The hub account.
    pub hub_account_id: String,
    /// `organization.home_region`.
    pub home_region: String,
}

/// Runs `eksmgr init`.
pub async fn run(cli: &Cli, args: &InitArgs) -> Result<u8> {
    let out = args.out.clone().unwrap_or_else(|| cli.config.clone());
    if !args.force && out.exists() {
        bail!(
            "{} exists already; nothing was written: pass --force to overwrite it, or --out FILE to write another file",
            out.display()
        );
    }
    let caller = cli.caller();
    let base = eksmgr_providers::caller::sdk_config(&caller, DEFAULT_REGION)
        .await
        .context("cannot load the caller's AWS configuration")?;
    let region = caller
        .region
        .clone()
        .or_else(|| base.region().map(ToString::to_string))
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let who = eksmgr_providers::caller::identity(&base, "of the caller")
        .await
        .context("cannot find out who the caller is")?;
    let tree = eksmgr_providers::org_tree::read(&base, &who)
        .await
        .context("cannot read the organization")?;
    if tree.units.is_empty() {
        bail!(
            "organization {} has no organizational unit: create one for the EKS spoke accounts (`aws organizations create-organizational-unit --parent-id {} --name eks`), move the spoke accounts into it, and run `eksmgr init` again",
            tree.organization_id,
            tree.root_id
        );
    }

    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let choices = if interactive && (args.eks_ou.is_none() || args.hub_account.is_none()) {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut prompt = std::io::stderr().lock();
        ask(
            &tree,
            args,
            cli.region.is_none(),
            &region,
            &mut input,
            &mut prompt,
        )?
    } else {
        from_flags(&tree, args, &region)?
    };

    let text = render(&tree, &choices);
    write_checked(&out, &text, args.force)?;
    let schema = write_schema(&out)?;

    let ou = tree.unit(&choices.eks_ou_id);
    let spokes = spokes(&tree, &choices).len();
    let hub = tree.account(&choices.hub_account_id);
    println!(
        "Wrote {} for organization {}: EKS OU {} ({}, {spokes} spoke account(s) today), hub account {}{}, home region {}.",
        out.display(),
        tree.organization_id,
        ou.map_or("?", |u| u.path.as_str()),
        choices.eks_ou_id,
        choices.hub_account_id,
        hub.map(|a| format!(" ({})", a.name)).unwrap_or_default(),
        choices.home_region
    );
    println!(
        "Wrote {} beside it: editors with a TOML language server (taplo, Even Better TOML) complete and check the file with it.",
        schema.display()
    );
    let config_flag = if out == Path::new("eksmgr.toml") {
        String::new()
    } else {
        format!(" -c {}", out.display())
    };
    println!(
        "Next: review it (uncomment and fill in the cluster template), then run `eksmgr{config_flag} validate` and `eksmgr{config_flag} plan`."
    );
    Ok(0)
}

/// The choices given as flags; a missing one fails with the list to choose from.
fn from_flags(tree: &OrgTree, args: &InitArgs, region: &str) -> Result<Choices> {
    let (Some(ou), Some(hub)) = (&args.eks_ou, &args.hub_account) else {
        let mut msg = String::from(
            "`eksmgr init` asks for the EKS OU and the hub account only on a terminal; without one, pass them as flags:",
        );
        if args.eks_ou.is_none() {
            msg.push_str("\n  --eks-ou OU_ID_OR_NAME, one of:");
            for line in ou_lines(tree) {
                let _ = write!(msg, "\n      {line}");
            }
        }
        if args.hub_account.is_none() {
            msg.push_str("\n  --hub-account ID, one of:");
            for line in account_lines(tree, &tree.accounts.iter().collect::<Vec<_>>(), &|_| None) {
                let _ = write!(msg, "\n      {line}");
            }
        }
        let ou = match &args.eks_ou {
            Some(o) => o.clone(),
            None => default_ou(tree).map_or_else(|| "OU_ID".to_string(), |u| u.id.clone()),
        };
        let hub = match &args.hub_account {
            Some(h) => h.clone(),
            None => find_ou(tree, &ou)
                .ok()
                .and_then(|u| default_hub(tree, &u.id))
                .map_or_else(|| "ACCOUNT_ID".to_string(), |a| a.id.clone()),
        };
        let _ = write!(
            msg,
            "\ne.g. eksmgr init --eks-ou {ou} --hub-account {hub} --region {region}"
        );
        bail!(msg);
    };
    let ou = find_ou(tree, ou).map_err(|e| anyhow::anyhow!("--eks-ou {ou}: {e}"))?;
    let hub = find_account(tree, hub).map_err(|e| anyhow::anyhow!("--hub-account {hub}: {e}"))?;
    Ok(Choices {
        eks_ou_id: ou.id.clone(),
        hub_account_id: hub.id.clone(),
        home_region: region.to_string(),
    })
}

/// Asks on `prompt` (stderr) and reads the answers from `input` (stdin), for the choices not
/// given as flags; the home region too when `ask_region`.
fn ask(
    tree: &OrgTree,
    args: &InitArgs,
    ask_region: bool,
    region: &str,
    input: &mut dyn BufRead,
    prompt: &mut dyn Write,
) -> Result<Choices> {
    writeln!(
        prompt,
        "Organization {} (management account {}): {} OU(s), {} account(s).",
        tree.organization_id,
        tree.management_account_id,
        tree.units.len(),
        tree.accounts.len()
    )?;
    let ou = match &args.eks_ou {
        Some(o) => find_ou(tree, o).map_err(|e| anyhow::anyhow!("--eks-ou {o}: {e}"))?,
        None => {
            let units: Vec<&OrgUnit> = tree.units.iter().collect();
            let default = default_ou(tree)
                .and_then(|d| units.iter().position(|u| u.id == d.id))
                .unwrap_or(0);
            let i = choose(
                input,
                prompt,
                "\nWhich OU holds the EKS spoke accounts (every active account in it becomes a spoke)?",
                &ou_lines(tree),
                default,
                "EKS OU",
                |answer| {
                    find_ou(tree, answer)
                        .ok()
                        .and_then(|u| units.iter().position(|x| x.id == u.id))
                },
            )?;
            units[i]
        }
    };
    let hub = match &args.hub_account {
        Some(h) => find_account(tree, h).map_err(|e| anyhow::anyhow!("--hub-account {h}: {e}"))?,
        None => {
            let candidates = hub_candidates(tree, &ou.id);
            let default = default_hub(tree, &ou.id)
                .and_then(|d| candidates.iter().position(|a| a.id == d.id))
                .unwrap_or(0);
            let i = choose(
                input,
                prompt,
                "\nWhich account is the hub (shared services: eksmgr's agent role and the ECR registry)?",
                &account_lines(tree, &candidates, &|_| None),
                default,
                "Hub account",
                |answer| {
                    find_account(tree, answer)
                        .ok()
                        .and_then(|a| candidates.iter().position(|x| x.id == a.id))
                },
            )?;
            candidates[i]
        }
    };
    let home_region = if ask_region {
        write!(
            prompt,
            "\nHome region (the StackSet's, and the default of every resource) [{region}]: "
        )?;
        prompt.flush()?;
        let answer = read_answer(input)?;
        if answer.is_empty() {
            region.to_string()
        } else {
            answer
        }
    } else {
        region.to_string()
    };
    Ok(Choices {
        eks_ou_id: ou.id.clone(),
        hub_account_id: hub.id.clone(),
        home_region,
    })
}

/// Shows numbered `lines` and reads a choice: a number, or anything `by_text` recognises
/// (an id, a name); an empty answer takes `default`. Asks again after a wrong answer.
fn choose(
    input: &mut dyn BufRead,
    prompt: &mut dyn Write,
    question: &str,
    lines: &[String],
    default: usize,
    label: &str,
    by_text: impl Fn(&str) -> Option<usize>,
) -> Result<usize> {
    writeln!(prompt, "{question}")?;
    let width = lines.len().to_string().len();
    for (i, line) in lines.iter().enumerate() {
        writeln!(prompt, "  {:>width$}) {line}", i + 1)?;
    }
    for _ in 0..5 {
        write!(prompt, "{label} [{}]: ", default + 1)?;
        prompt.flush()?;
        let answer = read_answer(input)?;
        if answer.is_empty() {
            return Ok(default);
        }
        if let Ok(n) = answer.parse::<usize>()
            && (1..=lines.len()).contains(&n)
        {
            return Ok(n - 1);
        }
        if let Some(i) = by_text(&answer) {
            return Ok(i);
        }
        writeln!(
            prompt,
            "  {answer:?} is not one of the choices: answer a number from 1 to {}, an id or a name",
            lines.len()
        )?;
    }
    bail!("no valid answer for the {label}; nothing was written")
}

/// One trimmed line of input; the end of input is an error (nothing to choose with).
fn read_answer(input: &mut dyn BufRead) -> Result<String> {
    let mut line = String::new();
    let n = input
        .read_line(&mut line)
        .context("cannot read the answer")?;
    if n == 0 {
        bail!("the input ended before every question was answered; nothing was written");
    }
    Ok(line.trim().to_string())
}

/// The OU named by `text`: its id, its path (`/eks/prod`, the leading `/` optional) or its
/// name (any case), which must then be unique.
fn find_ou<'a>(tree: &'a OrgTree, text: &str) -> Result<&'a OrgUnit, String> {
    let text = text.trim();
    if let Some(u) = tree.unit(text) {
        return Ok(u);
    }
    let path = if text.starts_with('/') {
        text.to_string()
    } else {
        format!("/{text}")
    };
    if let Some(u) = tree.units.iter().find(|u| u.path == path) {
        return Ok(u);
    }
    let named: Vec<&OrgUnit> = tree
        .units
        .iter()
        .filter(|u| u.name.eq_ignore_ascii_case(text))
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no OU has this id, path or name; the OUs are:\n      {}",
            ou_lines(tree).join("\n      ")
        )),
        many => Err(format!(
            "{} OUs have this name; give the id or the path of one: {}",
            many.len(),
            many.iter()
                .map(|u| format!("{} ({})", u.id, u.path))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The account named by `text`: its id, or its name (any case), which must then be unique.
fn find_account<'a>(tree: &'a OrgTree, text: &str) -> Result<&'a OrgAccount, String> {
    let text = text.trim();
    if let Some(a) = tree.account(text) {
        return Ok(a);
    }
    let named: Vec<&OrgAccount> = tree
        .accounts
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(text))
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no account of organization {} has this id or name; the accounts are:\n      {}",
            tree.organization_id,
            account_lines(tree, &tree.accounts.iter().collect::<Vec<_>>(), &|_| None)
                .join("\n      ")
        )),
        many => Err(format!(
            "{} accounts have this name; give the id of one: {}",
            many.len(),
            many.iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The suggested EKS OU: the first (by path) whose name contains "eks", else the first OU.
fn default_ou(tree: &OrgTree) -> Option<&OrgUnit> {
    tree.units
        .iter()
        .find(|u| u.name.to_ascii_lowercase().contains("eks"))
        .or_else(|| tree.units.first())
}

/// The accounts offered as the hub: the active accounts outside the EKS OU (nested OUs
/// included), or every account when there is none.
fn hub_candidates<'a>(tree: &'a OrgTree, eks_ou: &str) -> Vec<&'a OrgAccount> {
    let inside: Vec<&str> = tree
        .accounts_under(eks_ou)
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    let outside: Vec<&OrgAccount> = tree
        .accounts
        .iter()
        .filter(|a| a.is_active() && !inside.contains(&a.id.as_str()))
        .collect();
    if outside.is_empty() {
        tree.accounts.iter().collect()
    } else {
        outside
    }
}

/// The suggested hub: a candidate whose name contains "hub", else "shared", else the first
/// candidate that is not the management account.
fn default_hub<'a>(tree: &'a OrgTree, eks_ou: &str) -> Option<&'a OrgAccount> {
    let candidates = hub_candidates(tree, eks_ou);
    let named = |word: &str| {
        candidates
            .iter()
            .find(|a| a.name.to_ascii_lowercase().contains(word))
            .copied()
    };
    named("hub")
        .or_else(|| named("shared"))
        .or_else(|| {
            candidates
                .iter()
                .find(|a| a.id != tree.management_account_id)
                .copied()
        })
        .or_else(|| candidates.first().copied())
}

/// The spokes a plan would find today: the active accounts directly in the EKS OU, but the
/// hub and the management account.
fn spokes<'a>(tree: &'a OrgTree, c: &Choices) -> Vec<&'a OrgAccount> {
    tree.accounts_in(&c.eks_ou_id)
        .filter(|a| a.is_active() && a.id != c.hub_account_id && a.id != tree.management_account_id)
        .collect()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Names from AWS are shown in comments: no control characters (a line break would end the
/// comment).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A TOML basic string (JSON's string escapes are valid TOML ones).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", clean(s)))
}

/// The accounts of an OU, directly and with its nested OUs: `2 accounts (5 with nested OUs)`.
fn ou_count(tree: &OrgTree, u: &OrgUnit) -> String {
    let direct = tree.accounts_in(&u.id).count();
    let all = tree.accounts_under(&u.id).len();
    if all == direct {
        plural(direct, "account")
    } else {
        format!("{} ({all} with nested OUs)", plural(direct, "account"))
    }
}

/// One aligned line per OU: path, id, account counts.
fn ou_lines(tree: &OrgTree) -> Vec<String> {
    let path_w = tree
        .units
        .iter()
        .map(|u| clean(&u.path).chars().count())
        .max()
        .unwrap_or(0);
    let id_w = tree.units.iter().map(|u| u.id.len()).max().unwrap_or(0);
    tree.units
        .iter()
        .map(|u| {
            format!(
                "{:<path_w$}  {:<id_w$}  {}",
                clean(&u.path),
                u.id,
                ou_count(tree, u)
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

/// One aligned line per account: id, name, the path of its OU, then what `mark` says of it,
/// whether it is the management account, and its status when not active.
fn account_lines(
    tree: &OrgTree,
    accounts: &[&OrgAccount],
    mark: &dyn Fn(&OrgAccount) -> Option<&'static str>,
) -> Vec<String> {
    let name_w = accounts
        .iter()
        .map(|a| clean(&a.name).chars().count())
        .max()
        .unwrap_or(0);
    let path_w = accounts
        .iter()
        .map(|a| clean(tree.path_of(&a.parent_id)).chars().count())
        .max()
        .unwrap_or(0);
    accounts
        .iter()
        .map(|a| {
            let mut notes: Vec<String> = mark(a).into_iter().map(str::to_string).collect();
            if a.id == tree.management_account_id {
                notes.push("(management account)".into());
            }
            if !a.is_active() {
                notes.push(format!("({})", a.status));
            }
            format!(
                "{}  {:<name_w$}  {:<path_w$}  {}",
                a.id,
                clean(&a.name),
                clean(tree.path_of(&a.parent_id)),
                notes.join("  ")
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

/// The text of `eksmgr.toml` for `tree` and `c`: the chosen settings, a commented cluster
/// template, and, as comments, the OUs and accounts found (to pick other ids from).
pub fn render(tree: &OrgTree, c: &Choices) -> String {
    let mut t = String::new();
    let ou = tree.unit(&c.eks_ou_id);
    let ou_path = ou.map_or_else(|| c.eks_ou_id.clone(), |u| clean(&u.path));
    let hub = tree.account(&c.hub_account_id);
    let spokes = spokes(tree, c);
    let partition = tree.caller.partition();

    // Taplo (and the editors built on it) read the schema this line names: completion,
    // descriptions on hover and checks as you type.
    let _ = writeln!(t, "#:schema ./{SCHEMA_FILE}");
    let _ = writeln!(
        t,
        "# eksmgr.toml for AWS Organization {}, written by `eksmgr init`.",
        tree.organization_id
    );
    t.push_str(
        "#
# eksmgr manages the estate declared here: `eksmgr validate` checks this file offline,
# `eksmgr plan` shows what would change in AWS, `eksmgr apply` makes the changes. Uncomment and
# edit what you need; every key left out takes its documented default. The OUs and accounts
# found in the organization are listed at the end.

[organization]
# The management account of the organization. eksmgr runs with its credentials (or a delegated
# administrator's); leave it out to take the account of the credentials eksmgr runs with.
",
    );
    let _ = writeln!(
        t,
        "management_account_id = {}",
        quoted(&tree.management_account_id)
    );
    let _ = writeln!(
        t,
        "# The OU whose active accounts are the EKS spokes: {ou_path}, {} today.",
        plural(spokes.len(), "spoke account")
    );
    let _ = writeln!(t, "eks_ou_id = {}", quoted(&c.eks_ou_id));
    t.push_str("# The region of the StackSet, and the default region of every resource.\n");
    let _ = writeln!(t, "home_region = {}", quoted(&c.home_region));

    t.push_str(
        "\n[hub]\n# The hub (shared services) account: eksmgr creates its agent role there, which assumes the\n# spoke admin roles, and the ECR registry.",
    );
    if let Some(a) = hub {
        let _ = write!(
            t,
            " This is `{}` ({}).",
            clean(&a.name),
            clean(tree.path_of(&a.parent_id))
        );
    }
    t.push('\n');
    let _ = writeln!(t, "account_id = {}", quoted(&c.hub_account_id));
    t.push_str(
        "# The role eksmgr assumes from the management account to reach the hub.
# access_role_name = \"OrganizationAccountAccessRole\"

# Repositories of the hub registry: every spoke's nodes may pull, its build pods may push.
# [[hub.ecr_repositories]]
# name = \"platform/api\"

[spokes]
# Every active account of the EKS OU is a spoke, found again on every plan (the hub and the
# management account never are).
discover = true
",
    );
    t.push_str("# Also make the accounts of the OUs nested under the EKS OU spokes.");
    let nested = tree.nested_units(&c.eks_ou_id);
    if !nested.is_empty() {
        let nested_accounts = tree
            .accounts_under(&c.eks_ou_id)
            .len()
            .saturating_sub(tree.accounts_in(&c.eks_ou_id).count());
        let mut paths: Vec<String> = nested.iter().take(5).map(|u| clean(&u.path)).collect();
        if nested.len() > 5 {
            paths.push("...".into());
        }
        let _ = write!(
            t,
            " The EKS OU has {}\n# with {} in them: {}.",
            plural(nested.len(), "nested OU"),
            plural(nested_accounts, "account"),
            paths.join(", ")
        );
    }
    t.push('\n');
    t.push_str("include_nested_ous = false\n");

    t.push_str(
        "
# A cluster in every spoke (`account = \"*\"`), with what differs per account under
# `[clusters.overrides.\"ACCOUNT_ID\"]`. Uncomment it, then give each spoke's subnets (in at
# least two availability zones). Each cluster gets its own KMS key, control plane and node
# roles, and access entries.
#
# [[clusters]]
# name = \"main\"
# account = \"*\"
# version = \"1.35\"
# logging = [\"api\", \"audit\", \"authenticator\"]
# tags = { team = \"platform\" }
",
    );
    for a in spokes.iter().take(MAX_OVERRIDES) {
        let _ = writeln!(
            t,
            "#\n# [clusters.overrides.\"{}\"]  # {}",
            a.id,
            clean(&a.name)
        );
        t.push_str("# subnet_ids = [\"subnet-...\", \"subnet-...\"]\n");
    }
    if spokes.len() > MAX_OVERRIDES {
        let _ = writeln!(
            t,
            "#\n# ... and the {} other spokes of the EKS OU listed below.",
            spokes.len() - MAX_OVERRIDES
        );
    }
    if spokes.is_empty() {
        t.push_str(
            "#\n# [clusters.overrides.\"ACCOUNT_ID\"]  # the EKS OU has no spoke yet\n# subnet_ids = [\"subnet-...\", \"subnet-...\"]\n",
        );
    }
    let _ = write!(
        t,
        "
# Who may use the clusters: e.g. an IAM Identity Center permission set's role as cluster
# admin in every cluster.
# [access]
# admin_principal_arn = \"arn:{partition}:iam::*:role/AWSReservedSSO_PlatformAdmin_*\"
"
    );

    t.push_str(
        "
# ---------------------------------------------------------------------------------------------
",
    );
    let _ = writeln!(
        t,
        "# Found in organization {} by `eksmgr init` (root {}), to pick other ids from.",
        tree.organization_id, tree.root_id
    );
    t.push_str("#\n# Organizational units: path, id, accounts in it\n");
    let lines = ou_lines(tree);
    for (u, line) in tree.units.iter().zip(&lines).take(MAX_LISTED) {
        if u.id == c.eks_ou_id {
            let _ = writeln!(t, "#   {line}  <- organization.eks_ou_id");
        } else {
            let _ = writeln!(t, "#   {line}");
        }
    }
    if lines.len() > MAX_LISTED {
        let _ = writeln!(t, "#   ... and {} more", lines.len() - MAX_LISTED);
    }
    t.push_str("#\n# Accounts: id, name, OU\n");
    let accounts: Vec<&OrgAccount> = tree.accounts.iter().collect();
    let spoke_ids: Vec<&str> = spokes.iter().map(|a| a.id.as_str()).collect();
    let lines = account_lines(tree, &accounts, &|a| {
        if a.id == c.hub_account_id {
            Some("<- hub.account_id")
        } else if spoke_ids.contains(&a.id.as_str()) {
            Some("spoke")
        } else {
            None
        }
    });
    for line in lines.iter().take(MAX_LISTED) {
        let _ = writeln!(t, "#   {line}");
    }
    if lines.len() > MAX_LISTED {
        let _ = writeln!(t, "#   ... and {} more", lines.len() - MAX_LISTED);
    }
    t
}

/// The JSON Schema's file, beside the configuration (named by its `#:schema` line).
const SCHEMA_FILE: &str = "eksmgr.schema.json";

/// Writes the JSON Schema of this eksmgr beside the configuration `out` (replacing an older
/// one: it is generated, like `eksmgr schema`'s); returns its path.
fn write_schema(out: &Path) -> Result<PathBuf> {
    let path = crate::store::dir_of(out).join(SCHEMA_FILE);
    let tmp = path.with_file_name(format!(".{SCHEMA_FILE}.init-{}", std::process::id()));
    let written = std::fs::write(&tmp, eksmgr_engine::config::schema::json_schema_text())
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Writes `text` to `out` only if it loads as `eksmgr validate` loads a configuration: written
/// beside `out` first, checked, then moved into place (over an existing file only with
/// `force`).
fn write_checked(out: &Path, text: &str, force: bool) -> Result<()> {
    let shown = out.display().to_string();
    if let Err(errors) = eksmgr_engine::config::parse(text, &shown) {
        bail!(
            "the configuration init made does not validate, so nothing was written (please report this):\n{errors}"
        );
    }
    let dir = crate::store::dir_of(out);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = out.file_name().map_or_else(
        || "eksmgr.toml".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{name}.init-{}", std::process::id()));
    let result = write_then_move(&tmp, out, text, force);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_move(tmp: &Path, out: &Path, text: &str, force: bool) -> Result<()> {
    let mut file =
        std::fs::File::create(tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(file);
    eksmgr_engine::config::load(tmp).map_err(|errors| {
        anyhow::anyhow!(
            "the configuration init wrote does not load back, so nothing was written:\n{errors}"
        )
    })?;
    if force {
        return std::fs::rename(tmp, out)
            .with_context(|| format!("cannot write {}", out.display()));
    }
    // Never over a file that appeared meanwhile: a hard link fails if `out` exists.
    match std::fs::hard_link(tmp, out) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} exists already; nothing was written: pass --force to overwrite it",
            out.display()
        ),
        // A file system without hard links.
        Err(_) if !out.exists() => {
            std::fs::rename(tmp, out).with_context(|| format!("cannot write {}", out.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", out.display())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use eksmgr_providers::caller::CallerIdentity;

    fn tree() -> OrgTree {
        let unit = |id: &str, parent: &str, path: &str| OrgUnit {
            id: id.into(),
            name: path.rsplit('/').next().unwrap().into(),
            parent_id: parent.into(),
            path: path.into(),
        };
        let account = |id: &str, name: &str, parent: &str, status: &str| OrgAccount {
            id: id.into(),
            name: name.into(),
            email: format!("{name}@example.com"),
            status: status.into(),
            parent_id: parent.into(),
        };
        OrgTree {
            organization_id: "o-abcdef1234".into(),
            management_account_id: "111111111111".into(),
            caller: CallerIdentity {
                account: "111111111111".into(),
                arn: "arn:aws:iam::111111111111:user/admin".into(),
                user_id: "AIDAEXAMPLE".into(),
            },
            root_id: "r-ab12".into(),
            units: vec![
                unit("ou-ab12-11111111", "r-ab12", "/Platform EKS"),
                unit(
                    "ou-ab12-33333333",
                    "ou-ab12-11111111",
                    "/Platform EKS/sandbox",
                ),
                unit("ou-ab12-22222222", "r-ab12", "/shared"),
            ],
            accounts: vec![
                account("111111111111", "management", "r-ab12", "ACTIVE"),
                account("333333333333", "spoke-1", "ou-ab12-11111111", "ACTIVE"),
                account("444444444444", "spoke-2", "ou-ab12-11111111", "ACTIVE"),
                account("555555555555", "old", "ou-ab12-11111111", "SUSPENDED"),
                account("666666666666", "play", "ou-ab12-33333333", "ACTIVE"),
                account(
                    "222222222222",
                    "shared-services",
                    "ou-ab12-22222222",
                    "ACTIVE",
                ),
            ],
        }
    }

    fn choices() -> Choices {
        Choices {
            eks_ou_id: "ou-ab12-11111111".into(),
            hub_account_id: "222222222222".into(),
            home_region: "eu-west-1".into(),
        }
    }

    fn args(ou: Option<&str>, hub: Option<&str>) -> InitArgs {
        InitArgs {
            eks_ou: ou.map(str::to_string),
            hub_account: hub.map(str::to_string),
            out: None,
            force: false,
        }
    }

    #[test]
    fn the_generated_file_is_valid_and_holds_the_choices() {
        let text = render(&tree(), &choices());
        let config = eksmgr_engine::config::parse(&text, "eksmgr.toml").unwrap();
        assert_eq!(config.organization.eks_ou_id.as_str(), "ou-ab12-11111111");
        assert_eq!(config.organization.home_region, "eu-west-1");
        assert_eq!(
            config.organization.management_account_id.unwrap().as_str(),
            "111111111111"
        );
        assert_eq!(config.hub.account_id.as_str(), "222222222222");
        assert!(config.clusters.is_empty());
        insta::assert_snapshot!(text);
    }

    #[test]
    fn the_commented_cluster_template_is_valid_once_uncommented() {
        let text = render(&tree(), &choices());
        let start = text.find("# [[clusters]]").unwrap();
        let end = text[start..].find("\n\n").unwrap() + start;
        let mut uncommented = text[..start].to_string();
        for line in text[start..end].lines() {
            let line = line.strip_prefix("# ").or(line.strip_prefix('#')).unwrap();
            uncommented.push_str(&line.replace("subnet-...", "subnet-0a1b2c3d4e5f60718"));
            uncommented.push('\n');
        }
        let config = eksmgr_engine::config::parse(&uncommented, "eksmgr.toml")
            .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(config.clusters.len(), 1);
        assert_eq!(
            config.clusters[0].overrides.len(),
            2,
            "the two active spokes"
        );
    }

    #[test]
    fn names_from_aws_cannot_break_out_of_comments_or_strings() {
        let mut t = tree();
        t.accounts[1].name = "evil\n[hub]\naccount_id = \"999999999999\"".into();
        t.units[0].name = "x\ny".into();
        t.units[0].path = "/x\ny".into();
        let mut c = choices();
        c.home_region = "eu-west-1\"\n[x]".into();
        let text = render(&t, &c);
        // Only the region, which the file must hold as typed, makes it invalid.
        let err = eksmgr_engine::config::parse(&text, "eksmgr.toml").unwrap_err();
        assert!(!err.to_string().contains("duplicate"), "{err}");
        c.home_region = "eu-west-1".into();
        let config = eksmgr_engine::config::parse(&render(&t, &c), "eksmgr.toml").unwrap();
        assert_eq!(config.hub.account_id.as_str(), "222222222222");
    }

    #[test]
    fn ous_are_found_by_id_path_or_name_and_accounts_by_id_or_name() {
        let t = tree();
        for text in [
            "ou-ab12-33333333",
            "/Platform EKS/sandbox",
            "Platform EKS/sandbox",
            "SANDBOX",
        ] {
            assert_eq!(find_ou(&t, text).unwrap().id, "ou-ab12-33333333", "{text}");
        }
        let err = find_ou(&t, "nope").unwrap_err();
        assert!(
            err.contains("ou-ab12-22222222") && err.contains("/shared"),
            "{err}"
        );
        assert_eq!(
            find_account(&t, "Shared-Services").unwrap().id,
            "222222222222"
        );
        assert!(
            find_account(&t, "999999999999")
                .unwrap_err()
                .contains("spoke-1")
        );
    }

    #[test]
    fn defaults_are_an_eks_ou_and_a_hub_or_shared_account_outside_it() {
        let t = tree();
        assert_eq!(default_ou(&t).unwrap().id, "ou-ab12-11111111");
        assert_eq!(
            default_hub(&t, "ou-ab12-11111111").unwrap().id,
            "222222222222"
        );
        let candidates: Vec<&str> = hub_candidates(&t, "ou-ab12-11111111")
            .iter()
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(candidates, ["111111111111", "222222222222"]);
    }

    #[test]
    fn without_flags_the_error_names_the_flags_and_lists_the_choices() {
        let t = tree();
        let err = from_flags(&t, &args(None, None), "us-east-1")
            .unwrap_err()
            .to_string();
        for needle in [
            "--eks-ou OU_ID_OR_NAME",
            "--hub-account ID",
            "ou-ab12-11111111",
            "/Platform EKS/sandbox",
            "222222222222",
            "shared-services",
            "e.g. eksmgr init --eks-ou ou-ab12-11111111 --hub-account 222222222222",
        ] {
            assert!(err.contains(needle), "{needle} missing from:\n{err}");
        }
        let err = from_flags(&t, &args(Some("shared"), None), "us-east-1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("--eks-ou OU_ID_OR_NAME"), "{err}");
        let c = from_flags(
            &t,
            &args(Some("Platform EKS"), Some("222222222222")),
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(c, choices());
    }

    #[test]
    fn the_questions_take_numbers_names_and_defaults() {
        let t = tree();
        // A wrong answer, then a name for the OU; the default hub; a region.
        let mut input = std::io::Cursor::new("9\nsandbox\n\neu-central-1\n");
        let mut prompt = Vec::new();
        let c = ask(
            &t,
            &args(None, None),
            true,
            "us-east-1",
            &mut input,
            &mut prompt,
        )
        .unwrap();
        assert_eq!(c.eks_ou_id, "ou-ab12-33333333");
        assert_eq!(c.hub_account_id, "222222222222");
        assert_eq!(c.home_region, "eu-central-1");
        let shown = String::from_utf8(prompt).unwrap();
        assert!(shown.contains("EKS OU [1]: "), "{shown}");
        assert!(shown.contains("\"9\" is not one of the choices"), "{shown}");
        // Defaults everywhere, the region not asked when given as a flag.
        let mut input = std::io::Cursor::new("\n2\n");
        let c = ask(
            &t,
            &args(None, None),
            false,
            "ap-south-1",
            &mut input,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(c.eks_ou_id, "ou-ab12-11111111");
        assert_eq!(c.hub_account_id, "222222222222");
        assert_eq!(c.home_region, "ap-south-1");
        // The input ends.
        let mut input = std::io::Cursor::new("");
        let err = ask(
            &t,
            &args(None, None),
            false,
            "x",
            &mut input,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("nothing was written"), "{err}");
    }

    #[test]
    fn an_existing_file_is_kept_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("eksmgr.toml");
        std::fs::write(&out, "keep me").unwrap();
        let text = render(&tree(), &choices());
        let err = write_checked(&out, &text, false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
        write_checked(&out, &text, true).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
        let fresh = dir.path().join("sub").join("new.toml");
        write_checked(&fresh, &text, false).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temp file left"
        );
        // An invalid text is never written.
        let bad = dir.path().join("bad.toml");
        assert!(write_checked(&bad, "[organization]\n", false).is_err());
        assert!(!bad.exists());
    }
}
