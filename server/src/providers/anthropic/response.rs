//! Anthropic Messages response -> canonical chat response, plus the pieces
//! the stream shares: usage, stop reasons, content blocks and error bodies.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::openai_wire::errors::{ErrorBody, mark_context_length, parse_error_body};
use crate::pb::{ChatResponse, Choice, FinishReason, Message, Role, ToolCall, Usage, message};
use crate::providers::{CacheUsageNames, cache_aware_usage, message_extensions, non_empty};

/// A non-streamed Messages response. Unknown top-level fields are kept.
#[derive(Deserialize)]
struct MessageResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Map<String, Value>>,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    stop_details: Option<Value>,
    #[serde(default)]
    usage: Map<String, Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

pub fn from_slice(body: &[u8], created: i64) -> Result<ChatResponse, serde_json::Error> {
    let response: MessageResponse = crate::openai_wire::from_bytes(body)?;
    let mut content = AssistantContent::default();
    for block in response.content {
        content.add(block);
    }
    let mut rest = response.rest;
    // Constant or already mapped.
    for known in ["type", "role"] {
        rest.remove(known);
    }
    let native = response.stop_reason.unwrap_or_default();
    Ok(ChatResponse {
        id: response.id,
        created,
        model: response.model,
        choices: vec![Choice {
            index: 0,
            message: Some(content.into_message()),
            finish_reason: finish_reason(&native) as i32,
            native_finish_reason: native,
            extensions: stop_extensions(response.stop_sequence, response.stop_details),
        }],
        usage: Some(usage_from_json(response.usage)),
        extensions: non_empty(rest),
        ..ChatResponse::default()
    })
}

/// The assistant message built from content blocks: text joined, thinking as
/// `reasoning_content` with the blocks kept for replay, tool_use as tool calls
/// and any other block (server tools, citations…) kept under `content_blocks`.
#[derive(Default)]
struct AssistantContent {
    text: Option<String>,
    reasoning: Option<String>,
    thinking_blocks: Vec<Value>,
    tool_calls: Vec<ToolCall>,
    other_blocks: Vec<Value>,
}

impl AssistantContent {
    fn add(&mut self, mut block: Map<String, Value>) {
        block.retain(|_, v| !v.is_null());
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = text(block.get("text"));
                self.text.get_or_insert_default().push_str(&text);
                // Citations and other annotations stay with their block.
                if block.len() > 2 {
                    self.other_blocks.push(Value::Object(block));
                }
            }
            Some("thinking") => {
                let thinking = text(block.get("thinking"));
                self.reasoning.get_or_insert_default().push_str(&thinking);
                self.thinking_blocks.push(Value::Object(block));
            }
            Some("redacted_thinking") => self.thinking_blocks.push(Value::Object(block)),
            Some("tool_use") => {
                let id = text(block.get("id"));
                let name = text(block.get("name"));
                let input = block.remove("input").unwrap_or_else(|| Map::new().into());
                for known in ["type", "id", "name"] {
                    block.remove(known);
                }
                self.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input.to_string(),
                    // e.g. `caller`; kept so nothing the provider said is lost.
                    extensions: non_empty(block),
                });
            }
            // Server tool blocks and future types.
            _ => self.other_blocks.push(Value::Object(block)),
        }
    }

    fn into_message(self) -> Message {
        Message {
            role: Role::Assistant as i32,
            content: self.text.map(message::Content::Text),
            tool_calls: self.tool_calls,
            reasoning_content: self.reasoning,
            extensions: message_extensions(self.thinking_blocks, self.other_blocks),
            ..Message::default()
        }
    }
}

/// Which stop sequence ended the answer, and the refusal details
/// (`stop_details`), when there are any.
pub(super) fn stop_extensions(
    stop_sequence: Option<String>,
    stop_details: Option<Value>,
) -> Option<prost_types::Struct> {
    let mut map = Map::new();
    if let Some(stop) = stop_sequence {
        map.insert("stop_sequence".into(), stop.into());
    }
    if let Some(details) = stop_details.filter(|d| !d.is_null()) {
        map.insert("stop_details".into(), details);
    }
    non_empty(map)
}

/// <https://docs.anthropic.com/en/api/handling-stop-reasons>
pub(super) fn finish_reason(native: &str) -> FinishReason {
    match native {
        "" => FinishReason::Unspecified,
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        // pause_turn and anything new: the native reason is passed on.
        _ => FinishReason::Other,
    }
}

/// Anthropic counts `input_tokens` without the cached part.
pub(super) fn usage_from_json(fields: Map<String, Value>) -> Usage {
    cache_aware_usage(
        fields,
        &CacheUsageNames {
            input: "input_tokens",
            output: "output_tokens",
            cache_read: "cache_read_input_tokens",
            cache_write: "cache_creation_input_tokens",
            total: None,
        },
    )
}

/// `{"type": "error", "error": {"type", "message"}, "request_id"}`: the
/// request id is kept for support tickets, and an over-long prompt gets
/// OpenAI's `context_length_exceeded` code so callers can detect it the same
/// way for every provider.
pub fn parse_error(body: &[u8]) -> ErrorBody {
    let mut error = parse_error_body(body);
    if let Ok(Value::Object(top)) = crate::openai_wire::from_bytes::<Value>(body)
        && let Some(Value::String(id)) = top.get("request_id")
    {
        error.extra.insert("request_id".into(), id.clone().into());
    }
    mark_context_length(error, CONTEXT_LENGTH_PHRASES)
}

/// How Anthropic says a prompt is over the context (it sends no code).
pub(super) const CONTEXT_LENGTH_PHRASES: &[&str] = &["prompt is too long"];

/// The HTTP status an error of this type comes with, for errors that arrive
/// inside a stream (<https://docs.anthropic.com/en/api/errors>).
pub(super) fn error_status(kind: Option<&str>) -> u16 {
    match kind {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("billing_error") => 402,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("timeout_error") => 504,
        Some("overloaded_error") => 529,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::json_struct::map_from_struct;
    use serde_json::json;

    /// Cache reads and writes are part of the prompt and reported on their
    /// own; the 5m/1h split and service tier survive.
    #[test]
    fn usage_keeps_every_counter() {
        let usage = usage_from_json(
            json!({"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20,
                "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 0},
                "output_tokens": 5, "service_tier": "standard", "server_tool_use": null})
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
            (130, 5, 135)
        );
        assert_eq!(usage.cached_prompt_tokens, Some(100));
        assert_eq!(usage.cache_write_tokens, Some(20));
        assert_eq!(
            Value::Object(map_from_struct(&usage.extensions.expect("kept"))),
            json!({"cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 0},
                "service_tier": "standard"})
        );
    }

    /// Thinking, text and parallel tool_use blocks land in their canonical places.
    #[test]
    fn content_blocks_map_to_one_message() {
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [
                {"type": "thinking", "thinking": "Let me", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "t2", "name": "w", "input": {}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 2}});
        let response = from_slice(body.to_string().as_bytes(), 7).expect("parses");
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason(), FinishReason::ToolCalls);
        assert_eq!(choice.native_finish_reason, "tool_use");
        let message = choice.message.as_ref().expect("message");
        assert_eq!(
            message.content,
            Some(message::Content::Text("Checking.".into()))
        );
        assert_eq!(message.reasoning_content.as_deref(), Some("Let me"));
        let calls: Vec<_> = message
            .tool_calls
            .iter()
            .map(|c| (c.id.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(calls, [("t1", r#"{"city":"Paris"}"#), ("t2", "{}")]);
        assert!(response.extensions.is_none(), "nothing unmodelled");
    }

    /// A refusal is a content filter, and its details reach the caller.
    #[test]
    fn refusal_keeps_its_details() {
        let details = json!({"type": "refusal", "category": "cyber", "explanation": "x"});
        let body = json!({"id": "m", "model": "c", "content": [], "stop_reason": "refusal",
            "stop_sequence": null, "stop_details": details, "usage": {}});
        let response = from_slice(body.to_string().as_bytes(), 1).expect("parses");
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason(), FinishReason::ContentFilter);
        let extensions = map_from_struct(choice.extensions.as_ref().expect("kept"));
        assert_eq!(extensions.get("stop_details"), Some(&details));
    }

    /// An over-long prompt is recognisable without reading the message.
    #[test]
    fn context_length_gets_openai_code() {
        let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"},"request_id":"req_1"}"#;
        let error = parse_error(body);
        assert_eq!(error.code.as_deref(), Some("context_length_exceeded"));
        assert_eq!(error.kind.as_deref(), Some("invalid_request_error"));
        assert_eq!(error.extra.get("request_id"), Some(&json!("req_1")));
    }
}
