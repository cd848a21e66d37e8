//! What persisting one apply step costs as the state grows: appending the step to the journal
//! (one synced line, the same at any size) against rewriting the whole state file (what every
//! step cost before the journal; now done once per apply), loading a state with its
//! journal replayed, and loading and saving a whole state of 100,000 resources.
//!
//! `cargo bench -p eksmgr-state --bench persist`. The files live in a temporary directory on
//! the target's disk, so the figures include the fsyncs.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use eksmgr_state::{JournalEntry, ResourceAddress, ResourceRecord, State, StateFile};
use serde_json::json;

/// A state of `n` role-like records with a few attributes each.
fn state_of(n: usize) -> State {
    let mut state = State::new();
    for i in 0..n {
        let account = format!("{:012}", 100_000_000_000_u64 + (i / 20) as u64);
        let address: ResourceAddress = match format!("iam_role.role-{i}[{account}]").parse() {
            Ok(a) => a,
            Err(e) => panic!("bad bench address: {e}"),
        };
        let mut record = ResourceRecord::new(address, format!("role-{i}"));
        std::sync::Arc::make_mut(&mut record.attrs)
            .insert("name".into(), json!(format!("role-{i}")));
        std::sync::Arc::make_mut(&mut record.attrs).insert(
            "arn".into(),
            json!(format!("arn:aws:iam::{account}:role/role-{i}")),
        );
        std::sync::Arc::make_mut(&mut record.attrs)
            .insert("tags".into(), json!({"managed-by": "eksmgr"}));
        state.upsert(record);
    }
    state
}

fn persist(c: &mut Criterion) {
    let dir = match tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")) {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let mut group = c.benchmark_group("persist one step");
    group.sample_size(20);
    for n in [1_000usize, 100_000] {
        let file = StateFile::new(dir.path().join(format!("s{n}.json")));
        let mut state = state_of(n);
        let step: ResourceAddress = match "iam_role.step[999999999999]".parse() {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        let mut journal = match file.start_journal(&mut state) {
            Ok(j) => j,
            Err(e) => panic!("{e}"),
        };
        group.bench_with_input(BenchmarkId::new("journal append", n), &n, |b, _| {
            b.iter(|| {
                let entry = JournalEntry::Put {
                    record: ResourceRecord::new(step.clone(), "step"),
                };
                if let Err(e) = journal.append(&entry) {
                    panic!("{e}");
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("whole-state save", n), &n, |b, _| {
            b.iter(|| {
                if let Err(e) = file.save(&mut state) {
                    panic!("{e}");
                }
            })
        });
    }
    group.finish();
}

/// Loading and saving a whole state of 100,000 records (what every plan and every apply
/// does once).
fn load_and_save(c: &mut Criterion) {
    let dir = match tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")) {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let mut group = c.benchmark_group("whole state");
    group.sample_size(10);
    let n = 100_000usize;
    let file = StateFile::new(dir.path().join("whole.json"));
    let mut state = state_of(n);
    group.bench_with_input(BenchmarkId::new("save", n), &n, |b, _| {
        b.iter(|| {
            if let Err(e) = file.save(&mut state) {
                panic!("{e}");
            }
        })
    });
    group.bench_with_input(BenchmarkId::new("load", n), &n, |b, _| {
        b.iter_with_large_drop(|| match file.load() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        })
    });
    group.bench_with_input(BenchmarkId::new("load + save", n), &n, |b, _| {
        b.iter(|| {
            let mut loaded = match file.load() {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            if let Err(e) = file.save(&mut loaded) {
                panic!("{e}");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, persist, load_and_save);
criterion_main!(benches);
