//! Test support for the EKS provider tests: a `moto_server` of the test's own on a free
//! 127.0.0.1 port (stopped on drop) and `Sessions` that reach it as the management account.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use eksmgr_providers::{Sessions, SessionsConfig};

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
/// The region the tests use.
pub const REGION: &str = "us-east-1";

/// A moto server process, killed when dropped.
pub struct MotoServer {
    child: Child,
    endpoint: String,
}

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("EKSMGR_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    // providers/ -> workspace root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".venv")
        .join("bin")
        .join("moto_server")
}

impl MotoServer {
    /// Starts moto on a free port and waits until it answers.
    pub fn start() -> Result<MotoServer, String> {
        let bin = moto_binary();
        if !bin.exists() {
            return Err(format!(
                "moto_server not found at {} (set EKSMGR_MOTO_SERVER)",
                bin.display()
            ));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not listen on port {port} within 60 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sessions whose management and hub account are moto's default account.
    pub async fn sessions(&self) -> Sessions {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "eks-tests",
            ))
            .endpoint_url(self.endpoint.as_str())
            .load()
            .await;
        Sessions::new(
            base,
            SessionsConfig {
                management_account_id: ACCOUNT.into(),
                hub_account_id: ACCOUNT.into(),
                hub_access_role_name: "OrganizationAccountAccessRole".into(),
                partition: "aws".into(),
                home_region: REGION.into(),
                hub_agent_role_name: "EKSManagerAgentRole".into(),
                spoke_role_name: "EKSManagerAdmin".into(),
                session_name: "eksmgr-tests".into(),
                session_duration: std::time::Duration::from_secs(3600),
            },
        )
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
