//! Review rules: what a reviewer must know about a change (irreversible, slow, destructive)
//! and which changes need an explicit opt-in before apply will carry them out. The rules of
//! each kind live in its module ([`crate::kinds`]); this module applies them and the one rule
//! every kind shares (the resources of an account that left the estate).

use std::collections::BTreeSet;

use crate::annotation::Note;
use crate::kinds::{self, Review, block};
use crate::model::DesiredResource;
use crate::plan::{Action, PlanOptions, PlannedChange};

/// Adds notes and opt-in requirements to a change.
pub(crate) fn review(
    change: &mut PlannedChange,
    desired: Option<&DesiredResource>,
    estate_accounts: &BTreeSet<&str>,
    options: &PlanOptions,
) {
    let account = change.address.account.as_str();
    if change.action == Action::Delete && !options.destroy && !estate_accounts.contains(account) {
        let account = account.to_string();
        change.notes.push(Note::AccountLeftEstate { account });
        if !options.allow_account_removal {
            block(
                change,
                "it removes a resource of an account that left the estate: confirm with --allow-account-removal",
            );
        }
    }
    kinds::of(change.kind).review(change, &Review { desired, options });
}
