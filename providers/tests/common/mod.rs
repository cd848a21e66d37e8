//! What the SDK-boundary tests share: a client of an AWS SDK crate whose calls are answered by
//! `aws-smithy-mocks` rules, with test credentials and no retries.

/// A client of SDK crate `$sdk` in `$region`, answered by `$rules` under `$mode`.
macro_rules! mock_client {
    ($sdk:ident, $mode:expr, $rules:expr, $region:literal) => {{
        let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode($mode);
        for r in $rules {
            interceptor = interceptor.with_rule(r);
        }
        let conf = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new($region))
            .credentials_provider($sdk::config::Credentials::new(
                "a", "b", None, None, "mocks",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .retry_config($sdk::config::retry::RetryConfig::disabled())
            .interceptor(interceptor)
            .build();
        $sdk::Client::from_conf(conf)
    }};
}
pub(crate) use mock_client;

/// An `InvalidParameterException` (type `$exception` of the SDK crate) saying `$message`, with
/// the error code the service sends.
#[allow(unused_macros)] // not every test file refuses a parameter
macro_rules! invalid_parameter {
    ($exception:ty, $message:expr) => {
        <$exception>::builder()
            .message($message)
            .meta(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("InvalidParameterException")
                    .message($message)
                    .build(),
            )
            .build()
    };
}
#[allow(unused_imports)]
pub(crate) use invalid_parameter;
