//! `/api/chat` NDJSON stream -> canonical chunks. Every line is a partial
//! response: its `content` and `thinking` become deltas (the role on the
//! first), tool calls arrive whole (arguments in one delta), and the final
//! `done: true` line becomes the finish chunk, then the usage-only chunk when
//! the caller asked for `stream_options.include_usage`. A line with `error`
//! (the model failed mid-stream) ends the stream with that error.

use super::response::{ChatLine, finish_reason, tool_calls};
use crate::error::GatewayError;
use crate::openai_wire::errors::ErrorBody;
use crate::pb::{ChatChunk, ChunkChoice, Delta, Role, ToolCallDelta};
use crate::providers::http::unreadable;
use crate::providers::{EventDecoder, generated_id};

pub struct StreamState {
    provider: &'static str,
    include_usage: bool,
    id: String,
    started: bool,
    calls: usize,
}

impl StreamState {
    pub fn new(provider: &'static str, include_usage: bool) -> Self {
        Self {
            provider,
            include_usage,
            id: generated_id("chatcmpl-ollama-"),
            started: false,
            calls: 0,
        }
    }
}

impl EventDecoder for StreamState {
    fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, GatewayError> {
        let mut line: ChatLine =
            serde_json::from_str(data).map_err(|e| unreadable(self.provider, "stream line", e))?;
        if let Some(message) = line.error.take() {
            // Ollama documents this as the model failing: a server error.
            let error = ErrorBody {
                message,
                ..ErrorBody::default()
            };
            return Err(error.into_error(self.provider, 500));
        }
        let created = line.created();
        let chunk = |line: &ChatLine, choice: ChunkChoice| ChatChunk {
            id: self.id.clone(),
            created,
            model: line.model.clone(),
            choices: vec![choice],
            ..ChatChunk::default()
        };

        let mut chunks = Vec::new();
        let message = line.message.take().unwrap_or_default();
        let first = !self.started;
        self.started = true;
        let calls: Vec<ToolCallDelta> = tool_calls(message.tool_calls, &self.id, self.calls)
            .into_iter()
            .map(|call| {
                let index = self.calls as u32;
                self.calls += 1;
                ToolCallDelta {
                    index,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                    extensions: None,
                }
            })
            .collect();
        let delta = Delta {
            role: if first { Role::Assistant as i32 } else { 0 },
            content: (first || !message.content.is_empty()).then_some(message.content),
            reasoning_content: message.thinking.filter(|t| !t.is_empty()),
            tool_calls: calls,
            ..Delta::default()
        };
        if delta != Delta::default() {
            chunks.push(chunk(
                &line,
                ChunkChoice {
                    delta: Some(delta),
                    ..ChunkChoice::default()
                },
            ));
        }
        if line.done {
            let native = line.native_finish_reason();
            let extensions = line.extensions();
            chunks.push(chunk(
                &line,
                ChunkChoice {
                    delta: Some(Delta::default()),
                    finish_reason: finish_reason(&native, self.calls > 0) as i32,
                    native_finish_reason: native,
                    extensions,
                    ..ChunkChoice::default()
                },
            ));
            if let Some(usage) = line.usage().filter(|_| self.include_usage) {
                chunks.push(ChatChunk {
                    usage: Some(usage),
                    choices: Vec::new(),
                    ..chunk(&line, ChunkChoice::default())
                });
            }
        }
        Ok(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::FinishReason;

    /// The documented first and final lines: role + text, then finish and
    /// usage; a mid-stream error line is a server error.
    #[test]
    fn lines_become_openai_shaped_chunks() {
        let mut state = StreamState::new("ollama", true);
        let first = state
            .on_event(r#"{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":"The","images":null},"done":false}"#)
            .expect("first");
        let delta = first[0].choices[0].delta.as_ref().expect("delta");
        assert_eq!(
            (delta.role, delta.content.as_deref()),
            (Role::Assistant as i32, Some("The"))
        );
        assert_eq!(first[0].created, 1_691_164_339);
        let last = state
            .on_event(r#"{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":4883583458,"prompt_eval_count":26,"eval_count":282}"#)
            .expect("last");
        assert_eq!(last.len(), 2, "finish chunk, then usage chunk");
        assert_eq!(last[0].choices[0].finish_reason, FinishReason::Stop as i32);
        assert!(last[0].choices[0].extensions.is_some(), "timings kept");
        assert_eq!(last[1].usage.as_ref().map(|u| u.total_tokens), Some(308));
        let error = state
            .on_event(r#"{"error":"an error was encountered while running the model"}"#)
            .expect_err("error line");
        assert!(matches!(error, GatewayError::Upstream(e) if e.status == 500));
    }
}
