//! The hub agent host (`[hub.agent_host]`): the instance profile holding the agent role, and
//! the EC2 instance that runs `eksmgr agent`, with its user data (the script that installs
//! eksmgr, checked against its SHA-256, and runs one agent cycle per `[agent] interval` from a
//! systemd timer). What the agent role needs for it (trust of `ec2.amazonaws.com`, SSM, the
//! files it fetches) is added by [`super::hub`].

use eksmgr_state::json;

use super::{Discovery, tags};
use crate::config::{AgentHostConfig, Config};
use crate::model::{DesiredResource, ResourceKind, Value};

/// The agent host's name (its `Name` and `eksmgr-instance` tags).
pub const AGENT_HOST_NAME: &str = "eksmgr-agent";

/// The managed policy that lets SSM Session Manager reach the host (no SSH, no key pair).
/// <https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-instance-permissions.html>
pub const SSM_CORE_POLICY: &str = "AmazonSSMManagedInstanceCore";

/// The S3 objects the host fetches (`s3://BUCKET/KEY` URLs), as `arn:PARTITION:s3:::BUCKET/KEY`.
pub(super) fn fetched_objects(host: &AgentHostConfig, partition: &str) -> Vec<String> {
    [&host.eksmgr_url, &host.config_url]
        .into_iter()
        .filter_map(|u| crate::config::fetch_url(u).ok().flatten())
        .map(|(bucket, key)| format!("arn:{partition}:s3:::{bucket}/{key}"))
        .collect()
}

/// The host's user data: a shell script cloud-init runs once at first boot. It downloads the
/// eksmgr archive, refuses it unless its SHA-256 matches, installs the binary, and installs a
/// systemd service (one `eksmgr agent --once` cycle, `eksmgr.toml` fetched first) with a
/// timer that starts it every `interval`; exit 3 (changes held, accounts skipped) is a cycle
/// that went through. Values are single-quoted: validation refuses quotes in URLs.
pub fn user_data(host: &AgentHostConfig, interval: &str, region: &str) -> String {
    let AgentHostConfig {
        eksmgr_url,
        eksmgr_sha256,
        config_url,
        ..
    } = host;
    format!(
        r#"#!/bin/bash
# eksmgr agent host, written by eksmgr: installs eksmgr and runs one `eksmgr agent --once`
# cycle every {interval} from a systemd timer. The cycles' JSON lines are in the journal:
#   journalctl -u eksmgr-agent.service
set -euo pipefail
export AWS_REGION='{region}'
fetch() {{
  case "$1" in
    s3://*) aws s3 cp --only-show-errors "$1" "$2" ;;
    *) curl --fail --silent --show-error --location --proto '=https' --retry 5 --output "$2" "$1" ;;
  esac
}}
install -d -m 0755 /opt/eksmgr /etc/eksmgr /var/lib/eksmgr
fetch '{eksmgr_url}' /opt/eksmgr/eksmgr.tar.gz
echo '{eksmgr_sha256}  /opt/eksmgr/eksmgr.tar.gz' | sha256sum --check --strict -
tar -xzf /opt/eksmgr/eksmgr.tar.gz -C /opt/eksmgr
install -m 0755 "$(find /opt/eksmgr -type f -name eksmgr -print -quit)" /usr/local/bin/eksmgr
cat > /usr/local/bin/eksmgr-fetch-config <<'SCRIPT'
#!/bin/bash
set -euo pipefail
case '{config_url}' in
  s3://*) aws s3 cp --only-show-errors '{config_url}' /etc/eksmgr/eksmgr.toml.new ;;
  *) curl --fail --silent --show-error --location --proto '=https' --retry 5 --output /etc/eksmgr/eksmgr.toml.new '{config_url}' ;;
esac
mv /etc/eksmgr/eksmgr.toml.new /etc/eksmgr/eksmgr.toml
SCRIPT
chmod 0755 /usr/local/bin/eksmgr-fetch-config
cat > /etc/systemd/system/eksmgr-agent.service <<'UNIT'
[Unit]
Description=eksmgr agent: one reconcile cycle of the EKS estate
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
Environment=AWS_REGION={region}
WorkingDirectory=/var/lib/eksmgr
ExecStartPre=/usr/local/bin/eksmgr-fetch-config
ExecStart=/usr/local/bin/eksmgr --config /etc/eksmgr/eksmgr.toml agent --once
SuccessExitStatus=3
UNIT
cat > /etc/systemd/system/eksmgr-agent.timer <<'UNIT'
[Unit]
Description=eksmgr agent every {interval}

[Timer]
OnBootSec=2min
OnUnitInactiveSec={interval}

[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload
systemctl enable --now eksmgr-agent.timer
"#
    )
}

/// The SHA-256 of the user data, hex: what the instance carries as its
/// `eksmgr-user-data-sha256` tag and the plan compares.
pub fn user_data_sha256(script: &str) -> String {
    crate::digest(script.as_bytes())
}

/// The agent host's resources, when `[hub.agent_host]` is set: the instance profile (after
/// the agent role) and the instance (after the profile).
pub(super) fn resources(
    config: &Config,
    _d: &Discovery,
    agent_role: &eksmgr_state::ResourceAddress,
    out: &mut Vec<DesiredResource>,
) {
    let Some(host) = &config.hub.agent_host else {
        return;
    };
    let hub = config.hub.account_id.as_str();
    let role = &config.hub.agent_role_name;
    let mut profile = DesiredResource::new(ResourceKind::IamInstanceProfile, role, hub, None)
        .set("name", json!(role))
        .set("path", json!("/"))
        .set("role_name", json!(role))
        .set("tags", tags(&[]));
    profile.depends_on.push(agent_role.clone());
    let region = config.hub_region();
    let script = user_data(host, &config.agent.interval, region);
    let sha = user_data_sha256(&script);
    let mut instance = DesiredResource::new(
        ResourceKind::Ec2Instance,
        AGENT_HOST_NAME,
        hub,
        Some(region),
    )
    .set("name", json!(AGENT_HOST_NAME))
    .set("image_id", json!(host.image_id))
    .set("instance_type", json!(host.instance_type))
    .set("subnet_id", json!(host.subnet_id))
    .set("security_group_ids", json!(host.security_group_ids))
    .set("iam_instance_profile", json!(role))
    // IMDSv2 only, one hop: the agent's credentials are not reachable from a container.
    // https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-options.html
    .set("metadata_http_tokens", json!("required"))
    .set("metadata_hop_limit", json!(1))
    .set("user_data", Value::from(script))
    .set("user_data_sha256", json!(sha))
    .set("tags", tags(&[("Name", AGENT_HOST_NAME)]));
    instance.depends_on.push(profile.address.clone());
    // The host keeps nothing (the state is in S3): a new release replaces it.
    instance.allow_replacement = true;
    out.push(profile);
    out.push(instance);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn host() -> AgentHostConfig {
        AgentHostConfig {
            subnet_id: "subnet-0a1b2c3d".into(),
            security_group_ids: vec!["sg-0a1b2c3d".into()],
            instance_type: "t3.medium".into(),
            image_id:
                "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
                    .into(),
            eksmgr_url: "s3://releases/eksmgr-1.0.0-x86_64-linux.tar.gz".into(),
            eksmgr_sha256: "a".repeat(64),
            config_url: "https://config.example.com/eksmgr.toml".into(),
        }
    }

    #[test]
    fn the_user_data_is_a_valid_shell_script_that_checks_the_archive() {
        let script = user_data(&host(), "10m", "us-east-1");
        insta::assert_snapshot!(script);
        // `bash -n` parses it without running it.
        let dir = std::env::temp_dir().join(format!("eksmgr-user-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("user-data.sh");
        std::fs::write(&path, &script).unwrap();
        let status = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "bash -n refused the user data");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(script.contains(&format!(
            "echo '{}  /opt/eksmgr/eksmgr.tar.gz' | sha256sum --check",
            "a".repeat(64)
        )));
    }

    #[test]
    fn only_s3_urls_are_granted_to_the_role() {
        assert_eq!(
            fetched_objects(&host(), "aws"),
            ["arn:aws:s3:::releases/eksmgr-1.0.0-x86_64-linux.tar.gz"]
        );
    }
}
