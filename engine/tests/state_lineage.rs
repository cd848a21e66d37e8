//! A saved plan applied to a state of another lineage: the state files are read from disk
//! through `StateFile::load`, as `eksmgr apply PLAN_FILE` reads them, and
//! `SavedPlan::staleness` must refuse the plan with a reason that names both lineages, even
//! when the other state's serial happens to match, and whatever its serial.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use eksmgr_engine::plan::{PlanIdentity, PlanOptions, Planner, SavedPlan};
use eksmgr_engine::refresh::Observations;
use eksmgr_state::{State, StateFile};

const OURS: &str = "0b7e2c1a-5d4f-4e8a-9c3b-2f1d6a7e8b90";
const THEIRS: &str = "7d41f6e2-93a0-4c55-b1de-5a0c2f9e8b13";
const DIGEST: &str = "sha256:aaaa";

fn identity() -> PlanIdentity {
    PlanIdentity {
        management_account_id: "111111111111".into(),
        partition: "aws".into(),
        hub_account_id: "222222222222".into(),
    }
}

/// Writes a state file of `lineage` at `serial` (one resource) and loads it back.
fn state_file(dir: &Path, name: &str, lineage: &str, serial: u64) -> State {
    let path = dir.join(name);
    let text = format!(
        r#"{{
  "format_version": 1,
  "lineage": "{lineage}",
  "serial": {serial},
  "resources": [
    {{
      "address": "iam_role.EKSManagerAgentRole[222222222222]",
      "id": "arn:aws:iam::222222222222:role/EKSManagerAgentRole",
      "attrs": {{}},
      "depends_on": [],
      "updated_at": "2025-03-01T12:00:00Z"
    }}
  ]
}}
"#
    );
    std::fs::write(&path, text).unwrap();
    let state = StateFile::new(&path).load().unwrap();
    assert_eq!((state.lineage.as_str(), state.serial), (lineage, serial));
    state
}

/// A plan saved against `state`, written to disk and read back as `apply PLAN_FILE` does.
fn saved_plan(dir: &Path, state: &State) -> SavedPlan {
    let plan = Planner::plan(
        &[],
        state,
        &Observations::new(),
        &PlanOptions {
            config_digest: DIGEST.into(),
            ..PlanOptions::default()
        },
    )
    .unwrap();
    let path = dir.join("plan.json");
    let saved = SavedPlan::new(identity(), plan);
    std::fs::write(&path, serde_json::to_vec(&saved).unwrap()).unwrap();
    let back: SavedPlan = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back.plan.state_lineage, OURS);
    back
}

/// Checks that `reason` refuses a state of lineage `theirs` as another estate's: it names both
/// lineages, the state's and the plan's, and says nothing of serials (another lineage's serial
/// means nothing for this plan). The facts, not the wording, are checked.
fn assert_another_lineage(reason: &str, theirs: &str) {
    assert!(
        reason.contains(theirs) && reason.contains(OURS),
        "the reason names both lineages, {theirs} (the state's) and {OURS} (the plan's): {reason:?}"
    );
    assert!(
        reason.contains("lineage") && reason.contains("estate"),
        "the reason says the state is of another lineage, another estate's: {reason:?}"
    );
    assert!(
        !reason.contains("serial"),
        "the reason is not about serials: {reason:?}"
    );
}

#[test]
fn the_state_the_plan_was_made_against_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ours = state_file(dir.path(), "ours.json", OURS, 7);
    let saved = saved_plan(dir.path(), &ours);
    assert_eq!(saved.plan.state_serial, 7);
    assert!(saved.staleness(&ours, DIGEST, &identity()).is_empty());
}

#[test]
fn another_lineage_at_the_same_serial_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = state_file(dir.path(), "ours.json", OURS, 7);
    let saved = saved_plan(dir.path(), &ours);
    // Same serial, same resources: only the lineage tells the two estates apart.
    let theirs = state_file(dir.path(), "theirs.json", THEIRS, 7);
    assert_eq!(theirs.resources, ours.resources);
    let why = saved.staleness(&theirs, DIGEST, &identity());
    assert_eq!(why.len(), 1, "{why:?}");
    assert_another_lineage(&why[0], THEIRS);
}

#[test]
fn another_lineage_is_named_instead_of_its_serial() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_plan(dir.path(), &state_file(dir.path(), "ours.json", OURS, 7));
    for serial in [0, 6, 8, 1_000] {
        let theirs = state_file(dir.path(), "theirs.json", THEIRS, serial);
        let why = saved.staleness(&theirs, DIGEST, &identity());
        assert_eq!(why.len(), 1, "serial {serial}: {why:?}");
        assert_another_lineage(&why[0], THEIRS);
    }
}

#[test]
fn a_newer_serial_of_the_same_lineage_is_a_moved_state_not_another_estate() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_plan(dir.path(), &state_file(dir.path(), "ours.json", OURS, 7));
    let moved = state_file(dir.path(), "moved.json", OURS, 8);
    let why = saved.staleness(&moved, DIGEST, &identity());
    assert_eq!(why.len(), 1, "{why:?}");
    // Both serials, the state's and the plan's, and no talk of another estate.
    assert!(
        why[0].contains("serial 8") && why[0].contains("serial 7"),
        "the reason names the state's serial (8) and the plan's (7): {why:?}"
    );
    assert!(
        !why[0].contains(OURS) && !why[0].contains("estate"),
        "the same lineage is not another estate: {why:?}"
    );
}

#[test]
fn another_lineage_is_reported_with_every_other_reason() {
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_plan(dir.path(), &state_file(dir.path(), "ours.json", OURS, 7));
    let theirs = state_file(dir.path(), "theirs.json", THEIRS, 7);
    let mut elsewhere = identity();
    elsewhere.hub_account_id = "444444444444".into();
    let why = saved.staleness(&theirs, "sha256:bbbb", &elsewhere);
    assert_eq!(why.len(), 3, "{why:?}");
    assert_another_lineage(&why[0], THEIRS);
    assert!(why[1].contains("configuration"), "{why:?}");
    assert!(
        why[2].contains("444444444444") && why[2].contains("222222222222"),
        "the hub reason names both hubs, the credentials' and the plan's: {why:?}"
    );
}

#[test]
fn a_fresh_state_has_a_lineage_of_its_own() {
    // A state file that does not exist loads as a new state: its fresh lineage is not the
    // plan's (the CLI adopts the plan's lineage only when no state file exists and the plan was
    // made at serial 0).
    let dir = tempfile::tempdir().unwrap();
    let saved = saved_plan(dir.path(), &state_file(dir.path(), "ours.json", OURS, 7));
    let fresh = StateFile::new(dir.path().join("missing.json"))
        .load()
        .unwrap();
    assert_eq!(fresh.serial, 0);
    let why = saved.staleness(&fresh, DIGEST, &identity());
    assert_eq!(why.len(), 1, "{why:?}");
    assert_another_lineage(&why[0], &fresh.lineage);
}
