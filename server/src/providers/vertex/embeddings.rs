//! Embeddings through Vertex AI's `:predict`
//! (<https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api>):
//! one instance per input (`content`), `dimensions` as
//! `parameters.outputDimensionality`. The request's extensions go where
//! Vertex documents them: `autoTruncate` in `parameters`, anything else
//! (`task_type`, `title`) on every instance. Usage is the sum of the
//! instances' `statistics.token_count`; `metadata` (billable characters) is
//! kept as a response extension.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::pb::{EmbedRequest, EmbedResponse};
use crate::providers::{embed_usage, extension, native_embed_fields, numbered_embeddings};

/// Extensions that are request-wide `parameters`, not instance fields.
const PARAMETERS: [&str; 1] = ["autoTruncate"];

/// The `:predict` bodies for a request: Gemini embedding models take one
/// instance per call (so a batch is one call per input, sent together),
/// the older text-embedding models take the whole batch at once.
pub fn request_bodies(request: &EmbedRequest, model: &str) -> Vec<Map<String, Value>> {
    let mut parameters = Map::new();
    let mut instance_fields = Map::new();
    for (key, value) in native_embed_fields(request) {
        if PARAMETERS.contains(&key.as_str()) {
            parameters.insert(key, value);
        } else {
            instance_fields.insert(key, value);
        }
    }
    if let Some(dimensions) = request.dimensions {
        parameters.insert("outputDimensionality".into(), dimensions.into());
    }
    let instances: Vec<Value> = request
        .input
        .iter()
        .map(|text| {
            let mut instance = Map::new();
            instance.insert("content".into(), text.clone().into());
            instance.extend(instance_fields.clone());
            Value::Object(instance)
        })
        .collect();
    let body = |instances: Vec<Value>| {
        let mut body = Map::new();
        body.insert("instances".into(), instances.into());
        if !parameters.is_empty() {
            body.insert("parameters".into(), parameters.clone().into());
        }
        body
    };
    if model.starts_with("gemini-embedding") {
        instances.into_iter().map(|i| body(vec![i])).collect()
    } else {
        vec![body(instances)]
    }
}

#[derive(Deserialize)]
pub struct PredictResponse {
    #[serde(default)]
    predictions: Vec<Prediction>,
    metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct Prediction {
    embeddings: PredictedEmbedding,
}

#[derive(Deserialize)]
struct PredictedEmbedding {
    values: Vec<f32>,
    statistics: Option<Statistics>,
}

#[derive(Deserialize)]
struct Statistics {
    token_count: Option<f64>,
}

pub fn answer_from_slice(body: &[u8]) -> Result<PredictResponse, serde_json::Error> {
    crate::openai_wire::from_bytes(body)
}

/// One response from the answers of a request's calls, in input order.
/// Usage only when Vertex counted every input (never a partial sum);
/// `metadata` kept, its counters summed over the calls.
pub fn response(answers: Vec<PredictResponse>, model: &str) -> EmbedResponse {
    let mut metadata: Option<Map<String, Value>> = None;
    let mut tokens = Some(0.0);
    let mut values = Vec::new();
    for answer in answers {
        if let Some(fields) = answer.metadata {
            let merged = metadata.get_or_insert_with(Map::new);
            for (key, value) in fields {
                let sum = match (merged.get(&key).and_then(Value::as_f64), value.as_f64()) {
                    (Some(a), Some(b)) => serde_json::Number::from_f64(a + b).map(Value::Number),
                    _ => None,
                };
                merged.insert(key, sum.unwrap_or(value));
            }
        }
        for prediction in answer.predictions {
            let count = prediction.embeddings.statistics.and_then(|s| s.token_count);
            tokens = tokens.zip(count).map(|(sum, n)| sum + n);
            values.push(prediction.embeddings.values);
        }
    }
    let usage = tokens
        .filter(|_| !values.is_empty())
        .map(|tokens| embed_usage(tokens as u32));
    EmbedResponse {
        embeddings: numbered_embeddings(values),
        model: model.to_owned(),
        usage,
        extensions: metadata.and_then(|fields| extension("metadata", Value::Object(fields))),
        ..EmbedResponse::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch sent as one call per input (Gemini embedding models) comes
    /// back as one response: vectors in input order, tokens and metadata
    /// counters summed.
    #[test]
    fn answers_of_parallel_calls_merge() {
        let answer = |values: &str, tokens: u32, characters: u32| {
            answer_from_slice(format!(r#"{{"predictions": [{{"embeddings": {{"values": {values}, "statistics": {{"token_count": {tokens}, "truncated": false}}}}}}], "metadata": {{"billableCharacterCount": {characters}}}}}"#).as_bytes())
                .expect("answer")
        };
        let response = response(vec![answer("[0.5]", 4, 12), answer("[0.25]", 3, 10)], "m");
        let vectors: Vec<(u32, Vec<f32>)> = response
            .embeddings
            .iter()
            .map(|e| (e.index, e.values.clone()))
            .collect();
        assert_eq!(vectors, [(0, vec![0.5]), (1, vec![0.25])]);
        let usage = response.usage.expect("usage");
        assert_eq!((usage.prompt_tokens, usage.total_tokens), (7, 7));
        let metadata = crate::openai_wire::json_struct::map_from_struct(
            response.extensions.as_ref().expect("metadata"),
        );
        assert_eq!(
            serde_json::to_string(&metadata["metadata"]).unwrap(),
            r#"{"billableCharacterCount":22}"#
        );
    }
}
