//! The `iam_role` reads against `moto_server` (real HTTP): every role of an account is read
//! from two account-wide listings (`ListRoles` and `GetAccountAuthorizationDetails`), which
//! must yield exactly what the per-role reads (`GetRole`, `ListAttachedRolePolicies`,
//! `ListRolePolicies`, `GetRolePolicy`) yield, with two calls however many roles are read;
//! and a write in the account makes the next read list again.

#![allow(clippy::expect_used)]

mod support;

use eksmgr_engine::model::Attrs;
use eksmgr_engine::model::Value;
use eksmgr_engine::provider::ReadRequest;
use eksmgr_providers::kinds::iam_role::IamRole;
use eksmgr_providers::kinds::{Create, Cx, KindProvider, Update};
use eksmgr_providers::stats::CallStats;
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;
use support::{ACCOUNT, Moto};

fn attrs(v: Value) -> Attrs {
    v.as_object().cloned().expect("an object")
}

fn address(name: &str) -> ResourceAddress {
    ResourceAddress::new("iam_role", name, ACCOUNT, None)
}

fn trust(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole"
        }]
    })
}

fn desired(name: &str, managed: &[String], inline: usize) -> Attrs {
    let inline: eksmgr_state::value::Map = (0..inline)
        .map(|i| {
            (
                format!("inline-{i}"),
                json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": format!("s3:GetObject{i}"), "Resource": "*"}]
                }),
            )
        })
        .collect();
    attrs(json!({
        "name": name,
        "path": "/eksmgr/",
        "description": format!("role {name}"),
        "assume_role_policy": trust("eks.amazonaws.com"),
        "max_session_duration": 7200,
        "managed_policy_arns": managed,
        "inline_policies": inline,
        "tags": {"managed-by": "eksmgr", "role": name}
    }))
}

async fn read(s: &eksmgr_providers::Sessions, name: &str) -> Option<Attrs> {
    let addr = address(name);
    let want = attrs(json!({"name": name}));
    IamRole
        .read(
            &Cx::new(s),
            &ReadRequest {
                address: &addr,
                id: None,
                desired: Some(&want),
                recorded: None,
            },
        )
        .await
        .expect("the read succeeds")
        .map(|o| std::sync::Arc::unwrap_or_clone(o.attrs))
}

fn calls(stats: &CallStats, operation: &str) -> u64 {
    stats
        .by_operation()
        .iter()
        .filter(|((_, op), _)| op == operation)
        .map(|(_, c)| c.calls)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_role_of_an_account_is_read_from_two_listings() {
    let moto = Moto::start();
    let sdk = aws_sdk_iam::Client::new(&moto.sdk_config());
    let mut managed = Vec::new();
    for i in 0..2 {
        let p = sdk
            .create_policy()
            .policy_name(format!("customer-{i}"))
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]})
                    .to_string(),
            )
            .send()
            .await
            .expect("moto creates the managed policy");
        managed.push(
            p.policy()
                .and_then(|p| p.arn())
                .expect("an ARN")
                .to_string(),
        );
    }

    // Created (and read back role by role) through one set of sessions.
    let writer = moto.sessions();
    let mut created = Vec::new();
    for (i, name) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let o = IamRole
            .create(
                &Cx::new(&writer),
                &Create {
                    address: &address(name),
                    attrs: &desired(name, &managed[..i], i),
                    token: None,
                },
            )
            .await
            .expect("the role is created");
        created.push((name.to_string(), std::sync::Arc::unwrap_or_clone(o.attrs)));
    }

    // Read by a later run: the listings, once for the account.
    let stats = CallStats::default();
    let reader = support::counted_sessions(moto.sdk_config(), stats.clone());
    let reads =
        futures::future::join_all(created.iter().map(|(name, _)| read(&reader, name))).await;
    for ((name, from_get), from_listing) in created.iter().zip(reads) {
        assert_eq!(
            from_listing.as_ref(),
            Some(from_get),
            "{name}: the listings and the per-role reads disagree"
        );
    }
    assert_eq!(read(&reader, "missing").await, None);
    assert_eq!(calls(&stats, "ListRoles"), 1, "{:?}", stats.by_operation());
    assert_eq!(
        calls(&stats, "GetAccountAuthorizationDetails"),
        1,
        "{:?}",
        stats.by_operation()
    );
    for per_role in [
        "GetRole",
        "ListAttachedRolePolicies",
        "ListRolePolicies",
        "GetRolePolicy",
    ] {
        assert_eq!(
            calls(&stats, per_role),
            0,
            "{per_role}: {:?}",
            stats.by_operation()
        );
    }

    // A write through the same sessions: the next read lists again and sees it.
    let before = created[0].1.clone();
    let mut after = before.clone();
    after.insert("description".into(), json!("changed"));
    IamRole
        .update(
            &Cx::new(&reader),
            &Update {
                address: &address("alpha"),
                id: "unused",
                before: &before,
                after: &after,
                changed: &["description".to_string()],
            },
        )
        .await
        .expect("the role is updated");
    let again = read(&reader, "alpha").await.expect("alpha exists");
    assert_eq!(again.get("description"), Some(&json!("changed")));
    assert_eq!(calls(&stats, "ListRoles"), 2, "{:?}", stats.by_operation());
}
