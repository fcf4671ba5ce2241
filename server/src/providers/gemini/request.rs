//! Canonical chat request -> Gemini `generateContent` request
//! (<https://ai.google.dev/api/generate-content>).
//!
//! What moves where:
//! - system and developer messages become `systemInstruction`; assistant
//!   turns are role `model`; tool results are `functionResponse` parts of a
//!   user turn, named after the call they answer (Gemini matches by name);
//! - a tool result that is a JSON object is sent as the response object,
//!   any other text as `{"result": text}` (the Google Gen AI SDK's convention);
//! - thought signatures the caller got back on tool calls (Google's OpenAI
//!   convention: `extra_content.google.thought_signature`) go back on their
//!   `functionCall` parts, as Gemini requires for multi-turn tool use;
//! - images: bytes as `inlineData`, URLs as `fileData`;
//! - `cache_control` markers are left out: Gemini caches prompt prefixes by
//!   itself and refuses fields it does not know;
//! - tools use `parametersJsonSchema` and `json_schema` uses
//!   `responseJsonSchema`, so schemas travel as JSON Schema, unconverted;
//!   a `strict` tool makes the function-calling mode `VALIDATED`;
//! - `reasoning_effort` is a `thinkingBudget` (the budgets of Google's
//!   OpenAI-compatible endpoint); sampling goes to `generationConfig`;
//! - what Gemini has no field for (`parallel_tool_calls: false`, `user`,
//!   `metadata`) is a clear error, never a silent drop.
//!
//! The request's extensions are merged last (objects one level deep), so a
//! caller can set `safetySettings`, `cachedContent`, `generationConfig.topK`…

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::error::{FieldPath, GatewayError};
use crate::openai_wire::json_struct::{json_from_value, map_from_struct};
use crate::openai_wire::request::function_json;
use crate::pb::{
    ChatRequest, ContentPart, Message, ReasoningEffort, Role, Tool, ToolCall, ToolChoiceMode,
    content_part, image, message, response_format, tool_choice,
};
use crate::providers::{
    SamplingNames, gaps::Gaps, insert_sampling, merge_native_fields, message_texts, tool_arguments,
    without_cache_marker,
};

/// Where a tool call carries Gemini's thought signature, as Google's own
/// OpenAI-compatible endpoint spells it.
pub const EXTRA_CONTENT: &str = "extra_content";

fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::Unspecified => None,
        ReasoningEffort::None => Some(0),
        ReasoningEffort::Minimal | ReasoningEffort::Low => Some(1024),
        ReasoningEffort::Medium => Some(8192),
        ReasoningEffort::High | ReasoningEffort::Xhigh => Some(24576),
    }
}

/// `provider` names the API in errors (`gemini`, or `vertex_ai`, which
/// serves the same request body).
pub fn to_json(
    request: &ChatRequest,
    provider: &'static str,
) -> Result<Map<String, Value>, GatewayError> {
    GAPS.check(provider, request)?;
    let mut body = Map::new();

    let mut system_parts = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // Gemini answers tool calls by function name; OpenAI callers answer by id.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in request.messages.iter().enumerate() {
        let at = FieldPath::message(i);
        match m.role() {
            Role::System | Role::Developer => system_parts.extend(parts_of(m, at)?),
            Role::User => contents.push(json!({"role": "user", "parts": parts_of(m, at)?})),
            Role::Assistant => {
                let mut parts = parts_of(m, at)?;
                for (j, call) in m.tool_calls.iter().enumerate() {
                    call_names.insert(&call.id, &call.name);
                    parts.push(function_call_part(
                        call,
                        at.item("tool_calls", j),
                        provider,
                    )?);
                }
                contents.push(json!({"role": "model", "parts": parts}));
            }
            Role::Tool => {
                let name = call_names.get(m.tool_call_id.as_str()).ok_or_else(|| {
                    GatewayError::invalid(
                        at.field("tool_call_id"),
                        "answers no tool call of an earlier assistant message",
                    )
                })?;
                let part =
                    json!({"functionResponse": {"name": name, "response": tool_response(m)}});
                // Answers to parallel calls share one user turn.
                match contents.last_mut() {
                    Some(Value::Object(last))
                        if last.get("role").and_then(Value::as_str) == Some("user")
                            && is_function_response_turn(last) =>
                    {
                        if let Some(Value::Array(parts)) = last.get_mut("parts") {
                            parts.push(part);
                        }
                    }
                    _ => contents.push(json!({"role": "user", "parts": [part]})),
                }
            }
            Role::Unspecified => unreachable!("roles are validated"),
        }
    }
    if !system_parts.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system_parts}));
    }
    body.insert("contents".into(), contents.into());

    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request.tools.iter().map(tool_to_json).collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(config) = tool_config(request) {
        body.insert("toolConfig".into(), config);
    }

    let config = generation_config(request);
    if !config.is_empty() {
        body.insert("generationConfig".into(), config.into());
    }

    merge_native_fields(&mut body, request.extensions.as_ref());
    Ok(body)
}

/// What Gemini's generateContent cannot express (Vertex AI's is the same).
const GAPS: Gaps = Gaps {
    serial_tool_calls: Some("parallel function calls cannot be turned off"),
    user: Some("it has no end-user field"),
    metadata: Some("it has no request metadata"),
    ..Gaps::NONE
};

fn is_function_response_turn(turn: &Map<String, Value>) -> bool {
    turn.get("parts")
        .and_then(Value::as_array)
        .and_then(|parts| parts.first())
        .is_some_and(|p| p.get("functionResponse").is_some())
}

/// A message's content as Gemini parts (text, inlineData, fileData).
fn parts_of(m: &Message, at: FieldPath<'_>) -> Result<Vec<Value>, GatewayError> {
    let mut parts = match &m.content {
        Some(message::Content::Text(text)) if !text.is_empty() => vec![json!({"text": text})],
        Some(message::Content::Parts(parts)) => parts
            .parts
            .iter()
            .enumerate()
            .map(|(j, p)| part_to_json(p, at.item("content", j)))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    // A signature Gemini put on the answer's text goes back with it.
    if let Some(signature) = thought_signature(m.extensions.as_ref())
        && let Some(Value::Object(last)) = parts.last_mut()
    {
        last.insert("thoughtSignature".into(), signature);
    }
    Ok(parts)
}

fn part_to_json(part: &ContentPart, at: FieldPath<'_>) -> Result<Value, GatewayError> {
    let mut p = match &part.part {
        Some(content_part::Part::Text(text)) => json!({"text": text}),
        Some(content_part::Part::Image(image)) => match &image.source {
            Some(image::Source::Data(bytes)) => json!({"inlineData": {
                "mimeType": image.media_type,
                "data": BASE64.encode(bytes),
            }}),
            Some(image::Source::Url(url)) => {
                let mime = if image.media_type.is_empty() {
                    media_type_from_url(url).ok_or_else(|| {
                        GatewayError::invalid(
                            at,
                            "gemini needs the image's media type: use a URL ending in .png, .jpg, .jpeg, .webp, .heic or .heif, or a data URL",
                        )
                    })?
                } else {
                    image.media_type.as_str()
                };
                json!({"fileData": {"mimeType": mime, "fileUri": url}})
            }
            None => json!({}),
        },
        None => json!({}),
    };
    if let (Value::Object(p), Some(extensions)) = (&mut p, &part.extensions) {
        p.extend(without_cache_marker(extensions));
    }
    Ok(p)
}

/// The image types Gemini accepts, by file extension.
fn media_type_from_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn function_call_part(
    call: &ToolCall,
    at: FieldPath<'_>,
    provider: &str,
) -> Result<Value, GatewayError> {
    let args = tool_arguments(call, at, provider)?;
    let mut part = json!({"functionCall": {"name": call.name, "args": args}});
    if let Some(signature) = thought_signature(call.extensions.as_ref()) {
        part["thoughtSignature"] = signature;
    }
    Ok(part)
}

/// `extra_content.google.thought_signature` from a message or tool call.
fn thought_signature(extensions: Option<&prost_types::Struct>) -> Option<Value> {
    json_from_value(extensions?.fields.get(EXTRA_CONTENT)?)
        .get_mut("google")?
        .get_mut("thought_signature")
        .map(Value::take)
}

fn tool_response(m: &Message) -> Value {
    let text = message_texts(m).concat();
    match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({"result": text}),
    }
}

/// OpenAI's function definition, with the schema under Gemini's name.
fn tool_to_json(tool: &Tool) -> Value {
    let mut function = function_json(tool);
    if let Some(parameters) = function.remove("parameters") {
        function.insert("parametersJsonSchema".into(), parameters);
    }
    if let Some(extensions) = &tool.extensions {
        function.extend(without_cache_marker(extensions));
    }
    Value::Object(function)
}

/// Gemini has no per-tool `strict`: a strict tool makes the model's choice
/// `VALIDATED` (calls match their schemas, as `ANY` already guarantees).
fn tool_config(request: &ChatRequest) -> Option<Value> {
    let mode = match request.tool_choice.as_ref().and_then(|c| c.choice.as_ref()) {
        Some(tool_choice::Choice::FunctionName(name)) => {
            let config = json!({"mode": "ANY", "allowedFunctionNames": [name]});
            return Some(json!({"functionCallingConfig": config}));
        }
        Some(tool_choice::Choice::Mode(mode)) => {
            ToolChoiceMode::try_from(*mode).unwrap_or_default()
        }
        None => ToolChoiceMode::Unspecified,
    };
    let strict = request.tools.iter().any(|tool| tool.strict == Some(true));
    let mode = match mode {
        ToolChoiceMode::None => "NONE",
        ToolChoiceMode::Required => "ANY",
        ToolChoiceMode::Auto | ToolChoiceMode::Unspecified if strict => "VALIDATED",
        ToolChoiceMode::Auto => "AUTO",
        ToolChoiceMode::Unspecified => return None,
    };
    Some(json!({"functionCallingConfig": {"mode": mode}}))
}

fn generation_config(request: &ChatRequest) -> Map<String, Value> {
    let mut config = Map::new();
    insert_sampling(
        &mut config,
        request,
        &SamplingNames {
            temperature: "temperature",
            top_p: "topP",
            max_tokens: Some("maxOutputTokens"),
            stop: "stopSequences",
            seed: Some("seed"),
            presence_penalty: Some("presencePenalty"),
            frequency_penalty: Some("frequencyPenalty"),
        },
    );
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            config.insert(key.into(), value);
        }
    };
    set("candidateCount", request.n.map(Value::from));
    match request
        .response_format
        .as_ref()
        .and_then(|f| f.format.as_ref())
    {
        Some(response_format::Format::JsonObject(_)) => {
            set("responseMimeType", Some("application/json".into()));
        }
        Some(response_format::Format::JsonSchema(format)) => {
            set("responseMimeType", Some("application/json".into()));
            set(
                "responseJsonSchema",
                format
                    .schema
                    .as_ref()
                    .map(|s| Value::Object(map_from_struct(s))),
            );
        }
        Some(response_format::Format::Text(_)) | None => {}
    }
    set(
        "thinkingConfig",
        thinking_budget(request.reasoning_effort()).map(|b| json!({"thinkingBudget": b})),
    );
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::request::from_json;

    fn translate(openai: Value) -> Result<Value, GatewayError> {
        let Value::Object(map) = openai else {
            unreachable!()
        };
        to_json(&from_json(map)?.request, "gemini").map(Value::Object)
    }

    /// Parallel calls keep their signature; the results are answered by name
    /// in one user turn; system is lifted out.
    #[test]
    fn tool_round_trip() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"},
                     "extra_content": {"google": {"thought_signature": "sig"}}},
                    {"id": "b", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "a", "content": "sunny"},
                {"role": "tool", "tool_call_id": "b", "content": "{\"sky\":\"rain\"}"}
            ],
            "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "w"}}
        }))
        .expect("translates");
        assert_eq!(
            body,
            json!({
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                    {"role": "model", "parts": [
                        {"functionCall": {"name": "w", "args": {"city": "Paris"}}, "thoughtSignature": "sig"},
                        {"functionCall": {"name": "w", "args": {"city": "Rome"}}}]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "w", "response": {"result": "sunny"}}},
                        {"functionResponse": {"name": "w", "response": {"sky": "rain"}}}]}
                ],
                "tools": [{"functionDeclarations": [{"name": "w", "parametersJsonSchema": {"type": "object"}}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["w"]}}
            })
        );
    }

    /// Sampling, structured output and reasoning land in generationConfig;
    /// native generationConfig fields merge in.
    #[test]
    fn generation_config_and_native_fields() {
        let body = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2, "max_completion_tokens": 50, "stop": ["x"], "seed": 3,
            "reasoning_effort": "low",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "generationConfig": {"topK": 4}
        }))
        .expect("translates");
        assert_eq!(
            body["generationConfig"],
            json!({"temperature": 0.2, "maxOutputTokens": 50, "stopSequences": ["x"], "seed": 3,
                "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 1024}, "topK": 4})
        );
    }

    /// A tool result for a call nobody made, and what Gemini cannot do, are errors.
    #[test]
    fn refusals_are_explicit() {
        let orphan = translate(json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "nope", "content": "x"}]}));
        assert!(
            matches!(orphan, Err(GatewayError::InvalidRequest { param: Some(p), .. }) if p == "messages[1].tool_call_id")
        );
        let parallel = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "w"}}], "parallel_tool_calls": false}),
        );
        assert!(matches!(parallel, Err(GatewayError::Unsupported { .. })));
    }
}
