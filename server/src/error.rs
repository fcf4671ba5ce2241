//! The one error type of the request path, and what it means on each door.
//!
//! Errors are raised as small typed values where they happen; `GatewayError::
//! classify` decides once what each means (HTTP status, gRPC code, OpenAI
//! error type, google.rpc reason), and each front door only renders that.

use std::time::Duration;

use http::StatusCode;
use tonic::Code;

/// Where a value sits in the client's request (`messages[2].content[0]`),
/// spelled out only when an error names it: the parsers and adapters walk
/// every message of every request, and errors are rare.
#[derive(Clone, Copy)]
pub struct FieldPath<'a> {
    parent: Option<&'a FieldPath<'a>>,
    name: &'static str,
    index: Option<usize>,
}

impl FieldPath<'static> {
    /// A top-level field: `name`.
    pub fn top(name: &'static str) -> Self {
        FieldPath {
            parent: None,
            name,
            index: None,
        }
    }

    /// An item of a top-level list: `name[index]`.
    pub fn top_item(name: &'static str, index: usize) -> Self {
        FieldPath {
            parent: None,
            name,
            index: Some(index),
        }
    }

    /// `messages[index]`.
    pub fn message(index: usize) -> Self {
        Self::top_item("messages", index)
    }
}

impl<'a> FieldPath<'a> {
    /// `<self>.name[index]`.
    pub fn item(&'a self, name: &'static str, index: usize) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            name,
            index: Some(index),
        }
    }

    /// `<self>.name`.
    pub fn field(&'a self, name: &'static str) -> FieldPath<'a> {
        FieldPath {
            parent: Some(self),
            name,
            index: None,
        }
    }
}

impl std::fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}.")?;
        }
        f.write_str(self.name)?;
        match self.index {
            Some(index) => write!(f, "[{index}]"),
            None => Ok(()),
        }
    }
}

/// An error's `param`.
impl From<FieldPath<'_>> for String {
    fn from(path: FieldPath<'_>) -> String {
        path.to_string()
    }
}

/// Everything that can stop a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The caller's request is malformed; `param` names the field.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    /// The request asks for something the gateway or the provider cannot do.
    #[error("{message}")]
    Unsupported {
        message: String,
        param: Option<String>,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("model `{0}` is not served by this gateway")]
    ModelNotFound(String),
    #[error("no such endpoint: {0}")]
    NotFound(String),
    #[error("request body exceeds the {limit}-byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("request body did not arrive within {timeout:?}")]
    RequestBodyTimeout { timeout: Duration },
    /// The provider answered with an error status.
    #[error("{} returned HTTP {}: {}", .0.provider, .0.status, .0.message)]
    Upstream(Box<UpstreamError>),
    /// The provider could not be reached.
    #[error("{provider} is unreachable: {message}")]
    UpstreamUnavailable {
        provider: &'static str,
        message: String,
    },
    #[error("{provider} did not answer within {timeout:?}")]
    UpstreamTimeout {
        provider: &'static str,
        timeout: Duration,
    },
    /// The provider answered with something that is not its documented format.
    #[error("{provider} sent an unreadable response: {message}")]
    UpstreamProtocol {
        provider: &'static str,
        message: String,
    },
}

/// An error status from a provider, with its meaning preserved.
#[derive(Debug, Clone)]
pub struct UpstreamError {
    pub provider: &'static str,
    pub status: u16,
    /// The provider's message, with anything secret-looking redacted.
    pub message: String,
    /// The provider's error type (OpenAI `type`), when it gave one.
    pub kind: Option<String>,
    pub code: Option<String>,
    pub param: Option<String>,
    /// From the provider's `retry-after` header.
    pub retry_after: Option<Duration>,
    /// The provider's other error fields, secrets redacted.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl UpstreamError {
    /// This error with `secrets` and anything shaped like a key redacted
    /// from every text the provider sent.
    pub fn redacted(mut self, secrets: &[&str]) -> Self {
        self.message = redact_secrets(&self.message, secrets);
        self.extra = redact_values(std::mem::take(&mut self.extra), secrets);
        self
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

/// What an error means, for rendering on either door.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorView {
    pub http_status: StatusCode,
    pub grpc_code: Code,
    /// OpenAI error `type`.
    pub kind: String,
    /// OpenAI error `code`.
    pub code: Option<String>,
    pub param: Option<String>,
    /// google.rpc.ErrorInfo reason, UPPER_SNAKE.
    pub reason: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// The provider involved, for ErrorInfo metadata.
    pub provider: Option<&'static str>,
    /// Fields of the provider's error beyond OpenAI's four, passed on as-is.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// google.rpc.ErrorInfo domain for every error this gateway raises.
pub const ERROR_DOMAIN: &str = "switchboard.v1";

impl GatewayError {
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        let message = message.into();
        Self::InvalidRequest {
            message: format!("`{param}` {message}"),
            param: Some(param),
        }
    }

    /// A request parameter `provider` has no field for, refused rather than dropped.
    pub fn not_supported_by(provider: &str, param: &str, why: &str) -> Self {
        Self::unsupported(
            param,
            format!("{provider} does not support `{param}`: {why}"),
        )
    }

    pub fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        let param = param.into();
        Self::Unsupported {
            message: format!("`{param}`: {}", message.into()),
            param: Some(param),
        }
    }

    /// This error with `secrets` and anything shaped like a key redacted
    /// from what the provider said.
    pub fn redacted(self, secrets: &[&str]) -> Self {
        match self {
            Self::Upstream(error) => Self::Upstream(Box::new(error.redacted(secrets))),
            // A parser's message may quote the provider's bytes.
            Self::UpstreamProtocol { provider, message } => Self::UpstreamProtocol {
                provider,
                message: redact_secrets(&message, secrets),
            },
            other => other,
        }
    }

    /// A provider's body failed to parse: that is the provider's fault, not
    /// the caller's, whatever the parser called it.
    pub fn into_upstream_protocol(self, provider: &'static str) -> Self {
        match self {
            Self::InvalidRequest { message, .. } | Self::Unsupported { message, .. } => {
                Self::UpstreamProtocol { provider, message }
            }
            other => other,
        }
    }

    pub fn classify(&self) -> ErrorView {
        let message = self.to_string();
        let view = |http_status, grpc_code, kind: &str, code: Option<&str>, reason| ErrorView {
            http_status,
            grpc_code,
            kind: kind.to_owned(),
            code: code.map(str::to_owned),
            param: None,
            reason,
            message: message.clone(),
            retry_after: None,
            provider: None,
            extra: serde_json::Map::new(),
        };
        match self {
            Self::InvalidRequest { param, .. } => ErrorView {
                param: param.clone(),
                ..view(
                    StatusCode::BAD_REQUEST,
                    Code::InvalidArgument,
                    "invalid_request_error",
                    None,
                    "INVALID_REQUEST",
                )
            },
            Self::Unsupported { param, .. } => ErrorView {
                param: param.clone(),
                ..view(
                    StatusCode::BAD_REQUEST,
                    Code::InvalidArgument,
                    "invalid_request_error",
                    Some("unsupported_feature"),
                    "UNSUPPORTED_FEATURE",
                )
            },
            Self::Unauthenticated(_) => view(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                "authentication_error",
                Some("invalid_api_key"),
                "INVALID_API_KEY",
            ),
            Self::ModelNotFound(_) => ErrorView {
                param: Some("model".into()),
                ..view(
                    StatusCode::NOT_FOUND,
                    Code::NotFound,
                    "invalid_request_error",
                    Some("model_not_found"),
                    "MODEL_NOT_FOUND",
                )
            },
            Self::NotFound(_) => view(
                StatusCode::NOT_FOUND,
                Code::Unimplemented,
                "invalid_request_error",
                Some("not_found"),
                "NOT_FOUND",
            ),
            Self::PayloadTooLarge { .. } => view(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::InvalidArgument,
                "invalid_request_error",
                Some("request_too_large"),
                "REQUEST_TOO_LARGE",
            ),
            Self::RequestBodyTimeout { .. } => view(
                StatusCode::REQUEST_TIMEOUT,
                Code::DeadlineExceeded,
                "invalid_request_error",
                Some("request_timeout"),
                "REQUEST_BODY_TIMEOUT",
            ),
            Self::Upstream(e) => upstream_view(e),
            Self::UpstreamUnavailable { provider, .. } => ErrorView {
                provider: Some(provider),
                ..view(
                    StatusCode::BAD_GATEWAY,
                    Code::Unavailable,
                    "api_error",
                    None,
                    "UPSTREAM_UNAVAILABLE",
                )
            },
            Self::UpstreamTimeout { provider, .. } => ErrorView {
                provider: Some(provider),
                ..view(
                    StatusCode::GATEWAY_TIMEOUT,
                    Code::DeadlineExceeded,
                    "timeout",
                    None,
                    "UPSTREAM_TIMEOUT",
                )
            },
            Self::UpstreamProtocol { provider, .. } => ErrorView {
                provider: Some(provider),
                ..view(
                    StatusCode::BAD_GATEWAY,
                    Code::Internal,
                    "api_error",
                    None,
                    "UPSTREAM_PROTOCOL_ERROR",
                )
            },
        }
    }
}

/// Keeps the provider's status (so OpenAI SDKs raise the same exception class
/// as against the provider) and picks the gRPC code with the same meaning.
fn upstream_view(e: &UpstreamError) -> ErrorView {
    let http_status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let (grpc_code, reason, default_kind) = match e.status {
        400 | 413 | 422 => (
            Code::InvalidArgument,
            "UPSTREAM_INVALID_REQUEST",
            "invalid_request_error",
        ),
        401 => (
            Code::Unauthenticated,
            "UPSTREAM_AUTHENTICATION_FAILED",
            "authentication_error",
        ),
        403 => (
            Code::PermissionDenied,
            "UPSTREAM_PERMISSION_DENIED",
            "permission_error",
        ),
        404 => (
            Code::NotFound,
            "UPSTREAM_NOT_FOUND",
            "invalid_request_error",
        ),
        408 | 504 => (Code::DeadlineExceeded, "UPSTREAM_TIMEOUT", "timeout"),
        429 => (
            Code::ResourceExhausted,
            "UPSTREAM_RATE_LIMITED",
            "rate_limit_error",
        ),
        502 | 503 | 529 => (Code::Unavailable, "UPSTREAM_OVERLOADED", "overloaded_error"),
        // Out of credit (DeepSeek, OpenRouter; Anthropic's billing_error):
        // nothing to retry until someone pays, not a server bug.
        402 => (
            Code::FailedPrecondition,
            "UPSTREAM_PAYMENT_REQUIRED",
            "invalid_request_error",
        ),
        409 => (Code::Aborted, "UPSTREAM_CONFLICT", "invalid_request_error"),
        501 => (Code::Unimplemented, "UPSTREAM_NOT_IMPLEMENTED", "api_error"),
        // Any other refusal is still the request's, not the gateway's.
        400..=499 => (
            Code::FailedPrecondition,
            "UPSTREAM_REJECTED",
            "invalid_request_error",
        ),
        _ => (Code::Internal, "UPSTREAM_ERROR", "api_error"),
    };
    ErrorView {
        http_status,
        grpc_code,
        kind: e.kind.clone().unwrap_or_else(|| default_kind.to_owned()),
        code: e.code.clone(),
        param: e.param.clone(),
        reason,
        message: e.message.clone(),
        retry_after: e.retry_after,
        extra: e.extra.clone(),
        provider: Some(e.provider),
    }
}

/// [`redact_secrets`] applied to every string inside a provider's extra
/// error fields.
pub fn redact_values(
    fields: serde_json::Map<String, serde_json::Value>,
    secrets: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    fn redact(value: Value, secrets: &[&str]) -> Value {
        match value {
            Value::String(text) => Value::String(redact_secrets(&text, secrets)),
            Value::Array(items) => items.into_iter().map(|v| redact(v, secrets)).collect(),
            Value::Object(fields) => Value::Object(redact_values(fields, secrets)),
            other => other,
        }
    }
    fields
        .into_iter()
        .map(|(k, v)| (k, redact(v, secrets)))
        .collect()
}

/// Removes `secrets` and secret-looking words from a provider's error
/// message: providers echo a masked key back (`Incorrect API key provided:
/// sk-abc*****1234`), and even a masked key should not reach callers or
/// logs. Words shaped like the credentials the gateway itself sends are
/// caught too, for errors built where the request's own token is not at
/// hand (inside a stream).
pub fn redact_secrets(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[REDACTED]");
    }
    let mut after_bearer = false;
    out.split(' ')
        .map(|word| {
            let bare = word.trim_matches(['.', ',', ';', ':', '(', ')', '[', ']', '"', '\'']);
            let secret = after_bearer && looks_like_a_token(bare) || looks_like_a_credential(bare);
            // `Bearer` ending a clause ("…, or Bearer.") precedes no token.
            after_bearer = bare.eq_ignore_ascii_case("bearer") && word.ends_with(bare);
            if secret {
                word.replacen(bare, "[REDACTED]", 1)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the word after `Bearer` is its token rather than a word of the
/// sentence ("Missing Bearer token"): long, or spelled with digits or
/// base64 punctuation. One already redacted is left alone.
fn looks_like_a_token(word: &str) -> bool {
    word != "REDACTED"
        && (word.len() >= 16
            || word
                .bytes()
                .any(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'/' | b'=')))
}

/// A word shaped like a key or token: masked (`***`), an OpenAI-style key
/// (`sk-`: OpenAI, Anthropic, DeepSeek…), a Google OAuth access token
/// (`ya29.`), a JWT (Entra ID access tokens, Google ID tokens) or an AWS
/// access key ID.
fn looks_like_a_credential(word: &str) -> bool {
    let is_jwt = || {
        word.starts_with("eyJ")
            && word.split('.').count() == 3
            && word
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let is_aws_key_id = || {
        word.len() == 20
            && (word.starts_with("AKIA") || word.starts_with("ASIA"))
            && word
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    word.contains("***")
        || word.starts_with("sk-")
        || word.starts_with("ya29.")
        || is_jwt()
        || is_aws_key_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked key echoed by the provider never reaches the caller.
    #[test]
    fn redacts_masked_and_literal_keys() {
        let message = "Incorrect API key provided: invalid-*****2345. You can find your API key at https://x.";
        assert_eq!(
            redact_secrets(message, &[]),
            "Incorrect API key provided: [REDACTED]. You can find your API key at https://x."
        );
        assert_eq!(
            redact_secrets("key gsk-123456 rejected", &["gsk-123456"]),
            "key [REDACTED] rejected"
        );
        assert_eq!(redact_secrets("bad sk-live-1,", &[]), "bad [REDACTED],");
    }

    /// Tokens the gateway sends for the clouds are redacted by their shape,
    /// wherever they stand in a sentence; words that merely resemble them
    /// are kept.
    #[test]
    fn redacts_cloud_credentials_by_shape() {
        let jwt =
            "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZXNlcnZpY2VzIn0.c2lnbmF0dXJl";
        for (message, expected) in [
            (
                format!("token ({jwt}) expired"),
                "token ([REDACTED]) expired",
            ),
            (
                "Invalid credentials: ya29.a0AfB_byC-x_1.".to_owned(),
                "Invalid credentials: [REDACTED].",
            ),
            (
                "header was \"Bearer abc.def\", and key AKIAIOSFODNN7EXAMPLE".to_owned(),
                "header was \"Bearer [REDACTED]\", and key [REDACTED]",
            ),
            (
                "ASIA region, eyJ-not-a-token, AKIAshort, ya29 quota, Invalid Bearer Token"
                    .to_owned(),
                "ASIA region, eyJ-not-a-token, AKIAshort, ya29 quota, Invalid Bearer Token",
            ),
            (
                "Missing bearer or basic authentication; use Bearer. Then 42 retries".to_owned(),
                "Missing bearer or basic authentication; use Bearer. Then 42 retries",
            ),
        ] {
            assert_eq!(redact_secrets(&message, &[]), expected);
        }
        // A key already replaced is not redacted twice.
        assert_eq!(
            redact_secrets("sent Bearer gsk-123456", &["gsk-123456"]),
            "sent Bearer [REDACTED]"
        );
    }

    /// A deployment's key is redacted from everything a provider said in an
    /// error, including the parse errors that quote its bytes.
    #[test]
    fn redacted_errors_lose_the_key() {
        let key = "AIzaSyExample0123";
        let upstream = GatewayError::Upstream(Box::new(UpstreamError {
            provider: "gemini",
            status: 400,
            message: format!("API key {key} not valid."),
            kind: None,
            code: Some("INVALID_ARGUMENT".into()),
            param: None,
            retry_after: None,
            extra: serde_json::json!({"details": [{"key": key}]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }));
        match upstream.redacted(&[key]) {
            GatewayError::Upstream(e) => {
                assert_eq!(e.message, "API key [REDACTED] not valid.");
                assert_eq!(e.extra["details"][0]["key"], "[REDACTED]");
                assert_eq!(e.code.as_deref(), Some("INVALID_ARGUMENT"));
            }
            other => panic!("expected an upstream error, got {other:?}"),
        }
        let protocol = GatewayError::UpstreamProtocol {
            provider: "gemini",
            message: format!("unreadable chunk: invalid type: string \"{key}\""),
        };
        assert_eq!(
            protocol.redacted(&[key]).to_string(),
            "gemini sent an unreadable response: unreadable chunk: invalid type: string \"[REDACTED]\""
        );
    }

    /// Upstream statuses keep their meaning on both doors.
    #[test]
    fn upstream_statuses_map_to_matching_grpc_codes() {
        let upstream = |status| {
            GatewayError::Upstream(Box::new(UpstreamError {
                provider: "openai",
                status,
                message: "m".into(),
                kind: None,
                code: None,
                param: None,
                retry_after: Some(Duration::from_secs(2)),
                extra: Default::default(),
            }))
            .classify()
        };
        let rate_limited = upstream(429);
        assert_eq!(rate_limited.http_status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(rate_limited.grpc_code, Code::ResourceExhausted);
        assert_eq!(rate_limited.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(upstream(529).grpc_code, Code::Unavailable);
        assert_eq!(upstream(529).kind, "overloaded_error");
        assert_eq!(upstream(400).grpc_code, Code::InvalidArgument);
        assert_eq!(upstream(404).grpc_code, Code::NotFound);
        assert_eq!(upstream(500).grpc_code, Code::Internal);
        assert_eq!(upstream(402).grpc_code, Code::FailedPrecondition);
        assert_eq!(upstream(402).http_status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(upstream(409).grpc_code, Code::Aborted);
        assert_eq!(upstream(451).grpc_code, Code::FailedPrecondition);
        assert_eq!(upstream(501).grpc_code, Code::Unimplemented);
    }
}
