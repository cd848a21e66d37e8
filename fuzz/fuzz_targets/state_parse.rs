//! Fuzz target for the state file parser: arbitrary bytes go through
//! `eksmgr_state::StateFile::parse_bytes` (what `StateFile::load` does once it has read the
//! file), and the error is rendered. A panic is a bug; so is an error that does not name the
//! file, or a state that loads but does not load again once written back (same lineage,
//! serial and addresses; attribute values are not compared, as JSON floats need not survive
//! a round trip bit for bit).

#![no_main]

use eksmgr_state::{StateError, StateFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = StateFile::new("eksmgr.state.json");
    match file.parse_bytes(data) {
        Ok(state) => {
            // A state that loads must load again once saved.
            let json = saved_json(&state);
            match file.parse(&json) {
                Ok(again) => {
                    assert_eq!(again.lineage, state.lineage);
                    assert_eq!(again.serial, state.serial);
                    assert!(
                        again.addresses().eq(state.addresses()),
                        "the addresses changed in a round trip:\n{json}"
                    );
                }
                Err(e) => panic!("a saved state does not parse again: {e}\n{json}"),
            }
        }
        Err(e) => {
            let rendered = e.to_string();
            assert!(rendered.contains("`eksmgr.state.json`"), "{rendered}");
            if let StateError::Parse { line, .. } = &e {
                assert!(*line >= 1, "no line: {rendered}");
            }
        }
    }
});

/// The state as `StateFile::save` writes it (pretty JSON).
fn saved_json(state: &eksmgr_state::State) -> String {
    match serde_json::to_string_pretty(state) {
        Ok(s) => s,
        Err(e) => panic!("a loaded state does not serialise: {e}"),
    }
}
