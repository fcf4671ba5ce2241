//! Adapter for Cohere's v2 API (`/v2/chat`, `/v2/embed`): the translation is
//! `request`, `response`, `stream` and `embeddings`; this file is the
//! transport (URLs, bearer key).

mod embeddings;
mod request;
pub(crate) mod response;
pub(crate) mod stream;

use futures::future::BoxFuture;
use http::Uri;

use super::http::{Client, Upstream, bearer, endpoint};
use super::{ChunkStream, Provider, chunks_from_events, include_usage, unix_now};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

pub const DEFAULT_API_BASE: &str = "https://api.cohere.com/v2";

pub struct CohereAdapter {
    upstream: Upstream,
    model: String,
    chat_url: Option<Uri>,
    embed_url: Option<Uri>,
}

impl CohereAdapter {
    pub fn new(config: &DeploymentConfig, client: Client) -> Self {
        let base = config.base_url();
        Self {
            upstream: Upstream::new(config, client, bearer, &[], response::parse_error),
            model: config.model.clone(),
            chat_url: endpoint(&format!("{base}/chat")),
            embed_url: endpoint(&format!("{base}/embed")),
        }
    }
}

impl Provider for CohereAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, &self.model, false)?;
            self.upstream
                .post_json_parsed(self.chat_url.as_ref(), &body, "response", |bytes| {
                    response::from_slice(bytes, &self.model, unix_now())
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
            let state = stream::StreamState::new(
                self.upstream.provider,
                &self.model,
                include_usage(request),
                unix_now(),
            );
            Ok(chunks_from_events(self.upstream.events(response), state))
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
                    embeddings::response_from_slice(bytes, &self.model)
                })
                .await
        })
    }
}
