//! The core both front doors call: authenticate, validate, route, and hand
//! the canonical request to the provider adapter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;

use crate::auth::{Authenticator, Principal};
use crate::config::{Config, Secret};
use crate::error::GatewayError;
use crate::pb::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ListModelsResponse, Model, Role,
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
        let mut served_by = Some(deployment.served_by());
        let key = deployment.config.api_key.clone();
        Ok(chunks
            .map(move |chunk| match chunk {
                Ok(mut chunk) => {
                    chunk.served_by = served_by.take();
                    Ok(chunk)
                }
                Err(e) => Err(without_key(e, key.as_ref())),
            })
            .boxed())
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
