//! OpenAI chat-completion response JSON <-> canonical `ChatResponse`, and the
//! usage object shared by responses, stream chunks and embeddings.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::json_struct::serialize_extensions;
use super::request::role_from_str;
use super::{FieldReader, take_extensions};
use crate::error::GatewayError;
use crate::pb::{ChatResponse, Choice, FinishReason, Message, Role, ToolCall, Usage, message};

/// Parses an upstream chat-completion body.
pub fn from_json(body: Map<String, Value>) -> Result<ChatResponse, GatewayError> {
    let mut r = FieldReader::new(body, "");
    r.take("object");
    Ok(ChatResponse {
        id: r.string("id")?.unwrap_or_default(),
        created: r.i64("created")?.unwrap_or_default(),
        model: r.string("model")?.unwrap_or_default(),
        choices: r
            .array("choices")?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, c)| choice_from_json(c, i))
            .collect::<Result<_, _>>()?,
        usage: r.object("usage")?.map(usage_from_json).transpose()?,
        system_fingerprint: r.string("system_fingerprint")?,
        service_tier: r.string("service_tier")?,
        served_by: None,
        extensions: take_extensions(r.into_rest()),
    })
}

fn choice_from_json(value: Value, position: usize) -> Result<Choice, GatewayError> {
    let at = format!("choices[{position}]");
    let Value::Object(map) = value else {
        return Err(GatewayError::invalid(at, "must be an object"));
    };
    let mut r = FieldReader::new(map, &format!("{at}."));
    let native = r.string("finish_reason")?.unwrap_or_default();
    let message = r
        .object("message")?
        .map(|m| assistant_message_from_json(m, &format!("{at}.message.")))
        .transpose()?;
    Ok(Choice {
        index: r.u32("index")?.unwrap_or(position as u32),
        message,
        finish_reason: finish_reason_from_str(&native) as i32,
        native_finish_reason: native,
        extensions: take_extensions(r.into_rest()),
    })
}

fn assistant_message_from_json(
    map: Map<String, Value>,
    prefix: &str,
) -> Result<Message, GatewayError> {
    let mut r = FieldReader::new(map, prefix);
    let role = r
        .string("role")?
        .and_then(|role| role_from_str(&role))
        .unwrap_or(Role::Assistant);
    Ok(Message {
        role: role as i32,
        content: r.string("content")?.map(message::Content::Text),
        name: r.string("name")?.unwrap_or_default(),
        tool_calls: r
            .array("tool_calls")?
            .unwrap_or_default()
            .into_iter()
            .map(|call| {
                let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
                let function = call.get("function");
                let field = |name: &str| {
                    function
                        .and_then(|f| f.get(name))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                ToolCall {
                    id: id.to_owned(),
                    name: field("name"),
                    arguments: field("arguments"),
                }
            })
            .collect(),
        tool_call_id: String::new(),
        refusal: r.string("refusal")?,
        reasoning_content: r.string("reasoning_content")?,
        extensions: take_extensions(r.into_rest()),
    })
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
        serialize_extensions(&mut m, &r.extensions, RESPONSE_KEYS)?;
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
            &c.extensions,
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
                &message.extensions,
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

struct ToolCallJson<'a>(&'a ToolCall);

impl Serialize for ToolCallJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("id", &self.0.id)?;
        m.serialize_entry("type", "function")?;
        m.serialize_entry("function", &FunctionJson(&self.0.name, &self.0.arguments))?;
        m.end()
    }
}

struct FunctionJson<'a>(&'a str, &'a str);

impl Serialize for FunctionJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", self.0)?;
        m.serialize_entry("arguments", self.1)?;
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

/// Parses an OpenAI `usage` object, keeping every detail counter reported.
pub fn usage_from_json(map: Map<String, Value>) -> Result<Usage, GatewayError> {
    let mut r = FieldReader::new(map, "usage.");
    let mut usage = Usage {
        prompt_tokens: r.u32("prompt_tokens")?.unwrap_or_default(),
        completion_tokens: r.u32("completion_tokens")?.unwrap_or_default(),
        total_tokens: r.u32("total_tokens")?.unwrap_or_default(),
        ..Usage::default()
    };
    if let Some(details) = r.object("prompt_tokens_details")? {
        let mut d = FieldReader::new(details, "usage.prompt_tokens_details.");
        usage.cached_prompt_tokens = d.u32("cached_tokens")?;
        usage.cache_write_tokens = d.u32("cache_write_tokens")?;
        usage.prompt_audio_tokens = d.u32("audio_tokens")?;
    }
    if let Some(details) = r.object("completion_tokens_details")? {
        let mut d = FieldReader::new(details, "usage.completion_tokens_details.");
        usage.reasoning_tokens = d.u32("reasoning_tokens")?;
        usage.completion_audio_tokens = d.u32("audio_tokens")?;
        usage.accepted_prediction_tokens = d.u32("accepted_prediction_tokens")?;
        usage.rejected_prediction_tokens = d.u32("rejected_prediction_tokens")?;
    }
    // DeepSeek reports cache hits at the top level instead.
    if usage.cached_prompt_tokens.is_none() {
        usage.cached_prompt_tokens = r.u32("prompt_cache_hit_tokens")?;
    }
    Ok(usage)
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
        if prompt.iter().any(|(_, v)| v.is_some()) {
            m.serialize_entry("prompt_tokens_details", &Counts(&prompt))?;
        }
        let completion = [
            ("reasoning_tokens", u.reasoning_tokens),
            ("audio_tokens", u.completion_audio_tokens),
            ("accepted_prediction_tokens", u.accepted_prediction_tokens),
            ("rejected_prediction_tokens", u.rejected_prediction_tokens),
        ];
        if completion.iter().any(|(_, v)| v.is_some()) {
            m.serialize_entry("completion_tokens_details", &Counts(&completion))?;
        }
        m.end()
    }
}

/// The reported counters of a usage details object.
struct Counts<'a>(&'a [(&'static str, Option<u32>)]);

impl Serialize for Counts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().filter_map(|(k, v)| v.map(|v| (k, v))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let Value::Object(map) = recorded.clone() else {
            unreachable!()
        };
        let parsed = from_json(map).expect("parses");
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
        let Value::Object(map) = body else {
            unreachable!()
        };
        let parsed = from_json(map).expect("parses");
        assert_eq!(parsed.choices[0].finish_reason(), FinishReason::Other);
        assert_eq!(
            serde_json::to_value(ResponseJson(&parsed)).unwrap()["choices"][0]["finish_reason"],
            "insufficient_system_resource"
        );
    }
}
