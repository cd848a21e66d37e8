//! A small estate for end-to-end tests of eksmgr's commands: a moto server seeded with an
//! organization, a work directory, and the `eksmgr` runner, with the configuration most
//! command tests need (the governance layer and the hub registry, spoke discovery off).

use std::time::Duration;

use tempfile::TempDir;

use crate::check::ensure;
use crate::{Eksmgr, MotoServer, Output, Seed};

/// Longest a single eksmgr run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

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

/// moto, its seeded organization, a work directory and eksmgr; dropped in that order's
/// reverse (the server is killed last).
pub struct Estate {
    /// The eksmgr runner in the work directory.
    pub eksmgr: Eksmgr,
    /// The work directory (config, state, saved plans).
    pub dir: TempDir,
    /// The seeded organization.
    pub seed: Seed,
    /// The emulator.
    pub moto: MotoServer,
}

impl Estate {
    /// moto with `spokes` spoke accounts, a work directory named `prefix...`, and
    /// [`registry_config`] written.
    pub fn start(prefix: &str, spokes: usize) -> Result<Estate, String> {
        Estate::start_with_env(prefix, spokes, &[])
    }

    /// [`Estate::start`], the emulator started with extra environment variables.
    pub fn start_with_env(
        prefix: &str,
        spokes: usize,
        env: &[(&str, &str)],
    ) -> Result<Estate, String> {
        let moto = MotoServer::start_with_env(env)?;
        let seed = moto.seed(spokes)?;
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let eksmgr = Eksmgr::new(dir.path(), moto.endpoint())?.timeout(RUN_TIMEOUT);
        eksmgr.write_config(&registry_config(&seed, &[]))?;
        Ok(Estate {
            eksmgr,
            dir,
            seed,
            moto,
        })
    }

    /// The same estate, with eksmgr runs allowed `timeout` each (large estates).
    pub fn with_timeout(mut self, timeout: Duration) -> Estate {
        self.eksmgr = self.eksmgr.timeout(timeout);
        self
    }

    /// The hub account.
    pub fn hub(&self) -> &str {
        &self.seed.hub_account_id
    }

    /// A path in the work directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs eksmgr and checks its exit code; the failure message holds both streams and the
    /// end of moto's log.
    pub fn expect(&self, args: &[&str], code: i32) -> Result<Output, String> {
        let out = self.eksmgr.run(args)?;
        ensure(out.code == Some(code), || {
            format!(
                "eksmgr {} should exit {code}\n{out}\n--- moto log ---\n{}",
                args.join(" "),
                self.moto.log_tail()
            )
        })?;
        Ok(out)
    }
}
