//! Adapter for the Gemini API (API key): the translation is `request`,
//! `response` and `stream`; this file is the transport (URLs,
//! `x-goog-api-key`) and nothing else. The key travels in a header, never in
//! the URL, so it cannot leak through logs of URLs.

mod embeddings;
mod request;
pub(crate) mod response;
pub(crate) mod stream;

use futures::future::BoxFuture;
use http::HeaderName;
use http::Uri;

use super::http::{Client, Upstream, endpoint};
use super::{ChunkStream, Provider, chunks_from_events, include_usage, unix_now};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

pub const DEFAULT_API_BASE: &str = "https://generativelanguage.googleapis.com/v1beta";

pub struct GeminiAdapter {
    upstream: Upstream,
    model: String,
    generate_url: Option<Uri>,
    stream_url: Option<Uri>,
    embed_url: Option<Uri>,
}

/// Google's API-key header (the Gemini API, and Vertex AI in express mode).
pub(crate) fn api_key(key: &str) -> (HeaderName, String) {
    (HeaderName::from_static("x-goog-api-key"), key.to_owned())
}

impl GeminiAdapter {
    pub fn new(config: &DeploymentConfig, client: Client) -> Self {
        let base = config.base_url();
        let model = &config.model;
        let upstream = Upstream::new(config, client, api_key, &[], response::parse_error);
        Self::at(upstream, model, |method| {
            endpoint(&format!("{base}/models/{model}:{method}"))
        })
    }

    /// The Gemini API's methods at `url(method)` (Vertex AI serves them at
    /// its own URLs, with its own authentication).
    pub(crate) fn at(upstream: Upstream, model: &str, url: impl Fn(&str) -> Option<Uri>) -> Self {
        Self {
            upstream,
            model: model.to_owned(),
            generate_url: url("generateContent"),
            stream_url: url("streamGenerateContent?alt=sse"),
            embed_url: url("batchEmbedContents"),
        }
    }

    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }
}

impl Provider for GeminiAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, self.upstream.provider)?;
            self.upstream
                .post_json_parsed(self.generate_url.as_ref(), &body, "response", |bytes| {
                    response::from_slice(bytes, unix_now())
                })
                .await
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, self.upstream.provider)?;
            let response = self
                .upstream
                .post_json(self.stream_url.as_ref(), &body)
                .await?;
            let state = stream::StreamState::new(
                self.upstream.provider,
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
