//! Blueprint and review-rule tests: what the configuration expands to for a set of
//! discovered spokes, how the hub registry policy follows the estate, and which changes need
//! an opt-in.

#![allow(clippy::unwrap_used)]

use eksmgr_engine::annotation::Note;
use eksmgr_engine::blueprint::{self, Discovery};
use eksmgr_engine::config;
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{DesiredResource, ObservedResource, ResourceKind};
use eksmgr_engine::plan::{Action, PlanOptions, Planner, SkipCause};
use eksmgr_engine::policy;
use eksmgr_engine::refresh::{Observation, Observations};
use eksmgr_state::json;
use eksmgr_state::{ResourceRecord, State};

const CONFIG: &str = r#"
[organization]
management_account_id = "111111111111"
eks_ou_id = "ou-abcd-11111111"

[hub]
account_id = "222222222222"

[[hub.ecr_repositories]]
name = "platform/api"

[[clusters]]
name = "workloads"
account = "*"
version = "1.31"
subnet_ids = ["subnet-0f0f0f01", "subnet-0f0f0f02"]
build_pods = { namespace = "ci", service_account = "builder" }

[clusters.overrides."333333333333"]
subnet_ids = ["subnet-0a1b2c3d", "subnet-0a1b2c3e"]

[clusters.overrides."555555555555"]
skip = true

[[clusters]]
name = "edge"
account = "444444444444"
version = "1.31"
subnet_ids = ["subnet-0a1b2c3f", "subnet-0a1b2c40"]
hosted_zone_id = "Z0123456789ABCDEFGHIJ"
"#;

fn discovery(spokes: &[&str]) -> Discovery {
    Discovery::of_spokes(
        "111111111111",
        "o-a1b2c3d4e5/r-ab12/ou-abcd-11111111/",
        spokes.iter().copied(),
    )
}

fn expand(spokes: &[&str]) -> Vec<DesiredResource> {
    let cfg = config::parse(CONFIG, "eksmgr.toml").unwrap();
    let b = blueprint::expand(&cfg, &discovery(spokes)).unwrap();
    assert!(b.problems.is_empty(), "{:?}", b.problems);
    b.resources
}

fn names(rs: &[DesiredResource], account: &str) -> Vec<String> {
    let mut v: Vec<String> = rs
        .iter()
        .filter(|r| r.address.account == account)
        .map(|r| format!("{}.{}", r.address.kind, r.address.name))
        .collect();
    v.sort();
    v
}

fn ecr_policy(rs: &[DesiredResource]) -> Value {
    let repo = rs
        .iter()
        .find(|r| r.kind == ResourceKind::EcrRepository)
        .unwrap();
    repo.attrs["policy"].known().unwrap().clone()
}

#[test]
fn each_spoke_gets_its_clusters_keys_and_roles() {
    let rs = expand(&["333333333333", "444444444444", "555555555555"]);
    assert_eq!(
        names(&rs, "333333333333"),
        vec![
            "eks_addon.workloads/coredns",
            "eks_addon.workloads/eks-pod-identity-agent",
            "eks_addon.workloads/kube-proxy",
            "eks_addon.workloads/vpc-cni",
            "eks_cluster.workloads",
            "eks_pod_identity_association.workloads/ci/builder",
            "iam_role.workloads-build",
            "iam_role.workloads-cluster",
            "iam_role.workloads-node",
            "kms_key.workloads"
        ]
    );
    let four = names(&rs, "444444444444");
    assert!(four.contains(&"eks_cluster.edge".to_string()));
    assert!(four.contains(&"iam_role.edge-external-dns".to_string()));
    assert!(
        four.contains(&"eks_pod_identity_association.edge/external-dns/external-dns".to_string())
    );
    assert!(four.contains(&"eks_cluster.workloads".to_string()));
    // The override skips 555555555555.
    assert!(names(&rs, "555555555555").is_empty());
    // The cluster's key is known only after apply, and the cluster depends on it.
    let eks = rs
        .iter()
        .find(|r| r.kind == ResourceKind::EksCluster && r.address.account == "333333333333")
        .unwrap();
    assert!(eks.attrs["encryption_key_arn"].known().is_none());
    assert!(eks.depends_on.iter().any(|d| d.kind == "kms_key"));
    assert!(
        eks.depends_on
            .iter()
            .any(|d| d.kind == "stack_set_instances")
    );
    // Node roles carry the six managed policies of the seed design.
    let node = rs
        .iter()
        .find(|r| r.address.name == "workloads-node")
        .unwrap();
    assert_eq!(
        node.attrs["managed_policy_arns"]
            .known()
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn registry_policy_does_not_grow_with_the_estate() {
    let two = ecr_policy(&expand(&["333333333333", "444444444444"]));
    // No spoke is named: every spoke of the EKS OU whose role has one of eksmgr's names.
    let text = two.to_string();
    assert!(!text.contains("333333333333"), "{text}");
    let pull = &two["Statement"][0];
    assert_eq!(pull["Sid"], json!("SpokeNodesPull"));
    assert_eq!(pull["Principal"], json!("*"));
    assert_eq!(
        pull["Condition"]["ForAnyValue:StringEquals"]["aws:PrincipalOrgPaths"],
        json!(["o-a1b2c3d4e5/r-ab12/ou-abcd-11111111/"])
    );
    assert_eq!(
        pull["Condition"]["ArnLike"]["aws:PrincipalArn"],
        json!([
            "arn:aws:iam::*:role/edge-node",
            "arn:aws:iam::*:role/workloads-node"
        ])
    );
    // A push needs the layer check and the manifest read too (AWS's "IAM permissions for
    // pushing an image"), cross-account in the repository policy.
    let push = &two["Statement"][1];
    assert_eq!(push["Sid"], json!("SpokeBuildPodsPush"));
    for action in [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    ] {
        assert!(
            push["Action"].as_array().unwrap().contains(&json!(action)),
            "{action} missing from {push}"
        );
    }
    // A new spoke changes nothing; 500 spokes neither.
    let three = ecr_policy(&expand(&["333333333333", "444444444444", "666666666666"]));
    assert_eq!(two, three);
    let many: Vec<String> = (0..500)
        .map(|i| format!("{:012}", 900_000_000_000u64 + i))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut with_edge = many.clone();
    with_edge.push("444444444444");
    let big = ecr_policy(&expand(&with_edge));
    assert_eq!(big, two);
    assert!(policy::minified_len(&big) < blueprint::limits::ECR_REPOSITORY_POLICY);
    // No spoke (no cluster planned): no policy at all.
    assert_eq!(ecr_policy(&expand(&[])), Value::Null);
}

#[test]
fn registry_policy_grants_nested_ous_listed_accounts_and_never_excluded_ones() {
    let text = CONFIG.replace(
        "[hub]",
        "[spokes]\ninclude_nested_ous = true\naccounts = [\"888888888888\"]\nexclude_accounts = [\"555555555555\"]\n\n[hub]",
    );
    let cfg = config::parse(&text, "eksmgr.toml").unwrap();
    let b = blueprint::expand(&cfg, &discovery(&["333333333333", "888888888888"])).unwrap();
    let policy = ecr_policy(&b.resources);
    let statements = policy["Statement"].as_array().unwrap();
    let sids: Vec<&str> = statements
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            "SpokeNodesPull",
            "SpokeNodesPullListedAccounts",
            "SpokeBuildPodsPush",
            "SpokeBuildPodsPushListedAccounts"
        ]
    );
    assert_eq!(
        statements[0]["Condition"]["ForAnyValue:StringLike"]["aws:PrincipalOrgPaths"],
        json!(["o-a1b2c3d4e5/r-ab12/ou-abcd-11111111/*"])
    );
    assert_eq!(
        statements[1]["Condition"]["StringEquals"]["aws:PrincipalAccount"],
        json!(["888888888888"])
    );
    for st in statements {
        assert_eq!(
            st["Condition"]["StringNotEquals"]["aws:PrincipalAccount"],
            json!(["555555555555"])
        );
    }
}

#[test]
fn pod_identity_roles_trust_the_session_tags_of_their_cluster_and_service_account() {
    let rs = expand(&["333333333333"]);
    let build = rs
        .iter()
        .find(|r| r.address.name == "workloads-build")
        .unwrap();
    let trust = build.attrs["assume_role_policy"].known().unwrap();
    let st = &trust["Statement"][0];
    assert_eq!(st["Principal"]["Service"], json!("pods.eks.amazonaws.com"));
    assert_eq!(st["Action"], json!(["sts:AssumeRole", "sts:TagSession"]));
    assert_eq!(
        st["Condition"],
        json!({"StringEquals": {
            "aws:RequestTag/eks-cluster-arn": "arn:aws:eks:us-east-1:333333333333:cluster/workloads",
            "aws:RequestTag/kubernetes-namespace": "ci",
            "aws:RequestTag/kubernetes-service-account": "builder"
        }})
    );
    assert!(!trust.to_string().contains("aws:SourceArn"));
}

#[test]
fn the_scp_denies_key_deletion_to_everyone_and_key_use_to_the_admin_role() {
    let scp = |text: &str| {
        let cfg = config::parse(text, "eksmgr.toml").unwrap();
        let b = blueprint::expand(&cfg, &discovery(&["333333333333"])).unwrap();
        let scp = b
            .resources
            .iter()
            .find(|r| r.kind == ResourceKind::OrgPolicy)
            .unwrap()
            .attrs["content"]
            .known()
            .unwrap()
            .clone();
        (cfg, scp)
    };
    let statement = |doc: &Value, sid: &str| -> Value {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == json!(sid))
            .cloned()
            .unwrap_or(Value::Null)
    };
    // The seed design: "the deny is unconditional and applies to all principals".
    let (cfg, doc) = scp(CONFIG);
    let deletion = statement(&doc, "DenyKMSKeyDeletion");
    assert!(deletion.get("Condition").is_none(), "{deletion}");
    assert_eq!(cfg.key_deletion_denied_by(), Some("EKSManagerDenyPolicy"));
    let key_use = statement(&doc, "DenyAdminKeyUse");
    assert_eq!(
        key_use["Condition"]["ArnLike"]["aws:PrincipalArn"],
        json!("arn:aws:iam::*:role/EKSManagerAdmin")
    );
    assert!(
        key_use["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("kms:Decrypt"))
    );
    // The exemption is an explicit opt-in.
    let (cfg, doc) = scp(&CONFIG.replace(
        "[hub]",
        "[governance.scp]\nexempt_admin_from_key_deletion_deny = true\n\n[hub]",
    ));
    assert_eq!(
        statement(&doc, "DenyKMSKeyDeletion")["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        json!("arn:aws:iam::*:role/EKSManagerAdmin")
    );
    assert_eq!(cfg.key_deletion_denied_by(), None);
}

#[test]
fn a_cluster_key_is_administered_by_the_admin_role_and_used_by_the_cluster_role_only() {
    let rs = expand(&["333333333333"]);
    let key = rs.iter().find(|r| r.kind == ResourceKind::KmsKey).unwrap();
    let doc = key.attrs["key_policy"].known().unwrap();
    let text = doc.to_string();
    assert!(!text.contains("\"kms:*\""), "{text}");
    let st = doc["Statement"].as_array().unwrap();
    assert_eq!(st.len(), 2);
    // The admin role, and the account's root user as the way back should the role be lost.
    assert_eq!(
        st[0]["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        json!([
            "arn:aws:iam::333333333333:role/EKSManagerAdmin",
            "arn:aws:iam::333333333333:root"
        ])
    );
    let admin: Vec<&str> = st[0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for crypto in [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey*",
        "kms:ReEncrypt*",
    ] {
        assert!(!admin.contains(&crypto), "the admin role may not {crypto}");
    }
    // EKS requires kms:CreateGrant and kms:DescribeKey of the principal creating the cluster.
    assert!(admin.contains(&"kms:Create*") && admin.contains(&"kms:Describe*"));
    assert_eq!(
        st[1]["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        json!("arn:aws:iam::333333333333:role/workloads-cluster")
    );
    assert!(
        st[1]["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("kms:Decrypt"))
    );
}

#[test]
fn a_document_over_its_aws_limit_is_refused_at_plan_time() {
    // 60 trusted principals make the hub agent role's trust policy over IAM's 2,048.
    let principals: Vec<String> = (0..60)
        .map(|i| format!("\"arn:aws:iam::222222222222:role/platform-operator-{i:03}\""))
        .collect();
    let text = CONFIG.replace(
        "account_id = \"222222222222\"",
        &format!(
            "account_id = \"222222222222\"\nagent_trusted_principals = [{}]",
            principals.join(", ")
        ),
    );
    let cfg = config::parse(&text, "eksmgr.toml").unwrap();
    let err = blueprint::expand(&cfg, &discovery(&["333333333333"]))
        .expect_err("a trust policy over 2,048 characters must be refused");
    let msg = err.to_string();
    assert!(msg.contains("iam_role.EKSManagerAgentRole"), "{msg}");
    assert!(msg.contains("the trust policy is"), "{msg}");
    assert!(msg.contains("limit of 2048"), "{msg}");
}

fn state_with(resources: &[(&DesiredResource, &str)]) -> (State, Observations) {
    let mut state = State::new();
    let mut observed = Observations::new();
    for (r, id) in resources {
        let mut rec = ResourceRecord::new(r.address.clone(), *id);
        rec.attrs = r.known_attrs().into();
        state.upsert(rec);
        let mut attrs = r.known_attrs();
        attrs.insert("arn".into(), json!(format!("arn:{id}")));
        observed.insert(
            r.address.clone(),
            Observation::Found(ObservedResource {
                id: (*id).into(),
                attrs: attrs.into(),
            }),
        );
    }
    (state, observed)
}

#[test]
fn leaving_account_needs_confirmation_and_key_deletion_an_opt_in() {
    let before = expand(&["333333333333", "444444444444"]);
    let all: Vec<(&DesiredResource, &str)> = before.iter().map(|r| (r, "x")).collect();
    let (state, observed) = state_with(&all);
    // 444444444444 left the OU.
    let after = expand(&["333333333333"]);
    let plan = Planner::plan(&after, &state, &observed, &PlanOptions::default()).unwrap();
    let gone: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.address.account == "444444444444")
        .collect();
    assert!(!gone.is_empty());
    assert!(
        gone.iter()
            .all(|c| c.action == Action::Delete && c.blocked.is_some())
    );
    let key = gone
        .iter()
        .find(|c| c.kind == ResourceKind::KmsKey)
        .unwrap();
    assert!(
        key.notes
            .iter()
            .any(|n| *n == Note::KeyDeletionScheduled { days: 30 })
    );
    // The registry names no spoke, only role names: the `edge` cluster, planned in that
    // account alone, is gone, so its node role's name leaves the grant.
    let repo = plan
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::EcrRepository)
        .unwrap();
    assert_eq!(repo.action, Action::Update);
    let granted = serde_json::to_string(&repo.after).unwrap();
    assert!(
        !granted.contains("edge-node") && granted.contains("workloads-node"),
        "{granted}"
    );
    // With both opt-ins nothing is blocked.
    let ok = Planner::plan(
        &after,
        &state,
        &observed,
        &PlanOptions {
            allow_account_removal: true,
            allow_key_deletion: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ok.blocked().count(), 0);
}

#[test]
fn cluster_replacement_is_blocked_unless_allowed_and_encryption_is_set_once() {
    let rs = expand(&["444444444444"]);
    let eks = rs
        .iter()
        .find(|r| r.address.name == "edge" && r.kind == ResourceKind::EksCluster)
        .unwrap();
    let key = rs
        .iter()
        .find(|r| r.address.name == "edge" && r.kind == ResourceKind::KmsKey)
        .unwrap();
    // Existing cluster without encryption, created in another role: role change forces replacement.
    let mut eks_attrs = eks.known_attrs();
    eks_attrs.insert("encryption_key_arn".into(), Value::Null);
    let observed: Observations = [
        (
            key.address.clone(),
            Observation::Found(ObservedResource {
                id: "k".into(),
                attrs: {
                    let mut a = key.known_attrs();
                    a.insert("arn".into(), json!("arn:aws:kms:k"));
                    a.into()
                },
            }),
        ),
        (
            eks.address.clone(),
            Observation::Found(ObservedResource {
                id: "edge".into(),
                attrs: eks_attrs.clone().into(),
            }),
        ),
    ]
    .into();
    // Only the key and the cluster (their other dependencies are left out of this plan).
    let strip = |r: &DesiredResource| {
        let mut r = r.clone();
        r.depends_on.retain(|d| d == &key.address);
        r
    };
    let only = vec![strip(key), strip(eks)];
    let plan = Planner::plan(&only, &State::new(), &observed, &PlanOptions::default()).unwrap();
    let c = plan.change(&eks.address).unwrap();
    assert_eq!(c.action, Action::Update, "adding encryption is in place");
    assert!(c.adopt);
    assert!(
        c.notes.contains(&Note::ReencryptExistingSecrets),
        "{:?}",
        c.notes
    );
    // Changing the key of an encrypted cluster forces replacement, which `edge` forbids.
    eks_attrs.insert("encryption_key_arn".into(), json!("arn:aws:kms:other"));
    let observed2: Observations = [
        (key.address.clone(), observed[&key.address].clone()),
        (
            eks.address.clone(),
            Observation::Found(ObservedResource {
                id: "edge".into(),
                attrs: eks_attrs.into(),
            }),
        ),
    ]
    .into();
    let plan = Planner::plan(&only, &State::new(), &observed2, &PlanOptions::default()).unwrap();
    let c = plan.change(&eks.address).unwrap();
    assert_eq!(c.action, Action::Replace);
    assert!(c.blocked.as_deref().unwrap().contains("allow_replacement"));
}

#[test]
fn an_unreachable_spoke_does_not_hold_back_the_registry_or_other_spokes() {
    let rs = expand(&["333333333333", "444444444444"]);
    let error = eksmgr_engine::provider::ProviderError {
        account: "444444444444".into(),
        resource: "x".into(),
        api_call: "sts:AssumeRole".into(),
        message: "AccessDenied".into(),
        hint: None,
        kind: eksmgr_engine::provider::ErrorKind::AccessDenied,
    };
    let observed: Observations = rs
        .iter()
        .map(|r| {
            let obs = if r.address.account == "444444444444" {
                Observation::Unreadable {
                    error: Box::new(error.clone()),
                }
            } else if r.address.account == "333333333333" || r.kind == ResourceKind::EcrRepository {
                Observation::Missing
            } else {
                // The governance layer exists already: the spokes' admin roles are deployed.
                Observation::Found(ObservedResource {
                    id: "x".into(),
                    attrs: r.known_attrs().into(),
                })
            };
            (r.address.clone(), obs)
        })
        .collect();
    // The registry names no role, so it never waits for a spoke.
    let plan = Planner::plan(&rs, &State::new(), &observed, &PlanOptions::default()).unwrap();
    assert!(
        !plan
            .deferred
            .iter()
            .any(|d| d.address.kind == "ecr_repository")
    );
    // A spoke eksmgr created before (its roles are in state) only fails alone.
    let mut state = State::new();
    for r in rs.iter().filter(|r| r.address.account == "444444444444") {
        let mut rec = ResourceRecord::new(r.address.clone(), "x");
        rec.attrs = r.known_attrs().into();
        state.upsert(rec);
    }
    let plan = Planner::plan(&rs, &state, &observed, &PlanOptions::default()).unwrap();
    let unreadable: Vec<_> = plan
        .unreadable()
        .map(|d| d.address.account.clone())
        .collect();
    assert!(!unreadable.is_empty());
    assert!(
        unreadable.iter().all(|a| a == "444444444444"),
        "{unreadable:?}"
    );
    let repo = plan
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::EcrRepository)
        .unwrap();
    assert_eq!(repo.action, Action::Create);
    // The unreachable spoke's roles keep their grant: reachability never revokes access.
    assert!(
        serde_json::to_string(&repo.after)
            .unwrap()
            .contains("role/edge-node")
    );
    assert!(
        plan.changes
            .iter()
            .any(|c| c.address.account == "333333333333" && c.action == Action::Create)
    );
}

#[test]
fn a_template_without_subnets_for_a_new_account_skips_that_account_only() {
    let without_default_subnets = CONFIG.replace(
        "subnet_ids = [\"subnet-0f0f0f01\", \"subnet-0f0f0f02\"]\n",
        "",
    );
    assert_ne!(without_default_subnets, CONFIG);
    let cfg = config::parse(&without_default_subnets, "eksmgr.toml").unwrap();
    // 777777777777 joined the OU; the template has no subnets for it.
    let b = blueprint::expand(&cfg, &discovery(&["333333333333", "777777777777"])).unwrap();
    assert!(b.problems.is_empty(), "{:?}", b.problems);
    assert_eq!(b.skipped.len(), 1, "{:?}", b.skipped);
    let s = &b.skipped[0];
    assert_eq!(s.account, "777777777777");
    assert_eq!(s.cause, SkipCause::Subnets);
    assert!(
        s.fix.contains("[clusters.overrides.\"777777777777\"]"),
        "{s:?}"
    );
    assert!(names(&b.resources, "777777777777").is_empty());
    assert!(!names(&b.resources, "333333333333").is_empty());
}

/// The template of [`CONFIG`] choosing its subnets by tags instead of listing them.
fn selector_config() -> config::Config {
    let text = CONFIG
        .replace(
            "subnet_ids = [\"subnet-0f0f0f01\", \"subnet-0f0f0f02\"]\n",
            "subnet_selector = { tags = { \"kubernetes.io/role/internal-elb\" = \"1\" } }\n",
        )
        .replace(
            "[clusters.overrides.\"333333333333\"]",
            "[[clusters.node_groups]]\nname = \"general\"\ninstance_types = [\"m6i.large\"]\nsubnet_selector = { tags = { \"tier\" = \"nodes\" } }\n\n[clusters.overrides.\"333333333333\"]",
        );
    config::parse(&text, "eksmgr.toml").unwrap()
}

fn subnet(id: &str, zone: &str, tags: &[(&str, &str)]) -> blueprint::Subnet {
    blueprint::Subnet {
        id: id.into(),
        vpc_id: "vpc-0a0a0a0a".into(),
        availability_zone: zone.into(),
        available: true,
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    }
}

#[test]
fn a_subnet_selector_is_resolved_per_account_and_gaps_skip_the_account() {
    let cfg = selector_config();
    let mut d = discovery(&[
        "333333333333",
        "666666666666",
        "777777777777",
        "888888888888",
    ]);
    // 333333333333 names its subnets; the others are read.
    let reads = blueprint::network_reads(&cfg, &d);
    assert_eq!(
        reads.iter().map(|r| r.account.as_str()).collect::<Vec<_>>(),
        [
            "333333333333",
            "666666666666",
            "777777777777",
            "888888888888"
        ],
        "the node groups select by tags in every account"
    );
    let elb = ("kubernetes.io/role/internal-elb", "1");
    let region = "us-east-1".to_string();
    d.networks.insert(
        ("666666666666".into(), region.clone()),
        Ok(blueprint::Network {
            subnets: vec![
                subnet("subnet-0b0b0b02", "us-east-1b", &[elb]),
                subnet("subnet-0b0b0b01", "us-east-1a", &[elb]),
                subnet("subnet-0b0b0b03", "us-east-1a", &[("tier", "nodes")]),
            ],
            vpcs: vec![],
        }),
    );
    // One zone only.
    d.networks.insert(
        ("777777777777".into(), region.clone()),
        Ok(blueprint::Network {
            subnets: vec![
                subnet("subnet-0c0c0c01", "us-east-1a", &[elb]),
                subnet("subnet-0c0c0c02", "us-east-1a", &[elb, ("tier", "nodes")]),
            ],
            vpcs: vec![],
        }),
    );
    d.networks.insert(
        ("333333333333".into(), region.clone()),
        Ok(blueprint::Network {
            subnets: vec![subnet(
                "subnet-0d0d0d01",
                "us-east-1a",
                &[("tier", "nodes")],
            )],
            vpcs: vec![],
        }),
    );
    d.networks.insert(
        ("888888888888".into(), region.clone()),
        Err("sts:AssumeRole: AccessDenied".into()),
    );
    let b = blueprint::expand(&cfg, &d).unwrap();
    let cluster = b
        .resources
        .iter()
        .find(|r| r.kind == ResourceKind::EksCluster && r.address.account == "666666666666")
        .expect("the cluster of 666666666666");
    assert_eq!(
        cluster.attrs.get("subnet_ids").and_then(|v| v.known()),
        Some(&json!(["subnet-0b0b0b01", "subnet-0b0b0b02"]))
    );
    let group = b
        .resources
        .iter()
        .find(|r| r.kind == ResourceKind::EksNodeGroup && r.address.account == "666666666666")
        .expect("the node group of 666666666666");
    assert_eq!(
        group.attrs.get("subnet_ids").and_then(|v| v.known()),
        Some(&json!(["subnet-0b0b0b03"]))
    );
    let skipped: Vec<(&str, SkipCause)> = b
        .skipped
        .iter()
        .map(|s| (s.account.as_str(), s.cause))
        .collect();
    assert_eq!(
        skipped,
        [
            ("777777777777", SkipCause::Subnets),
            ("888888888888", SkipCause::Unreachable)
        ]
    );
    assert!(
        b.skipped[0].reason.contains("us-east-1a"),
        "{:?}",
        b.skipped
    );
    assert!(
        b.skipped[1].reason.contains("AccessDenied"),
        "{:?}",
        b.skipped
    );
    for gone in ["777777777777", "888888888888"] {
        assert!(names(&b.resources, gone).is_empty(), "{gone}");
    }
    // Explicit subnets win over the selector.
    let c333 = b
        .resources
        .iter()
        .find(|r| r.kind == ResourceKind::EksCluster && r.address.account == "333333333333")
        .expect("the cluster of 333333333333");
    assert_eq!(
        c333.attrs.get("subnet_ids").and_then(|v| v.known()),
        Some(&json!(["subnet-0a1b2c3d", "subnet-0a1b2c3e"]))
    );
}

#[test]
fn an_scp_over_the_size_quota_is_refused_with_its_size_and_the_limit() {
    // The seed statements alone are well under the default 5,120 characters; a lower limit
    // (the setting exists because AWS may raise the quota) makes the same SCP too large.
    let text = CONFIG.replace("[hub]", "[governance.scp]\nsize_limit = 600\n\n[hub]");
    let cfg = config::parse(&text, "eksmgr.toml").unwrap();
    let err = blueprint::expand(&cfg, &discovery(&["333333333333"]))
        .expect_err("an SCP over its size limit must be refused");
    let msg = err.to_string();
    assert!(msg.contains("600"), "{msg}");
    assert!(msg.contains("EKSManagerDenyPolicy"), "{msg}");
    // Under the default limit it expands.
    let cfg = config::parse(CONFIG, "eksmgr.toml").unwrap();
    assert!(blueprint::expand(&cfg, &discovery(&["333333333333"])).is_ok());
}

/// The destroy plan of `rs`, all applied and found as desired, with `options` (destroy and
/// account removal on).
fn destroy_applied(rs: &[DesiredResource], options: PlanOptions) -> eksmgr_engine::plan::Plan {
    let all: Vec<(&DesiredResource, &str)> = rs.iter().map(|r| (r, "x")).collect();
    let (state, observed) = state_with(&all);
    let options = PlanOptions {
        destroy: true,
        allow_account_removal: true,
        ..options
    };
    Planner::plan(&[], &state, &observed, &options).unwrap()
}

#[test]
fn with_the_unconditional_key_deletion_deny_a_destroy_leaves_keys_in_aws() {
    let plan = destroy_applied(
        &expand(&["333333333333"]),
        PlanOptions {
            key_deletion_denied_by: Some("EKSManagerDenyPolicy".into()),
            ..Default::default()
        },
    );
    let key = plan
        .changes
        .iter()
        .find(|c| c.kind == ResourceKind::KmsKey)
        .unwrap();
    // Removed from state only, no opt-in needed, and the plan says why and how to delete it.
    assert_eq!(key.action, Action::Forget);
    assert!(key.blocked.is_none(), "{:?}", key.blocked);
    assert!(
        key.notes
            .iter()
            .any(|n| matches!(n, Note::KeyKeptByScp { scp } if scp == "EKSManagerDenyPolicy")),
        "{:?}",
        key.notes
    );
    assert_eq!(plan.blocked().count(), 0);
    // Everything else is destroyed.
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.kind == ResourceKind::EksCluster)
            .all(|c| c.action == Action::Delete)
    );
}

#[test]
fn organization_prerequisites_are_planned_first_and_never_disabled() {
    let rs = expand(&["333333333333"]);
    let find = |kind: ResourceKind| rs.iter().find(|r| r.kind == kind).unwrap();
    let policy_type = find(ResourceKind::OrgPolicyType);
    assert_eq!(policy_type.address.account, "111111111111");
    assert_eq!(
        policy_type.attrs["root_id"].known(),
        Some(&json!("r-ab12")),
        "the root, from the EKS OU's path"
    );
    assert_eq!(
        policy_type.attrs["type"].known(),
        Some(&json!("SERVICE_CONTROL_POLICY"))
    );
    // The SCP is attached only once its type is enabled; the StackSet made only once trusted
    // access is activated.
    assert!(
        find(ResourceKind::OrgPolicyAttachment)
            .depends_on
            .contains(&policy_type.address)
    );
    let access = find(ResourceKind::StackSetTrustedAccess);
    assert!(
        find(ResourceKind::StackSet)
            .depends_on
            .contains(&access.address)
    );

    // A destroy leaves both in place: other SCPs and StackSets of the organization need them.
    let plan = destroy_applied(
        &rs,
        PlanOptions {
            allow_key_deletion: true,
            ..Default::default()
        },
    );
    for kind in [
        ResourceKind::OrgPolicyType,
        ResourceKind::StackSetTrustedAccess,
    ] {
        let c = plan.changes.iter().find(|c| c.kind == kind).unwrap();
        assert_eq!(c.action, Action::Forget, "{kind}");
        let stays = match kind {
            ResourceKind::OrgPolicyType => Note::PolicyTypeStaysEnabled,
            _ => Note::TrustedAccessStaysActivated,
        };
        assert_eq!(c.notes, [stays], "{kind}");
    }
    // Without the SCP, no policy type is planned.
    let text = CONFIG.replace("[hub]", "[governance.scp]\nenabled = false\n\n[hub]");
    let cfg = config::parse(&text, "eksmgr.toml").unwrap();
    let b = blueprint::expand(&cfg, &discovery(&["333333333333"])).unwrap();
    assert!(
        !b.resources
            .iter()
            .any(|r| r.kind == ResourceKind::OrgPolicyType)
    );
}

#[test]
fn a_kubernetes_version_eks_does_not_offer_is_refused_and_extended_support_is_named() {
    use eksmgr_engine::blueprint::KubernetesVersion;
    let mut d = discovery(&["333333333333", "444444444444"]);
    let v = |version: &str, status: &str, ends: &str| KubernetesVersion {
        version: version.into(),
        status: status.into(),
        end_of_standard_support: None,
        end_of_extended_support: Some(ends.into()),
    };
    d.kubernetes_versions.insert(
        "us-east-1".into(),
        vec![
            v("1.34", "EXTENDED_SUPPORT", "2027-12-02"),
            v("1.35", "STANDARD_SUPPORT", "2028-03-27"),
        ],
    );
    // 1.31 left extended support in November 2026.
    let cfg = config::parse(CONFIG, "eksmgr.toml").unwrap();
    let err = blueprint::expand(&cfg, &d).expect_err("1.31 is no longer offered");
    let msg = err.to_string();
    assert!(
        msg.contains("cluster `workloads` asks for Kubernetes 1.31"),
        "{msg}"
    );
    assert!(
        msg.contains("cluster `edge` asks for Kubernetes 1.31"),
        "{msg}"
    );
    assert!(msg.contains("offered: 1.34, 1.35"), "{msg}");
    // A version in extended support plans, with a warning naming its end.
    let text = CONFIG.replace("version = \"1.31\"", "version = \"1.34\"");
    let cfg = config::parse(&text, "eksmgr.toml").unwrap();
    let b = blueprint::expand(&cfg, &d).unwrap();
    assert!(
        b.warnings
            .iter()
            .any(|w| w.contains("Kubernetes 1.34 in extended support") && w.contains("2027-12-02")),
        "{:#?}",
        b.warnings
    );
    // A current version: no refusal, no warning about it.
    let text = CONFIG.replace("version = \"1.31\"", "version = \"1.35\"");
    let cfg = config::parse(&text, "eksmgr.toml").unwrap();
    let b = blueprint::expand(&cfg, &d).unwrap();
    assert!(
        !b.warnings.iter().any(|w| w.contains("Kubernetes")),
        "{:#?}",
        b.warnings
    );
    // A region discovery could not read is not checked.
    d.kubernetes_versions.clear();
    let cfg = config::parse(CONFIG, "eksmgr.toml").unwrap();
    assert!(blueprint::expand(&cfg, &d).is_ok());
}

/// No change made outside eksmgr to a secondary attribute (an alias, a tag, a policy, a
/// description ...) of any resource of a spoke may plan the replacement of its cluster: each
/// attribute of each resource is deleted, then edited, in AWS, and the plan is made again.
#[test]
fn drift_of_a_secondary_attribute_never_replaces_a_cluster() {
    use eksmgr_engine::schema::{self, Change};
    let rs = expand(&["333333333333"]);
    let all: Vec<(&DesiredResource, &str)> = rs.iter().map(|r| (r, "x")).collect();
    let (state, mut observed) = state_with(&all);
    // The cluster as AWS holds it: encrypted with the key eksmgr made.
    let cluster = rs
        .iter()
        .find(|r| r.kind == ResourceKind::EksCluster)
        .unwrap();
    if let Some(Observation::Found(o)) = observed.get_mut(&cluster.address) {
        std::sync::Arc::make_mut(&mut o.attrs).insert("encryption_key_arn".into(), json!("arn:x"));
    }
    let replaced = |observed: &Observations| -> Vec<String> {
        let plan = Planner::plan(&rs, &state, observed, &PlanOptions::default()).unwrap();
        plan.changes
            .iter()
            .filter(|c| c.kind == ResourceKind::EksCluster && c.action == Action::Replace)
            .map(|c| c.address.to_string())
            .collect()
    };
    assert!(
        replaced(&observed).is_empty(),
        "the baseline replaces a cluster"
    );
    let mut tried = 0;
    for r in rs.iter().filter(|r| r.kind != ResourceKind::EksCluster) {
        for attr in schema::attributes(r.kind) {
            // A role's name and path are what it is; every attribute of the key is secondary
            // (the key is its id: the cluster is encrypted with it).
            if attr.change == Change::ForcesNew && r.kind != ResourceKind::KmsKey {
                continue;
            }
            for drifted in [Value::Null, json!("changed outside eksmgr")] {
                let mut changed = observed.clone();
                if let Some(Observation::Found(o)) = changed.get_mut(&r.address) {
                    std::sync::Arc::make_mut(&mut o.attrs)
                        .insert(attr.name.into(), drifted.clone());
                }
                let replaced = replaced(&changed);
                assert!(
                    replaced.is_empty(),
                    "{} `{}` = {drifted} outside eksmgr replaces {replaced:?}",
                    r.address,
                    attr.name
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 40, "{tried} drifts tried");
}
