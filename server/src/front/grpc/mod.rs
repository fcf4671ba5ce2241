//! The gRPC door: `ChatService` and `EmbeddingService` over the same core as
//! the HTTP facade. The canonical messages *are* the protobuf messages, so
//! there is nothing to translate here, only authentication metadata to read
//! and errors to render as `google.rpc` status details.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::{ERROR_DOMAIN, GatewayError};
use crate::gateway::Gateway;
use crate::pb::chat_service_server::ChatService;
use crate::pb::embedding_service_server::EmbeddingService;
use crate::pb::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ListModelsRequest,
    ListModelsResponse,
};

/// Implements both services; cheap to clone.
#[derive(Clone)]
pub struct GrpcApi {
    gateway: Arc<Gateway>,
}

impl GrpcApi {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }

    fn authenticate<T>(&self, request: &Request<T>) -> Result<crate::auth::Principal, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        self.gateway.authenticate(header).map_err(status)
    }
}

type ChunkResults = Pin<Box<dyn Stream<Item = Result<ChatChunk, Status>> + Send>>;

#[tonic::async_trait]
impl ChatService for GrpcApi {
    async fn complete(
        &self,
        request: Request<ChatRequest>,
    ) -> Result<Response<ChatResponse>, Status> {
        let caller = self.authenticate(&request)?;
        let response = self
            .gateway
            .complete(&caller, request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(response))
    }

    type StreamCompleteStream = ChunkResults;

    async fn stream_complete(
        &self,
        request: Request<ChatRequest>,
    ) -> Result<Response<ChunkResults>, Status> {
        let caller = self.authenticate(&request)?;
        let chunks = self
            .gateway
            .stream(&caller, request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(
            chunks.map(|chunk| chunk.map_err(status)).boxed(),
        ))
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        self.authenticate(&request)?;
        Ok(Response::new(self.gateway.list_models()))
    }
}

#[tonic::async_trait]
impl EmbeddingService for GrpcApi {
    async fn embed(
        &self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        let caller = self.authenticate(&request)?;
        let response = self
            .gateway
            .embed(&caller, request.into_inner())
            .await
            .map_err(status)?;
        Ok(Response::new(response))
    }
}

/// Renders an error as a gRPC status with `google.rpc` details (AIP-193):
/// one `ErrorInfo`, plus `RetryInfo` and `BadRequest` where they apply.
pub fn status(error: GatewayError) -> Status {
    let view = error.classify();
    crate::front::log_error(&view);
    let mut metadata = std::collections::HashMap::new();
    if let Some(provider) = view.provider {
        metadata.insert("provider".to_owned(), provider.to_owned());
        metadata.insert(
            "upstream_status".to_owned(),
            view.http_status.as_u16().to_string(),
        );
    }
    if let Some(code) = &view.code {
        metadata.insert("code".to_owned(), code.clone());
    }
    // The provider's other error fields (e.g. Groq's `failed_generation`):
    // strings as they are, anything else as JSON text.
    for (key, value) in &view.extra {
        let text = match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        metadata.entry(key.clone()).or_insert(text);
    }
    let mut details = ErrorDetails::with_error_info(view.reason, ERROR_DOMAIN, metadata);
    if let Some(retry_after) = view.retry_after {
        details.set_retry_info(Some(retry_after));
    }
    if let Some(param) = &view.param {
        details.add_bad_request_violation(param.clone(), view.message.clone());
    }
    Status::with_error_details(view.grpc_code, view.message, details)
}
