//! The Kubernetes API emulator beside moto (`scripts/emulator/kube_api.py`): started with
//! `EKSMGR_EMULATOR_KUBE_PORT`, it answers each cluster's API at
//! `https://127.0.0.1:PORT/clusters/ACCOUNT/REGION/NAME`. Tests drive its control endpoints
//! (a cluster down or up, objects made by hand) through the emulator's own Python, trusting
//! only the CA the emulator serves.

use std::process::Command;

use crate::MotoServer;

/// The control path of a cluster: `/_emulator/clusters/ACCOUNT/REGION/NAME`.
pub fn control_path(account: &str, region: &str, cluster: &str) -> String {
    format!("/_emulator/clusters/{account}/{region}/{cluster}")
}

/// POSTs `body` (JSON, may be empty) to `path` of the Kubernetes API emulator on `port`,
/// verifying its certificate against `ca_pem`; returns the response body.
pub fn control(
    moto: &MotoServer,
    port: u16,
    ca_pem: &str,
    path: &str,
    body: &str,
) -> Result<String, String> {
    const SCRIPT: &str = r#"
import ssl, sys, urllib.request
port, path, ca, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cadata=ca)
req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=body.encode(), method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
    sys.stdout.write(r.read().decode())
"#;
    let out = Command::new(moto.python())
        .args(["-c", SCRIPT, &port.to_string(), path, ca_pem, body])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", moto.python().display()))?;
    if !out.status.success() {
        return Err(format!(
            "POST {path} to the Kubernetes API emulator failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
