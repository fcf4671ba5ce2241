//! `ConverseStream` -> canonical chunks. The body is AWS event-stream binary
//! framing (decoded by the AWS SDK's `aws-smithy-eventstream`); each event
//! message becomes the JSON `{"<event type>": payload}` (the shape the AWS
//! SDKs print), and exception messages end the stream with their error.
//!
//! Events: `messageStart` is the role chunk; `contentBlockStart` with a
//! `toolUse` starts a tool call (id and name), whose `toolUse.input`
//! deltas are argument fragments; `text` and `reasoningContent.text`
//! deltas are content and reasoning deltas; a reasoning block's
//! `signature` (or `redactedContent`) closes it as one `thinking_blocks`
//! entry in the delta's extensions (to send back signed); `messageStop` is
//! the finish chunk; `metadata` (usage, metrics — it may come before or
//! after `messageStop`) becomes the usage-only chunk at the end when the
//! caller asked for `stream_options.include_usage`.

use std::collections::HashMap;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_eventstream::smithy::parse_response_headers;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde_json::{Map, Value, json};

use super::response::{error_status, finish_reason, parse_error, usage_from_json};
use crate::error::GatewayError;
use crate::pb::{ChatChunk, ChunkChoice, Delta, Role, ToolCallDelta};
use crate::providers::http::{MAX_EVENT, event_too_large, unreadable, within_idle_timeout};
use crate::providers::{EventDecoder, THINKING_BLOCKS, extension, non_empty};

/// The response's event-stream messages as `{"<event type>": payload}`
/// JSON, each as soon as its last byte arrives.
pub fn event_payloads<E: std::fmt::Display>(
    bytes: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
    provider: &'static str,
    idle_timeout: std::time::Duration,
) -> impl Stream<Item = Result<String, GatewayError>> + Send + 'static {
    let bytes = Box::pin(within_idle_timeout(bytes, provider, idle_timeout));
    let state = Some((bytes, FrameReader::new(provider)));
    futures::stream::unfold(state, move |state| async move {
        let (mut bytes, mut reader) = state?;
        loop {
            match reader.next_payload() {
                Some(Ok(payload)) => return Some((Ok(payload), Some((bytes, reader)))),
                Some(Err(e)) => return Some((Err(e), None)),
                None => {}
            }
            match bytes.next().await {
                Some(Ok(chunk)) => reader.push(&chunk),
                Some(Err(e)) => return Some((Err(e), None)),
                None => return reader.finish().map(|e| (Err(e), None)),
            }
        }
    })
}

/// Splits event-stream bytes, pushed as they arrive, into message payloads.
pub struct FrameReader {
    provider: &'static str,
    buffer: BytesMut,
    decoder: MessageFrameDecoder,
    /// The decoder holds the prelude of a message whose rest is pending.
    in_frame: bool,
}

impl FrameReader {
    pub fn new(provider: &'static str) -> Self {
        Self {
            provider,
            buffer: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            in_frame: false,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete message's payload, `None` until more bytes arrive.
    pub fn next_payload(&mut self) -> Option<Result<String, GatewayError>> {
        let available = self.buffer.len();
        match self.decoder.decode_frame(&mut self.buffer) {
            Ok(DecodedFrame::Complete(message)) => {
                self.in_frame = false;
                Some(payload_of(&message, self.provider))
            }
            // With 12 bytes or more the decoder has taken the prelude.
            Ok(DecodedFrame::Incomplete) => {
                self.in_frame |= available >= 12;
                (self.buffer.len() > MAX_EVENT)
                    .then(|| Err(broken(self.provider, event_too_large())))
            }
            Err(e) => Some(Err(broken(self.provider, e))),
        }
    }

    /// The error to end with when the body ends inside a message.
    pub fn finish(&self) -> Option<GatewayError> {
        (self.in_frame || !self.buffer.is_empty())
            .then(|| broken(self.provider, "ends inside a message"))
    }
}

fn broken(provider: &'static str, error: impl std::fmt::Display) -> GatewayError {
    unreadable(provider, "event stream", error)
}

fn payload_of(
    message: &aws_smithy_types::event_stream::Message,
    provider: &'static str,
) -> Result<String, GatewayError> {
    let headers = parse_response_headers(message).map_err(|e| broken(provider, e))?;
    let payload = std::str::from_utf8(message.payload()).map_err(|e| broken(provider, e))?;
    let kind = headers.smithy_type.as_str();
    match headers.message_type.as_str() {
        "event" => Ok(format!("{{{}:{payload}}}", Value::from(kind))),
        "exception" => {
            let mut error = parse_error(payload.as_bytes());
            error.code.get_or_insert_with(|| exception_name(kind));
            Err(error.into_error(provider, error_status(kind).unwrap_or(500)))
        }
        other => Err(broken(provider, format!("unknown message type {other}"))),
    }
}

/// An exception's AWS error code: the stream names it in lowerCamelCase
/// (`throttlingException`), the API's `x-amzn-errortype` header and the AWS
/// SDKs in UpperCamelCase (`ThrottlingException`); callers get one spelling.
fn exception_name(kind: &str) -> String {
    let mut chars = kind.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

pub struct StreamState {
    provider: &'static str,
    include_usage: bool,
    id: String,
    model: String,
    created: i64,
    /// contentBlockIndex -> tool-call index, for tool-use blocks.
    tool_blocks: HashMap<u64, u32>,
    /// Reasoning text so far per block, for its `thinking_blocks` entry.
    reasoning: HashMap<u64, String>,
    metadata: Option<Map<String, Value>>,
}

impl StreamState {
    pub fn new(
        provider: &'static str,
        include_usage: bool,
        id: String,
        model: &str,
        created: i64,
    ) -> Self {
        Self {
            provider,
            include_usage,
            id,
            model: model.to_owned(),
            created,
            tool_blocks: HashMap::new(),
            reasoning: HashMap::new(),
            metadata: None,
        }
    }

    fn chunk(&self, choice: ChunkChoice) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![choice],
            ..ChatChunk::default()
        }
    }

    fn delta_chunk(&self, delta: Delta) -> Vec<ChatChunk> {
        if delta == Delta::default() {
            return Vec::new();
        }
        vec![self.chunk(ChunkChoice {
            delta: Some(delta),
            ..ChunkChoice::default()
        })]
    }

    fn tool_index(&mut self, block: u64) -> u32 {
        let next = self.tool_blocks.len() as u32;
        *self.tool_blocks.entry(block).or_insert(next)
    }

    fn content_delta(&mut self, block: u64, delta: &Value) -> Delta {
        if let Some(text) = delta["text"].as_str() {
            return Delta {
                content: (!text.is_empty()).then(|| text.to_owned()),
                ..Delta::default()
            };
        }
        if let Some(input) = delta["toolUse"]["input"].as_str() {
            return Delta {
                tool_calls: vec![ToolCallDelta {
                    index: self.tool_index(block),
                    arguments: input.to_owned(),
                    ..ToolCallDelta::default()
                }],
                ..Delta::default()
            };
        }
        let reasoning = &delta["reasoningContent"];
        if let Some(text) = reasoning["text"].as_str() {
            self.reasoning.entry(block).or_default().push_str(text);
            return Delta {
                reasoning_content: (!text.is_empty()).then(|| text.to_owned()),
                ..Delta::default()
            };
        }
        let finished = if let Some(signature) = reasoning.get("signature") {
            let thinking = self.reasoning.remove(&block).unwrap_or_default();
            json!({"type": "thinking", "thinking": thinking, "signature": signature})
        } else if let Some(data) = reasoning.get("redactedContent") {
            json!({"type": "redacted_thinking", "data": data})
        } else {
            // citation and newer deltas have no canonical home.
            return Delta {
                extensions: extension("content_block_delta", delta.clone()),
                ..Delta::default()
            };
        };
        Delta {
            extensions: extension(THINKING_BLOCKS, json!([finished])),
            ..Delta::default()
        }
    }
}

impl EventDecoder for StreamState {
    fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, GatewayError> {
        let event: Map<String, Value> =
            serde_json::from_str(data).map_err(|e| broken(self.provider, e))?;
        let Some((kind, mut payload)) = event.into_iter().next() else {
            return Ok(Vec::new());
        };
        let block = payload["contentBlockIndex"].as_u64().unwrap_or_default();
        Ok(match kind.as_str() {
            "messageStart" => self.delta_chunk(Delta {
                role: Role::Assistant as i32,
                content: Some(String::new()),
                ..Delta::default()
            }),
            "contentBlockStart" => {
                let tool = &payload["start"]["toolUse"];
                if tool.is_null() {
                    return Ok(Vec::new());
                }
                let delta = Delta {
                    tool_calls: vec![ToolCallDelta {
                        index: self.tool_index(block),
                        id: tool["toolUseId"].as_str().map(str::to_owned),
                        name: tool["name"].as_str().map(str::to_owned),
                        arguments: String::new(),
                        extensions: None,
                    }],
                    ..Delta::default()
                };
                self.delta_chunk(delta)
            }
            "contentBlockDelta" => {
                let delta = self.content_delta(block, &payload["delta"]);
                self.delta_chunk(delta)
            }
            "messageStop" => {
                let native = payload["stopReason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let mut rest = payload
                    .as_object_mut()
                    .map(std::mem::take)
                    .unwrap_or_default();
                rest.remove("stopReason");
                rest.remove("p");
                vec![self.chunk(ChunkChoice {
                    delta: Some(Delta::default()),
                    finish_reason: finish_reason(&native) as i32,
                    native_finish_reason: native,
                    extensions: non_empty(rest),
                    ..ChunkChoice::default()
                })]
            }
            "metadata" => {
                if let Value::Object(mut fields) = payload {
                    fields.remove("p");
                    self.metadata = Some(fields);
                }
                Vec::new()
            }
            // contentBlockStop, and event types newer than this adapter.
            _ => Vec::new(),
        })
    }

    fn on_end(&mut self) -> Vec<ChatChunk> {
        let Some(mut metadata) = self.metadata.take().filter(|_| self.include_usage) else {
            return Vec::new();
        };
        let usage = match metadata.remove("usage") {
            Some(Value::Object(usage)) => usage_from_json(usage),
            _ => return Vec::new(),
        };
        vec![ChatChunk {
            usage: Some(usage),
            choices: Vec::new(),
            // metrics, trace…
            extensions: non_empty(metadata),
            ..self.chunk(ChunkChoice::default())
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::FinishReason;

    /// The recorded Nova stream, fed to the decoder in pieces of every size:
    /// event messages become `{"type": payload}` in order.
    #[tokio::test]
    async fn decodes_recorded_event_stream_in_any_split() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../conformance/fixtures/upstream/bedrock/stream__converse-stream-nova-text.response.eventstream"
        ))
        .expect("fixture");
        for size in [1, 7, 100, raw.len()] {
            let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = raw
                .chunks(size)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            let bytes = futures::stream::iter(pieces);
            let events: Vec<String> =
                event_payloads(bytes, "bedrock", std::time::Duration::from_secs(5))
                    .map(|e| e.expect("event"))
                    .collect()
                    .await;
            assert_eq!(events.len(), 33, "split every {size} bytes");
            assert!(events[0].starts_with(r#"{"messageStart":{"#));
            assert!(events[32].starts_with(r#"{"metadata":{"#));
        }
    }

    /// A message that claims more than `MAX_EVENT` bytes ends the stream
    /// once that much has arrived, rather than being buffered on.
    #[test]
    fn oversized_messages_are_refused() {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&(64 * 1024 * 1024u32).to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let mut reader = FrameReader::new("bedrock");
        reader.push(&prelude);
        assert!(reader.next_payload().is_none());
        let chunk = vec![0; 1024 * 1024];
        for _ in 0..16 {
            reader.push(&chunk);
            assert!(
                reader.next_payload().is_none(),
                "16 MiB is still waited for"
            );
        }
        reader.push(&chunk);
        match reader.next_payload() {
            Some(Err(error)) => assert!(error.to_string().contains("exceeds 16 MiB"), "{error}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// A tool call and signed reasoning, with metadata before messageStop.
    #[test]
    fn tool_use_and_reasoning_events() {
        let mut state = StreamState::new("bedrock", true, "id".into(), "m", 1);
        let events = [
            r#"{"messageStart":{"role":"assistant","p":"ab"}}"#,
            r#"{"contentBlockDelta":{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Hmm"}}}}"#,
            r#"{"contentBlockDelta":{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig"}}}}"#,
            r#"{"contentBlockStart":{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"w"}}}}"#,
            r#"{"contentBlockDelta":{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":1}"}}}}"#,
            r#"{"metadata":{"usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7},"metrics":{"latencyMs":5}}}"#,
            r#"{"messageStop":{"stopReason":"tool_use"}}"#,
        ];
        let mut chunks: Vec<ChatChunk> = events
            .iter()
            .flat_map(|e| state.on_event(e).expect("event"))
            .collect();
        chunks.extend(state.on_end());
        let deltas: Vec<&Delta> = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.as_ref())
            .collect();
        assert_eq!(deltas[1].reasoning_content.as_deref(), Some("Hmm"));
        let blocks = crate::openai_wire::json_struct::map_from_struct(
            deltas[2].extensions.as_ref().expect("thinking block"),
        );
        assert_eq!(
            blocks["thinking_blocks"],
            json!([{"type": "thinking", "thinking": "Hmm", "signature": "sig"}])
        );
        assert_eq!(deltas[3].tool_calls[0].id.as_deref(), Some("t1"));
        assert_eq!(
            (
                deltas[4].tool_calls[0].index,
                deltas[4].tool_calls[0].arguments.as_str()
            ),
            (0, "{\"a\":1}")
        );
        assert_eq!(
            chunks[5].choices[0].finish_reason,
            FinishReason::ToolCalls as i32
        );
        assert_eq!(chunks[6].usage.as_ref().map(|u| u.total_tokens), Some(7));
    }
}
