//! The backend conformance suite (`eksmgr_state::conformance`) on a local state file: lock
//! contention, a stale lock, lineage refusal, a torn journal and replay, each in a temporary
//! directory of its own. The same checks run on S3 in
//! `providers/tests/state_backend_moto.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use async_trait::async_trait;
use eksmgr_state::conformance::{self, Checked, Fixture};
use eksmgr_state::{Backend, LocalBackend, LockInfo, StateFile};

struct LocalPlace {
    dir: tempfile::TempDir,
}

impl LocalPlace {
    fn new() -> Result<Self, String> {
        Ok(LocalPlace {
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        })
    }

    fn file(&self) -> StateFile {
        StateFile::new(self.dir.path().join("eksmgr.state.json"))
    }
}

#[async_trait]
impl Fixture for LocalPlace {
    async fn open(&self) -> Result<Box<dyn Backend>, String> {
        Ok(Box::new(LocalBackend::new(self.file().path())))
    }

    async fn append_to_journal(&self, _base_serial: u64, bytes: &[u8]) -> Checked {
        let path = self.file().journal_path();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        file.write_all(bytes)
            .map_err(|e| format!("append to {}: {e}", path.display()))?;
        Ok(())
    }

    async fn plant_lock(&self, info: &LockInfo) -> Checked {
        let path = self.file().lock_path();
        let json = serde_json::to_vec_pretty(info).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("write {}: {e}", path.display()))?;
        Ok(())
    }
}

async fn check(name: &str) {
    let place = LocalPlace::new().unwrap();
    let (_, run) = conformance::CHECKS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a check of the suite");
    if let Err(e) = run(&place).await {
        panic!("{name} on a local state: {e}");
    }
}

#[tokio::test]
async fn local_lock_contention() {
    check("lock_contention").await;
}

#[tokio::test]
async fn local_waiting_for_the_lock() {
    check("waiting_for_the_lock").await;
}

#[tokio::test]
async fn local_dropped_guard() {
    check("dropped_guard").await;
}

#[tokio::test]
async fn local_stale_lock() {
    check("stale_lock").await;
}

#[tokio::test]
async fn local_lineage_refusal() {
    check("lineage_refusal").await;
}

#[tokio::test]
async fn local_torn_journal() {
    check("torn_journal").await;
}

#[tokio::test]
async fn local_replay() {
    check("replay").await;
}

/// Every check of the suite has a test above: a check added to the suite and not here fails.
#[tokio::test]
async fn every_check_runs_on_a_local_state() {
    let source = include_str!("backend_conformance.rs");
    for (name, _) in conformance::CHECKS {
        assert!(
            source.contains(&format!("check(\"{name}\")")),
            "{name} has no local test"
        );
    }
}
