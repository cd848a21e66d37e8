//! End-to-end tests of cluster access through the real `eksmgr` binary against moto (with
//! the EKS access-entry and pod-identity APIs that `scripts/emulator/eksmgr_moto.py` adds):
//! the organisation-wide admin pattern resolved per account, grants merged per principal,
//! pod identity associations, cross-account roles (AWS principal with an external id, and
//! web identity through the hub), updates in place, drift repaired, removal, and a principal
//! that does not exist reported at plan time.
//!
//! Every check of what exists goes through the AWS SDK, never through eksmgr's state; drift is
//! made through the SDK too.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use eksmgr_e2e::check::{ensure, policy_document, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::example::workloads_config;
use eksmgr_e2e::{Output, Seed};
use serde_json::{Value, json};

use eksmgr_e2e::R;

const CLUSTER: &str = "workloads";
const SSO_ROLE: &str = "AWSReservedSSO_EKSAdmin_0a1b2c3d4e5f6789";
const SSO_PATH: &str = "/aws-reserved/sso.amazonaws.com/";
const OIDC_HOST: &str = "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF";
const EDIT: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy";
const CLUSTER_ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

/// The estate: one `workloads` cluster in every spoke, with access declared.
fn config(
    seed: &Seed,
    grant_namespaces: &[&str],
    grant_groups: &[&str],
    with_grant: bool,
) -> String {
    let list = |v: &[&str]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let hub = &seed.hub_account_id;
    let grant = if with_grant {
        format!(
            r#"
[[access.grants]]
principal_arn = "arn:aws:iam::{hub}:role/ci-deployer"
policy = "edit"
namespaces = [{}]
groups = [{}]
clusters = ["{CLUSTER}"]
"#,
            list(grant_namespaces),
            list(grant_groups)
        )
    } else {
        String::new()
    };
    let rest = format!(
        r#"
[[clusters.pod_identities]]
namespace = "apps"
service_account = "reader"
role_name = "app-reader"

[access]
admin_principal_arn = "arn:aws:iam::*:role/AWSReservedSSO_EKSAdmin_*"
{grant}
[[cross_account_roles]]
name = "eks-deployer"
cluster = "{CLUSTER}"
trusted_principal_arn = "arn:aws:iam::{hub}:role/ci-deployer"
external_id = "deploy-0123456789"
policy = "admin"
namespaces = ["apps"]

[[cross_account_roles]]
name = "eks-auditor"
cluster = "{CLUSTER}"
policy = "view"

[cross_account_roles.oidc]
provider_arn = "arn:aws:iam::{hub}:oidc-provider/{OIDC_HOST}"
subjects = ["system:serviceaccount:audit:auditor"]
"#
    );
    workloads_config(seed, "1.35", "", &rest)
}

/// The principals and roles the configuration names but eksmgr does not create: the CI
/// deployer and the OIDC provider in the hub, an IAM Identity Center role in the first spoke
/// only, and `app-reader` in every spoke.
async fn create_outside_principals(estate: &Estate) -> R {
    let hub = aws_sdk_iam::Client::new(&estate.sdk(&estate.seed.hub_account_id).await?);
    create_role(&hub, "ci-deployer", "/", &estate.seed.hub_account_id).await?;
    hub.create_open_id_connect_provider()
        .url(format!("https://{OIDC_HOST}"))
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .map_err(sdk_err("create the hub OIDC provider"))?;
    for (i, account) in estate.seed.spoke_account_ids.iter().enumerate() {
        let iam = aws_sdk_iam::Client::new(&estate.sdk(account).await?);
        create_role(&iam, "app-reader", "/", account).await?;
        if i == 0 {
            create_role(&iam, SSO_ROLE, SSO_PATH, account).await?;
        }
    }
    Ok(())
}

async fn create_role(iam: &aws_sdk_iam::Client, name: &str, path: &str, account: &str) -> R {
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "sts:AssumeRole"}]
    });
    iam.create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .map_err(sdk_err(format!("create role {name} in {account}")))?;
    Ok(())
}

/// Access entries of the cluster: principal ARN -> (groups, policy ARN -> scope JSON).
async fn entries(
    conf: &SdkConfig,
) -> R<BTreeMap<String, (BTreeSet<String>, BTreeMap<String, Value>)>> {
    let eks = aws_sdk_eks::Client::new(conf);
    let list = eks
        .list_access_entries()
        .cluster_name(CLUSTER)
        .send()
        .await
        .map_err(sdk_err("ListAccessEntries"))?;
    let mut out = BTreeMap::new();
    for principal in list.access_entries() {
        let entry = eks
            .describe_access_entry()
            .cluster_name(CLUSTER)
            .principal_arn(principal)
            .send()
            .await
            .map_err(sdk_err(format!("DescribeAccessEntry {principal}")))?;
        let groups = entry
            .access_entry()
            .map(|e| e.kubernetes_groups().iter().cloned().collect())
            .unwrap_or_default();
        let policies = eks
            .list_associated_access_policies()
            .cluster_name(CLUSTER)
            .principal_arn(principal)
            .send()
            .await
            .map_err(sdk_err(format!("ListAssociatedAccessPolicies {principal}")))?;
        let mut scopes = BTreeMap::new();
        for p in policies.associated_access_policies() {
            let scope = p.access_scope();
            let ty = scope
                .and_then(|s| s.r#type())
                .map(|t| t.as_str().to_owned());
            let mut ns: Vec<String> = scope.map(|s| s.namespaces().to_vec()).unwrap_or_default();
            ns.sort();
            scopes.insert(
                p.policy_arn().unwrap_or_default().to_owned(),
                json!({"type": ty, "namespaces": ns}),
            );
        }
        out.insert(principal.clone(), (groups, scopes));
    }
    Ok(out)
}

/// Pod identity associations of the cluster: `namespace/service account` -> role ARN.
async fn associations(conf: &SdkConfig) -> R<BTreeMap<String, String>> {
    let eks = aws_sdk_eks::Client::new(conf);
    let list = eks
        .list_pod_identity_associations()
        .cluster_name(CLUSTER)
        .send()
        .await
        .map_err(sdk_err("ListPodIdentityAssociations"))?;
    let mut out = BTreeMap::new();
    for a in list.associations() {
        let d = eks
            .describe_pod_identity_association()
            .cluster_name(CLUSTER)
            .association_id(a.association_id().unwrap_or_default())
            .send()
            .await
            .map_err(sdk_err("DescribePodIdentityAssociation"))?;
        let d = d.association().ok_or("no association in the answer")?;
        out.insert(
            format!(
                "{}/{}",
                d.namespace().unwrap_or_default(),
                d.service_account().unwrap_or_default()
            ),
            d.role_arn().unwrap_or_default().to_owned(),
        );
    }
    Ok(out)
}

async fn trust_policy(conf: &SdkConfig, role: &str) -> R<Value> {
    let iam = aws_sdk_iam::Client::new(conf);
    let got = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .map_err(sdk_err(format!("GetRole {role}")))?;
    let doc = got
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .ok_or_else(|| format!("role {role} has no trust policy"))?;
    policy_document(doc)
}

fn scope(ty: &str, ns: &[&str]) -> Value {
    json!({"type": ty, "namespaces": ns})
}

fn headlines(out: &Output, what: &str) -> BTreeSet<String> {
    let suffix = format!(" {what}");
    out.stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# ")?.strip_suffix(&suffix))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn access_is_created_updated_in_place_repaired_and_removed() -> R {
    let estate = Estate::start("eksmgr-e2e-access-", 2)?;
    create_outside_principals(&estate).await?;
    let (one, two) = (estate.spoke(0).to_owned(), estate.spoke(1).to_owned());
    let hub = estate.seed.hub_account_id.clone();
    let deployer = format!("arn:aws:iam::{hub}:role/ci-deployer");
    estate
        .eksmgr
        .write_config(&config(&estate.seed, &["team-a"], &["deployers"], true))?;

    // Plan: the SSO role exists in the first spoke only, which the plan says.
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let sso_arn = format!("arn:aws:iam::{one}:role{SSO_PATH}{SSO_ROLE}");
    let created = headlines(&plan, "will be created");
    for addr in [
        format!("eks_access_entry.{CLUSTER}/{sso_arn}[{one}/us-east-1]"),
        format!("eks_access_entry.{CLUSTER}/{deployer}[{two}/us-east-1]"),
        format!("eks_access_entry.{CLUSTER}/arn:aws:iam::{two}:role/eks-deployer[{two}/us-east-1]"),
        format!("eks_pod_identity_association.{CLUSTER}/ci/builder[{one}/us-east-1]"),
        format!("eks_pod_identity_association.{CLUSTER}/apps/reader[{two}/us-east-1]"),
        format!("iam_role.eks-auditor[{hub}]"),
        format!("iam_role.eks-auditor[{one}]"),
    ] {
        ensure(created.contains(&addr), || {
            format!("the plan should create {addr}\n{plan}")
        })?;
    }
    ensure(
        plan.stdout
            .contains(&format!("no IAM role in account {two} matches")),
        || format!("the plan should warn that no SSO role matches in {two}\n{plan}"),
    )?;
    estate.apply()?;
    estate.replan_clean()?;

    // What exists, through the SDK.
    let conf_one = estate.sdk(&one).await?;
    let conf_two = estate.sdk(&two).await?;
    let e1 = entries(&conf_one).await?;
    let e2 = entries(&conf_two).await?;
    let want_deployer = (
        BTreeSet::from(["deployers".to_owned()]),
        BTreeMap::from([(EDIT.to_owned(), scope("namespace", &["team-a"]))]),
    );
    ensure(e1.get(&deployer) == Some(&want_deployer), || {
        format!("ci-deployer's entry in {one}: {:?}", e1.get(&deployer))
    })?;
    ensure(
        e1.get(&sso_arn).map(|e| &e.1)
            == Some(&BTreeMap::from([(
                CLUSTER_ADMIN.to_owned(),
                scope("cluster", &[]),
            )])),
        || format!("the SSO admin role should be cluster admin in {one}: {e1:?}"),
    )?;
    ensure(!e2.keys().any(|k| k.contains("AWSReservedSSO")), || {
        format!("{two} has no SSO role, so no entry for one: {e2:?}")
    })?;
    let cross = format!("arn:aws:iam::{two}:role/eks-deployer");
    ensure(
        e2.get(&cross).map(|e| &e.1)
            == Some(&BTreeMap::from([(
                ADMIN.to_owned(),
                scope("namespace", &["apps"]),
            )])),
        || format!("the cross-account role's entry in {two}: {e2:?}"),
    )?;
    let auditor = format!("arn:aws:iam::{two}:role/eks-auditor");
    ensure(
        e2.get(&auditor).map(|e| &e.1)
            == Some(&BTreeMap::from([(VIEW.to_owned(), scope("cluster", &[]))])),
        || format!("the auditor role's entry in {two}: {e2:?}"),
    )?;
    for (account, conf) in [(&one, &conf_one), (&two, &conf_two)] {
        let a = associations(conf).await?;
        let want = BTreeMap::from([
            (
                "ci/builder".to_owned(),
                format!("arn:aws:iam::{account}:role/{CLUSTER}-build"),
            ),
            (
                "apps/reader".to_owned(),
                format!("arn:aws:iam::{account}:role/app-reader"),
            ),
        ]);
        ensure(a == want, || format!("associations in {account}: {a:?}"))?;
    }
    let trust = trust_policy(&conf_one, "eks-deployer").await?;
    ensure(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
            == json!("deploy-0123456789")
            && trust["Statement"][0]["Principal"]["AWS"] == json!(deployer),
        || format!("eks-deployer's trust policy in {one}: {trust}"),
    )?;
    let hub_conf = estate.sdk(&hub).await?;
    let hub_trust = trust_policy(&hub_conf, "eks-auditor").await?;
    ensure(
        hub_trust["Statement"][0]["Principal"]["Federated"]
            == json!(format!("arn:aws:iam::{hub}:oidc-provider/{OIDC_HOST}")),
        || format!("the hub auditor role trusts the OIDC provider: {hub_trust}"),
    )?;
    let spoke_trust = trust_policy(&conf_two, "eks-auditor").await?;
    ensure(
        spoke_trust["Statement"][0]["Principal"]["AWS"]
            == json!(format!("arn:aws:iam::{hub}:role/eks-auditor")),
        || format!("the spoke auditor role trusts the hub role: {spoke_trust}"),
    )?;

    // A changed grant is an update in place, never a replacement.
    estate.eksmgr.write_config(&config(
        &estate.seed,
        &["team-a", "team-c"],
        &["deployers", "releasers"],
        true,
    ))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let updated = headlines(&plan, "will be updated in place");
    let want: BTreeSet<String> = [&one, &two]
        .iter()
        .map(|a| format!("eks_access_entry.{CLUSTER}/{deployer}[{a}/us-east-1]"))
        .collect();
    ensure(updated == want, || {
        format!("only the deployer's entries change in place\n{plan}")
    })?;
    ensure(
        plan.stdout
            .contains("Plan: 0 to add, 2 to change, 0 to destroy."),
        || format!("the change is two updates\n{plan}"),
    )?;
    estate.apply()?;
    estate.replan_clean()?;
    let e2 = entries(&conf_two).await?;
    let want_deployer = (
        BTreeSet::from(["deployers".to_owned(), "releasers".to_owned()]),
        BTreeMap::from([(EDIT.to_owned(), scope("namespace", &["team-a", "team-c"]))]),
    );
    ensure(e2.get(&deployer) == Some(&want_deployer), || {
        format!(
            "ci-deployer's entry in {two} after the update: {:?}",
            e2.get(&deployer)
        )
    })?;

    // An entry and an association deleted out of band are drift, and are re-created.
    let eks_two = aws_sdk_eks::Client::new(&conf_two);
    eks_two
        .delete_access_entry()
        .cluster_name(CLUSTER)
        .principal_arn(&deployer)
        .send()
        .await
        .map_err(sdk_err("delete the deployer's entry out of band"))?;
    let reader_id = eks_two
        .list_pod_identity_associations()
        .cluster_name(CLUSTER)
        .namespace("apps")
        .send()
        .await
        .map_err(sdk_err("list associations"))?
        .associations()
        .first()
        .and_then(|a| a.association_id().map(str::to_owned))
        .ok_or("no apps association")?;
    eks_two
        .delete_pod_identity_association()
        .cluster_name(CLUSTER)
        .association_id(reader_id)
        .send()
        .await
        .map_err(sdk_err("delete the reader's association out of band"))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let drift = plan
        .stdout
        .split("Drift: objects changed outside eksmgr")
        .nth(1)
        .and_then(|rest| rest.split("Unless the configuration agrees").next())
        .unwrap_or_default();
    ensure(
        drift.contains(&format!(
            "eks_access_entry.{CLUSTER}/{deployer}[{two}/us-east-1]"
        )) && drift.contains(&format!(
            "eks_pod_identity_association.{CLUSTER}/apps/reader[{two}/us-east-1]"
        )),
        || format!("both deletions show as drift\n{plan}"),
    )?;
    let created = headlines(&plan, "will be created");
    ensure(created.len() == 2, || {
        format!("exactly the two are re-created\n{plan}")
    })?;
    estate.apply()?;
    estate.replan_clean()?;
    ensure(
        entries(&conf_two).await?.get(&deployer) == Some(&want_deployer),
        || "the deployer's entry is back as declared".to_owned(),
    )?;
    ensure(
        associations(&conf_two).await?.contains_key("apps/reader"),
        || "the reader's association is back".to_owned(),
    )?;

    // An entry that exists already (made by hand before eksmgr managed it) is adopted and
    // brought to the declaration, not created twice.
    let reader = format!("arn:aws:iam::{one}:role/app-reader");
    let eks_one = aws_sdk_eks::Client::new(&conf_one);
    eks_one
        .create_access_entry()
        .cluster_name(CLUSTER)
        .principal_arn(&reader)
        .kubernetes_groups("legacy")
        .send()
        .await
        .map_err(sdk_err("create the reader's entry by hand"))?;
    let with_reader = config(
        &estate.seed,
        &["team-a", "team-c"],
        &["deployers", "releasers"],
        true,
    )
    .replacen(
        "[[cross_account_roles]]",
        &format!(
            "[[access.grants]]\nprincipal_arn = \"arn:aws:iam::*:role/app-reader\"\npolicy = \"view\"\ngroups = [\"readers\"]\nclusters = [\"{CLUSTER}\"]\n\n[[cross_account_roles]]"
        ),
        1,
    );
    estate.eksmgr.write_config(&with_reader)?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let adopted_addr = format!("eks_access_entry.{CLUSTER}/{reader}[{one}/us-east-1]");
    ensure(
        headlines(&plan, "will be adopted and updated in place").contains(&adopted_addr)
            && headlines(&plan, "will be created").contains(&format!(
                "eks_access_entry.{CLUSTER}/arn:aws:iam::{two}:role/app-reader[{two}/us-east-1]"
            )),
        || format!("the hand-made entry is adopted, the other created\n{plan}"),
    )?;
    estate.apply()?;
    estate.replan_clean()?;
    let e1 = entries(&conf_one).await?;
    ensure(
        e1.get(&reader)
            == Some(&(
                BTreeSet::from(["readers".to_owned()]),
                BTreeMap::from([(VIEW.to_owned(), scope("cluster", &[]))]),
            )),
        || {
            format!(
                "the adopted entry follows the declaration: {:?}",
                e1.get(&reader)
            )
        },
    )?;

    // Removing the grant revokes it.
    estate
        .eksmgr
        .write_config(&config(&estate.seed, &[], &[], false))?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let destroyed = headlines(&plan, "will be destroyed");
    let mut gone = want.clone();
    gone.insert(adopted_addr);
    gone.insert(format!(
        "eks_access_entry.{CLUSTER}/arn:aws:iam::{two}:role/app-reader[{two}/us-east-1]"
    ));
    ensure(destroyed == gone, || {
        format!("the grants' entries are destroyed\n{plan}")
    })?;
    estate.apply()?;
    estate.replan_clean()?;
    for conf in [&conf_one, &conf_two] {
        ensure(!entries(conf).await?.contains_key(&deployer), || {
            "the deployer's entries are gone".to_owned()
        })?;
    }

    // A cross-account role's trust changes in place; removing a role removes it, its hub
    // role and its access entries.
    let base = config(&estate.seed, &[], &[], false);
    let auditor_at = base
        .find("[[cross_account_roles]]\nname = \"eks-auditor\"")
        .ok_or("the config has no auditor role")?;
    let changed = base[..auditor_at].replace("deploy-0123456789", "deploy-9876543210");
    estate.eksmgr.write_config(&changed)?;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let updated = headlines(&plan, "will be updated in place");
    let destroyed = headlines(&plan, "will be destroyed");
    let want_updated: BTreeSet<String> = [&one, &two]
        .iter()
        .map(|a| format!("iam_role.eks-deployer[{a}]"))
        .collect();
    let mut want_destroyed: BTreeSet<String> = [&one, &two]
        .iter()
        .flat_map(|a| {
            [
                format!("iam_role.eks-auditor[{a}]"),
                format!(
                    "eks_access_entry.{CLUSTER}/arn:aws:iam::{a}:role/eks-auditor[{a}/us-east-1]"
                ),
            ]
        })
        .collect();
    want_destroyed.insert(format!("iam_role.eks-auditor[{hub}]"));
    ensure(
        updated == want_updated && destroyed == want_destroyed,
        || format!("the deployer roles change in place and the auditor goes\n{plan}"),
    )?;
    estate.apply()?;
    estate.replan_clean()?;
    let trust = trust_policy(&conf_two, "eks-deployer").await?;
    ensure(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
            == json!("deploy-9876543210"),
        || format!("the new external id is in force: {trust}"),
    )?;
    ensure(!entries(&conf_two).await?.contains_key(&auditor), || {
        "the auditor's entry is gone".to_owned()
    })?;
    ensure(
        trust_policy(&hub_conf, "eks-auditor").await.is_err(),
        || "the hub auditor role is gone".to_owned(),
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_principal_that_does_not_exist_is_reported_at_plan_time() -> R {
    let estate = Estate::start("eksmgr-e2e-access-", 2)?;
    create_outside_principals(&estate).await?;
    let one = estate.spoke(0).to_owned();
    let text = config(&estate.seed, &[], &[], false).replacen(
        "[[cross_account_roles]]",
        &format!(
            "[[access.grants]]\nprincipal_arn = \"arn:aws:iam::{one}:role/no-such-role\"\npolicy = \"view\"\nclusters = [\"{CLUSTER}\"]\n\n[[cross_account_roles]]"
        ),
        1,
    );
    estate.eksmgr.write_config(&text)?;
    let out = estate.expect(&["plan", "--detailed-exitcode"], 1)?;
    let all = format!("{}{}", out.stdout, out.stderr);
    ensure(
        all.contains(&format!(
            "the principal arn:aws:iam::{one}:role/no-such-role does not exist in account {one}"
        )),
        || format!("the plan should name the missing principal\n{out}"),
    )?;
    ensure(!all.contains("panicked"), || format!("no panic\n{out}"))?;
    Ok(())
}
