//! `GET /v1/models`: the logical model names, in OpenAI's list shape.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Caller;
use crate::gateway::Gateway;

pub async fn list(State(gateway): State<Arc<Gateway>>, _: Caller) -> Response {
    let data: Vec<Value> = gateway
        .list_models()
        .models
        .into_iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}
