//! The command-line interface definition (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// What `eksmgr --version` prints after the name: the version, and the build it is (the
/// commit, `-dirty` when built from changed sources, and the target), from `build.rs`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("EKSMGR_BUILD_COMMIT"),
    ", ",
    env!("EKSMGR_BUILD_TARGET"),
    ")"
);

/// eksmgr: declarative, plan-first management of a multi-account AWS EKS estate.
#[derive(Debug, Parser)]
#[command(name = "eksmgr", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        default_value = "eksmgr.toml"
    )]
    pub config: PathBuf,
    /// The state file (default: eksmgr.state.json next to the configuration).
    #[arg(long = "state", global = true)]
    pub state: Option<PathBuf>,
    /// When to use colours: `auto` (on a terminal, unless NO_COLOR is set; CLICOLOR_FORCE=1
    /// forces them), `always` or `never`.
    #[arg(
        long = "color",
        value_name = "WHEN",
        value_enum,
        global = true,
        default_value_t = ColorChoice::Auto
    )]
    pub color: ColorChoice,
    /// The same as `--color never`.
    #[arg(
        long = "no-color",
        global = true,
        hide = true,
        conflicts_with = "color"
    )]
    pub no_color: bool,
    /// More diagnostic logs on stderr: -v info, -vv debug, -vvv trace (and the AWS SDK's
    /// debug logs). RUST_LOG, when set, wins.
    #[arg(
        short = 'v',
        long = "verbose",
        action = clap::ArgAction::Count,
        global = true,
        conflicts_with = "quiet"
    )]
    pub verbose: u8,
    /// No progress and no informational messages on stderr: only errors and the output asked
    /// for.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
    /// After the command, print on stderr how many AWS calls it made, by operation.
    #[arg(long = "stats", global = true)]
    pub stats: bool,
    /// The AWS profile (shared config and credentials files) to run with, as `aws --profile`:
    /// its credentials win over AWS_ACCESS_KEY_ID. Default: AWS_PROFILE, else the standard
    /// chain (environment, profiles, SSO, web identity, instance role).
    #[arg(long = "profile", value_name = "NAME", global = true)]
    pub profile: Option<String>,
    /// The region of eksmgr's own first calls (who the caller is, the first role
    /// assumptions), as `aws --region`; the regions eksmgr.toml names for resources are
    /// unchanged. Default: AWS_REGION, the profile's, else organization.home_region. `init`
    /// also writes it as organization.home_region.
    #[arg(long = "region", value_name = "REGION", global = true)]
    pub region: Option<String>,
    /// Use a state that belongs to another estate (another management account or EKS OU)
    /// and, at the next apply, bind it to this one: for a deliberate move, such as a new EKS
    /// OU. Without it such a state is refused.
    #[arg(long = "rebind-state", global = true)]
    pub rebind_state: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The colour choice, `--no-color` included.
    pub fn color_choice(&self) -> ColorChoice {
        if self.no_color {
            ColorChoice::Never
        } else {
            self.color
        }
    }
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colours on a terminal, unless NO_COLOR is set (CLICOLOR_FORCE=1 forces them).
    Auto,
    /// Always colours.
    Always,
    /// Never colours.
    Never,
}

/// `--parallelism` when not given: enough AWS calls in flight for an organization of
/// thousands of accounts (a no-op plan of 5,000 spokes makes about 115,000 calls; at 100 ms
/// each that took 57 s on two cores, and takes about 19 minutes at 10). AWS throttles per
/// account, so what protects AWS is `--account-parallelism` (default
/// [`eksmgr_engine::schedule::DEFAULT_PER_ACCOUNT`]) and each account's own retry quota, not
/// this total.
pub const DEFAULT_PARALLELISM: u16 = 512;
/// The largest `--parallelism` accepted.
pub const MAX_PARALLELISM: i64 = 4096;
/// `secrets --parallelism` when not given: clusters worked on at once.
pub const DEFAULT_CLUSTERS_AT_ONCE: u16 = 10;

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration without touching AWS.
    Validate,
    /// The continuous reconciler: each cycle discovers the estate, plans, applies on its own
    /// what `[agent]` in eksmgr.toml allows and holds the rest for a human; one JSON line per
    /// cycle on stdout, the human log on stderr.
    Agent(AgentArgs),
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Print a plan saved by `eksmgr plan --out FILE` (`--json`: as JSON).
    Show(ShowArgs),
    /// Make the changes (shows the plan and asks first).
    Apply(ApplyCommand),
    /// Destroy everything eksmgr manages, in reverse dependency order.
    Destroy(ApplyArgs),
    /// Remove a lock left by a run that is gone.
    Unlock {
        /// The lock id printed by the run that found the lock.
        lock_id: String,
    },
    /// Print the resource dependency graph without touching AWS.
    Graph {
        /// `dot` (Graphviz) or `mermaid` (for Markdown).
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Bring a resource made outside eksmgr under management: its address must be declared
    /// in the configuration; ID is its id or name in AWS.
    Import {
        /// The address, e.g. `ecr_repository.platform/api[222222222222/us-east-1]`.
        address: String,
        /// The resource's id, name or ARN in AWS.
        id: String,
    },
    /// Inspect and edit state.
    #[command(subcommand)]
    State(StateCommand),
    /// Write a kubeconfig context for every managed EKS cluster in state (no AWS calls).
    Kubeconfig(KubeconfigArgs),
    /// Secrets on demand: push `[[secrets]]` from Secrets Manager in the hub into the target
    /// clusters as Kubernetes secrets, or show where each target stands.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Write a commented eksmgr.toml for this organization: asks for the EKS OU and the hub
    /// account (or takes --eks-ou and --hub-account) and lists the OUs and accounts found.
    Init(InitArgs),
    /// Show who eksmgr is in every account tier: the caller, the management account, the hub
    /// (and its agent role) and each spoke; exit 1 if any cannot be reached.
    Whoami(WhoamiArgs),
    /// Print the JSON Schema of eksmgr.toml (for editors), or with --markdown the reference.
    Schema {
        /// Print the configuration reference (Markdown) instead of the JSON Schema.
        #[arg(long)]
        markdown: bool,
        /// Write it to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the completion script for a shell on stdout, e.g.
    /// `eksmgr completions bash > ~/.local/share/bash-completion/completions/eksmgr`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, e.g. `eksmgr man | man -l -`; with `--dir`,
    /// write one page per command there (eksmgr.1, eksmgr-plan.1 ...).
    Man {
        /// The directory to write the pages into (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// The `--parallelism` (AWS calls in flight) of the commands that take one.
    pub fn parallelism(&self) -> Option<u16> {
        match self {
            Command::Agent(a) => Some(a.parallelism),
            Command::Plan(a) => Some(a.parallelism),
            Command::Apply(c) => Some(c.args.parallelism),
            Command::Destroy(a) => Some(a.parallelism),
            // `secrets --parallelism` counts clusters, a few connections each.
            Command::Validate
            | Command::Show(_)
            | Command::Unlock { .. }
            | Command::Graph { .. }
            | Command::Import { .. }
            | Command::State(_)
            | Command::Kubeconfig(_)
            | Command::Secrets(_)
            | Command::Init(_)
            | Command::Whoami(_)
            | Command::Schema { .. }
            | Command::Completions { .. }
            | Command::Man { .. } => None,
        }
    }
}

/// Output formats of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

/// Waiting for the state lock.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct LockTimeout {
    /// How long to wait for the state lock when another run holds it (e.g. `30s`, `5m`,
    /// `1m30s`), instead of failing at once; Terraform users may write `-lock-timeout=30s`.
    #[arg(long = "lock-timeout", value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    pub lock_timeout: std::time::Duration,
}

/// A duration such as `30s`, `5m`, `1h`, `1m30s` or `500ms` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    eksmgr_engine::config::parse_duration(text)
}

/// `agent` options.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Run one cycle and exit: 0 when all went through, 3 when something was held or an
    /// account skipped for a human, 1 on an error (the state lock held by another run
    /// included).
    #[arg(long, conflicts_with = "interval")]
    pub once: bool,
    /// Time between cycles (`30s`, `10m`, `1h`); default: `[agent] interval` (10m). After a
    /// failed cycle the wait doubles, up to 8 times the interval.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<std::time::Duration>,
    /// The most AWS calls (and operations) in flight at once.
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=MAX_PARALLELISM))]
    pub parallelism: u16,
    /// How many operations (and reads) at once in one account (AWS throttles per account);
    /// default 8, at most --parallelism.
    #[arg(long = "account-parallelism", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub account_parallelism: Option<u16>,
}

/// Opt-ins for destructive changes.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OptIns {
    /// Allow scheduling the deletion of KMS keys (after their waiting period).
    #[arg(long = "allow-key-deletion")]
    pub allow_key_deletion: bool,
    /// Allow removing the resources of accounts that left the estate.
    #[arg(long = "allow-account-removal")]
    pub allow_account_removal: bool,
}

/// `plan` options.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Opt-ins.
    #[command(flatten)]
    pub opt_ins: OptIns,
    /// Take the state lock while planning (the default). `--lock=false` plans without it,
    /// where the lock cannot be created (a read-only checkout, a review bot); a plan changes
    /// nothing, but it may read a state another run is writing. Not offered for apply.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub lock: bool,
    /// Waiting for the lock.
    #[command(flatten)]
    pub lock_timeout: LockTimeout,
    /// Also save the complete plan to FILE (mode 0600), for `eksmgr apply FILE`.
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Plan only this resource and what it depends on (repeatable).
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Show only drift: what changed outside eksmgr since the last apply (with
    /// `--detailed-exitcode`: 2 when there is drift).
    #[arg(long = "refresh-only", conflicts_with = "out")]
    pub refresh_only: bool,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// How many resources are read at once, and the most AWS calls in flight at once (role
    /// assumptions, retries and the calls within one read included).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=MAX_PARALLELISM))]
    pub parallelism: u16,
    /// How many AWS reads at once in one account (AWS throttles per account); default 8, at
    /// most --parallelism.
    #[arg(long = "account-parallelism", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub account_parallelism: Option<u16>,
    /// Print the plan as JSON (docs/plan-json.md) instead of the human plan; the same as
    /// `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// How to print the plan: `human` (default), `json`, or `markdown` (a pull-request
    /// comment, within GitHub's size limit).
    #[arg(long, value_enum)]
    pub format: Option<PlanFormat>,
}

/// Renderings of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// Terraform-style text.
    Human,
    /// The versioned JSON document of docs/plan-json.md.
    Json,
    /// Markdown for a pull-request comment.
    Markdown,
}

impl PlanArgs {
    /// The rendering asked for.
    pub fn format(&self) -> PlanFormat {
        if self.json {
            PlanFormat::Json
        } else {
            self.format.unwrap_or(PlanFormat::Human)
        }
    }
}

/// `show` options.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A plan saved by `eksmgr plan --out FILE`.
    #[arg(value_name = "PLAN_FILE")]
    pub file: PathBuf,
    /// Print it as JSON (docs/plan-json.md) instead of the human plan.
    #[arg(long)]
    pub json: bool,
}

/// `apply` and `destroy` options.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Opt-ins.
    #[command(flatten)]
    pub opt_ins: OptIns,
    /// Waiting for the lock.
    #[command(flatten)]
    pub lock_timeout: LockTimeout,
    /// Only this resource and what it depends on; for destroy, what depends on it
    /// (repeatable).
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
    /// Change nothing in AWS: record in state what AWS holds for the resources that drifted
    /// (and forget those deleted outside eksmgr).
    #[arg(long = "refresh-only")]
    pub refresh_only: bool,
    /// Do not ask for confirmation.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// How many operations at once (and reads, when planning first), and the most AWS calls
    /// in flight at once.
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=MAX_PARALLELISM))]
    pub parallelism: u16,
    /// How many operations (and reads) at once in one account (AWS throttles per account);
    /// default 8, at most --parallelism.
    #[arg(long = "account-parallelism", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub account_parallelism: Option<u16>,
}

/// `apply` options: the common ones, and maybe a saved plan.
#[derive(Debug, clap::Args)]
pub struct ApplyCommand {
    /// Apply exactly this plan, saved by `eksmgr plan --out FILE`, without asking (it was
    /// reviewed already). Refused when the state, the configuration or the credentials changed
    /// since it was made.
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: Option<PathBuf>,
    /// Options shared with destroy.
    #[command(flatten)]
    pub args: ApplyArgs,
}

/// `state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the addresses in state.
    List,
    /// Show one resource's record.
    Show {
        /// The address, e.g. `iam_role.EKSManagerAgentRole[222222222222]`.
        address: String,
    },
    /// Forget resources: eksmgr stops managing them; they stay in AWS (the next plan adopts
    /// any that the configuration still declares).
    Rm {
        /// The addresses to forget.
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Move a record to another address of the same kind (after a rename in the
    /// configuration), so the next plan does not destroy and recreate it.
    Mv {
        /// The address the record has now.
        source: String,
        /// The address it should have.
        destination: String,
    },
    /// Copy the state from another place into the one `[state]` in the configuration names
    /// (e.g. after switching to `backend = "s3"`), keeping its lineage. Both places are locked
    /// while it runs; the source is left as it was.
    Migrate {
        /// Where the state is now: a local file or `s3://BUCKET/KEY`. Default: the local file
        /// next to the configuration (`eksmgr.state.json`), when the configuration names S3.
        #[arg(long = "from", value_name = "PATH|s3://BUCKET/KEY")]
        from: Option<String>,
        /// The region of an `s3://` source's bucket. Default: `[state] region`, else
        /// `organization.home_region`.
        #[arg(long = "from-region", value_name = "REGION")]
        from_region: Option<String>,
        /// A role to assume for an `s3://` source (a bucket in another account). Default:
        /// `[state] role_arn`, else the caller's own credentials.
        #[arg(long = "from-role-arn", value_name = "ARN")]
        from_role_arn: Option<String>,
        /// Replace a destination that holds another state (another lineage, or an older
        /// copy of this one).
        #[arg(long)]
        force: bool,
    },
}

/// `kubeconfig` options.
#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    /// The IAM role `aws eks get-token` assumes: a role name (looked up in each cluster's
    /// account) or a role ARN. Default: the spoke admin role (`spokes.admin_role_name`, else
    /// `governance.stackset.spoke_admin_role_name`).
    #[arg(long, value_name = "NAME_OR_ARN")]
    pub role: Option<String>,
    /// The kubeconfig to write or merge into. Default: the first path of $KUBECONFIG, else
    /// ~/.kube/config.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Only this cluster (its name; repeat for more). Default: every cluster in state.
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<String>,
    /// Print the resulting kubeconfig on stdout and write nothing.
    #[arg(long, visible_alias = "dry-run")]
    pub print: bool,
    /// Make this the current context: a context name, or the name of one cluster written.
    #[arg(long = "set-current", value_name = "CONTEXT")]
    pub set_current: Option<String>,
}

/// `eksmgr secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write the current version of each selected secret into its target namespaces
    /// (server-side apply, field manager `eksmgr`); a target already at that version, or
    /// holding a secret eksmgr does not manage, is left alone (unless --force). Exit 0 when
    /// every target was written or current, 3 when some were left for a human, 1 on errors.
    Push(SecretsArgs),
    /// Show, per secret and target, whether the cluster holds the hub's current version
    /// (`current`), an older one (`outdated`), none (`missing`), a secret eksmgr does not
    /// manage (`unmanaged`) or no such namespace (`no-namespace`). Exit codes as `plan
    /// --detailed-exitcode`: 0 all current, 2 a push would change something, 3 a human must
    /// act, 1 errors.
    Status(SecretsArgs),
}

/// `secrets push` and `secrets status` options.
#[derive(Debug, clap::Args)]
pub struct SecretsArgs {
    /// Only these `[[secrets]]` (by name). Default: all.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Only this cluster: its name, its account id, or `NAME@ACCOUNT/REGION` (repeat for more).
    #[arg(long = "cluster", value_name = "CLUSTER")]
    pub clusters: Vec<String>,
    /// Only this namespace (repeat for more).
    #[arg(long = "namespace", value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,
    /// `push`: show what would be written and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `push`: overwrite a secret eksmgr does not manage (taking over its fields), and
    /// rewrite targets that are current already.
    #[arg(long)]
    pub force: bool,
    /// `push`: create target namespaces that do not exist (needs cluster-wide access; the
    /// planned access entry is limited to the namespaces).
    #[arg(long)]
    pub create_namespace: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Clusters worked on at once.
    #[arg(long, default_value_t = DEFAULT_CLUSTERS_AT_ONCE, value_name = "N")]
    pub parallelism: u16,
}

/// `init` options.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The OU whose accounts are the EKS spokes: its id (`ou-...`), name or path (`/eks/prod`).
    /// Asked for on a terminal when not given.
    #[arg(long = "eks-ou", value_name = "OU_ID_OR_NAME")]
    pub eks_ou: Option<String>,
    /// The hub (shared services) account: its 12-digit id or its name. Asked for on a terminal
    /// when not given.
    #[arg(long = "hub-account", value_name = "ID")]
    pub hub_account: Option<String>,
    /// The file to write. Default: the --config path (eksmgr.toml).
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `whoami` options.
#[derive(Debug, clap::Args)]
pub struct WhoamiArgs {
    /// Print the tiers as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Cli {
    /// The caller's choices of credentials and region (`--profile`, `--region`).
    pub fn caller(&self) -> eksmgr_providers::CallerOptions {
        eksmgr_providers::CallerOptions::new(self.profile.clone(), self.region.clone())
    }
}

/// The command line with Terraform's single-dash spellings of the lock options (`-lock=false`,
/// `-lock-timeout=30s`) written as eksmgr's (`--lock=false`, `--lock-timeout=30s`).
pub fn terraform_spellings(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|a| match a.to_str() {
            Some(t)
                if t == "-lock" || t.starts_with("-lock=") || t.starts_with("-lock-timeout") =>
            {
                format!("-{t}").into()
            }
            _ => a,
        })
        .collect()
}

/// The concurrency limits of `--parallelism` and `--account-parallelism`.
pub fn limits(
    parallelism: u16,
    account_parallelism: Option<u16>,
) -> eksmgr_engine::schedule::Limits {
    use eksmgr_engine::schedule::Limits;
    match account_parallelism {
        Some(n) => Limits::new(parallelism.into(), n.into()),
        None => Limits::with_default_per_account(parallelism.into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_read_as_terraform_writes_them() {
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["", "s", "5x", "m5", "1.5s", "-1s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn terraform_single_dash_lock_options_are_understood() {
        let args = terraform_spellings(
            ["eksmgr", "plan", "-lock=false", "-lock-timeout=30s", "-v"].map(Into::into),
        );
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Plan(plan) = cli.command else {
            panic!("not a plan: {cli:?}");
        };
        assert!(!plan.lock);
        assert_eq!(plan.lock_timeout.lock_timeout, Duration::from_secs(30));
        // Apply has no --lock: it always takes the lock.
        let apply = Cli::try_parse_from(["eksmgr", "apply", "--lock=false"]);
        assert!(apply.is_err());
    }
}
