//! Adapter for Ollama's native API (`/api/chat`, `/api/embed`): the
//! translation is `request`, `response`, `stream` and `embeddings`; this file
//! is the transport. A local Ollama needs no key; Ollama's cloud
//! (`https://ollama.com`) takes one as a bearer token.

mod embeddings;
mod request;
pub(crate) mod response;
pub(crate) mod stream;

use futures::future::BoxFuture;
use http::Uri;

use super::http::{Client, Upstream, bearer, endpoint};
use super::{ChunkStream, Provider, chunks_from_payloads, include_usage};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

pub const DEFAULT_API_BASE: &str = "http://localhost:11434";

pub struct OllamaAdapter {
    upstream: Upstream,
    model: String,
    chat_url: Option<Uri>,
    embed_url: Option<Uri>,
}

impl OllamaAdapter {
    pub fn new(config: &DeploymentConfig, client: Client) -> Self {
        let base = config.base_url();
        Self {
            upstream: Upstream::new(config, client, bearer, &[], response::parse_error),
            model: config.model.clone(),
            chat_url: endpoint(&format!("{base}/api/chat")),
            embed_url: endpoint(&format!("{base}/api/embed")),
        }
    }
}

impl Provider for OllamaAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, &self.model, false)?;
            self.upstream
                .post_json_parsed(self.chat_url.as_ref(), &body, "response", |bytes| {
                    response::from_slice(bytes)
                })
                .await
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, &self.model, true)?;
            let response = self
                .upstream
                .post_json(self.chat_url.as_ref(), &body)
                .await?;
            let state = stream::StreamState::new(self.upstream.provider, include_usage(request));
            Ok(chunks_from_payloads(
                self.upstream.ndjson_lines(response),
                state,
            ))
        })
    }

    fn embed<'a>(
        &'a self,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, GatewayError>> {
        Box::pin(async move {
            super::check_native_embed(self.upstream.provider, request)?;
            let body = embeddings::request_to_json(request, &self.model);
            self.upstream
                .post_json_parsed(self.embed_url.as_ref(), &body, "embeddings", |bytes| {
                    embeddings::response_from_slice(bytes)
                })
                .await
        })
    }
}
