//! The one place SDK errors become [`ProviderError`]s: with the account, the resource, the
//! API call, the service's error code and message, a classification and a hint.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use eksmgr_engine::provider::{ErrorKind, ProviderError};

/// Context of a call: where and what.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Account the call is made in.
    pub account: &'a str,
    /// Resource being worked on.
    pub resource: &'a str,
    /// `service:Operation`.
    pub api: &'a str,
}

impl<'a> Call<'a> {
    /// A call context.
    pub fn new(account: &'a str, resource: &'a str, api: &'a str) -> Self {
        Call {
            account,
            resource,
            api,
        }
    }

    /// An error of this call with a given kind and message.
    pub fn error(
        &self,
        kind: ErrorKind,
        message: impl Into<String>,
        hint: Option<&str>,
    ) -> ProviderError {
        ProviderError {
            account: self.account.to_string(),
            resource: self.resource.to_string(),
            api_call: self.api.to_string(),
            message: message.into(),
            hint: hint.map(str::to_string),
            kind,
        }
    }

    /// The error of a resource (`what`: "role", "access entry" ...) not found right after eksmgr
    /// wrote it: someone else deleted it meanwhile.
    pub fn vanished(&self, what: &str) -> ProviderError {
        self.error(
            ErrorKind::NotFound,
            format!("the {what} was not found right after it was written"),
            Some("someone else may be changing it; run `eksmgr plan` again"),
        )
    }
}

/// The service error code of an SDK error, if the service answered.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// Maps an SDK error.
pub fn map<E, R>(call: Call<'_>, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown").to_string();
            let msg = se.err().message().unwrap_or("").to_string();
            let (kind, hint) = classify(&code);
            call.error(kind, format!("{code}: {msg}"), hint)
        }
        SdkError::TimeoutError(_) => call.error(
            ErrorKind::Transient,
            "the call timed out",
            Some(
                "AWS did not answer in time; run again, or check the network and AWS_ENDPOINT_URL",
            ),
        ),
        SdkError::DispatchFailure(_) => {
            let text = chain(&err);
            if text.contains("credential") || text.contains("AssumeRole") {
                call.error(
                    ErrorKind::AccessDenied,
                    format!("could not get credentials: {text}"),
                    Some("check the credentials eksmgr runs with (AWS_PROFILE, AWS_ACCESS_KEY_ID ...) and that the role can be assumed"),
                )
            } else {
                call.error(
                    ErrorKind::Transient,
                    format!("the request could not be sent: {text}"),
                    Some("check the network, the region and AWS_ENDPOINT_URL"),
                )
            }
        }
        _ => {
            let text = chain(&err);
            let (kind, hint) = if text.contains("credential") {
                (
                    ErrorKind::AccessDenied,
                    Some("check the credentials eksmgr runs with and that the role can be assumed"),
                )
            } else {
                (ErrorKind::Other, None)
            };
            call.error(kind, text, hint)
        }
    }
}

/// An error and its causes as one line, each cause once, without debug dumps.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

fn classify(code: &str) -> (ErrorKind, Option<&'static str>) {
    let c = code;
    if c.starts_with("AccessDenied")
        || c == "UnauthorizedOperation"
        || c == "InvalidClientTokenId"
        || c == "ExpiredToken"
        || c == "UnrecognizedClientException"
        || c == "AWSOrganizationsNotInUseException"
    {
        (
            ErrorKind::AccessDenied,
            Some(
                "the identity eksmgr used lacks permission here: check its policies, the role trust policy and any SCP",
            ),
        )
    } else if c.contains("NotFound") || c == "NoSuchEntity" {
        (ErrorKind::NotFound, None)
    } else if c.starts_with("Throttl")
        || c == "TooManyRequestsException"
        || c == "RequestLimitExceeded"
    {
        (
            ErrorKind::Throttled,
            Some("AWS is throttling this account; lower --account-parallelism or run again later"),
        )
    } else if c.contains("AlreadyExists")
        || c.starts_with("Duplicate")
        || c == "NameExists"
        || c.contains("ConcurrentModification")
        || c == "OperationInProgressException"
    {
        (
            ErrorKind::Conflict,
            Some(
                "another change is in progress or the resource exists already; run `eksmgr plan` again",
            ),
        )
    } else if c.contains("Validation")
        || c.starts_with("Malformed")
        || c.contains("LimitExceeded")
        || c.starts_with("Invalid")
        || c == "ConstraintViolationException"
    {
        (
            ErrorKind::Invalid,
            Some("AWS rejected the request as invalid; check the configuration values named above"),
        )
    } else if c.contains("ServiceFailure")
        || c.contains("ServiceUnavailable")
        || c.contains("InternalFailure")
    {
        (
            ErrorKind::Transient,
            Some("AWS had a service-side failure; run again"),
        )
    } else {
        (ErrorKind::Other, None)
    }
}
