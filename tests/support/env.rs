//! The environment a child `eksmgr` process needs to talk to the emulator and nothing else.

use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::aws::{REGION, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};

/// Environment variables for a child process that must reach the emulator at `endpoint`
/// as the management account, with no shared config or credentials file, no instance
/// metadata look-ups and no colours.
///
/// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` point at empty files (created once
/// under the system temp directory; `/dev/null` if that fails). The caller should also
/// remove any other inherited `AWS_*` variables ([`crate::Eksmgr`] does).
pub fn env_for(endpoint: &str) -> Vec<(String, String)> {
    let (config, credentials) = empty_aws_files();
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
        ("NO_COLOR", "1"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect()
}

/// Paths of an empty AWS config file and an empty credentials file, created once per
/// process.
fn empty_aws_files() -> &'static (String, String) {
    static FILES: OnceLock<(String, String)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join("eksmgr-e2e-empty-aws");
        let make = |name: &str| -> Option<String> {
            let path: PathBuf = dir.join(name);
            fs::create_dir_all(&dir).ok()?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .ok()?;
            // Someone wrote into it: empty it again.
            if file.metadata().ok()?.len() != 0 {
                file.set_len(0).ok()?;
            }
            path.to_str().map(str::to_owned)
        };
        let fallback = || "/dev/null".to_owned();
        (
            make("config").unwrap_or_else(fallback),
            make("credentials").unwrap_or_else(fallback),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_points_at_the_endpoint_and_empty_files() {
        let env = env_for("http://127.0.0.1:1234");
        let get = |key: &str| {
            env.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get("AWS_ENDPOINT_URL"), "http://127.0.0.1:1234");
        assert_eq!(get("AWS_REGION"), "us-east-1");
        assert_eq!(get("AWS_DEFAULT_REGION"), "us-east-1");
        assert_eq!(get("NO_COLOR"), "1");
        for key in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
            let contents = fs::read(get(key)).unwrap_or_else(|_| vec![b'!']);
            assert!(contents.is_empty(), "{key} should name an empty file");
        }
    }
}
