//! The core both front doors call: authenticate, validate, route, and hand
//! the canonical request to the provider adapter.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::{Stream, StreamExt};

use crate::auth::{Authenticator, Principal};
use crate::config::{Config, Secret};
use crate::error::GatewayError;
use crate::pb::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ListModelsResponse, Model,
    Role, ServedBy,
};
use crate::providers::{ChunkStream, http};
use crate::routing::Router;

pub struct Gateway {
    auth: Authenticator,
    router: Router,
    /// Largest request body either door accepts.
    pub max_body_bytes: usize,
    /// How long either door waits for a request body.
    pub request_body_timeout: Duration,
    /// Set once shutdown begins, so readiness fails while in-flight work drains.
    draining: AtomicBool,
}

impl Gateway {
    pub fn new(config: &Config) -> Self {
        Self {
            auth: Authenticator::new(config.master_key.clone()),
            router: Router::new(
                &config.deployments,
                &http::Client::new(config.upstream_ping),
            ),
            max_body_bytes: config.max_body_bytes,
            request_body_timeout: config.request_body_timeout,
            draining: AtomicBool::new(false),
        }
    }

    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, GatewayError> {
        self.auth.authenticate(authorization)
    }

    pub async fn complete(
        &self,
        _caller: &Principal,
        request: ChatRequest,
    ) -> Result<ChatResponse, GatewayError> {
        validate_chat(&request)?;
        let deployment = self.router.pick(&request.model)?;
        let mut response = (deployment.provider.complete(&request).await)
            .map_err(|e| without_key(e, deployment.config.api_key.as_ref()))?;
        response.served_by = Some(deployment.served_by());
        Ok(response)
    }

    /// Starts a streamed completion. The first chunk carries `served_by`.
    pub async fn stream(
        &self,
        _caller: &Principal,
        request: ChatRequest,
    ) -> Result<ChunkStream, GatewayError> {
        validate_chat(&request)?;
        let deployment = self.router.pick(&request.model)?;
        let chunks = (deployment.provider.stream(&request).await)
            .map_err(|e| without_key(e, deployment.config.api_key.as_ref()))?;
        let answer = Answer::new(
            chunks,
            deployment.config.provider.name(),
            Some(deployment.served_by()),
            deployment.config.api_key.clone(),
        );
        Ok(answer.boxed())
    }

    pub async fn embed(
        &self,
        _caller: &Principal,
        request: EmbedRequest,
    ) -> Result<EmbedResponse, GatewayError> {
        if request.input.is_empty() {
            return Err(GatewayError::invalid(
                "input",
                "must contain at least one text",
            ));
        }
        if request.input.len() > MAX_EMBED_INPUTS {
            return Err(GatewayError::invalid(
                "input",
                format!("must contain at most {MAX_EMBED_INPUTS} texts"),
            ));
        }
        let deployment = self.router.pick(&request.model)?;
        let mut response = (deployment.provider.embed(&request).await)
            .map_err(|e| without_key(e, deployment.config.api_key.as_ref()))?;
        response.served_by = Some(deployment.served_by());
        Ok(response)
    }

    pub fn list_models(&self) -> ListModelsResponse {
        ListModelsResponse {
            models: self
                .router
                .models()
                .map(|(name, provider, count)| Model {
                    id: name.to_owned(),
                    owned_by: provider.to_owned(),
                    deployment_count: count as u32,
                })
                .collect(),
        }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
    }
}

/// A provider's stream as both doors pass it on: the first chunk names the
/// deployment, errors lose the deployment's key, and the end is honest. A
/// stream that stops before every choice it began has its finish reason
/// (a connection closed cleanly mid-answer, an error the provider wrote
/// outside its event format, a body with no events at all) ends with an
/// error, not with the `[DONE]` that would pass a truncated answer off as
/// whole. Nothing is polled once the stream has ended.
struct Answer {
    chunks: ChunkStream,
    provider: &'static str,
    served_by: Option<ServedBy>,
    key: Option<Secret>,
    /// Choices begun whose finish reason has not come yet.
    unfinished: Vec<u32>,
    began: bool,
    ended: bool,
}

impl Answer {
    fn new(
        chunks: ChunkStream,
        provider: &'static str,
        served_by: Option<ServedBy>,
        key: Option<Secret>,
    ) -> Self {
        Self {
            chunks,
            provider,
            served_by,
            key,
            unfinished: Vec::new(),
            began: false,
            ended: false,
        }
    }

    fn track(&mut self, chunk: &ChatChunk) {
        for choice in &chunk.choices {
            self.began = true;
            let index = choice.index;
            if choice.finish_reason != 0 || !choice.native_finish_reason.is_empty() {
                self.unfinished.retain(|&open| open != index);
            } else if !self.unfinished.contains(&index) {
                self.unfinished.push(index);
            }
        }
    }
}

impl Stream for Answer {
    type Item = Result<ChatChunk, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        let item = match ready!(this.chunks.poll_next_unpin(cx)) {
            Some(Ok(mut chunk)) => {
                this.track(&chunk);
                chunk.served_by = this.served_by.take();
                Ok(chunk)
            }
            Some(Err(error)) => {
                this.ended = true;
                Err(without_key(error, this.key.as_ref()))
            }
            None => {
                this.ended = true;
                if this.began && this.unfinished.is_empty() {
                    return Poll::Ready(None);
                }
                Err(GatewayError::UpstreamUnavailable {
                    provider: this.provider,
                    message: "the stream ended before the answer was finished".into(),
                })
            }
        };
        Poll::Ready(Some(item))
    }
}

/// `error` without the deployment's `key` (which a provider may echo in an
/// error built where the key is not at hand: a stream's events, a parser
/// quoting the answer) or anything shaped like a credential.
fn without_key(error: GatewayError, key: Option<&Secret>) -> GatewayError {
    error.redacted(&[key.map_or("", Secret::expose)])
}

/// OpenAI's limit on texts per embeddings request, kept for every provider:
/// those that embed one text per call would otherwise make as many calls.
const MAX_EMBED_INPUTS: usize = 2048;

/// Checks what the proto cannot express; the one check for both doors.
fn validate_chat(request: &ChatRequest) -> Result<(), GatewayError> {
    if request.messages.is_empty() {
        return Err(GatewayError::invalid(
            "messages",
            "must contain at least one message",
        ));
    }
    if let Some(i) = request
        .messages
        .iter()
        .position(|m| m.role() == Role::Unspecified)
    {
        return Err(GatewayError::invalid(
            format!("messages[{i}].role"),
            "must be set",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{ChunkChoice, FinishReason};

    fn chunk(choices: &[(u32, FinishReason)]) -> ChatChunk {
        let choices = choices.iter().map(|&(index, finish)| ChunkChoice {
            index,
            finish_reason: finish as i32,
            ..ChunkChoice::default()
        });
        ChatChunk {
            choices: choices.collect(),
            ..ChatChunk::default()
        }
    }

    /// What the doors get from `chunks`: the chunks' finish reasons per
    /// choice, or the error, until the answer ends. The provider's stream
    /// is an `unfold`, which panics if polled after its end.
    async fn answer(chunks: Vec<ChatChunk>) -> Vec<Result<usize, String>> {
        let chunks = futures::stream::unfold(chunks.into_iter(), |mut rest| async move {
            rest.next().map(|chunk| (Ok(chunk), rest))
        });
        let mut answer = Answer::new(chunks.boxed(), "test", None, None);
        let mut got = Vec::new();
        while let Some(item) = answer.next().await {
            got.push(item.map(|c| c.choices.len()).map_err(|e| e.to_string()));
        }
        assert!(answer.next().await.is_none(), "still ended");
        got
    }

    /// A stream ends cleanly only once every choice it began has finished;
    /// otherwise, and when it carried no choice at all, it ends with an
    /// error after what did arrive.
    #[tokio::test]
    async fn a_stream_ends_only_when_its_answer_is_finished() {
        use FinishReason::{Stop, Unspecified};
        let cut =
            Err("test is unreachable: the stream ended before the answer was finished".into());
        let whole = vec![
            chunk(&[(0, Unspecified), (1, Unspecified)]),
            chunk(&[(1, Stop)]),
            chunk(&[(0, Stop)]),
            chunk(&[]),
        ];
        assert_eq!(answer(whole).await, [Ok(2), Ok(1), Ok(1), Ok(0)]);
        let truncated = vec![
            chunk(&[(0, Unspecified), (1, Unspecified)]),
            chunk(&[(1, Stop)]),
        ];
        assert_eq!(answer(truncated).await, [Ok(2), Ok(1), cut.clone()]);
        assert_eq!(answer(vec![chunk(&[])]).await, [Ok(0), cut.clone()]);
        assert_eq!(answer(Vec::new()).await, [cut]);
    }
}
