//! Counting the AWS calls of a run, for `--stats` and for the API-economy benchmarks: an SDK
//! interceptor on every client counts operations (one per API call, however many attempts),
//! attempts (retries included) and failures, per service and operation, and the accounts
//! called. Role assumptions, which go through an STS client shared by every role assumed from
//! one identity, are counted where eksmgr asks for fresh credentials.
//!
//! The counters are process-wide ([`global`]): a run is one process, and every client of it,
//! the discovery ones included, reports to the same place. Tests that need counters of their
//! own build sessions with [`crate::Sessions::with_stats`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use compact_str::CompactString;

/// What a call was: the service, as the SDK names it (`iam`, `eks` ...), and the operation
/// (`GetRole` ...).
type Operation = (CompactString, CompactString);

/// The counters: by operation, summed over accounts, and the accounts called. A run over
/// thousands of accounts keeps one entry per operation and one per account, not one per
/// account and operation (65,000 at 5,000 accounts, 8 MB).
#[derive(Debug, Default)]
struct Counters {
    by_operation: BTreeMap<Operation, Counts>,
    accounts: BTreeSet<CompactString>,
}

/// What happened to the calls of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// API calls made.
    pub calls: u64,
    /// HTTP attempts sent (more than `calls` when the SDK retried).
    pub attempts: u64,
    /// Calls that failed after their retries (the service said no, or no answer came).
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.calls += other.calls;
        self.attempts += other.attempts;
        self.failed += other.failed;
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Every call.
    pub all: Counts,
    /// Calls that only read (`Get*`, `List*`, `Describe*`, `BatchGet*`, identity and role
    /// assumption).
    pub reads: u64,
    /// Calls that may change something.
    pub writes: u64,
    /// `sts:AssumeRole` calls.
    pub assume_role: u64,
    /// Accounts called.
    pub accounts: usize,
}

/// Call counters shared by every client of a run.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    counts: Arc<Mutex<Counters>>,
}

/// The counters of this process.
pub fn global() -> &'static CallStats {
    static GLOBAL: OnceLock<CallStats> = OnceLock::new();
    GLOBAL.get_or_init(CallStats::default)
}

/// Whether an operation only reads.
pub fn is_read(operation: &str) -> bool {
    const READ_PREFIXES: [&str; 4] = ["Get", "List", "Describe", "BatchGet"];
    operation == "AssumeRole" || READ_PREFIXES.iter().any(|p| operation.starts_with(p))
}

impl CallStats {
    fn lock(&self) -> MutexGuard<'_, Counters> {
        // Counters stay usable if a thread panicked while holding the lock.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self, account: &str, service: &str, operation: &str, by: Counts) {
        let mut counters = self.lock();
        counters
            .by_operation
            .entry((service.into(), operation.into()))
            .or_default()
            .add(by);
        if !counters.accounts.contains(account) {
            counters.accounts.insert(account.into());
        }
    }

    /// The interceptor to put on a client whose calls are signed in `account`.
    pub fn interceptor(&self, account: &str) -> CountCalls {
        CountCalls {
            stats: self.clone(),
            account: account.to_string(),
        }
    }

    /// Counts one `sts:AssumeRole` of a role in `account` (it went through the STS client
    /// shared by every role assumed from one identity, which carries no counting interceptor:
    /// the call is counted here, in the account of the role).
    pub fn assumed_role(&self, account: &str, ok: bool) {
        self.called(account, "sts", "AssumeRole", ok);
    }

    /// Counts one call made by a client without the interceptor (no retry counted).
    pub(crate) fn called(&self, account: &str, service: &str, operation: &str, ok: bool) {
        let by = Counts {
            calls: 1,
            attempts: 1,
            failed: u64::from(!ok),
        };
        self.bump(account, service, operation, by);
    }

    /// Counters summed over accounts, by service and operation.
    pub fn by_operation(&self) -> Vec<((String, String), Counts)> {
        self.lock()
            .by_operation
            .iter()
            .map(|((service, operation), c)| ((service.to_string(), operation.to_string()), *c))
            .collect()
    }

    /// The totals.
    pub fn totals(&self) -> Totals {
        let counters = self.lock();
        let mut t = Totals::default();
        for ((_, operation), v) in &counters.by_operation {
            t.all.add(*v);
            if is_read(operation) {
                t.reads += v.calls;
            } else {
                t.writes += v.calls;
            }
            if operation == "AssumeRole" {
                t.assume_role += v.calls;
            }
        }
        t.accounts = counters.accounts.len();
        t
    }

    /// Forgets every count.
    pub fn reset(&self) {
        *self.lock() = Counters::default();
    }
}

/// The SDK interceptor counting a client's calls into [`CallStats`].
#[derive(Debug, Clone)]
pub struct CountCalls {
    stats: CallStats,
    account: String,
}

impl CountCalls {
    fn bump(&self, cfg: &ConfigBag, by: Counts) {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        self.stats.bump(&self.account, service, operation, by);
    }
}

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "eksmgr-count-calls"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let by = Counts {
            attempts: 1,
            ..Counts::default()
        };
        self.bump(cfg, by);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ok = matches!(context.output_or_error(), Some(Ok(_)));
        let by = Counts {
            calls: 1,
            failed: u64::from(!ok),
            ..Counts::default()
        };
        self.bump(cfg, by);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_split_reads_writes_and_role_assumptions() {
        let s = CallStats::default();
        let one = Counts {
            calls: 1,
            attempts: 2,
            failed: 0,
        };
        s.bump("111111111111", "iam", "GetRole", one);
        s.bump("111111111111", "iam", "CreateRole", one);
        s.bump("222222222222", "iam", "GetRole", one);
        s.assumed_role("222222222222", true);
        s.assumed_role("333333333333", false);
        let t = s.totals();
        assert_eq!(t.all.calls, 5);
        assert_eq!(t.all.attempts, 8);
        assert_eq!(t.all.failed, 1);
        assert_eq!((t.reads, t.writes, t.assume_role), (4, 1, 2));
        assert_eq!(t.accounts, 3);
        let ops = s.by_operation();
        assert_eq!(
            ops.iter()
                .find(|((svc, op), _)| svc == "iam" && op == "GetRole")
                .map(|(_, c)| c.calls),
            Some(2)
        );
        s.reset();
        assert_eq!(s.totals(), Totals::default());
    }

    #[test]
    fn reads_are_told_from_writes_by_the_operation_name() {
        for op in [
            "GetRole",
            "ListRoles",
            "DescribeCluster",
            "BatchGetImage",
            "AssumeRole",
        ] {
            assert!(is_read(op), "{op}");
        }
        for op in [
            "CreateRole",
            "PutRolePolicy",
            "TagResource",
            "UpdateStackSet",
        ] {
            assert!(!is_read(op), "{op}");
        }
    }
}
