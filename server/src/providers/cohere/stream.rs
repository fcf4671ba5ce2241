//! Cohere v2 chat stream -> canonical chunks
//! (<https://docs.cohere.com/docs/streaming>). Events by `type`:
//! `message-start` is the role chunk; `content-delta` text or thinking is a
//! content or reasoning delta; `tool-call-start` / `tool-call-delta` are
//! tool-call deltas (id and name first, then argument fragments);
//! `tool-plan-delta` and `citation-start` have no OpenAI home and travel in
//! the delta's extensions (`tool_plan` fragments, `citations`);
//! `message-end` is the finish chunk, then the usage-only chunk when the
//! caller asked for `stream_options.include_usage`. Start/end markers and
//! `debug` events carry nothing to forward.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::response::{finish_reason, usage_from_json};
use crate::error::GatewayError;
use crate::openai_wire::errors::ErrorBody;
use crate::pb::{ChatChunk, ChunkChoice, Delta, Role, ToolCallDelta};
use crate::providers::http::unreadable;
use crate::providers::{EventDecoder, extension};

pub struct StreamState {
    provider: &'static str,
    model: String,
    include_usage: bool,
    created: i64,
    id: String,
    /// Cohere's tool-call index -> the index callers see.
    tool_indexes: HashMap<u64, u32>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    index: Option<u64>,
    #[serde(default)]
    delta: Value,
}

impl StreamState {
    pub fn new(provider: &'static str, model: &str, include_usage: bool, created: i64) -> Self {
        Self {
            provider,
            model: model.to_owned(),
            include_usage,
            created,
            id: String::new(),
            tool_indexes: HashMap::new(),
        }
    }

    fn chunk(&self, delta: Delta) -> ChatChunk {
        self.chunk_with(ChunkChoice {
            delta: Some(delta),
            ..ChunkChoice::default()
        })
    }

    fn chunk_with(&self, choice: ChunkChoice) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![choice],
            ..ChatChunk::default()
        }
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

impl EventDecoder for StreamState {
    fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, GatewayError> {
        let mut event: Event =
            serde_json::from_str(data).map_err(|e| unreadable(self.provider, "stream event", e))?;
        let message = &event.delta["message"];
        let delta = match event.kind.as_str() {
            "message-start" => {
                self.id = event.id.unwrap_or_default();
                Delta {
                    role: Role::Assistant as i32,
                    content: Some(String::new()),
                    ..Delta::default()
                }
            }
            "content-delta" => Delta {
                content: text(&message["content"]["text"]),
                reasoning_content: text(&message["content"]["thinking"]),
                ..Delta::default()
            },
            "tool-plan-delta" => Delta {
                extensions: extension("tool_plan", message["tool_plan"].clone()),
                ..Delta::default()
            },
            "tool-call-start" | "tool-call-delta" => {
                let call = &message["tool_calls"];
                let next = self.tool_indexes.len() as u32;
                let index = *self
                    .tool_indexes
                    .entry(event.index.unwrap_or_default())
                    .or_insert(next);
                Delta {
                    tool_calls: vec![ToolCallDelta {
                        index,
                        id: text(&call["id"]),
                        name: text(&call["function"]["name"]),
                        arguments: text(&call["function"]["arguments"]).unwrap_or_default(),
                        extensions: None,
                    }],
                    ..Delta::default()
                }
            }
            "citation-start" => Delta {
                extensions: extension("citations", json!([message["citations"]])),
                ..Delta::default()
            },
            "message-end" => {
                let native = text(&event.delta["finish_reason"]).unwrap_or_default();
                if native == "ERROR" {
                    // The generation failed after the 200: an error the
                    // caller's SDK raises, with Cohere's reason, rather
                    // than a finish that passes the partial answer off.
                    let error = ErrorBody {
                        message: text(&event.delta["error"])
                            .unwrap_or_else(|| "the generation failed".into()),
                        code: Some(native),
                        ..ErrorBody::default()
                    };
                    return Err(error.into_error(self.provider, 500));
                }
                let mut chunks = vec![self.chunk_with(ChunkChoice {
                    delta: Some(Delta::default()),
                    finish_reason: finish_reason(&native) as i32,
                    native_finish_reason: native,
                    ..ChunkChoice::default()
                })];
                if self.include_usage
                    && let Some(Value::Object(usage)) =
                        event.delta.get_mut("usage").map(Value::take)
                {
                    chunks.push(ChatChunk {
                        usage: Some(usage_from_json(usage)),
                        choices: Vec::new(),
                        ..self.chunk(Delta::default())
                    });
                }
                return Ok(chunks);
            }
            // content-start/-end, tool-call-end, citation-end, debug.
            _ => return Ok(Vec::new()),
        };
        Ok(if delta == Delta::default() {
            Vec::new()
        } else {
            vec![self.chunk(delta)]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::FinishReason;

    /// A tool call streams as id + name, then argument fragments at the
    /// same index; the plan travels in extensions; usage comes last.
    #[test]
    fn tool_call_events() {
        let mut state = StreamState::new("cohere", "command-a", true, 1);
        let events = [
            r#"{"id":"x1","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#,
            r#"{"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will"}}}"#,
            r#"{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"w_1","type":"function","function":{"name":"w","arguments":""}}}}}"#,
            r#"{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\"city\""}}}}}"#,
            r#"{"type":"tool-call-end","index":0}"#,
            r#"{"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"billed_units":{"input_tokens":1,"output_tokens":2},"tokens":{"input_tokens":3,"output_tokens":4}}}}"#,
        ];
        let chunks: Vec<ChatChunk> = events
            .iter()
            .flat_map(|e| state.on_event(e).expect("event"))
            .collect();
        assert_eq!(chunks.len(), 6);
        assert!(chunks.iter().all(|c| c.id == "x1"));
        let call = &chunks[2].choices[0]
            .delta
            .as_ref()
            .expect("delta")
            .tool_calls[0];
        assert_eq!(
            (call.index, call.id.as_deref(), call.name.as_deref()),
            (0, Some("w_1"), Some("w"))
        );
        let fragment = &chunks[3].choices[0]
            .delta
            .as_ref()
            .expect("delta")
            .tool_calls[0];
        assert_eq!(
            (fragment.index, fragment.arguments.as_str()),
            (0, "{\"city\"")
        );
        assert_eq!(
            chunks[4].choices[0].finish_reason,
            FinishReason::ToolCalls as i32
        );
        assert_eq!(chunks[5].usage.as_ref().map(|u| u.total_tokens), Some(7));
    }

    /// A generation that fails after the 200 (`finish_reason: ERROR`) ends
    /// the stream with Cohere's reason as a server error.
    #[test]
    fn a_failed_generation_is_an_error() {
        let mut state = StreamState::new("cohere", "command-a", true, 1);
        let end = r#"{"type":"message-end","delta":{"finish_reason":"ERROR","error":"internal error","usage":{}}}"#;
        let error = state.on_event(end).expect_err("an error");
        assert!(
            matches!(&error, GatewayError::Upstream(e) if e.status == 500 && e.message == "internal error" && e.code.as_deref() == Some("ERROR")),
            "{error:?}"
        );
    }
}
