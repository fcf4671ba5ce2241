//! Adapter for Gemini models on Vertex AI. Chat is the Gemini API's own
//! translation (`super::gemini`: same contents, parts and stream events) at
//! Vertex's URLs; embeddings are Vertex's `:predict` (`embeddings`). This
//! file is the transport: the project/location URLs and an OAuth2 bearer
//! token from the deployment's Google credentials (`super::oauth`).

mod embeddings;

use futures::future::{BoxFuture, try_join_all};
use http::header::AUTHORIZATION;
use reqwest::Url;

use super::gemini::{request, response, stream};
use super::http::Upstream;
use super::{ChunkStream, Provider, chunks_from_events, include_usage, unix_now};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

/// The regional endpoint; `global` has no region prefix.
pub const DEFAULT_API_BASE: &str = "https://{vertex_location}-aiplatform.googleapis.com/v1";
const GLOBAL_API_BASE: &str = "https://aiplatform.googleapis.com/v1";

pub struct VertexAdapter {
    upstream: Upstream,
    model: String,
    generate_url: Option<Url>,
    stream_url: Option<Url>,
    predict_url: Option<Url>,
}

impl VertexAdapter {
    pub fn new(config: &DeploymentConfig, client: reqwest::Client) -> Self {
        let (project, location) = config
            .vertex
            .as_ref()
            .map_or(("", ""), |v| (v.project.as_str(), v.location.as_str()));
        let base = match (&config.api_base, location) {
            (Some(base), _) => base.clone(),
            (None, "global") => GLOBAL_API_BASE.to_owned(),
            (None, location) => DEFAULT_API_BASE.replace("{vertex_location}", location),
        };
        let base = base.trim_end_matches('/');
        let model = &config.model;
        let url = |method: &str| {
            Url::parse(&format!(
                "{base}/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}"
            ))
            .ok()
        };
        // Never called: config refuses `api_key` for Vertex AI.
        let bearer = |key: &str| (AUTHORIZATION, format!("Bearer {key}"));
        let upstream = Upstream::new(
            "vertex_ai",
            config,
            client,
            bearer,
            &[],
            response::parse_error,
        );
        Self {
            upstream,
            model: model.clone(),
            generate_url: url("generateContent"),
            stream_url: url("streamGenerateContent?alt=sse"),
            predict_url: url("predict"),
        }
    }
}

impl Provider for VertexAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request)?;
            let bytes = self
                .upstream
                .post_json_for_body(self.generate_url.as_ref(), &body)
                .await?;
            response::from_slice(&bytes, unix_now())
                .map_err(|e| self.upstream.unreadable("response", e))
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request)?;
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
            let calls = embeddings::request_bodies(request, &self.model)
                .into_iter()
                .map(|body| async move {
                    let bytes = self
                        .upstream
                        .post_json_for_body(self.predict_url.as_ref(), &body)
                        .await?;
                    embeddings::answer_from_slice(&bytes)
                        .map_err(|e| self.upstream.unreadable("embeddings", e))
                });
            let answers = try_join_all(calls).await?;
            Ok(embeddings::response(answers, &self.model))
        })
    }
}
