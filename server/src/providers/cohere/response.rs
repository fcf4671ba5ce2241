//! Cohere v2 chat response -> canonical response, and the pieces the stream
//! shares: finish reasons and usage.
//!
//! Text parts become `content`, `thinking` parts `reasoning_content`; the
//! assistant's `tool_plan` and `citations` (no OpenAI home) stay on the
//! message as extensions, so they go back to Cohere with it. Cohere names
//! no model in its answer: the deployment's model is reported.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::openai_wire::errors::{ErrorBody, mark_context_length, parse_error_body};
use crate::pb::{ChatResponse, Choice, FinishReason, Message, Role, ToolCall, Usage, message};
use crate::providers::{non_empty, take_token_count};

#[derive(Deserialize)]
struct ChatBody {
    id: String,
    finish_reason: Option<String>,
    #[serde(default)]
    message: CohereMessage,
    usage: Option<Map<String, Value>>,
    /// `logprobs` and anything newer.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CohereMessage {
    content: Vec<Map<String, Value>>,
    tool_calls: Vec<CohereToolCall>,
    /// `tool_plan`, `citations`; `role` is always assistant.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct CohereToolCall {
    id: String,
    function: Function,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// <https://docs.cohere.com/reference/chat#response.body.finish_reason>
pub(super) fn finish_reason(native: &str) -> FinishReason {
    match native {
        "COMPLETE" | "STOP_SEQUENCE" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "TOOL_CALL" => FinishReason::ToolCalls,
        "" => FinishReason::Unspecified,
        // ERROR, TIMEOUT and new ones keep their name.
        _ => FinishReason::Other,
    }
}

/// `tokens` are what the model saw and wrote; `billed_units` (what is
/// charged), other `tokens` counters and anything else are kept in the
/// extensions.
pub(super) fn usage_from_json(mut fields: Map<String, Value>) -> Usage {
    let mut tokens = match fields.remove("tokens") {
        Some(Value::Object(tokens)) => tokens,
        _ => Map::new(),
    };
    let mut count = |key: &str| take_token_count(&mut tokens, key);
    let prompt = count("input_tokens").unwrap_or(0);
    let completion = count("output_tokens").unwrap_or(0);
    // Other counters (`image_tokens`) stay where Cohere put them.
    if !tokens.is_empty() {
        fields.insert("tokens".into(), tokens.into());
    }
    let cached = take_token_count(&mut fields, "cached_tokens");
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt.saturating_add(completion),
        cached_prompt_tokens: cached,
        extensions: non_empty(fields),
        ..Usage::default()
    }
}

pub fn from_slice(
    body: &[u8],
    model: &str,
    created: i64,
) -> Result<ChatResponse, serde_json::Error> {
    let response: ChatBody = crate::openai_wire::from_bytes(body)?;
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut other_parts = Vec::new();
    for part in response.message.content {
        let kind = part.get("type").and_then(Value::as_str);
        match (kind, part.get("text"), part.get("thinking")) {
            (Some("text"), Some(Value::String(t)), _) => text.get_or_insert_default().push_str(t),
            (Some("thinking"), _, Some(Value::String(t))) => {
                reasoning.get_or_insert_default().push_str(t)
            }
            // A part type this adapter does not know is kept whole.
            _ => other_parts.push(Value::Object(part)),
        }
    }
    let mut message_rest = response.message.rest;
    message_rest.remove("role");
    if !other_parts.is_empty() {
        message_rest.insert("content_parts".into(), other_parts.into());
    }
    let tool_calls: Vec<ToolCall> = response
        .message
        .tool_calls
        .into_iter()
        .map(|call| ToolCall {
            id: call.id,
            name: call.function.name,
            arguments: call.function.arguments,
            extensions: None,
        })
        .collect();
    let native = response.finish_reason.unwrap_or_default();
    Ok(ChatResponse {
        id: response.id,
        created,
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            finish_reason: finish_reason(&native) as i32,
            native_finish_reason: native,
            message: Some(Message {
                role: Role::Assistant as i32,
                content: text.map(message::Content::Text),
                reasoning_content: reasoning,
                tool_calls,
                extensions: non_empty(message_rest),
                ..Message::default()
            }),
            extensions: None,
        }],
        usage: response.usage.map(usage_from_json),
        extensions: non_empty(response.rest),
        ..ChatResponse::default()
    })
}

/// Cohere's error body is `{"id": …, "message": …}` (the id is kept); an
/// over-long prompt ("too many tokens: …") gets `context_length_exceeded`.
pub fn parse_error(body: &[u8]) -> ErrorBody {
    mark_context_length(parse_error_body(body), &["too many tokens"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::json_struct::map_from_struct;

    /// The recorded tool call: the plan stays on the message, `tokens` are
    /// the usage, billed units and cached tokens are kept.
    #[test]
    fn tool_call_with_plan() {
        let response = from_slice(
            br#"{"finish_reason":"TOOL_CALL","id":"5481","message":{"role":"assistant",
            "tool_calls":[{"function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"},"id":"get_weather_9gpb31r7h7mj","type":"function"}],
            "tool_plan":"I will use the 'get_weather' tool."},
            "usage":{"billed_units":{"input_tokens":41,"output_tokens":25},"cached_tokens":144,"tokens":{"input_tokens":1441,"output_tokens":54}}}"#,
            "command-r7b-12-2024",
            7,
        )
        .expect("parses");
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
        let message = choice.message.as_ref().expect("message");
        assert_eq!(message.content, None);
        assert_eq!(message.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        let extensions = map_from_struct(message.extensions.as_ref().expect("plan"));
        assert_eq!(
            extensions["tool_plan"],
            "I will use the 'get_weather' tool."
        );
        let usage = response.usage.expect("usage");
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_prompt_tokens
            ),
            (1441, 54, Some(144))
        );
        assert!(usage.extensions.is_some(), "billed_units kept");
    }
}
