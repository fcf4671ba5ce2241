//! Gemini `GenerateContentResponse` -> canonical response, and the pieces the
//! stream shares: candidates' parts, finish reasons, usage and error bodies.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::request::EXTRA_CONTENT;
use crate::openai_wire::errors::{ErrorBody, mark_context_length};
use crate::pb::{ChatResponse, Choice, FinishReason, Message, Role, ToolCall, Usage, message};
use crate::providers::{CONTENT_BLOCKS, extension, non_empty, take_token_count};

/// The native finish reason of the empty answer to a blocked prompt (Gemini
/// gives none: the prompt's feedback says why).
pub(super) const PROMPT_BLOCKED: &str = "PROMPT_BLOCKED";

/// One response, or one streamed chunk of it (the same shape).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct GenerateResponse {
    pub candidates: Vec<Candidate>,
    pub usage_metadata: Option<Map<String, Value>>,
    pub model_version: String,
    pub response_id: String,
    /// Why the prompt was blocked, when it was (then there is no candidate).
    pub prompt_feedback: Option<Map<String, Value>>,
    /// Vertex AI only: when the answer was made (RFC 3339).
    pub create_time: Option<String>,
    /// A failure after the 200 status (a stream event: `{"error": {...}}`).
    pub error: Option<Map<String, Value>>,
}

impl GenerateResponse {
    /// Unix seconds of `createTime` (Vertex AI), else `now`.
    pub fn created(&self, now: i64) -> i64 {
        self.create_time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(now, |t| t.as_second())
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Candidate {
    pub index: u32,
    pub content: Option<Content>,
    pub finish_reason: Option<String>,
    /// safetyRatings, citationMetadata, finishMessage, groundingMetadata…
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Content {
    pub parts: Vec<Map<String, Value>>,
}

/// What a candidate's parts say, in canonical terms.
#[derive(Default)]
pub(super) struct Parts {
    pub text: Option<String>,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// A signature on a text part, to go back with the message.
    pub text_signature: Option<Value>,
    /// Parts nothing canonical models (an image the model drew, code it ran
    /// and its result…), whole.
    pub other: Vec<Value>,
}

impl Parts {
    /// `first_call` numbers the tool calls: Gemini gives no ids, so each gets
    /// one unique within the response (`call_{responseId}_{n}`).
    pub fn read(parts: Vec<Map<String, Value>>, response_id: &str, first_call: usize) -> Self {
        let mut out = Parts::default();
        for mut part in parts {
            let signature = part.remove("thoughtSignature");
            if let Some(Value::Object(mut call)) = part.remove("functionCall") {
                let name = match call.remove("name") {
                    Some(Value::String(name)) => name,
                    _ => String::new(),
                };
                let id = match call.remove("id") {
                    Some(Value::String(id)) => id,
                    _ => format!("call_{response_id}_{}", first_call + out.tool_calls.len()),
                };
                let args = call.remove("args").unwrap_or_else(|| json!({}));
                out.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: args.to_string(),
                    extensions: signature
                        .and_then(|s| extension(EXTRA_CONTENT, google_signature(s))),
                });
            } else if let Some(Value::String(text)) = part.remove("text") {
                if part.get("thought") == Some(&Value::Bool(true)) {
                    out.reasoning.get_or_insert_default().push_str(&text);
                } else {
                    out.text.get_or_insert_default().push_str(&text);
                    if signature.is_some() {
                        out.text_signature = signature;
                    }
                }
            } else if !part.is_empty() {
                if let Some(signature) = signature {
                    part.insert("thoughtSignature".into(), signature);
                }
                out.other.push(Value::Object(part));
            } else if signature.is_some() {
                out.text_signature = signature;
            }
        }
        out
    }

    /// The message's (or delta's) fields beyond the canonical ones: the
    /// text's thought signature, and the other parts as `content_blocks`
    /// (where Anthropic's unmodelled blocks go too).
    pub fn extensions(&mut self) -> Option<prost_types::Struct> {
        let mut fields = Map::new();
        if let Some(signature) = self.text_signature.take() {
            fields.insert(EXTRA_CONTENT.into(), google_signature(signature));
        }
        if !self.other.is_empty() {
            fields.insert(
                CONTENT_BLOCKS.into(),
                std::mem::take(&mut self.other).into(),
            );
        }
        non_empty(fields)
    }
}

/// The value of `extra_content` carrying a thought signature.
fn google_signature(signature: Value) -> Value {
    json!({"google": {"thought_signature": signature}})
}

pub fn from_slice(body: &[u8], now: i64) -> Result<ChatResponse, serde_json::Error> {
    let response: GenerateResponse = crate::openai_wire::from_bytes(body)?;
    let created = response.created(now);
    let mut choices: Vec<Choice> = response
        .candidates
        .into_iter()
        .map(|candidate| {
            let mut parts = Parts::read(
                candidate.content.map(|c| c.parts).unwrap_or_default(),
                &response.response_id,
                0,
            );
            let native = candidate.finish_reason.unwrap_or_default();
            let finish = finish_reason(&native, !parts.tool_calls.is_empty());
            Choice {
                index: candidate.index,
                finish_reason: finish as i32,
                native_finish_reason: native,
                extensions: non_empty(candidate.rest),
                message: Some(Message {
                    role: Role::Assistant as i32,
                    extensions: parts.extensions(),
                    content: parts.text.map(message::Content::Text),
                    reasoning_content: parts.reasoning,
                    tool_calls: parts.tool_calls,
                    ..Message::default()
                }),
            }
        })
        .collect();
    let mut extensions = Map::new();
    if let Some(feedback) = response.prompt_feedback {
        // A blocked prompt has no candidate; OpenAI callers see a filtered, empty answer.
        if choices.is_empty() && feedback.contains_key("blockReason") {
            choices.push(Choice {
                finish_reason: FinishReason::ContentFilter as i32,
                native_finish_reason: PROMPT_BLOCKED.into(),
                message: Some(Message {
                    role: Role::Assistant as i32,
                    ..Message::default()
                }),
                ..Choice::default()
            });
        }
        extensions.insert("prompt_feedback".into(), feedback.into());
    }
    Ok(ChatResponse {
        id: response.response_id,
        created,
        model: response.model_version,
        choices,
        usage: response.usage_metadata.map(usage_from_json),
        extensions: non_empty(extensions),
        ..ChatResponse::default()
    })
}

/// <https://ai.google.dev/api/generate-content#FinishReason>. Gemini says
/// STOP after function calls; OpenAI callers expect `tool_calls` there.
pub(super) fn finish_reason(native: &str, called_tools: bool) -> FinishReason {
    match native {
        "" | "FINISH_REASON_UNSPECIFIED" => FinishReason::Unspecified,
        "STOP" if called_tools => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        // MALFORMED_FUNCTION_CALL, LANGUAGE, OTHER and new ones keep their name.
        _ => FinishReason::Other,
    }
}

/// `promptTokenCount` already includes cached tokens; `candidatesTokenCount`
/// excludes thoughts, which OpenAI counts as completion tokens, so they are
/// added (and reported as reasoning tokens). Every other counter is kept.
pub(super) fn usage_from_json(mut fields: Map<String, Value>) -> Usage {
    let mut count = |key: &str| take_token_count(&mut fields, key);
    let prompt = count("promptTokenCount").unwrap_or(0);
    let candidates = count("candidatesTokenCount").unwrap_or(0);
    let thoughts = count("thoughtsTokenCount");
    let total = count("totalTokenCount");
    let cached = count("cachedContentTokenCount");
    let completion = candidates.saturating_add(thoughts.unwrap_or(0));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        // Includes tool-use prompt tokens, which have no canonical field.
        total_tokens: total.unwrap_or(prompt.saturating_add(completion)),
        cached_prompt_tokens: cached,
        reasoning_tokens: thoughts,
        extensions: non_empty(fields),
        ..Usage::default()
    }
}

/// Google's error body: `{"error": {"code", "message", "status", "details"}}`.
/// `status` (e.g. `RESOURCE_EXHAUSTED`) becomes the code, or the
/// `ErrorInfo` reason when there is one (e.g. `API_KEY_INVALID`, which means
/// 401 whatever HTTP status it came with), or `context_length_exceeded` for
/// an input over the model's limit; a `RetryInfo` delay is kept.
pub fn parse_error(body: &[u8]) -> ErrorBody {
    let Ok(Value::Object(mut top)) = crate::openai_wire::from_bytes::<Value>(body) else {
        return crate::openai_wire::errors::parse_error_body(body);
    };
    let Some(Value::Object(error)) = top.remove("error") else {
        return crate::openai_wire::errors::parse_error_body(body);
    };
    error_from_json(error)
}

/// Google's `error` object (the body's, or a stream event's) as an error body.
pub(super) fn error_from_json(mut error: Map<String, Value>) -> ErrorBody {
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let message = text(error.remove("message")).unwrap_or_default();
    error.remove("code");
    let status = text(error.remove("status"));
    let details = error.get("details").and_then(Value::as_array);
    let detail = |kind: &str| {
        details?
            .iter()
            .find(|d| d.get("@type").and_then(Value::as_str) == Some(kind))
    };
    let reason = detail("type.googleapis.com/google.rpc.ErrorInfo")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let retry_after = detail("type.googleapis.com/google.rpc.RetryInfo")
        .and_then(|d| d.get("retryDelay"))
        .and_then(Value::as_str)
        .and_then(|d| d.strip_suffix('s')?.parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok());
    let unauthenticated = matches!(
        reason.as_deref(),
        Some("API_KEY_INVALID" | "API_KEY_EXPIRED")
    );
    if let Some(status) = &status {
        error.insert("status".into(), status.clone().into());
    }
    let mut error = mark_context_length(
        ErrorBody {
            message,
            kind: unauthenticated.then(|| "authentication_error".to_owned()),
            param: None,
            code: reason,
            extra: error,
            retry_after,
            status: unauthenticated.then_some(401),
        },
        &["exceeds the maximum number of tokens allowed"],
    );
    // Without a more specific name, the code is the status (also kept as `status`).
    if error.code.is_none() {
        error.code = status;
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thoughts count as completion tokens and as reasoning; the rest is kept.
    #[test]
    fn usage_counts_thoughts_as_completion() {
        let usage = usage_from_json(
            json!({"promptTokenCount": 70, "candidatesTokenCount": 40, "totalTokenCount": 186,
                "thoughtsTokenCount": 76, "cachedContentTokenCount": 32,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 70}]})
            .as_object()
            .cloned()
            .expect("object"),
        );
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (70, 116, 186)
        );
        assert_eq!(
            (usage.reasoning_tokens, usage.cached_prompt_tokens),
            (Some(76), Some(32))
        );
        assert!(usage.extensions.is_some(), "promptTokensDetails kept");
    }

    /// A bad key means 401 whatever Gemini's status; RetryInfo is a delay.
    #[test]
    fn error_bodies() {
        let bad_key = br#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT",
            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        let error = parse_error(bad_key);
        assert_eq!(
            (error.status, error.code.as_deref()),
            (Some(401), Some("API_KEY_INVALID"))
        );
        let quota = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.4s"}]}}"#;
        let error = parse_error(quota);
        assert_eq!(error.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(error.retry_after, Some(Duration::from_millis(34_400)));
        assert_eq!(error.status, None);
        let too_long = br#"{"error":{"code":400,"status":"INVALID_ARGUMENT",
            "message":"The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."}}"#;
        let error = parse_error(too_long);
        assert_eq!(error.code.as_deref(), Some("context_length_exceeded"));
        assert_eq!(error.extra["status"], "INVALID_ARGUMENT");
        let other = br#"{"error":{"code":400,"status":"INVALID_ARGUMENT",
            "message":"Penalty is not enabled for models/gemini-2.5-flash"}}"#;
        assert_eq!(parse_error(other).code.as_deref(), Some("INVALID_ARGUMENT"));
    }
}
