//! OpenAI chat-completion response JSON <-> canonical `ChatResponse`, and the
//! usage object shared by responses, stream chunks and embeddings.

use serde_json::{Map, Value};

use super::json_struct::map_from_struct;
use super::request::{role_from_str, tool_call_to_json};
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

/// Writes the OpenAI chat-completion body for `response`.
pub fn to_json(response: &ChatResponse) -> Value {
    let mut body = Map::new();
    body.insert("id".into(), response.id.clone().into());
    body.insert("object".into(), "chat.completion".into());
    body.insert("created".into(), response.created.into());
    body.insert("model".into(), response.model.clone().into());
    body.insert(
        "choices".into(),
        response.choices.iter().map(choice_to_json).collect(),
    );
    if let Some(usage) = &response.usage {
        body.insert("usage".into(), usage_to_json(usage));
    }
    insert_str(
        &mut body,
        "system_fingerprint",
        &response.system_fingerprint,
    );
    insert_str(&mut body, "service_tier", &response.service_tier);
    if let Some(extensions) = &response.extensions {
        body.extend(map_from_struct(extensions));
    }
    Value::Object(body)
}

fn choice_to_json(choice: &Choice) -> Value {
    let mut c = Map::new();
    c.insert("index".into(), choice.index.into());
    let mut message = Map::new();
    if let Some(m) = &choice.message {
        message.insert("role".into(), "assistant".into());
        message.insert(
            "content".into(),
            match &m.content {
                Some(message::Content::Text(text)) => text.clone().into(),
                _ => Value::Null,
            },
        );
        insert_str(&mut message, "refusal", &m.refusal);
        insert_str(&mut message, "reasoning_content", &m.reasoning_content);
        if !m.tool_calls.is_empty() {
            message.insert(
                "tool_calls".into(),
                m.tool_calls.iter().map(tool_call_to_json).collect(),
            );
        }
        if let Some(extensions) = &m.extensions {
            message.extend(map_from_struct(extensions));
        }
    }
    c.insert("message".into(), Value::Object(message));
    c.insert(
        "finish_reason".into(),
        finish_reason_json(choice.finish_reason(), &choice.native_finish_reason),
    );
    if let Some(extensions) = &choice.extensions {
        c.extend(map_from_struct(extensions));
    }
    Value::Object(c)
}

pub(super) fn insert_str(map: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        map.insert(key.into(), value.clone().into());
    }
}

/// The finish reason as OpenAI spells it: the provider's own word when it is
/// an OpenAI one, else the canonical mapping.
pub(super) fn finish_reason_json(reason: FinishReason, native: &str) -> Value {
    match reason {
        FinishReason::Unspecified => Value::Null,
        FinishReason::Other if !native.is_empty() => native.into(),
        FinishReason::Stop => "stop".into(),
        FinishReason::Length => "length".into(),
        FinishReason::ToolCalls => "tool_calls".into(),
        FinishReason::ContentFilter => "content_filter".into(),
        FinishReason::FunctionCall => "function_call".into(),
        FinishReason::Other => "stop".into(),
    }
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
pub fn usage_to_json(usage: &Usage) -> Value {
    let mut u = Map::new();
    u.insert("prompt_tokens".into(), usage.prompt_tokens.into());
    u.insert("completion_tokens".into(), usage.completion_tokens.into());
    u.insert("total_tokens".into(), usage.total_tokens.into());
    let mut prompt = Map::new();
    insert_count(&mut prompt, "cached_tokens", usage.cached_prompt_tokens);
    insert_count(&mut prompt, "cache_write_tokens", usage.cache_write_tokens);
    insert_count(&mut prompt, "audio_tokens", usage.prompt_audio_tokens);
    if !prompt.is_empty() {
        u.insert("prompt_tokens_details".into(), Value::Object(prompt));
    }
    let mut completion = Map::new();
    insert_count(&mut completion, "reasoning_tokens", usage.reasoning_tokens);
    insert_count(
        &mut completion,
        "audio_tokens",
        usage.completion_audio_tokens,
    );
    insert_count(
        &mut completion,
        "accepted_prediction_tokens",
        usage.accepted_prediction_tokens,
    );
    insert_count(
        &mut completion,
        "rejected_prediction_tokens",
        usage.rejected_prediction_tokens,
    );
    if !completion.is_empty() {
        u.insert(
            "completion_tokens_details".into(),
            Value::Object(completion),
        );
    }
    Value::Object(u)
}

fn insert_count(map: &mut Map<String, Value>, key: &str, value: Option<u32>) {
    if let Some(value) = value {
        map.insert(key.into(), value.into());
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
        assert_eq!(to_json(&parsed), expected);
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
            to_json(&parsed)["choices"][0]["finish_reason"],
            "insufficient_system_resource"
        );
    }
}
