//! Embeddings through `/api/embed` (<https://docs.ollama.com/api/embed>):
//! every input in one call, `dimensions` as is, the request's extensions
//! (`truncate`, `keep_alive`, `options`) merged in. `prompt_eval_count` is
//! the usage; the timings are kept in the response's extensions.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::pb::{EmbedRequest, EmbedResponse};
use crate::providers::{
    embed_usage, merge_fields, native_embed_fields, non_empty, numbered_embeddings,
};

pub fn request_to_json(request: &EmbedRequest, model: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("input".into(), request.input.clone().into());
    if let Some(dimensions) = request.dimensions {
        body.insert("dimensions".into(), dimensions.into());
    }
    merge_fields(&mut body, native_embed_fields(request));
    body
}

#[derive(Deserialize)]
struct EmbedBody {
    model: String,
    embeddings: Vec<Vec<f32>>,
    prompt_eval_count: Option<u32>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

pub fn response_from_slice(body: &[u8]) -> Result<EmbedResponse, serde_json::Error> {
    let response: EmbedBody = crate::openai_wire::from_bytes(body)?;
    Ok(EmbedResponse {
        embeddings: numbered_embeddings(response.embeddings),
        model: response.model,
        usage: response.prompt_eval_count.map(embed_usage),
        extensions: non_empty(response.rest),
        served_by: None,
    })
}
