//! Adapter for Anthropic's Messages API: the translation is `request`,
//! `response` and `stream`; this file is the transport (URL, `x-api-key`,
//! `anthropic-version`) and nothing else.

mod request;
pub(crate) mod response;
pub(crate) mod stream;

use std::future::ready;

use futures::future::BoxFuture;
use http::HeaderName;
use http::Uri;

use super::http::{Client, Upstream, endpoint};
use super::{ChunkStream, Provider, chunks_from_events, include_usage, unix_now};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

pub const DEFAULT_API_BASE: &str = "https://api.anthropic.com/v1";

/// The API version sent unless the deployment's `api_version` says otherwise
/// (<https://docs.anthropic.com/en/api/versioning>).
pub const DEFAULT_VERSION: &str = "2023-06-01";

pub struct AnthropicAdapter {
    upstream: Upstream,
    model: String,
    messages_url: Option<Uri>,
}

impl AnthropicAdapter {
    pub fn new(config: &DeploymentConfig, client: Client) -> Self {
        let base = config.base_url();
        let version = config.api_version.as_deref().unwrap_or(DEFAULT_VERSION);
        let api_key = |key: &str| (HeaderName::from_static("x-api-key"), key.to_owned());
        let fixed = [(HeaderName::from_static("anthropic-version"), version)];
        Self {
            upstream: Upstream::new(config, client, api_key, &fixed, response::parse_error),
            model: config.model.clone(),
            messages_url: endpoint(&format!("{base}/messages")),
        }
    }
}

impl Provider for AnthropicAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, &self.model, false)?;
            self.upstream
                .post_json_parsed(self.messages_url.as_ref(), &body, "message", |bytes| {
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
            let body = request::to_json(request, &self.model, true)?;
            let response = self
                .upstream
                .post_json(self.messages_url.as_ref(), &body)
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
        _request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, GatewayError>> {
        Box::pin(ready(Err(GatewayError::Unsupported {
            message: "anthropic has no embeddings API (Anthropic recommends Voyage AI)".into(),
            param: None,
        })))
    }
}
