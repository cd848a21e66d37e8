//! End-to-end tests of the spokes and the hub registry: the whole example configuration
//! (`examples/eksmgr.toml`, ids substituted as `scripts/demo.sh` does) planned and applied by
//! the real `eksmgr` binary against moto, with a new account joining the EKS OU, drift in the
//! spokes and the hub registry, an unreachable spoke (an `AccessDenied` injected by a proxy in
//! front of moto), and the API calls a no-op plan costs.
//!
//! Every check of what exists in AWS goes through the AWS SDK (assuming
//! `OrganizationAccountAccessRole` into each account), never through eksmgr's state. Each test
//! starts its own moto server and seeds its own organization with two spokes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use aws_config::SdkConfig;
use eksmgr_e2e::check::{ensure, err, policy_document, sdk_err};
use eksmgr_e2e::estate::{Estate, EstateBuilder};
use eksmgr_e2e::example::{TEMPLATE_SUBNETS, example_config, example_config_every_spoke};
use eksmgr_e2e::proxy::Call;
use eksmgr_e2e::{Output, Seed};
use serde_json::Value;

use eksmgr_e2e::R;

const SPOKE_ADMIN_ROLE: &str = "EKSManagerAdmin";
const REGION: &str = "us-east-1";
const REPOSITORIES: [&str; 2] = ["platform/api", "platform/worker"];
/// The node role's managed policies of the seed design.
const NODE_POLICIES: [&str; 6] = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",
    "AutoScalingFullAccess",
    "service-role/AmazonEBSCSIDriverPolicy",
];
/// What the full example creates with two spokes in a new organization: its 2 prerequisites
/// (the SCP policy type, StackSets' trusted access), 5 governance and hub resources, 18 per
/// `workloads` cluster (key, cluster, node and build roles, cluster, the build pods' pod
/// identity association, the deployer role, the access entries of the admin, the CI role and
/// the deployer role, five add-ons (the four defaults and the EBS CSI driver) and the driver's
/// role, two node groups), 12 for `edge` (key, cluster, node and external-dns roles, cluster,
/// external-dns's association, the admin's and the CI role's access entries, the four default
/// add-ons), 2 repositories.
const EXAMPLE_RESOURCES: usize = 57;

// ---------------------------------------------------------------------------------------------
// An estate: moto, the seeded organization, a work directory, eksmgr (maybe through a proxy)
// ---------------------------------------------------------------------------------------------

/// moto with two spokes and the example configuration written.
fn example_estate() -> EstateBuilder {
    Estate::builder("eksmgr-e2e-spokes-")
        .spokes(2)
        .config(example_config)
}

// ---------------------------------------------------------------------------------------------
// Reading the plan
// ---------------------------------------------------------------------------------------------

/// Addresses of the plan's `# ADDRESS will be ...` headlines ending with `what`.
fn headlines(out: &Output, what: &str) -> BTreeSet<String> {
    let suffix = format!(" {what}");
    out.stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# ")?.strip_suffix(&suffix))
        .map(str::to_owned)
        .collect()
}

/// The "Skipped accounts" section of a human plan, or empty.
fn skipped_section(out: &Output) -> String {
    section(
        &out.stdout,
        "Skipped accounts (nothing is planned in these; the rest of the estate is):",
        Some("\n\n"),
    )
    .unwrap_or_default()
    .to_owned()
}

fn created(out: &Output) -> BTreeSet<String> {
    headlines(out, "will be created")
}

fn updated(out: &Output) -> BTreeSet<String> {
    headlines(out, "will be updated in place")
}

/// The text of a section of the human plan, from its header to the next blank line
/// (`until` given: to that marker).
fn section<'a>(text: &'a str, header: &str, until: Option<&str>) -> Option<&'a str> {
    let start = text.find(header)? + header.len();
    let rest = &text[start..];
    let end = match until {
        Some(marker) => rest.find(marker).unwrap_or(rest.len()),
        None => rest.find("\n\n").unwrap_or(rest.len()),
    };
    Some(&rest[..end])
}

/// Addresses of the "Could not be planned" section.
fn unplannable(out: &Output) -> BTreeSet<String> {
    section(
        &out.stdout,
        "Could not be planned (nothing will be done to these):",
        None,
    )
    .map(|s| {
        s.lines()
            .filter_map(|l| l.trim().strip_prefix("! "))
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Addresses of the "Planned after this apply" section.
fn awaiting(out: &Output) -> BTreeSet<String> {
    section(&out.stdout, "Planned after this apply", None)
        .map(|s| {
            s.lines()
                .filter_map(|l| l.trim().strip_prefix("… "))
                .filter_map(|l| l.split(" (after").next())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The summary line, `Plan: N to add, ...`.
fn summary(out: &Output) -> String {
    out.stdout
        .lines()
        .find(|l| l.starts_with("Plan:") || l.starts_with("No changes."))
        .unwrap_or_default()
        .to_owned()
}

/// The resources of one `workloads` cluster in `account` (`hub` holds the CI role the example
/// grants access to), except the IAM Identity Center admin's entry: see [`sso_entry`].
fn workloads_addresses(account: &str, hub: &str) -> BTreeSet<String> {
    [
        format!("iam_role.workloads-build[{account}]"),
        format!("iam_role.workloads-cluster[{account}]"),
        format!("iam_role.workloads-node[{account}]"),
        format!("kms_key.workloads[{account}/{REGION}]"),
        format!("eks_cluster.workloads[{account}/{REGION}]"),
        format!("eks_pod_identity_association.workloads/ci/builder[{account}/{REGION}]"),
        ci_entry("workloads", account, hub),
        format!("iam_role.eks-deployer[{account}]"),
        format!(
            "eks_access_entry.workloads/arn:aws:iam::{account}:role/eks-deployer[{account}/{REGION}]"
        ),
        format!("iam_role.workloads-aws-ebs-csi-driver[{account}]"),
        format!("eks_node_group.workloads/general[{account}/{REGION}]"),
        format!("eks_node_group.workloads/builds[{account}/{REGION}]"),
    ]
    .into_iter()
    .chain(
        [
            "aws-ebs-csi-driver",
            "coredns",
            "eks-pod-identity-agent",
            "kube-proxy",
            "vpc-cni",
        ]
        .map(|a| format!("eks_addon.workloads/{a}[{account}/{REGION}]")),
    )
    .collect()
}

/// The access entry of the hub's CI role on `cluster` in `account`.
fn ci_entry(cluster: &str, account: &str, hub: &str) -> String {
    format!("eks_access_entry.{cluster}/arn:aws:iam::{hub}:role/platform-ci[{account}/{REGION}]")
}

/// The access entry of the IAM Identity Center role the seed puts in every spoke (the
/// example's admin pattern): planned only when the account's roles can be listed.
fn sso_entry(cluster: &str, account: &str) -> String {
    format!(
        "eks_access_entry.{cluster}/arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PlatformAdmin_0123456789abcdef[{account}/{REGION}]"
    )
}

fn repository_addresses(hub: &str) -> BTreeSet<String> {
    REPOSITORIES
        .iter()
        .map(|r| format!("ecr_repository.{r}[{hub}/{REGION}]"))
        .collect()
}

fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

// ---------------------------------------------------------------------------------------------
// Reading AWS through the SDK
// ---------------------------------------------------------------------------------------------

/// Policy documents as IAM returns them (URL-encoded JSON), parsed.
/// Strings of a JSON string-or-array.
fn strings(v: &Value) -> BTreeSet<String> {
    match v {
        Value::String(s) => [s.clone()].into_iter().collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// KMS alias name -> key ARN in an account.
async fn kms_aliases(conf: &SdkConfig) -> R<BTreeMap<String, String>> {
    let kms = aws_sdk_kms::Client::new(conf);
    let aliases = kms
        .list_aliases()
        .send()
        .await
        .map_err(sdk_err("kms:ListAliases"))?;
    let mut out = BTreeMap::new();
    for alias in aliases.aliases() {
        let (Some(name), Some(key)) = (alias.alias_name(), alias.target_key_id()) else {
            continue;
        };
        if !name.starts_with("alias/eksmgr/") {
            continue;
        }
        let described = kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(sdk_err(format!("kms:DescribeKey {key}")))?;
        let arn = described
            .key_metadata()
            .map(|m| m.arn().unwrap_or_default().to_owned())
            .unwrap_or_default();
        out.insert(name.to_owned(), arn);
    }
    Ok(out)
}

async fn cluster_names(conf: &SdkConfig) -> R<BTreeSet<String>> {
    let listed = aws_sdk_eks::Client::new(conf)
        .list_clusters()
        .send()
        .await
        .map_err(sdk_err("eks:ListClusters"))?;
    Ok(listed.clusters().iter().cloned().collect())
}

async fn cluster(conf: &SdkConfig, name: &str) -> R<aws_sdk_eks::types::Cluster> {
    aws_sdk_eks::Client::new(conf)
        .describe_cluster()
        .name(name)
        .send()
        .await
        .map_err(sdk_err(format!("eks:DescribeCluster {name}")))?
        .cluster
        .ok_or_else(|| format!("DescribeCluster {name} returned no cluster"))
}

async fn role_names(conf: &SdkConfig) -> R<BTreeSet<String>> {
    let roles = aws_sdk_iam::Client::new(conf)
        .list_roles()
        .max_items(1000)
        .send()
        .await
        .map_err(sdk_err("iam:ListRoles"))?;
    Ok(roles
        .roles()
        .iter()
        .map(|r| r.role_name().to_owned())
        .collect())
}

async fn attached_policies(conf: &SdkConfig, role: &str) -> R<BTreeSet<String>> {
    let attached = aws_sdk_iam::Client::new(conf)
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(sdk_err(format!("iam:ListAttachedRolePolicies {role}")))?;
    Ok(attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect())
}

fn node_policy_arns() -> BTreeSet<String> {
    NODE_POLICIES
        .iter()
        .map(|p| format!("arn:aws:iam::aws:policy/{p}"))
        .collect()
}

async fn trust_policy(conf: &SdkConfig, role: &str) -> R<Value> {
    let got = aws_sdk_iam::Client::new(conf)
        .get_role()
        .role_name(role)
        .send()
        .await
        .map_err(sdk_err(format!("iam:GetRole {role}")))?;
    let doc = got
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .ok_or_else(|| format!("GetRole {role} returned no trust policy"))?;
    policy_document(doc)
}

async fn repository_policy(hub: &SdkConfig, repo: &str) -> R<Value> {
    let got = aws_sdk_ecr::Client::new(hub)
        .get_repository_policy()
        .repository_name(repo)
        .send()
        .await
        .map_err(sdk_err(format!("ecr:GetRepositoryPolicy {repo}")))?;
    let text = got
        .policy_text()
        .ok_or_else(|| format!("GetRepositoryPolicy {repo} returned no policy"))?;
    serde_json::from_str(text).map_err(err(format!("parse the policy of {repo}: {text}")))
}

/// Whom the statements of a repository policy allowing `action` grant it to: the ARNs of a
/// `Principal.AWS`, and for `Principal: "*"` statements scoped to an organization path
/// (`aws:PrincipalOrgPaths`), their `aws:PrincipalArn` patterns.
fn principals_allowed(policy: &Value, action: &str) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|st| st["Effect"] == "Allow" && strings(&st["Action"]).contains(action))
        .flat_map(|st| {
            if st["Principal"] == "*" {
                let scoped = st["Condition"].as_object().is_some_and(|c| {
                    c.iter()
                        .any(|(_, v)| v.get("aws:PrincipalOrgPaths").is_some())
                });
                if scoped {
                    strings(&st["Condition"]["ArnLike"]["aws:PrincipalArn"])
                } else {
                    ["*".to_owned()].into_iter().collect()
                }
            } else {
                strings(&st["Principal"]["AWS"])
            }
        })
        .collect()
}

/// The role ARNs as the patterns a repository policy grants by: any account (the policy
/// scopes accounts by the EKS OU's path), the role's name.
fn as_patterns(arns: &BTreeSet<String>) -> BTreeSet<String> {
    arns.iter()
        .map(|a| match a.rsplit_once(":role/") {
            Some((_, name)) => format!("arn:aws:iam::*:role/{name}"),
            None => a.clone(),
        })
        .collect()
}

/// Checks that each hub repository exists and grants pull to exactly `pull` and push to
/// exactly `push`.
async fn check_repositories(
    estate: &Estate,
    pull: &BTreeSet<String>,
    push: &BTreeSet<String>,
) -> R {
    let hub = estate.sdk(estate.hub()).await?;
    let described = aws_sdk_ecr::Client::new(&hub)
        .describe_repositories()
        .send()
        .await
        .map_err(sdk_err("ecr:DescribeRepositories"))?;
    let names: BTreeSet<&str> = described
        .repositories()
        .iter()
        .filter_map(|r| r.repository_name())
        .collect();
    ensure(REPOSITORIES.iter().all(|r| names.contains(r)), || {
        format!("the hub should hold {REPOSITORIES:?}, it holds {names:?}")
    })?;
    // The grants name no spoke: every account under the EKS OU, by role name.
    let (pull, push) = (&as_patterns(pull), &as_patterns(push));
    let ou_path = format!("/{}/{}/", estate.seed.root_id, estate.seed.eks_ou_id);
    for repo in REPOSITORIES {
        let policy = repository_policy(&hub, repo).await?;
        for st in policy["Statement"].as_array().into_iter().flatten() {
            let paths =
                strings(&st["Condition"]["ForAnyValue:StringEquals"]["aws:PrincipalOrgPaths"]);
            ensure(
                paths.len() == 1 && paths.iter().all(|p| p.ends_with(&ou_path)),
                || {
                    format!(
                        "{repo}: every grant should be scoped to the EKS OU's path (…{ou_path}): {policy:#}"
                    )
                },
            )?;
        }
        let pulls = principals_allowed(&policy, "ecr:GetDownloadUrlForLayer");
        ensure(&pulls == pull, || {
            format!("{repo}: pull should be granted to {pull:?}, it is to {pulls:?}: {policy:#}")
        })?;
        let pushes = principals_allowed(&policy, "ecr:PutImage");
        ensure(&pushes == push, || {
            format!("{repo}: push should be granted to {push:?}, it is to {pushes:?}: {policy:#}")
        })?;
    }
    Ok(())
}

/// Checks one spoke's `workloads` cluster: key alias, cluster encrypted with that key and run
/// by its cluster role, the node role's six managed policies, the build role's trust.
async fn check_workloads(conf: &SdkConfig, account: &str, subnets: &[&str]) -> R {
    let aliases = kms_aliases(conf).await?;
    let key_arn = aliases
        .get("alias/eksmgr/workloads")
        .ok_or_else(|| format!("{account}: alias/eksmgr/workloads is missing: {aliases:?}"))?;
    ensure(key_arn.contains(&format!(":{account}:key/")), || {
        format!("{account}: the workloads key {key_arn} is not in the account")
    })?;
    let c = cluster(conf, "workloads").await?;
    let keys: Vec<&str> = c
        .encryption_config()
        .iter()
        .filter_map(|e| e.provider().and_then(|p| p.key_arn()))
        .collect();
    ensure(keys == [key_arn.as_str()], || {
        format!(
            "{account}: workloads should be encrypted with {key_arn}, its encryptionConfig is {:?}",
            c.encryption_config()
        )
    })?;
    let resources: Vec<String> = c
        .encryption_config()
        .iter()
        .flat_map(|e| e.resources().iter().cloned())
        .collect();
    ensure(resources == ["secrets"], || {
        format!("{account}: the encryption should cover secrets, it covers {resources:?}")
    })?;
    let expected_role = role_arn(account, "workloads-cluster");
    ensure(c.role_arn() == Some(expected_role.as_str()), || {
        format!(
            "{account}: workloads should run as {expected_role}, it runs as {:?}",
            c.role_arn()
        )
    })?;
    let cluster_subnets: BTreeSet<&str> = c
        .resources_vpc_config()
        .map(|v| v.subnet_ids().iter().map(String::as_str).collect())
        .unwrap_or_default();
    let want: BTreeSet<&str> = subnets.iter().copied().collect();
    ensure(cluster_subnets == want, || {
        format!("{account}: workloads should be in {want:?}, it is in {cluster_subnets:?}")
    })?;

    let attached = attached_policies(conf, "workloads-node").await?;
    ensure(attached == node_policy_arns(), || {
        format!(
            "{account}: workloads-node should have exactly {:?}, it has {attached:?}",
            node_policy_arns()
        )
    })?;

    let trust = trust_policy(conf, "workloads-build").await?;
    let statements = trust["Statement"].as_array().cloned().unwrap_or_default();
    let trusts_pods = statements.iter().any(|st| {
        st["Effect"] == "Allow"
            && strings(&st["Principal"]["Service"]).contains("pods.eks.amazonaws.com")
            && strings(&st["Action"])
                == ["sts:AssumeRole", "sts:TagSession"]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
    });
    ensure(trusts_pods, || {
        format!(
            "{account}: workloads-build should trust pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession: {trust:#}"
        )
    })?;
    let cluster_arn = format!("arn:aws:eks:{REGION}:{account}:cluster/workloads");
    // Scoped by the session tags EKS Pod Identity sets (not aws:SourceArn, which it does not).
    ensure(
        statements.iter().all(|st| {
            let tags = &st["Condition"]["StringEquals"];
            tags["aws:RequestTag/eks-cluster-arn"] == Value::String(cluster_arn.clone())
                && tags["aws:RequestTag/kubernetes-namespace"] == "ci"
                && tags["aws:RequestTag/kubernetes-service-account"] == "builder"
                && st["Condition"].get("ArnEquals").is_none()
        }),
        || {
            format!(
                "{account}: workloads-build should be assumable for its cluster only: {trust:#}"
            )
        },
    )
}

/// Checks that no spoke resource of the example exists in an account that is not a spoke.
async fn check_no_spoke_resources(conf: &SdkConfig, account: &str) -> R {
    let aliases = kms_aliases(conf).await?;
    ensure(aliases.is_empty(), || {
        format!("{account} is not a spoke but holds the keys {aliases:?}")
    })?;
    let clusters = cluster_names(conf).await?;
    ensure(clusters.is_empty(), || {
        format!("{account} is not a spoke but holds the clusters {clusters:?}")
    })?;
    let roles: Vec<String> = role_names(conf)
        .await?
        .into_iter()
        .filter(|r| r.starts_with("workloads-") || r.starts_with("edge-"))
        .collect();
    ensure(roles.is_empty(), || {
        format!("{account} is not a spoke but holds the roles {roles:?}")
    })
}

// ---------------------------------------------------------------------------------------------
// a. The full example
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn full_example_applies_into_the_right_accounts() -> R {
    let started = Instant::now();
    let estate = example_estate().start()?;
    let (spoke1, spoke2, hub) = (estate.spoke(0), estate.spoke(1), estate.hub());

    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stdout.contains(&format!(
            "Plan: {EXAMPLE_RESOURCES} to add, 0 to change, 0 to destroy."
        )),
        || format!("the first plan should add {EXAMPLE_RESOURCES}\n{plan}"),
    )?;
    estate.apply()?;

    let one = estate.sdk(spoke1).await?;
    let two = estate.sdk(spoke2).await?;
    check_workloads(
        &one,
        spoke1,
        &["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
    )
    .await?;
    check_workloads(
        &two,
        spoke2,
        &["subnet-1a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60719"],
    )
    .await?;

    // edge only in the second spoke, encrypted with its own key.
    let aliases_one: BTreeSet<String> = kms_aliases(&one).await?.into_keys().collect();
    ensure(
        aliases_one == ["alias/eksmgr/workloads".to_owned()].into_iter().collect(),
        || format!("{spoke1} should hold only alias/eksmgr/workloads: {aliases_one:?}"),
    )?;
    ensure(
        cluster_names(&one).await? == ["workloads".to_owned()].into_iter().collect(),
        || format!("{spoke1} should hold only the workloads cluster"),
    )?;
    let aliases_two = kms_aliases(&two).await?;
    let edge_key = aliases_two
        .get("alias/eksmgr/edge")
        .ok_or_else(|| format!("{spoke2}: alias/eksmgr/edge is missing: {aliases_two:?}"))?;
    ensure(aliases_two.len() == 2, || {
        format!("{spoke2} should hold two eksmgr keys: {aliases_two:?}")
    })?;
    let edge = cluster(&two, "edge").await?;
    let edge_keys: Vec<&str> = edge
        .encryption_config()
        .iter()
        .filter_map(|e| e.provider().and_then(|p| p.key_arn()))
        .collect();
    ensure(edge_keys == [edge_key.as_str()], || {
        format!("edge should be encrypted with {edge_key}: {edge_keys:?}")
    })?;
    ensure(
        edge.role_arn() == Some(role_arn(spoke2, "edge-cluster").as_str()),
        || format!("edge runs as {:?}", edge.role_arn()),
    )?;
    ensure(
        attached_policies(&two, "edge-node").await? == node_policy_arns(),
        || "edge-node should have the six node policies".to_owned(),
    )?;
    let one_roles = role_names(&one).await?;
    ensure(!one_roles.iter().any(|r| r.starts_with("edge-")), || {
        format!("{spoke1} should hold no edge role: {one_roles:?}")
    })?;

    // The hub registry grants pull to every node role and push to every build role.
    let pull: BTreeSet<String> = [
        role_arn(spoke1, "workloads-node"),
        role_arn(spoke2, "workloads-node"),
        role_arn(spoke2, "edge-node"),
    ]
    .into_iter()
    .collect();
    let push: BTreeSet<String> = [
        role_arn(spoke1, "workloads-build"),
        role_arn(spoke2, "workloads-build"),
    ]
    .into_iter()
    .collect();
    check_repositories(&estate, &pull, &push).await?;

    // Nothing of the spokes in the management account or the hub.
    let mgmt = estate.sdk(&estate.seed.management_account_id).await?;
    check_no_spoke_resources(&mgmt, &estate.seed.management_account_id).await?;
    check_no_spoke_resources(&estate.sdk(hub).await?, hub).await?;

    estate.replan_clean()?;
    eprintln!(
        "full_example_applies_into_the_right_accounts: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// b. A new account in the OU
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn new_account_in_the_ou_shows_up_in_the_next_plan() -> R {
    let started = Instant::now();
    let estate = example_estate().start()?;
    // The example's template gets its subnets from per-account overrides only; a new account
    // has none, so this test's configuration gives the template default subnets.
    estate
        .eksmgr
        .write_config(&example_config_every_spoke(&estate.seed)?)?;
    estate.apply()?;
    estate.replan_clean()?;

    let new = estate.moto.add_spoke()?.account_id;
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    ensure(
        plan.stderr.contains(&format!(
            "Spokes: 3 account(s) in {}",
            estate.seed.eks_ou_id
        )) && plan.stderr.contains(&new),
        || format!("the plan should discover 3 spokes\n{plan}"),
    )?;
    let added = created(&plan);
    let mut want = workloads_addresses(&new, estate.hub());
    want.insert(sso_entry("workloads", &new));
    ensure(added == want, || {
        format!(
            "only {new}'s workloads resources should be added: {added:?}\n{}",
            plan.stdout
        )
    })?;
    // The hub registry grants by the EKS OU's path and role names: a new spoke changes no
    // repository policy.
    let changed = updated(&plan);
    ensure(changed.is_empty(), || {
        format!(
            "a new spoke should change nothing in place (no repository policy): {changed:?}\n{}",
            plan.stdout
        )
    })?;
    ensure(
        summary(&plan) == "Plan: 18 to add, 0 to change, 0 to destroy.",
        || format!("summary: {}", summary(&plan)),
    )?;
    estate.apply()?;
    let conf = estate.sdk(&new).await?;
    check_workloads(&conf, &new, &TEMPLATE_SUBNETS).await?;
    let (spoke1, spoke2) = (estate.spoke(0), estate.spoke(1));
    let pull: BTreeSet<String> = [
        role_arn(spoke1, "workloads-node"),
        role_arn(spoke2, "workloads-node"),
        role_arn(spoke2, "edge-node"),
        role_arn(&new, "workloads-node"),
    ]
    .into_iter()
    .collect();
    let push: BTreeSet<String> = [
        role_arn(spoke1, "workloads-build"),
        role_arn(spoke2, "workloads-build"),
        role_arn(&new, "workloads-build"),
    ]
    .into_iter()
    .collect();
    check_repositories(&estate, &pull, &push).await?;
    estate.replan_clean()?;
    eprintln!(
        "new_account_in_the_ou_shows_up_in_the_next_plan: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The example as it is: the `workloads` template has no `subnet_ids` of its own, only
/// per-account overrides. An account that joins the OU gets the template without subnets; an
/// EKS cluster cannot be created without subnets (AWS wants at least two, in two availability
/// zones), so the plan should say so instead of offering to create it.
#[tokio::test(flavor = "multi_thread")]
async fn template_cluster_without_subnets_is_not_planned_for_a_new_account() -> R {
    let estate = example_estate().start()?;
    estate.apply()?;
    let new = estate.moto.add_spoke()?.account_id;
    // A configuration gap in one account skips that account, with what to add; the rest of
    // the estate is planned, and `--detailed-exitcode` says a human must act (3).
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 3)?;
    let cluster = format!("eks_cluster.workloads[{new}/{REGION}]");
    ensure(!created(&plan).contains(&cluster), || {
        format!("the plan offers to create {cluster} without subnets\n{plan}")
    })?;
    let skipped = section(
        &plan.stdout,
        "Skipped accounts (nothing is planned in these; the rest of the estate is):",
        Some("\n\n"),
    )
    .unwrap_or_default();
    ensure(
        skipped.contains(&new)
            && skipped.contains("subnet_ids")
            && skipped.contains(&format!("[clusters.overrides.\"{new}\"]")),
        || format!("the plan should list {new} as skipped, saying what to add\n{plan}"),
    )?;
    // The JSON plan carries it too.
    let json = estate.expect(&["plan", "--json", "--detailed-exitcode"], 3)?;
    let doc: serde_json::Value =
        serde_json::from_str(&json.stdout).map_err(|e| format!("plan --json: {e}\n{json}"))?;
    ensure(
        doc["needs_attention"] == serde_json::json!(true)
            && doc["skipped_accounts"][0]["account"] == serde_json::json!(new)
            && doc["skipped_accounts"][0]["cause"] == serde_json::json!("subnets"),
        || format!("the JSON plan should carry the skipped account: {doc:#}"),
    )?;
    // Apply carries out the rest (here: nothing) and exits 3 as well.
    estate.expect(&["apply", "--auto-approve"], 3)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// c. Drift in the spokes and the hub registry
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_spokes_is_reported_and_repaired() -> R {
    let started = Instant::now();
    let estate = example_estate().start()?;
    estate.apply()?;
    let (spoke1, spoke2, hub_id) = (estate.spoke(0), estate.spoke(1), estate.hub());
    let one = estate.sdk(spoke1).await?;
    let two = estate.sdk(spoke2).await?;
    let hub = estate.sdk(hub_id).await?;
    let cni = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy";

    // 1. A node role loses a managed policy.
    aws_sdk_iam::Client::new(&one)
        .detach_role_policy()
        .role_name("workloads-node")
        .policy_arn(cni)
        .send()
        .await
        .map_err(sdk_err("iam:DetachRolePolicy"))?;
    // 2. A repository policy loses its push statement.
    let repo = REPOSITORIES[0];
    let mut policy = repository_policy(&hub, repo).await?;
    if let Some(statements) = policy["Statement"].as_array_mut() {
        statements.retain(|st| !strings(&st["Action"]).contains("ecr:PutImage"));
    }
    ensure(
        principals_allowed(&policy, "ecr:PutImage").is_empty()
            && !principals_allowed(&policy, "ecr:GetDownloadUrlForLayer").is_empty(),
        || format!("the tampered policy should keep pull only: {policy:#}"),
    )?;
    aws_sdk_ecr::Client::new(&hub)
        .set_repository_policy()
        .repository_name(repo)
        .policy_text(policy.to_string())
        .send()
        .await
        .map_err(sdk_err("ecr:SetRepositoryPolicy"))?;
    // 3. A cluster's tag changes.
    let eks = aws_sdk_eks::Client::new(&two);
    let arn = cluster(&two, "workloads")
        .await?
        .arn
        .ok_or("the workloads cluster has no ARN")?;
    eks.tag_resource()
        .resource_arn(&arn)
        .tags("team", "rogue")
        .send()
        .await
        .map_err(sdk_err("eks:TagResource"))?;
    let tags = cluster(&two, "workloads").await?.tags.unwrap_or_default();
    ensure(
        tags.get("team").map(String::as_str) == Some("rogue"),
        || format!("moto did not keep the tag change: {tags:?}"),
    )?;

    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let drift = section(
        &plan.stdout,
        "Drift: objects changed outside eksmgr since the last apply",
        Some("Unless the configuration agrees"),
    )
    .ok_or_else(|| format!("the plan has no Drift section\n{plan}"))?;
    let drifted = [
        format!("iam_role.workloads-node[{spoke1}]"),
        format!("ecr_repository.{repo}[{hub_id}/{REGION}]"),
        format!("eks_cluster.workloads[{spoke2}/{REGION}]"),
    ];
    for address in &drifted {
        ensure(
            drift.contains(&format!("~ {address} changed outside eksmgr")),
            || format!("the Drift section should name {address}\n{}", plan.stdout),
        )?;
    }
    let named = drift.matches("changed outside eksmgr").count()
        + drift.matches("was deleted outside eksmgr").count();
    ensure(named == drifted.len(), || {
        format!("only the three changes should be in the Drift section\n{drift}")
    })?;
    ensure(drift.contains(cni) && drift.contains("rogue"), || {
        format!("the Drift section should show the detached policy and the tag\n{drift}")
    })?;
    let changed = updated(&plan);
    let want: BTreeSet<String> = drifted.iter().cloned().collect();
    ensure(changed == want, || {
        format!(
            "exactly the drifted resources should be updated: {changed:?}\n{}",
            plan.stdout
        )
    })?;

    estate.apply()?;
    ensure(
        attached_policies(&one, "workloads-node").await? == node_policy_arns(),
        || "the CNI policy should be attached again".to_owned(),
    )?;
    let repaired = repository_policy(&hub, repo).await?;
    let push: BTreeSet<String> = [
        role_arn(spoke1, "workloads-build"),
        role_arn(spoke2, "workloads-build"),
    ]
    .into_iter()
    .collect();
    ensure(
        principals_allowed(&repaired, "ecr:PutImage") == as_patterns(&push),
        || format!("the push statement should be back: {repaired:#}"),
    )?;
    let tags = cluster(&two, "workloads").await?.tags.unwrap_or_default();
    ensure(
        tags.get("team").map(String::as_str) == Some("platform"),
        || format!("the team tag should be platform again: {tags:?}"),
    )?;
    estate.replan_clean()?;
    eprintln!(
        "drift_in_spokes_is_reported_and_repaired: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// d. An unreachable spoke
// ---------------------------------------------------------------------------------------------

/// The example with spoke discovery off: the governance layer and the hub registry only.
fn governance_only_config(seed: &Seed) -> R<String> {
    let text = example_config(seed)?;
    ensure(text.contains("discover = true"), || {
        "the example no longer says `discover = true`".to_owned()
    })?;
    Ok(text.replace("discover = true", "discover = false"))
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_spoke_fails_alone() -> R {
    let started = Instant::now();
    let estate = example_estate().proxy().start()?;
    let proxy = estate.proxy()?;
    let (spoke1, spoke2, hub) = (estate.spoke(0), estate.spoke(1), estate.hub());
    let spoke1_resources = workloads_addresses(spoke1, hub);
    let registry = repository_addresses(hub);
    proxy.deny_assume_role(spoke1);

    // On a fresh estate the spoke admin roles come with the StackSet this plan creates: a
    // spoke that cannot be reached yet is planned after this apply, not an error.
    let fresh = estate.expect(&["plan"], 0)?;
    let waiting = awaiting(&fresh);
    // The registry does not wait: its policy names no role of any spoke.
    let expected: BTreeSet<String> = spoke1_resources.clone();
    ensure(waiting == expected, || {
        format!(
            "on a fresh estate only {spoke1}'s resources should wait for the StackSet: {waiting:?}\n{fresh}"
        )
    })?;
    eprintln!(
        "unreachable spoke, fresh estate: {spoke1} planned after this apply ({} resources), exit 0, {}",
        waiting.len(),
        summary(&fresh)
    );

    // The governance layer and the registry exist; then the spoke admin role of spoke 1
    // refuses the hub agent.
    estate
        .eksmgr
        .write_config(&governance_only_config(&estate.seed)?)?;
    estate.apply()?;
    estate.eksmgr.write_config(&example_config(&estate.seed)?)?;
    proxy.reset_counts();

    // A new account that cannot be reached yet is skipped, waiting for the StackSet to
    // deploy its role: reported with the reason, not an error, and the rest is planned.
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let not_planned = unplannable(&plan);
    ensure(not_planned.is_empty(), || {
        format!("nothing should be under Could not be planned: {not_planned:?}\n{plan}")
    })?;
    let skipped = skipped_section(&plan);
    let admin = role_arn(spoke1, SPOKE_ADMIN_ROLE);
    for needle in [
        spoke1,
        admin.as_str(),
        "AccessDenied",
        "a later run plans it",
    ] {
        ensure(skipped.contains(needle), || {
            format!("the skipped account should mention {needle}\n{plan}")
        })?;
    }
    let spoke2_all: BTreeSet<String> = workloads_addresses(spoke2, hub)
        .into_iter()
        .chain([
            sso_entry("workloads", spoke2),
            sso_entry("edge", spoke2),
            ci_entry("edge", spoke2, hub),
            format!("iam_role.edge-cluster[{spoke2}]"),
            format!("iam_role.edge-external-dns[{spoke2}]"),
            format!("iam_role.edge-node[{spoke2}]"),
            format!("kms_key.edge[{spoke2}/{REGION}]"),
            format!("eks_cluster.edge[{spoke2}/{REGION}]"),
            format!(
                "eks_pod_identity_association.edge/external-dns/external-dns[{spoke2}/{REGION}]"
            ),
        ])
        .chain(
            ["coredns", "eks-pod-identity-agent", "kube-proxy", "vpc-cni"]
                .map(|a| format!("eks_addon.edge/{a}[{spoke2}/{REGION}]")),
        )
        .collect();
    let planned = created(&plan);
    ensure(planned == spoke2_all, || {
        format!(
            "exactly {spoke2}'s resources should be added: {planned:?}\n{}",
            plan.stdout
        )
    })?;
    let calls = proxy.calls();
    let denied = calls.iter().filter(|c| c.injected).count();
    eprintln!(
        "unreachable spoke: new account skipped (waiting), plan exit 2, {}; {denied} AssumeRole into {spoke1} denied",
        summary(&plan),
    );

    proxy.reset_counts();
    let applied = estate.expect(&["apply", "--auto-approve"], 0)?;
    let touched: Vec<&str> = applied
        .stdout
        .lines()
        .chain(applied.stderr.lines())
        .filter(|l| l.contains(&format!("[{spoke1}")) && l.contains("complete"))
        .collect();
    ensure(touched.is_empty(), || {
        format!("apply should not change {spoke1}: {touched:?}\n{applied}")
    })?;
    let two = estate.sdk(spoke2).await?;
    check_workloads(
        &two,
        spoke2,
        &["subnet-1a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60719"],
    )
    .await?;
    ensure(
        cluster_names(&two).await?
            == ["edge", "workloads"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        || format!("{spoke2} should hold both clusters"),
    )?;
    let one = estate.sdk(spoke1).await?;
    ensure(cluster_names(&one).await?.is_empty(), || {
        format!("nothing should have been created in {spoke1}")
    })?;
    ensure(
        !role_names(&one)
            .await?
            .iter()
            .any(|r| r.starts_with("workloads-")),
        || format!("no role should have been created in {spoke1}"),
    )?;

    // The spoke is reachable again: only what it was missing is planned.
    proxy.clear_faults();
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 2)?;
    let added = created(&plan);
    let changed = updated(&plan);
    // Its roles can be listed again, so its admin entry is planned too.
    let mut spoke1_resources = spoke1_resources;
    spoke1_resources.insert(sso_entry("workloads", spoke1));
    ensure(added == spoke1_resources, || {
        format!(
            "the plan should add {spoke1_resources:?}, it adds {added:?}\n{}",
            plan.stdout
        )
    })?;
    ensure(changed.is_subset(&registry), || {
        format!(
            "only the registry may be updated: {changed:?}\n{}",
            plan.stdout
        )
    })?;
    eprintln!(
        "unreachable spoke: after the fault is gone: {} (registry updated: {changed:?})",
        summary(&plan)
    );
    estate.apply()?;
    check_workloads(
        &one,
        spoke1,
        &["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
    )
    .await?;
    let pull: BTreeSet<String> = [
        role_arn(spoke1, "workloads-node"),
        role_arn(spoke2, "workloads-node"),
        role_arn(spoke2, "edge-node"),
    ]
    .into_iter()
    .collect();
    let push: BTreeSet<String> = [
        role_arn(spoke1, "workloads-build"),
        role_arn(spoke2, "workloads-build"),
    ]
    .into_iter()
    .collect();
    check_repositories(&estate, &pull, &push).await?;
    estate.replan_clean()?;

    // A spoke eksmgr manages becomes unreachable: it is skipped for a human to look at (exit
    // 3), and nothing eksmgr made there is planned for deletion or touched by apply.
    proxy.deny_assume_role(spoke1);
    let plan = estate.expect(&["plan", "--detailed-exitcode"], 3)?;
    let skipped = skipped_section(&plan);
    ensure(
        skipped.contains(spoke1) && skipped.contains("To fix:") && skipped.contains("AccessDenied"),
        || format!("{spoke1} should be skipped with what to fix\n{plan}"),
    )?;
    ensure(
        !plan.stdout.contains("will be destroyed") && unplannable(&plan).is_empty(),
        || format!("nothing should be destroyed or unplannable\n{plan}"),
    )?;
    estate.expect(&["apply", "--auto-approve"], 3)?;
    check_workloads(
        &one,
        spoke1,
        &["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
    )
    .await?;
    proxy.clear_faults();
    estate.replan_clean()?;
    eprintln!(
        "unreachable_spoke_fails_alone: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// e. What a no-op plan costs
// ---------------------------------------------------------------------------------------------

/// Whether a call changes something: REST calls other than GET/HEAD, and actions named like
/// writes.
fn is_write(call: &Call) -> bool {
    const WRITE_PREFIXES: [&str; 18] = [
        "Create",
        "Put",
        "Update",
        "Delete",
        "Attach",
        "Detach",
        "Tag",
        "Untag",
        "Set",
        "Associate",
        "Schedule",
        "Enable",
        "Disable",
        "Move",
        "Add",
        "Remove",
        "Modify",
        "Replace",
    ];
    if call.is_rest() {
        let method = call.action.split(' ').next().unwrap_or_default();
        return !matches!(method, "GET" | "HEAD");
    }
    WRITE_PREFIXES.iter().any(|p| call.action.starts_with(p))
}

/// `--parallelism` of the plan in [`no_op_plan_call_budget`].
const PLAN_PARALLELISM: usize = 4;

#[tokio::test(flavor = "multi_thread")]
async fn no_op_plan_call_budget() -> R {
    let started = Instant::now();
    let estate = example_estate().proxy().start()?;
    let proxy = estate.proxy()?;
    estate.apply()?;
    let apply_calls = proxy.calls().len();

    proxy.reset_counts();
    let plan_started = Instant::now();
    let plan = estate.expect(
        &[
            "plan",
            "--detailed-exitcode",
            "--stats",
            "--parallelism",
            &PLAN_PARALLELISM.to_string(),
        ],
        0,
    )?;
    let plan_time = plan_started.elapsed();
    let calls = proxy.calls();
    ensure(plan.stdout.contains("No changes."), || format!("{plan}"))?;
    // `--parallelism` caps the calls in flight, a KMS key's or an access entry's concurrent
    // calls and the role assumptions included. Without the cap this plan has 3 to 4 times
    // as many in flight.
    let most = eksmgr_e2e::proxy::max_in_flight(&calls);
    eprintln!("no-op plan: at most {most} calls in flight (--parallelism {PLAN_PARALLELISM})");
    ensure(most <= PLAN_PARALLELISM, || {
        format!("{most} calls were in flight at once, more than --parallelism {PLAN_PARALLELISM}")
    })?;

    let counts = proxy.counts();
    eprintln!("no-op plan: calls per action");
    for (action, n) in &counts {
        eprintln!("  {n:4}  {action}");
    }
    let total = calls.len();
    eprintln!(
        "no-op plan: {total} calls for {EXAMPLE_RESOURCES} resources = {:.1} calls per resource, in {:.1}s (the apply before it: {apply_calls} calls)",
        total as f64 / EXAMPLE_RESOURCES as f64,
        plan_time.as_secs_f64()
    );
    // `--stats` counts the same calls from inside eksmgr as the proxy sees on the wire.
    let reported: Option<usize> = plan
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("AWS calls: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok());
    ensure(reported == Some(calls.len()), || {
        format!(
            "--stats reported {reported:?} calls, the proxy saw {}: {}",
            calls.len(),
            plan.stderr
        )
    })?;
    let mut assumed: BTreeMap<String, usize> = BTreeMap::new();
    for call in calls.iter().filter(|c| c.action == "AssumeRole") {
        *assumed
            .entry(call.role_arn.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    eprintln!("no-op plan: AssumeRole calls per role ARN");
    for (arn, n) in &assumed {
        eprintln!("  {n:4}  {arn}");
    }
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    for call in &calls {
        *by_key
            .entry(call.access_key_id.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    eprintln!(
        "no-op plan: {} distinct access key ids signed the calls",
        by_key.len()
    );

    let failed: Vec<&Call> = calls.iter().filter(|c| c.status >= 500).collect();
    ensure(failed.is_empty(), || {
        format!("moto answered 5xx to {failed:?}")
    })?;
    let writes: Vec<String> = calls
        .iter()
        .filter(|c| is_write(c))
        .map(Call::qualified)
        .collect();
    ensure(writes.is_empty(), || {
        format!("a no-op plan made write calls: {writes:?}")
    })?;
    for spoke in &estate.seed.spoke_account_ids {
        let arn = role_arn(spoke, SPOKE_ADMIN_ROLE);
        let n = assumed.get(&arn).copied().unwrap_or(0);
        ensure(n == 1, || {
            format!("{arn} should be assumed once per plan, it was {n} times: {assumed:?}")
        })?;
    }
    ensure(total <= 2 * EXAMPLE_RESOURCES, || {
        format!(
            "a no-op plan should make at most 2 calls per resource: {total} calls for {EXAMPLE_RESOURCES} resources ({counts:?})"
        )
    })?;
    // Nothing is asked twice: an account-wide listing serves every resource of the account,
    // and an EKS path names one thing (calls signed with the same key are in one account).
    const ONCE_PER_ACCOUNT: [&str; 6] = [
        "ListRoles",
        "GetAccountAuthorizationDetails",
        "ListAccountsForParent",
        "DescribeStackSet",
        "ListStackInstances",
        "GetCallerIdentity",
    ];
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for call in calls
        .iter()
        .filter(|c| c.is_rest() || ONCE_PER_ACCOUNT.contains(&c.action.as_str()))
    {
        *seen
            .entry((
                call.access_key_id.clone().unwrap_or_default(),
                call.qualified(),
            ))
            .or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    ensure(twice.is_empty(), || {
        format!("a no-op plan asked for the same thing more than once: {twice:?}")
    })?;
    eprintln!(
        "no_op_plan_call_budget: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// e. The open-file limit
// ---------------------------------------------------------------------------------------------

/// A shell's low soft open-file limit (macOS starts at 256) is raised for the run, up to the
/// hard limit, without a word; a hard limit too low for `--parallelism` (512 by default, about
/// 1,088 files) is named with the `--parallelism` it allows, and the plan still runs.
#[test]
fn the_open_file_limit_is_raised_for_the_parallelism() -> R {
    let estate = Estate::builder("eksmgr-e2e-open-files-")
        .spokes(1)
        .config(governance_only_config)
        .start()?;
    let hard_limit = std::process::Command::new("sh")
        .args(["-c", "ulimit -H -n"])
        .output()
        .map_err(err("sh -c 'ulimit -H -n'"))?;
    let hard_limit = String::from_utf8_lossy(&hard_limit.stdout)
        .trim()
        .to_owned();
    // Only where the machine's hard limit allows what the default needs.
    let room = hard_limit == "unlimited" || hard_limit.parse::<u64>().is_ok_and(|n| n >= 1088);

    let soft = estate
        .eksmgr
        .wrapped("eksmgr-soft-256.sh", "ulimit -S -n 256")?;
    let out = soft.run(&["plan"])?;
    ensure(out.code == Some(0), || format!("the plan runs\n{out}"))?;
    ensure(out.stderr.contains("open-file limit") != room, || {
        format!(
            "a soft limit of 256 under a hard limit of {hard_limit} is raised without a word\n{out}"
        )
    })?;

    let hard = estate
        .eksmgr
        .wrapped("eksmgr-hard-256.sh", "ulimit -n 256")?;
    let out = hard.run(&["plan"])?;
    ensure(out.code == Some(0), || {
        format!("the plan still runs\n{out}")
    })?;
    ensure(
        out.stderr
            .contains("Warning: the open-file limit is 256 and the hard limit allows no more")
            && out.stderr.contains("or run with --parallelism 96"),
        || format!("a hard limit of 256 is named, with the --parallelism it allows\n{out}"),
    )?;
    Ok(())
}
