//! The EKS cluster provider against moto in server mode over real HTTP: create (and read back
//! equal to the configuration, so a plan right after shows no changes), create again (adopts),
//! update the VPC configuration, endpoint access, logging and tags, delete, delete again.
//!
//! The emulator adds UpdateClusterVersion, DescribeUpdate and describable UpdateClusterConfig
//! updates (`scripts/emulator/eks_updates.py`); moto lacks AssociateEncryptionConfig, and
//! failing or slow updates are no emulator's: those are covered in `eks_mocks.rs`.
//! accessConfig comes from the emulator's extension (`scripts/emulator/eks_access_config.py`).

mod support;

use std::sync::{Arc, Mutex};

use eksmgr_engine::diff::diff_desired;
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{AttrValue, Attrs, DesiredAttrs, ResourceKind};
use eksmgr_engine::provider::ReadRequest;
use eksmgr_providers::Progress;
use eksmgr_providers::kinds::eks_cluster::EksCluster;
use eksmgr_providers::kinds::{Create, Cx, Delete, KindProvider, Update};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;
use support::{ACCOUNT, MotoServer, REGION, sessions};

fn attrs(v: Value) -> Attrs {
    match v {
        Value::Object(m) => m,
        _ => Attrs::new(),
    }
}

fn desired(a: &Attrs) -> DesiredAttrs {
    a.iter()
        .map(|(k, v)| (k.to_string(), AttrValue::Known(v.clone())))
        .collect()
}

/// The attribute names a plan would change to go from `observed` to `want`.
fn changes(observed: &Attrs, want: &Attrs) -> Vec<String> {
    diff_desired(ResourceKind::EksCluster, Some(observed), &desired(want))
        .into_iter()
        .map(|d| d.name)
        .collect()
}

fn recorder() -> (Progress, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let p: Progress = Arc::new(move |a: &ResourceAddress, m: &str| {
        if let Ok(mut v) = l.lock() {
            v.push(format!("{a}: {m}"));
        }
    });
    (p, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_lifecycle_against_moto() -> Result<(), String> {
    let started = std::time::Instant::now();
    let moto = MotoServer::start()?;
    let s = sessions(eksmgr_e2e::sdk_config(moto.endpoint()));
    let (progress, _log) = recorder();
    let cx = Cx::new(&s).with_progress(progress);
    let address = ResourceAddress::new("eks_cluster", "prod-eu", ACCOUNT, Some(REGION.into()));
    let key = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let want = attrs(json!({
        "name": "prod-eu",
        "role_arn": format!("arn:aws:iam::{ACCOUNT}:role/eksmgr-prod-eu-cluster"),
        "version": "1.35",
        "subnet_ids": ["subnet-bbbb", "subnet-aaaa"],
        "security_group_ids": ["sg-1111"],
        "endpoint_public_access": true,
        "endpoint_private_access": true,
        "public_access_cidrs": ["203.0.113.0/24", "198.51.100.0/24"],
        "logging": ["audit", "api"],
        "authentication_mode": "API",
        "encryption_key_arn": key,
        "tags": {"team": "platform", "env": "prod"},
    }));

    // Nothing there yet.
    let req = ReadRequest {
        address: &address,
        id: None,
        desired: Some(&want),
        recorded: None,
    };
    assert_eq!(
        EksCluster
            .read(&Cx::new(&s), &req)
            .await
            .map_err(|e| e.to_string())?,
        None
    );

    // Create: what comes back is what was asked for (a plan right after shows no changes).
    let created = EksCluster
        .create(
            &cx,
            &Create {
                address: &address,
                attrs: &want,
                token: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(created.id, "prod-eu");
    let a = &created.attrs;
    assert_eq!(
        a["subnet_ids"],
        json!(["subnet-aaaa", "subnet-bbbb"]),
        "sorted"
    );
    assert_eq!(
        a["public_access_cidrs"],
        json!(["198.51.100.0/24", "203.0.113.0/24"])
    );
    assert_eq!(a["logging"], json!(["api", "audit"]));
    assert_eq!(a["encryption_key_arn"], json!(key));
    assert_eq!(a["tags"], json!({"env": "prod", "team": "platform"}));
    assert_eq!(a["status"], json!("ACTIVE"));
    assert_eq!(
        a["arn"],
        json!(format!("arn:aws:eks:{REGION}:{ACCOUNT}:cluster/prod-eu"))
    );
    for computed in [
        "endpoint",
        "oidc_issuer",
        "certificate_authority",
        "platform_version",
    ] {
        assert!(
            a.get(computed)
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty()),
            "{computed} missing: {a:?}"
        );
    }
    // The emulator reports accessConfig as EKS does: the mode the create asked for.
    assert_eq!(
        a.get("authentication_mode").and_then(Value::as_str),
        Some("API"),
        "{a:?}"
    );
    assert_eq!(changes(a, &want), Vec::<String>::new(), "{a:#?}");

    // Read finds the same.
    let read = EksCluster
        .read(&Cx::new(&s), &req)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("cluster not found after create")?;
    assert_eq!(read, created);

    // Create again (a crash between create and the state write): adopted, not duplicated.
    let adopted = EksCluster
        .create(
            &cx,
            &Create {
                address: &address,
                attrs: &want,
                token: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(adopted, created);

    // Update subnets and security groups, logging and tags in one apply.
    let mut want2 = want.clone();
    want2.insert("subnet_ids".into(), json!(["subnet-cccc", "subnet-aaaa"]));
    want2.insert("security_group_ids".into(), json!(["sg-2222", "sg-1111"]));
    want2.insert(
        "logging".into(),
        json!(["scheduler", "authenticator", "api"]),
    );
    want2.insert("tags".into(), json!({"team": "infra", "cost": "42"}));
    let changed = changes(&created.attrs, &want2);
    assert_eq!(
        changed,
        vec!["logging", "security_group_ids", "subnet_ids", "tags"]
    );
    let updated = EksCluster
        .update(
            &cx,
            &Update {
                address: &address,
                id: "unused",
                before: &created.attrs,
                after: &want2,
                changed: &changed,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let u = &updated.attrs;
    assert_eq!(u["subnet_ids"], json!(["subnet-aaaa", "subnet-cccc"]));
    assert_eq!(u["security_group_ids"], json!(["sg-1111", "sg-2222"]));
    assert_eq!(u["logging"], json!(["api", "authenticator", "scheduler"]));
    assert_eq!(
        u["tags"],
        json!({"cost": "42", "team": "infra"}),
        "env untagged"
    );
    assert_eq!(u["encryption_key_arn"], json!(key), "encryption untouched");

    // Endpoint access on its own (EKS refuses it together with subnets).
    let mut want3 = want2.clone();
    want3.insert("endpoint_private_access".into(), json!(false));
    want3.insert("public_access_cidrs".into(), json!(["192.0.2.0/24"]));
    let changed = vec![
        "endpoint_private_access".to_string(),
        "public_access_cidrs".to_string(),
    ];
    let updated = EksCluster
        .update(
            &cx,
            &Update {
                address: &address,
                id: "unused",
                before: &updated.attrs,
                after: &want3,
                changed: &changed,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let u = &updated.attrs;
    assert_eq!(u["endpoint_private_access"], json!(false));
    assert_eq!(u["endpoint_public_access"], json!(true));
    assert_eq!(u["public_access_cidrs"], json!(["192.0.2.0/24"]));

    // Delete, then it is gone; deleting again succeeds.
    EksCluster
        .delete(
            &cx,
            &Delete {
                address: &address,
                id: "",
                before: &Attrs::new(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        EksCluster
            .read(&Cx::new(&s), &req)
            .await
            .map_err(|e| e.to_string())?,
        None
    );
    EksCluster
        .delete(
            &cx,
            &Delete {
                address: &address,
                id: "",
                before: &Attrs::new(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("eks lifecycle against moto took {:?}", started.elapsed());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_of_a_missing_cluster_is_not_found() -> Result<(), String> {
    let moto = MotoServer::start()?;
    let s = sessions(eksmgr_e2e::sdk_config(moto.endpoint()));
    let (progress, _log) = recorder();
    let cx = Cx::new(&s).with_progress(progress);
    let address = ResourceAddress::new("eks_cluster", "ghost", ACCOUNT, Some(REGION.into()));
    let before = attrs(json!({"name": "ghost", "tags": {}}));
    let after = attrs(json!({"name": "ghost", "tags": {"a": "b"}}));
    let err = EksCluster
        .update(
            &cx,
            &Update {
                address: &address,
                id: "unused",
                before: &before,
                after: &after,
                changed: &["tags".to_string()],
            },
        )
        .await
        .err()
        .ok_or("updating a missing cluster should fail")?;
    assert_eq!(
        err.kind,
        eksmgr_engine::provider::ErrorKind::NotFound,
        "{err}"
    );
    assert_eq!(err.account, ACCOUNT);
    Ok(())
}
