//! OpenAI `chat.completion.chunk` JSON <-> canonical `ChatChunk`.

use prost_types::Struct;
use serde::de::{IgnoredAny, MapAccess};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::json_struct::serialize_extensions;
use super::request::{role_from_str, role_to_str};
use super::response::{
    FunctionJson, FunctionWire, Seq, UsageJson, entry_opt, finish_reason_from_str,
    finish_reason_str,
};
use super::{ContentWire, Wire, WireObject, merge_extensions, or_default, wire_list};
use crate::pb::{ChatChunk, ChunkChoice, Delta, Role, ToolCallDelta, Usage};

/// Parses one upstream stream chunk.
pub fn chunk_from_str(data: &str) -> Result<ChatChunk, serde_json::Error> {
    serde_json::from_str::<Wire<ChatChunk>>(data).map(|w| w.0)
}

impl WireObject for ChatChunk {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "id" => self.id = or_default(map)?,
            "created" => self.created = or_default(map)?,
            "model" => self.model = or_default(map)?,
            "choices" => self.choices = wire_list(map)?,
            "usage" => self.usage = map.next_value::<Option<Wire<Usage>>>()?.map(|w| w.0),
            "system_fingerprint" => self.system_fingerprint = map.next_value()?,
            "service_tier" => self.service_tier = map.next_value()?,
            // `obfuscation` is per-hop padding against length side channels:
            // meaningless past this hop.
            "object" | "obfuscation" => drop(map.next_value::<IgnoredAny>()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        self.extensions = extensions;
    }
}

impl WireObject for ChunkChoice {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "index" => self.index = or_default(map)?,
            "delta" => self.delta = map.next_value::<Option<Wire<Delta>>>()?.map(|w| w.0),
            "finish_reason" => {
                self.native_finish_reason = or_default(map)?;
                self.finish_reason = finish_reason_from_str(&self.native_finish_reason) as i32;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        self.extensions = extensions;
    }
}

impl WireObject for Delta {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "role" => {
                let role: Option<String> = map.next_value()?;
                self.role = role
                    .as_deref()
                    .and_then(role_from_str)
                    .unwrap_or(Role::Unspecified) as i32;
            }
            "content" => {
                let content = map
                    .next_value::<Option<ContentWire>>()?
                    .map(ContentWire::read)
                    .unwrap_or_default();
                self.content = content.text;
                if content.reasoning.is_some() {
                    self.reasoning_content = content.reasoning;
                }
                merge_extensions(&mut self.extensions, content.other);
            }
            "refusal" => self.refusal = map.next_value()?,
            "reasoning_content" => self.reasoning_content = map.next_value()?,
            "tool_calls" => {
                self.tool_calls = wire_list(map)?;
                // Mistral sends whole calls without `index`: several calls in
                // one delta all read as index 0, so their position decides.
                if self.tool_calls.len() > 1 && self.tool_calls.iter().all(|c| c.index == 0) {
                    for (position, call) in self.tool_calls.iter_mut().enumerate() {
                        call.index = position as u32;
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        merge_extensions(&mut self.extensions, extensions);
    }
}

impl WireObject for ToolCallDelta {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "index" => self.index = or_default(map)?,
            "id" => self.id = map.next_value()?,
            "type" => drop(map.next_value::<IgnoredAny>()?),
            "function" => {
                let function: Option<FunctionWire> = map.next_value()?;
                let function = function.unwrap_or_default();
                self.name = function.name;
                self.arguments = function.arguments.unwrap_or_default();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        self.extensions = extensions;
    }
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
            c.extensions.as_ref(),
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
        serialize_extensions(
            &mut m,
            c.extensions.as_ref(),
            &["index", "delta", "finish_reason"],
        )?;
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
                d.extensions.as_ref(),
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
        m.serialize_entry(
            "function",
            &FunctionJson {
                name: call.name.as_deref(),
                arguments: &call.arguments,
            },
        )?;
        serialize_extensions(
            &mut m,
            call.extensions.as_ref(),
            &["index", "id", "type", "function"],
        )?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn round_trip(chunk: Value) -> Value {
        let chunk = chunk_from_str(&chunk.to_string()).expect("parses");
        serde_json::to_value(ChunkJson(&chunk)).unwrap()
    }

    /// Recorded chunks (first, tool-call fragment, usage) survive parse + write,
    /// fields of a tool call's fragment the schema does not model (Google's
    /// thought signature) included; only the per-hop `obfuscation` padding
    /// and `null`s go.
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
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "multiply", "arguments": ""},
                    "extra_content": {"google": {"thought_signature": "c2ln"}}},
                {"index": 1, "function": {"arguments": "{\"a\""}}
            ]}, "finish_reason": null}]});
        assert_eq!(round_trip(fragment.clone()), fragment);

        let usage = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
            "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}}});
        assert_eq!(round_trip(usage.clone()), usage);
    }
}

#[cfg(test)]
mod robustness {
    use super::chunk_from_str;
    use crate::openai_wire::response;

    /// Every truncation and byte flip of recorded provider JSON is either
    /// parsed or rejected: never a panic.
    #[test]
    fn truncated_or_mangled_input_never_panics() {
        let samples = [
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}],"usage":{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":0}}}"#,
            r#"{"id":"r","choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":[]},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
        ];
        for sample in samples {
            for end in 0..=sample.len() {
                let prefix = &sample[..end];
                let _ = chunk_from_str(prefix);
                let _ = response::from_slice(prefix.as_bytes());
            }
            let bytes = sample.as_bytes();
            for i in 0..bytes.len() {
                for flip in [b'"', b'{', b']', b'-', b'9', b'\\', 0xff] {
                    let mut mangled = bytes.to_vec();
                    mangled[i] = flip;
                    if let Ok(text) = std::str::from_utf8(&mangled) {
                        let _ = chunk_from_str(text);
                    }
                    let _ = response::from_slice(&mangled);
                }
            }
        }
    }

    /// Mistral sends whole tool calls without `index`; each keeps its own.
    #[test]
    fn index_less_tool_calls_keep_their_position() {
        let chunk = chunk_from_str(
            r#"{"id":"b","object":"chat.completion.chunk","created":1,"model":"mistral-small-latest","choices":[{"index":0,"delta":{"content":null,"tool_calls":[
                {"id":"a1","function":{"name":"w","arguments":"{}"}},{"id":"a2","function":{"name":"w","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        )
        .expect("parses");
        let calls = &chunk.choices[0].delta.as_ref().expect("delta").tool_calls;
        assert_eq!(calls.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1]);
    }
}
