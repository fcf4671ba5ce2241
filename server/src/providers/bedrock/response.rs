//! Bedrock `Converse` response -> canonical response, and the pieces the
//! stream shares: stop reasons, usage and error bodies.
//!
//! `text` blocks become `content`; `reasoningContent` becomes
//! `reasoning_content` plus `thinking_blocks` (signed, to send back — the
//! Anthropic adapter's and LiteLLM's name); `toolUse` blocks become tool
//! calls; any other block is kept under the message's `content_blocks`.
//! Converse sends no id and no model: the request id (`x-amzn-requestid`)
//! or a made-up id, and the deployment's model, are reported.

use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::openai_wire::errors::{ErrorBody, mark_context_length, parse_error_body};
use crate::pb::{ChatResponse, Choice, FinishReason, Message, Role, ToolCall, Usage, message};
use crate::providers::{CacheUsageNames, cache_aware_usage, message_extensions, non_empty};

#[derive(Deserialize)]
struct ConverseBody {
    output: Output,
    #[serde(rename = "stopReason")]
    stop_reason: Option<String>,
    usage: Option<Map<String, Value>>,
    /// metrics, additionalModelResponseFields, trace, performanceConfig…
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct Output {
    message: ConverseMessage,
}

#[derive(Deserialize)]
struct ConverseMessage {
    #[serde(default)]
    content: Vec<Map<String, Value>>,
}

/// What an assistant turn's blocks say, in canonical terms.
#[derive(Default)]
pub(super) struct Blocks {
    pub text: Option<String>,
    pub reasoning: Option<String>,
    pub thinking_blocks: Vec<Value>,
    pub tool_calls: Vec<ToolCall>,
    pub other: Vec<Value>,
}

impl Blocks {
    fn read(content: Vec<Map<String, Value>>) -> Self {
        let mut out = Blocks::default();
        for mut block in content {
            if let Some(Value::String(text)) = block.remove("text") {
                out.text.get_or_insert_default().push_str(&text);
            } else if let Some(reasoning) = block.remove("reasoningContent") {
                out.add_reasoning(reasoning);
            } else if let Some(Value::Object(mut call)) = block.remove("toolUse") {
                let text = |v: Option<Value>| match v {
                    Some(Value::String(s)) => s,
                    _ => String::new(),
                };
                out.tool_calls.push(ToolCall {
                    id: text(call.remove("toolUseId")),
                    name: text(call.remove("name")),
                    arguments: call
                        .remove("input")
                        .unwrap_or_else(|| json!({}))
                        .to_string(),
                    extensions: None,
                });
            } else {
                out.other.push(Value::Object(block));
            }
        }
        out
    }

    pub fn add_reasoning(&mut self, reasoning: Value) {
        if let Some(text) = reasoning["reasoningText"]["text"].as_str() {
            self.reasoning.get_or_insert_default().push_str(text);
            let mut block = json!({"type": "thinking", "thinking": text});
            if let Some(signature) = reasoning["reasoningText"].get("signature") {
                block["signature"] = signature.clone();
            }
            self.thinking_blocks.push(block);
        } else if let Some(data) = reasoning.get("redactedContent") {
            self.thinking_blocks
                .push(json!({"type": "redacted_thinking", "data": data}));
        }
    }
}

/// <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_MessageStopEvent.html>
pub(super) fn finish_reason(native: &str) -> FinishReason {
    match native {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        "" => FinishReason::Unspecified,
        // malformed_model_output, malformed_tool_use and new ones keep their name.
        _ => FinishReason::Other,
    }
}

/// `inputTokens` excludes the prompt tokens read from or written to the cache.
pub(super) fn usage_from_json(fields: Map<String, Value>) -> Usage {
    cache_aware_usage(
        fields,
        &CacheUsageNames {
            input: "inputTokens",
            output: "outputTokens",
            cache_read: "cacheReadInputTokens",
            cache_write: "cacheWriteInputTokens",
            total: Some("totalTokens"),
        },
    )
}

pub fn from_slice(
    body: &[u8],
    id: String,
    model: &str,
    created: i64,
) -> Result<ChatResponse, serde_json::Error> {
    let response: ConverseBody = crate::openai_wire::from_bytes(body)?;
    let blocks = Blocks::read(response.output.message.content);
    let native = response.stop_reason.unwrap_or_default();
    Ok(ChatResponse {
        id,
        created,
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            finish_reason: finish_reason(&native) as i32,
            native_finish_reason: native,
            message: Some(Message {
                role: Role::Assistant as i32,
                content: blocks.text.map(message::Content::Text),
                reasoning_content: blocks.reasoning,
                tool_calls: blocks.tool_calls,
                extensions: message_extensions(blocks.thinking_blocks, blocks.other),
                ..Message::default()
            }),
            extensions: None,
        }],
        usage: response.usage.map(usage_from_json),
        extensions: non_empty(response.rest),
        ..ChatResponse::default()
    })
}

/// The status an AWS error type means
/// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_Errors>);
/// stream exceptions use the same names in lower camel case.
pub(super) fn error_status(kind: &str) -> Option<u16> {
    Some(match kind.to_ascii_lowercase().as_str() {
        "validationexception" => 400,
        "accessdeniedexception"
        | "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "expiredtokenexception" => 403,
        "resourcenotfoundexception" => 404,
        "modeltimeoutexception" => 408,
        "throttlingexception" | "modelnotreadyexception" => 429,
        "modelerrorexception" | "modelstreamerrorexception" => 424,
        "internalserverexception" => 500,
        "serviceunavailableexception" => 503,
        _ => return None,
    })
}

/// An HTTP error answer's code, when its body has none: AWS names the error
/// in a header (`x-amzn-errortype: ThrottlingException:http://…`); the
/// bodies often carry only a message.
pub fn code_from_headers(headers: &HeaderMap, mut error: ErrorBody) -> ErrorBody {
    if error.code.is_none() {
        error.code = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(':').next())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
    }
    error
}

/// An error body, from an HTTP answer or a stream exception: `{"message": …}`
/// (`{"Message": …}` from the API-key front door). A prompt over the model's
/// context window (several wordings, all ValidationException) gets OpenAI's
/// `context_length_exceeded` code.
pub fn parse_error(body: &[u8]) -> ErrorBody {
    // A rejected Bedrock API key is answered `{"Message": …}`.
    let mut error = parse_error_body(body);
    if let Some(Value::String(message)) = error.extra.remove("Message") {
        error.message = message;
    }
    mark_context_length(
        error,
        &[
            "input is too long",
            "prompt is too long",
            "too many input tokens",
            "context window",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::json_struct::map_from_struct;

    /// A Claude answer with signed reasoning, a tool call and cache usage.
    #[test]
    fn reasoning_tool_call_and_cache_usage() {
        let response = from_slice(
            br#"{"output":{"message":{"role":"assistant","content":[
                {"reasoningContent":{"reasoningText":{"text":"Think.","signature":"sig"}}},
                {"text":"Let me check."},
                {"toolUse":{"input":{"city":"Paris"},"name":"get_weather","toolUseId":"tooluse_1","type":"tool_use"}}]}},
              "stopReason":"tool_use",
              "usage":{"inputTokens":2,"outputTokens":5,"totalTokens":1329,"cacheWriteInputTokens":1322,"cacheWriteInputTokenCount":1322},
              "metrics":{"latencyMs":268}}"#,
            "req-1".into(),
            "claude",
            9,
        )
        .expect("parses");
        let choice = &response.choices[0];
        assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
        let message = choice.message.as_ref().expect("message");
        assert_eq!(message.reasoning_content.as_deref(), Some("Think."));
        assert_eq!(message.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        let extensions = map_from_struct(message.extensions.as_ref().expect("blocks"));
        assert_eq!(
            extensions["thinking_blocks"],
            json!([{"type": "thinking", "thinking": "Think.", "signature": "sig"}])
        );
        let usage = response.usage.expect("usage");
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens,
                usage.cache_write_tokens
            ),
            (1324, 5, 1329, Some(1322))
        );
        assert!(response.extensions.is_some(), "metrics kept");
    }

    #[test]
    fn context_length_errors_get_openai_code() {
        let error = parse_error(br#"{"message":"Input is too long for requested model."}"#);
        assert_eq!(error.code.as_deref(), Some("context_length_exceeded"));
        let other = parse_error(br#"{"message":"The provided model identifier is invalid."}"#);
        assert_eq!(other.code, None);
    }
}
