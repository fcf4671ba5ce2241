//! Ollama `/api/chat` response -> canonical response, and the pieces the
//! stream shares: the message, finish reasons, usage and timings.
//!
//! Ollama sends no response id and no tool-call ids, so both are made here,
//! unique within the process; `created_at` (RFC 3339) becomes `created`.
//! Its timings (`total_duration`, `load_duration`, `prompt_eval_duration`,
//! `eval_duration`, nanoseconds) are kept in the response's extensions.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::openai_wire::errors::{ErrorBody, mark_context_length, parse_error_body};
use crate::pb::{ChatResponse, Choice, FinishReason, Message, Role, ToolCall, Usage, message};
use crate::providers::{generated_id, non_empty, unix_now};

/// One response, or one streamed line of it (the same shape).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ChatLine {
    pub model: String,
    pub created_at: String,
    pub message: Option<OllamaMessage>,
    pub done: bool,
    pub done_reason: Option<String>,
    pub prompt_eval_count: Option<u32>,
    /// Prompt tokens served from the KV cache (Ollama 0.33.3+).
    pub prompt_eval_cached_count: Option<u32>,
    pub eval_count: Option<u32>,
    /// Set instead of everything else when the model fails mid-stream.
    pub error: Option<String>,
    /// Timings and anything newer.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct OllamaMessage {
    pub content: String,
    pub thinking: Option<String>,
    pub tool_calls: Vec<OllamaToolCall>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct OllamaToolCall {
    pub id: Option<String>,
    pub function: Function,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Function {
    pub name: String,
    pub arguments: Value,
}

impl ChatLine {
    pub fn created(&self) -> i64 {
        self.created_at
            .parse::<Timestamp>()
            .map_or_else(|_| unix_now(), |t| t.as_second())
    }

    /// Counts arrive on the final line only.
    pub fn usage(&self) -> Option<Usage> {
        if self.prompt_eval_count.is_none() && self.eval_count.is_none() {
            return None;
        }
        let prompt = self.prompt_eval_count.unwrap_or(0);
        let completion = self.eval_count.unwrap_or(0);
        Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            cached_prompt_tokens: self.prompt_eval_cached_count,
            ..Usage::default()
        })
    }

    /// Why generation ended; a finished answer without `done_reason`
    /// (older servers, Ollama's cloud) simply stopped.
    pub fn native_finish_reason(&mut self) -> String {
        match self.done_reason.take() {
            Some(reason) => reason,
            None if self.done => "stop".to_owned(),
            None => String::new(),
        }
    }

    /// Timings and any field this adapter does not map.
    pub fn extensions(&mut self) -> Option<prost_types::Struct> {
        non_empty(std::mem::take(&mut self.rest))
    }
}

/// Ollama's tool calls with made-up ids (`call_…`), unless Ollama sent ids.
pub(super) fn tool_calls(
    calls: Vec<OllamaToolCall>,
    response_id: &str,
    first: usize,
) -> Vec<ToolCall> {
    calls
        .into_iter()
        .zip(first..)
        .map(|(call, n)| ToolCall {
            id: call.id.unwrap_or_else(|| format!("call_{response_id}_{n}")),
            name: call.function.name,
            arguments: match call.function.arguments {
                Value::Null => "{}".to_owned(),
                arguments => arguments.to_string(),
            },
            extensions: None,
        })
        .collect()
}

/// `stop` after tool calls means `tool_calls` to OpenAI callers; `load` and
/// `unload` (no generation) keep their name.
pub(super) fn finish_reason(native: &str, called_tools: bool) -> FinishReason {
    match native {
        "stop" if called_tools => FinishReason::ToolCalls,
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "" => FinishReason::Unspecified,
        _ => FinishReason::Other,
    }
}

pub fn from_slice(body: &[u8]) -> Result<ChatResponse, serde_json::Error> {
    let mut line: ChatLine = crate::openai_wire::from_bytes(body)?;
    let id = generated_id("chatcmpl-ollama-");
    let message = line.message.take().unwrap_or_default();
    let tool_calls = tool_calls(message.tool_calls, &id, 0);
    let native = line.native_finish_reason();
    let finish = finish_reason(&native, !tool_calls.is_empty());
    Ok(ChatResponse {
        created: line.created(),
        usage: line.usage(),
        extensions: line.extensions(),
        model: line.model,
        choices: vec![Choice {
            index: 0,
            finish_reason: finish as i32,
            native_finish_reason: native,
            message: Some(Message {
                role: Role::Assistant as i32,
                content: Some(message::Content::Text(message.content)),
                reasoning_content: message.thinking,
                tool_calls,
                ..Message::default()
            }),
            extensions: None,
        }],
        id,
        ..ChatResponse::default()
    })
}

/// Ollama's error body is `{"error": "text"}`; a prompt over the context
/// (with context shift off) gets `context_length_exceeded`.
pub fn parse_error(body: &[u8]) -> ErrorBody {
    mark_context_length(
        parse_error_body(body),
        &[
            "longer than the context length",
            "exceeds the context length",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented tool-call answer: ids made up, arguments as a JSON
    /// string, `stop` after a call means `tool_calls`, counts are usage and
    /// timings are kept.
    #[test]
    fn tool_call_response() {
        let response = from_slice(
            br#"{"model":"llama3.2","created_at":"2025-07-07T20:32:53.844124Z",
            "message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},
            "done_reason":"stop","done":true,"total_duration":3244883583,"prompt_eval_count":169,"eval_count":18}"#,
        )
        .expect("parses");
        assert_eq!(response.created, 1_751_920_373);
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
        let call = &choice.message.as_ref().expect("message").tool_calls[0];
        assert_eq!(call.id, format!("call_{}_0", response.id));
        assert_eq!(
            (call.name.as_str(), call.arguments.as_str()),
            ("get_weather", r#"{"city":"Tokyo"}"#)
        );
        let usage = response.usage.expect("usage");
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (169, 18, 187)
        );
        let extensions = crate::openai_wire::json_struct::map_from_struct(
            response.extensions.as_ref().expect("timings"),
        );
        assert_eq!(extensions["total_duration"], 3_244_883_583.0);
    }
}
