//! Canonical chat request -> Cohere v2 `/chat` request
//! (<https://docs.cohere.com/reference/chat>).
//!
//! Cohere's messages are close to OpenAI's; what moves where:
//! - developer messages are `system` messages; images are `image_url`
//!   parts (bytes as a data URL); assistant tool calls keep their id and
//!   argument string, tool results their `tool_call_id`;
//! - `reasoning_content` in the history goes back as a `thinking` content
//!   part; the assistant message's extensions (`tool_plan`, `citations`,
//!   as Cohere returned them) go back as its fields;
//! - `tool_choice` `required` / `none` are `REQUIRED` / `NONE`; a named tool
//!   is `REQUIRED` with only that tool sent (Cohere cannot name one);
//! - `cache_control` markers are left out: Cohere caches prompt prefixes by
//!   itself and has no such field;
//! - `json_object` is `{"type": "json_object"}`, `json_schema` adds the
//!   schema as `json_schema`;
//! - `max_completion_tokens` / `max_tokens` are `max_tokens`, `stop` is
//!   `stop_sequences`, `top_p` is `p`; `reasoning_effort` is `thinking`
//!   (`none` disables it, otherwise enabled with a token budget);
//! - what Cohere has no field for (`n` > 1, `parallel_tool_calls: false`,
//!   `user`, `metadata`) is a clear error, never a silent drop.
//!
//! The request's extensions are merged last (objects one level deep), so a
//! caller can set `documents`, `citation_options`, `safety_mode`, `k`…

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::error::{FieldPath, GatewayError};
use crate::openai_wire::json_struct::map_from_struct;
use crate::pb::{
    ChatRequest, ContentPart, ImageDetail, Message, ReasoningEffort, Role, ToolChoiceMode,
    content_part, image, message, response_format, tool_choice,
};
use crate::providers::{
    SamplingNames, function_tool, gaps::Gaps, insert_sampling, merge_native_fields,
    thinking_budget, without_cache_marker,
};

fn thinking(effort: ReasoningEffort) -> Option<Value> {
    match (effort, thinking_budget(effort)) {
        (ReasoningEffort::Unspecified, _) => None,
        (_, None) => Some(json!({"type": "disabled"})),
        (_, Some(budget)) => Some(json!({"type": "enabled", "token_budget": budget})),
    }
}

pub fn to_json(
    request: &ChatRequest,
    model: &str,
    stream: bool,
) -> Result<Map<String, Value>, GatewayError> {
    GAPS.check("cohere", request)?;
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    let messages: Vec<Value> = request
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| message_to_json(m, FieldPath::message(i)))
        .collect::<Result<_, _>>()?;
    body.insert("messages".into(), messages.into());

    let choice = request.tool_choice.as_ref().and_then(|c| c.choice.as_ref());
    let named = match choice {
        Some(tool_choice::Choice::FunctionName(name)) => Some(name.as_str()),
        _ => None,
    };
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .filter(|tool| named.is_none_or(|name| tool.name == name))
            .map(function_tool)
            .collect();
        if tools.is_empty() {
            return Err(GatewayError::invalid(
                "tool_choice",
                "names a function that is not in `tools`",
            ));
        }
        body.insert("tools".into(), tools.into());
        if request.tools.iter().any(|t| t.strict == Some(true)) {
            body.insert("strict_tools".into(), true.into());
        }
    }
    let mode = match choice {
        Some(tool_choice::Choice::FunctionName(_)) => Some("REQUIRED"),
        Some(tool_choice::Choice::Mode(m)) => match ToolChoiceMode::try_from(*m) {
            Ok(ToolChoiceMode::Required) => Some("REQUIRED"),
            Ok(ToolChoiceMode::None) => Some("NONE"),
            _ => None,
        },
        None => None,
    };
    if let Some(mode) = mode {
        body.insert("tool_choice".into(), mode.into());
    }

    match request
        .response_format
        .as_ref()
        .and_then(|f| f.format.as_ref())
    {
        Some(response_format::Format::JsonObject(_)) => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(response_format::Format::JsonSchema(format)) => {
            let schema = format.schema.as_ref().map(map_from_struct);
            body.insert(
                "response_format".into(),
                json!({"type": "json_object", "json_schema": schema.unwrap_or_default()}),
            );
        }
        Some(response_format::Format::Text(_)) | None => {}
    }

    insert_sampling(
        &mut body,
        request,
        &SamplingNames {
            temperature: "temperature",
            top_p: "p",
            max_tokens: Some("max_tokens"),
            stop: "stop_sequences",
            seed: Some("seed"),
            presence_penalty: Some("presence_penalty"),
            frequency_penalty: Some("frequency_penalty"),
        },
    );
    if let Some(thinking) = thinking(request.reasoning_effort()) {
        body.insert("thinking".into(), thinking);
    }
    body.insert("stream".into(), stream.into());

    merge_native_fields(&mut body, request.extensions.as_ref());
    Ok(body)
}

/// What Cohere's v2 chat API cannot express.
const GAPS: Gaps = Gaps {
    choices: Some("it generates one choice per request"),
    serial_tool_calls: Some("parallel tool calls cannot be turned off"),
    user: Some("it has no end-user field"),
    metadata: Some("it has no request metadata"),
    ..Gaps::NONE
};

fn message_to_json(m: &Message, at: FieldPath<'_>) -> Result<Value, GatewayError> {
    let mut out = Map::new();
    let role = match m.role() {
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Unspecified => unreachable!("roles are validated"),
    };
    out.insert("role".into(), role.into());
    let mut content = match &m.content {
        Some(message::Content::Text(text)) => Some(Value::from(text.clone())),
        Some(message::Content::Parts(parts)) => Some(Value::Array(
            parts
                .parts
                .iter()
                .enumerate()
                .map(|(j, p)| part_to_json(p, at.item("content", j)))
                .collect::<Result<_, _>>()?,
        )),
        None => None,
    };
    if let Some(thinking) = &m.reasoning_content {
        let mut parts = vec![json!({"type": "thinking", "thinking": thinking})];
        match content.take() {
            Some(Value::String(text)) if !text.is_empty() => {
                parts.push(json!({"type": "text", "text": text}));
            }
            Some(Value::Array(rest)) => parts.extend(rest),
            _ => {}
        }
        content = Some(parts.into());
    }
    if let Some(content) = content {
        out.insert("content".into(), content);
    }
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments}})
            })
            .collect();
        out.insert("tool_calls".into(), calls.into());
    }
    if m.role() == Role::Tool {
        out.insert("tool_call_id".into(), m.tool_call_id.clone().into());
    }
    if let Some(extensions) = &m.extensions {
        out.extend(without_cache_marker(extensions));
    }
    Ok(Value::Object(out))
}

fn part_to_json(part: &ContentPart, at: FieldPath<'_>) -> Result<Value, GatewayError> {
    let mut p = match &part.part {
        Some(content_part::Part::Text(text)) => json!({"type": "text", "text": text}),
        Some(content_part::Part::Image(img)) => {
            let url = match &img.source {
                Some(image::Source::Url(url)) => url.clone(),
                Some(image::Source::Data(bytes)) => {
                    format!("data:{};base64,{}", img.media_type, BASE64.encode(bytes))
                }
                None => return Err(GatewayError::invalid(at, "is an image without a source")),
            };
            let mut image_url = json!({"url": url});
            let detail = match img.detail() {
                ImageDetail::Unspecified => None,
                ImageDetail::Auto => Some("auto"),
                ImageDetail::Low => Some("low"),
                ImageDetail::High => Some("high"),
            };
            if let Some(detail) = detail {
                image_url["detail"] = detail.into();
            }
            json!({"type": "image_url", "image_url": image_url})
        }
        None => json!({}),
    };
    if let (Value::Object(p), Some(extensions)) = (&mut p, &part.extensions) {
        p.extend(without_cache_marker(extensions));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::request::from_json;

    fn translate(openai: Value) -> Result<Value, GatewayError> {
        let Value::Object(map) = openai else {
            unreachable!()
        };
        to_json(&from_json(map)?.request, "command-a-03-2025", false).map(Value::Object)
    }

    /// The recorded tool round trip: messages keep OpenAI's shape, the
    /// assistant's `tool_plan` goes back, sampling is renamed.
    #[test]
    fn tool_round_trip_and_sampling() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "What's the weather in Paris?"},
                {"role": "assistant", "content": null, "tool_plan": "I will look it up.",
                 "tool_calls": [{"id": "get_weather_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "get_weather_1", "content": "Sunny"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            "top_p": 0.5, "max_completion_tokens": 20, "stop": ["x"], "reasoning_effort": "none",
            "safety_mode": "OFF"
        }))
        .expect("translates");
        assert_eq!(
            body,
            json!({
                "model": "command-a-03-2025",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "What's the weather in Paris?"},
                    {"role": "assistant", "tool_plan": "I will look it up.",
                     "tool_calls": [{"id": "get_weather_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                    {"role": "tool", "tool_call_id": "get_weather_1", "content": "Sunny"}
                ],
                "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
                "p": 0.5, "max_tokens": 20, "stop_sequences": ["x"],
                "thinking": {"type": "disabled"},
                "stream": false,
                "safety_mode": "OFF"
            })
        );
    }

    /// A named tool is REQUIRED with only that tool; `n` > 1 is refused.
    #[test]
    fn named_tool_choice_and_refusals() {
        let body = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}],
            "tool_choice": {"type": "function", "function": {"name": "b"}}}))
        .expect("translates");
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {"name": "b"}}])
        );
        assert_eq!(body["tool_choice"], "REQUIRED");
        let n = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}),
        );
        assert!(matches!(n, Err(GatewayError::Unsupported { .. })));
    }
}
