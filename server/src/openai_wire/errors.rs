//! OpenAI error bodies: `{"error": {"message", "type", "param", "code"}}`.

use serde_json::{Map, Value, json};

use crate::error::{GatewayError, UpstreamError};

/// The fields of an OpenAI-style error body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorBody {
    pub message: String,
    pub kind: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
    /// The error object's other fields (e.g. Groq's `failed_generation`), kept so
    /// callers get everything the provider said.
    pub extra: Map<String, Value>,
    /// A retry delay stated in the body (Google's `RetryInfo`), used when no
    /// `retry-after` header came with it.
    pub retry_after: Option<std::time::Duration>,
    /// The status the error means when the provider's HTTP status says
    /// otherwise (Gemini answers a bad API key with 400).
    pub status: Option<u16>,
}

impl ErrorBody {
    /// The error `provider` answered with `status` (or the status the body
    /// says it means), with `secrets` and anything shaped like a key
    /// redacted from every text in it.
    pub fn into_upstream(
        self,
        provider: &'static str,
        status: u16,
        secrets: &[&str],
    ) -> UpstreamError {
        UpstreamError {
            provider,
            status: self.status.unwrap_or(status),
            message: self.message,
            kind: self.kind,
            code: self.code,
            param: self.param,
            retry_after: self.retry_after,
            extra: self.extra,
        }
        .redacted(secrets)
    }

    /// An error the provider sent inside a stream, as the request's error.
    /// Only key-shaped words are redacted here: the deployment's key is
    /// redacted as the stream leaves the gateway (`Gateway::stream`).
    pub fn into_error(self, provider: &'static str, status: u16) -> GatewayError {
        GatewayError::Upstream(Box::new(self.into_upstream(provider, status, &[])))
    }
}

/// Reads an upstream error body. Providers in the OpenAI family mostly send
/// the standard shape, but some send `{"message": ...}`, `{"error": "text"}`
/// or plain text; each gives at least a message.
pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    let text = || String::from_utf8_lossy(body).trim().to_owned();
    let Ok(json) = super::from_bytes::<Value>(body) else {
        return ErrorBody {
            message: text(),
            ..ErrorBody::default()
        };
    };
    let as_text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let error = match json.get("error") {
        // `{"error": "Too Many Requests", "message": "You have exceeded…"}`
        // (Fireworks): both halves say something.
        Some(Value::String(error)) => {
            let message = match json.get("message").and_then(Value::as_str) {
                Some(detail) => format!("{error}: {detail}"),
                None => error.clone(),
            };
            return ErrorBody {
                message,
                ..ErrorBody::default()
            };
        }
        Some(error @ Value::Object(_)) => error,
        _ => &json,
    };
    // The error object's other fields; a body without an `error` member is
    // the error object itself (Cohere's `id`).
    let extra = match error {
        Value::Object(fields) => fields
            .iter()
            .filter(|(k, _)| !["message", "type", "param", "code"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Map::new(),
    };
    ErrorBody {
        message: as_text(error.get("message")).unwrap_or_else(text),
        kind: as_text(error.get("type")),
        param: as_text(error.get("param")),
        code: as_text(error.get("code")),
        extra,
        ..ErrorBody::default()
    }
}

/// Gives an error whose message says the prompt exceeds the model's context
/// (in one of the provider's `phrases`, lower case) OpenAI's code for it,
/// `context_length_exceeded`, so callers can handle it one way everywhere.
///
/// A code the provider set is replaced only when it names nothing more
/// specific: a number (Mistral's `3051`, OpenRouter's HTTP status), the
/// error's type repeated (DeepSeek's and Fireworks' `invalid_request_error`)
/// or an empty string.
pub fn mark_context_length(mut error: ErrorBody, phrases: &[&str]) -> ErrorBody {
    let generic = match error.code.as_deref() {
        None => true,
        Some(code) => {
            code.bytes().all(|b| b.is_ascii_digit()) || Some(code) == error.kind.as_deref()
        }
    };
    let says_overflow = |message: &str| {
        let message = message.to_ascii_lowercase();
        phrases.iter().any(|p| message.contains(p))
    };
    if generic && says_overflow(&error.message) {
        error.code = Some("context_length_exceeded".into());
    }
    error
}

/// Writes an OpenAI error body: OpenAI's four fields always (unset ones as
/// `null`, as OpenAI does), then any other fields the provider sent.
pub fn error_json(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
    extra: &Map<String, Value>,
) -> Value {
    let mut error = json!({"message": message, "type": kind, "param": param, "code": code});
    if let Value::Object(fields) = &mut error {
        for (key, value) in extra {
            fields.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    json!({ "error": error })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded OpenAI shape and the common deviations all yield a message.
    #[test]
    fn parses_error_shapes() {
        let openai = br#"{"error": {"message": "Unsupported parameter: 'stop'", "type": "invalid_request_error", "param": "stop", "code": "unsupported_parameter"}}"#;
        assert_eq!(
            parse_error_body(openai),
            ErrorBody {
                message: "Unsupported parameter: 'stop'".into(),
                kind: Some("invalid_request_error".into()),
                param: Some("stop".into()),
                code: Some("unsupported_parameter".into()),
                ..ErrorBody::default()
            }
        );
        let groq = br#"{"error": {"message": "m", "type": "invalid_request_error", "code": "tool_use_failed", "failed_generation": "{}"}}"#;
        assert_eq!(
            parse_error_body(groq).extra,
            Map::from_iter([("failed_generation".to_owned(), Value::from("{}"))])
        );
        assert_eq!(parse_error_body(br#"{"message": "m"}"#).message, "m");
        assert_eq!(parse_error_body(br#"{"error": "e"}"#).message, "e");
        assert_eq!(
            parse_error_body(br#"{"error": "Too Many Requests", "message": "limits"}"#).message,
            "Too Many Requests: limits"
        );
        assert_eq!(
            parse_error_body(b"upstream connect error").message,
            "upstream connect error"
        );
    }

    /// Only a code that names nothing more specific gives way to
    /// `context_length_exceeded`, and only for a context-length message.
    #[test]
    fn context_overflow_gets_openai_code() {
        let marked = |message: &str, kind: Option<&str>, code: Option<&str>| {
            let error = ErrorBody {
                message: message.into(),
                kind: kind.map(Into::into),
                code: code.map(Into::into),
                ..ErrorBody::default()
            };
            mark_context_length(error, &["maximum context length"]).code
        };
        let overflow = "This model's Maximum Context Length is 8192 tokens.";
        let wanted = Some("context_length_exceeded".to_owned());
        assert_eq!(marked(overflow, None, None), wanted);
        assert_eq!(marked(overflow, None, Some("3051")), wanted);
        assert_eq!(marked(overflow, Some("bad"), Some("bad")), wanted);
        assert_eq!(
            marked(overflow, Some("bad"), Some("string_above_max_length")),
            Some("string_above_max_length".to_owned())
        );
        assert_eq!(marked("Invalid API key", None, None), None);
        assert_eq!(
            marked("Invalid API key", None, Some("401")),
            Some("401".to_owned())
        );
    }
}
