//! OpenAI chat-completion response JSON <-> canonical `ChatResponse`, and the
//! usage object shared by responses, stream chunks and embeddings.

use std::fmt;

use prost_types::Struct;
use prost_types::value::Kind;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::json_struct::{ProtoJson, ProtoValue, serialize_extensions};
use super::request::role_from_str;
use super::{ContentWire, Key, Wire, WireObject, merge_extensions, or_default, wire_list};
use crate::pb::{ChatResponse, Choice, FinishReason, Message, Role, ToolCall, Usage, message};

/// Parses an upstream chat-completion body.
pub fn from_slice(body: &[u8]) -> Result<ChatResponse, serde_json::Error> {
    super::from_bytes::<Wire<ChatResponse>>(body).map(|w| w.0)
}

impl WireObject for ChatResponse {
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
            "object" => drop(map.next_value::<IgnoredAny>()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        self.extensions = extensions;
    }
}

impl WireObject for Choice {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "index" => self.index = or_default(map)?,
            "message" => self.message = map.next_value::<Option<Wire<Message>>>()?.map(|w| w.0),
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

/// A provider's assistant message (requests' messages are parsed by
/// `request::from_slice`, with field-path errors for callers).
impl WireObject for Message {
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
                    .unwrap_or(Role::Assistant) as i32;
            }
            "content" => {
                let content = map
                    .next_value::<Option<ContentWire>>()?
                    .map(ContentWire::read)
                    .unwrap_or_default();
                self.content = content.text.map(message::Content::Text);
                if content.reasoning.is_some() {
                    self.reasoning_content = content.reasoning;
                }
                merge_extensions(&mut self.extensions, content.other);
            }
            "name" => self.name = or_default(map)?,
            "tool_calls" => self.tool_calls = wire_list(map)?,
            "refusal" => self.refusal = map.next_value()?,
            "reasoning_content" => self.reasoning_content = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        merge_extensions(&mut self.extensions, extensions);
    }
}

impl WireObject for ToolCall {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "id" => self.id = or_default(map)?,
            "type" => drop(map.next_value::<IgnoredAny>()?),
            "function" => {
                let function: Option<FunctionWire> = map.next_value()?;
                let function = function.unwrap_or_default();
                self.name = function.name.unwrap_or_default();
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

/// `{"name", "arguments"}` of a tool call or a tool-call fragment.
#[derive(Default, Deserialize)]
pub(super) struct FunctionWire {
    pub name: Option<String>,
    pub arguments: Option<String>,
}

/// Writes `response` as an OpenAI chat-completion body, straight into the
/// output (no intermediate JSON tree: this is on every request's path).
pub struct ResponseJson<'a>(pub &'a ChatResponse);

impl Serialize for ResponseJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &r.id)?;
        m.serialize_entry("object", "chat.completion")?;
        m.serialize_entry("created", &r.created)?;
        m.serialize_entry("model", &r.model)?;
        m.serialize_entry("choices", &Seq(&r.choices, ChoiceJson))?;
        if let Some(usage) = &r.usage {
            m.serialize_entry("usage", &UsageJson(usage))?;
        }
        entry_opt(&mut m, "system_fingerprint", &r.system_fingerprint)?;
        entry_opt(&mut m, "service_tier", &r.service_tier)?;
        serialize_extensions(&mut m, r.extensions.as_ref(), RESPONSE_KEYS)?;
        m.end()
    }
}

const RESPONSE_KEYS: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "choices",
    "usage",
    "system_fingerprint",
    "service_tier",
];

struct ChoiceJson<'a>(&'a Choice);

impl Serialize for ChoiceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("index", &c.index)?;
        m.serialize_entry("message", &AssistantMessageJson(c.message.as_ref()))?;
        m.serialize_entry(
            "finish_reason",
            &finish_reason_str(c.finish_reason(), &c.native_finish_reason),
        )?;
        serialize_extensions(
            &mut m,
            c.extensions.as_ref(),
            &["index", "message", "finish_reason"],
        )?;
        m.end()
    }
}

struct AssistantMessageJson<'a>(Option<&'a Message>);

impl Serialize for AssistantMessageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(message) = self.0 {
            m.serialize_entry("role", "assistant")?;
            let content = match &message.content {
                Some(message::Content::Text(text)) => Some(text),
                _ => None,
            };
            m.serialize_entry("content", &content)?;
            entry_opt(&mut m, "refusal", &message.refusal)?;
            entry_opt(&mut m, "reasoning_content", &message.reasoning_content)?;
            if !message.tool_calls.is_empty() {
                m.serialize_entry("tool_calls", &Seq(&message.tool_calls, ToolCallJson))?;
            }
            serialize_extensions(
                &mut m,
                message.extensions.as_ref(),
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

pub(super) struct ToolCallJson<'a>(pub &'a ToolCall);

impl Serialize for ToolCallJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &self.0.id)?;
        m.serialize_entry("type", "function")?;
        m.serialize_entry(
            "function",
            &FunctionJson {
                name: Some(&self.0.name),
                arguments: &self.0.arguments,
            },
        )?;
        serialize_extensions(
            &mut m,
            self.0.extensions.as_ref(),
            &["id", "type", "function"],
        )?;
        m.end()
    }
}

/// The `function` object of a tool call, or of a streamed fragment of one
/// (whose later fragments carry no name).
pub(super) struct FunctionJson<'a> {
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

impl Serialize for FunctionJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        entry_opt(&mut m, "name", &self.name)?;
        m.serialize_entry("arguments", self.arguments)?;
        m.end()
    }
}

/// Serializes a slice through a per-item wrapper.
pub(super) struct Seq<'a, T, W>(pub &'a [T], pub fn(&'a T) -> W);

impl<'a, T, W: Serialize> Serialize for Seq<'a, T, W> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(self.1))
    }
}

pub(super) fn entry_opt<M: SerializeMap, T: Serialize>(
    map: &mut M,
    key: &'static str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

/// The finish reason as OpenAI spells it: the provider's own word when it is
/// not one of OpenAI's, else the canonical name; `None` while unfinished.
pub(super) fn finish_reason_str(reason: FinishReason, native: &str) -> Option<&str> {
    Some(match reason {
        FinishReason::Unspecified => return None,
        FinishReason::Other if !native.is_empty() => native,
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::FunctionCall => "function_call",
    })
}

pub(super) fn finish_reason_from_str(reason: &str) -> FinishReason {
    match reason {
        "" => FinishReason::Unspecified,
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        "function_call" => FinishReason::FunctionCall,
        _ => FinishReason::Other,
    }
}

/// An OpenAI `usage` object, keeping every counter reported: modelled ones in
/// their fields, the rest (top level or inside a details object) in
/// `extensions`.
impl WireObject for Usage {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            "prompt_tokens" => self.prompt_tokens = or_default(map)?,
            "completion_tokens" => self.completion_tokens = or_default(map)?,
            "total_tokens" => self.total_tokens = or_default(map)?,
            "prompt_tokens_details" => {
                let rest = map.next_value_seed(TokenDetails(&mut [
                    ("cached_tokens", &mut self.cached_prompt_tokens),
                    ("cache_write_tokens", &mut self.cache_write_tokens),
                    ("audio_tokens", &mut self.prompt_audio_tokens),
                ]))?;
                keep_unmodelled(&mut self.extensions, key, rest);
            }
            "completion_tokens_details" => {
                let rest = map.next_value_seed(TokenDetails(&mut [
                    ("reasoning_tokens", &mut self.reasoning_tokens),
                    ("audio_tokens", &mut self.completion_audio_tokens),
                    (
                        "accepted_prediction_tokens",
                        &mut self.accepted_prediction_tokens,
                    ),
                    (
                        "rejected_prediction_tokens",
                        &mut self.rejected_prediction_tokens,
                    ),
                ]))?;
                keep_unmodelled(&mut self.extensions, key, rest);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        let Some(extensions) = extensions else { return };
        // DeepSeek reports cache hits at the top level; the field stays as
        // sent, and also counts as cached tokens when nothing else did.
        if self.cached_prompt_tokens.is_none() {
            self.cached_prompt_tokens =
                extensions
                    .fields
                    .get("prompt_cache_hit_tokens")
                    .and_then(|v| match v.kind {
                        Some(Kind::NumberValue(n)) => Some(n as u32),
                        _ => None,
                    });
        }
        merge_extensions(&mut self.extensions, Some(extensions));
    }
}

/// Reads a usage details object (`null` is an empty one): each named count
/// into its field, and everything else (including a count that is not a
/// whole number) into the returned rest, to be kept as an extension.
struct TokenDetails<'a, 'b>(&'a mut [(&'static str, &'b mut Option<u32>)]);

impl<'de> DeserializeSeed<'de> for TokenDetails<'_, '_> {
    type Value = Struct;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Struct, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for TokenDetails<'_, '_> {
    type Value = Struct;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a token details object")
    }

    fn visit_none<E>(self) -> Result<Struct, E> {
        Ok(Struct::default())
    }

    fn visit_unit<E>(self) -> Result<Struct, E> {
        Ok(Struct::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Struct, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Struct, A::Error> {
        let mut rest = Struct::default();
        while let Some(Key(key)) = map.next_key()? {
            let ProtoValue(value) = map.next_value()?;
            let Some((_, count)) = self.0.iter_mut().find(|(name, _)| *name == key) else {
                rest.fields.insert(key.into_owned(), value);
                continue;
            };
            match value.kind {
                Some(Kind::NullValue(_)) => **count = None,
                Some(Kind::NumberValue(n))
                    if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) =>
                {
                    **count = Some(n as u32);
                }
                _ => {
                    rest.fields.insert(key.into_owned(), value);
                }
            }
        }
        Ok(rest)
    }
}

/// Keeps a details object's unmodelled fields under its own key.
fn keep_unmodelled(extensions: &mut Option<Struct>, key: &str, rest: Struct) {
    if rest.fields.is_empty() {
        return;
    }
    let value = prost_types::Value {
        kind: Some(Kind::StructValue(rest)),
    };
    extensions
        .get_or_insert_with(Struct::default)
        .fields
        .insert(key.to_owned(), value);
}

/// Writes an OpenAI `usage` object; detail objects appear only when the
/// provider reported something for them.
pub struct UsageJson<'a>(pub &'a Usage);

impl Serialize for UsageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("prompt_tokens", &u.prompt_tokens)?;
        m.serialize_entry("completion_tokens", &u.completion_tokens)?;
        m.serialize_entry("total_tokens", &u.total_tokens)?;
        let prompt = [
            ("cached_tokens", u.cached_prompt_tokens),
            ("cache_write_tokens", u.cache_write_tokens),
            ("audio_tokens", u.prompt_audio_tokens),
        ];
        let completion = [
            ("reasoning_tokens", u.reasoning_tokens),
            ("audio_tokens", u.completion_audio_tokens),
            ("accepted_prediction_tokens", u.accepted_prediction_tokens),
            ("rejected_prediction_tokens", u.rejected_prediction_tokens),
        ];
        for (key, counts) in [
            ("prompt_tokens_details", &prompt[..]),
            ("completion_tokens_details", &completion[..]),
        ] {
            let rest = u
                .extensions
                .as_ref()
                .and_then(|e| match &e.fields.get(key)?.kind {
                    Some(Kind::StructValue(rest)) => Some(rest),
                    _ => None,
                });
            if counts.iter().any(|(_, v)| v.is_some()) || rest.is_some() {
                m.serialize_entry(key, &Counts(counts, rest))?;
            }
        }
        serialize_extensions(&mut m, u.extensions.as_ref(), USAGE_KEYS)?;
        m.end()
    }
}

/// Keys `UsageJson` writes itself; extensions never repeat them.
const USAGE_KEYS: &[&str] = &[
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
];

/// The reported counters of a usage details object, then its unmodelled fields.
struct Counts<'a>(&'a [(&'static str, Option<u32>)], Option<&'a Struct>);

impl Serialize for Counts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (key, value) in self.0 {
            if let Some(value) = value {
                m.serialize_entry(key, value)?;
            }
        }
        // A field kept because it was not a count (`2.5`) is written back
        // under its own name; only counts already written are skipped.
        for (key, value) in self.1.into_iter().flat_map(|rest| &rest.fields) {
            if !self.0.iter().any(|(k, v)| k == key && v.is_some()) {
                m.serialize_entry(key, &ProtoJson(value))?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Usage counters nobody modelled (top level or inside a details object)
    /// come back out where they were; DeepSeek's cache hits also count as cached.
    #[test]
    fn unmodelled_usage_fields_survive() {
        let usage = json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
            "prompt_cache_hit_tokens": 8, "queue_time": 0.25,
            "prompt_tokens_details": {"cached_tokens": null, "text_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3}});
        let body = json!({"id": "x", "choices": [], "usage": usage});
        let parsed = from_slice(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.usage.as_ref().unwrap().cached_prompt_tokens, Some(8));
        let written = serde_json::to_value(ResponseJson(&parsed)).unwrap();
        let mut expected = usage;
        expected["prompt_tokens_details"] = json!({"cached_tokens": 8, "text_tokens": 4});
        assert_eq!(written["usage"], expected);
    }

    /// A `null` details object reads as empty, and a count that is not a
    /// whole number stays as sent instead of being dropped or truncated.
    #[test]
    fn odd_usage_details_are_kept() {
        let usage = json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
            "prompt_tokens_details": null,
            "completion_tokens_details": {"reasoning_tokens": 2.5, "audio_tokens": 1}});
        let body = json!({"id": "x", "choices": [], "usage": usage});
        let parsed = from_slice(body.to_string().as_bytes()).unwrap();
        let parsed_usage = parsed.usage.as_ref().unwrap();
        assert_eq!(parsed_usage.reasoning_tokens, None);
        assert_eq!(parsed_usage.completion_audio_tokens, Some(1));
        let written = serde_json::to_value(ResponseJson(&parsed)).unwrap();
        assert_eq!(
            written["usage"],
            json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                "completion_tokens_details": {"reasoning_tokens": 2.5, "audio_tokens": 1}})
        );
    }

    /// A recorded OpenAI response survives parse + write unchanged.
    #[test]
    fn recorded_response_round_trips() {
        let recorded = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1744810634,
            "model": "gpt-4.1-mini-2025-04-14",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "refusal": null, "annotations": [],
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"city\":\"Tokyo\"}"}}]
            }}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 15, "total_tokens": 65,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "cache_write_tokens": 12},
                "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_38647f5e19"
        });
        let parsed = from_slice(recorded.to_string().as_bytes()).expect("parses");
        assert_eq!(
            parsed.usage.as_ref().and_then(|u| u.reasoning_tokens),
            Some(3)
        );
        assert_eq!(
            parsed.usage.as_ref().and_then(|u| u.cache_write_tokens),
            Some(12)
        );
        assert_eq!(parsed.choices[0].finish_reason(), FinishReason::ToolCalls);
        let mut expected = recorded;
        // `refusal: null` means no refusal.
        expected["choices"][0]["message"]
            .as_object_mut()
            .unwrap()
            .remove("refusal");
        assert_eq!(
            serde_json::to_value(ResponseJson(&parsed)).unwrap(),
            expected
        );
    }

    /// Unknown finish reasons are kept verbatim.
    #[test]
    fn unknown_finish_reason_is_kept() {
        let body = json!({"choices": [{"index": 0, "finish_reason": "insufficient_system_resource", "message": {"content": "x"}}]});
        let parsed = from_slice(body.to_string().as_bytes()).expect("parses");
        assert_eq!(parsed.choices[0].finish_reason(), FinishReason::Other);
        assert_eq!(
            serde_json::to_value(ResponseJson(&parsed)).unwrap()["choices"][0]["finish_reason"],
            "insufficient_system_resource"
        );
    }

    /// Mistral's reasoning models answer with a list of chunks: thinking
    /// becomes reasoning, text the content, other chunks are kept.
    #[test]
    fn mistral_content_chunks() {
        let body = br#"{"id":"x","object":"chat.completion","created":1,"model":"magistral-medium-latest",
            "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","tool_calls":null,"content":[
              {"type":"thinking","thinking":[{"type":"text","text":"Hmm. "},{"type":"text","text":"Rivers."}]},
              {"type":"text","text":"Cross at a bridge."},
              {"type":"reference","reference_ids":[1]}]}}]}"#;
        let response = from_slice(body).expect("parses");
        let message = response.choices[0].message.as_ref().expect("message");
        assert_eq!(message.reasoning_content.as_deref(), Some("Hmm. Rivers."));
        assert_eq!(
            message.content,
            Some(message::Content::Text("Cross at a bridge.".into()))
        );
        let kept =
            super::super::json_struct::map_from_struct(message.extensions.as_ref().expect("kept"));
        assert_eq!(kept["content_parts"][0]["type"], "reference");
    }
}
