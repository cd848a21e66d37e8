//! A moto server per test: started on a free 127.0.0.1 port, logging to a temp dir,
//! seeded with an organization by `scripts/seed_emulator.py`, killed on drop.
//!
//! The server is moto's own, run through `scripts/emulator/eksmgr_moto.py`, which adds the
//! EKS access-entry and pod-identity-association APIs that moto lacks.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tempfile::TempDir;

use crate::paths;

/// How long [`MotoServer::start`] waits for the server to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The emulator's calendar (`EKSMGR_EMULATOR_TODAY`): which Kubernetes versions EKS offers,
/// and in which support, depends on the date; the tests pin it so they do not age.
pub const EMULATOR_TODAY: &str = "2026-12-05";
/// How many times [`MotoServer::start`] tries a new port when the server dies at once
/// (another process took the port between our probe and its bind).
const START_ATTEMPTS: usize = 3;

/// The organization `scripts/seed_emulator.py` creates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Seed {
    /// The management account (moto's default account, `123456789012`).
    pub management_account_id: String,
    /// The organization root, `r-xxxx`.
    pub root_id: String,
    /// The `eks` OU, holding the spokes.
    pub eks_ou_id: String,
    /// The `shared` OU, holding the hub.
    pub shared_ou_id: String,
    /// The hub / shared services account (named `hub`).
    pub hub_account_id: String,
    /// The spoke accounts, named `spoke-1`.. in this order. Ids may start with `0`.
    pub spoke_account_ids: Vec<String>,
    /// The region, `us-east-1`.
    pub region: String,
}

/// A spoke account added by [`MotoServer::add_spoke`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Spoke {
    /// Its 12-digit account id.
    pub account_id: String,
    /// Its name, `spoke-N`.
    pub name: String,
}

/// A running moto server process, killed (and reaped) on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    endpoint: String,
    /// The virtualenv's Python, which runs the emulator and the seed script.
    python: PathBuf,
    log_path: PathBuf,
    // Holds the log file; removed on drop after the process is gone.
    _log_dir: TempDir,
}

impl MotoServer {
    /// Start the emulator on a free 127.0.0.1 port and wait until it answers.
    ///
    /// It runs `python scripts/emulator/eksmgr_moto.py -H 127.0.0.1 -p PORT`: moto's
    /// server with the EKS APIs moto lacks added. `python` is the one beside the
    /// `moto_server` executable, `$EKSMGR_MOTO_SERVER`, else `<repo>/.venv/bin/moto_server`
    /// (created by `bash scripts/setup-emulator.sh`).
    pub fn start() -> Result<MotoServer, String> {
        MotoServer::start_with_env(&[])
    }

    /// [`MotoServer::start`], with extra environment variables for the emulator (its
    /// settings: `EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS`,
    /// `EKSMGR_EMULATOR_IAM_MANAGED_POLICIES` ...).
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<MotoServer, String> {
        let moto_server = paths::moto_server_binary()?;
        let python = paths::venv_python(&moto_server);
        let script = paths::emulator_script();
        if !script.is_file() {
            return Err(format!(
                "the emulator script {} is missing",
                script.display()
            ));
        }
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&python, &script, env) {
                Ok(server) => return Ok(server),
                Err(StartError::Retry(message)) => last_error = message,
                Err(StartError::Fatal(message)) => return Err(message),
            }
        }
        Err(last_error)
    }

    fn start_once(
        python: &Path,
        script: &Path,
        env: &[(&str, &str)],
    ) -> Result<MotoServer, StartError> {
        let log_dir = tempfile::Builder::new()
            .prefix("eksmgr-moto-")
            .tempdir()
            .map_err(|e| StartError::Fatal(format!("cannot create a temp dir for moto: {e}")))?;
        let log_path = log_dir.path().join("moto_server.log");
        let log = File::create(&log_path)
            .map_err(|e| StartError::Fatal(format!("cannot create {}: {e}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| StartError::Fatal(format!("cannot reopen {}: {e}", log_path.display())))?;
        let port = free_port().map_err(StartError::Fatal)?;

        let child = Command::new(python)
            .arg(script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // AWS managed policies (AmazonEKSClusterPolicy ...) exist only when loaded.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env("EKSMGR_EMULATOR_TODAY", EMULATOR_TODAY)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                StartError::Fatal(format!(
                    "cannot start {} {}: {e}; run `bash scripts/setup-emulator.sh`",
                    python.display(),
                    script.display()
                ))
            })?;
        let mut server = MotoServer {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            python: python.to_path_buf(),
            log_path,
            _log_dir: log_dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Poll `GET /moto-api/` until it answers, the process exits, or the timeout passes.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(StartError::Retry(format!(
                    "the moto server on port {} exited at start ({status}); its log:\n{}",
                    self.port,
                    self.log_tail()
                )));
            }
            if http_get_status(self.port, "/moto-api/").is_ok_and(|code| code < 500) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StartError::Fatal(format!(
                    "the moto server on port {} did not answer within {}s; its log:\n{}",
                    self.port,
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The virtualenv's Python the server runs with (its botocore and cfn-lint check requests).
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file (its stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Clear every service's state (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), String> {
        match http_request(self.port, "POST", "/moto-api/reset") {
            Ok(200) => Ok(()),
            Ok(code) => Err(format!("POST /moto-api/reset answered HTTP {code}")),
            Err(e) => Err(format!("POST /moto-api/reset failed: {e}")),
        }
    }

    /// Seed a fresh server with the organization described on [`Seed`], with `spokes`
    /// spoke accounts in the `eks` OU. The organization is new (`--fresh`): the SCP policy
    /// type is not enabled on its root and StackSets' trusted access is not activated, so
    /// eksmgr's own plan enables both, as on a real new organization.
    pub fn seed(&self, spokes: usize) -> Result<Seed, String> {
        let stdout = self.run_seed_script(&["--spokes", &spokes.to_string(), "--fresh"])?;
        serde_json::from_str(&stdout)
            .map_err(|e| format!("seed_emulator.py printed unexpected JSON ({e}): {stdout}"))
    }

    /// Create one more spoke account in the `eks` OU of an already seeded server.
    pub fn add_spoke(&self) -> Result<Spoke, String> {
        let stdout = self.run_seed_script(&["--add-spoke"])?;
        serde_json::from_str(&stdout).map_err(|e| {
            format!("seed_emulator.py --add-spoke printed unexpected JSON ({e}): {stdout}")
        })
    }

    fn run_seed_script(&self, args: &[&str]) -> Result<String, String> {
        let python = &self.python;
        let script = paths::seed_script();
        let mut command = Command::new(python);
        // The script isolates itself from local AWS config too; belt and braces.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                command.env_remove(key);
            }
        }
        let output = command
            .arg(&script)
            .args(["--endpoint", &self.endpoint])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!(
                    "cannot run {} {}: {e}; run `bash scripts/setup-emulator.sh`",
                    python.display(),
                    script.display()
                )
            })?;
        if !output.status.success() {
            return Err(format!(
                "{} {} {} failed ({}):\n{}",
                python.display(),
                script.display(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        String::from_utf8(output.stdout)
            .map(|s| s.trim().to_owned())
            .map_err(|e| format!("seed_emulator.py printed non-UTF-8 output: {e}"))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Already exited, or killed now; either way reap it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum StartError {
    /// Worth another try on a new port.
    Retry(String),
    /// Trying again would not help.
    Fatal(String),
}

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot bind 127.0.0.1:0 to find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot read the bound port: {e}"))
}

fn http_get_status(port: u16, path: &str) -> Result<u16, String> {
    http_request(port, "GET", path)
}

/// A minimal HTTP/1.0 request to 127.0.0.1:`port`; returns the status code.
fn http_request(port: u16, method: &str, path: &str) -> Result<u16, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let request =
        format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut head[read..]).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        read += n;
    }
    // "HTTP/1.x NNN ..."
    let text = String::from_utf8_lossy(&head[..read]);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {text:?}"))
}
