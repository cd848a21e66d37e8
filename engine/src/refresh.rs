//! Refresh: read every desired and recorded resource through the provider, concurrently and
//! bounded, producing the observations the planner diffs against. This is the only engine
//! step besides apply that talks to a provider; the planner itself stays pure.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use eksmgr_state::{ResourceAddress, State};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use crate::model::{DesiredResource, ObservedResource};
use crate::provider::{Provider, ProviderError, ReadRequest};
use crate::schedule::{FairQueue, Limits};

/// Accounts open for reading per group of `--account-parallelism` slots of `--parallelism`
/// (see [`refresh_with_progress`]): 4, so that the accounts waiting on their role assumption
/// or a listing leave enough others to fill the slots.
const ACCOUNTS_PER_SLOT_GROUP: usize = 4;

/// What a read found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Observation {
    /// The resource exists.
    Found(ObservedResource),
    /// It does not exist.
    Missing,
    /// It could not be read (unreachable account, access denied ...).
    Unreadable {
        /// The error (boxed: an observation of every resource is kept for the plan, and
        /// almost all of them are found, so the map's entries are sized for those).
        error: Box<ProviderError>,
    },
}

/// Observations by address.
pub type Observations = BTreeMap<ResourceAddress, Observation>;

/// How far a refresh has got: reported once before the first read and after every read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshProgress {
    /// Reads finished.
    pub done: usize,
    /// Reads in all.
    pub total: usize,
    /// Accounts the reads are in.
    pub accounts: usize,
}

/// Reads every desired resource and every resource recorded in state, within `limits` (a
/// `usize` is `--parallelism` with the default per-account limit): accounts take turns, so the
/// first reads of every account (role assumption, account-wide listings) overlap and a
/// throttled account holds only its own share of the slots.
pub async fn refresh<P: Provider + ?Sized>(
    provider: &P,
    desired: &[DesiredResource],
    state: &State,
    limits: impl Into<Limits>,
) -> Observations {
    refresh_with_progress(provider, desired, state, limits, &mut |_| {}).await
}

/// [`refresh`], telling `on_progress` how far it has got (for a progress bar; nothing is
/// printed here).
pub async fn refresh_with_progress<P: Provider + ?Sized>(
    provider: &P,
    desired: &[DesiredResource],
    state: &State,
    limits: impl Into<Limits>,
    on_progress: &mut (dyn FnMut(RefreshProgress) + Send),
) -> Observations {
    let desired_by: BTreeMap<&ResourceAddress, &DesiredResource> =
        desired.iter().map(|d| (&d.address, d)).collect();
    let addresses: BTreeSet<&ResourceAddress> = desired_by
        .keys()
        .copied()
        .chain(state.resources.keys())
        .collect();
    // Within an account, kinds take turns too: the first reads of an account start the
    // listings of different services (one role read lists the account's roles for all the
    // others) instead of several reads waiting on the same listing.
    type Kinds<'a> = BTreeMap<&'a str, VecDeque<&'a ResourceAddress>>;
    let mut by_account: BTreeMap<&str, Kinds<'_>> = BTreeMap::new();
    for addr in addresses {
        by_account
            .entry(addr.account.as_str())
            .or_default()
            .entry(addr.kind.as_str())
            .or_default()
            .push_back(addr);
    }
    let mut progress = RefreshProgress {
        done: 0,
        total: by_account
            .values()
            .flat_map(|kinds| kinds.values())
            .map(VecDeque::len)
            .sum(),
        accounts: by_account.len(),
    };
    on_progress(progress);
    let limits = limits.into();
    // Accounts are read a window at a time, in turns within the window: enough accounts to
    // keep every slot busy (each account's reads start with its role assumption and
    // listings), few enough that what the provider holds for an account being read (its
    // clients and listings, dropped by `release` once the account is read) stays bounded in
    // an organization of thousands of accounts.
    let window = limits
        .total
        .div_ceil(limits.per_account)
        .saturating_mul(ACCOUNTS_PER_SLOT_GROUP)
        .max(1);
    let mut unopened: VecDeque<(&str, Vec<&ResourceAddress>)> = by_account
        .into_iter()
        .map(|(account, mut kinds)| {
            let mut turns = Vec::new();
            while !kinds.is_empty() {
                kinds.retain(|_, group| {
                    if let Some(addr) = group.pop_front() {
                        turns.push(addr);
                    }
                    !group.is_empty()
                });
            }
            (account, turns)
        })
        .collect();
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    let mut queue = FairQueue::new(limits);
    let mut running = FuturesUnordered::new();
    let mut observed = Observations::new();
    loop {
        while left.len() < window
            && let Some((account, turns)) = unopened.pop_front()
        {
            left.insert(account, turns.len());
            for addr in turns {
                queue.push(account, addr);
            }
        }
        while let Some((_, addr)) = queue.start_next() {
            let record = state.resources.get(addr);
            let desired = desired_by.get(addr).copied();
            running.push(async move {
                // Made for the read and dropped after it: only the reads in flight hold a copy.
                let known = desired.map(DesiredResource::known_attrs);
                let req = ReadRequest {
                    address: addr,
                    id: record.map(|r| r.id.as_str()),
                    desired: known.as_ref(),
                    recorded: record.map(|r| &*r.attrs),
                };
                let obs = match provider.read(req).await {
                    Ok(Some(mut o)) => {
                        // What AWS holds is what state records (the steady state): keep one
                        // copy, shared by state, the observation and the plan.
                        if let Some(r) = record.filter(|r| r.attrs == o.attrs) {
                            o.attrs = Arc::clone(&r.attrs);
                        }
                        Observation::Found(o)
                    }
                    Ok(None) => Observation::Missing,
                    Err(error) => Observation::Unreadable {
                        error: Box::new(error),
                    },
                };
                (addr.clone(), obs)
            });
        }
        let Some((addr, obs)) = running.next().await else {
            break;
        };
        queue.finished(&addr.account);
        if let Some(n) = left.get_mut(addr.account.as_str()) {
            *n -= 1;
            if *n == 0 {
                left.remove(addr.account.as_str());
                provider.release(&addr.account).await;
            }
        }
        observed.insert(addr, obs);
        progress.done += 1;
        on_progress(progress);
    }
    observed
}

/// `apply --refresh-only`: records in `state` what AWS holds for every resource that drifted
/// (`drifted`, from a plan), and forgets the ones deleted outside eksmgr. Changes nothing in
/// AWS. Returns how many records changed.
pub fn record_drift(
    state: &mut State,
    drifted: &[ResourceAddress],
    observed: &Observations,
) -> usize {
    let mut changed = 0;
    for addr in drifted {
        match observed.get(addr) {
            Some(Observation::Found(o)) => {
                if let Some(rec) = state.resources.get_mut(addr) {
                    rec.id.clone_from(&o.id);
                    rec.attrs.clone_from(&o.attrs);
                    rec.updated_at = chrono::Utc::now();
                    changed += 1;
                }
            }
            Some(Observation::Missing) if state.resources.remove(addr).is_some() => {
                changed += 1;
            }
            _ => {}
        }
    }
    changed
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::synthetic::{Estate, RecordedProvider, cloud_matching, state_matching};

    #[tokio::test]
    async fn progress_counts_every_read_once_up_to_the_total() {
        let estate = Estate::new(3);
        let config = crate::config::parse(&estate.config_toml(), "synthetic.toml").unwrap();
        let bp = crate::blueprint::expand(&config, &estate.discovery()).unwrap();
        // A record the configuration no longer declares is read too.
        let (gone, rest) = bp.resources.split_first().unwrap();
        let state = state_matching(&bp.resources, &cloud_matching(&bp.resources));
        let mut seen = Vec::new();
        let read =
            refresh_with_progress(&RecordedProvider, rest, &state, 4, &mut |p| seen.push(p)).await;
        assert!(read.contains_key(&gone.address));
        let accounts: BTreeSet<_> = read.keys().map(|a| a.account.as_str()).collect();
        assert!(accounts.len() > 1);
        assert_eq!(seen.len(), read.len() + 1);
        for (i, p) in seen.iter().enumerate() {
            assert_eq!(
                *p,
                RefreshProgress {
                    done: i,
                    total: read.len(),
                    accounts: accounts.len(),
                }
            );
        }
    }

    #[tokio::test]
    async fn nothing_to_read_reports_zero_of_zero() {
        let mut seen = Vec::new();
        let read = refresh_with_progress(&RecordedProvider, &[], &State::new(), 4, &mut |p| {
            seen.push(p)
        })
        .await;
        assert!(read.is_empty());
        assert_eq!(
            seen,
            [RefreshProgress {
                done: 0,
                total: 0,
                accounts: 0
            }]
        );
    }

    /// Reads through [`RecordedProvider`], logging each read's account and each release.
    #[derive(Default)]
    struct Watching {
        log: std::sync::Mutex<Vec<(&'static str, String)>>,
    }

    #[async_trait::async_trait]
    impl Provider for Watching {
        async fn read(
            &self,
            req: ReadRequest<'_>,
        ) -> Result<Option<ObservedResource>, ProviderError> {
            let account = req.address.account.to_string();
            self.log.lock().unwrap().push(("read", account.clone()));
            let found = RecordedProvider.read(req).await;
            self.log.lock().unwrap().push(("done", account));
            found
        }
        async fn create(
            &self,
            address: &ResourceAddress,
            attrs: &crate::model::Attrs,
        ) -> Result<ObservedResource, ProviderError> {
            RecordedProvider.create(address, attrs).await
        }
        async fn update(
            &self,
            address: &ResourceAddress,
            id: &str,
            before: &crate::model::Attrs,
            after: &crate::model::Attrs,
            changed: &[String],
        ) -> Result<ObservedResource, ProviderError> {
            RecordedProvider
                .update(address, id, before, after, changed)
                .await
        }
        async fn delete(
            &self,
            address: &ResourceAddress,
            id: &str,
            before: &crate::model::Attrs,
        ) -> Result<(), ProviderError> {
            RecordedProvider.delete(address, id, before).await
        }
        async fn release(&self, account: &str) {
            self.log
                .lock()
                .unwrap()
                .push(("release", account.to_string()));
        }
    }

    #[tokio::test]
    async fn accounts_are_read_a_window_at_a_time_and_released_once_read() {
        let estate = Estate::new(30);
        let config = crate::config::parse(&estate.config_toml(), "synthetic.toml").unwrap();
        let bp = crate::blueprint::expand(&config, &estate.discovery()).unwrap();
        let state = state_matching(&bp.resources, &cloud_matching(&bp.resources));
        let provider = Watching::default();
        let limits = Limits::new(4, 2);
        let read = refresh(&provider, &bp.resources, &state, limits).await;
        let window = 2 * ACCOUNTS_PER_SLOT_GROUP;
        let accounts: BTreeSet<&str> = read.keys().map(|a| a.account.as_str()).collect();
        assert!(accounts.len() > window, "{} accounts", accounts.len());

        let log = provider.log.lock().unwrap();
        let mut open: BTreeMap<&str, usize> = BTreeMap::new();
        let mut released = BTreeSet::new();
        let mut most_open = 0;
        for (event, account) in log.iter() {
            let account = account.as_str();
            match *event {
                "read" => {
                    assert!(!released.contains(account), "{account} read after release");
                    *open.entry(account).or_default() += 1;
                }
                "done" => *open.get_mut(account).unwrap() -= 1,
                _ => {
                    assert_eq!(open.remove(account), Some(0), "{account} released mid-read");
                    assert!(released.insert(account), "{account} released twice");
                }
            }
            most_open = most_open.max(open.len());
        }
        assert!(open.is_empty(), "never released: {open:?}");
        assert_eq!(released, accounts);
        assert!(most_open <= window, "{most_open} accounts open at once");
        assert!(most_open > 1, "accounts should overlap");
    }
}
