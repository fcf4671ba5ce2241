//! Embeddings through `InvokeModel` with the model's native body
//! (<https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html>):
//! - Amazon Titan Text Embeddings take one text per call, so a batch is one
//!   call per input (sent together, answered in input order); `dimensions`
//!   as is; usage is the sum of `inputTextTokenCount`;
//! - Cohere Embed takes every text at once (`texts`); `input_type` is
//!   required and defaults to `search_document`, as on Cohere's own API;
//!   `dimensions` is `output_dimension` (Embed v4); usage is Bedrock's
//!   `x-amzn-bedrock-input-token-count` header.
//!
//! The request's extensions (e.g. `normalize`, `input_type`, `truncate`) are
//! merged into each body. Other model families are refused.

use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::pb::EmbedRequest;
use crate::providers::{merge_fields, native_embed_fields, token_count};

pub enum Family {
    Titan,
    Cohere,
}

pub fn family(model: &str) -> Result<Family, GatewayError> {
    if model.contains("amazon.titan-embed") {
        Ok(Family::Titan)
    } else if model.contains("cohere.embed") {
        Ok(Family::Cohere)
    } else {
        Err(GatewayError::Unsupported {
            message: format!(
                "bedrock embeddings support Amazon Titan and Cohere Embed models, not `{model}`"
            ),
            param: Some("model".into()),
        })
    }
}

/// The InvokeModel bodies for a request: one per input for Titan, one for Cohere.
pub fn request_bodies(request: &EmbedRequest, family: &Family) -> Vec<Map<String, Value>> {
    let fields = native_embed_fields(request);
    let finish = |mut body: Map<String, Value>| {
        merge_fields(&mut body, fields.clone());
        body
    };
    match family {
        Family::Titan => request
            .input
            .iter()
            .map(|text| {
                let mut body = Map::new();
                body.insert("inputText".into(), text.clone().into());
                if let Some(dimensions) = request.dimensions {
                    body.insert("dimensions".into(), dimensions.into());
                }
                finish(body)
            })
            .collect(),
        Family::Cohere => {
            let mut body = Map::new();
            body.insert("texts".into(), request.input.clone().into());
            body.insert("input_type".into(), "search_document".into());
            body.insert("embedding_types".into(), vec!["float"].into());
            if let Some(dimensions) = request.dimensions {
                body.insert("output_dimension".into(), dimensions.into());
            }
            vec![finish(body)]
        }
    }
}

/// The vectors of one InvokeModel answer (Titan's `embedding`, Cohere's
/// `embeddings` by type, or a bare list from older models) and Titan's own
/// token count.
pub fn vectors(body: &[u8]) -> Result<(Vec<Vec<f32>>, Option<u32>), serde_json::Error> {
    let mut value: Map<String, Value> = crate::openai_wire::from_bytes(body)?;
    let tokens = value.get("inputTextTokenCount").and_then(token_count);
    let vectors = if let Some(embedding) = value.remove("embedding") {
        vec![serde_json::from_value(embedding)?]
    } else {
        match value.remove("embeddings") {
            Some(Value::Object(mut by_type)) => {
                serde_json::from_value(by_type.remove("float").unwrap_or_default())?
            }
            Some(list) => serde_json::from_value(list)?,
            None => Vec::new(),
        }
    };
    Ok((vectors, tokens))
}
