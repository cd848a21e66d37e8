//! Spoke accounts left out of a run: one account's gap (no subnets, unreachable, a missing
//! principal) never blocks the rest of the estate. A skipped account's desired resources are
//! dropped (see [`crate::blueprint::drop_accounts`]) and its state records are kept but not
//! planned, so nothing eksmgr made there is read, changed or deleted until it is planned again.

use std::collections::BTreeSet;

use eksmgr_state::State;

use crate::plan::{SkipCause, SkippedSpoke};

/// What to do about a spoke whose admin role (`admin_role`) could not be assumed.
pub fn unreachable_fix(admin_role: &str) -> String {
    format!(
        "the spoke admin role `{admin_role}` must exist in the account and trust the hub agent role: the StackSet deploys it into every account that joins the OU (check its instance for the account with `aws cloudformation list-stack-instances`)"
    )
}

/// The accounts the state holds records in.
pub fn recorded_accounts(state: &State) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in state.resources.keys() {
        if !out.contains(a.account.as_str()) {
            out.insert(a.account.to_string());
        }
    }
    out
}

/// Marks the unreachable accounts nothing was ever recorded in as waiting: the StackSet
/// deploys the spoke admin role into accounts that join the OU, so a later run plans them.
pub fn mark_waiting(skipped: &mut [SkippedSpoke], recorded: &BTreeSet<String>) {
    for s in skipped {
        s.waiting = s.cause == SkipCause::Unreachable && !recorded.contains(&s.account);
    }
}

/// The state to plan with when `accounts` are skipped: theirs records (and open intents) left
/// out, so the plan neither reads nor deletes them. The saved state keeps them.
pub fn without_accounts(state: &State, accounts: &BTreeSet<String>) -> State {
    let mut out = state.clone();
    out.resources
        .retain(|a, _| !accounts.contains(a.account.as_str()));
    out.intents
        .retain(|a, _| !accounts.contains(a.account.as_str()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use eksmgr_state::ResourceAddress;

    fn skipped(account: &str, cause: SkipCause) -> SkippedSpoke {
        SkippedSpoke {
            account: account.into(),
            name: String::new(),
            cause,
            reason: "r".into(),
            fix: "f".into(),
            waiting: false,
        }
    }

    #[test]
    fn only_new_unreachable_accounts_wait() {
        let recorded: BTreeSet<String> = ["111111111111".to_string()].into();
        let mut s = vec![
            skipped("111111111111", SkipCause::Unreachable),
            skipped("222222222222", SkipCause::Unreachable),
            skipped("333333333333", SkipCause::Subnets),
        ];
        mark_waiting(&mut s, &recorded);
        assert_eq!(
            s.iter().map(|s| s.waiting).collect::<Vec<_>>(),
            [false, true, false]
        );
    }

    #[test]
    fn skipped_accounts_records_are_left_out_of_planning() {
        let mut state = State::new();
        for account in ["111111111111", "222222222222"] {
            let addr = ResourceAddress::new("iam_role", "r", account, None);
            state
                .resources
                .insert(addr.clone(), eksmgr_state::ResourceRecord::new(addr, "r"));
        }
        assert_eq!(recorded_accounts(&state).len(), 2);
        let left = without_accounts(&state, &["111111111111".to_string()].into());
        assert_eq!(
            recorded_accounts(&left),
            ["222222222222".to_string()].into()
        );
    }
}
