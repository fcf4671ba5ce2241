//! Liveness and readiness probes (LiteLLM's paths, for drop-in deployments).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use serde_json::json;

use crate::gateway::Gateway;

pub async fn liveliness() -> impl IntoResponse {
    Json(json!({"status": "alive"}))
}

/// Fails once shutdown has begun, so load balancers stop sending new work
/// while in-flight requests drain.
pub async fn readiness(State(gateway): State<Arc<Gateway>>) -> impl IntoResponse {
    if gateway.is_ready() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining"})),
        )
    }
}
