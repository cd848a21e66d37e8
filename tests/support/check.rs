//! Small helpers for test assertions: error mapping into `String` errors with what was being
//! done, a condition check, reading a policy document as IAM returns it, and checking the
//! requests eksmgr sent against botocore's service models.

use std::fmt::Display;

use aws_sdk_sts::error::DisplayErrorContext;
use serde_json::Value;

/// Maps an SDK error to a message naming what was being done, with all its causes.
pub fn sdk_err<E: std::error::Error>(what: impl Display) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {}", DisplayErrorContext(&e))
}

/// Maps any displayable error to a message naming what was being done.
pub fn err<E: Display>(what: impl Display) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

/// `Err(message())` unless `condition` holds.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

/// A policy document as JSON, URL-decoding it first when IAM returned it encoded.
pub fn policy_document(doc: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str(doc) {
        return Ok(v);
    }
    let decoded = percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .map_err(err("policy document is not UTF-8"))?;
    serde_json::from_str(&decoded).map_err(err(format!("policy document is not JSON: {doc}")))
}

/// Checks every request eksmgr sent that the emulator logged in `log`
/// (`EKSMGR_EMULATOR_REQUEST_LOG`) against botocore's service models, with
/// `scripts/check_requests.py` run by the emulator's Python: what real AWS would refuse fails.
pub fn check_requests(moto: &crate::MotoServer, log: &std::path::Path) -> Result<(), String> {
    let script = crate::repo_root().join("scripts/check_requests.py");
    let out = std::process::Command::new(moto.python())
        .arg(&script)
        .arg(log)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    // The per-operation summary, for the test's log.
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    ensure(out.status.success(), || {
        format!(
            "requests AWS's service models refuse ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
