//! Runs the compiled `eksmgr` binary in a work directory against the emulator.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::env::env_for;
use crate::paths;

/// How long one `eksmgr` run may take before it is killed, unless changed with
/// [`Eksmgr::timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What one `eksmgr` run produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status.
    pub status: ExitStatus,
    /// The exit code; `None` when the process was ended by a signal.
    pub code: Option<i32>,
    /// Standard output (lossily decoded).
    pub stdout: String,
    /// Standard error (lossily decoded).
    pub stderr: String,
    /// Standard output as written, byte for byte.
    pub stdout_bytes: Vec<u8>,
    /// Standard error as written, byte for byte.
    pub stderr_bytes: Vec<u8>,
}

impl Output {
    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

impl fmt::Display for Output {
    /// The exit status and both streams, for assertion messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "eksmgr exited with {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// The `eksmgr` binary, run in `workdir` with the emulator's environment (see
/// [`env_for`]), every other inherited `AWS_*` variable removed, and stdin null.
#[derive(Debug, Clone)]
pub struct Eksmgr {
    binary: PathBuf,
    workdir: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl Eksmgr {
    /// A runner for `workdir` and the emulator at `endpoint`. Fails, saying to run
    /// `cargo build -p eksmgr`, when the binary has not been built.
    pub fn new(workdir: impl Into<PathBuf>, endpoint: &str) -> Result<Eksmgr, String> {
        Ok(Self::with_binary(
            paths::eksmgr_binary()?,
            workdir,
            endpoint,
        ))
    }

    /// Like [`Eksmgr::new`] with an explicit binary (a wrapper script, another build).
    pub fn with_binary(
        binary: impl Into<PathBuf>,
        workdir: impl Into<PathBuf>,
        endpoint: &str,
    ) -> Eksmgr {
        Eksmgr {
            binary: binary.into(),
            workdir: workdir.into(),
            env: env_for(endpoint),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Add (or override) an environment variable for every later run.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Change how long one run may take before it is killed (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The work directory runs start in.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The binary being run.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The path of `eksmgr.toml` in the work directory.
    pub fn config_path(&self) -> PathBuf {
        self.workdir.join("eksmgr.toml")
    }

    /// Write `contents` to `eksmgr.toml` in the work directory, after checking it against the
    /// JSON Schema when eksmgr accepts it ([`crate::schema`]); returns its path.
    pub fn write_config(&self, contents: &str) -> Result<PathBuf, String> {
        crate::schema::check_config(contents)?;
        self.write_file("eksmgr.toml", contents)
    }

    /// Write `contents` to `name` (relative to the work directory); returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf, String> {
        let path = self.workdir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::write(&path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    /// The same runner with eksmgr started by a shell wrapper, written to `name` in the work
    /// directory, that runs the shell commands `preamble` first (e.g. `trap '' INT` to start
    /// it with SIGINT ignored, `ulimit -f 4` for a small disk), then execs the binary.
    pub fn wrapped(&self, name: &str, preamble: &str) -> Result<Eksmgr, String> {
        let script = self.write_file(
            name,
            &format!(
                "#!/bin/sh\n{preamble}\nexec '{}' \"$@\"\n",
                self.binary.display()
            ),
        )?;
        let mut perms = fs::metadata(&script)
            .map_err(|e| format!("cannot stat {}: {e}", script.display()))?
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(&script, perms)
            .map_err(|e| format!("cannot make {} executable: {e}", script.display()))?;
        Ok(Eksmgr {
            binary: script,
            ..self.clone()
        })
    }

    /// Run `eksmgr ARGS...` to completion (or until the timeout, when it is killed and an
    /// error returned). A non-zero exit is not an error: check [`Output::code`].
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output, String> {
        self.spawn(args)?.wait(self.timeout)
    }

    /// Start `eksmgr ARGS...` and return at once: the test decides when it ends.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Running, String> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .current_dir(&self.workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                command.env_remove(key);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));

        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Ok(Running {
            child,
            stdout,
            stderr,
            shown: shown.join(" "),
        })
    }
}

/// An eksmgr process started by [`Eksmgr::spawn`].
pub struct Running {
    child: Child,
    stdout: Drain,
    stderr: Drain,
    shown: String,
}

impl Running {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// What the process wrote on stderr so far (lossily decoded).
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.so_far()).into_owned()
    }

    /// Waits until the process has written `needle` on stderr: `Ok(true)` when it has, `Ok(false)`
    /// when it exited or `timeout` passed without writing it.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> Result<bool, String> {
        self.poll(timeout, |r| r.stderr_so_far().contains(needle));
        // Read once more: the last lines may have come with the exit.
        Ok(self.stderr_so_far().contains(needle))
    }

    /// Waits until `done` holds (a proxy counter, a file appearing): an error naming `what`,
    /// with what the process wrote on stderr, if it exits or `timeout` passes first.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut() -> bool,
    ) -> Result<(), String> {
        if self.poll(timeout, |_| done()) {
            return Ok(());
        }
        Err(format!(
            "eksmgr {} never reached {what}; stderr so far:\n{}",
            self.shown,
            self.stderr_so_far()
        ))
    }

    /// Waits up to `timeout` for the process to exit; whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        self.poll(timeout, |_| false);
        self.exited()
    }

    /// Checks `done` every 10 ms until it holds (`true`), the process exits or `timeout`
    /// passes (`false`): the one polling loop of the runner.
    fn poll(&mut self, timeout: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if self.exited() || Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (a name such as `INT` or `TERM`) to the process.
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill -{signal}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{signal} {} failed: {status}", self.pid()))
        }
    }

    /// Kills the process with SIGKILL (no handler runs, nothing is flushed) and collects it.
    pub fn kill(mut self) -> Result<Output, String> {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .map_err(|e| format!("eksmgr {}: cannot wait for the process: {e}", self.shown))?;
        Ok(self.output(status))
    }

    /// Waits for the process to exit (killing it after `timeout`, which is an error).
    pub fn wait(mut self, timeout: Duration) -> Result<Output, String> {
        let status = wait_with_timeout(&mut self.child, timeout)
            .map_err(|e| format!("eksmgr {}: {e}", self.shown))?;
        Ok(self.output(status))
    }

    fn output(self, status: ExitStatus) -> Output {
        let stdout_bytes = self.stdout.finish();
        let stderr_bytes = self.stderr.finish();
        Output {
            status,
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stderr: String::from_utf8_lossy(&stderr_bytes).into_owned(),
            stdout_bytes,
            stderr_bytes,
        }
    }
}

/// A child's pipe read to the end on a thread, so neither pipe can fill up and block it; what
/// was read so far can be looked at while the child runs.
struct Drain {
    read: Arc<Mutex<Vec<u8>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drain {
    /// The bytes read so far.
    fn so_far(&self) -> Vec<u8> {
        self.read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits for the pipe to close; every byte read.
    fn finish(mut self) -> Vec<u8> {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.read.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Drain {
    let read = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&read);
    let thread = pipe.map(|mut pipe| {
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        })
    });
    Drain { read, thread }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "killed after {}s without finishing",
                    timeout.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for the process: {e}")),
        }
    }
}
