//! `POST /v1/chat/completions`, streamed (SSE) or not.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use http::{HeaderValue, header};

use super::error::error_body;
use super::{Caller, HttpError, read_body, respond};
use crate::gateway::Gateway;
use crate::json_writer;
use crate::openai_wire::{request, response, stream};
use crate::providers::ChunkStream;

pub async fn completions(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    body: Body,
) -> Result<Response, HttpError> {
    let parsed = request::from_slice(&read_body(body, &gateway).await?)?;
    if !parsed.stream {
        let completion = gateway.complete(&caller, parsed.request).await?;
        // Plain data with string keys: serialization cannot fail.
        let json =
            json_writer::to_vec(&response::ResponseJson(&completion), 1024).unwrap_or_default();
        return Ok(respond(
            "application/json",
            json.into(),
            completion.served_by.as_ref(),
        ));
    }
    let mut chunks = gateway.stream(&caller, parsed.request).await?;
    // The first chunk is awaited here so its deployment can go in the
    // headers, and so an error before any output is a proper status.
    let mut first = chunks.next().await.transpose()?;
    // Taken, not cloned: the OpenAI chunk JSON does not carry it.
    let served_by = first.as_mut().and_then(|c| c.served_by.take());
    let body = sse_body(first.map(Ok).into_iter(), chunks);
    let mut response = respond("text/event-stream", body, served_by.as_ref());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Each chunk becomes one `data:` event as soon as it arrives. A provider
/// error mid-stream becomes an OpenAI error event and ends the stream (the
/// status line is long gone); a clean end gets `data: [DONE]`.
fn sse_body(
    first: impl Iterator<Item = Result<crate::pb::ChatChunk, crate::error::GatewayError>>
    + Send
    + 'static,
    rest: ChunkStream,
) -> Body {
    let chunks = futures::stream::iter(first).chain(rest);
    let events = futures::stream::unfold(Some(Box::pin(chunks)), |state| async move {
        let mut chunks = state?;
        match chunks.next().await {
            Some(Ok(chunk)) => Some((event(&stream::ChunkJson(&chunk)), Some(chunks))),
            Some(Err(e)) => Some((event(&error_body(&e.classify())), None)),
            None => Some((Bytes::from_static(b"data: [DONE]\n\n"), None)),
        }
    });
    Body::from_stream(events.map(Ok::<_, std::convert::Infallible>))
}

fn event(json: &impl serde::Serialize) -> Bytes {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(b"data: ");
    // Plain data with string keys: serialization cannot fail.
    let _ = json_writer::write(&mut bytes, json);
    bytes.extend_from_slice(b"\n\n");
    Bytes::from(bytes)
}
