//! Embeddings through `/v2/embed` (<https://docs.cohere.com/reference/embed>):
//! `texts`, float vectors, `dimensions` as `output_dimension`. Cohere's
//! embed v3+ models require `input_type`; OpenAI callers have no such field,
//! so it defaults to `search_document` (the side that is stored and
//! searched) unless the request's extensions set it, with `truncate` and
//! anything else Cohere takes. Usage is the billed input tokens.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::pb::{EmbedRequest, EmbedResponse};
use crate::providers::{
    embed_usage, merge_fields, native_embed_fields, non_empty, numbered_embeddings, token_count,
};

pub fn request_to_json(request: &EmbedRequest, model: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("texts".into(), request.input.clone().into());
    body.insert("input_type".into(), "search_document".into());
    body.insert("embedding_types".into(), vec!["float"].into());
    if let Some(dimensions) = request.dimensions {
        body.insert("output_dimension".into(), dimensions.into());
    }
    merge_fields(&mut body, native_embed_fields(request));
    body
}

#[derive(Deserialize)]
struct EmbedBody {
    embeddings: Embeddings,
    #[serde(default)]
    meta: Value,
    /// `id`, `response_type`, `texts`…
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct Embeddings {
    float: Vec<Vec<f32>>,
}

pub fn response_from_slice(body: &[u8], model: &str) -> Result<EmbedResponse, serde_json::Error> {
    let mut response: EmbedBody = crate::openai_wire::from_bytes(body)?;
    // The inputs echoed back add nothing the caller does not have.
    response.rest.remove("texts");
    let billed = token_count(&response.meta["billed_units"]["input_tokens"]);
    if !response.meta.is_null() {
        response.rest.insert("meta".into(), response.meta);
    }
    Ok(EmbedResponse {
        embeddings: numbered_embeddings(response.embeddings.float),
        model: model.to_owned(),
        usage: billed.map(embed_usage),
        extensions: non_empty(response.rest),
        served_by: None,
    })
}
