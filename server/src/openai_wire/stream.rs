//! OpenAI `chat.completion.chunk` JSON <-> canonical `ChatChunk`.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::json_struct::serialize_extensions;
use super::request::{role_from_str, role_to_str};
use super::response::{
    Seq, UsageJson, entry_opt, finish_reason_from_str, finish_reason_str, usage_from_json,
};
use super::{FieldReader, take_extensions};
use crate::error::GatewayError;
use crate::pb::{ChatChunk, ChunkChoice, Delta, Role, ToolCallDelta};

/// Parses one upstream stream chunk.
pub fn chunk_from_json(body: Map<String, Value>) -> Result<ChatChunk, GatewayError> {
    let mut r = FieldReader::new(body, "");
    r.take("object");
    // Per-hop padding against length side channels; meaningless past this hop.
    r.take("obfuscation");
    Ok(ChatChunk {
        id: r.string("id")?.unwrap_or_default(),
        created: r.i64("created")?.unwrap_or_default(),
        model: r.string("model")?.unwrap_or_default(),
        choices: r
            .array("choices")?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, c)| chunk_choice_from_json(c, i))
            .collect::<Result<_, _>>()?,
        usage: r.object("usage")?.map(usage_from_json).transpose()?,
        system_fingerprint: r.string("system_fingerprint")?,
        service_tier: r.string("service_tier")?,
        served_by: None,
        extensions: take_extensions(r.into_rest()),
    })
}

fn chunk_choice_from_json(value: Value, position: usize) -> Result<ChunkChoice, GatewayError> {
    let at = format!("choices[{position}]");
    let Value::Object(map) = value else {
        return Err(GatewayError::invalid(at, "must be an object"));
    };
    let mut r = FieldReader::new(map, &format!("{at}."));
    let native = r.string("finish_reason")?.unwrap_or_default();
    let delta = r
        .object("delta")?
        .map(|d| delta_from_json(d, &format!("{at}.delta.")))
        .transpose()?;
    Ok(ChunkChoice {
        index: r.u32("index")?.unwrap_or(position as u32),
        delta,
        finish_reason: finish_reason_from_str(&native) as i32,
        native_finish_reason: native,
        extensions: take_extensions(r.into_rest()),
    })
}

fn delta_from_json(map: Map<String, Value>, prefix: &str) -> Result<Delta, GatewayError> {
    let mut r = FieldReader::new(map, prefix);
    let role = r
        .string("role")?
        .and_then(|role| role_from_str(&role))
        .unwrap_or(Role::Unspecified);
    let tool_calls = r
        .array("tool_calls")?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let function = call.get("function");
            let field = |name: &str| {
                function
                    .and_then(|f| f.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            ToolCallDelta {
                index: call
                    .get("index")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(i as u32),
                id: call.get("id").and_then(Value::as_str).map(str::to_owned),
                name: field("name"),
                arguments: field("arguments").unwrap_or_default(),
            }
        })
        .collect();
    Ok(Delta {
        role: role as i32,
        content: r.string("content")?,
        refusal: r.string("refusal")?,
        reasoning_content: r.string("reasoning_content")?,
        tool_calls,
        extensions: take_extensions(r.into_rest()),
    })
}

/// Writes `chunk` as one OpenAI stream chunk, straight into the output: this
/// runs once per streamed token, so no intermediate JSON tree is built.
pub struct ChunkJson<'a>(pub &'a ChatChunk);

impl Serialize for ChunkJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &c.id)?;
        m.serialize_entry("object", "chat.completion.chunk")?;
        m.serialize_entry("created", &c.created)?;
        m.serialize_entry("model", &c.model)?;
        entry_opt(&mut m, "system_fingerprint", &c.system_fingerprint)?;
        entry_opt(&mut m, "service_tier", &c.service_tier)?;
        m.serialize_entry("choices", &Seq(&c.choices, ChunkChoiceJson))?;
        if let Some(usage) = &c.usage {
            m.serialize_entry("usage", &UsageJson(usage))?;
        }
        serialize_extensions(
            &mut m,
            &c.extensions,
            &[
                "id",
                "object",
                "created",
                "model",
                "system_fingerprint",
                "service_tier",
                "choices",
                "usage",
            ],
        )?;
        m.end()
    }
}

struct ChunkChoiceJson<'a>(&'a ChunkChoice);

impl Serialize for ChunkChoiceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &c.index)?;
        m.serialize_entry("delta", &DeltaJson(c.delta.as_ref()))?;
        m.serialize_entry(
            "finish_reason",
            &finish_reason_str(c.finish_reason(), &c.native_finish_reason),
        )?;
        serialize_extensions(&mut m, &c.extensions, &["index", "delta", "finish_reason"])?;
        m.end()
    }
}

struct DeltaJson<'a>(Option<&'a Delta>);

impl Serialize for DeltaJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(d) = self.0 {
            if d.role() != Role::Unspecified {
                m.serialize_entry("role", role_to_str(d.role()))?;
            }
            entry_opt(&mut m, "content", &d.content)?;
            entry_opt(&mut m, "refusal", &d.refusal)?;
            entry_opt(&mut m, "reasoning_content", &d.reasoning_content)?;
            if !d.tool_calls.is_empty() {
                m.serialize_entry("tool_calls", &Seq(&d.tool_calls, ToolCallDeltaJson))?;
            }
            serialize_extensions(
                &mut m,
                &d.extensions,
                &[
                    "role",
                    "content",
                    "refusal",
                    "reasoning_content",
                    "tool_calls",
                ],
            )?;
        }
        m.end()
    }
}

struct ToolCallDeltaJson<'a>(&'a ToolCallDelta);

impl Serialize for ToolCallDeltaJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let call = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &call.index)?;
        if let Some(id) = &call.id {
            m.serialize_entry("id", id)?;
            m.serialize_entry("type", "function")?;
        }
        m.serialize_entry("function", &FunctionDeltaJson(call))?;
        m.end()
    }
}

struct FunctionDeltaJson<'a>(&'a ToolCallDelta);

impl Serialize for FunctionDeltaJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        entry_opt(&mut m, "name", &self.0.name)?;
        m.serialize_entry("arguments", &self.0.arguments)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(chunk: Value) -> Value {
        let Value::Object(map) = chunk else {
            unreachable!()
        };
        serde_json::to_value(ChunkJson(&chunk_from_json(map).expect("parses"))).unwrap()
    }

    /// Recorded chunks (first, tool-call fragment, usage) survive parse + write;
    /// only the per-hop `obfuscation` padding and `null`s go.
    #[test]
    fn recorded_chunks_round_trip() {
        let first = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "service_tier": "default", "system_fingerprint": "fp",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null}, "logprobs": null, "finish_reason": null}],
            "obfuscation": "xyz"});
        let mut expected = first.clone();
        expected.as_object_mut().unwrap().remove("obfuscation");
        expected["choices"][0]["delta"]
            .as_object_mut()
            .unwrap()
            .remove("refusal");
        assert_eq!(round_trip(first), expected);

        let fragment = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "multiply", "arguments": ""}},
                {"index": 1, "function": {"arguments": "{\"a\""}}
            ]}, "finish_reason": null}]});
        assert_eq!(round_trip(fragment.clone()), fragment);

        let usage = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
            "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}}});
        assert_eq!(round_trip(usage.clone()), usage);
    }
}
