//! Fair, bounded scheduling across accounts, shared by refresh (reads) and apply
//! (operations): at most `total` pieces of work run at once, at most `per_account` of them in
//! any one account, and accounts take turns. AWS throttles per account, so a throttled
//! account (its calls backing off and retrying) holds at most `per_account` of the slots and
//! the others keep going; and turns spread the first calls of a run over many accounts, so
//! role assumptions and account-wide listings overlap instead of queueing behind one account.

use std::collections::{BTreeMap, VecDeque};

/// Work at once in one account when `--account-parallelism` is not given. AWS throttles
/// each account's requests per Region, service by service, with token buckets (for example
/// <https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html>); calls to
/// different accounts never compete. So the total may be large (thousands of accounts) while
/// one account sees a handful at once: 8 reads of about 100 ms each are about 80 requests a
/// second, within the burst of every bucket eksmgr reads from, and a no-op plan makes about
/// 23 calls per spoke account.
pub const DEFAULT_PER_ACCOUNT: usize = 8;

/// How much work may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// In all (`--parallelism`).
    pub total: usize,
    /// In one account (`--account-parallelism`).
    pub per_account: usize,
}

impl Limits {
    /// `total` at once in all and `per_account` in one account (both at least 1, and
    /// `per_account` at most `total`).
    pub fn new(total: usize, per_account: usize) -> Self {
        let total = total.max(1);
        Limits {
            total,
            per_account: per_account.clamp(1, total),
        }
    }

    /// `total` at once, and [`DEFAULT_PER_ACCOUNT`] (at most `total`) in one account.
    pub fn with_default_per_account(total: usize) -> Self {
        Limits::new(total, DEFAULT_PER_ACCOUNT)
    }
}

impl From<usize> for Limits {
    /// `--parallelism` alone: the default per-account limit.
    fn from(total: usize) -> Self {
        Limits::with_default_per_account(total)
    }
}

/// Work waiting to run, by account, handed out in turns within [`Limits`].
#[derive(Debug)]
pub struct FairQueue<T> {
    limits: Limits,
    waiting: BTreeMap<String, VecDeque<T>>,
    running: BTreeMap<String, usize>,
    running_total: usize,
    /// The account served last; the next turn starts after it.
    last: Option<String>,
}

impl<T> FairQueue<T> {
    /// An empty queue.
    pub fn new(limits: Limits) -> Self {
        FairQueue {
            limits,
            waiting: BTreeMap::new(),
            running: BTreeMap::new(),
            running_total: 0,
            last: None,
        }
    }

    /// Adds work of `account`, after the work of that account already waiting.
    pub fn push(&mut self, account: &str, item: T) {
        match self.waiting.get_mut(account) {
            Some(q) => q.push_back(item),
            None => {
                self.waiting
                    .insert(account.to_string(), VecDeque::from([item]));
            }
        }
    }

    /// How much work is waiting.
    pub fn waiting(&self) -> usize {
        self.waiting.values().map(VecDeque::len).sum()
    }

    /// How much work runs.
    pub fn running(&self) -> usize {
        self.running_total
    }

    /// The next work allowed to start, from the next account in turn that has work and a free
    /// slot, counted as running until [`FairQueue::finished`] is called for its account.
    pub fn start_next(&mut self) -> Option<(String, T)> {
        if self.running_total >= self.limits.total {
            return None;
        }
        let free = |q: &Self, account: &str| {
            q.running.get(account).copied().unwrap_or(0) < q.limits.per_account
        };
        // Accounts after the last one served, then from the start up to it.
        let after = self
            .last
            .as_deref()
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let pick = self
            .waiting
            .range::<str, _>((after, std::ops::Bound::Unbounded))
            .map(|(a, _)| a)
            .find(|a| free(self, a))
            .or_else(|| self.waiting.keys().find(|a| free(self, a)))
            .cloned()?;
        let queue = self.waiting.get_mut(&pick)?;
        let item = queue.pop_front()?;
        if queue.is_empty() {
            self.waiting.remove(&pick);
        }
        *self.running.entry(pick.clone()).or_insert(0) += 1;
        self.running_total += 1;
        self.last = Some(pick.clone());
        Some((pick, item))
    }

    /// Frees the slot of work of `account` that has finished.
    pub fn finished(&mut self, account: &str) {
        if let Some(n) = self.running.get_mut(account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(account);
            }
            self.running_total = self.running_total.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start_all<T>(q: &mut FairQueue<T>) -> Vec<(String, T)> {
        std::iter::from_fn(|| q.start_next()).collect()
    }

    #[test]
    fn accounts_take_turns_within_the_limits() {
        let mut q = FairQueue::new(Limits::new(5, 2));
        for i in 0..4 {
            q.push("a", i);
            q.push("b", 10 + i);
        }
        q.push("c", 20);
        let started = start_all(&mut q);
        let order: Vec<(&str, i32)> = started.iter().map(|(a, i)| (a.as_str(), *i)).collect();
        // Turns a, b, c, a, b; then the total limit.
        assert_eq!(order, [("a", 0), ("b", 10), ("c", 20), ("a", 1), ("b", 11)]);
        assert_eq!((q.running(), q.waiting()), (5, 4));
        // The freed slots: `a` gets one back (up to its limit), `b` is at its limit and `c`
        // has nothing left, so the fifth slot stays free.
        q.finished("a");
        q.finished("c");
        let next = start_all(&mut q);
        assert_eq!(next, [("a".to_string(), 2)]);
        assert_eq!(q.running(), 4);
    }

    #[test]
    fn a_busy_account_does_not_take_every_slot() {
        let mut q = FairQueue::new(Limits::new(4, 1));
        for i in 0..10 {
            q.push("slow", i);
        }
        q.push("fast", 100);
        q.push("fast", 101);
        let started = start_all(&mut q);
        assert_eq!(started.len(), 2, "one per account: {started:?}");
        q.finished("fast");
        assert_eq!(q.start_next(), Some(("fast".to_string(), 101)));
        assert_eq!(q.start_next(), None);
    }

    #[test]
    fn limits_are_sane() {
        assert_eq!(Limits::new(0, 0), Limits::new(1, 1));
        assert_eq!(Limits::new(4, 9).per_account, 4);
        assert_eq!(Limits::with_default_per_account(512).per_account, 8);
        assert_eq!(Limits::with_default_per_account(4).per_account, 4);
        assert_eq!(Limits::with_default_per_account(1).per_account, 1);
    }

    #[test]
    fn finishing_unknown_work_changes_nothing() {
        let mut q: FairQueue<u8> = FairQueue::new(Limits::new(2, 2));
        q.finished("nobody");
        assert_eq!(q.running(), 0);
    }
}
