//! `POST /v1/embeddings`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;

use super::{HttpError, authorization, read_json, respond};
use crate::gateway::Gateway;
use crate::openai_wire::embeddings;

pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    incoming: Request,
) -> Result<Response, HttpError> {
    // Taken apart rather than extracted: axum's `HeaderMap` extractor clones.
    let (parts, body) = incoming.into_parts();
    let caller = gateway.authenticate(authorization(&parts.headers))?;
    let (request, format) =
        embeddings::request_from_json(read_json(body, gateway.max_body_bytes).await?)?;
    let result = gateway.embed(&caller, request).await?;
    let json = embeddings::response_to_json(&result, format);
    Ok(respond(
        "application/json",
        json.into(),
        result.served_by.as_ref(),
    ))
}
