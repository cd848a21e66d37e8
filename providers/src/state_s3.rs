//! The objects of the S3 state backend: the state, its lock and the journal of an apply under
//! way, read and written with S3 conditional requests.
//!
//! - `KEY`: the state, written with `If-Match` the ETag this run read (or `If-None-Match: *`
//!   when there was none), so a write never silently replaces a state someone else wrote;
//! - `KEY.lock`: the lock, created with `If-None-Match: *` (S3 refuses the write with
//!   `412 Precondition Failed` when the object exists, atomically, as Terraform's S3 backend
//!   locks since 1.10) and removed with `If-Match` its own ETag, so a run only ever removes
//!   the lock it took;
//! - `KEY.journal.SERIAL.PART`: the journal of an apply under way that continues the state of
//!   serial `SERIAL`, uploaded as it grows in parts (`PART` from `000000`, each the lines
//!   appended since the part before), so a run that dies on one machine loses nothing for the
//!   next run on another, and an apply uploads each line once: a long apply uploads its
//!   journal's size, not that size once per completed operation. Naming the parts by the
//!   state's serial keeps every journal apart from the next: parts a crash left undeleted are
//!   never read as, or mistaken for, a later apply's.
//!
//! This module knows objects and ETags only; what is in them is the CLI's and the state
//! crate's business.

use aws_sdk_s3::primitives::ByteStream;
use aws_types::SdkConfig;
use eksmgr_engine::provider::{ErrorKind, ProviderError};

use crate::error::{Call, code, map};

/// Where the state lives in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key of the state object.
    pub key: String,
    /// The bucket's region.
    pub region: String,
    /// Address the bucket in the URL path, not the host name.
    pub path_style: bool,
}

impl S3Location {
    /// `s3://BUCKET/KEY`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// One of the backend's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateObject {
    /// The state itself (`KEY`).
    State,
    /// The lock (`KEY.lock`).
    Lock,
    /// A part of the journal of an apply under way (`KEY.journal.SERIAL.PART`).
    Journal {
        /// The serial of the state the journal continues.
        base_serial: u64,
        /// The part's number, from 0.
        part: u32,
    },
}

impl StateObject {
    fn suffix(self) -> String {
        match self {
            StateObject::State => String::new(),
            StateObject::Lock => ".lock".to_string(),
            StateObject::Journal { base_serial, part } => {
                format!(".journal.{base_serial}.{part:06}")
            }
        }
    }
}

/// How many journal parts are read, or removed, at once.
const JOURNAL_PARTS_AT_ONCE: usize = 8;

/// An object's body and ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The body.
    pub body: Vec<u8>,
    /// The ETag (quoted, as S3 returns it).
    pub etag: String,
}

/// The condition of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Write whatever is there.
    Always,
    /// Only if the object does not exist (`If-None-Match: *`).
    Absent,
    /// Only if the object is exactly this version (`If-Match: ETAG`).
    Matches(String),
}

/// What a conditional write or delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Done; the object's new ETag (empty for a delete).
    Done(String),
    /// The condition did not hold (412 Precondition Failed, or the object to match is gone):
    /// nothing was changed.
    ConditionFailed,
}

/// The S3 objects of one state.
#[derive(Debug, Clone)]
pub struct S3StateStore {
    client: aws_sdk_s3::Client,
    location: S3Location,
}

/// The account calls are counted under in `--stats`: the caller's credentials sign them.
const STATS_ACCOUNT: &str = "caller";
/// The session name of the `[state] role_arn` role (CloudTrail shows it).
const STATE_SESSION_NAME: &str = "eksmgr-state";
/// How long the state role's credentials last; they are renewed before they expire.
const STATE_SESSION_LENGTH: std::time::Duration = std::time::Duration::from_secs(3600);

impl S3StateStore {
    /// A store for `location`, with the caller's configuration `base` (credentials, endpoint,
    /// HTTP client); the bucket's region and addressing style come from `location`.
    pub fn new(base: &SdkConfig, location: S3Location) -> Self {
        let config = aws_sdk_s3::config::Builder::from(base)
            .region(aws_types::region::Region::new(location.region.clone()))
            .force_path_style(location.path_style)
            .interceptor(crate::stats::global().interceptor(STATS_ACCOUNT))
            .build();
        S3StateStore {
            client: aws_sdk_s3::Client::from_conf(config),
            location,
        }
    }

    /// A store for `location` reached with the caller's configuration `base`, or, with
    /// `role_arn` (`[state] role_arn`), with that role assumed from it: a bucket in another
    /// account (a shared-services or security account) then needs no bucket policy for the
    /// caller. The role is assumed at once, so a role that cannot be assumed is reported
    /// before anything is read.
    pub async fn connect(
        base: &SdkConfig,
        location: S3Location,
        role_arn: Option<&str>,
    ) -> Result<Self, ProviderError> {
        let Some(role_arn) = role_arn else {
            return Ok(S3StateStore::new(base, location));
        };
        let credentials = crate::sessions::assumed_credentials(
            crate::sessions::sts_client(base),
            role_arn,
            STATE_SESSION_NAME,
            STATE_SESSION_LENGTH,
            crate::stats::global(),
        )
        .await
        .map_err(|message| {
            let hint = format!(
                "the state in {} is reached by assuming {role_arn} ([state] role_arn) with the caller's credentials: check that the role exists, trusts the caller, and allows s3:GetObject, s3:PutObject and s3:DeleteObject on the state, lock and journal objects",
                location.url()
            );
            Call::new(STATS_ACCOUNT, role_arn, "sts:AssumeRole").error(
                ErrorKind::AccessDenied,
                message,
                Some(&hint),
            )
        })?;
        let conf = base.to_builder().credentials_provider(credentials).build();
        Ok(S3StateStore::new(&conf, location))
    }

    /// Where the state lives.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    /// The key of `object`.
    pub fn key(&self, object: StateObject) -> String {
        format!("{}{}", self.location.key, object.suffix())
    }

    /// `s3://BUCKET/KEY` of `object`.
    pub fn url(&self, object: StateObject) -> String {
        format!("s3://{}/{}", self.location.bucket, self.key(object))
    }

    fn call<'a>(&'a self, resource: &'a str, api: &'a str) -> Call<'a> {
        Call::new(STATS_ACCOUNT, resource, api)
    }

    /// Reads `object`; `None` if it does not exist.
    pub async fn get(&self, object: StateObject) -> Result<Option<Fetched>, ProviderError> {
        let url = self.url(object);
        let out = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(self.key(object))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if matches!(code(&e), Some("NoSuchKey" | "NotFound")) => return Ok(None),
            Err(e) => return Err(self.explain(map(self.call(&url, "s3:GetObject"), e))),
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let body = out.body.collect().await.map_err(|e| {
            self.call(&url, "s3:GetObject").error(
                ErrorKind::Transient,
                format!("the object could not be read to its end: {e}"),
                Some("check the network and run again"),
            )
        })?;
        Ok(Some(Fetched {
            body: body.into_bytes().to_vec(),
            etag,
        }))
    }

    /// Writes `body` to `object` if `condition` holds.
    pub async fn put(
        &self,
        object: StateObject,
        body: Vec<u8>,
        condition: &Condition,
    ) -> Result<Written, ProviderError> {
        let url = self.url(object);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.key(object))
            .content_type(match object {
                StateObject::Journal { .. } => "application/x-ndjson",
                _ => "application/json",
            })
            .body(ByteStream::from(body));
        match condition {
            Condition::Always => {}
            Condition::Absent => req = req.if_none_match("*"),
            Condition::Matches(etag) => req = req.if_match(etag),
        }
        match req.send().await {
            Ok(out) => Ok(Written::Done(out.e_tag().unwrap_or_default().to_string())),
            Err(e) if is_condition_failure(code(&e), condition) => Ok(Written::ConditionFailed),
            Err(e) => Err(self.explain(map(self.call(&url, "s3:PutObject"), e))),
        }
    }

    /// Removes `object` if it is the version `etag` (any version when `None`). Removing an
    /// object that is not there succeeds, as in S3.
    pub async fn delete(
        &self,
        object: StateObject,
        etag: Option<&str>,
    ) -> Result<Written, ProviderError> {
        let url = self.url(object);
        let mut req = self
            .client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(self.key(object));
        if let Some(etag) = etag {
            req = req.if_match(etag);
        }
        let condition = etag.map_or(Condition::Always, |e| Condition::Matches(e.to_string()));
        match req.send().await {
            Ok(_) => Ok(Written::Done(String::new())),
            Err(e) if is_condition_failure(code(&e), &condition) => Ok(Written::ConditionFailed),
            Err(e) => Err(self.explain(map(self.call(&url, "s3:DeleteObject"), e))),
        }
    }

    /// The parts of the journal that continues the state of serial `base_serial`, in order,
    /// up to the first that is missing (none when there is no journal).
    pub async fn get_journal(&self, base_serial: u64) -> Result<Vec<Vec<u8>>, ProviderError> {
        let mut parts = Vec::new();
        loop {
            let first = u32::try_from(parts.len()).unwrap_or(u32::MAX);
            let batch = futures::future::join_all((0..JOURNAL_PARTS_AT_ONCE as u32).map(|i| {
                self.get(StateObject::Journal {
                    base_serial,
                    part: first.saturating_add(i),
                })
            }))
            .await;
            for fetched in batch {
                match fetched? {
                    Some(f) => parts.push(f.body),
                    None => return Ok(parts),
                }
            }
        }
    }

    /// Removes the first `parts` parts of the journal that continues the state of serial
    /// `base_serial`.
    pub async fn delete_journal(&self, base_serial: u64, parts: u32) -> Result<(), ProviderError> {
        use futures::StreamExt;
        let mut deletions = futures::stream::iter(0..parts)
            .map(|part| self.delete(StateObject::Journal { base_serial, part }, None))
            .buffer_unordered(JOURNAL_PARTS_AT_ONCE);
        while let Some(deleted) = deletions.next().await {
            deleted?;
        }
        Ok(())
    }

    /// Adds the hint that names the bucket and the backend's settings.
    fn explain(&self, mut err: ProviderError) -> ProviderError {
        let hint = match err.kind {
            ErrorKind::NotFound => Some(format!(
                "the bucket {} does not exist in {} (or the credentials cannot see it): create it, or fix [state] bucket and region in eksmgr.toml",
                self.location.bucket, self.location.region
            )),
            ErrorKind::AccessDenied => Some(format!(
                "the caller's credentials need s3:GetObject, s3:PutObject and s3:DeleteObject on s3://{}/{}*",
                self.location.bucket, self.location.key
            )),
            ErrorKind::Transient if !self.location.path_style => Some(
                "check the network and the region; an S3-compatible store or an emulator needs `use_path_style = true` in [state]".to_string(),
            ),
            _ => None,
        };
        if let Some(hint) = hint {
            err.hint = Some(hint);
        }
        err
    }
}

/// Whether an error code means the write's condition did not hold. With `If-Match`, S3
/// answers 404 NoSuchKey when the object is gone, which is the same "not the version you
/// expected".
fn is_condition_failure(code: Option<&str>, condition: &Condition) -> bool {
    match code {
        Some("PreconditionFailed") => true,
        // A concurrent conditional write to the same key won (S3 answers 409 to the loser).
        Some("ConditionalRequestConflict") => true,
        Some("NoSuchKey" | "NotFound") => matches!(condition, Condition::Matches(_)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_urls_name_the_three_objects() {
        let base = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let store = S3StateStore::new(
            &base,
            S3Location {
                bucket: "team-state".into(),
                key: "prod/eksmgr.state.json".into(),
                region: "eu-west-1".into(),
                path_style: false,
            },
        );
        assert_eq!(store.key(StateObject::State), "prod/eksmgr.state.json");
        assert_eq!(
            store.url(StateObject::Lock),
            "s3://team-state/prod/eksmgr.state.json.lock"
        );
        assert_eq!(
            store.url(StateObject::Journal {
                base_serial: 42,
                part: 7
            }),
            "s3://team-state/prod/eksmgr.state.json.journal.42.000007"
        );
        assert_eq!(
            store.location().url(),
            "s3://team-state/prod/eksmgr.state.json"
        );
    }

    #[test]
    fn only_a_failed_condition_counts_as_one() {
        let matches = Condition::Matches("\"abc\"".into());
        assert!(is_condition_failure(
            Some("PreconditionFailed"),
            &Condition::Absent
        ));
        assert!(is_condition_failure(
            Some("ConditionalRequestConflict"),
            &Condition::Absent
        ));
        assert!(is_condition_failure(Some("NoSuchKey"), &matches));
        assert!(!is_condition_failure(Some("NoSuchKey"), &Condition::Always));
        assert!(!is_condition_failure(Some("AccessDenied"), &matches));
        assert!(!is_condition_failure(None, &matches));
    }
}
