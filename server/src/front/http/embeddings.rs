//! `POST /v1/embeddings`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use super::{HttpError, authorization, insert_deployment, read_json};
use crate::gateway::Gateway;
use crate::openai_wire::embeddings;

pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&gateway, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn handle(gateway: &Gateway, headers: &HeaderMap, body: Body) -> Result<Response, HttpError> {
    let caller = gateway.authenticate(authorization(headers))?;
    let (request, format) =
        embeddings::request_from_json(read_json(body, gateway.max_body_bytes).await?)?;
    let result = gateway.embed(&caller, request).await?;
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        embeddings::response_to_json(&result, format),
    )
        .into_response();
    insert_deployment(response.headers_mut(), result.served_by.as_ref());
    Ok(response)
}
