//! Test support for provider integration tests: a `moto_server` per test on a free
//! 127.0.0.1 port (killed on drop) and [`Sessions`] pointed at it, acting as moto's default
//! account `123456789012` (management and hub at once, so no role is assumed).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use eksmgr_providers::{Sessions, SessionsConfig};

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
/// The region every test uses.
pub const REGION: &str = "us-east-1";

const START_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 3;

/// A running `moto_server`, killed and reaped on drop.
pub struct Moto {
    child: Child,
    endpoint: String,
    log_path: PathBuf,
}

impl Moto {
    /// Starts `$EKSMGR_MOTO_SERVER` (else `<repo>/.venv/bin/moto_server`) on a free port and
    /// waits until it answers.
    pub fn start() -> Moto {
        let binary = moto_server_binary();
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&binary) {
                Ok(m) => return m,
                Err(e) => last = e,
            }
        }
        panic!("could not start moto_server: {last}");
    }

    fn start_once(binary: &Path) -> Result<Moto, String> {
        let port = free_port()?;
        let log_path = std::env::temp_dir().join(format!(
            "eksmgr-providers-moto-{}-{port}.log",
            std::process::id()
        ));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {}: {e}; run `bash scripts/setup-emulator.sh`",
                    binary.display()
                )
            })?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log_path,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!(
                    "moto_server on port {port} exited at start ({status}):\n{}",
                    moto.log()
                ));
            }
            if http_status(port, "/moto-api/").is_ok_and(|c| c < 500) {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server on port {port} did not answer in time:\n{}",
                    moto.log()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// An SDK configuration for moto's default account: static test credentials, us-east-1.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "eksmgr-test",
            )))
            .build()
    }

    /// Sessions whose management and hub account are both moto's default account.
    pub fn sessions(&self) -> Sessions {
        Sessions::new(
            self.sdk_config(),
            SessionsConfig {
                management_account_id: ACCOUNT.into(),
                hub_account_id: ACCOUNT.into(),
                hub_access_role_name: "OrganizationAccountAccessRole".into(),
                partition: "aws".into(),
                home_region: REGION.into(),
                hub_agent_role_name: "EKSManagerAgentRole".into(),
                spoke_role_name: "EKSManagerAdmin".into(),
                session_name: "eksmgr-test".into(),
                session_duration: Duration::from_secs(3600),
            },
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

fn moto_server_binary() -> PathBuf {
    match std::env::var_os("EKSMGR_MOTO_SERVER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest
                .parent()
                .unwrap_or(manifest)
                .join(".venv")
                .join("bin")
                .join("moto_server")
        }
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A minimal HTTP/1.0 GET; returns the status code.
fn http_status(port: u16, path: &str) -> Result<u16, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = s.read(&mut head[read..]).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let text = String::from_utf8_lossy(&head[..read]);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {text:?}"))
}
