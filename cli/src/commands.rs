//! The commands: validate, plan, apply, destroy, unlock, graph, state, kubeconfig, and the
//! shell completions and manual page generated from the command-line definition. Each
//! returns the process exit code; errors bubble up to `main` as `anyhow` errors.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use eksmgr_engine::apply::Executor;
use eksmgr_engine::blueprint::{self, Discovery};
use eksmgr_engine::graph::Graph;
use eksmgr_engine::plan::{PLAN_FORMAT_VERSION, Plan, SAVED_PLAN_FORMAT, SavedPlan};
use eksmgr_state::{ResourceAddress, write_private_atomically};

use crate::cli::{
    ApplyArgs, Cli, Command, GraphFormat, KubeconfigArgs, PlanArgs, PlanFormat, StateCommand,
};
use crate::interrupt::Stop;
use crate::render::{Styler, human, json, markdown};
use crate::store::{Source, Store};
use crate::{context, kubeconfig};

/// Runs a command and returns its exit code.
pub async fn run(cli: Cli, color: bool) -> Result<u8> {
    let s = Styler::new(color);
    let started = std::time::Instant::now();
    crate::interrupt::listen()?;
    // An interrupt before an apply's first operation stops the command where it is; the state
    // lock it held is given back below (see `interrupt` and `store`).
    let code = tokio::select! {
        code = command(&cli, s) => code,
        signal = crate::interrupt::aborted() => {
            crate::progress::output().println(format_args!(
                "\nInterrupted ({}): stopped before changing anything in AWS; the state lock, if one was taken, is released.",
                signal.name()
            ));
            Ok(signal.exit_code())
        }
    };
    // The locks of a command stopped before it could give them back.
    crate::store::release_abandoned().await;
    if cli.stats {
        let stats = eksmgr_providers::stats::global();
        eprint!(
            "{}",
            crate::render::stats::render(
                stats,
                started.elapsed(),
                peak_resident_bytes(),
                crate::progress::output().styler()
            )
        );
    }
    code
}

/// The process's peak resident memory (`VmHWM` of `/proc/self/status`, Linux only).
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

async fn command(cli: &Cli, s: Styler) -> Result<u8> {
    match &cli.command {
        Command::Validate => validate(cli, s),
        Command::Agent(args) => crate::agent::run(cli, args, s).await,
        Command::Plan(args) => plan(cli, args, s).await,
        Command::Show(args) => show(args, s),
        Command::Apply(cmd) => match &cmd.plan_file {
            Some(file) => apply_saved(cli, &cmd.args, file, s).await,
            None => apply(cli, &cmd.args, false, s).await,
        },
        Command::Destroy(args) => apply(cli, args, true, s).await,
        Command::Unlock { lock_id } => unlock(cli, lock_id).await,
        Command::Graph { format } => graph(cli, *format),
        Command::Import { address, id } => import(cli, address, id).await,
        Command::State(sc) => state(cli, sc).await,
        Command::Kubeconfig(args) => kubeconfig(cli, args).await,
        Command::Secrets(sc) => crate::secrets::run(cli, sc, s).await,
        Command::Init(args) => crate::init::run(cli, args).await,
        Command::Whoami(args) => crate::whoami::run(cli, args, s).await,
        Command::Schema { markdown, out } => {
            crate::schema::run(*markdown, out.as_deref(), &mut std::io::stdout().lock())
        }
        Command::Completions { shell } => completions(*shell, &mut std::io::stdout().lock()),
        Command::Man { dir } => man(dir.as_deref(), &mut std::io::stdout().lock()),
    }
}

/// Writes the completion script of `shell` (generated from the command-line definition).
fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<u8> {
    let mut command = <Cli as clap::CommandFactory>::command();
    // Made whole first: the generator cannot report a write error, and a reader that stops
    // early (`| head`) is not one.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "eksmgr", &mut script);
    write_generated(out, &script, "the completion script")
}

/// The EXIT STATUS and ENVIRONMENT sections of the main manual page (roff).
const MAN_EXTRA_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
Success; with \fBplan \-\-detailed\-exitcode\fR, no changes.
.TP
1
An error: bad configuration, an AWS error, a lock held by another run, a resource that could
not be read, a change that needs an opt\-in.
.TP
2
\fBplan \-\-detailed\-exitcode\fR only: changes are present.
.TP
3
A spoke account was skipped for a reason a human must act on (its subnets not found, its
spoke admin role not reachable, a principal missing there); everything else was planned (and,
for \fBapply\fR and \fBagent \-\-once\fR, applied). \fBplan\fR says so only with
\fB\-\-detailed\-exitcode\fR.
.TP
130, 143
Ended by SIGINT (Ctrl\-C) or SIGTERM. Before an apply's first operation nothing is changed and
the lock is released; during an apply the first interrupt lets running operations finish, the
second stops waiting for them and saves the state.
.SH ENVIRONMENT
.TP
\fBAWS_PROFILE\fR, \fBAWS_REGION\fR, \fBAWS_ACCESS_KEY_ID\fR, \fBAWS_ENDPOINT_URL\fR ...
Credentials, region and endpoints, read as the AWS CLI reads them.
.TP
\fBNO_COLOR\fR
Any value but empty turns colours off, unless \fB\-\-color always\fR is given.
.TP
\fBCLICOLOR_FORCE\fR
Any value but empty or \fB0\fR turns colours on, as \fB\-\-color always\fR does.
.TP
\fBRUST_LOG\fR
Diagnostic logs on stderr, e.g. \fBRUST_LOG=aws_smithy_runtime=debug\fR; wins over \fB\-v\fR and \fB\-q\fR.
"#;

/// Writes the manual page to `out`, or one page per command into `dir`.
fn man(dir: Option<&Path>, out: &mut dyn Write) -> Result<u8> {
    let command = <Cli as clap::CommandFactory>::command();
    let Some(dir) = dir else {
        return write_generated(out, &main_man_page(command)?, "the manual page");
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cannot = || format!("cannot write the manual pages into {}", dir.display());
    // The pages of the commands as clap_mangen names and writes them, then the main page
    // over its own, with the sections it lacks.
    clap_mangen::generate_to(command.clone(), dir).with_context(cannot)?;
    let page = main_man_page(command)?;
    std::fs::write(dir.join("eksmgr.1"), page).with_context(cannot)?;
    Ok(0)
}

/// The exit code of a `plan --detailed-exitcode`, `apply` or `agent --once` that did all it
/// could, with a spoke account skipped for a reason a human must act on.
pub(crate) const NEEDS_ATTENTION: u8 = 3;

/// The main manual page: clap_mangen's sections, with the exit status and the environment
/// before the version.
fn main_man_page(command: clap::Command) -> Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    page.extend_from_slice(MAN_EXTRA_SECTIONS.as_bytes());
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// Writes generated text to stdout; a reader that closed the pipe early is not an error.
fn write_generated(out: &mut dyn Write, text: &[u8], what: &str) -> Result<u8> {
    match out.write_all(text).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e).with_context(|| format!("cannot write {what}")),
    }
}

fn validate(cli: &Cli, s: Styler) -> Result<u8> {
    let loaded = context::load(cli)?;
    // Expand with a placeholder management account so blueprint-level checks run offline.
    let discovery = offline_discovery(&loaded.config);
    let desired = blueprint::expand(&loaded.config, &discovery)?;
    Graph::of_desired(&desired.resources)?;
    let err = crate::progress::output().styler();
    for p in &desired.problems {
        eprintln!("{} {p}", err.red("Error:"));
    }
    // Offline, subnets chosen by tags cannot be listed: only the gaps the file itself makes
    // (a cluster with no subnets at all for an account it names) are errors here.
    let gaps: Vec<_> = desired
        .skipped
        .iter()
        .filter(|a| a.cause != eksmgr_engine::plan::SkipCause::Unreachable)
        .collect();
    for a in &gaps {
        eprintln!(
            "{} account {}: {}; to fix: {}",
            err.red("Error:"),
            a.account,
            a.reason,
            a.fix
        );
    }
    if !desired.problems.is_empty() || !gaps.is_empty() {
        return Ok(1);
    }
    println!(
        "{} {} is valid ({} resources for the accounts it names).",
        s.green("Success!"),
        cli.config.display(),
        desired.resources.len()
    );
    Ok(0)
}

/// Discovery without AWS: a placeholder management account, and as spokes the accounts the
/// configuration names (explicit cluster accounts, template overrides, `spokes.accounts`).
fn offline_discovery(config: &eksmgr_engine::config::Config) -> Discovery {
    let mut spokes: Vec<String> = config
        .spokes
        .accounts
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    for c in &config.clusters {
        if let eksmgr_engine::config::ClusterAccount::Account(a) = &c.account {
            spokes.push(a.as_str().to_string());
        }
        spokes.extend(c.overrides.keys().map(|a| a.as_str().to_string()));
    }
    spokes.sort();
    spokes.dedup();
    let management = config
        .organization
        .management_account_id
        .as_ref()
        .map_or("000000000000", |a| a.as_str());
    // Placeholders of the right shape: offline, the organization cannot be read. Principals
    // are not resolved offline either: validate checks their form only.
    let path = format!(
        "o-0000000000/r-0000/{}/",
        config.organization.eks_ou_id.as_str()
    );
    Discovery {
        caller_account_id: String::new(),
        ..Discovery::of_spokes(management, &path, spokes)
    }
}

async fn plan(cli: &Cli, args: &PlanArgs, s: Styler) -> Result<u8> {
    let loaded = context::load(cli)?;
    let work = async {
        let state = loaded.store.load().await?;
        context::plan(
            &loaded,
            &state,
            crate::cli::limits(args.parallelism, args.account_parallelism),
            false,
            args.opt_ins,
            &args.targets,
            &cli.caller(),
        )
        .await
    };
    let planned = if args.lock {
        loaded
            .store
            .locked("eksmgr plan", args.lock_timeout.lock_timeout, work)
            .await?
    } else {
        work.await?
    };
    let (plan, identity) = (planned.plan, planned.identity);
    if args.refresh_only {
        let view = drift_only(&plan);
        match args.format() {
            PlanFormat::Json => print_json(&view, env!("CARGO_PKG_VERSION"))?,
            PlanFormat::Markdown => print!("{}", markdown::plan(&view, markdown::COMMENT_LIMIT)),
            PlanFormat::Human => print!("{}", refresh_only_text(&view, s)),
        }
        return Ok(if view.has_errors() {
            1
        } else if args.detailed_exitcode && !view.drift.is_empty() {
            2
        } else {
            0
        });
    }
    if let Some(out) = &args.out {
        save_plan(out, SavedPlan::new(identity, plan.clone()))?;
    }
    match args.format() {
        PlanFormat::Json => print_json(&plan, env!("CARGO_PKG_VERSION"))?,
        PlanFormat::Markdown => print!("{}", markdown::plan(&plan, markdown::COMMENT_LIMIT)),
        PlanFormat::Human => print_human(&plan, s)?,
    }
    Ok(plan_exit_code(&plan, args.detailed_exitcode))
}

/// Writes the human plan to stdout as it is rendered, one change at a time.
fn print_human(plan: &Plan, s: Styler) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    human::write_plan(plan, s, &mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// Writes the JSON plan to stdout as it is serialised (a large plan is never held whole as
/// text).
fn print_json(plan: &Plan, eksmgr_version: &str) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    json::write(plan, eksmgr_version, &mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// `plan`'s exit code: 1 for errors; with `--detailed-exitcode`, 3 when a spoke account was
/// skipped for a reason a human must act on (changes or not: the rest is planned), 2 for
/// changes, 0 for none.
fn plan_exit_code(plan: &Plan, detailed: bool) -> u8 {
    if plan.has_errors() {
        1
    } else if detailed && plan.needs_attention() {
        NEEDS_ATTENTION
    } else if detailed && plan.has_changes() {
        2
    } else {
        0
    }
}

/// `show [--json] PLAN_FILE`: a saved plan, as the human plan or as JSON.
fn show(args: &crate::cli::ShowArgs, s: Styler) -> Result<u8> {
    let saved = read_saved_plan(&args.file)?;
    if args.json {
        print_json(&saved.plan, &saved.eksmgr_version)?;
    } else {
        print_human(&saved.plan, s)?;
    }
    Ok(0)
}

async fn apply(cli: &Cli, args: &ApplyArgs, destroy: bool, s: Styler) -> Result<u8> {
    if args.refresh_only && destroy {
        bail!("destroy does not take --refresh-only: use `eksmgr apply --refresh-only`");
    }
    let verb = if destroy { "Destroy" } else { "Apply" };
    let loaded = context::load(cli)?;
    let command = if destroy {
        "eksmgr destroy"
    } else {
        "eksmgr apply"
    };
    loaded
        .store
        .locked(
            command,
            args.lock_timeout.lock_timeout,
            apply_locked(cli, &loaded, args, destroy, verb, s),
        )
        .await
}

/// `apply` and `destroy` under the state lock.
async fn apply_locked(
    cli: &Cli,
    loaded: &context::Loaded,
    args: &ApplyArgs,
    destroy: bool,
    verb: &str,
    s: Styler,
) -> Result<u8> {
    let mut state = loaded.store.load().await?;
    let planned = context::plan(
        loaded,
        &state,
        crate::cli::limits(args.parallelism, args.account_parallelism),
        destroy,
        args.opt_ins,
        &args.targets,
        &cli.caller(),
    )
    .await?;
    let (plan, provider) = (planned.plan, planned.provider);
    // Whatever this run saves belongs to the estate it planned.
    state.estate = Some(planned.estate);
    if args.refresh_only {
        let view = drift_only(&plan);
        print!("{}", refresh_only_text(&view, s));
        if view.drift.is_empty() {
            return Ok(if view.has_errors() { 1 } else { 0 });
        }
        if !args.auto_approve && !confirm(false).await? {
            println!("Refresh cancelled.");
            return Ok(1);
        }
        let drifted: Vec<ResourceAddress> = view.drift.iter().map(|d| d.address.clone()).collect();
        let n = eksmgr_engine::refresh::record_drift(&mut state, &drifted, &planned.observed);
        loaded.store.save(&mut state).await?;
        println!(
            "Refresh complete! {n} record(s) now hold what AWS holds; nothing was changed in AWS."
        );
        return Ok(if view.has_errors() { 1 } else { 0 });
    }
    print_human(&plan, s)?;
    if !plan.has_changes() {
        close_resolved_intents(loaded, &mut state, &plan).await?;
        return Ok(if plan.unreadable().next().is_some() {
            1
        } else if plan.needs_attention() {
            NEEDS_ATTENTION
        } else {
            0
        });
    }
    if plan.blocked().next().is_some() {
        bail!(
            "the plan has changes that are refused or need an explicit opt-in (listed above); nothing was changed"
        );
    }
    if !args.auto_approve && !confirm(destroy).await? {
        println!("{verb} cancelled.");
        return Ok(1);
    }
    execute(loaded, &mut state, &plan, provider, args, verb, s).await
}

/// The plan with its changes left out: drift, and what could not be checked.
fn drift_only(plan: &Plan) -> Plan {
    let mut view = plan.clone();
    view.changes.clear();
    view.deferred.retain(|d| d.awaiting.is_none());
    view
}

/// The human view of a refresh-only plan.
fn refresh_only_text(view: &Plan, s: Styler) -> String {
    let mut out = String::new();
    if view.drift.is_empty() {
        out.push_str("No drift: AWS holds what eksmgr recorded at its last apply.\n");
    } else {
        let mut section = String::new();
        human::drift(&mut section, &view.drift, s);
        // The section's closing line speaks of a plan below; there is none here.
        for line in section
            .lines()
            .filter(|l| !l.contains("the plan below undoes them"))
        {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!(
            "Refresh-only: {} resource(s) changed outside eksmgr. `eksmgr apply --refresh-only` records what AWS holds in state; nothing in AWS is changed.\n",
            view.drift.len()
        ));
    }
    for d in view.unreadable() {
        out.push_str(&format!(
            "{} {} could not be checked: {}\n",
            s.red("!"),
            d.address,
            d.reason
        ));
    }
    for w in &view.warnings {
        out.push_str(&format!("{} {w}\n", s.yellow("Warning:")));
    }
    for p in &view.problems {
        out.push_str(&format!("{} {p}\n", s.red("Error:")));
    }
    out
}

/// Writes a saved plan (atomically, mode 0600) and says how to apply it.
fn save_plan(out: &Path, saved: SavedPlan) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(&saved).context("cannot serialise the plan")?;
    json.push(b'\n');
    write_private_atomically(out, &json)
        .with_context(|| format!("cannot save the plan to {}", out.display()))?;
    crate::progress::output().info(format_args!(
        "Saved the plan to {}. To apply exactly this plan: eksmgr apply {}",
        out.display(),
        out.display()
    ));
    Ok(())
}

/// Reads a plan saved by `plan --out`.
fn read_saved_plan(file: &Path) -> Result<SavedPlan> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the saved plan {}", file.display()))?;
    // A plan another version of eksmgr saved may not read as this one's: say so first.
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["plan"]["format_version"].as_u64());
    if let Some(v) = version.filter(|v| *v != u64::from(PLAN_FORMAT_VERSION)) {
        bail!(
            "{}: the plan was saved by another version of eksmgr (plan format {v}; this eksmgr reads format {PLAN_FORMAT_VERSION}): make it again with `eksmgr plan --out`",
            file.display()
        );
    }
    let saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not a plan saved by `eksmgr plan --out`: {e}",
            file.display(),
            e.line(),
            e.column()
        )
    })?;
    if saved.format != SAVED_PLAN_FORMAT {
        bail!(
            "{}: not a plan saved by `eksmgr plan --out` (format {:?})",
            file.display(),
            saved.format
        );
    }
    Ok(saved)
}

/// `apply PLAN_FILE`: exactly the saved plan, if it is not stale, without asking.
async fn apply_saved(cli: &Cli, args: &ApplyArgs, file: &Path, s: Styler) -> Result<u8> {
    let saved = read_saved_plan(file)?;
    let loaded = context::load(cli)?;
    loaded
        .store
        .locked(
            "eksmgr apply PLAN_FILE",
            args.lock_timeout.lock_timeout,
            apply_saved_locked(cli, &loaded, args, file, saved, s),
        )
        .await
}

/// `apply PLAN_FILE` under the state lock.
async fn apply_saved_locked(
    cli: &Cli,
    loaded: &context::Loaded,
    args: &ApplyArgs,
    file: &Path,
    saved: SavedPlan,
    s: Styler,
) -> Result<u8> {
    let (mut state, exists) = loaded.store.load_found().await?;
    // A plan made before any state existed belongs to the state its apply starts.
    if !exists && state.serial == 0 && saved.plan.state_serial == 0 {
        state.lineage.clone_from(&saved.plan.state_lineage);
    }
    let (provider, discovery) =
        context::connect(loaded, args.parallelism.into(), &cli.caller()).await?;
    let identity = context::identity(&loaded.config, &discovery);
    let estate = context::estate(&loaded.config, &discovery);
    context::check_estate(loaded, &state, &estate)?;
    state.estate = Some(estate);
    let stale = saved.staleness(&state, &loaded.digest, &identity);
    if !stale.is_empty() {
        bail!(
            "the saved plan {} is stale, nothing was changed:\n  - {}\nmake a new plan with `eksmgr plan --out {}` and review it",
            file.display(),
            stale.join("\n  - "),
            file.display()
        );
    }
    let plan = saved.plan;
    print_human(&plan, s)?;
    if !plan.has_changes() {
        close_resolved_intents(loaded, &mut state, &plan).await?;
        return Ok(0);
    }
    if plan.blocked().next().is_some() {
        bail!(
            "the saved plan has changes that are refused or need an explicit opt-in (listed above): make it again once eksmgr.toml or the opt-in flags allow them; nothing was changed"
        );
    }
    execute(loaded, &mut state, &plan, provider, args, "Apply", s).await
}

/// Closes the intents of interrupted operations the plan found nothing left to do for (when
/// the plan has changes, the executor closes them).
async fn close_resolved_intents(
    loaded: &context::Loaded,
    state: &mut eksmgr_state::State,
    plan: &Plan,
) -> Result<()> {
    let entries = eksmgr_engine::apply::closing_entries(plan, state);
    if entries.is_empty() {
        return Ok(());
    }
    for entry in &entries {
        state.apply_entry(entry);
    }
    loaded.store.save(state).await?;
    Ok(())
}

/// Carries out a plan under the lock, recording every step in the state journal.
#[allow(clippy::too_many_arguments)]
async fn execute(
    loaded: &context::Loaded,
    state: &mut eksmgr_state::State,
    plan: &Plan,
    provider: eksmgr_providers::AwsProvider,
    args: &ApplyArgs,
    verb: &str,
    s: Styler,
) -> Result<u8> {
    let limits = crate::cli::limits(args.parallelism, args.account_parallelism);
    let mut stdout = std::io::stdout();
    let (code, _) = carry_out(loaded, state, plan, provider, limits, verb, s, &mut stdout).await?;
    Ok(code)
}

/// Carries out a plan under the lock, recording every step in the state journal, with the
/// human account of it written to `human`; the exit code and what was done.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn carry_out(
    loaded: &context::Loaded,
    state: &mut eksmgr_state::State,
    plan: &Plan,
    provider: eksmgr_providers::AwsProvider,
    limits: eksmgr_engine::schedule::Limits,
    verb: &str,
    s: Styler,
    human_out: &mut (dyn Write + Send),
) -> Result<(u8, eksmgr_engine::apply::ApplyOutcome)> {
    let out = crate::progress::output();
    let progress = std::sync::Arc::new(out.apply(crate::progress::operations(plan), verb));
    let waits = std::sync::Arc::clone(&progress);
    let provider = provider.with_progress(std::sync::Arc::new(move |address, message| {
        waits.wait(address, message);
    }));
    let executor = Executor::new(&provider, limits);
    let (cancel, abandon) = (executor.cancel_flag(), executor.abandon_flag());
    let Some(mut interrupts) = crate::interrupt::start_applying(cancel.clone()) else {
        // Interrupted just before: nothing is started; the command is being stopped.
        return Ok((
            crate::interrupt::received().map_or(1, |s| s.exit_code()),
            eksmgr_engine::apply::ApplyOutcome::default(),
        ));
    };
    // The first interrupt starts nothing new; the second stops waiting (see `interrupt`).
    tokio::spawn(async move {
        while let Some(stop) = interrupts.next().await {
            match stop {
                Stop::Drain(_) => cancel.store(true, Ordering::SeqCst),
                Stop::Abandon(_) => {
                    cancel.store(true, Ordering::SeqCst);
                    abandon.trigger();
                    return;
                }
                Stop::No | Stop::Abort(_) => {}
            }
        }
    });
    // Every step goes to the journal (one synced line, O(1)); the state file is rewritten
    // once at the end.
    // A state in S3 gets its journal uploaded after every completed operation.
    let eksmgr_state::OpenJournal { mut journal, sync } = loaded.store.start_journal(state).await?;
    let mut on_event = |e| {
        progress.event(&e);
        sync.changed();
    };
    let outcome = executor
        .apply(plan, state, &mut journal, &mut on_event)
        .await;
    progress.finish();
    drop(journal);
    if let Err(e) = sync.finish().await {
        eprintln!(
            "{} the journal could not always be uploaded during the apply ({e}); the state is saved now",
            s.yellow("Warning:")
        );
    }
    // The lock is given back (by `Store::locked`) even when the state could not be saved: the
    // journal holds every recorded step, and the next run replays it.
    let saved = loaded.store.save(state).await;
    let _ = writeln!(human_out);
    let _ = write!(human_out, "{}", human::outcome(&outcome, verb, s));
    if let Err(e) = saved {
        return Err(unsaved_state(e, &loaded.store.journal_location(), &outcome));
    }
    if outcome.state_error.is_some() {
        let _ = writeln!(
            human_out,
            "The state could not be recorded step by step during the run, but it was saved whole at the end: nothing is missing from it."
        );
    }
    if plan.deferred.iter().any(|d| d.awaiting.is_some()) {
        let _ = writeln!(
            human_out,
            "Some resources can only be planned once this apply's resources exist: run `eksmgr apply` again."
        );
    }
    let code = if outcome.interrupted
        && let Some(signal) = crate::interrupt::received()
    {
        signal.exit_code()
    } else if !outcome.is_success() || plan.unreadable().next().is_some() {
        1
    } else if plan.needs_attention() {
        NEEDS_ATTENTION
    } else {
        0
    };
    Ok((code, outcome))
}

/// The error of an apply whose state could not be saved at the end: what the state may lack,
/// and how to recover.
fn unsaved_state(
    error: anyhow::Error,
    journal: &str,
    outcome: &eksmgr_engine::apply::ApplyOutcome,
) -> anyhow::Error {
    let mut text = format!(
        "the state could not be saved after the apply: {error:#}\nThe journal {journal} holds every step recorded before that."
    );
    if !outcome.unrecorded.is_empty() {
        text.push_str(
            "\nThese operations completed in AWS after steps could no longer be recorded, so the state may lack them:",
        );
        for (address, action) in &outcome.unrecorded {
            text.push_str(&format!(
                "\n  - {address} ({})",
                human::action_name(*action)
            ));
        }
    }
    text.push_str(
        "\nTo recover: free space where the state lives (or fix the error above), then run `eksmgr plan`: it replays the journal and adopts what AWS holds for the resources above; `eksmgr apply` then records them.",
    );
    anyhow::anyhow!(text)
}

/// Asks for `yes` on the terminal. Read on a blocking thread, so that an interrupt while
/// waiting for the answer stops the command (and gives its lock back) at once.
async fn confirm(destroy: bool) -> Result<bool> {
    tokio::task::spawn_blocking(move || ask(destroy))
        .await
        .context("the confirmation prompt failed")?
}

fn ask(destroy: bool) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "refusing to {} without confirmation: standard input is not a terminal; review the plan above and run again with --auto-approve",
            if destroy { "destroy" } else { "apply" }
        );
    }
    print!(
        "\nDo you want to {} these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ",
        if destroy {
            "destroy all resources with"
        } else {
            "perform"
        }
    );
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(answer.trim() == "yes")
}

async fn unlock(cli: &Cli, lock_id: &str) -> Result<u8> {
    let loaded = context::load(cli)?;
    let info = loaded.store.force_unlock(lock_id).await?;
    println!(
        "Lock {} (held by `{}`, pid {} on {}) removed.",
        info.id, info.command, info.pid, info.host
    );
    Ok(0)
}

fn graph(cli: &Cli, format: GraphFormat) -> Result<u8> {
    let loaded = context::load(cli)?;
    let desired = blueprint::expand(&loaded.config, &offline_discovery(&loaded.config))?;
    let g = Graph::of_desired(&desired.resources)?;
    print!(
        "{}",
        match format {
            GraphFormat::Dot => g.to_dot(),
            GraphFormat::Mermaid => g.to_mermaid(),
        }
    );
    Ok(0)
}

/// `import ADDRESS ID`: the record eksmgr would have written had it created the resource.
async fn import(cli: &Cli, address: &str, id: &str) -> Result<u8> {
    let addr = parse_address(address)?;
    let loaded = context::load(cli)?;
    let work = async {
        let mut state = loaded.store.load().await?;
        let (provider, discovery, desired) = context::prepare(
            &loaded,
            crate::cli::DEFAULT_PARALLELISM.into(),
            &cli.caller(),
        )
        .await?;
        let estate = context::estate(&loaded.config, &discovery);
        context::check_estate(&loaded, &state, &estate)?;
        state.estate = Some(estate);
        let record =
            eksmgr_engine::import::import(&provider, &desired.resources, &state, &addr, id).await?;
        let found = record.id.clone();
        state.upsert(record);
        loaded.store.save(&mut state).await?;
        Ok(found)
    };
    let found = loaded
        .store
        .locked("eksmgr import", Duration::ZERO, work)
        .await?;
    println!(
        "Imported {addr} ({found}). Run `eksmgr plan` to see how it differs from the configuration."
    );
    Ok(0)
}

fn parse_address(text: &str) -> Result<ResourceAddress> {
    text.parse()
        .map_err(|e| anyhow::anyhow!("{e}: an address looks like `iam_role.NAME[ACCOUNT]` or `eks_cluster.NAME[ACCOUNT/REGION]`"))
}

async fn state(cli: &Cli, sc: &StateCommand) -> Result<u8> {
    let loaded = context::load(cli)?;
    match sc {
        StateCommand::List => {
            for a in loaded.store.load().await?.resources.keys() {
                println!("{a}");
            }
            Ok(0)
        }
        StateCommand::Show { address } => {
            let addr = parse_address(address)?;
            let st = loaded.store.load().await?;
            let Some(rec) = st.resources.get(&addr) else {
                bail!("{addr} is not in state; `eksmgr state list` shows what is");
            };
            println!("{}", serde_json::to_string_pretty(rec)?);
            Ok(0)
        }
        StateCommand::Rm { addresses } => state_rm(&loaded, addresses).await,
        StateCommand::Mv {
            source,
            destination,
        } => state_mv(&loaded, source, destination).await,
        StateCommand::Migrate {
            from,
            from_region,
            from_role_arn,
            force,
        } => {
            let source = match from {
                Some(from) => Some(Store::from_source(
                    &loaded.config,
                    &cli.config,
                    &Source {
                        text: from,
                        region: from_region.as_deref(),
                        role_arn: from_role_arn.as_deref(),
                    },
                    cli.caller(),
                )?),
                None => None,
            };
            state_migrate(cli, &loaded, source, *force).await
        }
    }
}

/// `state migrate`: the state of another place copied into the configured one.
async fn state_migrate(
    cli: &Cli,
    loaded: &context::Loaded,
    source: Option<Store>,
    force: bool,
) -> Result<u8> {
    let source = match source {
        Some(source) => source,
        None => match &loaded.store {
            store if store.is_remote() => Store::open_local_default(&cli.config),
            _ => bail!(
                "the configuration keeps the state in a local file ({}): name the state to copy into it with --from PATH or --from s3://BUCKET/KEY",
                loaded.store.describe()
            ),
        },
    };
    let destination = &loaded.store;
    if source.same_place(destination) {
        bail!(
            "--from names the place the configuration keeps the state in already ({}): nothing to migrate",
            destination.describe()
        );
    }
    let command = "eksmgr state migrate";
    let work = migrate_locked(&source, destination, force);
    let migrated = source
        .locked(
            command,
            Duration::ZERO,
            destination.locked(command, Duration::ZERO, work),
        )
        .await?;
    let Some(state) = migrated else {
        return Ok(0);
    };
    println!(
        "Migrated the state ({} resource(s), lineage {}, serial {}) from {} to {}.\nThe source is left as it was: once plans against {} look right, remove it.",
        state.resources.len(),
        state.lineage,
        state.serial,
        source.describe(),
        destination.describe(),
        destination.describe()
    );
    Ok(0)
}

/// `state migrate` under the locks of both places: the state copied, or `None` when the
/// destination holds it already.
async fn migrate_locked(
    source: &Store,
    destination: &Store,
    force: bool,
) -> Result<Option<eksmgr_state::State>> {
    let (mut state, found) = source.load_found().await?;
    if !found {
        bail!(
            "there is no state in {}: nothing to migrate",
            source.describe()
        );
    }
    let (existing, exists) = destination.load_found().await?;
    if exists {
        let same = existing.lineage == state.lineage;
        if same && existing.serial >= state.serial && !force {
            println!(
                "{} holds this state already (lineage {}, serial {} >= {}): nothing to do.",
                destination.describe(),
                existing.lineage,
                existing.serial,
                state.serial
            );
            return Ok(None);
        }
        if !same && !force {
            bail!(
                "{} holds another state (lineage {}, {} resource(s)), not the one in {} (lineage {}): nothing was changed; to replace it, run again with --force",
                destination.describe(),
                existing.lineage,
                existing.resources.len(),
                source.describe(),
                state.lineage
            );
        }
    }
    // The copy continues the source's history: a serial above both.
    state.serial = state.serial.max(existing.serial);
    destination.replace(&mut state).await?;
    Ok(Some(state))
}

/// `state rm`: all the addresses must be in state, or nothing is removed.
async fn state_rm(loaded: &context::Loaded, addresses: &[String]) -> Result<u8> {
    let addrs = addresses
        .iter()
        .map(|a| parse_address(a))
        .collect::<Result<Vec<_>>>()?;
    let work = async {
        let mut st = loaded.store.load().await?;
        let missing: Vec<String> = addrs
            .iter()
            .filter(|a| !st.resources.contains_key(*a))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            bail!(
                "not in state, nothing was removed: {}; `eksmgr state list` shows what is",
                missing.join(", ")
            );
        }
        for a in &addrs {
            st.resources.remove(a);
        }
        loaded.store.save(&mut st).await?;
        Ok(())
    };
    loaded
        .store
        .locked("eksmgr state rm", Duration::ZERO, work)
        .await?;
    for a in &addrs {
        println!("Removed {a} (it still exists in AWS; eksmgr no longer manages it)");
    }
    Ok(0)
}

/// `state mv`: same kind only; the destination must be free; references follow the record.
async fn state_mv(loaded: &context::Loaded, source: &str, destination: &str) -> Result<u8> {
    let from = parse_address(source)?;
    let to = parse_address(destination)?;
    if from.kind != to.kind {
        bail!(
            "cannot move {from} to {to}: a record keeps its kind ({} is not {})",
            from.kind,
            to.kind
        );
    }
    let work = async {
        let mut st = loaded.store.load().await?;
        if !st.resources.contains_key(&from) {
            bail!("{from} is not in state; `eksmgr state list` shows what is");
        }
        if st.resources.contains_key(&to) {
            bail!("cannot move {from} to {to}: {to} is in state already");
        }
        let Some(mut rec) = st.resources.remove(&from) else {
            bail!("{from} is not in state; `eksmgr state list` shows what is");
        };
        rec.address = to.clone();
        st.resources.insert(to.clone(), rec);
        for r in st.resources.values_mut() {
            if r.depends_on.contains(&from) {
                r.depends_on = r
                    .depends_on
                    .iter()
                    .map(|d| if *d == from { to.clone() } else { d.clone() })
                    .collect();
            }
        }
        loaded.store.save(&mut st).await?;
        Ok(())
    };
    loaded
        .store
        .locked("eksmgr state mv", Duration::ZERO, work)
        .await?;
    println!("Moved {from} to {to}");
    Ok(0)
}

async fn kubeconfig(cli: &Cli, args: &KubeconfigArgs) -> Result<u8> {
    let loaded = context::load(cli)?;
    kubeconfig::run(&loaded, args, cli.profile.as_deref()).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// Every command a user types, as completions and the manual name them.
    const COMMANDS: &[&str] = &[
        "validate",
        "plan",
        "show",
        "apply",
        "destroy",
        "unlock",
        "graph",
        "import",
        "state",
        "kubeconfig",
        "secrets",
        "init",
        "whoami",
        "completions",
        "man",
    ];

    #[test]
    fn completions_of_every_shell_name_the_commands_and_their_flags() {
        for shell in clap_complete::Shell::value_variants() {
            let mut out = Vec::new();
            assert_eq!(completions(*shell, &mut out).unwrap(), 0);
            let script = String::from_utf8(out).unwrap();
            for word in COMMANDS.iter().chain(&["detailed-exitcode", "parallelism"]) {
                assert!(script.contains(word), "{shell}: {word} missing");
            }
        }
        // The bash script is valid bash.
        let mut script = Vec::new();
        completions(clap_complete::Shell::Bash, &mut script).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eksmgr.bash");
        std::fs::write(&path, &script).unwrap();
        let status = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .status()
            .expect("bash runs");
        assert!(status.success(), "bash -n: {status}");
    }

    #[test]
    fn the_manual_has_every_command_the_exit_codes_and_a_page_per_command() {
        let mut out = Vec::new();
        assert_eq!(man(None, &mut out).unwrap(), 0);
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains(".TH eksmgr 1"), "{page}");
        for section in [
            "SYNOPSIS",
            "OPTIONS",
            "SUBCOMMANDS",
            "\"EXIT STATUS\"",
            "ENVIRONMENT",
        ] {
            assert!(page.contains(&format!(".SH {section}")), "{section}");
        }
        for command in COMMANDS {
            assert!(
                page.contains(&format!("eksmgr\\-{command}(1)")),
                "{command}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let pages = dir.path().join("man1");
        assert_eq!(man(Some(&pages), &mut Vec::new()).unwrap(), 0);
        assert_eq!(
            std::fs::read_to_string(pages.join("eksmgr.1")).unwrap(),
            page
        );
        for command in COMMANDS.iter().chain(&["state-list", "state-mv"]) {
            let sub = std::fs::read_to_string(pages.join(format!("eksmgr-{command}.1")))
                .unwrap_or_else(|e| panic!("eksmgr-{command}.1: {e}"));
            assert!(sub.contains(".SH SYNOPSIS"), "{command}");
        }
    }

    /// A writer that fails every write with `kind`.
    struct Failing(std::io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_generated_output_quietly_and_other_write_errors_are_reported() {
        let mut closed = Failing(std::io::ErrorKind::BrokenPipe);
        assert_eq!(man(None, &mut closed).unwrap(), 0);
        assert_eq!(
            completions(clap_complete::Shell::Zsh, &mut closed).unwrap(),
            0
        );
        let mut full = Failing(std::io::ErrorKind::StorageFull);
        let err = man(None, &mut full).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot write the manual page"),
            "{err:#}"
        );
    }

    #[test]
    fn a_plan_saved_by_another_version_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("old.plan");
        let old = serde_json::json!({
            "format": SAVED_PLAN_FORMAT,
            "eksmgr_version": "0.0.1",
            "plan": {"format_version": 1, "changes": [{"notes": ["a note as text"]}]}
        });
        std::fs::write(&file, old.to_string()).unwrap();
        let err = read_saved_plan(&file).unwrap_err().to_string();
        assert!(err.contains("saved by another version of eksmgr"), "{err}");
        assert!(err.contains("format 1"), "{err}");
        assert!(err.contains("eksmgr plan --out"), "{err}");
    }
}
