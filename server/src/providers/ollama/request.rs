//! Canonical chat request -> Ollama `/api/chat` request
//! (<https://docs.ollama.com/api/chat>).
//!
//! What moves where:
//! - system and developer messages are `system` messages, in place; a
//!   message's text parts are joined with a newline (Ollama's `content` is
//!   one string) and its images go to `images` as base64;
//! - assistant tool calls carry their arguments as a JSON object; a tool
//!   result names its tool (`tool_name`), found through the call it answers;
//!   `reasoning_content` in the history goes back as `thinking`;
//! - `tool_choice: "none"` sends no tools (the model then cannot call one);
//!   Ollama cannot force a call, so `required` and a named tool are refused;
//! - `json_object` is `format: "json"`, `json_schema` is the schema as
//!   `format`; sampling goes to `options` (`max_tokens` is `num_predict`);
//! - `reasoning_effort` is `think`: `none` is `false`, otherwise the level
//!   (`low`, `medium`, `high`);
//! - what Ollama has no field for (`n` > 1, `parallel_tool_calls: false`,
//!   image URLs, `user`, `metadata`) is a clear error, never a silent drop.
//!
//! The request's extensions are merged last (objects one level deep), so a
//! caller can set `keep_alive` or `options.num_ctx`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::error::{FieldPath, GatewayError};
use crate::openai_wire::json_struct::map_from_struct;
use crate::pb::{
    ChatRequest, Message, ReasoningEffort, Role, ToolChoiceMode, content_part, image, message,
    response_format, tool_choice,
};
use crate::providers::{
    SamplingNames, function_tool, gaps::Gaps, insert_sampling, merge_native_fields, tool_arguments,
};

pub fn to_json(
    request: &ChatRequest,
    model: &str,
    stream: bool,
) -> Result<Map<String, Value>, GatewayError> {
    GAPS.check("ollama", request)?;
    let mut body = Map::new();
    body.insert("model".into(), model.into());

    let mut messages = Vec::with_capacity(request.messages.len());
    // Ollama answers tool calls by name; OpenAI callers answer by id.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in request.messages.iter().enumerate() {
        let at = FieldPath::message(i);
        let role = match m.role() {
            Role::System | Role::Developer => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Unspecified => unreachable!("roles are validated"),
        };
        let mut out = content_of(m, at)?;
        out.insert("role".into(), role.into());
        if let Some(thinking) = &m.reasoning_content {
            out.insert("thinking".into(), thinking.clone().into());
        }
        if !m.tool_calls.is_empty() {
            let mut calls = Vec::with_capacity(m.tool_calls.len());
            for (j, call) in m.tool_calls.iter().enumerate() {
                call_names.insert(&call.id, &call.name);
                let arguments = tool_arguments(call, at.item("tool_calls", j), "ollama")?;
                calls.push(json!({"function": {"name": call.name, "arguments": arguments}}));
            }
            out.insert("tool_calls".into(), calls.into());
        }
        if m.role() == Role::Tool {
            let name = call_names.get(m.tool_call_id.as_str()).ok_or_else(|| {
                GatewayError::invalid(
                    at.field("tool_call_id"),
                    "answers no tool call of an earlier assistant message",
                )
            })?;
            out.insert("tool_name".into(), (*name).into());
        }
        messages.push(Value::Object(out));
    }
    body.insert("messages".into(), messages.into());

    if !request.tools.is_empty() && !tool_choice_is(request, ToolChoiceMode::None) {
        let tools: Vec<Value> = request.tools.iter().map(function_tool).collect();
        body.insert("tools".into(), tools.into());
    }

    match request
        .response_format
        .as_ref()
        .and_then(|f| f.format.as_ref())
    {
        Some(response_format::Format::JsonObject(_)) => {
            body.insert("format".into(), "json".into());
        }
        Some(response_format::Format::JsonSchema(format)) => {
            let schema = format.schema.as_ref().map(map_from_struct);
            body.insert("format".into(), Value::Object(schema.unwrap_or_default()));
        }
        Some(response_format::Format::Text(_)) | None => {}
    }

    let options = options(request);
    if !options.is_empty() {
        body.insert("options".into(), options.into());
    }
    if let Some(think) = think(request.reasoning_effort()) {
        body.insert("think".into(), think);
    }
    // Ollama streams unless told not to.
    body.insert("stream".into(), stream.into());

    merge_native_fields(&mut body, request.extensions.as_ref());
    Ok(body)
}

/// What Ollama's chat API cannot express.
const GAPS: Gaps = Gaps {
    choices: Some("it generates one choice per request"),
    serial_tool_calls: Some("parallel tool calls cannot be turned off"),
    forced_tool_call: Some("it cannot force a tool call (only `auto` and `none` are possible)"),
    user: Some("it has no end-user field"),
    metadata: Some("it has no request metadata"),
    ..Gaps::NONE
};

fn tool_choice_is(request: &ChatRequest, mode: ToolChoiceMode) -> bool {
    matches!(
        request.tool_choice.as_ref().and_then(|c| c.choice.as_ref()),
        Some(tool_choice::Choice::Mode(m)) if *m == mode as i32
    )
}

/// A message's `content` (its text parts joined) and `images` (base64).
fn content_of(m: &Message, at: FieldPath<'_>) -> Result<Map<String, Value>, GatewayError> {
    let mut texts = Vec::new();
    let mut images = Vec::new();
    match &m.content {
        Some(message::Content::Text(text)) => texts.push(text.as_str()),
        Some(message::Content::Parts(parts)) => {
            for (j, part) in parts.parts.iter().enumerate() {
                match &part.part {
                    Some(content_part::Part::Text(text)) => texts.push(text),
                    Some(content_part::Part::Image(img)) => match &img.source {
                        Some(image::Source::Data(bytes)) => images.push(BASE64.encode(bytes)),
                        Some(image::Source::Url(_)) => {
                            return Err(GatewayError::unsupported(
                                at.item("content", j).field("image_url"),
                                "ollama takes images as bytes only: send a data URL (data:image/png;base64,...)",
                            ));
                        }
                        None => {}
                    },
                    None => {}
                }
            }
        }
        None => {}
    }
    let mut out = Map::new();
    out.insert("content".into(), texts.join("\n").into());
    if !images.is_empty() {
        out.insert("images".into(), images.into());
    }
    Ok(out)
}

fn options(request: &ChatRequest) -> Map<String, Value> {
    let mut options = Map::new();
    insert_sampling(
        &mut options,
        request,
        &SamplingNames {
            temperature: "temperature",
            top_p: "top_p",
            max_tokens: Some("num_predict"),
            stop: "stop",
            seed: Some("seed"),
            presence_penalty: Some("presence_penalty"),
            frequency_penalty: Some("frequency_penalty"),
        },
    );
    options
}

fn think(effort: ReasoningEffort) -> Option<Value> {
    Some(match effort {
        ReasoningEffort::Unspecified => return None,
        ReasoningEffort::None => false.into(),
        ReasoningEffort::Minimal | ReasoningEffort::Low => "low".into(),
        ReasoningEffort::Medium => "medium".into(),
        ReasoningEffort::High | ReasoningEffort::Xhigh => "high".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::request::from_json;

    fn translate(openai: Value) -> Result<Value, GatewayError> {
        let Value::Object(map) = openai else {
            unreachable!()
        };
        to_json(&from_json(map)?.request, "llama3.2", false).map(Value::Object)
    }

    /// Tool calls go back as objects, results by name; images as base64;
    /// sampling in options; the model always told whether to stream.
    #[test]
    fn tool_round_trip_images_and_options() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}]},
                {"role": "assistant", "content": null, "reasoning_content": "look it up",
                 "tool_calls": [{"id": "a", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "a", "content": "sunny"}
            ],
            "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
            "temperature": 0.5, "max_tokens": 9, "stop": ["x"], "seed": 1,
            "response_format": {"type": "json_object"}, "reasoning_effort": "none",
            "keep_alive": "5m", "options": {"num_ctx": 8192}
        }))
        .expect("translates");
        assert_eq!(
            body,
            json!({
                "model": "llama3.2",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather here?", "images": ["aGk="]},
                    {"role": "assistant", "content": "", "thinking": "look it up",
                     "tool_calls": [{"function": {"name": "w", "arguments": {"city": "Paris"}}}]},
                    {"role": "tool", "content": "sunny", "tool_name": "w"}
                ],
                "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
                "format": "json",
                "options": {"temperature": 0.5, "num_predict": 9, "stop": ["x"], "seed": 1, "num_ctx": 8192},
                "think": false,
                "stream": false,
                "keep_alive": "5m"
            })
        );
    }

    /// `none` withholds the tools; forcing a call and image URLs are refused.
    #[test]
    fn tool_choice_and_refusals() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "w"}}]});
        let mut none = base.clone();
        none["tool_choice"] = "none".into();
        assert!(translate(none).expect("translates").get("tools").is_none());
        for choice in [
            json!("required"),
            json!({"type": "function", "function": {"name": "w"}}),
        ] {
            let mut forced = base.clone();
            forced["tool_choice"] = choice;
            assert!(matches!(
                translate(forced),
                Err(GatewayError::Unsupported { .. })
            ));
        }
        let url = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
        );
        assert!(matches!(url, Err(GatewayError::Unsupported { .. })));
    }
}
