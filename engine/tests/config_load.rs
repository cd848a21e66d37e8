//! Loading valid configurations: the full example, the minimal one and its defaults, the
//! helpers on `Config`, and I/O errors.

use std::path::Path;

use eksmgr_engine::config::{
    self, AccessPolicy, AccountId, AuthenticationMode, ClusterAccount, ClusterLogType, Config,
    ImageTagMutability,
};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/configs")
        .join(name)
}

fn parse_ok(source: &str) -> Config {
    config::parse(source, "eksmgr.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn account(id: &str) -> AccountId {
    id.parse().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn full_example_loads() {
    let c = config::load(&fixture("valid/full.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.organization.eks_ou_id.as_str(), "ou-ab12-cdef3456");
    assert_eq!(
        c.organization
            .management_account_id
            .as_ref()
            .map(|a| a.as_str()),
        Some("111111111111")
    );
    assert_eq!(c.hub_region(), "eu-west-1");
    assert_eq!(c.stackset_regions(), vec!["eu-west-1".to_string()]);
    assert_eq!(c.governance.scp.extra_statements.len(), 1);
    assert_eq!(c.governance.scp.extra_statements[0]["Effect"], "Deny");
    assert_eq!(c.hub.ecr_repositories.len(), 2);
    assert_eq!(
        c.hub.ecr_repositories[0].image_tag_mutability,
        ImageTagMutability::Immutable
    );
    assert_eq!(
        c.hub.ecr_repositories[1].image_tag_mutability,
        ImageTagMutability::Mutable
    );
    assert!(c.hub.ecr_repositories[1].scan_on_push);
    assert_eq!(c.spokes.exclude_accounts, vec![account("333333333399")]);

    assert_eq!(c.clusters.len(), 2);
    let workloads = &c.clusters[0];
    assert_eq!(workloads.account, ClusterAccount::AllSpokes);
    assert_eq!(c.cluster_region(workloads), "eu-west-1");
    assert_eq!(workloads.overrides.len(), 3);
    let staging = workloads
        .for_account(&account("333333333333"))
        .unwrap_or_else(|| panic!("applies"));
    assert_eq!(
        staging.account,
        ClusterAccount::Account(account("333333333333"))
    );
    assert_eq!(staging.subnet_ids.len(), 2);
    assert_eq!(staging.tags.get("env").map(String::as_str), Some("staging"));
    assert_eq!(
        staging.tags.get("team").map(String::as_str),
        Some("platform")
    );
    let other = workloads
        .for_account(&account("444444444444"))
        .unwrap_or_else(|| panic!("applies"));
    assert_eq!(other.version, "1.30");
    assert!(workloads.for_account(&account("555555555555")).is_none());
    assert_eq!(workloads.kms_alias(), "alias/eksmgr/workloads");
    assert_eq!(workloads.node_role_name(), "workloads-node");

    let prod = &c.clusters[1];
    assert_eq!(c.cluster_region(prod), "eu-central-1");
    assert_eq!(
        prod.authentication_mode,
        AuthenticationMode::ApiAndConfigMap
    );
    assert_eq!(prod.logging.len(), 5);
    assert!(prod.logging.contains(&ClusterLogType::ControllerManager));
    assert_eq!(prod.kms.deletion_window_days, 7);
    assert_eq!(prod.kms_alias(), "alias/eksmgr/prod");
    assert_eq!(prod.node_role_name(), "prod-eks-node");
    assert_eq!(prod.pod_identities.len(), 2);
    assert!(prod.for_account(&account("333333333333")).is_none());

    assert_eq!(c.access.grants.len(), 2);
    assert_eq!(c.access.grants[0].policy, AccessPolicy::Edit);
    assert_eq!(c.cross_account_roles.len(), 2);
    assert!(c.cross_account_roles[1].oidc.is_some());
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse_ok(
        r#"
[organization]
eks_ou_id = "ou-ab12-cdef3456"

[hub]
account_id = "222222222222"
"#,
    );
    assert_eq!(c.organization.home_region, "us-east-1");
    assert!(c.organization.management_account_id.is_none());
    assert_eq!(c.hub_region(), "us-east-1");
    assert_eq!(c.stackset_regions(), vec!["us-east-1".to_string()]);
    let scp = &c.governance.scp;
    assert!(scp.enabled && scp.deny_billing && scp.deny_kms_key_deletion);
    assert!(scp.deny_organizations_changes);
    assert_eq!(scp.name, "EKSManagerDenyPolicy");
    assert_eq!(
        scp.description,
        "Managed by eksmgr: protects the EKS manager role, KMS keys, billing and the organization"
    );
    assert_eq!(scp.size_limit, 5120);
    assert!(scp.extra_statements.is_empty());
    let ss = &c.governance.stackset;
    assert_eq!(ss.name, "EKSManagerSpokeAdmin");
    assert_eq!(ss.spoke_admin_role_name, "EKSManagerAdmin");
    assert!(ss.auto_deployment);
    assert!(!ss.retain_stacks_on_account_removal);
    assert_eq!(
        ss.spoke_admin_managed_policy_arns
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        vec!["arn:aws:iam::aws:policy/AdministratorAccess"]
    );
    assert_eq!(c.hub.access_role_name, "OrganizationAccountAccessRole");
    assert_eq!(c.hub.agent_role_name, "EKSManagerAgentRole");
    assert_eq!(c.hub.secrets_prefix, "/EksManager/");
    assert!(c.hub.agent_trusted_principals.is_empty());
    assert!(c.hub.ecr_repositories.is_empty());
    assert!(c.spokes.discover);
    assert_eq!(c.spokes.session_duration_seconds, 3600);
    assert_eq!(c.spoke_admin_role_name(), "EKSManagerAdmin");
    assert!(c.clusters.is_empty());
    assert!(c.access.admin_principal_arn.is_none());
    assert!(c.access.grants.is_empty());
    assert!(c.cross_account_roles.is_empty());
}

#[test]
fn inline_tables_and_dotted_keys_are_equivalent() {
    let c = parse_ok(
        r#"
organization = { eks_ou_id = "ou-ab12-cdef3456", home_region = "eu-north-1" }
hub.account_id = "222222222222"
hub.region = "eu-west-1"
governance.stackset.regions = ["eu-north-1", "eu-west-1"]
"#,
    );
    assert_eq!(c.hub_region(), "eu-west-1");
    assert_eq!(c.stackset_regions(), vec!["eu-north-1", "eu-west-1"]);
}

#[test]
fn missing_file_is_a_whole_file_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("eksmgr.toml");
    let errors = config::load(&path)
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert_eq!(errors.len(), 1);
    let e = &errors.errors()[0];
    assert_eq!((e.line, e.column), (0, 0));
    let text = errors.to_string();
    assert!(
        text.starts_with(&format!("{}: error: cannot read: ", path.display())),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    // A file that does not exist is what `eksmgr init` writes.
    assert!(text.contains("run `eksmgr init`"), "{text}");
}

#[test]
fn errors_carry_positions_and_snippets() {
    let errors = config::parse(
        "[organization]\neks_ou_id = \"ou-x\"\n[hub]\naccount_id = \"1\"\n",
        "eksmgr.toml",
    )
    .err()
    .unwrap_or_else(|| panic!("must fail"));
    let positions: Vec<(usize, usize)> =
        errors.errors().iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(positions, vec![(2, 13), (4, 14)]);
    let first = &errors.errors()[0];
    assert_eq!(first.file, "eksmgr.toml");
    assert_eq!(first.span, Some(27..33));
    let snippet = first.snippet.as_ref().unwrap_or_else(|| panic!("snippet"));
    assert_eq!(snippet.line_text, "eks_ou_id = \"ou-x\"");
    assert_eq!(snippet.highlight_len, 6);
}

/// Mutations of a valid file must never panic, whatever they produce.
#[test]
fn never_panics_on_mangled_input() {
    let source =
        std::fs::read_to_string(fixture("valid/full.toml")).unwrap_or_else(|e| panic!("{e}"));
    let bytes = source.as_bytes();
    for cut in (0..bytes.len()).step_by(7) {
        let truncated = String::from_utf8_lossy(&bytes[..cut]);
        let _ = config::parse(&truncated, "eksmgr.toml");
        let mut spliced = source.clone();
        if spliced.is_char_boundary(cut) {
            spliced.insert_str(cut, "\"]}[=\n");
            let _ = config::parse(&spliced, "eksmgr.toml");
        }
    }
    for weird in [
        "\u{feff}",
        "\0",
        "[[[",
        "a.b.c.d = 1",
        "organization = []",
        "hub = 1",
        "clusters = [1, \"x\", []]",
    ] {
        let _ = config::parse(weird, "eksmgr.toml");
    }
    // Deep nesting is refused by the TOML parser, not by a stack overflow.
    let deep = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(config::parse(&deep, "eksmgr.toml").is_err());
    let dotted = format!("{} = 1", vec!["a"; 100_000].join("."));
    assert!(config::parse(&dotted, "eksmgr.toml").is_err());
}

#[test]
fn config_round_trips_through_serde() {
    let c = config::load(&fixture("valid/full.toml")).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_value(&c).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["clusters"][0]["account"], "*");
    assert_eq!(json["hub"]["account_id"], "222222222222");
    let back: Config = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, c);
}

#[test]
fn an_error_found_after_loading_points_at_the_value_in_the_file() {
    let path = fixture("valid/full.toml");
    let e = config::error_at(&path, &["organization", "eks_ou_id"], "no such OU");
    // `eks_ou_id = "ou-ab12-cdef3456"` is line 9; the value starts at column 13.
    assert_eq!((e.line, e.column), (9, 13), "{}", e.render());
    let text = e.render();
    assert!(
        text.starts_with(&format!("{}:9:13: error: no such OU", path.display())),
        "{text}"
    );
    assert!(text.contains("eks_ou_id = \"ou-ab12-cdef3456\""), "{text}");
    assert!(
        text.contains(&"^".repeat("\"ou-ab12-cdef3456\"".len())),
        "{text}"
    );
}

#[test]
fn an_error_after_loading_falls_back_to_the_table_or_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("eksmgr.toml");
    // The key is gone since the file was loaded: the enclosing table.
    std::fs::write(&path, "[organization]\nhome_region = \"eu-west-1\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let e = config::error_at(&path, &["organization", "eks_ou_id"], "no such OU");
    assert_eq!(e.line, 1, "{}", e.render());
    // Not TOML any more, or not there at all: the file as a whole.
    std::fs::write(&path, "[organization\n").unwrap_or_else(|e| panic!("{e}"));
    let e = config::error_at(&path, &["organization", "eks_ou_id"], "no such OU");
    assert_eq!((e.line, e.message.as_str()), (0, "no such OU"));
    let e = config::error_at(&dir.path().join("gone.toml"), &["organization"], "x");
    assert_eq!(e.line, 0);
}

#[test]
fn a_region_newer_than_this_build_is_a_warning_and_an_unknown_one_an_error() {
    let config = |region: &str| {
        format!(
            "[organization]\neks_ou_id = \"ou-ab12-cdef3456\"\nhome_region = \"{region}\"\n\n[hub]\naccount_id = \"222222222222\"\n"
        )
    };
    // Known: no warning.
    let (c, warnings) = config::parse_with_warnings(&config("eu-west-1"), "eksmgr.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.organization.home_region, "eu-west-1");
    assert!(warnings.is_empty(), "{warnings:?}");
    // Named like the aws partition's regions: valid, with a warning at the value.
    let (c, warnings) = config::parse_with_warnings(&config("us-east-3"), "eksmgr.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.organization.home_region, "us-east-3");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let text = warnings[0].render_warning();
    assert!(
        text.starts_with("eksmgr.toml:3:15: warning: region \"us-east-3\"")
            && text.contains("aws partition")
            && text.contains("us-east-1, us-east-2"),
        "{text}"
    );
    // The aws pattern accepts `us-nowhere-9`, but no region is named so: an error, with the
    // closest known regions.
    let errors = config::parse(&config("us-nowhere-9"), "eksmgr.toml")
        .err()
        .unwrap_or_else(|| panic!("us-nowhere-9 was accepted"));
    let text = errors.to_string();
    assert!(
        text.starts_with("eksmgr.toml:3:15: error: unknown region \"us-nowhere-9\"")
            && text.contains("us-west-1"),
        "{text}"
    );
}

#[test]
fn the_valid_configurations_have_no_warnings() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/eksmgr.toml");
    for path in [fixture("valid/full.toml"), example] {
        let (_, warnings) =
            config::load_with_warnings(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
    }
}
