//! Resource targeting (`--target ADDRESS`): narrows planning to the named resources and what
//! they need. For a plan, a target pulls in its dependencies (they must exist first); for a
//! destroy, it pulls in its dependents (they cannot outlive it). Everything else is left out of
//! the plan entirely: neither read nor changed.

use std::collections::{BTreeMap, BTreeSet};

use eksmgr_state::{ResourceAddress, State};

use crate::model::DesiredResource;

/// A target that names nothing eksmgr knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--target {0}: no such resource in the configuration or in state; `eksmgr state list` and `eksmgr graph` show the addresses"
)]
pub struct UnknownTarget(pub ResourceAddress);

/// The desired resources and the state records a targeted plan works on.
#[derive(Debug, Clone)]
pub struct Targeted {
    /// The desired resources in the targeted set.
    pub desired: Vec<DesiredResource>,
    /// State with only the records in the targeted set (same lineage and serial).
    pub state: State,
    /// Every address in the set, targets and what they pulled in.
    pub addresses: BTreeSet<ResourceAddress>,
}

/// Narrows `desired` and `state` to `targets` and their dependencies (or, when `destroy`,
/// their dependents).
pub fn narrow(
    desired: &[DesiredResource],
    state: &State,
    targets: &[ResourceAddress],
    destroy: bool,
) -> Result<Targeted, UnknownTarget> {
    let by_addr: BTreeMap<&ResourceAddress, &DesiredResource> =
        desired.iter().map(|d| (&d.address, d)).collect();
    for t in targets {
        if !by_addr.contains_key(t) && !state.resources.contains_key(t) {
            return Err(UnknownTarget(t.clone()));
        }
    }
    // Edges: address -> what it depends on, from the configuration, else from state.
    let mut deps: BTreeMap<&ResourceAddress, Vec<ResourceAddress>> = BTreeMap::new();
    for d in desired {
        deps.insert(&d.address, d.all_dependencies());
    }
    for (a, r) in &state.resources {
        deps.entry(a).or_insert_with(|| r.depends_on.to_vec());
    }
    let mut next: BTreeMap<&ResourceAddress, Vec<ResourceAddress>> = BTreeMap::new();
    if destroy {
        for (a, ds) in &deps {
            for d in ds {
                if let Some((key, _)) = deps.get_key_value(d) {
                    next.entry(*key).or_default().push((*a).clone());
                }
            }
        }
    } else {
        next = deps;
    }
    let mut set: BTreeSet<ResourceAddress> = BTreeSet::new();
    let mut todo: Vec<ResourceAddress> = targets.to_vec();
    while let Some(a) = todo.pop() {
        if !set.insert(a.clone()) {
            continue;
        }
        if let Some(more) = next.get(&a) {
            todo.extend(more.iter().filter(|m| !set.contains(*m)).cloned());
        }
    }
    let mut narrowed = state.clone();
    narrowed.resources.retain(|a, _| set.contains(a));
    Ok(Targeted {
        desired: desired
            .iter()
            .filter(|d| set.contains(&d.address))
            .cloned()
            .collect(),
        state: narrowed,
        addresses: set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceKind;
    use eksmgr_state::ResourceRecord;

    fn res(name: &str, deps: &[&DesiredResource]) -> DesiredResource {
        let mut r = DesiredResource::new(ResourceKind::IamRole, name, "111111111111", None);
        for d in deps {
            r = r.depend_on(&d.address);
        }
        r
    }

    #[test]
    fn a_target_pulls_in_its_dependencies_only() {
        let a = res("a", &[]);
        let b = res("b", &[&a]);
        let c = res("c", &[&b]);
        let other = res("other", &[&a]);
        let mut state = State::new();
        state.resources.insert(
            other.address.clone(),
            ResourceRecord::new(other.address.clone(), "other"),
        );
        let desired = vec![a.clone(), b.clone(), c.clone(), other.clone()];
        let t = narrow(&desired, &state, std::slice::from_ref(&b.address), false).unwrap();
        let names: Vec<&str> = t.desired.iter().map(|d| d.address.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert!(t.state.resources.is_empty(), "other is left out");
        assert_eq!(t.state.lineage, state.lineage);
    }

    #[test]
    fn a_destroy_target_pulls_in_its_dependents() {
        let a = res("a", &[]);
        let b = res("b", &[&a]);
        let c = res("c", &[&b]);
        let mut state = State::new();
        for r in [&a, &b, &c] {
            let mut rec = ResourceRecord::new(r.address.clone(), r.address.name.clone());
            rec.depends_on = r.depends_on.as_slice().into();
            state.resources.insert(r.address.clone(), rec);
        }
        let t = narrow(&[], &state, std::slice::from_ref(&b.address), true).unwrap();
        let names: Vec<&str> = t.state.resources.keys().map(|a| a.name.as_str()).collect();
        assert_eq!(names, vec!["b", "c"]);
    }

    #[test]
    fn an_unknown_target_is_an_error_naming_it() {
        let missing = ResourceAddress::new("iam_role", "nope", "111111111111", None);
        let err = narrow(&[], &State::new(), std::slice::from_ref(&missing), false).unwrap_err();
        assert!(err.to_string().contains("iam_role.nope[111111111111]"));
    }
}
