//! Canonical chat request -> Bedrock `Converse` / `ConverseStream` request
//! (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>).
//!
//! What moves where:
//! - system and developer messages become `system` text blocks; turns of one
//!   role in a row (e.g. the answers to parallel tool calls and a user
//!   message after them) are one Bedrock message, as Converse requires;
//! - images go as bytes (`image.source.bytes`) or, for `s3://` URLs, as
//!   `s3Location`; Bedrock cannot fetch http(s) URLs and the gateway does not
//!   fetch them for it, so those are refused;
//! - a content part's `cache_control` (Anthropic's prompt-caching marker)
//!   becomes a `cachePoint` block after it, a whole message's after the
//!   message's blocks, a tool's after the tool;
//! - assistant tool calls are `toolUse` blocks with their input as JSON;
//!   tool results are `toolResult` blocks (text content, status success);
//!   `reasoning_content` (with `thinking_blocks` signatures when the caller
//!   kept them) goes back as `reasoningContent` blocks;
//! - `toolConfig` is sent only when the client sent tools: `tool_choice`
//!   auto / required / named are `auto` / `any` / `tool`; Converse has no
//!   "none", so `none` sends no tools at all, which Bedrock refuses when the
//!   history has tool calls (that case is refused here, clearly);
//! - `json_schema` is `outputConfig.textFormat` (the schema as a JSON string);
//!   max tokens, temperature, top_p and stop are `inferenceConfig`;
//!   `metadata` is `requestMetadata`;
//! - `reasoning_effort` is model-specific, in `additionalModelRequestFields`:
//!   Anthropic models get a thinking budget, OpenAI's gpt-oss models
//!   `reasoning_effort`; other models refuse it;
//! - `strict` on a tool is `toolSpec.strict`;
//! - what Converse has no field for (`json_object`, `seed`, non-zero penalties,
//!   `n` > 1, `parallel_tool_calls: false`, `user`) is a clear error.
//!
//! The request's extensions are merged last (objects one level deep), so a
//! caller can set `guardrailConfig`, `performanceConfig`,
//! `additionalModelRequestFields`…

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::error::{FieldPath, GatewayError};
use crate::openai_wire::json_struct::{json_from_value, map_from_struct};
use crate::pb::{
    ChatRequest, ContentPart, Message, ReasoningEffort, Role, ToolChoiceMode, content_part, image,
    message, response_format, tool_choice,
};
use crate::providers::{
    CACHE_CONTROL, SamplingNames, THINKING_BLOCKS,
    gaps::{Gaps, check_tool_choice_has_tools},
    insert_sampling, merge_native_fields, message_texts, thinking_budget, tool_arguments,
    without_cache_marker,
};

pub fn to_json(request: &ChatRequest, model: &str) -> Result<Map<String, Value>, GatewayError> {
    GAPS.check("bedrock", request)?;
    let mut body = Map::new();
    let mut system = Vec::new();
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut has_tool_history = false;
    for (i, m) in request.messages.iter().enumerate() {
        let at = FieldPath::message(i);
        let (role, mut blocks) = match m.role() {
            Role::System | Role::Developer => {
                system.extend(blocks_of(m, at)?);
                mark_cache_point(m, &mut system);
                continue;
            }
            Role::User => ("user", blocks_of(m, at)?),
            Role::Assistant => {
                let mut blocks = reasoning_blocks(m);
                blocks.extend(blocks_of(m, at)?);
                for (j, call) in m.tool_calls.iter().enumerate() {
                    has_tool_history = true;
                    let input = tool_arguments(call, at.item("tool_calls", j), "bedrock")?;
                    blocks.push(json!({"toolUse": {
                        "toolUseId": call.id, "name": call.name, "input": input}}));
                }
                ("assistant", blocks)
            }
            Role::Tool => {
                has_tool_history = true;
                let text = message_texts(m).concat();
                let result = json!({"toolResult": {
                    "toolUseId": m.tool_call_id,
                    "content": [{"text": text}],
                    "status": "success",
                }});
                ("user", vec![result])
            }
            Role::Unspecified => unreachable!("roles are validated"),
        };
        mark_cache_point(m, &mut blocks);
        match messages.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    body.insert("messages".into(), messages.into());
    if !system.is_empty() {
        body.insert("system".into(), system.into());
    }

    if let Some(config) = tool_config(request, has_tool_history)? {
        body.insert("toolConfig".into(), config);
    }

    let mut inference = Map::new();
    // Converse has no seed or penalties: a seed or non-zero penalty is refused
    // by `GAPS`, zero penalties are no-ops.
    insert_sampling(
        &mut inference,
        request,
        &SamplingNames {
            temperature: "temperature",
            top_p: "topP",
            max_tokens: Some("maxTokens"),
            stop: "stopSequences",
            seed: None,
            presence_penalty: None,
            frequency_penalty: None,
        },
    );
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), inference.into());
    }

    if let Some(response_format::Format::JsonSchema(format)) = request
        .response_format
        .as_ref()
        .and_then(|f| f.format.as_ref())
    {
        let schema = Value::Object(
            format
                .schema
                .as_ref()
                .map(map_from_struct)
                .unwrap_or_default(),
        );
        let mut json_schema = Map::new();
        json_schema.insert("schema".into(), schema.to_string().into());
        json_schema.insert("name".into(), format.name.clone().into());
        if let Some(description) = &format.description {
            json_schema.insert("description".into(), description.clone().into());
        }
        body.insert(
            "outputConfig".into(),
            json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": json_schema}}}),
        );
    }

    if !request.metadata.is_empty() {
        let metadata: Map<String, Value> = request
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        body.insert("requestMetadata".into(), metadata.into());
    }

    if let Some(fields) = reasoning_fields(request.reasoning_effort(), model)? {
        body.insert("additionalModelRequestFields".into(), fields);
    }

    merge_native_fields(&mut body, request.extensions.as_ref());
    Ok(body)
}

/// What Bedrock's Converse API cannot express.
const GAPS: Gaps = Gaps {
    choices: Some("Converse generates one choice per request"),
    seed: Some("Converse has no seed"),
    penalties: Some("Converse has no penalties"),
    serial_tool_calls: Some("parallel tool calls cannot be turned off"),
    user: Some("Converse has no end-user field"),
    json_mode: Some("Converse has no JSON mode without a schema; use `json_schema`"),
    ..Gaps::NONE
};

fn reasoning_fields(effort: ReasoningEffort, model: &str) -> Result<Option<Value>, GatewayError> {
    if effort == ReasoningEffort::Unspecified {
        return Ok(None);
    }
    if model.contains("anthropic.") {
        return Ok(thinking_budget(effort)
            .map(|budget| json!({"thinking": {"type": "enabled", "budget_tokens": budget}})));
    }
    if model.contains("openai.gpt-oss") {
        let level = match effort {
            ReasoningEffort::None => {
                return Err(GatewayError::unsupported(
                    "reasoning_effort",
                    "gpt-oss always reasons: `low`, `medium` or `high`, not `none`",
                ));
            }
            ReasoningEffort::Minimal | ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            _ => "high",
        };
        return Ok(Some(json!({"reasoning_effort": level})));
    }
    Err(GatewayError::unsupported(
        "reasoning_effort",
        format!(
            "bedrock has no common reasoning setting and `{model}` has no known one; \
             set `additionalModelRequestFields` instead"
        ),
    ))
}

fn tool_config(
    request: &ChatRequest,
    has_tool_history: bool,
) -> Result<Option<Value>, GatewayError> {
    let choice = request.tool_choice.as_ref().and_then(|c| c.choice.as_ref());
    let choice = match choice {
        Some(tool_choice::Choice::FunctionName(name)) => Some(json!({"tool": {"name": name}})),
        Some(tool_choice::Choice::Mode(mode)) => match ToolChoiceMode::try_from(*mode) {
            Ok(ToolChoiceMode::Auto) => Some(json!({"auto": {}})),
            Ok(ToolChoiceMode::Required) => Some(json!({"any": {}})),
            Ok(ToolChoiceMode::None) if has_tool_history && !request.tools.is_empty() => {
                return Err(GatewayError::unsupported(
                    "tool_choice",
                    "bedrock has no `none`: without tools it refuses a history with tool calls, \
                     and with them the model may call one",
                ));
            }
            Ok(ToolChoiceMode::None) => return Ok(None),
            _ => None,
        },
        None => None,
    };
    if request.tools.is_empty() {
        check_tool_choice_has_tools(request)?;
        return Ok(None);
    }
    let mut tools = Vec::with_capacity(request.tools.len());
    for tool in &request.tools {
        let mut spec = Map::new();
        spec.insert("name".into(), tool.name.clone().into());
        if let Some(description) = &tool.description {
            spec.insert("description".into(), description.clone().into());
        }
        let schema = tool
            .parameters
            .as_ref()
            .map(map_from_struct)
            .map_or_else(|| json!({"type": "object"}), Value::Object);
        spec.insert("inputSchema".into(), json!({"json": schema}));
        if let Some(strict) = tool.strict {
            spec.insert("strict".into(), strict.into());
        }
        if let Some(extensions) = &tool.extensions {
            spec.extend(without_cache_marker(extensions));
        }
        tools.push(json!({"toolSpec": spec}));
        // Everything before a cache point is cached: the tools up to here.
        if has_cache_marker(tool.extensions.as_ref()) {
            tools.push(cache_point());
        }
    }
    let mut config = Map::new();
    config.insert("tools".into(), tools.into());
    if let Some(choice) = choice {
        config.insert("toolChoice".into(), choice);
    }
    Ok(Some(config.into()))
}

/// A message's content as Converse blocks; empty text is left out
/// (Bedrock refuses blank text blocks).
fn blocks_of(m: &Message, at: FieldPath<'_>) -> Result<Vec<Value>, GatewayError> {
    let mut blocks = Vec::new();
    match &m.content {
        Some(message::Content::Text(text)) if !text.is_empty() => {
            blocks.push(json!({"text": text}));
        }
        Some(message::Content::Parts(parts)) => {
            for (j, part) in parts.parts.iter().enumerate() {
                part_blocks(part, at.item("content", j), &mut blocks)?;
            }
        }
        _ => {}
    }
    Ok(blocks)
}

fn part_blocks(
    part: &ContentPart,
    at: FieldPath<'_>,
    blocks: &mut Vec<Value>,
) -> Result<(), GatewayError> {
    let mut block = match &part.part {
        Some(content_part::Part::Text(text)) => json!({"text": text}),
        Some(content_part::Part::Image(img)) => {
            let source = match &img.source {
                Some(image::Source::Data(bytes)) => json!({"bytes": BASE64.encode(bytes)}),
                Some(image::Source::Url(url)) if url.starts_with("s3://") => {
                    json!({"s3Location": {"uri": url}})
                }
                Some(image::Source::Url(_)) => {
                    return Err(GatewayError::unsupported(
                        at,
                        "bedrock takes images as bytes or s3:// URLs only: send a data URL",
                    ));
                }
                None => return Err(GatewayError::invalid(at, "is an image without a source")),
            };
            let format = image_format(img, at)?;
            json!({"image": {"format": format, "source": source}})
        }
        None => return Ok(()),
    };
    if let (Value::Object(block), Some(extensions)) = (&mut block, &part.extensions) {
        block.extend(without_cache_marker(extensions));
    }
    blocks.push(block);
    if has_cache_marker(part.extensions.as_ref()) {
        blocks.push(cache_point());
    }
    Ok(())
}

/// A cache point after a message's blocks when the whole message carries
/// `cache_control`.
fn mark_cache_point(m: &Message, blocks: &mut Vec<Value>) {
    if has_cache_marker(m.extensions.as_ref()) {
        blocks.push(cache_point());
    }
}

fn has_cache_marker(extensions: Option<&prost_types::Struct>) -> bool {
    extensions.is_some_and(|e| e.fields.contains_key(CACHE_CONTROL))
}

/// Converse's cache breakpoint: everything before it is cached.
fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

/// Converse's image `format`, from the media type (or an s3 URL's extension).
fn image_format(img: &crate::pb::Image, at: FieldPath<'_>) -> Result<&'static str, GatewayError> {
    let from_name = |name: &str| match name.to_ascii_lowercase().as_str() {
        "png" | "image/png" => Some("png"),
        "jpg" | "jpeg" | "image/jpeg" | "image/jpg" => Some("jpeg"),
        "gif" | "image/gif" => Some("gif"),
        "webp" | "image/webp" => Some("webp"),
        _ => None,
    };
    let extension = match &img.source {
        Some(image::Source::Url(url)) => url.rsplit_once('.').map(|(_, e)| e),
        _ => None,
    };
    from_name(&img.media_type)
        .or_else(|| extension.and_then(from_name))
        .ok_or_else(|| {
            GatewayError::invalid(at, "bedrock takes png, jpeg, gif or webp images only")
        })
}

/// The reasoning an assistant turn carried, as `reasoningContent` blocks:
/// the signed `thinking_blocks` when the caller kept them (Anthropic models
/// require the signature), else the bare `reasoning_content`.
fn reasoning_blocks(m: &Message) -> Vec<Value> {
    let kept = m
        .extensions
        .as_ref()
        .and_then(|e| e.fields.get(THINKING_BLOCKS))
        .map(json_from_value);
    if let Some(Value::Array(blocks)) = kept {
        return blocks
            .into_iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("thinking") => {
                    let mut text = json!({"text": b.get("thinking")?.clone()});
                    if let Some(signature) = b.get("signature") {
                        text["signature"] = signature.clone();
                    }
                    Some(json!({"reasoningContent": {"reasoningText": text}}))
                }
                Some("redacted_thinking") => {
                    Some(json!({"reasoningContent": {"redactedContent": b.get("data")?.clone()}}))
                }
                _ => None,
            })
            .collect();
    }
    m.reasoning_content
        .iter()
        .map(|text| json!({"reasoningContent": {"reasoningText": {"text": text}}}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::request::from_json;

    fn translate(openai: Value, model: &str) -> Result<Value, GatewayError> {
        let Value::Object(map) = openai else {
            unreachable!()
        };
        to_json(&from_json(map)?.request, model).map(Value::Object)
    }

    /// The recorded tool round trip: system lifted, the call and its result
    /// as blocks, answers and the next user turn merged, tools with their
    /// choice; sampling in inferenceConfig.
    #[test]
    fn tool_round_trip() {
        let body = translate(
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "tooluse_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                    {"role": "tool", "tool_call_id": "tooluse_1", "content": "Sunny"},
                    {"role": "user", "content": [{"type": "text", "text": "And?", "cache_control": {"type": "ephemeral"}}]}
                ],
                "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                    "parameters": {"type": "object"}}}],
                "tool_choice": "auto", "max_tokens": 100, "temperature": 0.5, "stop": ["x"],
                "metadata": {"team": "a"}
            }),
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        )
        .expect("translates");
        assert_eq!(
            body,
            json!({
                "system": [{"text": "Be brief."}],
                "messages": [
                    {"role": "user", "content": [{"text": "Weather in Paris?"}]},
                    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}]},
                    {"role": "user", "content": [
                        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "Sunny"}], "status": "success"}},
                        {"text": "And?"}, {"cachePoint": {"type": "default"}}]}
                ],
                "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
                    "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"auto": {}}},
                "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "stopSequences": ["x"]},
                "requestMetadata": {"team": "a"}
            })
        );
    }

    /// Structured output is a schema string; reasoning depends on the model.
    #[test]
    fn output_config_and_reasoning() {
        let body = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "City", "schema": {"type": "object"}}},
                "reasoning_effort": "low"}),
            "us.anthropic.claude-sonnet-4-6",
        )
        .expect("translates");
        assert_eq!(
            body["outputConfig"],
            json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "City"}}}})
        );
        assert_eq!(
            body["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024}})
        );
        let nova = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"}),
            "us.amazon.nova-micro-v1:0",
        );
        assert!(matches!(nova, Err(GatewayError::Unsupported { .. })));
        let gpt_oss = |effort: &str| {
            translate(
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort}),
                "openai.gpt-oss-120b-1:0",
            )
        };
        assert_eq!(
            gpt_oss("minimal").expect("translates")["additionalModelRequestFields"],
            json!({"reasoning_effort": "low"})
        );
        // Reasoning cannot be turned off: `none` is refused, not made `low`.
        assert!(matches!(
            gpt_oss("none"),
            Err(GatewayError::Unsupported { .. })
        ));
    }

    /// No tools means no toolConfig; `none` drops the tools unless the
    /// history has tool calls; URLs, JSON mode and a forced call without
    /// tools are refused.
    #[test]
    fn tool_choice_none_and_refusals() {
        let plain = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            "x",
        )
        .expect("translates");
        assert!(plain.get("toolConfig").is_none());
        let none = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"name": "w"}}], "tool_choice": "none"}),
            "x",
        )
        .expect("translates");
        assert!(none.get("toolConfig").is_none());
        for forced in [
            json!("required"),
            json!({"type": "function", "function": {"name": "w"}}),
        ] {
            let without_tools = translate(
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": forced}),
                "x",
            );
            assert!(
                matches!(&without_tools, Err(GatewayError::InvalidRequest { param: Some(p), .. }) if p == "tool_choice"),
                "{without_tools:?}"
            );
        }
        for refused in [
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}),
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 1}),
        ] {
            assert!(matches!(
                translate(refused, "x"),
                Err(GatewayError::Unsupported { .. })
            ));
        }
    }
}
