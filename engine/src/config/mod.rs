//! Configuration: loading, parsing and validating `eksmgr.toml`.
//!
//! [`load`] reads a file and [`parse`] a string; both return a fully validated [`Config`] or
//! every problem found at once ([`ConfigErrors`]), each with its file, line and column, rendered
//! like a compiler diagnostic:
//!
//! ```text
//! eksmgr.toml:12:11: error: invalid account id "12345": expected 12 digits
//!    |
//! 12 | account = "12345"
//!    |           ^^^^^^^
//! ```
//!
//! A TOML syntax error stops at the syntax error. Otherwise each top-level section and each
//! element of the arrays of tables is deserialised on its own, so that an error in one does not
//! hide errors in another, then the semantic checks (formats, ranges, duplicates, references
//! between sections) run over everything that deserialised.
//!
//! Layout: [`sections`] (the schema), [`ids`] (validated identifiers), `error` (positions and
//! rendering), `parse` (TOML to sections, serde messages reworded), `validate` (semantic
//! checks), [`regions`] (the AWS SDK's partitions and regions, for the region checks) and
//! [`schema`] (the JSON Schema of the file and the configuration reference, both
//! generated from [`sections`]).

mod error;
pub mod ids;
mod parse;
pub mod regions;
pub mod schema;
pub mod sections;
mod validate;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors, Snippet};
pub use ids::{AccountId, Arn, ClusterAccount, IdError, OuId};
pub use ids::{fetch_url, parse_duration};
pub use schema::{json_schema, json_schema_text, reference_markdown};
pub use sections::{
    AccessConfig, AccessGrantConfig, AccessPolicy, AddonConfig, AddonPodIdentityConfig,
    AgentAction, AgentConfig, AgentHostConfig, AgentScope, AuthenticationMode, CapacityType,
    ClusterConfig, ClusterLogType, ClusterOverrideConfig, Config, CrossAccountRoleConfig,
    EcrRepositoryConfig, GovernanceConfig, HubConfig, ImageTagMutability, KmsConfig,
    NodeGroupConfig, OidcTrustConfig, OrganizationConfig, PodIdentityConfig, ResolveConflicts,
    ScpConfig, SecretConfig, SecretType, ServiceAccountConfig, SpokesConfig, StackSetConfig,
    StateBackend, StateConfig, SubnetSelectorConfig, TaintConfig, TaintEffect,
};

/// Reads and validates the configuration file at `path`. Errors name the file as given.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with_warnings(path).map(|(config, _)| config)
}

/// [`load`], with the warnings of a valid configuration: what does not make it invalid but
/// is worth saying at its position, such as a region this build does not know but named like
/// a partition's regions ([`regions`]). Render them with [`ConfigError::render_warning`].
pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "; run `eksmgr init` to write one from your organization, or name another with -c FILE"
        } else {
            ""
        };
        ConfigError::whole_file(&file, format!("cannot read: {e}{hint}"))
    })?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => parse_with_warnings(text, &file),
        Err(e) => {
            let valid = e.valid_up_to();
            let lossy = String::from_utf8_lossy(&bytes);
            // Offsets in the lossy text equal the original ones up to the first bad byte.
            Err(ConfigError::at(
                &file,
                &lossy,
                valid..valid,
                format!(
                    "the file is not valid UTF-8 (invalid byte 0x{:02x} at offset {valid}): save it as UTF-8",
                    bytes.get(valid).copied().unwrap_or(0)
                ),
            )
            .into())
        }
    }
}

/// An error at the value `path` names (e.g. `["organization", "eks_ou_id"]`) in the
/// configuration file at `file`, for a problem found after the file was loaded, such as AWS
/// saying the value names nothing: the file is read again for the position, and the error is
/// rendered as [`load`]'s are (`file:line:column`, the line, a caret under the value). A key
/// no longer there points at its closest enclosing table; a file that cannot be read or parsed
/// again gives an error about the whole file.
pub fn error_at(file: &Path, path: &[&str], message: impl Into<String>) -> ConfigError {
    let name = file.display().to_string();
    let message = message.into();
    let text = match std::fs::read(file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => return ConfigError::whole_file(&name, message),
    };
    parse::error_at_path(&text, &name, path, message.clone())
        .unwrap_or_else(|| ConfigError::whole_file(&name, message))
}

/// Parses and validates configuration text; `file_name` is used in the error positions.
pub fn parse(source: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    parse_with_warnings(source, file_name).map(|(config, _)| config)
}

/// [`parse`], with the warnings of a valid configuration (see [`load_with_warnings`]).
pub fn parse_with_warnings(
    source: &str,
    file_name: &str,
) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    parse::parse(source, file_name)
}

impl Config {
    /// Region of the hub resources: `hub.region`, or `organization.home_region`.
    pub fn hub_region(&self) -> &str {
        self.hub
            .region
            .as_deref()
            .unwrap_or(&self.organization.home_region)
    }

    /// Regions of the StackSet instances: `governance.stackset.regions`, or
    /// `[organization.home_region]` when none are given.
    pub fn stackset_regions(&self) -> Vec<String> {
        if self.governance.stackset.regions.is_empty() {
            vec![self.organization.home_region.clone()]
        } else {
            self.governance.stackset.regions.clone()
        }
    }

    /// Role assumed in the spokes: `spokes.admin_role_name`, or the StackSet's
    /// `spoke_admin_role_name`.
    pub fn spoke_admin_role_name(&self) -> &str {
        self.spokes
            .admin_role_name
            .as_deref()
            .unwrap_or(&self.governance.stackset.spoke_admin_role_name)
    }

    /// The SCP, by name, when it denies KMS key deletion to eksmgr's spoke admin role too
    /// (`deny_kms_key_deletion` without `exempt_admin_from_key_deletion_deny`): eksmgr then
    /// never deletes a key, it leaves it in AWS.
    pub fn key_deletion_denied_by(&self) -> Option<&str> {
        let scp = &self.governance.scp;
        (scp.enabled && scp.deny_kms_key_deletion && !scp.exempt_admin_from_key_deletion_deny)
            .then_some(scp.name.as_str())
    }

    /// Region of a cluster: its `region`, or `organization.home_region`.
    pub fn cluster_region<'a>(&'a self, cluster: &'a ClusterConfig) -> &'a str {
        cluster
            .region
            .as_deref()
            .unwrap_or(&self.organization.home_region)
    }
}
