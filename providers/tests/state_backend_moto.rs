//! The backend conformance suite (`eksmgr_state::conformance`) on the S3 backend, against
//! `moto_server` (real HTTP, conditional writes made atomic by the harness's emulator): lock
//! contention, a stale lock, lineage refusal, a torn journal and replay, each check on a key
//! of its own in one bucket of one server. The same checks run on local files in
//! `state/tests/backend_conformance.rs`. Without the emulator the test fails (it is never
//! skipped): run `bash scripts/setup-emulator.sh`.

// Test helpers fail the test loudly, as the tests themselves do.
#![allow(clippy::expect_used)]

mod support;

use async_trait::async_trait;
use aws_types::SdkConfig;
use eksmgr_providers::s3_backend::S3Backend;
use eksmgr_providers::state_s3::{Condition, S3Location, S3StateStore, StateObject};
use eksmgr_state::conformance::{self, Checked, Failure, Fixture};
use eksmgr_state::{Backend, LockInfo};
use support::{Moto, REGION};

const BUCKET: &str = "eksmgr-conformance";

/// One state's key in the bucket, with a rescue directory of its own.
struct S3Place {
    config: SdkConfig,
    location: S3Location,
    rescue: tempfile::TempDir,
}

impl S3Place {
    fn store(&self) -> S3StateStore {
        S3StateStore::new(&self.config, self.location.clone())
    }
}

#[async_trait]
impl Fixture for S3Place {
    async fn open(&self) -> Result<Box<dyn Backend>, String> {
        let backend = S3Backend::with_config(
            &self.config,
            self.location.clone(),
            self.rescue.path().to_path_buf(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Box::new(backend))
    }

    async fn append_to_journal(&self, base_serial: u64, bytes: &[u8]) -> Checked {
        let store = self.store();
        let mut part = 0;
        while store
            .get(StateObject::Journal { base_serial, part })
            .await
            .map_err(|e| Failure(e.to_string()))?
            .is_some()
        {
            part += 1;
        }
        store
            .put(
                StateObject::Journal { base_serial, part },
                bytes.to_vec(),
                &Condition::Absent,
            )
            .await
            .map_err(|e| Failure(e.to_string()))?;
        Ok(())
    }

    async fn plant_lock(&self, info: &LockInfo) -> Checked {
        let body = serde_json::to_vec_pretty(info).map_err(|e| Failure(e.to_string()))?;
        self.store()
            .put(StateObject::Lock, body, &Condition::Always)
            .await
            .map_err(|e| Failure(e.to_string()))?;
        Ok(())
    }
}

/// Every check of the suite, each on a key of its own; every failure is reported, by name.
#[tokio::test(flavor = "multi_thread")]
async fn s3_backend_passes_the_conformance_suite() {
    let moto = Moto::start();
    let config = moto.sdk_config();
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("the bucket is created");

    let mut failed = Vec::new();
    for (name, check) in conformance::CHECKS {
        let place = S3Place {
            config: config.clone(),
            location: S3Location {
                bucket: BUCKET.into(),
                key: format!("conformance/{name}/eksmgr.state.json"),
                region: REGION.into(),
                path_style: true,
            },
            rescue: tempfile::tempdir().expect("a temporary directory"),
        };
        if let Err(e) = check(&place).await {
            failed.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failed.is_empty(),
        "the S3 backend fails checks of the suite:\n{}\nmoto log:\n{}",
        failed.join("\n"),
        moto.log()
    );
}
