//! Where the state is kept, for the commands: a [`Backend`] (a local file, or an S3 object
//! with `[state] backend = "s3"`) chosen from the configuration and the flags, and the one
//! way the commands hold the state lock, [`Store::locked`].
//!
//! The lock is held for the work passed to [`Store::locked`] and given back when it ends,
//! however it ends; taking it and giving it back are [`Critical`](crate::interrupt::Critical)
//! steps, never cut in two by an interrupt. A command stopped by an interrupt drops the work,
//! and with it the lock's guard, which does no I/O: [`release_abandoned`] gives that lock back
//! once the command has ended (see `commands::run`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use eksmgr_engine::config::{Arn, Config, StateBackend};
use eksmgr_providers::CallerOptions;
use eksmgr_providers::s3_backend::S3Backend;
use eksmgr_providers::state_s3::S3Location;
use eksmgr_state::backend::{self, Backend, LockHooks, Shield};
use eksmgr_state::{LocalBackend, LockInfo, OpenJournal, State, StateError};

/// The name of the state file next to the configuration.
const STATE_FILE_NAME: &str = "eksmgr.state.json";

/// Where the state is kept.
pub struct Store {
    backend: Box<dyn Backend>,
    place: Place,
}

/// Which place a store is, to tell two apart.
enum Place {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

/// What the commands' locks tell and shield: the wait is said on stderr, and taking or giving
/// back a lock is a critical step.
struct CommandHooks;

impl LockHooks for CommandHooks {
    fn waiting(&self, holder: &StateError, timeout: Duration) {
        crate::progress::output().info(format_args!(
            "Waiting up to {}s for the state lock: {holder}",
            timeout.as_secs()
        ));
    }

    fn shield(&self) -> Shield {
        Shield::holding(crate::interrupt::Critical::enter())
    }

    fn release_failed(&self, error: &StateError) {
        warn_unreleased(error);
    }
}

/// Says that a lock could not be given back, and how to remove it.
fn warn_unreleased(error: &StateError) {
    eprintln!(
        "Warning: the state lock could not be removed: {error}; run `eksmgr unlock LOCK_ID` once no eksmgr run is active (the next run names the id)"
    );
}

/// Gives back the locks of a command that was stopped before it could (see [`Store::locked`]),
/// saying which could not be.
pub async fn release_abandoned() {
    let _whole = crate::interrupt::Critical::enter();
    for error in backend::release_abandoned().await {
        warn_unreleased(&error);
    }
}

impl Store {
    fn local(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Store {
            backend: Box::new(LocalBackend::new(&path)),
            place: Place::Local(path),
        }
    }

    fn s3(
        location: S3Location,
        caller: &CallerOptions,
        role_arn: Option<String>,
        rescue_dir: PathBuf,
    ) -> Result<Self> {
        let place = Place::S3 {
            bucket: location.bucket.clone(),
            key: location.key.clone(),
        };
        let backend = S3Backend::new(location, caller, role_arn, rescue_dir)?;
        Ok(Store {
            backend: Box::new(backend),
            place,
        })
    }

    /// The store the configuration names; `state_flag` (`--state`) selects a local file.
    pub fn open(
        config: &Config,
        config_path: &Path,
        state_flag: Option<&Path>,
        caller: CallerOptions,
    ) -> Result<Self> {
        let dir = dir_of(config_path);
        match (config.state.backend, state_flag) {
            (StateBackend::Local, Some(path)) => Ok(Store::local(path)),
            (StateBackend::Local, None) => Ok(Store::local(
                dir.join(config.state.path.as_deref().unwrap_or(STATE_FILE_NAME)),
            )),
            (StateBackend::S3, Some(path)) => bail!(
                "--state {} names a local state file, but {} keeps the state in S3 ({}): drop --state, or copy the state with `eksmgr state migrate`",
                path.display(),
                config_path.display(),
                s3_location(config, config.state.s3_key(), None).url()
            ),
            (StateBackend::S3, None) => {
                let location = s3_location(config, config.state.s3_key(), None);
                Store::s3(location, &caller, configured_role(config), dir)
            }
        }
    }

    /// The local state file next to the configuration (`eksmgr.state.json`).
    pub fn open_local_default(config_path: &Path) -> Self {
        Store::local(dir_of(config_path).join(STATE_FILE_NAME))
    }

    /// A store for `source` as `eksmgr state migrate --from` names it: `s3://BUCKET/KEY` (in
    /// its region and through its role, default the configuration's) or a local path.
    pub fn from_source(
        config: &Config,
        config_path: &Path,
        source: &Source<'_>,
        caller: CallerOptions,
    ) -> Result<Self> {
        let text = source.text;
        let Some(rest) = text.strip_prefix("s3://") else {
            return Ok(Store::local(text));
        };
        let (bucket, key) = rest
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| anyhow!("--from {text}: expected s3://BUCKET/KEY"))?;
        let mut location = s3_location(config, key, source.region);
        location.bucket = bucket.to_string();
        let role_arn = match source.role_arn {
            Some(arn) => Some(
                arn.parse::<Arn>()
                    .map_err(|e| anyhow!("--from-role-arn {arn}: {e}"))?
                    .as_str()
                    .to_string(),
            ),
            None => configured_role(config),
        };
        Store::s3(location, &caller, role_arn, dir_of(config_path))
    }

    /// Where the state is, for people: a path or `s3://BUCKET/KEY`.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Whether the state is kept in S3.
    pub fn is_remote(&self) -> bool {
        matches!(self.place, Place::S3 { .. })
    }

    /// Whether two stores are the same place.
    pub fn same_place(&self, other: &Store) -> bool {
        match (&self.place, &other.place) {
            (Place::Local(a), Place::Local(b)) => canonical(a) == canonical(b),
            (
                Place::S3 { bucket, key },
                Place::S3 {
                    bucket: other_bucket,
                    key: other_key,
                },
            ) => bucket == other_bucket && key == other_key,
            _ => false,
        }
    }

    /// Runs `work` holding the state lock for `command` (e.g. `eksmgr apply`), taken as soon
    /// as no other run holds it, waiting up to `timeout` (zero: one attempt), and given back
    /// once `work` is done, whether it succeeded or not. `work` is not started before the lock
    /// is held.
    pub async fn locked<T>(
        &self,
        command: &str,
        timeout: Duration,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        backend::locked(&*self.backend, command, timeout, &CommandHooks, work).await
    }

    /// Removes the lock whose id is `lock_id`, returning who held it.
    pub async fn force_unlock(&self, lock_id: &str) -> Result<LockInfo> {
        Ok(self.backend.force_unlock(lock_id).await?)
    }

    /// The state, with the journal of an interrupted apply replayed; a fresh, empty state
    /// where there is none.
    pub async fn load(&self) -> Result<State> {
        Ok(self.backend.load().await?.state)
    }

    /// [`Store::load`], and whether a state exists there.
    pub async fn load_found(&self) -> Result<(State, bool)> {
        let loaded = self.backend.load().await?;
        Ok((loaded.state, loaded.exists))
    }

    /// Saves `state` (its serial incremented) and removes the journal it holds; refused over
    /// a state of another lineage, or a newer one.
    pub async fn save(&self, state: &mut State) -> Result<()> {
        Ok(self.backend.save(state).await?)
    }

    /// Saves `state` over whatever state is there (`state migrate --force`).
    pub async fn replace(&self, state: &mut State) -> Result<()> {
        Ok(self.backend.replace(state).await?)
    }

    /// Where the journal of an apply is kept, for messages.
    pub fn journal_location(&self) -> String {
        self.backend.journal_location()
    }

    /// Starts the journal an apply appends its steps to, with what copies it to where the
    /// state is kept as it grows.
    pub async fn start_journal(&self, state: &mut State) -> Result<OpenJournal> {
        Ok(self.backend.start_journal(state).await?)
    }
}

/// Another place's state, as `eksmgr state migrate` names it.
pub struct Source<'a> {
    /// `--from`: a local path or `s3://BUCKET/KEY`.
    pub text: &'a str,
    /// `--from-region`: the bucket's region.
    pub region: Option<&'a str>,
    /// `--from-role-arn`: the role to reach the bucket through.
    pub role_arn: Option<&'a str>,
}

/// The role `[state] role_arn` names, if any.
fn configured_role(config: &Config) -> Option<String> {
    config
        .state
        .role_arn
        .as_ref()
        .map(|a| a.as_str().to_string())
}

/// `path` with its directory resolved (links, `..`, relative to absolute), for comparing two
/// paths of which one may not exist yet: the file itself need not exist.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    match (std::fs::canonicalize(dir_of(path)), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// The directory of a file such as the configuration (`.` for a bare file name).
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The S3 location of `[state]` with `key` (and `region` if given).
fn s3_location(config: &Config, key: &str, region: Option<&str>) -> S3Location {
    let st = &config.state;
    let bucket = st.bucket.clone().unwrap_or_default();
    let region = region
        .or(st.region.as_deref())
        .unwrap_or(&config.organization.home_region)
        .to_string();
    S3Location {
        bucket,
        key: key.to_string(),
        region,
        path_style: st.use_path_style || endpoint_overridden(),
    }
}

/// Whether the standard endpoint variables send S3 calls somewhere else than AWS (an
/// S3-compatible store or an emulator), which then takes path-style addressing.
fn endpoint_overridden() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_local_path_is_the_same_place_whether_or_not_it_exists_yet() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let roundabout = dir.path().join("sub/../eksmgr.state.json");
        let plain = dir.path().join("eksmgr.state.json");
        let a = Store::local(&roundabout);
        let b = Store::local(&plain);
        assert!(a.same_place(&b), "neither exists yet");
        std::fs::write(&plain, "{}").unwrap();
        assert!(a.same_place(&b), "both name one file");
        let other = Store::local(dir.path().join("other.json"));
        assert!(!a.same_place(&other));
    }
}
