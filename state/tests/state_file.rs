//! Integration tests of the state file and the run lock through the public API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use eksmgr_state::{
    LockInfo, ResourceAddress, ResourceRecord, STATE_FORMAT_VERSION, State, StateError, StateFile,
    StateLock, force_unlock,
};

fn addr(s: &str) -> ResourceAddress {
    s.parse().unwrap()
}

fn sample_state() -> State {
    let mut s = State::new();
    let mut rec = ResourceRecord::new(addr("eks_cluster.prod-eu[514890031187/eu-west-1]"), "arn:c");
    std::sync::Arc::make_mut(&mut rec.attrs).insert("version".into(), "1.31");
    rec.depends_on = std::sync::Arc::from([addr("iam_role.EKSManagerAgentRole[514890031187]")]);
    s.upsert(rec);
    s.upsert(ResourceRecord::new(
        addr("iam_role.EKSManagerAgentRole[514890031187]"),
        "arn:r",
    ));
    s.upsert(ResourceRecord::new(
        addr("ecr_repository.platform/app.v2[514890031187/us-east-1]"),
        "platform/app.v2",
    ));
    s
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn dir_entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn save_load_round_trip_and_serial() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("eksmgr.state.json"));
    let mut s = sample_state();
    assert_eq!(s.serial, 0);
    sf.save(&mut s).unwrap();
    assert_eq!(s.serial, 1);
    let loaded = sf.load().unwrap();
    assert_eq!(loaded, s);
    assert_eq!(loaded.version, STATE_FORMAT_VERSION);

    let mut again = loaded;
    again.remove(&addr("iam_role.EKSManagerAgentRole[514890031187]"));
    sf.save(&mut again).unwrap();
    assert_eq!(again.serial, 2);
    let reloaded = sf.load().unwrap();
    assert_eq!(reloaded.serial, 2);
    assert_eq!(reloaded.len(), 2);
    assert_eq!(reloaded.lineage, s.lineage);

    let text = fs::read_to_string(sf.path()).unwrap();
    assert!(text.ends_with("}\n"));
    assert!(text.starts_with("{\n  \"format_version\": 1,"));
}

#[test]
fn saved_file_is_private_and_no_temp_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eksmgr.state.json");
    fs::write(&path, "old").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(mode(&path), 0o644);
    let sf = StateFile::new(&path);
    let mut s = sample_state();
    sf.save(&mut s).unwrap();
    assert_eq!(mode(&path), 0o600);
    sf.save(&mut s).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(dir_entries(dir.path()), ["eksmgr.state.json"]);
}

#[test]
fn relative_path_in_current_directory() {
    // A bare file name has an empty parent; saving must still work.
    let sf = StateFile::new("eksmgr-state-test-relative.json");
    let mut s = State::new();
    let result = sf.save(&mut s);
    let loaded = sf.load();
    let _ = fs::remove_file(sf.path());
    result.unwrap();
    assert_eq!(loaded.unwrap().serial, 1);
}

#[test]
fn truncated_file_is_parse_error_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    let mut s = sample_state();
    sf.save(&mut s).unwrap();
    let text = fs::read_to_string(sf.path()).unwrap();
    fs::write(sf.path(), &text[..text.len() / 2]).unwrap();
    match sf.load() {
        Err(StateError::Parse {
            path,
            line,
            column,
            message,
        }) => {
            assert_eq!(path, sf.path());
            assert!(line > 1, "line {line}");
            assert!(column > 0, "column {column}");
            assert!(message.contains("EOF"), "{message}");
        }
        other => panic!("expected parse error, got {other:?}"),
    }
    let msg = sf.load().unwrap_err().to_string();
    assert!(msg.contains("s.json") && msg.contains("line "), "{msg}");
}

#[test]
fn empty_and_misshapen_files_are_parse_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    for content in [
        "",
        "   \n",
        "[]",
        "{\"format_version\":1}",
        "null",
        "{\"format_version\":1,\"lineage\":\"x\",\"serial\":1,\"resources\":[{\"address\":\"bad\"}]}",
    ] {
        fs::write(sf.path(), content).unwrap();
        let err = sf.load().unwrap_err();
        assert!(
            matches!(err, StateError::Parse { .. }),
            "{content:?}: {err:?}"
        );
    }
}

#[test]
fn wrong_version_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    // A newer format may have a different shape: the version is checked first.
    fs::write(
        sf.path(),
        r#"{"format_version": 7, "lineage": "x", "serial": 1, "resources": {"new": "shape"}}"#,
    )
    .unwrap();
    match sf.load() {
        Err(StateError::UnsupportedVersion {
            found, supported, ..
        }) => {
            assert_eq!(found, 7);
            assert_eq!(supported, STATE_FORMAT_VERSION);
        }
        other => panic!("expected unsupported version, got {other:?}"),
    }
    let msg = sf.load().unwrap_err().to_string();
    assert!(
        msg.contains("version 7") && msg.contains("upgrade eksmgr"),
        "{msg}"
    );
}

#[test]
fn duplicate_address_in_file_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    let rec = ResourceRecord::new(addr("iam_role.r[222222222222]"), "r");
    let json = serde_json::json!({
        "format_version": 1, "lineage": "l", "serial": 4, "resources": [rec.clone(), rec]
    });
    fs::write(sf.path(), json.to_string()).unwrap();
    match sf.load() {
        Err(StateError::DuplicateAddress { address, .. }) => {
            assert_eq!(address, "iam_role.r[222222222222]");
        }
        other => panic!("expected duplicate address, got {other:?}"),
    }
}

#[test]
fn lock_twice_reports_holder_and_drop_releases() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    let guard = StateLock::acquire(&sf, "eksmgr apply").unwrap();
    assert_eq!(mode(&sf.lock_path()), 0o600);
    assert_eq!(guard.info().pid, std::process::id());
    assert_eq!(guard.info().command, "eksmgr apply");
    assert!(uuid::Uuid::parse_str(&guard.info().id).is_ok());

    match StateLock::acquire(&sf, "eksmgr plan") {
        Err(StateError::Locked {
            path,
            holder,
            stale,
        }) => {
            assert_eq!(path, sf.lock_path());
            assert_eq!(&*holder, guard.info());
            assert!(!stale);
        }
        other => panic!("expected locked, got {other:?}"),
    }
    let msg = StateLock::acquire(&sf, "eksmgr plan")
        .unwrap_err()
        .to_string();
    let id = &guard.info().id;
    assert!(
        msg.starts_with("state is locked by `eksmgr apply` (pid "),
        "{msg}"
    );
    assert!(msg.contains(&format!("run `eksmgr unlock {id}`")), "{msg}");
    assert!(!msg.contains("stale"), "{msg}");

    drop(guard);
    assert!(!sf.lock_path().exists());
    let again = StateLock::acquire(&sf, "eksmgr plan").unwrap();
    again.release().unwrap();
    assert!(!sf.lock_path().exists());
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn guard_does_not_remove_someone_elses_lock() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    let old = StateLock::acquire(&sf, "eksmgr apply").unwrap();
    let old_id = old.info().id.clone();
    force_unlock(&sf, &old_id).unwrap();
    let new = StateLock::acquire(&sf, "eksmgr apply").unwrap();
    drop(old);
    assert!(sf.lock_path().exists());
    new.release().unwrap();
    assert!(!sf.lock_path().exists());
}

#[test]
fn force_unlock_needs_the_right_id() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    assert!(matches!(
        force_unlock(&sf, "whatever"),
        Err(StateError::NotLocked { .. })
    ));
    let guard = StateLock::acquire(&sf, "eksmgr apply").unwrap();
    let id = guard.info().id.clone();
    match force_unlock(&sf, "not-the-id") {
        Err(StateError::LockIdMismatch { given, .. }) => assert_eq!(given, "not-the-id"),
        other => panic!("expected mismatch, got {other:?}"),
    }
    assert!(sf.lock_path().exists());
    let removed = StateLock::force_unlock(&sf, &id).unwrap();
    assert_eq!(removed.id, id);
    assert!(!sf.lock_path().exists());
    drop(guard);
    assert!(matches!(
        force_unlock(&sf, &id),
        Err(StateError::NotLocked { .. })
    ));
}

#[test]
fn dead_pid_on_this_host_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    // Take a lock to learn this host's name, then rewrite it with a pid that does not exist.
    let guard = StateLock::acquire(&sf, "eksmgr apply").unwrap();
    let mut info: LockInfo = guard.info().clone();
    info.pid = 4_000_000;
    info.id = "6f1c0000-0000-4000-8000-000000000000".into();
    fs::write(sf.lock_path(), serde_json::to_string(&info).unwrap()).unwrap();
    match StateLock::acquire(&sf, "eksmgr plan") {
        Err(StateError::Locked { holder, stale, .. }) => {
            assert!(stale);
            assert_eq!(holder.pid, 4_000_000);
        }
        other => panic!("expected stale lock, got {other:?}"),
    }
    let msg = StateLock::acquire(&sf, "eksmgr plan")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("(the process is no longer running: the lock is stale)"),
        "{msg}"
    );
    assert!(msg.contains("eksmgr unlock 6f1c0000-"), "{msg}");

    // The same pid on another host is not known to be dead.
    info.host = "some-other-host".into();
    fs::write(sf.lock_path(), serde_json::to_string(&info).unwrap()).unwrap();
    match StateLock::acquire(&sf, "eksmgr plan") {
        Err(StateError::Locked { stale, .. }) => assert!(!stale),
        other => panic!("expected lock, got {other:?}"),
    }
    // The guard no longer owns the file, so dropping it leaves the lock.
    drop(guard);
    assert!(sf.lock_path().exists());
    force_unlock(&sf, &info.id).unwrap();
}

#[test]
fn corrupt_lock_file_is_locked_with_unknown_holder() {
    let dir = tempfile::tempdir().unwrap();
    let sf = StateFile::new(dir.path().join("s.json"));
    for content in ["", "{not json", "{\"id\": 3}"] {
        fs::write(sf.lock_path(), content).unwrap();
        match StateLock::acquire(&sf, "eksmgr apply") {
            Err(StateError::Locked { holder, stale, .. }) => {
                assert!(holder.is_unknown());
                assert_eq!(holder.host, "unknown");
                assert!(!stale);
            }
            other => panic!("expected locked, got {other:?}"),
        }
        let msg = StateLock::acquire(&sf, "x").unwrap_err().to_string();
        assert!(
            msg.contains("could not be read") && msg.contains("s.json.lock"),
            "{msg}"
        );
        assert!(matches!(
            force_unlock(&sf, "unknown"),
            Err(StateError::LockIdMismatch { .. })
        ));
    }
}
