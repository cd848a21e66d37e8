//! Semantic validation: what serde cannot check on one value alone. Formats of names,
//! regions and versions, numeric ranges, duplicates, references between sections, and the
//! shape of extra SCP statements. Every problem is reported, each at the offending value.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::error::ConfigError;
use super::ids::{Arn, ClusterAccount};
use super::parse::{Document, Parsed, Seg, at};
use super::regions::RegionCheck;
use super::sections::{
    AccessPolicy, AgentHostConfig, ClusterConfig, NodeGroupConfig, SecretType,
    ServiceAccountConfig, StateBackend, SubnetSelectorConfig,
};

/// Runs every check over what deserialised, appending to `errors`, and to `warnings` what is
/// worth saying but does not make the configuration invalid.
pub(super) fn validate(
    doc: &Document<'_>,
    p: &Parsed,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<ConfigError>,
) {
    let mut v = Validator {
        doc,
        errors,
        warnings,
    };
    v.organization(p);
    v.governance(p);
    v.hub(p);
    v.spokes(p);
    v.clusters(p);
    v.access(p);
    v.cross_account_roles(p);
    v.state(p);
    v.agent(p);
    v.secrets(p);
}

struct Validator<'a, 'i> {
    doc: &'a Document<'i>,
    errors: &'a mut Vec<ConfigError>,
    warnings: &'a mut Vec<ConfigError>,
}

type Check = Result<(), String>;

impl Validator<'_, '_> {
    fn report(&mut self, at: &[Seg<'_>], message: impl Into<String>) {
        self.errors.push(self.doc.error(at, message));
    }

    fn check(&mut self, at: &[Seg<'_>], result: Check) {
        if let Err(m) = result {
            self.report(at, m);
        }
    }

    /// A region: well formed ([`region`]), then one of the AWS SDK's partitions
    /// ([`super::regions`]): known, or named like a partition's regions (a warning: a region
    /// newer than this build), or refused with the known regions closest to it.
    fn region(&mut self, at: &[Seg<'_>], r: &str) {
        if let Err(m) = region(r) {
            self.report(at, m);
            return;
        }
        let close = || super::regions::closest(r, 3).join(", ");
        match super::regions::check(r) {
            RegionCheck::Known(_) => {}
            RegionCheck::Unlisted(p) => self.warnings.push(self.doc.error(
                at,
                format!(
                    "region {r:?} is not one this eksmgr knows: it is named like the regions of the {} partition, so it is taken as a region newer than this build; check the spelling (the closest known regions: {})",
                    p.id,
                    close()
                ),
            )),
            RegionCheck::Unknown => self.report(
                at,
                format!(
                    "unknown region {r:?}: no AWS partition has a region of that name; did you mean one of {}?",
                    close()
                ),
            ),
        }
    }

    fn organization(&mut self, p: &Parsed) {
        if let Some(o) = &p.organization {
            self.region(at!["organization", "home_region"], &o.home_region);
        }
    }

    fn home_region<'p>(&self, p: &'p Parsed) -> &'p str {
        p.organization
            .as_ref()
            .map_or("us-east-1", |o| o.home_region.as_str())
    }

    fn governance(&mut self, p: &Parsed) {
        let Some(g) = &p.governance else { return };
        let scp = &g.scp;
        self.check(
            at!["governance", "scp", "name"],
            length("SCP name", &scp.name, 1, 128),
        );
        self.check(
            at!["governance", "scp", "description"],
            length("SCP description", &scp.description, 0, 512),
        );
        if !(1..=5120).contains(&scp.size_limit) {
            self.report(
                at!["governance", "scp", "size_limit"],
                format!(
                    "invalid size_limit {}: expected an integer between 1 and 5120 (the AWS limit)",
                    scp.size_limit
                ),
            );
        }
        for (i, st) in scp.extra_statements.iter().enumerate() {
            self.extra_statement(i, st, &scp.extra_statements[..i]);
        }
        let sids: BTreeSet<&str> = scp
            .extra_statements
            .iter()
            .filter_map(|st| st.get("Sid").and_then(Value::as_str))
            .collect();
        for (i, sid) in scp.acknowledged_unverifiable_sids.iter().enumerate() {
            if !sids.contains(sid.as_str()) {
                self.report(
                    at!["governance", "scp", "acknowledged_unverifiable_sids", i],
                    format!(
                        "no [[governance.scp.extra_statements]] has Sid {sid:?}: list the Sid of an extra statement"
                    ),
                );
            }
        }
        let ss = &g.stackset;
        self.check(
            at!["governance", "stackset", "name"],
            stackset_name(&ss.name),
        );
        self.check(
            at!["governance", "stackset", "description"],
            length("StackSet description", &ss.description, 0, 1024),
        );
        self.check(
            at!["governance", "stackset", "spoke_admin_role_name"],
            role_name(&ss.spoke_admin_role_name),
        );
        let mut seen = BTreeSet::new();
        for (i, r) in ss.regions.iter().enumerate() {
            let at = at!["governance", "stackset", "regions", i];
            self.region(at, r);
            if !seen.insert(r.as_str()) {
                self.report(at, format!("duplicate region {r:?}"));
            }
        }
        for (i, arn) in ss.spoke_admin_managed_policy_arns.iter().enumerate() {
            if arn.service() != "iam" || !arn.resource().starts_with("policy/") {
                self.report(
                    at!["governance", "stackset", "spoke_admin_managed_policy_arns", i],
                    format!(
                        "invalid managed policy ARN {:?}: expected arn:<partition>:iam::<account or aws>:policy/<name>",
                        arn.as_str()
                    ),
                );
            }
        }
    }

    /// Reports an error at the key a path names (not at its value).
    fn report_key(&mut self, at: &[Seg<'_>], message: impl Into<String>) {
        self.errors.push(self.doc.key_error(at, message));
    }

    /// Extra SCP statement `i`; `earlier` are the statements before it (for duplicate Sids).
    fn extra_statement(&mut self, i: usize, st: &Value, earlier: &[Value]) {
        const KEYS: &[&str] = &[
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ];
        let at = at!["governance", "scp", "extra_statements", i];
        let Value::Object(map) = st else {
            self.report(
                at,
                format!(
                    "invalid extra statement: expected a table with Effect and Action (or NotAction), found {}",
                    json_type(st)
                ),
            );
            return;
        };
        for (k, v) in map {
            let key_at = at!["governance", "scp", "extra_statements", i, k.as_str()];
            if !KEYS.contains(&k.as_str()) {
                self.report_key(
                    key_at,
                    format!(
                        "unknown key `{k}` in an SCP statement, expected one of: {}",
                        KEYS.join(", ")
                    ),
                );
            } else if contains_datetime(v) {
                self.report(
                    key_at,
                    "a datetime is not allowed in a policy statement: write it in quotes",
                );
            }
        }
        match map.get("Effect") {
            None => self.report(at, "missing key `Effect` in an SCP statement"),
            Some(Value::String(e)) if e == "Allow" || e == "Deny" => {}
            Some(e) => self.report(
                at!["governance", "scp", "extra_statements", i, "Effect"],
                format!("invalid Effect {e}: expected \"Allow\" or \"Deny\""),
            ),
        }
        match (map.get("Action"), map.get("NotAction")) {
            (None, None) => self.report(
                at,
                "missing key `Action` (or `NotAction`) in an SCP statement",
            ),
            (Some(_), Some(_)) => self.report(
                at!["governance", "scp", "extra_statements", i, "NotAction"],
                "an SCP statement takes Action or NotAction, not both",
            ),
            (Some(a), None) | (None, Some(a)) => {
                let key = if map.contains_key("Action") {
                    "Action"
                } else {
                    "NotAction"
                };
                if !is_string_or_strings(a) {
                    self.report(
                        at!["governance", "scp", "extra_statements", i, key],
                        format!(
                            "invalid {key}: expected a non-empty string or a non-empty array of non-empty strings"
                        ),
                    );
                }
            }
        }
        self.statement_shape(i, map, earlier);
    }

    /// `Resource`/`NotResource`, `Condition` and `Sid` of extra SCP statement `i`: the shapes
    /// IAM accepts, which AWS would otherwise only refuse (the whole policy) at apply time.
    fn statement_shape(
        &mut self,
        i: usize,
        map: &serde_json::Map<String, Value>,
        earlier: &[Value],
    ) {
        match (map.get("Resource"), map.get("NotResource")) {
            (Some(_), Some(_)) => self.report(
                at!["governance", "scp", "extra_statements", i, "NotResource"],
                "an SCP statement takes Resource or NotResource, not both",
            ),
            (Some(r), None) | (None, Some(r)) => {
                let key = if map.contains_key("Resource") {
                    "Resource"
                } else {
                    "NotResource"
                };
                if !is_string_or_strings(r) && !contains_datetime(r) {
                    self.report(
                        at!["governance", "scp", "extra_statements", i, key],
                        format!(
                            "invalid {key}: expected a non-empty string or a non-empty array of non-empty strings (ARNs, or \"*\")"
                        ),
                    );
                }
            }
            (None, None) => {}
        }
        if let Some(c) = map.get("Condition")
            && !contains_datetime(c)
        {
            match c {
                Value::Object(ops) if !ops.is_empty() => {
                    for (op, keys) in ops {
                        let op_at = at!["governance", "scp", "extra_statements", i, "Condition", op.as_str()];
                        let Value::Object(keys) = keys else {
                            self.report(
                                op_at,
                                format!(
                                    "invalid condition `{op}`: expected a table of condition keys and their values, e.g. {{ \"aws:RequestedRegion\" = [\"eu-west-1\"] }}"
                                ),
                            );
                            continue;
                        };
                        if keys.is_empty() {
                            self.report(op_at, format!("invalid condition `{op}`: expected at least one condition key"));
                        }
                        for (key, value) in keys {
                            if !is_condition_value(value) {
                                self.report(
                                    at!["governance", "scp", "extra_statements", i, "Condition", op.as_str(), key.as_str()],
                                    format!(
                                        "invalid value of condition key `{key}`: expected a string, number or boolean, or a non-empty array of them"
                                    ),
                                );
                            }
                        }
                    }
                }
                _ => self.report(
                    at!["governance", "scp", "extra_statements", i, "Condition"],
                    format!(
                        "invalid Condition: expected a table of condition operators, found {}, e.g. {{ StringNotEquals = {{ \"aws:RequestedRegion\" = [\"eu-west-1\"] }} }}",
                        if c.as_object().is_some() { "an empty table" } else { json_type(c) }
                    ),
                ),
            }
        }
        let Some(sid) = map.get("Sid") else { return };
        let sid_at = at!["governance", "scp", "extra_statements", i, "Sid"];
        match sid {
            Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) => {
                let first = earlier
                    .iter()
                    .position(|o| o.get("Sid").and_then(Value::as_str) == Some(s));
                if let Some(j) = first {
                    let line =
                        self.doc
                            .line_of(at!["governance", "scp", "extra_statements", j, "Sid"]);
                    self.report(
                        sid_at,
                        format!(
                            "duplicate Sid {s:?}: already used by the statement at line {line}"
                        ),
                    );
                }
            }
            _ => self.report(
                sid_at,
                format!(
                    "invalid Sid {sid}: expected letters and digits only, e.g. \"DenyOutsideEU\""
                ),
            ),
        }
    }

    fn hub(&mut self, p: &Parsed) {
        if let Some(h) = &p.hub {
            if let Some(r) = &h.region {
                self.region(at!["hub", "region"], r);
            }
            self.check(
                at!["hub", "access_role_name"],
                role_name(&h.access_role_name),
            );
            self.check(at!["hub", "agent_role_name"], role_name(&h.agent_role_name));
            for (i, arn) in h.agent_trusted_principals.iter().enumerate() {
                self.check(at!["hub", "agent_trusted_principals", i], principal(arn));
            }
            self.check(
                at!["hub", "secrets_prefix"],
                secrets_prefix(&h.secrets_prefix),
            );
            if let Some(host) = &h.agent_host {
                self.agent_host(host);
            }
        }
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for (i, repo) in &p.ecr_repositories {
            let at = at!["hub", "ecr_repositories", *i, "name"];
            self.check(at, ecr_name(&repo.name));
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == repo.name) {
                let line = self
                    .doc
                    .line_of(at!["hub", "ecr_repositories", *first, "name"]);
                self.report(
                    at,
                    format!(
                        "duplicate ECR repository {:?}: already defined at line {line}",
                        repo.name
                    ),
                );
            } else {
                seen.push((&repo.name, *i));
            }
        }
    }

    fn spokes(&mut self, p: &Parsed) {
        let Some(s) = &p.spokes else { return };
        if let Some(r) = &s.admin_role_name {
            self.check(at!["spokes", "admin_role_name"], role_name(r));
        }
        if !(900..=43200).contains(&s.session_duration_seconds) {
            self.report(
                at!["spokes", "session_duration_seconds"],
                format!(
                    "invalid session_duration_seconds {}: expected 900 to 43200",
                    s.session_duration_seconds
                ),
            );
        }
        self.check(at!["spokes", "session_name"], session_name(&s.session_name));
        for (i, a) in s.exclude_accounts.iter().enumerate() {
            if s.accounts.contains(a) {
                self.report(
                    at!["spokes", "exclude_accounts", i],
                    format!("account {a} is both in `accounts` and in `exclude_accounts`"),
                );
            }
        }
    }

    fn agent_host(&mut self, host: &AgentHostConfig) {
        self.check(
            at!["hub", "agent_host", "subnet_id"],
            aws_id("subnet id", "subnet-", &host.subnet_id),
        );
        self.ids(at!["hub", "agent_host"], &[], &host.security_group_ids);
        if host.security_group_ids.is_empty() {
            self.report(
                at!["hub", "agent_host", "security_group_ids"],
                "give at least one security group (with no inbound rule, outbound 443 only)",
            );
        }
        self.check(
            at!["hub", "agent_host", "instance_type"],
            instance_type(&host.instance_type),
        );
        let image = &host.image_id;
        if !(image.starts_with("resolve:ssm:") && image.len() > "resolve:ssm:".len())
            && aws_id("AMI id", "ami-", image).is_err()
        {
            self.report(
                at!["hub", "agent_host", "image_id"],
                format!(
                    "invalid image {image:?}: expected an AMI id (\"ami-\" and 8 or 17 hexadecimal digits) or \"resolve:ssm:PARAMETER\""
                ),
            );
        }
        for (key, url) in [
            ("eksmgr_url", &host.eksmgr_url),
            ("config_url", &host.config_url),
        ] {
            if let Err(m) = super::ids::fetch_url(url) {
                self.report(at!["hub", "agent_host", key], m);
            }
        }
        let hex = host.eksmgr_sha256.len() == 64
            && host
                .eksmgr_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            self.report(
                at!["hub", "agent_host", "eksmgr_sha256"],
                "expected the archive's SHA-256: 64 lowercase hexadecimal digits (`sha256sum eksmgr-*.tar.gz`)",
            );
        }
    }

    fn agent(&mut self, p: &Parsed) {
        let Some(agent) = &p.agent else { return };
        match super::ids::parse_duration(&agent.interval) {
            Ok(d) if d.is_zero() => self.report(
                at!["agent", "interval"],
                "the interval must be longer than 0s",
            ),
            Ok(_) => {}
            Err(e) => self.report(at!["agent", "interval"], e),
        }
    }

    fn state(&mut self, p: &Parsed) {
        let Some(st) = &p.state else { return };
        let s3_only: [(&str, bool); 5] = [
            ("bucket", st.bucket.is_some()),
            ("key", st.key.is_some()),
            ("region", st.region.is_some()),
            ("use_path_style", st.use_path_style),
            ("role_arn", st.role_arn.is_some()),
        ];
        match st.backend {
            StateBackend::Local => {
                for (key, given) in s3_only {
                    if given {
                        self.report(
                            at!["state", key],
                            format!("`{key}` is for backend = \"s3\"; this state is local: set backend = \"s3\" or remove `{key}`"),
                        );
                    }
                }
                if let Some(path) = &st.path
                    && path.trim().is_empty()
                {
                    self.report(
                        at!["state", "path"],
                        "empty path: name the state file, e.g. \"eksmgr.state.json\"",
                    );
                }
            }
            StateBackend::S3 => {
                if st.path.is_some() {
                    self.report(
                        at!["state", "path"],
                        "`path` is for backend = \"local\"; an S3 state is named by `bucket` and `key`",
                    );
                }
                match &st.bucket {
                    Some(b) => self.check(at!["state", "bucket"], s3_bucket(b)),
                    None => self.report(
                        at!["state", "backend"],
                        "backend = \"s3\" needs `bucket`: the S3 bucket that holds the state",
                    ),
                }
                if let Some(k) = &st.key {
                    self.check(at!["state", "key"], s3_key(k));
                }
                if let Some(r) = &st.region {
                    self.region(at!["state", "region"], r);
                }
                if let Some(arn) = &st.role_arn {
                    self.check(at!["state", "role_arn"], role_arn(arn));
                }
            }
        }
    }

    fn clusters(&mut self, p: &Parsed) {
        let home = self.home_region(p).to_string();
        for (i, c) in &p.clusters {
            self.cluster(*i, c);
        }
        // Duplicates: same name, same region, accounts that can coincide ("*" matches all).
        for (n, (i, c)) in p.clusters.iter().enumerate() {
            let region = c.region.as_deref().unwrap_or(&home);
            let first = p.clusters[..n].iter().find(|(_, o)| {
                o.name == c.name
                    && o.region.as_deref().unwrap_or(&home) == region
                    && o.account.overlaps(&c.account)
            });
            if let Some((j, o)) = first {
                let line = self.doc.line_of(at!["clusters", *j, "name"]);
                let place = match (&c.account, &o.account) {
                    (ClusterAccount::Account(a), _) | (_, ClusterAccount::Account(a)) => {
                        format!("account {a}")
                    }
                    _ => "every spoke".to_string(),
                };
                self.report(
                    at!["clusters", *i, "name"],
                    format!(
                        "duplicate cluster {:?} in {place}, region {region}: already defined at line {line}",
                        c.name
                    ),
                );
            }
        }
    }

    fn cluster(&mut self, i: usize, c: &ClusterConfig) {
        self.check(at!["clusters", i, "name"], cluster_name(&c.name));
        if let Some(r) = &c.region {
            self.region(at!["clusters", i, "region"], r);
        }
        self.check(at!["clusters", i, "version"], k8s_version(&c.version));
        self.ids(at!["clusters", i], &c.subnet_ids, &c.security_group_ids);
        if let Some(sel) = &c.subnet_selector {
            self.subnet_selector(at!["clusters", i, "subnet_selector"], sel);
        }
        if let ClusterAccount::Account(_) = c.account
            && c.subnet_ids.len() < 2
            && (c.subnet_selector.is_none() || !c.subnet_ids.is_empty())
        {
            self.report(
                at!["clusters", i, "subnet_ids"],
                format!(
                    "cluster {:?} needs at least 2 subnet_ids (in two availability zones), or a subnet_selector",
                    c.name
                ),
            );
        }
        if !c.endpoint_public_access && !c.endpoint_private_access {
            self.report(
                at!["clusters", i, "endpoint_private_access"],
                "endpoint_public_access and endpoint_private_access cannot both be false",
            );
        }
        if !c.endpoint_public_access && !c.public_access_cidrs.is_empty() {
            self.report(
                at!["clusters", i, "public_access_cidrs"],
                "public_access_cidrs needs endpoint_public_access = true",
            );
        }
        for (j, cidr) in c.public_access_cidrs.iter().enumerate() {
            self.check(
                at!["clusters", i, "public_access_cidrs", j],
                ipv4_cidr(cidr),
            );
        }
        self.tags(at!["clusters", i, "tags"], c.tags.iter());
        let w = c.kms.deletion_window_days;
        if !(7..=30).contains(&w) {
            self.report(
                at!["clusters", i, "kms", "deletion_window_days"],
                format!("invalid deletion_window_days {w}: expected 7 to 30 days"),
            );
        }
        if let Some(a) = &c.kms.alias {
            self.check(at!["clusters", i, "kms", "alias"], kms_alias(a));
        }
        if let Some(r) = &c.cluster_role_name {
            self.check(at!["clusters", i, "cluster_role_name"], role_name(r));
        }
        if let Some(r) = &c.node_role_name {
            self.check(at!["clusters", i, "node_role_name"], role_name(r));
        }
        if let Some(z) = &c.hosted_zone_id {
            self.check(at!["clusters", i, "hosted_zone_id"], hosted_zone_id(z));
        }
        let mut service_accounts: Vec<(String, String)> = Vec::new();
        for key in ["build_pods", "external_dns"] {
            let sa = if key == "build_pods" {
                &c.build_pods
            } else {
                &c.external_dns
            };
            if let Some(sa) = sa {
                self.service_account(at!["clusters", i, key], sa);
                service_accounts.push((sa.namespace.clone(), sa.service_account.clone()));
            }
        }
        if c.external_dns.is_some() && c.hosted_zone_id.is_none() {
            self.report(
                at!["clusters", i, "external_dns"],
                "external_dns needs hosted_zone_id (the zone external-dns may change)",
            );
        }
        for (j, pi) in c.pod_identities.iter().enumerate() {
            let at = at!["clusters", i, "pod_identities", j];
            self.service_account(
                at,
                &ServiceAccountConfig {
                    namespace: pi.namespace.clone(),
                    service_account: pi.service_account.clone(),
                },
            );
            match (&pi.role_arn, &pi.role_name) {
                (Some(_), Some(_)) => self.report(
                    at!["clusters", i, "pod_identities", j, "role_name"],
                    "give either role_arn or role_name, not both",
                ),
                (None, None) => self.report(
                    at,
                    "missing key `role_arn` or `role_name` in [[clusters.pod_identities]]",
                ),
                (Some(arn), None) => self.check(
                    at!["clusters", i, "pod_identities", j, "role_arn"],
                    role_arn(arn),
                ),
                (None, Some(r)) => self.check(
                    at!["clusters", i, "pod_identities", j, "role_name"],
                    role_name(r),
                ),
            }
            let key = (pi.namespace.clone(), pi.service_account.clone());
            if service_accounts.contains(&key) {
                self.report(
                    at,
                    format!(
                        "service account {}/{} already has a pod identity in this cluster",
                        pi.namespace, pi.service_account
                    ),
                );
            } else {
                service_accounts.push(key);
            }
        }
        self.addons(i, c);
        self.node_groups(i, c);
        if !c.overrides.is_empty() && c.account != ClusterAccount::AllSpokes {
            self.report(
                at!["clusters", i, "overrides"],
                "overrides are only allowed in a template cluster (account = \"*\")",
            );
        }
        for (account, o) in &c.overrides {
            let a = account.as_str();
            let base = at!["clusters", i, "overrides", a];
            if let Some(r) = &o.region {
                self.region(at!["clusters", i, "overrides", a, "region"], r);
            }
            if let Some(v) = &o.version {
                self.check(
                    at!["clusters", i, "overrides", a, "version"],
                    k8s_version(v),
                );
            }
            let empty = Vec::new();
            self.ids(
                base,
                o.subnet_ids.as_ref().unwrap_or(&empty),
                o.security_group_ids.as_ref().unwrap_or(&empty),
            );
            if o.subnet_ids.as_ref().is_some_and(|s| s.len() < 2) {
                self.report(
                    at!["clusters", i, "overrides", a, "subnet_ids"],
                    "expected at least 2 subnet_ids (in two availability zones)",
                );
            }
            if let Some(sel) = &o.subnet_selector {
                self.subnet_selector(at!["clusters", i, "overrides", a, "subnet_selector"], sel);
            }
            for (j, cidr) in o.public_access_cidrs.iter().flatten().enumerate() {
                self.check(
                    at!["clusters", i, "overrides", a, "public_access_cidrs", j],
                    ipv4_cidr(cidr),
                );
            }
            if let Some(z) = &o.hosted_zone_id {
                self.check(
                    at!["clusters", i, "overrides", a, "hosted_zone_id"],
                    hosted_zone_id(z),
                );
            }
            self.tags(at!["clusters", i, "overrides", a, "tags"], o.tags.iter());
        }
    }

    /// `[[clusters.addons]]`: names, versions, pod identities; no add-on twice.
    fn addons(&mut self, i: usize, c: &ClusterConfig) {
        let mut seen: Vec<&str> = Vec::new();
        for (j, a) in c.addons.iter().enumerate() {
            let name_at = at!["clusters", i, "addons", j, "name"];
            self.check(name_at, addon_name(&a.name));
            if seen.contains(&a.name.as_str()) {
                self.report(
                    name_at,
                    format!("add-on {:?} is listed twice in this cluster", a.name),
                );
            }
            seen.push(&a.name);
            if let Some(v) = &a.version {
                self.check(at!["clusters", i, "addons", j, "version"], addon_version(v));
            }
            if let Some(pi) = &a.pod_identity {
                let at = at!["clusters", i, "addons", j, "pod_identity"];
                self.service_account(
                    at,
                    &ServiceAccountConfig {
                        namespace: pi.namespace.clone(),
                        service_account: pi.service_account.clone(),
                    },
                );
                self.check(at, role_name(&format!("{}-{}", c.name, a.name)).map_err(|m| {
                    format!("the add-on's pod identity role `<cluster>-<add-on>` is not a valid role name: {m}")
                }));
                if pi.managed_policies.is_empty() {
                    self.report(at, "pod_identity needs at least one of managed_policies");
                }
                for (k, m) in pi.managed_policies.iter().enumerate() {
                    self.check(
                        at![
                            "clusters",
                            i,
                            "addons",
                            j,
                            "pod_identity",
                            "managed_policies",
                            k
                        ],
                        managed_policy_name(m),
                    );
                }
            }
        }
    }

    /// `[[clusters.node_groups]]`: names, sizes, AMI types, labels and taints; no name twice.
    fn node_groups(&mut self, i: usize, c: &ClusterConfig) {
        let mut seen: Vec<&str> = Vec::new();
        for (j, ng) in c.node_groups.iter().enumerate() {
            let name_at = at!["clusters", i, "node_groups", j, "name"];
            self.check(name_at, node_group_name(&ng.name));
            if seen.contains(&ng.name.as_str()) {
                self.report(
                    name_at,
                    format!("node group {:?} is listed twice in this cluster", ng.name),
                );
            }
            seen.push(&ng.name);
            if ng.instance_types.is_empty() {
                self.report(
                    at!["clusters", i, "node_groups", j, "instance_types"],
                    "instance_types needs at least one instance type",
                );
            }
            for (k, t) in ng.instance_types.iter().enumerate() {
                self.check(
                    at!["clusters", i, "node_groups", j, "instance_types", k],
                    instance_type(t),
                );
            }
            if !AMI_TYPES.contains(&ng.ami_type.as_str()) {
                self.report(
                    at!["clusters", i, "node_groups", j, "ami_type"],
                    format!(
                        "unknown ami_type {:?}: expected one of {}",
                        ng.ami_type,
                        AMI_TYPES.join(", ")
                    ),
                );
            }
            if ng.disk_size == 0 {
                self.report(
                    at!["clusters", i, "node_groups", j, "disk_size"],
                    "disk_size must be at least 1 (GiB)",
                );
            }
            self.scaling(i, j, ng);
            if let Some(v) = &ng.version {
                self.check(
                    at!["clusters", i, "node_groups", j, "version"],
                    k8s_version(v),
                );
            }
            self.ids(at!["clusters", i, "node_groups", j], &ng.subnet_ids, &[]);
            if let Some(sel) = &ng.subnet_selector {
                self.subnet_selector(at!["clusters", i, "node_groups", j, "subnet_selector"], sel);
            }
            for (key, value) in &ng.labels {
                let at = at!["clusters", i, "node_groups", j, "labels", key.as_str()];
                if key.is_empty() || key.len() > 63 || value.len() > 63 {
                    self.report(
                        at,
                        format!(
                            "invalid label {key:?}: EKS takes keys of 1 to 63 characters and values of at most 63"
                        ),
                    );
                }
            }
            if ng.taints.len() > 50 {
                self.report(
                    at!["clusters", i, "node_groups", j, "taints"],
                    format!(
                        "too many taints ({}): EKS takes at most 50",
                        ng.taints.len()
                    ),
                );
            }
            for (k, t) in ng.taints.iter().enumerate() {
                if t.key.is_empty() || t.key.len() > 63 {
                    self.report(
                        at!["clusters", i, "node_groups", j, "taints", k, "key"],
                        "a taint key has 1 to 63 characters",
                    );
                }
                if t.value.as_ref().is_some_and(|v| v.len() > 63) {
                    self.report(
                        at!["clusters", i, "node_groups", j, "taints", k, "value"],
                        "a taint value has at most 63 characters",
                    );
                }
            }
            self.tags(at!["clusters", i, "node_groups", j, "tags"], ng.tags.iter());
        }
    }

    /// A node group's sizes, as EKS checks them: `0 <= min <= desired <= max`, `max >= 1`.
    /// <https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html>
    fn scaling(&mut self, i: usize, j: usize, ng: &NodeGroupConfig) {
        if ng.max_size < 1 {
            self.report(
                at!["clusters", i, "node_groups", j, "max_size"],
                "max_size must be at least 1",
            );
        } else if ng.min_size > ng.max_size {
            self.report(
                at!["clusters", i, "node_groups", j, "min_size"],
                format!(
                    "min_size {} is more than max_size {}",
                    ng.min_size, ng.max_size
                ),
            );
        }
        if let Some(d) = ng.desired_size
            && (d < ng.min_size || d > ng.max_size)
        {
            self.report(
                at!["clusters", i, "node_groups", j, "desired_size"],
                format!(
                    "desired_size {d} is not between min_size {} and max_size {}",
                    ng.min_size, ng.max_size
                ),
            );
        }
    }

    /// A `subnet_selector`: it selects by something, its VPC id is well formed, and its tags
    /// are what EC2 allows (keys of 1 to 128 characters, values of at most 256; `aws:` tags,
    /// which AWS sets, may be selected on).
    /// <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions>
    fn subnet_selector(&mut self, at: &[Seg<'_>], sel: &SubnetSelectorConfig) {
        if sel.tags.is_empty() && sel.vpc_id.is_none() && sel.vpc_tags.is_empty() {
            self.report(
                at,
                "a subnet_selector selects by `tags`, `vpc_id` or `vpc_tags`: give at least one",
            );
        }
        if let Some(vpc) = &sel.vpc_id {
            let mut here = at.to_vec();
            here.push(Seg::K("vpc_id"));
            self.check(&here, aws_id("VPC id", "vpc-", vpc));
        }
        for (field, tags) in [("tags", &sel.tags), ("vpc_tags", &sel.vpc_tags)] {
            for (k, v) in tags {
                let mut here = at.to_vec();
                here.extend([Seg::K(field), Seg::K(k)]);
                if k.is_empty() || k.chars().count() > 128 {
                    self.report_key(
                        &here,
                        format!("invalid tag key {k:?}: expected 1 to 128 characters"),
                    );
                } else if v.chars().count() > 256 {
                    self.report(
                        &here,
                        format!("invalid value of tag {k:?}: expected at most 256 characters"),
                    );
                }
            }
        }
    }

    /// Subnet and security group ids under `base`.
    fn ids(&mut self, base: &[Seg<'_>], subnets: &[String], groups: &[String]) {
        for (j, s) in subnets.iter().enumerate() {
            let mut at = base.to_vec();
            at.extend([Seg::K("subnet_ids"), Seg::I(j)]);
            self.check(&at, aws_id("subnet id", "subnet-", s));
        }
        for (j, s) in groups.iter().enumerate() {
            let mut at = base.to_vec();
            at.extend([Seg::K("security_group_ids"), Seg::I(j)]);
            self.check(&at, aws_id("security group id", "sg-", s));
        }
    }

    fn tags<'t>(
        &mut self,
        at: &[Seg<'_>],
        tags: impl ExactSizeIterator<Item = (&'t String, &'t String)>,
    ) {
        if tags.len() > 50 {
            self.report(at, format!("too many tags ({}): at most 50", tags.len()));
            return;
        }
        for (k, v) in tags {
            let mut here = at.to_vec();
            here.push(Seg::K(k));
            if k.is_empty() || k.chars().count() > 128 {
                self.report_key(
                    &here,
                    format!("invalid tag key {k:?}: expected 1 to 128 characters"),
                );
            } else if k.starts_with("aws:") {
                self.report_key(
                    &here,
                    format!("invalid tag key {k:?}: the aws: prefix is reserved"),
                );
            } else if v.chars().count() > 256 {
                self.report(
                    &here,
                    format!("invalid value of tag {k:?}: expected at most 256 characters"),
                );
            }
        }
    }

    fn service_account(&mut self, at: &[Seg<'_>], sa: &ServiceAccountConfig) {
        let mut ns = at.to_vec();
        ns.push(Seg::K("namespace"));
        self.check(&ns, k8s_namespace(&sa.namespace));
        let mut name = at.to_vec();
        name.push(Seg::K("service_account"));
        self.check(
            &name,
            k8s_subdomain("service account name", &sa.service_account),
        );
    }

    fn namespaces_and_groups(
        &mut self,
        base: &[Seg<'_>],
        policy: AccessPolicy,
        namespaces: &[String],
        groups: &[String],
    ) {
        for (j, ns) in namespaces.iter().enumerate() {
            let mut at = base.to_vec();
            at.extend([Seg::K("namespaces"), Seg::I(j)]);
            self.check(&at, k8s_namespace(ns));
        }
        if policy == AccessPolicy::ClusterAdmin && !namespaces.is_empty() {
            let mut at = base.to_vec();
            at.push(Seg::K("namespaces"));
            self.report(
                &at,
                "cluster-admin applies to the whole cluster: remove `namespaces` or use `admin`",
            );
        }
        for (j, g) in groups.iter().enumerate() {
            let mut at = base.to_vec();
            at.extend([Seg::K("groups"), Seg::I(j)]);
            if g.is_empty() || g.len() > 256 {
                self.report(
                    &at,
                    format!("invalid group {g:?}: expected 1 to 256 characters"),
                );
            } else if g.starts_with("system:") {
                self.report(
                    &at,
                    format!("invalid group {g:?}: EKS reserves groups starting with \"system:\""),
                );
            }
        }
    }

    /// Names of the clusters declared in the file (read from the document itself, so that a
    /// cluster that failed to deserialise does not also produce dangling-reference errors).
    fn declared_clusters(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut i = 0;
        while let Some(v) = self.doc.get(at!["clusters", i]) {
            if let toml::de::DeValue::Table(t) = v
                && let Some(name) = t.get("name").and_then(|n| n.get_ref().as_str())
            {
                names.insert(name.to_string());
            }
            i += 1;
        }
        names
    }

    fn cluster_ref(&mut self, at: &[Seg<'_>], name: &str, declared: &BTreeSet<String>) {
        if !declared.contains(name) {
            let known = if declared.is_empty() {
                "no clusters are defined".to_string()
            } else {
                format!(
                    "defined clusters: {}",
                    declared.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            self.report(at, format!("unknown cluster {name:?}: {known}"));
        }
    }

    fn access(&mut self, p: &Parsed) {
        if let Some(a) = &p.access
            && let Some(arn) = &a.admin_principal_arn
        {
            self.check(at!["access", "admin_principal_arn"], principal(arn));
        }
        let declared = self.declared_clusters();
        for (n, (i, g)) in p.grants.iter().enumerate() {
            let i = *i;
            self.check(
                at!["access", "grants", i, "principal_arn"],
                principal(&g.principal_arn),
            );
            self.namespaces_and_groups(
                at!["access", "grants", i],
                g.policy,
                &g.namespaces,
                &g.groups,
            );
            if g.clusters.is_empty() {
                self.report(
                    at!["access", "grants", i, "clusters"],
                    "expected at least one cluster name, or \"*\" for every cluster",
                );
            }
            let wildcard = g.clusters.iter().any(|c| c == "*");
            for (j, c) in g.clusters.iter().enumerate() {
                let at = at!["access", "grants", i, "clusters", j];
                if c == "*" {
                    if g.clusters.len() > 1 {
                        self.report(
                            at,
                            "\"*\" already names every cluster: remove the other names",
                        );
                    }
                } else if !wildcard {
                    self.cluster_ref(at, c, &declared);
                }
            }
            let earlier = p.grants[..n].iter().find(|(_, o)| {
                o.principal_arn == g.principal_arn
                    && o.policy == g.policy
                    && (o.clusters.iter().any(|c| c == "*")
                        || wildcard
                        || o.clusters.iter().any(|c| g.clusters.contains(c)))
            });
            if let Some((j, _)) = earlier {
                let line = self
                    .doc
                    .line_of(at!["access", "grants", *j, "principal_arn"]);
                self.report(
                    at!["access", "grants", i, "principal_arn"],
                    format!(
                        "duplicate grant: {:?} already has policy `{}` on these clusters (line {line})",
                        g.principal_arn.as_str(),
                        g.policy.as_str()
                    ),
                );
            }
        }
    }

    /// `[[secrets]]`: names, sources under the prefix the agent role may read, targets, and
    /// the data keys each secret type needs.
    fn secrets(&mut self, p: &Parsed) {
        let declared = self.declared_clusters();
        let prefix = p
            .hub
            .as_ref()
            .map_or("/EksManager/", |h| h.secrets_prefix.as_str());
        let hub = p.hub.as_ref().map(|h| h.account_id.as_str().to_string());
        for (n, (i, s)) in p.secrets.iter().enumerate() {
            let i = *i;
            self.check(
                at!["secrets", i, "name"],
                k8s_subdomain("secret name", &s.name),
            );
            if let Some((j, _)) = p.secrets[..n].iter().find(|(_, o)| o.name == s.name) {
                let line = self.doc.line_of(at!["secrets", *j, "name"]);
                self.report(
                    at!["secrets", i, "name"],
                    format!(
                        "duplicate secret {:?}: already defined at line {line}",
                        s.name
                    ),
                );
            }
            self.check(
                at!["secrets", i, "source"],
                secret_source(&s.source, prefix, hub.as_deref()),
            );
            if s.clusters.is_empty() {
                self.report(
                    at!["secrets", i, "clusters"],
                    "expected at least one cluster name, or \"*\" for every cluster",
                );
            }
            let wildcard = s.clusters.iter().any(|c| c == "*");
            for (j, c) in s.clusters.iter().enumerate() {
                let at = at!["secrets", i, "clusters", j];
                if c == "*" {
                    if s.clusters.len() > 1 {
                        self.report(
                            at,
                            "\"*\" already names every cluster: remove the other names",
                        );
                    }
                } else if !wildcard {
                    self.cluster_ref(at, c, &declared);
                }
            }
            if s.namespaces.is_empty() {
                self.report(
                    at!["secrets", i, "namespaces"],
                    "expected at least one namespace",
                );
            }
            for (j, ns) in s.namespaces.iter().enumerate() {
                self.check(at!["secrets", i, "namespaces", j], k8s_namespace(ns));
                if s.namespaces[..j].contains(ns) {
                    self.report(
                        at!["secrets", i, "namespaces", j],
                        format!("namespace {ns:?} is listed twice"),
                    );
                }
            }
            if let Some(key) = &s.key {
                self.check(at!["secrets", i, "key"], secret_data_key(key));
                if !s.keys.is_empty() {
                    self.report(
                        at!["secrets", i, "keys"],
                        "give either key (the whole value) or keys (JSON fields), not both",
                    );
                }
                match s.kind {
                    SecretType::Opaque => {}
                    SecretType::DockerConfigJson if key == ".dockerconfigjson" => {}
                    SecretType::DockerConfigJson => self.report(
                        at!["secrets", i, "key"],
                        format!(
                            "a kubernetes.io/dockerconfigjson secret keeps its value in the key \".dockerconfigjson\", not {key:?}"
                        ),
                    ),
                    SecretType::Tls => self.report(
                        at!["secrets", i, "key"],
                        "a kubernetes.io/tls secret needs two keys, tls.crt and tls.key: map them from a JSON secret with keys = { \"tls.crt\" = \"...\", \"tls.key\" = \"...\" }",
                    ),
                }
            }
            for (key, field) in &s.keys {
                self.check(
                    at!["secrets", i, "keys", key.as_str()],
                    secret_data_key(key),
                );
                if field.is_empty() {
                    self.report(
                        at!["secrets", i, "keys", key.as_str()],
                        "expected the name of a field of the JSON secret",
                    );
                }
            }
            if !s.keys.is_empty() {
                let missing: Vec<&str> = s
                    .kind
                    .required_keys()
                    .iter()
                    .copied()
                    .filter(|k| !s.keys.contains_key(*k))
                    .collect();
                if !missing.is_empty() {
                    self.report(
                        at!["secrets", i, "keys"],
                        format!(
                            "a {} secret needs the data keys {}: missing {}",
                            s.kind.as_str(),
                            s.kind.required_keys().join(", "),
                            missing.join(", ")
                        ),
                    );
                }
            }
        }
    }

    fn cross_account_roles(&mut self, p: &Parsed) {
        let declared = self.declared_clusters();
        for (n, (i, r)) in p.cross_account_roles.iter().enumerate() {
            let i = *i;
            self.check(at!["cross_account_roles", i, "name"], role_name(&r.name));
            if let Some((j, _)) = p.cross_account_roles[..n]
                .iter()
                .find(|(_, o)| o.name == r.name)
            {
                let line = self.doc.line_of(at!["cross_account_roles", *j, "name"]);
                self.report(
                    at!["cross_account_roles", i, "name"],
                    format!(
                        "duplicate cross-account role {:?}: already defined at line {line}",
                        r.name
                    ),
                );
            }
            self.cluster_ref(
                at!["cross_account_roles", i, "cluster"],
                &r.cluster,
                &declared,
            );
            match (&r.trusted_principal_arn, &r.oidc) {
                (Some(_), Some(_)) => self.report(
                    at!["cross_account_roles", i, "oidc"],
                    "give either trusted_principal_arn or oidc, not both",
                ),
                (None, None) => self.report(
                    at!["cross_account_roles", i],
                    "missing key `trusted_principal_arn` (or an [cross_account_roles.oidc] table) in [[cross_account_roles]]",
                ),
                (Some(arn), None) => {
                    self.check(
                        at!["cross_account_roles", i, "trusted_principal_arn"],
                        principal(arn),
                    );
                }
                (None, Some(oidc)) => {
                    if oidc.provider_arn.service() != "iam"
                        || !oidc.provider_arn.resource().starts_with("oidc-provider/")
                    {
                        self.report(
                            at!["cross_account_roles", i, "oidc", "provider_arn"],
                            format!(
                                "invalid OIDC provider ARN {:?}: expected arn:<partition>:iam::<account>:oidc-provider/<host>",
                                oidc.provider_arn.as_str()
                            ),
                        );
                    }
                    if oidc.subjects.is_empty() {
                        self.report(
                            at!["cross_account_roles", i, "oidc", "subjects"],
                            "expected at least one subject",
                        );
                    }
                    for (j, s) in oidc.subjects.iter().enumerate() {
                        if s.is_empty() || s == "*" {
                            self.report(
                                at!["cross_account_roles", i, "oidc", "subjects", j],
                                format!("invalid subject {s:?}: it would trust every identity of the provider"),
                            );
                        }
                    }
                    for key in [
                        "external_id",
                        "source_identity",
                        "allow_account_root_trust",
                    ] {
                        let given = match key {
                            "external_id" => r.external_id.is_some(),
                            "source_identity" => r.source_identity.is_some(),
                            _ => r.allow_account_root_trust,
                        };
                        if given {
                            self.report(
                                at!["cross_account_roles", i, key],
                                format!("{key} only applies with trusted_principal_arn"),
                            );
                        }
                    }
                }
            }
            if let Some(e) = &r.external_id {
                self.check(at!["cross_account_roles", i, "external_id"], external_id(e));
            }
            if let Some(s) = &r.source_identity {
                self.check(
                    at!["cross_account_roles", i, "source_identity"],
                    length("source_identity", s, 2, 64),
                );
            }
            self.namespaces_and_groups(
                at!["cross_account_roles", i],
                r.policy,
                &r.namespaces,
                &r.groups,
            );
            if !(3600..=43200).contains(&r.max_session_duration_seconds) {
                self.report(
                    at!["cross_account_roles", i, "max_session_duration_seconds"],
                    format!(
                        "invalid max_session_duration_seconds {}: expected 3600 to 43200",
                        r.max_session_duration_seconds
                    ),
                );
            }
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// TOML datetimes reach JSON as `{"$__toml_private_datetime": "..."}`.
fn contains_datetime(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.contains_key("$__toml_private_datetime") || m.values().any(contains_datetime)
        }
        Value::Array(a) => a.iter().any(contains_datetime),
        _ => false,
    }
}

fn is_string_or_strings(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => {
            !a.is_empty()
                && a.iter()
                    .all(|x| matches!(x, Value::String(s) if !s.is_empty()))
        }
        _ => false,
    }
}

/// A value of a condition key: a string, number or boolean, or a non-empty array of them.
fn is_condition_value(v: &Value) -> bool {
    let scalar = |x: &Value| matches!(x, Value::String(_) | Value::Number(_) | Value::Bool(_));
    match v {
        Value::Array(a) => !a.is_empty() && a.iter().all(scalar),
        x => scalar(x),
    }
}

fn length(what: &str, s: &str, min: usize, max: usize) -> Check {
    let n = s.chars().count();
    if (min..=max).contains(&n) {
        Ok(())
    } else if min == 0 {
        Err(format!(
            "{what} is too long: expected at most {max} characters, found {n}"
        ))
    } else {
        Err(format!(
            "invalid {what} {s:?}: expected {min} to {max} characters"
        ))
    }
}

/// `xx-xxxx-N`, e.g. `us-east-1`, `us-gov-west-1`.
pub(super) fn region(s: &str) -> Check {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts
            .first()
            .is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid region {s:?}: expected a region name such as \"us-east-1\""
        ))
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// `"<major>.<minor>"`, e.g. `"1.31"`.
pub(super) fn k8s_version(s: &str) -> Check {
    crate::kinds::eks_cluster::KubernetesVersion::parse(s).map(|_| ())
}

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// IAM role names: 1 to 64 characters of `[A-Za-z0-9+=,.@_-]`.
/// An S3 bucket name as AWS allows it for new buckets: 3 to 63 lowercase letters, digits,
/// dots and hyphens, starting and ending with a letter or digit, not an IP address.
fn s3_bucket(s: &str) -> Check {
    let edge_ok = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge_ok(s.bytes().next())
        && edge_ok(s.bytes().last())
        && !s.contains("..")
        && s.parse::<Ipv4Addr>().is_err();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid S3 bucket name {s:?}: expected 3 to 63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit"
        ))
    }
}

/// One IAM role, by its exact ARN (no wildcard).
fn role_arn(arn: &Arn) -> Result<(), String> {
    if arn.service() != "iam" || !arn.resource().starts_with("role/") || arn.as_str().contains('*')
    {
        return Err(format!(
            "invalid role ARN {:?}: expected arn:<partition>:iam::<account>:role/<name>",
            arn.as_str()
        ));
    }
    Ok(())
}

/// An S3 object key for the state: 1 to 1000 bytes (room for `.journal`), no leading `/`,
/// no control characters.
fn s3_key(s: &str) -> Check {
    if s.is_empty() || s.len() > 1000 || s.starts_with('/') || s.chars().any(char::is_control) {
        Err(format!(
            "invalid S3 key {s:?}: expected 1 to 1000 bytes, not starting with `/`, without control characters (e.g. \"eksmgr/prod.state.json\")"
        ))
    } else {
        Ok(())
    }
}

pub(super) fn role_name(s: &str) -> Check {
    if (1..=64).contains(&s.len()) && s.chars().all(is_iam_name_char) {
        Ok(())
    } else {
        Err(format!(
            "invalid IAM role name {s:?}: expected 1 to 64 letters, digits or +=,.@_-"
        ))
    }
}

fn session_name(s: &str) -> Check {
    if (2..=64).contains(&s.len()) && s.chars().all(is_iam_name_char) {
        Ok(())
    } else {
        Err(format!(
            "invalid session_name {s:?}: expected 2 to 64 letters, digits or +=,.@_-"
        ))
    }
}

fn external_id(s: &str) -> Check {
    if (2..=1224).contains(&s.len())
        && s.chars()
            .all(|c| is_iam_name_char(c) || c == ':' || c == '/')
    {
        Ok(())
    } else {
        Err(format!(
            "invalid external_id {s:?}: expected 2 to 1224 letters, digits or +=,.@:/_-"
        ))
    }
}

fn stackset_name(s: &str) -> Check {
    let ok = s.len() <= 128
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid StackSet name {s:?}: expected a letter then letters, digits or '-' (at most 128)"
        ))
    }
}

fn cluster_name(s: &str) -> Check {
    let ok = (1..=100).contains(&s.len())
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid cluster name {s:?}: expected 1 to 100 letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// The AMI types of managed node groups (the EKS API's `AMITypes`).
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html>
const AMI_TYPES: &[&str] = &[
    "AL2023_x86_64_STANDARD",
    "AL2023_ARM_64_STANDARD",
    "AL2023_x86_64_NVIDIA",
    "AL2023_ARM_64_NVIDIA",
    "AL2023_x86_64_NEURON",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_ARM_64",
    "BOTTLEROCKET_x86_64_FIPS",
    "BOTTLEROCKET_ARM_64_FIPS",
    "BOTTLEROCKET_x86_64_NVIDIA",
    "BOTTLEROCKET_ARM_64_NVIDIA",
    "AL2_x86_64",
    "AL2_x86_64_GPU",
    "AL2_ARM_64",
    "WINDOWS_CORE_2019_x86_64",
    "WINDOWS_FULL_2019_x86_64",
    "WINDOWS_CORE_2022_x86_64",
    "WINDOWS_FULL_2022_x86_64",
    "CUSTOM",
];

/// A node group name: 1 to 63 letters, digits, `-` and `_`, starting with a letter or digit.
/// <https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html>
fn node_group_name(s: &str) -> Check {
    let ok = (1..=63).contains(&s.len())
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid node group name {s:?}: expected 1 to 63 letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// An add-on name as EKS spells them: lowercase letters, digits, `-` and `_`.
fn addon_name(s: &str) -> Check {
    let ok = (1..=100).contains(&s.len())
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid add-on name {s:?}: expected lowercase letters, digits, '-' or '_', e.g. \"aws-ebs-csi-driver\""
        ))
    }
}

/// An add-on version, `v1.19.2-eksbuild.1`.
fn addon_version(s: &str) -> Check {
    let ok = s.len() > 1
        && s.starts_with('v')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid add-on version {s:?}: expected a version as EKS lists it, e.g. \"v1.19.2-eksbuild.1\""
        ))
    }
}

/// An EC2 instance type, `<family>.<size>` (`t3.medium`, `m7g.2xlarge`).
fn instance_type(s: &str) -> Check {
    let ok = s.split_once('.').is_some_and(|(f, z)| {
        !f.is_empty()
            && !z.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && z.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid instance type {s:?}: expected <family>.<size>, e.g. \"t3.medium\""
        ))
    }
}

/// The name of an AWS managed policy under `arn:aws:iam::aws:policy/`
/// (`service-role/AmazonEBSCSIDriverPolicy`).
fn managed_policy_name(s: &str) -> Check {
    let ok = !s.is_empty()
        && !s.starts_with('/')
        && !s.starts_with("arn:")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid managed policy {s:?}: expected its name under arn:aws:iam::aws:policy/, e.g. \"service-role/AmazonEBSCSIDriverPolicy\""
        ))
    }
}

/// A `[[secrets]]` source: a Secrets Manager secret name (1 to 512 of `A-Za-z0-9/_+=.@-`,
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html>)
/// under `prefix`, or its ARN in the hub account. The agent role reads only
/// `secret:<prefix>*` in the hub, so anything else would be refused at push time.
fn secret_source(s: &str, prefix: &str, hub: Option<&str>) -> Check {
    let name = if s.starts_with("arn:") {
        let arn: Arn = s
            .parse()
            .map_err(|e| format!("invalid secret ARN {s:?}: {e}"))?;
        if arn.service() != "secretsmanager" || !arn.resource().starts_with("secret:") {
            return Err(format!(
                "invalid secret ARN {s:?}: expected arn:<partition>:secretsmanager:<region>:<hub account>:secret:<name>"
            ));
        }
        if let Some(hub) = hub
            && arn.account() != hub
        {
            return Err(format!(
                "secret {s:?} is in account {}, not in the hub ({hub}): the agent role reads secrets in the hub only",
                arn.account()
            ));
        }
        arn.resource().trim_start_matches("secret:").to_string()
    } else {
        s.to_string()
    };
    if name.is_empty()
        || name.len() > 512
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    {
        return Err(format!(
            "invalid secret name {name:?}: expected 1 to 512 letters, digits or /_+=.@-"
        ));
    }
    if (s.starts_with("arn:") || s.starts_with('/')) && !name.starts_with(prefix) {
        return Err(format!(
            "secret {name:?} is not under hub.secrets_prefix {prefix:?}: the agent role may read only secrets named {prefix}*"
        ));
    }
    Ok(())
}

/// A Kubernetes secret data key: `[-._a-zA-Z0-9]+`
/// (<https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data>).
fn secret_data_key(k: &str) -> Check {
    if !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid secret data key {k:?}: expected letters, digits, '-', '_' or '.'"
        ))
    }
}

fn secrets_prefix(s: &str) -> Check {
    let ok = s.len() >= 2
        && s.starts_with('/')
        && s.ends_with('/')
        && !s.contains("//")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid secrets_prefix {s:?}: expected a path such as \"/EksManager/\" (starting and ending with '/')"
        ))
    }
}

/// ECR repository names: lowercase alphanumeric components separated by `.`, `_`, `-`
/// within a component and `/` between components; 2 to 256 characters.
fn ecr_name(s: &str) -> Check {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b.first()
                .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
            && b.last()
                .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
            && b.iter()
                .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(x))
            && !b
                .windows(2)
                .any(|w| b"._-".contains(&w[0]) && b"._-".contains(&w[1]))
    };
    if (2..=256).contains(&s.len()) && s.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!(
            "invalid ECR repository name {s:?}: expected 2 to 256 lowercase letters and digits, separated by '.', '_', '-' or '/'"
        ))
    }
}

/// `subnet-` / `sg-` followed by 8 or 17 lowercase hex digits.
fn aws_id(what: &str, prefix: &str, s: &str) -> Check {
    let ok = s.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} {s:?}: expected \"{prefix}\" followed by 8 or 17 hexadecimal digits"
        ))
    }
}

fn ipv4_cidr(s: &str) -> Check {
    let ok = s.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<Ipv4Addr>().is_ok() && is_number(len) && len.parse::<u8>().is_ok_and(|l| l <= 32)
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid CIDR block {s:?}: expected an IPv4 block such as \"203.0.113.0/24\""
        ))
    }
}

fn hosted_zone_id(s: &str) -> Check {
    let ok = s.starts_with('Z')
        && (2..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid hosted zone id {s:?}: expected \"Z\" followed by uppercase letters and digits"
        ))
    }
}

fn kms_alias(s: &str) -> Check {
    let ok = s.strip_prefix("alias/").is_some_and(|rest| {
        !rest.is_empty()
            && !s.starts_with("alias/aws/")
            && s.len() <= 256
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid KMS alias {s:?}: expected \"alias/\" then letters, digits, '/', '_' or '-' (not \"alias/aws/\")"
        ))
    }
}

fn is_dns_label(s: &str, max: usize, dots: bool) -> bool {
    let b = s.as_bytes();
    (1..=max).contains(&b.len())
        && b.first()
            .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        && b.last()
            .is_some_and(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        && b.iter().all(|x| {
            x.is_ascii_lowercase() || x.is_ascii_digit() || *x == b'-' || (dots && *x == b'.')
        })
}

fn k8s_namespace(s: &str) -> Check {
    if is_dns_label(s, 63, false) {
        Ok(())
    } else {
        Err(format!(
            "invalid namespace {s:?}: expected at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit"
        ))
    }
}

fn k8s_subdomain(what: &str, s: &str) -> Check {
    if is_dns_label(s, 253, true) {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} {s:?}: expected at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// A principal ARN usable in a trust policy or an access entry (IAM or STS).
fn principal(arn: &Arn) -> Check {
    if arn.service() == "iam" || arn.service() == "sts" {
        Ok(())
    } else {
        Err(format!(
            "invalid principal ARN {:?}: expected an IAM role, user or account ARN (arn:<partition>:iam::<account>:role/<name>)",
            arn.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-2",
            "cn-north-1",
            "il-central-1",
        ] {
            assert!(region(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-123",
            "u-east-1",
            "us--1",
        ] {
            assert!(region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for ok in ["1.31", "1.9", "1.100"] {
            assert!(k8s_version(ok).is_ok(), "{ok}");
        }
        for bad in ["1", "1.31.2", "v1.31", "2.0", "1.031", "1.", ".31", "1.x"] {
            assert!(k8s_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(role_name("EKSManagerAdmin").is_ok());
        assert!(role_name("a+=,.@_-").is_ok());
        assert!(role_name("").is_err());
        assert!(role_name("has space").is_err());
        assert!(role_name(&"x".repeat(65)).is_err());
        assert!(ecr_name("team/app-api").is_ok());
        assert!(ecr_name("a").is_err());
        assert!(ecr_name("App").is_err());
        assert!(ecr_name("a//b").is_err());
        assert!(ecr_name("a--b").is_err());
        assert!(ecr_name("-ab").is_err());
        assert!(aws_id("subnet id", "subnet-", "subnet-0123456789abcdef0").is_ok());
        assert!(aws_id("subnet id", "subnet-", "subnet-0123").is_err());
        assert!(ipv4_cidr("10.0.0.0/8").is_ok());
        assert!(ipv4_cidr("10.0.0.0/33").is_err());
        assert!(ipv4_cidr("10.0.0.0").is_err());
        assert!(kms_alias("alias/eksmgr/prod").is_ok());
        assert!(kms_alias("alias/aws/eks").is_err());
        assert!(kms_alias("eksmgr").is_err());
        assert!(k8s_namespace("kube-system").is_ok());
        assert!(k8s_namespace("Kube").is_err());
        assert!(hosted_zone_id("Z0123456789ABCDEFGHIJ").is_ok());
        assert!(hosted_zone_id("zone").is_err());
        assert!(stackset_name("EKSManagerSpokeAdmin").is_ok());
        assert!(stackset_name("1abc").is_err());
        assert!(secrets_prefix("/EksManager/").is_ok());
        assert!(secrets_prefix("EksManager").is_err());
    }
}
