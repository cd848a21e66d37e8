//! The one estate fixture of the end-to-end tests: a moto server seeded with an organization,
//! a work directory with an `eksmgr.toml`, and the `eksmgr` runner, talking to moto directly or
//! through the counting, fault-injecting [`Proxy`].
//!
//! ```no_run
//! # fn demo() -> Result<(), String> {
//! use eksmgr_e2e::estate::Estate;
//! use eksmgr_e2e::example::example_config;
//! let estate = Estate::builder("eksmgr-e2e-demo-")
//!     .spokes(2)
//!     .config(example_config)
//!     .proxy()
//!     .start()?;
//! estate.apply()?;
//! assert!(estate.proxy()?.counts().contains_key("sts:AssumeRole"));
//! # Ok(()) }
//! ```
//!
//! Without [`EstateBuilder::config`] the estate gets [`registry_config`]: the governance layer
//! and the hub registry, spoke discovery off, what most command tests need.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use tempfile::TempDir;

use crate::check::ensure;
use crate::proxy::Proxy;
use crate::{Eksmgr, MotoServer, Output, Seed, assume, sdk_config};

/// Longest a single eksmgr run may take, unless [`EstateBuilder::timeout`] says otherwise.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// The role tests assume into member accounts to look at what eksmgr made.
const ACCESS_ROLE: &str = "OrganizationAccountAccessRole";

/// The governance layer and the hub repository `platform/api`, with spoke discovery off
/// (fast), and the repositories `more`.
pub fn registry_config(seed: &Seed, more: &[&str]) -> String {
    let mut text = format!(
        r#"
[organization]
eks_ou_id = "{}"

[hub]
account_id = "{}"

[[hub.ecr_repositories]]
name = "platform/api"

[spokes]
discover = false
"#,
        seed.eks_ou_id, seed.hub_account_id
    );
    for r in more {
        text.push_str(&format!("\n[[hub.ecr_repositories]]\nname = \"{r}\"\n"));
    }
    text
}

/// How an `eksmgr.toml` is made from the seed.
type MakeConfig = Box<dyn FnOnce(&Seed) -> Result<String, String>>;

/// What [`Estate::builder`] starts; see the module doc.
pub struct EstateBuilder {
    prefix: String,
    spokes: usize,
    proxy: bool,
    config: MakeConfig,
    moto_env: Vec<(String, String)>,
    timeout: Duration,
    binary: Option<PathBuf>,
}

impl EstateBuilder {
    /// Seed the organization with `spokes` spoke accounts (default 1).
    pub fn spokes(mut self, spokes: usize) -> Self {
        self.spokes = spokes;
        self
    }

    /// Put a [`Proxy`] between eksmgr and moto ([`Estate::proxy`]).
    pub fn proxy(mut self) -> Self {
        self.proxy = true;
        self
    }

    /// Write the configuration `config` makes from the seed (default [`registry_config`]).
    pub fn config(
        mut self,
        config: impl FnOnce(&Seed) -> Result<String, String> + 'static,
    ) -> Self {
        self.config = Box::new(config);
        self
    }

    /// Start moto with the environment variable `key` set (one of its settings:
    /// `EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS` ...).
    pub fn moto_env(mut self, key: &str, value: &str) -> Self {
        self.moto_env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Allow each eksmgr run `timeout` (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Run `binary` instead of the build [`Eksmgr::new`] finds.
    pub fn binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = Some(binary.into());
        self
    }

    /// Starts moto, seeds it, makes the work directory and writes the configuration.
    pub fn start(self) -> Result<Estate, String> {
        let env: Vec<(&str, &str)> = self
            .moto_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let moto = MotoServer::start_with_env(&env)?;
        let seed = moto.seed(self.spokes)?;
        let dir = tempfile::Builder::new()
            .prefix(&self.prefix)
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let proxy = if self.proxy {
            Some(Proxy::start(moto.endpoint())?)
        } else {
            None
        };
        let endpoint = proxy.as_ref().map_or(moto.endpoint(), Proxy::endpoint);
        let eksmgr = match self.binary {
            Some(binary) => Eksmgr::with_binary(binary, dir.path(), endpoint),
            None => Eksmgr::new(dir.path(), endpoint)?,
        }
        .timeout(self.timeout);
        eksmgr.write_config(&(self.config)(&seed)?)?;
        Ok(Estate {
            eksmgr,
            dir,
            seed,
            proxy,
            moto,
        })
    }
}

/// moto, its seeded organization, maybe a proxy, a work directory and eksmgr; dropped in the
/// order of the fields (the proxy before moto, moto last).
pub struct Estate {
    /// The eksmgr runner in the work directory, talking to the proxy if there is one.
    pub eksmgr: Eksmgr,
    /// The work directory (config, state, saved plans).
    pub dir: TempDir,
    /// The seeded organization.
    pub seed: Seed,
    /// The proxy in front of moto, if the estate was built with one.
    proxy: Option<Proxy>,
    /// The emulator.
    pub moto: MotoServer,
}

impl Estate {
    /// An estate named `prefix...`: one spoke, [`registry_config`], no proxy, until told
    /// otherwise.
    pub fn builder(prefix: &str) -> EstateBuilder {
        EstateBuilder {
            prefix: prefix.to_owned(),
            spokes: 1,
            proxy: false,
            config: Box::new(|seed| Ok(registry_config(seed, &[]))),
            moto_env: Vec::new(),
            timeout: RUN_TIMEOUT,
            binary: None,
        }
    }

    /// `Estate::builder(prefix).spokes(spokes).start()`.
    pub fn start(prefix: &str, spokes: usize) -> Result<Estate, String> {
        Estate::builder(prefix).spokes(spokes).start()
    }

    /// The proxy eksmgr talks through; an error if the estate was built without one.
    pub fn proxy(&self) -> Result<&Proxy, String> {
        self.proxy
            .as_ref()
            .ok_or_else(|| "the estate was built without a proxy".to_owned())
    }

    /// The hub account.
    pub fn hub(&self) -> &str {
        &self.seed.hub_account_id
    }

    /// The `i`-th spoke account.
    pub fn spoke(&self, i: usize) -> &str {
        &self.seed.spoke_account_ids[i]
    }

    /// A path in the work directory.
    pub fn path(&self, name: &str) -> String {
        self.file(name).display().to_string()
    }

    /// A path in the work directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs eksmgr; says on stderr how it exited and how long it took.
    pub fn run(&self, args: &[&str]) -> Result<Output, String> {
        let started = Instant::now();
        let out = self.eksmgr.run(args)?;
        eprintln!(
            "eksmgr {} -> {:?} in {:.1}s",
            args.join(" "),
            out.code,
            started.elapsed().as_secs_f64()
        );
        Ok(out)
    }

    /// Runs eksmgr and checks its exit code; the failure message holds both streams and the
    /// end of moto's log.
    pub fn expect(&self, args: &[&str], code: i32) -> Result<Output, String> {
        let out = self.run(args)?;
        ensure(out.code == Some(code), || {
            format!(
                "eksmgr {} should exit {code}\n{out}\n--- moto log ---\n{}",
                args.join(" "),
                self.moto.log_tail()
            )
        })?;
        Ok(out)
    }

    /// `eksmgr apply --auto-approve`, which must succeed.
    pub fn apply(&self) -> Result<Output, String> {
        self.expect(&["apply", "--auto-approve"], 0)
    }

    /// A plan that must find nothing to do.
    pub fn replan_clean(&self) -> Result<(), String> {
        let out = self.expect(&["plan", "--detailed-exitcode"], 0)?;
        ensure(out.stdout.contains("No changes."), || {
            format!("the re-plan should say No changes\n{out}")
        })
    }

    /// An SDK configuration acting in `account` (moto directly, never the proxy): the
    /// management account itself, any other through `OrganizationAccountAccessRole`.
    pub async fn sdk(&self, account: &str) -> Result<SdkConfig, String> {
        if account == self.seed.management_account_id {
            Ok(sdk_config(self.moto.endpoint()))
        } else {
            assume(self.moto.endpoint(), account, ACCESS_ROLE).await
        }
    }
}
