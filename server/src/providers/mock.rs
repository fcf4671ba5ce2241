//! The `mock` provider: an offline, deterministic stand-in for a model.
//!
//! It exists for demos on a machine with no keys or network, and for load
//! tests that must measure the gateway rather than a model. It is not a
//! model and does not pretend to be one:
//!
//! - the reply is `params.mock_response` if set, else `Mock reply to: <last
//!   user text>`; the same request always gets the same text;
//! - one whitespace-separated word counts as one token; `max_tokens` /
//!   `max_completion_tokens` cut the reply (finish reason `length`);
//! - streaming sends a role chunk, one chunk per word, a finish chunk, and a
//!   usage chunk when `stream_options.include_usage` is set;
//! - with `tool_choice` required or naming a function, it calls that (or the
//!   first) tool with `{}` as arguments;
//! - embeddings are unit vectors derived from a hash of each input (16
//!   dimensions unless `dimensions` is given).

use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use futures::{StreamExt, stream};

use super::{ChunkStream, Provider, embed_usage, include_usage, numbered_embeddings, unix_now};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Delta, EmbedRequest, EmbedResponse,
    FinishReason, Message, Role, ToolCall, ToolCallDelta, ToolChoiceMode, Usage, message,
    tool_choice,
};

const DEFAULT_DIMENSIONS: u32 = 16;

pub struct MockProvider {
    model: String,
    fixed_reply: Option<String>,
    next_id: AtomicU64,
}

/// What the mock will answer to one request.
struct Reply {
    words: Vec<String>,
    tool_call: Option<ToolCall>,
    finish: FinishReason,
    usage: Usage,
}

impl MockProvider {
    pub fn new(config: &DeploymentConfig) -> Self {
        Self {
            model: config.model.clone(),
            fixed_reply: config.mock_response.clone(),
            next_id: AtomicU64::new(1),
        }
    }

    fn id(&self) -> String {
        format!(
            "chatcmpl-mock-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn reply(&self, request: &ChatRequest) -> Reply {
        let prompt_tokens: usize = request
            .messages
            .iter()
            .flat_map(super::message_texts)
            .map(word_count)
            .sum();
        let tool_call = forced_tool(request).map(|name| ToolCall {
            id: format!("call_mock_{}", self.next_id.load(Ordering::Relaxed)),
            name,
            arguments: "{}".into(),
            extensions: None,
        });
        let text = match &self.fixed_reply {
            Some(text) => text.clone(),
            None => {
                let last_user = request
                    .messages
                    .iter()
                    .rev()
                    .find(|m| m.role() == Role::User)
                    .map(message_text)
                    .unwrap_or_default();
                format!("Mock reply to: {last_user}")
            }
        };
        let mut words: Vec<String> = if tool_call.is_some() {
            Vec::new()
        } else {
            text.split_whitespace().map(str::to_owned).collect()
        };
        let limit = request
            .max_completion_tokens
            .or(request.max_tokens)
            .map(|n| n as usize);
        let finish = match limit {
            _ if tool_call.is_some() => FinishReason::ToolCalls,
            Some(limit) if words.len() > limit => {
                words.truncate(limit);
                FinishReason::Length
            }
            _ => FinishReason::Stop,
        };
        let completion_tokens = words.len() + usize::from(tool_call.is_some());
        let usage = Usage {
            prompt_tokens: prompt_tokens as u32,
            completion_tokens: completion_tokens as u32,
            total_tokens: (prompt_tokens + completion_tokens) as u32,
            ..Usage::default()
        };
        Reply {
            words,
            tool_call,
            finish,
            usage,
        }
    }

    fn chunk(
        &self,
        id: &str,
        created: i64,
        choice: Option<ChunkChoice>,
        usage: Option<Usage>,
    ) -> ChatChunk {
        ChatChunk {
            id: id.to_owned(),
            created,
            model: self.model.clone(),
            choices: choice.into_iter().collect(),
            usage,
            ..ChatChunk::default()
        }
    }
}

impl Provider for MockProvider {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        let reply = self.reply(request);
        let content =
            (reply.tool_call.is_none()).then(|| message::Content::Text(reply.words.join(" ")));
        Box::pin(ready_ok(ChatResponse {
            id: self.id(),
            created: unix_now(),
            model: self.model.clone(),
            choices: vec![Choice {
                index: 0,
                message: Some(Message {
                    role: Role::Assistant as i32,
                    content,
                    tool_calls: reply.tool_call.into_iter().collect(),
                    ..Message::default()
                }),
                finish_reason: reply.finish as i32,
                ..Choice::default()
            }],
            usage: Some(reply.usage),
            ..ChatResponse::default()
        }))
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        let reply = self.reply(request);
        let (id, created) = (self.id(), unix_now());
        let delta_choice = |delta: Delta, finish: FinishReason| ChunkChoice {
            index: 0,
            delta: Some(delta),
            finish_reason: finish as i32,
            ..ChunkChoice::default()
        };
        let mut chunks = vec![self.chunk(
            &id,
            created,
            Some(delta_choice(
                Delta {
                    role: Role::Assistant as i32,
                    content: Some(String::new()),
                    ..Delta::default()
                },
                FinishReason::Unspecified,
            )),
            None,
        )];
        for (i, word) in reply.words.iter().enumerate() {
            let content = if i == 0 {
                word.clone()
            } else {
                format!(" {word}")
            };
            let delta = Delta {
                content: Some(content),
                ..Delta::default()
            };
            chunks.push(self.chunk(
                &id,
                created,
                Some(delta_choice(delta, FinishReason::Unspecified)),
                None,
            ));
        }
        if let Some(call) = &reply.tool_call {
            let delta = Delta {
                tool_calls: vec![ToolCallDelta {
                    index: 0,
                    id: Some(call.id.clone()),
                    name: Some(call.name.clone()),
                    arguments: call.arguments.clone(),
                    extensions: None,
                }],
                ..Delta::default()
            };
            chunks.push(self.chunk(
                &id,
                created,
                Some(delta_choice(delta, FinishReason::Unspecified)),
                None,
            ));
        }
        chunks.push(self.chunk(
            &id,
            created,
            Some(delta_choice(Delta::default(), reply.finish)),
            None,
        ));
        if include_usage(request) {
            chunks.push(self.chunk(&id, created, None, Some(reply.usage)));
        }
        Box::pin(ready_ok(stream::iter(chunks.into_iter().map(Ok)).boxed()))
    }

    fn embed<'a>(
        &'a self,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, GatewayError>> {
        let dimensions = request.dimensions.unwrap_or(DEFAULT_DIMENSIONS).max(1);
        let tokens: usize = request.input.iter().map(|t| word_count(t)).sum();
        Box::pin(ready_ok(EmbedResponse {
            embeddings: numbered_embeddings(
                request
                    .input
                    .iter()
                    .map(|text| hashed_unit_vector(text, dimensions)),
            ),
            model: self.model.clone(),
            usage: Some(embed_usage(tokens as u32)),
            ..EmbedResponse::default()
        }))
    }
}

fn ready_ok<T: Send + 'static>(value: T) -> impl Future<Output = Result<T, GatewayError>> + Send {
    std::future::ready(Ok(value))
}

fn forced_tool(request: &ChatRequest) -> Option<String> {
    let choice = request.tool_choice.as_ref()?.choice.as_ref()?;
    match choice {
        tool_choice::Choice::FunctionName(name) => Some(name.clone()),
        tool_choice::Choice::Mode(mode) if *mode == ToolChoiceMode::Required as i32 => {
            request.tools.first().map(|t| t.name.clone())
        }
        tool_choice::Choice::Mode(_) => None,
    }
}

fn message_text(message: &Message) -> String {
    super::message_texts(message).join(" ")
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// A deterministic unit vector from an FNV-1a hash of the text.
fn hashed_unit_vector(text: &str, dimensions: u32) -> Vec<f32> {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        state = (state ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let raw: Vec<f32> = (0..dimensions)
        .map(|_| {
            // xorshift steps spread the hash over every dimension.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = raw
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    raw.into_iter().map(|v| v / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use futures::TryStreamExt;

    fn provider() -> MockProvider {
        let config = Config::from_yaml(
            "model_list: [{model_name: m, params: {model: mock/echo-1}}]",
            |_| None,
        )
        .expect("valid");
        MockProvider::new(&config.deployments[0])
    }

    fn request(text: &str, max_tokens: Option<u32>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message {
                role: Role::User as i32,
                content: Some(message::Content::Text(text.into())),
                ..Message::default()
            }],
            max_tokens,
            ..ChatRequest::default()
        }
    }

    /// The reply is deterministic and honours the token limit.
    #[tokio::test]
    async fn reply_is_deterministic_and_limited() {
        let mock = provider();
        let full = mock
            .complete(&request("hello there", None))
            .await
            .expect("ok");
        let again = mock
            .complete(&request("hello there", None))
            .await
            .expect("ok");
        let text = |r: &ChatResponse| match &r.choices[0].message.as_ref().unwrap().content {
            Some(message::Content::Text(t)) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(text(&full), "Mock reply to: hello there");
        assert_eq!(text(&full), text(&again));
        assert_eq!(
            full.usage
                .as_ref()
                .map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((2, 5))
        );
        let cut = mock
            .complete(&request("hello there", Some(2)))
            .await
            .expect("ok");
        assert_eq!(
            text(&cut),
            "Mock reply to:"
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(cut.choices[0].finish_reason(), FinishReason::Length);
    }

    /// Streaming sends the same words one chunk each, then the finish.
    #[tokio::test]
    async fn streams_word_by_word() {
        let mock = provider();
        let chunks: Vec<ChatChunk> = mock
            .stream(&request("a b", None))
            .await
            .expect("stream")
            .try_collect()
            .await
            .expect("chunks");
        let contents: Vec<String> = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.as_ref()?.content.clone())
            .collect();
        assert_eq!(contents, ["", "Mock", " reply", " to:", " a", " b"]);
        assert_eq!(
            chunks.last().unwrap().choices[0].finish_reason(),
            FinishReason::Stop
        );
    }

    /// Embeddings are unit vectors, stable per text, different across texts.
    #[tokio::test]
    async fn embeddings_are_stable_unit_vectors() {
        let mock = provider();
        let request = EmbedRequest {
            model: "m".into(),
            input: vec!["a".into(), "b".into(), "a".into()],
            dimensions: Some(8),
            ..EmbedRequest::default()
        };
        let response = mock.embed(&request).await.expect("ok");
        let [a, b, a2] = &response.embeddings[..] else {
            panic!("three vectors")
        };
        assert_eq!(a.values.len(), 8);
        assert_eq!(a.values, a2.values);
        assert_ne!(a.values, b.values);
        let norm: f32 = a.values.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
