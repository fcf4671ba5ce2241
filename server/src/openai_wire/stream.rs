//! OpenAI `chat.completion.chunk` JSON <-> canonical `ChatChunk`.

use serde_json::{Map, Value};

use super::json_struct::map_from_struct;
use super::request::{role_from_str, role_to_str};
use super::response::{
    finish_reason_from_str, finish_reason_json, insert_str, usage_from_json, usage_to_json,
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

/// Writes one OpenAI stream chunk for `chunk`.
pub fn chunk_to_json(chunk: &ChatChunk) -> Value {
    let mut body = Map::new();
    body.insert("id".into(), chunk.id.clone().into());
    body.insert("object".into(), "chat.completion.chunk".into());
    body.insert("created".into(), chunk.created.into());
    body.insert("model".into(), chunk.model.clone().into());
    insert_str(&mut body, "system_fingerprint", &chunk.system_fingerprint);
    insert_str(&mut body, "service_tier", &chunk.service_tier);
    body.insert(
        "choices".into(),
        chunk.choices.iter().map(chunk_choice_to_json).collect(),
    );
    if let Some(usage) = &chunk.usage {
        body.insert("usage".into(), usage_to_json(usage));
    }
    if let Some(extensions) = &chunk.extensions {
        body.extend(map_from_struct(extensions));
    }
    Value::Object(body)
}

fn chunk_choice_to_json(choice: &ChunkChoice) -> Value {
    let mut c = Map::new();
    c.insert("index".into(), choice.index.into());
    let mut delta = Map::new();
    if let Some(d) = &choice.delta {
        if d.role() != Role::Unspecified {
            delta.insert("role".into(), role_to_str(d.role()).into());
        }
        insert_str(&mut delta, "content", &d.content);
        insert_str(&mut delta, "refusal", &d.refusal);
        insert_str(&mut delta, "reasoning_content", &d.reasoning_content);
        if !d.tool_calls.is_empty() {
            delta.insert(
                "tool_calls".into(),
                d.tool_calls.iter().map(tool_call_delta_to_json).collect(),
            );
        }
        if let Some(extensions) = &d.extensions {
            delta.extend(map_from_struct(extensions));
        }
    }
    c.insert("delta".into(), Value::Object(delta));
    c.insert(
        "finish_reason".into(),
        finish_reason_json(choice.finish_reason(), &choice.native_finish_reason),
    );
    if let Some(extensions) = &choice.extensions {
        c.extend(map_from_struct(extensions));
    }
    Value::Object(c)
}

fn tool_call_delta_to_json(call: &ToolCallDelta) -> Value {
    let mut c = Map::new();
    c.insert("index".into(), call.index.into());
    if let Some(id) = &call.id {
        c.insert("id".into(), id.clone().into());
        c.insert("type".into(), "function".into());
    }
    let mut function = Map::new();
    insert_str(&mut function, "name", &call.name);
    function.insert("arguments".into(), call.arguments.clone().into());
    c.insert("function".into(), Value::Object(function));
    Value::Object(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(chunk: Value) -> Value {
        let Value::Object(map) = chunk else {
            unreachable!()
        };
        chunk_to_json(&chunk_from_json(map).expect("parses"))
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
