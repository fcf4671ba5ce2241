//! Anthropic stream events -> canonical chunks
//! (<https://docs.anthropic.com/en/docs/build-with-claude/streaming>).
//!
//! `message_start` gives the id, model and prompt usage and becomes the role
//! chunk; text, thinking and `input_json_delta` fragments become content,
//! reasoning and tool-call argument deltas as they arrive (tool calls are
//! numbered in order of appearance, as OpenAI numbers them); a thinking
//! block's signature arrives as one `thinking_blocks` entry holding the whole
//! block, ready to be sent back; `message_delta` carries the stop reason and
//! the final usage, sent as a usage-only chunk after the finish chunk when the
//! caller asked for `stream_options.include_usage`. `error` events end the
//! stream with the error they carry.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::response::{
    CONTEXT_LENGTH_PHRASES, error_status, finish_reason, stop_extensions, usage_from_json,
};
use crate::error::GatewayError;
use crate::openai_wire::errors::{ErrorBody, mark_context_length};
use crate::pb::{ChatChunk, ChunkChoice, Delta, Role, ToolCallDelta};
use crate::providers::http::unreadable;
use crate::providers::{CONTENT_BLOCKS, EventDecoder, THINKING_BLOCKS, extension};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: Map<String, Value>,
    },
    ContentBlockDelta {
        index: u32,
        delta: Map<String, Value>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Map<String, Value>,
    },
    MessageStop,
    Ping,
    Error {
        error: Map<String, Value>,
    },
    /// Event types added after this was written are skipped, as Anthropic's
    /// versioning policy asks.
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct StartedMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: Map<String, Value>,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    stop_details: Option<Value>,
}

/// What an open content block has sent so far.
enum Block {
    Text,
    /// The thinking text, re-sent whole with its signature.
    Thinking(String),
    /// The tool call's index among this message's tool calls, and whether
    /// any argument fragment has been sent.
    ToolUse {
        index: u32,
        has_arguments: bool,
    },
    Other,
}

pub struct StreamState {
    provider: &'static str,
    include_usage: bool,
    created: i64,
    id: String,
    model: String,
    usage: Map<String, Value>,
    blocks: HashMap<u32, Block>,
    tool_calls: u32,
}

impl StreamState {
    pub fn new(provider: &'static str, include_usage: bool, created: i64) -> Self {
        Self {
            provider,
            include_usage,
            created,
            id: String::new(),
            model: String::new(),
            usage: Map::new(),
            blocks: HashMap::new(),
            tool_calls: 0,
        }
    }
}

impl EventDecoder for StreamState {
    fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, GatewayError> {
        let event: Event =
            serde_json::from_str(data).map_err(|e| unreadable(self.provider, "stream event", e))?;
        let chunk = match event {
            Event::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                self.usage = message.usage;
                Some(self.chunk(Delta {
                    role: Role::Assistant as i32,
                    content: Some(String::new()),
                    ..Delta::default()
                }))
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => self.start_block(index, content_block),
            Event::ContentBlockDelta { index, delta } => self.block_delta(index, delta),
            Event::ContentBlockStop { index } => match self.blocks.remove(&index) {
                // A tool with no input streams no fragment; its arguments are `{}`.
                Some(Block::ToolUse {
                    index,
                    has_arguments: false,
                }) => Some(self.tool_delta(index, None, None, "{}")),
                _ => None,
            },
            Event::MessageDelta { delta, usage } => {
                // The final counts; fields sent only at the start are kept.
                self.usage.extend(usage);
                let native = delta.stop_reason.unwrap_or_default();
                let mut chunk = self.chunk(Delta::default());
                let choice = &mut chunk.choices[0];
                choice.finish_reason = finish_reason(&native) as i32;
                choice.native_finish_reason = native;
                choice.extensions = stop_extensions(delta.stop_sequence, delta.stop_details);
                Some(chunk)
            }
            Event::MessageStop if self.include_usage => Some(ChatChunk {
                usage: Some(usage_from_json(std::mem::take(&mut self.usage))),
                ..self.empty_chunk()
            }),
            Event::MessageStop | Event::Ping | Event::Unknown => None,
            Event::Error { error } => return Err(self.error(error)),
        };
        Ok(chunk.into_iter().collect())
    }
}

impl StreamState {
    fn start_block(&mut self, index: u32, mut block: Map<String, Value>) -> Option<ChatChunk> {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let kind = text(block.get("type"));
        let (state, chunk) = match kind.as_str() {
            "text" => {
                let text = text(block.get("text"));
                let chunk = (!text.is_empty()).then(|| self.content_chunk(text));
                (Block::Text, chunk)
            }
            "thinking" => (Block::Thinking(text(block.get("thinking"))), None),
            "tool_use" => {
                let tool = self.tool_calls;
                self.tool_calls += 1;
                let (id, name) = (text(block.get("id")), text(block.get("name")));
                let chunk = Some(self.tool_delta(tool, Some(id), Some(name), ""));
                let state = Block::ToolUse {
                    index: tool,
                    has_arguments: false,
                };
                (state, chunk)
            }
            // Redacted thinking comes whole; server tool blocks and future
            // types are passed on as they are.
            _ => {
                block.retain(|_, v| !v.is_null());
                let key = if kind == "redacted_thinking" {
                    THINKING_BLOCKS
                } else {
                    CONTENT_BLOCKS
                };
                let chunk = Some(self.extension_chunk(key, Value::Object(block)));
                (Block::Other, chunk)
            }
        };
        self.blocks.insert(index, state);
        chunk
    }

    fn block_delta(&mut self, index: u32, delta: Map<String, Value>) -> Option<ChatChunk> {
        let field = |name: &str| delta.get(name).and_then(Value::as_str).unwrap_or_default();
        match (
            delta.get("type").and_then(Value::as_str),
            self.blocks.get_mut(&index),
        ) {
            (Some("text_delta"), _) => Some(self.content_chunk(field("text").to_owned())),
            (Some("thinking_delta"), Some(Block::Thinking(so_far))) => {
                let thinking = field("thinking");
                so_far.push_str(thinking);
                Some(self.chunk(Delta {
                    reasoning_content: Some(thinking.to_owned()),
                    ..Delta::default()
                }))
            }
            (Some("signature_delta"), Some(Block::Thinking(so_far))) => {
                let block = json!({"type": "thinking", "thinking": so_far, "signature": field("signature")});
                Some(self.extension_chunk(THINKING_BLOCKS, block))
            }
            (
                Some("input_json_delta"),
                Some(Block::ToolUse {
                    index,
                    has_arguments,
                }),
            ) => {
                let fragment = field("partial_json");
                if fragment.is_empty() {
                    return None;
                }
                *has_arguments = true;
                let index = *index;
                Some(self.tool_delta(index, None, None, fragment))
            }
            // Citations and future delta types are passed on as they are.
            _ => Some(self.extension_chunk("content_block_delta", Value::Object(delta))),
        }
    }

    fn error(&self, mut error: Map<String, Value>) -> GatewayError {
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let kind = text(error.remove("type"));
        let status = error_status(kind.as_deref());
        let body = ErrorBody {
            message: text(error.remove("message")).unwrap_or_default(),
            kind,
            extra: error,
            ..ErrorBody::default()
        };
        let body = mark_context_length(body, CONTEXT_LENGTH_PHRASES);
        body.into_error(self.provider, status)
    }

    fn empty_chunk(&self) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model.clone(),
            ..ChatChunk::default()
        }
    }

    fn chunk(&self, delta: Delta) -> ChatChunk {
        ChatChunk {
            choices: vec![ChunkChoice {
                index: 0,
                delta: Some(delta),
                ..ChunkChoice::default()
            }],
            ..self.empty_chunk()
        }
    }

    fn content_chunk(&self, text: String) -> ChatChunk {
        self.chunk(Delta {
            content: Some(text),
            ..Delta::default()
        })
    }

    fn tool_delta(
        &self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: &str,
    ) -> ChatChunk {
        self.chunk(Delta {
            tool_calls: vec![ToolCallDelta {
                index,
                id,
                name,
                arguments: arguments.to_owned(),
                extensions: None,
            }],
            ..Delta::default()
        })
    }

    fn extension_chunk(&self, key: &str, value: Value) -> ChatChunk {
        self.chunk(Delta {
            extensions: extension(key, Value::Array(vec![value])),
            ..Delta::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::FinishReason;

    fn run(events: &[&str], include_usage: bool) -> Vec<ChatChunk> {
        let mut state = StreamState::new("anthropic", include_usage, 1);
        events
            .iter()
            .flat_map(|e| state.on_event(e).expect("event"))
            .collect()
    }

    /// Two tool calls stream as OpenAI-numbered deltas; an empty input is `{}`.
    #[test]
    fn tool_calls_are_numbered_and_complete() {
        let chunks = run(
            &[
                r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":5,"output_tokens":1}}}"#,
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
                r#"{"type":"content_block_stop","index":0}"#,
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"a","input":{}}}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x\":"}}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
                r#"{"type":"content_block_stop","index":1}"#,
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"b","input":{}}}"#,
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
                r#"{"type":"content_block_stop","index":2}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}"#,
                r#"{"type":"message_stop"}"#,
            ],
            true,
        );
        let tools: Vec<(u32, Option<&str>, &str)> = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .flat_map(|c| &c.delta.as_ref().expect("delta").tool_calls)
            .map(|t| (t.index, t.id.as_deref(), t.arguments.as_str()))
            .collect();
        assert_eq!(
            tools,
            [
                (0, Some("t1"), ""),
                (0, None, "{\"x\":"),
                (0, None, "1}"),
                (1, Some("t2"), ""),
                (1, None, "{}")
            ]
        );
        let finish = &chunks[chunks.len() - 2].choices[0];
        assert_eq!(finish.finish_reason(), FinishReason::ToolCalls);
        let usage = chunks.last().and_then(|c| c.usage.as_ref()).expect("usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (5, 9));
    }

    /// An error event ends the stream with the status its type means.
    #[test]
    fn error_events_carry_their_status() {
        let mut state = StreamState::new("anthropic", false, 1);
        let error = state
            .on_event(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .expect_err("an error");
        assert!(
            matches!(error, GatewayError::Upstream(e) if e.status == 529 && e.message == "Overloaded")
        );
    }
}
