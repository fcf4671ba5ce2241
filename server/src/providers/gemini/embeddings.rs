//! Embeddings through `batchEmbedContents`
//! (<https://ai.google.dev/api/embeddings#method:-models.batchembedcontents>):
//! one request item per input, `dimensions` as `outputDimensionality`, and
//! the request's extensions (`taskType`, `title`) on every item. Usage is
//! reported only when Gemini sends `usageMetadata` (newer models); it is
//! never invented.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::pb::{EmbedRequest, EmbedResponse};
use crate::providers::{native_embed_fields, numbered_embeddings};

pub fn request_to_json(request: &EmbedRequest, model: &str) -> Map<String, Value> {
    let extensions = native_embed_fields(request);
    let model = format!("models/{model}");
    let items: Vec<Value> = request
        .input
        .iter()
        .map(|text| {
            let mut item = Map::new();
            item.insert("model".into(), model.clone().into());
            item.insert("content".into(), json!({"parts": [{"text": text}]}));
            if let Some(dimensions) = request.dimensions {
                item.insert("outputDimensionality".into(), dimensions.into());
            }
            item.extend(extensions.clone());
            Value::Object(item)
        })
        .collect();
    let mut body = Map::new();
    body.insert("requests".into(), items.into());
    body
}

#[derive(Deserialize)]
struct BatchResponse {
    #[serde(default)]
    embeddings: Vec<Values>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Values {
    values: Vec<f32>,
}

pub fn response_from_slice(body: &[u8], model: &str) -> Result<EmbedResponse, serde_json::Error> {
    let response: BatchResponse = crate::openai_wire::from_bytes(body)?;
    Ok(EmbedResponse {
        embeddings: numbered_embeddings(response.embeddings.into_iter().map(|e| e.values)),
        model: model.to_owned(),
        // Embeddings have no completion side: total = prompt.
        usage: response.usage_metadata.map(|fields| {
            let mut usage = super::response::usage_from_json(fields);
            usage.total_tokens = usage.prompt_tokens;
            usage
        }),
        ..EmbedResponse::default()
    })
}
