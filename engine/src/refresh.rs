//! Refresh: read every desired and recorded resource through the provider, concurrently and
//! bounded, producing the observations the planner diffs against. This is the only engine
//! step besides apply that talks to a provider; the planner itself stays pure.

use std::collections::{BTreeMap, BTreeSet};

use eksmgr_state::{ResourceAddress, State};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

use crate::model::{DesiredResource, ObservedResource};
use crate::provider::{Provider, ProviderError, ReadRequest};
use crate::schedule::{FairQueue, Limits};

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
        /// The error.
        error: ProviderError,
    },
}

/// Observations by address.
pub type Observations = BTreeMap<ResourceAddress, Observation>;

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
    let desired_by: BTreeMap<&ResourceAddress, &DesiredResource> =
        desired.iter().map(|d| (&d.address, d)).collect();
    let addresses: BTreeSet<&ResourceAddress> = desired_by
        .keys()
        .copied()
        .chain(state.resources.keys())
        .collect();
    let known: BTreeMap<&ResourceAddress, _> = desired_by
        .iter()
        .map(|(a, d)| (*a, d.known_attrs()))
        .collect();
    let mut queue = FairQueue::new(limits.into());
    for addr in addresses {
        queue.push(&addr.account, addr);
    }
    let mut running = FuturesUnordered::new();
    let mut observed = Observations::new();
    loop {
        while let Some((_, addr)) = queue.start_next() {
            let record = state.resources.get(addr);
            let req = ReadRequest {
                address: addr,
                id: record.map(|r| r.id.as_str()),
                desired: known.get(addr),
                recorded: record.map(|r| &r.attrs),
            };
            running.push(async move {
                let obs = match provider.read(req).await {
                    Ok(Some(o)) => Observation::Found(o),
                    Ok(None) => Observation::Missing,
                    Err(error) => Observation::Unreadable { error },
                };
                (addr.clone(), obs)
            });
        }
        let Some((addr, obs)) = running.next().await else {
            break;
        };
        queue.finished(&addr.account);
        observed.insert(addr, obs);
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
