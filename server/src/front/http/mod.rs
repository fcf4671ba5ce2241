//! The OpenAI-compatible HTTP facade: OpenAI JSON in, canonical request to
//! the core, OpenAI JSON (or SSE) out. Paths are served with and without the
//! `/v1` prefix, as OpenAI SDKs and LiteLLM clients use either.

mod chat;
mod embeddings;
mod error;
mod health;
mod models;

use std::sync::Arc;
use std::task::Poll;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::response::Response;
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderValue, header};
use serde_json::{Map, Value};

pub use error::HttpError;

use crate::auth::Principal;
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::openai_wire::body_not_json;
use crate::pb::ServedBy;

/// Header naming the deployment that served a request.
pub const DEPLOYMENT_HEADER: &str = "x-switchboard-deployment";

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/chat/completions", post(chat::completions))
        .route("/v1/embeddings", post(embeddings::create))
        .route("/embeddings", post(embeddings::create))
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .with_state(gateway)
}

/// A successful response: `body` as `content_type`, naming the deployment
/// that served it.
fn respond(content_type: &'static str, body: Body, served_by: Option<&ServedBy>) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(value) = served_by.and_then(|s| HeaderValue::from_str(&s.deployment_id).ok()) {
        headers.insert(DEPLOYMENT_HEADER, value);
    }
    response
}

/// The authenticated caller of a request, extracted from its `Authorization`
/// header before anything reads the body: strangers get no parsing work.
/// (axum's `HeaderMap` extractor would clone the headers; this reads them.)
struct Caller(Principal);

impl FromRequestParts<Arc<Gateway>> for Caller {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, HttpError> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        Ok(Caller(gateway.authenticate(authorization)?))
    }
}

/// Reads a body of at most `gateway.max_body_bytes`, arriving within
/// `gateway.request_body_timeout` of the first wait for it: a client
/// trickling its body must not hold a connection and a buffer without end.
async fn read_body(body: Body, gateway: &Gateway) -> Result<Bytes, GatewayError> {
    let limit = gateway.max_body_bytes;
    let mut read = std::pin::pin!(axum::body::to_bytes(body, limit));
    let read = match futures::poll!(read.as_mut()) {
        Poll::Ready(read) => read,
        // Still arriving: only now does the deadline need a timer.
        Poll::Pending => {
            let timeout = gateway.request_body_timeout;
            tokio::time::timeout(timeout, read)
                .await
                .map_err(|_| GatewayError::RequestBodyTimeout { timeout })?
        }
    };
    read.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            GatewayError::PayloadTooLarge { limit }
        } else {
            GatewayError::InvalidRequest {
                message: format!("request body could not be read: {e}"),
                param: None,
            }
        }
    })
}

/// Reads a JSON object body, as [`read_body`] does.
async fn read_json(body: Body, gateway: &Gateway) -> Result<Map<String, Value>, GatewayError> {
    crate::openai_wire::from_bytes(&read_body(body, gateway).await?).map_err(body_not_json)
}
