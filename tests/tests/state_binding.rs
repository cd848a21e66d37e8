//! A state belongs to one estate, end to end: the first apply binds it to the organization's
//! management account and the EKS OU; a configuration for another OU is refused with that
//! state, naming both estates, before anything is planned; `--rebind-state` uses it
//! deliberately, and the apply after it binds the state to the new estate.

use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::{Estate, registry_config};
use eksmgr_e2e::sdk_config;
use serde_json::Value;

use eksmgr_e2e::R;

fn bound(estate: &Estate) -> R<Value> {
    let text = std::fs::read_to_string(estate.dir.path().join("eksmgr.state.json"))
        .map_err(err("read the state"))?;
    let state: Value = serde_json::from_str(&text).map_err(err("parse the state"))?;
    Ok(state["estate"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_of_another_estate_is_refused_unless_rebound() -> R {
    let estate = Estate::start("eksmgr-e2e-state-binding-", 1)?;
    estate.expect(&["apply", "--auto-approve"], 0)?;
    let seed = &estate.seed;
    let first = bound(&estate)?;
    ensure(
        first["management_account_id"] == seed.management_account_id.as_str()
            && first["eks_ou_id"] == seed.eks_ou_id.as_str(),
        || format!("the apply binds the state to its estate: {first}"),
    )?;

    // The same organization, another EKS OU.
    let org = aws_sdk_organizations::Client::new(&sdk_config(estate.moto.endpoint()));
    let other_ou = org
        .create_organizational_unit()
        .parent_id(&seed.root_id)
        .name("EKS-Other")
        .send()
        .await
        .map_err(sdk_err("organizations:CreateOrganizationalUnit"))?
        .organizational_unit
        .and_then(|ou| ou.id)
        .ok_or("CreateOrganizationalUnit returned no id")?;
    // With the spoke in it (an OU without accounts is a case of its own).
    org.move_account()
        .account_id(&seed.spoke_account_ids[0])
        .source_parent_id(&seed.eks_ou_id)
        .destination_parent_id(&other_ou)
        .send()
        .await
        .map_err(sdk_err("organizations:MoveAccount"))?;
    let moved = registry_config(seed, &[]).replace(&seed.eks_ou_id, &other_ou);
    estate.eksmgr.write_config(&moved)?;

    let refused = estate.expect(&["plan"], 1)?;
    for fact in [
        "belongs to another estate",
        seed.eks_ou_id.as_str(),
        other_ou.as_str(),
        seed.management_account_id.as_str(),
        "--rebind-state",
    ] {
        ensure(refused.stderr.contains(fact), || {
            format!("the refusal names {fact:?}\n{refused}")
        })?;
    }
    ensure(!refused.stdout.contains("will be"), || {
        format!("nothing is planned with another estate's state\n{refused}")
    })?;
    estate.expect(&["apply", "--auto-approve"], 1)?;
    ensure(bound(&estate)? == first, || {
        "a refused apply leaves the binding".into()
    })?;

    // Deliberately: planned, then bound to the new estate by the apply.
    estate.expect(&["plan", "--rebind-state", "--detailed-exitcode"], 2)?;
    estate.expect(&["apply", "--auto-approve", "--rebind-state"], 0)?;
    let now = bound(&estate)?;
    ensure(now["eks_ou_id"] == other_ou.as_str(), || {
        format!("the apply binds the state to the new estate: {now}")
    })?;
    estate.expect(&["plan", "--detailed-exitcode"], 0)?;
    Ok(())
}
