//! Rendering a `GatewayError` for HTTP callers: OpenAI error JSON with the
//! right status, and `Retry-After` when the provider gave one.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::error::{ErrorView, GatewayError};
use crate::openai_wire::errors::error_json;

/// A `GatewayError` on its way out of the HTTP door.
pub struct HttpError(pub GatewayError);

impl From<GatewayError> for HttpError {
    fn from(e: GatewayError) -> Self {
        Self(e)
    }
}

/// Logs an error and renders its OpenAI error body. Also used for errors
/// that arrive mid-stream, after the status line has gone out.
pub fn error_body(view: &ErrorView) -> serde_json::Value {
    crate::front::log_error(view);
    error_json(
        &view.message,
        &view.kind,
        view.param.as_deref(),
        view.code.as_deref(),
        &view.extra,
    )
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let view = self.0.classify();
        let mut response = (view.http_status, axum::Json(error_body(&view))).into_response();
        if let Some(retry_after) = view.retry_after {
            // Whole seconds, rounded up so a client never retries too early.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
