//! The gRPC door: `ChatService` and `EmbeddingService` over the same core as
//! the HTTP facade. The canonical messages *are* the protobuf messages, so
//! there is nothing to translate here, only authentication metadata to read
//! and errors to render as `google.rpc` status details.

mod body_deadline;

pub use body_deadline::BodyDeadline;

use std::borrow::Cow;
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

/// Longest status message sent. The message travels three times (in
/// `grpc-message`, percent-encoded, so up to three times as long, and
/// twice in the base64 `grpc-status-details-bin`), and grpc-java and gRPC
/// Core refuse trailers over 8 KiB, reporting INTERNAL instead of the
/// error. The HTTP door sends the whole error.
const MAX_STATUS_MESSAGE: usize = 512;

/// Most bytes of `ErrorInfo` metadata taken by the provider's error code and
/// other fields, each entry counted with its protobuf framing.
const MAX_EXTRA_METADATA: usize = 1024;

/// Protobuf framing of one map entry, counted against the budget.
const ENTRY_OVERHEAD: usize = 8;

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
    // The provider's code and other error fields (e.g. Groq's
    // `failed_generation`): strings as they are, anything else as JSON
    // text, while they fit.
    // Borrowed, so that fields left out for lack of room are never copied.
    let code = view
        .code
        .iter()
        .map(|c| ("code", Cow::Borrowed(c.as_str())));
    let extra = view.extra.iter().map(|(key, value)| {
        let text = match value {
            serde_json::Value::String(text) => Cow::Borrowed(text.as_str()),
            other => Cow::Owned(other.to_string()),
        };
        (key.as_str(), text)
    });
    let mut budget = MAX_EXTRA_METADATA;
    for (key, text) in code.chain(extra) {
        let Some(room) = budget.checked_sub(key.len() + ENTRY_OVERHEAD) else {
            continue;
        };
        if metadata.contains_key(key) {
            continue;
        }
        let text = truncated(&text, room);
        budget = room - text.len();
        metadata.insert(key.to_owned(), text);
    }
    let message = truncated(&view.message, MAX_STATUS_MESSAGE);
    let mut details = ErrorDetails::with_error_info(view.reason, ERROR_DOMAIN, metadata);
    if let Some(retry_after) = view.retry_after {
        details.set_retry_info(Some(retry_after));
    }
    if let Some(param) = &view.param {
        details.add_bad_request_violation(truncated(param, 256), message.clone());
    }
    Status::with_error_details(view.grpc_code, message, details)
}

/// `text` cut to at most `max` bytes on a character boundary, ending in "…"
/// when cut (when that fits).
fn truncated(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    match max.checked_sub('…'.len_utf8()) {
        Some(room) => format!("{}…", &text[..text.floor_char_boundary(room)]),
        None => text[..text.floor_char_boundary(max)].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UpstreamError;

    /// A provider's huge error still fits the 8 KiB of trailers gRPC
    /// clients accept, and keeps what identifies it: worst cases are a
    /// message that percent-encodes to three times its length, a long
    /// code, and hundreds of tiny fields.
    #[test]
    fn huge_upstream_errors_fit_in_trailers() {
        let long = "é".repeat(40_000);
        let wide: serde_json::Map<_, _> = (0..200)
            .map(|i| {
                (
                    format!("field_{i}"),
                    serde_json::Value::String(long.clone()),
                )
            })
            .collect();
        let tiny: serde_json::Map<_, _> = (0..2000)
            .map(|i| (format!("{i}"), serde_json::Value::String("x".into())))
            .collect();
        // A short code leaves room for some fields; a long one takes it all.
        let cases = [
            ("tool_use_failed".to_owned(), wide, true),
            (long.clone(), tiny, false),
        ];
        for (code, extra, fields_fit) in cases {
            let error = GatewayError::Upstream(Box::new(UpstreamError {
                provider: "groq",
                status: 400,
                message: long.clone(),
                kind: Some("invalid_request_error".to_owned()),
                code: Some(code.clone()),
                param: Some(long.clone()),
                retry_after: None,
                extra,
            }));
            let status = status(error);
            let mut trailers = http::HeaderMap::new();
            status.add_header(&mut trailers).expect("encodable");
            // HTTP/2 counts each field as name + value + 32 bytes.
            let size: usize = trailers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 32)
                .sum();
            assert!(size < 8 * 1024, "trailers are {size} bytes");

            assert!(status.message().len() <= MAX_STATUS_MESSAGE);
            assert!(status.message().ends_with('…'));
            let details = status.get_error_details();
            let info = details.error_info().expect("ErrorInfo");
            assert_eq!(info.reason, "UPSTREAM_INVALID_REQUEST");
            assert_eq!(info.metadata["provider"], "groq");
            assert!(code.starts_with(info.metadata["code"].trim_end_matches('…')));
            assert_eq!(
                info.metadata.len() > 3,
                fields_fit,
                "{:?}",
                info.metadata.keys()
            );
            let violation = &details.bad_request().expect("BadRequest").field_violations[0];
            assert_eq!(violation.description, status.message());
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncated("short", 10), "short");
        assert_eq!(truncated("ééééé", 6), "é…");
        assert_eq!(truncated("abcdef", 4), "a…");
        assert_eq!(truncated("abcdef", 2), "ab", "no room for the ellipsis");
        assert_eq!(truncated("ééé", 1), "");
    }
}
