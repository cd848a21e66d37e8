//! Saved plans: what makes one stale (state lineage or serial, configuration digest,
//! identities), each reason named, and a round trip through JSON.

#![allow(clippy::unwrap_used)]

use eksmgr_engine::plan::{PlanIdentity, PlanOptions, Planner, SAVED_PLAN_FORMAT, SavedPlan};
use eksmgr_engine::refresh::Observations;
use eksmgr_state::State;

fn identity() -> PlanIdentity {
    PlanIdentity {
        management_account_id: "111111111111".into(),
        partition: "aws".into(),
        hub_account_id: "222222222222".into(),
    }
}

fn saved(state: &State) -> SavedPlan {
    let plan = Planner::plan(
        &[],
        state,
        &Observations::new(),
        &PlanOptions {
            config_digest: "sha256:aaaa".into(),
            ..PlanOptions::default()
        },
    )
    .unwrap();
    SavedPlan::new(identity(), plan)
}

#[test]
fn a_fresh_saved_plan_is_not_stale_and_survives_json() {
    let state = State::new();
    let s = saved(&state);
    assert_eq!(s.format, SAVED_PLAN_FORMAT);
    assert!(s.staleness(&state, "sha256:aaaa", &identity()).is_empty());
    let back: SavedPlan = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn each_reason_is_named() {
    let state = State::new();
    let s = saved(&state);

    let mut moved = state.clone();
    moved.serial += 1;
    let why = s.staleness(&moved, "sha256:aaaa", &identity());
    assert_eq!(why.len(), 1);
    assert!(
        why[0].contains("serial 1") && why[0].contains("serial 0"),
        "{why:?}"
    );

    let other = State::new();
    let why = s.staleness(&other, "sha256:aaaa", &identity());
    assert!(why[0].contains("another estate"), "{why:?}");

    let why = s.staleness(&state, "sha256:bbbb", &identity());
    assert_eq!(
        why,
        vec!["the configuration file changed since the plan was made".to_string()]
    );

    let mut elsewhere = identity();
    elsewhere.management_account_id = "333333333333".into();
    elsewhere.hub_account_id = "444444444444".into();
    let why = s.staleness(&state, "sha256:aaaa", &elsewhere);
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[0].contains("management account 333333333333"));
    assert!(why[1].contains("hub account is 444444444444"));
}
