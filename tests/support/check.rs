//! Small helpers for test assertions: error mapping into `String` errors with what was being
//! done, a condition check, and reading a policy document as IAM returns it.

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
