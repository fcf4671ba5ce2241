//! Adapter for Gemini models on Vertex AI. Chat is the Gemini API's own
//! translation (`super::gemini`: same contents, parts and stream events) at
//! Vertex's URLs; embeddings are Vertex's `:predict` (`embeddings`). This
//! file is the transport: the project/location URLs and an OAuth2 bearer
//! token from the deployment's Google credentials (`super::oauth`).

pub(crate) mod embeddings;

use futures::future::{BoxFuture, try_join_all};
use http::Uri;

use super::gemini::{GeminiAdapter, response};
use super::http::{Client, Upstream, bearer, endpoint};
use super::{ChunkStream, Provider};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

/// The regional endpoint; `global` has no region prefix.
pub const DEFAULT_API_BASE: &str = "https://{vertex_location}-aiplatform.googleapis.com/v1";
const GLOBAL_API_BASE: &str = "https://aiplatform.googleapis.com/v1";

pub struct VertexAdapter {
    /// Chat is the Gemini API's, at Vertex's URLs.
    gemini: GeminiAdapter,
    model: String,
    predict_url: Option<Uri>,
}

impl VertexAdapter {
    pub fn new(config: &DeploymentConfig, client: Client) -> Self {
        let (project, location) = config
            .vertex
            .as_ref()
            .map_or(("", ""), |v| (v.project.as_str(), v.location.as_str()));
        let base = match (&config.api_base, location) {
            (Some(base), _) => base.clone(),
            (None, "global") => GLOBAL_API_BASE.to_owned(),
            (None, location) => DEFAULT_API_BASE.replace("{vertex_location}", location),
        };
        let model = &config.model;
        let url = |method: &str| {
            endpoint(&format!(
                "{base}/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}"
            ))
        };
        // `bearer` is never called: config refuses `api_key` for Vertex AI; the token
        // source from `config.oauth` authenticates.
        let upstream = Upstream::new(config, client, bearer, &[], |_, body| {
            response::parse_error(body)
        });
        Self {
            gemini: GeminiAdapter::at(upstream, model, url),
            model: model.clone(),
            predict_url: url("predict"),
        }
    }
}

impl Provider for VertexAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        self.gemini.complete(request)
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        self.gemini.stream(request)
    }

    fn embed<'a>(
        &'a self,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, GatewayError>> {
        Box::pin(async move {
            let upstream = self.gemini.upstream();
            let calls = embeddings::request_bodies(request, &self.model)
                .into_iter()
                .map(|body| async move {
                    upstream
                        .post_json_parsed(self.predict_url.as_ref(), &body, "embeddings", |bytes| {
                            embeddings::answer_from_slice(bytes)
                        })
                        .await
                });
            let answers = try_join_all(calls).await?;
            Ok(embeddings::response(answers, &self.model))
        })
    }
}
