//! Adapter for Gemini models on Vertex AI. Chat is the Gemini API's own
//! translation (`super::gemini`: same contents, parts and stream events) at
//! Vertex's URLs; embeddings are Vertex's `:predict` (`embeddings`). This
//! file is the transport: the project/location URLs and an OAuth2 bearer
//! token from the deployment's Google credentials (`super::oauth`), or, in
//! express mode, the global URLs and an API key.

pub(crate) mod embeddings;

use std::future::ready;

use futures::future::BoxFuture;
use http::Uri;

use super::gemini::{GeminiAdapter, api_key, response};
use super::http::{Client, Upstream, endpoint};
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
    /// Express mode (an `api_key`, no project) has no embeddings API.
    express: bool,
    /// `None` when the URL did not parse.
    predict_url: Option<Uri>,
}

impl VertexAdapter {
    pub fn new(config: &DeploymentConfig, client: Client) -> Self {
        let model = &config.model;
        // With project settings the token source from `config.oauth`
        // authenticates (config refuses an `api_key` next to them); in express
        // mode the key does, at the global endpoint, whose URLs name no
        // project or location.
        let upstream = Upstream::new(config, client, api_key, &[], response::parse_error);
        let location = config.vertex.as_ref().map(|v| v.location.as_str());
        let base = match (&config.api_base, location) {
            (Some(base), _) => base.clone(),
            (None, None | Some("global")) => GLOBAL_API_BASE.to_owned(),
            (None, Some(location)) => DEFAULT_API_BASE.replace("{vertex_location}", location),
        };
        let models = match &config.vertex {
            Some(v) => format!(
                "{base}/projects/{}/locations/{}/publishers/google/models",
                v.project, v.location
            ),
            None => format!("{base}/publishers/google/models"),
        };
        let url = |method: &str| endpoint(&format!("{models}/{model}:{method}"));
        Self {
            gemini: GeminiAdapter::at(upstream, model, url),
            model: model.clone(),
            express: config.vertex.is_none(),
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
        if self.express {
            // <https://cloud.google.com/vertex-ai/generative-ai/docs/start/express-mode/vertex-ai-express-mode-api-reference>
            return Box::pin(ready(Err(GatewayError::Unsupported {
                message: "vertex_ai express mode (api_key) has no embeddings API; \
                          authenticate with vertex_credentials for embeddings"
                    .into(),
                param: None,
            })));
        }
        Box::pin(async move {
            let upstream = self.gemini.upstream();
            super::check_native_embed(upstream.provider, request)?;
            let calls = embeddings::request_bodies(request, &self.model)
                .into_iter()
                .map(|body| async move {
                    upstream
                        .post_json_parsed(self.predict_url.as_ref(), &body, "embeddings", |bytes| {
                            embeddings::answer_from_slice(bytes)
                        })
                        .await
                });
            let answers = super::in_parallel(calls).await?;
            Ok(embeddings::response(answers, &self.model))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Express mode has no embeddings API: a clear error, and no call.
    #[tokio::test]
    async fn express_mode_refuses_embeddings() {
        let yaml = "model_list: [{model_name: e, params: {model: vertex_ai/text-embedding-005, api_key: k, api_base: 'http://127.0.0.1:9/v1'}}]";
        let config = Config::from_yaml(yaml, |_| None).expect("loads");
        let adapter = VertexAdapter::new(&config.deployments[0], Client::default());
        match adapter.embed(&EmbedRequest::default()).await {
            Err(GatewayError::Unsupported { message, .. }) => {
                assert!(message.contains("express mode"), "{message}")
            }
            other => panic!("expected unsupported, got {other:?}"),
        }
    }
}
