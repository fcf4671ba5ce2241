//! `POST /v1/embeddings`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;

use super::{Caller, HttpError, read_json, respond};
use crate::gateway::Gateway;
use crate::openai_wire::embeddings;

pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    body: Body,
) -> Result<Response, HttpError> {
    let (request, format) = embeddings::request_from_json(read_json(body, &gateway).await?)?;
    let result = gateway.embed(&caller, request).await?;
    let json = embeddings::response_to_json(&result, format);
    Ok(respond(
        "application/json",
        json.into(),
        result.served_by.as_ref(),
    ))
}
