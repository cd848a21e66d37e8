//! IAM is eventually consistent: a role created seconds ago may not be visible yet to the
//! services that check it. EKS then refuses `CreateCluster` ("Role with arn ... could not be
//! assumed because it does not exist or the trusted entity is not correct") and access
//! entries and pod identity associations; ECR refuses a repository policy naming the role
//! ("Principal not found"). AWS's advice is to retry: such calls are retried here, backing off,
//! within a bound, and the wait is reported as progress.
//!
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency>

use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use eksmgr_state::ResourceAddress;

use crate::Progress;

/// How a call waits for a new IAM principal to become visible: the first retry after `first`,
/// each later delay doubled up to `longest`, for at most `max` in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    /// Delay before the first retry.
    pub first: Duration,
    /// Longest delay between two tries.
    pub longest: Duration,
    /// Longest total wait.
    pub max: Duration,
}

impl Propagation {
    /// IAM usually settles within seconds, sometimes a minute: 2 s, 4 s, 8 s, then every
    /// 15 s, for at most 2 minutes.
    pub const fn production() -> Self {
        Propagation {
            first: Duration::from_secs(2),
            longest: Duration::from_secs(15),
            max: Duration::from_secs(120),
        }
    }

    /// For tests: no real waiting.
    pub const fn for_tests() -> Self {
        Propagation {
            first: Duration::from_millis(1),
            longest: Duration::from_millis(4),
            max: Duration::from_millis(50),
        }
    }
}

/// Whether a service refused an IAM principal it cannot see yet: `InvalidParameterException`
/// naming a role or principal that does not exist, cannot be found or assumed.
pub fn not_yet_visible<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    let SdkError::ServiceError(se) = e else {
        return false;
    };
    let message = se.err().message().unwrap_or_default().to_ascii_lowercase();
    // EC2 refuses an instance profile (or its role) IAM has not propagated to it yet: "Value
    // (NAME) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile
    // name", or 'IAM Instance Profile "ARN" has no associated IAM Roles'.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_iam-ec2.html
    if se.err().code() == Some("InvalidParameterValue") && message.contains("iam instance profile")
    {
        return true;
    }
    se.err().code() == Some("InvalidParameterException")
        && (message.contains("principal") || message.contains("role"))
        && (message.contains("not found")
            || message.contains("does not exist")
            || message.contains("could not be found")
            || message.contains("could not be assumed"))
}

/// Sends `send` again while the answer is [`not_yet_visible`], as `wait` says; each wait is
/// reported through `progress` (when given) for `address`.
pub async fn retry<T, E, R, F, Fut>(
    wait: Propagation,
    progress: Option<(&Progress, &ResourceAddress)>,
    call: &str,
    mut send: F,
) -> Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, R>>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = wait.first;
    loop {
        match send().await {
            Err(e) if not_yet_visible(&e) && start.elapsed() + delay <= wait.max => {
                if let Some((report, address)) = progress {
                    report(
                        address,
                        &format!(
                            "{call}: IAM has not propagated a new role yet; trying again in {}s ({}s of at most {}s waited)",
                            delay.as_secs(),
                            start.elapsed().as_secs(),
                            wait.max.as_secs()
                        ),
                    );
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(wait.longest);
            }
            other => return other,
        }
    }
}
