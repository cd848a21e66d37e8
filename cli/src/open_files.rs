//! The open-file limit a run needs. Every AWS call in flight holds a connection, which is a
//! file descriptor, and the connection pool keeps some open between calls: a run with
//! `--parallelism` 512 (the default) can hold over a thousand. Shells start with a soft limit
//! of 256 (macOS) or 1,024 (most Linux systems) where the hard limit allows far more, so
//! eksmgr raises its own soft limit to what the run needs, up to the hard limit, when it
//! starts (Go programs have done the same since Go 1.19); when even the hard limit is short,
//! it says so before any call fails with "Too many open files".

/// Descriptors a run holds besides its connections: standard streams, the configuration,
/// the state file, its lock and journal, the plan file.
const OTHER_FILES: u64 = 64;

/// The descriptors a run with `parallelism` AWS calls in flight may hold: a connection per
/// call in flight, as many again kept open by the pool, and [`OTHER_FILES`].
pub fn needed(parallelism: u16) -> u64 {
    u64::from(parallelism) * 2 + OTHER_FILES
}

/// The `--parallelism` that `limit` open files allow (at least 1).
fn allowed_parallelism(limit: u64) -> u64 {
    (limit.saturating_sub(OTHER_FILES) / 2).max(1)
}

/// Raises the process's soft open-file limit to [`needed`] for `parallelism`, as far as the
/// hard limit allows. Returns a warning to show when the limit stays short of it, or cannot
/// be read or raised.
pub fn raise_for(parallelism: u16) -> Option<String> {
    let need = needed(parallelism);
    match rlimit::increase_nofile_limit(need) {
        Ok(limit) => short(limit, parallelism),
        Err(e) => Some(format!(
            "the open-file limit could not be raised to {need} ({e}); with --parallelism {parallelism}, AWS calls may fail with \"Too many open files\": run `ulimit -n {need}` first, or lower --parallelism"
        )),
    }
}

/// The warning for a soft limit of `limit` when `parallelism` needs more.
fn short(limit: u64, parallelism: u16) -> Option<String> {
    let need = needed(parallelism);
    (limit < need).then(|| {
        format!(
            "the open-file limit is {limit} and the hard limit allows no more; --parallelism {parallelism} needs about {need}, so AWS calls may fail with \"Too many open files\": raise the hard limit (`ulimit -Hn`, or the container's or service's nofile limit) or run with --parallelism {}",
            allowed_parallelism(limit)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_that_suffices_says_nothing() {
        assert_eq!(needed(512), 1088);
        assert_eq!(short(1088, 512), None);
        assert_eq!(short(65_536, 4096), None);
    }

    #[test]
    fn a_short_limit_names_the_parallelism_it_allows() {
        let warning = short(1024, 512).expect("1,024 is short of 1,088");
        assert!(warning.contains("the open-file limit is 1024"), "{warning}");
        assert!(warning.contains("--parallelism 480"), "{warning}");
        assert_eq!(allowed_parallelism(10), 1);
    }

    /// The soft limit is raised for the run, never past the hard limit, and never lowered.
    #[test]
    fn the_soft_limit_is_raised_up_to_the_hard_limit() {
        let (_, hard) = rlimit::Resource::NOFILE.get().expect("RLIMIT_NOFILE");
        // A shell's low soft limit, as on macOS.
        rlimit::Resource::NOFILE
            .set(256.min(hard), hard)
            .expect("lower the soft limit");
        let warning = raise_for(512);
        let (soft, hard_after) = rlimit::Resource::NOFILE.get().expect("RLIMIT_NOFILE");
        assert_eq!(hard_after, hard);
        assert_eq!(soft, needed(512).min(hard));
        assert_eq!(warning.is_some(), hard < needed(512), "{warning:?}");
        // A higher limit than needed stays as it is.
        let _ = raise_for(1);
        assert_eq!(
            rlimit::Resource::NOFILE.get().expect("RLIMIT_NOFILE").0,
            soft
        );
    }
}
