//! OpenAI embeddings request/response JSON <-> canonical `EmbedRequest` /
//! `EmbedResponse`.
//!
//! Vectors are canonical `float`s. OpenAI's `encoding_format: "base64"` (the
//! OpenAI SDKs' default) is little-endian f32 bytes, so it converts losslessly
//! in both directions.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::{Map, Value};

use super::json_struct::map_from_struct;
use super::response::UsageJson;
use super::{FieldReader, Wire, take_extensions};
use crate::error::GatewayError;
use crate::pb::{EmbedRequest, EmbedResponse, Embedding, Usage};

/// How vectors are written in an OpenAI embeddings response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    Float,
    Base64,
}

/// Parses a facade embeddings body. `encoding_format` also stays in the
/// request's extensions, so an OpenAI-family upstream gets exactly what the
/// client asked (native adapters leave it out: `native_embed_fields`).
pub fn request_from_json(
    body: Map<String, Value>,
) -> Result<(EmbedRequest, EncodingFormat), GatewayError> {
    let mut r = FieldReader::root(body);
    let model = r.required_string("model")?;
    let input = match r.take("input") {
        Some(Value::String(text)) => vec![text],
        Some(Value::Array(items)) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(GatewayError::unsupported(
                    "input",
                    "only text input is supported (a string or an array of strings), not token arrays",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(GatewayError::invalid("input", "must be a non-empty string or array of strings")),
    };
    let dimensions = r.u32("dimensions")?;
    let user = r.string("user")?.unwrap_or_default();
    let format = match r.peek("encoding_format") {
        None | Some(Value::Null) => EncodingFormat::Float,
        Some(Value::String(f)) if f == "float" => EncodingFormat::Float,
        Some(Value::String(f)) if f == "base64" => EncodingFormat::Base64,
        Some(_) => {
            return Err(GatewayError::invalid(
                "encoding_format",
                "must be `float` or `base64`",
            ));
        }
    };
    Ok((
        EmbedRequest {
            model,
            input,
            dimensions,
            user,
            extensions: take_extensions(r.into_rest()),
        },
        format,
    ))
}

/// Writes the OpenAI embeddings body for `request`.
pub fn request_to_json(request: &EmbedRequest, model: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("input".into(), request.input.clone().into());
    if let Some(dimensions) = request.dimensions {
        body.insert("dimensions".into(), dimensions.into());
    }
    if !request.user.is_empty() {
        body.insert("user".into(), request.user.clone().into());
    }
    super::merge_native_fields(&mut body, request.extensions.as_ref());
    body
}

/// Parses an upstream embeddings body (float or base64 vectors).
pub fn response_from_json(body: Map<String, Value>) -> Result<EmbedResponse, GatewayError> {
    let mut r = FieldReader::root(body);
    let embeddings = r
        .array("data")?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let values = match item.get("embedding") {
                Some(Value::Array(numbers)) => numbers
                    .iter()
                    .map(|n| n.as_f64().map(|f| f as f32))
                    .collect::<Option<Vec<f32>>>(),
                Some(Value::String(encoded)) => decode_base64_vector(encoded),
                _ => None,
            }
            .ok_or_else(|| {
                GatewayError::invalid(
                    format!("data[{i}].embedding"),
                    "must be numbers or base64 f32s",
                )
            })?;
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(i as u32);
            Ok(Embedding { index, values })
        })
        .collect::<Result<_, GatewayError>>()?;
    Ok(EmbedResponse {
        embeddings,
        model: r.string("model")?.unwrap_or_default(),
        usage: r
            .object("usage")?
            .map(|u| serde_json::from_value::<Wire<Usage>>(Value::Object(u)))
            .transpose()
            .map_err(|e| GatewayError::invalid("usage", e.to_string()))?
            .map(|w| w.0),
        served_by: None,
        extensions: {
            let mut rest = r.into_rest();
            rest.remove("object");
            take_extensions(rest)
        },
    })
}

/// Writes the OpenAI embeddings body for `response`. Vectors are written as
/// f32 (shortest round-trip form, as OpenAI prints them), not widened to f64.
pub fn response_to_json(response: &EmbedResponse, format: EncodingFormat) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        object: &'static str,
        data: Vec<Item<'a>>,
        model: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<Value>,
        #[serde(flatten)]
        extensions: Map<String, Value>,
    }
    #[derive(Serialize)]
    struct Item<'a> {
        object: &'static str,
        index: u32,
        embedding: Vector<'a>,
    }
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Vector<'a> {
        Float(&'a [f32]),
        Base64(String),
    }
    let body = Body {
        object: "list",
        data: response
            .embeddings
            .iter()
            .map(|e| Item {
                object: "embedding",
                index: e.index,
                embedding: match format {
                    EncodingFormat::Float => Vector::Float(&e.values),
                    EncodingFormat::Base64 => Vector::Base64(encode_base64_vector(&e.values)),
                },
            })
            .collect(),
        model: &response.model,
        usage: response.usage.as_ref().map(|usage| {
            let mut usage = serde_json::to_value(UsageJson(usage)).unwrap_or_default();
            // Embedding usage has no completion side.
            if let Some(u) = usage.as_object_mut() {
                u.remove("completion_tokens");
            }
            usage
        }),
        extensions: response
            .extensions
            .as_ref()
            .map(map_from_struct)
            .unwrap_or_default(),
    };
    // About 12 bytes per float value written out.
    let values: usize = response.embeddings.iter().map(|e| e.values.len()).sum();
    // Plain data with string keys: serialization cannot fail.
    crate::json_writer::to_vec(&body, 256 + 12 * values).unwrap_or_default()
}

fn decode_base64_vector(encoded: &str) -> Option<Vec<f32>> {
    let bytes = BASE64.decode(encoded).ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

fn encode_base64_vector(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    BASE64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extensions reach the provider, but the deployment's model stays.
    #[test]
    fn extensions_never_replace_the_model() {
        let request = EmbedRequest {
            input: vec!["hi".into()],
            extensions: Some(crate::openai_wire::json_struct::struct_from_map(
                serde_json::json!({"model": "text-embedding-3-large", "encoding_format": "base64"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            )),
            ..EmbedRequest::default()
        };
        assert_eq!(
            Value::Object(request_to_json(&request, "text-embedding-3-small")),
            serde_json::json!({
                "model": "text-embedding-3-small", "input": ["hi"], "encoding_format": "base64"
            })
        );
    }

    /// Base64 vectors decode to the same floats and re-encode to the same text.
    #[test]
    fn base64_vectors_round_trip() {
        let values = vec![0.5_f32, -1.25, 3.0e-7, f32::MAX];
        let encoded = encode_base64_vector(&values);
        assert_eq!(decode_base64_vector(&encoded), Some(values));
        assert_eq!(
            decode_base64_vector("AAA="),
            None,
            "3 bytes is not a vector"
        );
    }

    /// Float vectors print as f32, exactly as the provider sent them.
    #[test]
    fn float_vectors_keep_their_f32_text() {
        let upstream = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
        let parsed = response_from_json(serde_json::from_slice(upstream).unwrap()).expect("parses");
        assert_eq!(
            response_to_json(&parsed, EncodingFormat::Float),
            upstream.to_vec()
        );
    }

    /// The client's encoding format is both honoured and forwarded.
    #[test]
    fn encoding_format_is_forwarded() {
        let body = serde_json::json!({"model": "e", "input": "hi", "encoding_format": "base64"});
        let Value::Object(map) = body else {
            unreachable!()
        };
        let (request, format) = request_from_json(map).expect("parses");
        assert_eq!(format, EncodingFormat::Base64);
        let upstream = request_to_json(&request, "text-embedding-3-small");
        assert_eq!(
            Value::Object(upstream),
            serde_json::json!({"model": "text-embedding-3-small", "input": ["hi"], "encoding_format": "base64"})
        );
    }
}
