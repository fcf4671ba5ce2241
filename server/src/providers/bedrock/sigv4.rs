//! AWS Signature Version 4 for Bedrock requests, by the AWS SDK's own
//! `aws-sigv4` crate: the request is signed over its exact URL (already
//! percent-encoded; the canonical path is encoded once more, as SigV4
//! requires for every service but S3), its headers and its body bytes.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderName, HeaderValue};

use crate::providers::http::Request;

/// Bedrock's signing name (its host is `bedrock-runtime.…`, the name is not).
pub const SERVICE: &str = "bedrock";

/// Signs for one region and service, with whatever credentials are current.
pub struct Signer {
    region: String,
    service: &'static str,
}

impl Signer {
    pub fn new(region: &str, service: &'static str) -> Self {
        Self {
            region: region.to_owned(),
            service,
        }
    }

    /// Adds `x-amz-date`, `authorization` and (with a session token)
    /// `x-amz-security-token` to `request`.
    pub fn sign(
        &self,
        identity: &Identity,
        request: &mut Request,
        time: SystemTime,
    ) -> Result<(), String> {
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let url = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            &url,
            headers.into_iter(),
            SignableBody::Bytes(request.body()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let (headers, _query) = instructions.into_parts();
        for header in headers {
            let name = HeaderName::from_static(header.name());
            let mut value = HeaderValue::from_str(header.value()).map_err(|e| e.to_string())?;
            value.set_sensitive(header.sensitive());
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::config::{AwsCredentials, Secret};

    /// 2015-08-30T12:36:00Z, the time of AWS's published test suite.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn suite_identity(session_token: Option<&str>) -> Identity {
        super::super::credentials::static_identity(&AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: session_token.map(Secret::new),
        })
    }

    fn authorization(
        identity: &Identity,
        service: &'static str,
        method: &str,
        url: &str,
        body: &[u8],
    ) -> Request {
        let mut request = Request::new(bytes::Bytes::copy_from_slice(body));
        *request.method_mut() = method.parse().expect("method");
        *request.uri_mut() = url.parse().expect("url");
        if !body.is_empty() {
            request
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
        }
        Signer::new("us-east-1", service)
            .sign(identity, &mut request, suite_time())
            .expect("signs");
        request
    }

    fn header<'a>(request: &'a Request, name: &str) -> &'a str {
        request.headers()[name].to_str().expect("ascii")
    }

    /// The published vectors of AWS's SigV4 test suite (aws-c-auth
    /// `aws-signing-test-suite/v4`, shipped with the aws-sigv4 crate):
    /// get-vanilla, post-vanilla and get-vanilla-with-session-token.
    #[test]
    fn published_test_vectors() {
        let vectors = [
            (
                "GET",
                None,
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                "host;x-amz-date",
            ),
            (
                "POST",
                None,
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
                "host;x-amz-date",
            ),
            (
                "GET",
                Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
                "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
                "host;x-amz-date;x-amz-security-token",
            ),
        ];
        for (method, token, signature, signed_headers) in vectors {
            let identity = suite_identity(token);
            let url = "https://example.amazonaws.com/";
            let request = authorization(&identity, "service", method, url, b"");
            assert_eq!(
                header(&request, "authorization"),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders={signed_headers}, Signature={signature}"
                ),
                "{method} with token {token:?}"
            );
            assert_eq!(header(&request, "x-amz-date"), "20150830T123600Z");
            if let Some(token) = token {
                assert_eq!(header(&request, "x-amz-security-token"), token);
            }
        }
    }

    /// A Bedrock request: signing name `bedrock`, the model id's `%3A`
    /// encoded again in the canonical path, content-type and body signed.
    /// The expected value was computed independently from the SigV4
    /// specification (it is not an AWS-published vector).
    #[test]
    fn bedrock_converse_request() {
        let request = authorization(
            &suite_identity(None),
            SERVICE,
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.amazon.nova-micro-v1%3A0/converse",
            br#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#,
        );
        assert_eq!(
            header(&request, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=46225d53490c73691ffc46cb1c3c85714917c0d4d8e1b7b642d78c6ae8219e3a"
        );
        assert_eq!(
            request.uri().path(),
            "/model/us.amazon.nova-micro-v1%3A0/converse",
            "the URL is sent as signed"
        );
    }
}
