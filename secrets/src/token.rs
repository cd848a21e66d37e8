//! EKS bearer tokens, as `aws eks get-token` makes them: `k8s-aws-v1.` and the unpadded
//! base64url of an STS `GetCallerIdentity` URL presigned (SigV4 in the query) with the header
//! `x-k8s-aws-id: CLUSTER` signed in and 60 seconds of validity. The cluster replays the URL
//! to STS to learn who is calling
//! (<https://docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html>,
//! <https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster>).
//! Signed with the SDK's own signer (`aws-sigv4`).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The token prefix aws-iam-authenticator recognises.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header naming the cluster, signed into the URL.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long the presigned URL is valid (`aws eks get-token` uses 60 seconds; the cluster
/// accepts a token for 15 minutes after it was signed).
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the EKS token: {0}")]
pub struct TokenError(String);

/// The STS endpoint the URL is presigned for: the SDK's endpoint override when one is set
/// (`AWS_ENDPOINT_URL`), else the regional STS endpoint of the partition.
pub fn sts_endpoint(override_url: Option<&str>, region: &str, partition: &str) -> String {
    match override_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let suffix = match partition {
                "aws-cn" => "amazonaws.com.cn",
                _ => "amazonaws.com",
            };
            format!("https://sts.{region}.{suffix}")
        }
    }
}

/// The bearer token for `cluster`, signed with `credentials` for STS in `region` at `now`.
pub fn eks_token(
    credentials: Credentials,
    region: &str,
    cluster: &str,
    endpoint: &str,
    now: SystemTime,
) -> Result<String, TokenError> {
    let url = format!("{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| TokenError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "GET",
        &url,
        [(CLUSTER_ID_HEADER, cluster)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| TokenError(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| TokenError(e.to_string()))?
        .into_parts();
    let mut request = http::Request::builder()
        .method("GET")
        .uri(&url)
        .header(CLUSTER_ID_HEADER, cluster)
        .body(())
        .map_err(|e| TokenError(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(request.uri().to_string())
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_is_a_presigned_get_caller_identity_naming_the_cluster() {
        let creds = Credentials::new("ASIAEXAMPLE", "secret", Some("session".into()), None, "t");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let token = eks_token(
            creds,
            "eu-west-1",
            "workloads",
            &sts_endpoint(None, "eu-west-1", "aws"),
            at,
        )
        .unwrap();
        let url = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(token.strip_prefix(TOKEN_PREFIX).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
            ),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=ASIAEXAMPLE%2F20231114%2Feu-west-1%2Fsts%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} not in {url}");
        }
        assert!(!token.contains('='), "unpadded");
        assert_eq!(
            sts_endpoint(Some("http://127.0.0.1:5000/"), "eu-west-1", "aws"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            sts_endpoint(None, "cn-north-1", "aws-cn"),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
    }
}
