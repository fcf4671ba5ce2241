//! `streamGenerateContent?alt=sse` -> canonical chunks. Every event is a
//! partial `GenerateContentResponse`: its parts become content, reasoning and
//! tool-call deltas (a function call arrives whole, so its arguments come in
//! one delta), a finish reason becomes a finish chunk, and the last
//! `usageMetadata` (cumulative) becomes the usage-only chunk at the end when
//! the caller asked for `stream_options.include_usage`. A blocked prompt
//! (no candidate, `promptFeedback.blockReason`) is a `content_filter` finish,
//! as when not streamed; an `error` event ends the stream with its error.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::response::{
    GenerateResponse, PROMPT_BLOCKED, Parts, error_from_json, finish_reason, usage_from_json,
};
use crate::error::GatewayError;
use crate::pb::{ChatChunk, ChunkChoice, Delta, FinishReason, Role, ToolCallDelta};
use crate::providers::http::unreadable;
use crate::providers::{EventDecoder, non_empty, stated_status};

pub struct StreamState {
    provider: &'static str,
    include_usage: bool,
    created: i64,
    id: String,
    model: String,
    usage: Option<Map<String, Value>>,
    /// Tool calls so far per candidate; absent until its role chunk is sent.
    calls_per_candidate: HashMap<u32, usize>,
}

impl StreamState {
    pub fn new(provider: &'static str, include_usage: bool, created: i64) -> Self {
        Self {
            provider,
            include_usage,
            created,
            id: String::new(),
            model: String::new(),
            usage: None,
            calls_per_candidate: HashMap::new(),
        }
    }

    /// A blocked prompt's answer: no text, a `content_filter` finish, and
    /// the feedback saying why.
    fn prompt_blocked(&mut self, feedback: Map<String, Value>) -> Vec<ChatChunk> {
        self.calls_per_candidate.insert(0, 0);
        let role = ChunkChoice {
            delta: Some(Delta {
                role: Role::Assistant as i32,
                content: Some(String::new()),
                ..Delta::default()
            }),
            ..ChunkChoice::default()
        };
        let finish = ChunkChoice {
            delta: Some(Delta::default()),
            finish_reason: FinishReason::ContentFilter as i32,
            native_finish_reason: PROMPT_BLOCKED.into(),
            ..ChunkChoice::default()
        };
        let mut extensions = Map::new();
        extensions.insert("prompt_feedback".into(), feedback.into());
        vec![
            self.chunk(vec![role]),
            ChatChunk {
                extensions: non_empty(extensions),
                ..self.chunk(vec![finish])
            },
        ]
    }

    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model.clone(),
            choices,
            ..ChatChunk::default()
        }
    }
}

impl EventDecoder for StreamState {
    fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, GatewayError> {
        let event: GenerateResponse =
            serde_json::from_str(data).map_err(|e| unreadable(self.provider, "stream event", e))?;
        if let Some(error) = event.error {
            let status = stated_status(error.get("code"));
            return Err(error_from_json(error).into_error(self.provider, status));
        }
        if self.id.is_empty() {
            self.id = event.response_id.clone();
            self.model = event.model_version.clone();
            self.created = event.created(self.created);
        }
        if event.usage_metadata.is_some() {
            self.usage = event.usage_metadata;
        }
        if event.candidates.is_empty()
            && let Some(feedback) = event.prompt_feedback
            && feedback.contains_key("blockReason")
        {
            return Ok(self.prompt_blocked(feedback));
        }
        let mut chunks = Vec::new();
        for candidate in event.candidates {
            let first = !self.calls_per_candidate.contains_key(&candidate.index);
            let calls = self.calls_per_candidate.entry(candidate.index).or_insert(0);
            let mut parts = Parts::read(
                candidate.content.map(|c| c.parts).unwrap_or_default(),
                &self.id,
                *calls,
            );
            let extensions = parts.extensions();
            let tool_calls: Vec<ToolCallDelta> = parts
                .tool_calls
                .into_iter()
                .map(|call| {
                    let index = *calls as u32;
                    *calls += 1;
                    ToolCallDelta {
                        index,
                        id: Some(call.id),
                        name: Some(call.name),
                        arguments: call.arguments,
                        extensions: call.extensions,
                    }
                })
                .collect();
            let called_tools = *calls > 0;
            let delta = Delta {
                role: if first { Role::Assistant as i32 } else { 0 },
                extensions,
                content: parts.text.or_else(|| first.then(String::new)),
                reasoning_content: parts.reasoning,
                tool_calls,
                ..Delta::default()
            };
            if delta != Delta::default() {
                chunks.push(self.chunk(vec![ChunkChoice {
                    index: candidate.index,
                    delta: Some(delta),
                    ..ChunkChoice::default()
                }]));
            }
            if let Some(native) = candidate.finish_reason {
                chunks.push(self.chunk(vec![ChunkChoice {
                    index: candidate.index,
                    delta: Some(Delta::default()),
                    finish_reason: finish_reason(&native, called_tools) as i32,
                    native_finish_reason: native,
                    extensions: non_empty(candidate.rest),
                }]));
            }
        }
        Ok(chunks)
    }

    fn on_end(&mut self) -> Vec<ChatChunk> {
        match self.usage.take().filter(|_| self.include_usage) {
            Some(usage) => vec![ChatChunk {
                usage: Some(usage_from_json(usage)),
                ..self.chunk(Vec::new())
            }],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::FinishReason;

    /// Text arrives as deltas, a function call whole with an id, the finish
    /// reason as its own chunk and the last usage at the end.
    #[test]
    fn events_become_openai_shaped_chunks() {
        let mut state = StreamState::new("gemini", true, 1);
        let mut chunks = Vec::new();
        for event in [
            r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4},"modelVersion":"g","responseId":"r"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"lo"},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"s"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":5,"totalTokenCount":8},"modelVersion":"g","responseId":"r"}"#,
        ] {
            chunks.extend(state.on_event(event).expect("event"));
        }
        chunks.extend(state.on_end());
        let delta = |i: usize| chunks[i].choices[0].delta.as_ref().expect("delta");
        assert_eq!(delta(0).role(), Role::Assistant);
        assert_eq!(delta(0).content.as_deref(), Some("Hel"));
        assert_eq!(delta(1).content.as_deref(), Some("lo"));
        let call = &delta(1).tool_calls[0];
        assert_eq!(
            (call.index, call.id.as_deref(), call.arguments.as_str()),
            (0, Some("call_r_0"), r#"{"a":1}"#)
        );
        assert_eq!(
            chunks[2].choices[0].finish_reason(),
            FinishReason::ToolCalls
        );
        let usage = chunks[3].usage.as_ref().expect("usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (3, 5));
        assert_eq!(chunks.len(), 4);
    }
}
