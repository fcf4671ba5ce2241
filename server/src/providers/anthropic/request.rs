//! Canonical chat request -> Anthropic Messages request
//! (<https://docs.anthropic.com/en/api/messages>).
//!
//! What moves where:
//! - system and developer messages are lifted into `system` (a string when
//!   there is one plain text, else text blocks keeping their extra fields
//!   such as `cache_control`);
//! - a `cache_control` on a whole message (LiteLLM's spelling) goes on its
//!   last block, plain text becoming a text block: Anthropic marks cache
//!   breakpoints on blocks and refuses the field on a message;
//! - consecutive tool results become one user turn of `tool_result` blocks,
//!   as parallel tool calls must be answered;
//! - assistant tool calls become `tool_use` blocks; thinking blocks the client
//!   got back (`thinking_blocks`, signatures included) are replayed first;
//! - `tool_choice` required is `any`; `parallel_tool_calls: false` is
//!   `disable_parallel_tool_use`; `json_schema` is `output_config.format`;
//!   `reasoning_effort` is a `thinking` budget; `user` is `metadata.user_id`;
//! - what Anthropic has no field for (seed, penalties, n > 1, json_object,
//!   metadata) is a clear error, never a silent drop.
//!
//! The request's extensions are merged last, so a client can set any native
//! field (`top_k`, `thinking`, `cache_control`, `output_config.effort`, …).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::error::{FieldPath, GatewayError};
use crate::openai_wire::json_struct::map_from_struct;
use crate::pb::{
    ChatRequest, ContentPart, Image, Message, ReasoningEffort, Role, Tool, ToolCall,
    ToolChoiceMode, content_part, image, message, response_format, tool_choice,
};
use crate::providers::{
    CACHE_CONTROL, SamplingNames, THINKING_BLOCKS,
    gaps::{Gaps, check_tool_choice_has_tools},
    insert_sampling, merge_native_fields, thinking_budget, tool_arguments,
};

/// `max_tokens` is required by Anthropic; OpenAI callers often omit it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A message with its index in the request, for error paths.
type Numbered<'a> = (usize, &'a Message);

pub fn to_json(
    request: &ChatRequest,
    model: &str,
    stream: bool,
) -> Result<Map<String, Value>, GatewayError> {
    GAPS.check("anthropic", request)?;
    let mut body = Map::new();
    body.insert("model".into(), model.into());

    let (system, conversation): (Vec<Numbered>, Vec<Numbered>) = request
        .messages
        .iter()
        .enumerate()
        .partition(|(_, m)| matches!(m.role(), Role::System | Role::Developer));
    if let Some(system) = system_to_json(&system)? {
        body.insert("system".into(), system);
    }
    body.insert("messages".into(), messages_to_json(&conversation)?.into());

    let budget = thinking_budget(request.reasoning_effort());
    let max_tokens = request
        .max_completion_tokens
        .or(request.max_tokens)
        // The budget is part of max_tokens, so room for the answer is added.
        .unwrap_or(DEFAULT_MAX_TOKENS + budget.unwrap_or(0));
    body.insert("max_tokens".into(), max_tokens.into());
    // The Messages API has no seed or penalties: a seed or non-zero penalty is
    // refused by `GAPS`, zero penalties are no-ops.
    insert_sampling(
        &mut body,
        request,
        &SamplingNames {
            temperature: "temperature",
            top_p: "top_p",
            max_tokens: None,
            stop: "stop_sequences",
            seed: None,
            presence_penalty: None,
            frequency_penalty: None,
        },
    );
    if stream {
        body.insert("stream".into(), true.into());
    }
    if !request.user.is_empty() {
        body.insert("metadata".into(), json!({"user_id": request.user}));
    }
    if let Some(budget) = budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    } else if request.reasoning_effort() == ReasoningEffort::None {
        body.insert("thinking".into(), json!({"type": "disabled"}));
    }

    if !request.tools.is_empty() {
        body.insert(
            "tools".into(),
            request.tools.iter().map(tool_to_json).collect(),
        );
        if let Some(choice) = tool_choice_to_json(request) {
            body.insert("tool_choice".into(), choice);
        }
    } else {
        check_tool_choice_has_tools(request)?;
    }

    if let Some(response_format::Format::JsonSchema(format)) = request
        .response_format
        .as_ref()
        .and_then(|f| f.format.as_ref())
    {
        let schema = format
            .schema
            .as_ref()
            .map(|s| Value::Object(map_from_struct(s)))
            .unwrap_or_else(|| json!({}));
        body.insert(
            "output_config".into(),
            json!({"format": {"type": "json_schema", "schema": schema}}),
        );
    }

    merge_native_fields(&mut body, request.extensions.as_ref());
    Ok(body)
}

/// What Anthropic's Messages API cannot express.
const GAPS: Gaps = Gaps {
    choices: Some("it returns one choice per request"),
    seed: Some("its sampling cannot be seeded"),
    penalties: Some("it has no penalties"),
    metadata: Some("it has no request metadata (set `user` for metadata.user_id)"),
    json_mode: Some("it has no JSON mode without a schema; use `json_schema`"),
    ..Gaps::NONE
};

fn system_to_json(system: &[Numbered]) -> Result<Option<Value>, GatewayError> {
    if let [(_, only)] = system
        && let Some(message::Content::Text(text)) = &only.content
        && only.extensions.is_none()
    {
        return Ok(Some(text.clone().into()));
    }
    let mut blocks = Vec::new();
    for (i, m) in system {
        let first = blocks.len();
        match &m.content {
            Some(message::Content::Text(text)) => {
                blocks.push(json!({"type": "text", "text": text}))
            }
            Some(message::Content::Parts(parts)) => {
                for (j, part) in parts.parts.iter().enumerate() {
                    if matches!(part.part, Some(content_part::Part::Image(_))) {
                        return Err(GatewayError::invalid(
                            FieldPath::message(*i).item("content", j),
                            "a system message can only hold text",
                        ));
                    }
                    blocks.push(part_to_json(part));
                }
            }
            None => {}
        }
        // The message has no object of its own in `system`: its fields
        // (a cache marker, mostly) go on its last block.
        if let (Some(Value::Object(last)), Some(extensions)) =
            (blocks[first..].last_mut(), &m.extensions)
        {
            last.extend(map_from_struct(extensions));
        }
    }
    Ok((!blocks.is_empty()).then(|| blocks.into()))
}

fn messages_to_json(conversation: &[Numbered]) -> Result<Vec<Value>, GatewayError> {
    let mut turns: Vec<Value> = Vec::with_capacity(conversation.len());
    let mut previous_was_tool = false;
    for &(i, m) in conversation {
        let is_tool = m.role() == Role::Tool;
        let turn = match m.role() {
            Role::User => user_to_json(m),
            Role::Assistant => assistant_to_json(m, i)?,
            Role::Tool => {
                let block = tool_result_to_json(m);
                // Answers to parallel calls share one user turn.
                if previous_was_tool
                    && let Some(Value::Array(blocks)) =
                        turns.last_mut().and_then(|t| t.get_mut("content"))
                {
                    blocks.push(block);
                    continue;
                }
                json!({"role": "user", "content": [block]})
            }
            _ => unreachable!("system messages were lifted out, roles are validated"),
        };
        previous_was_tool = is_tool;
        turns.push(turn);
    }
    Ok(turns)
}

fn user_to_json(m: &Message) -> Value {
    let mut extensions = m
        .extensions
        .as_ref()
        .map(map_from_struct)
        .unwrap_or_default();
    let mut content = content_to_json(m.content.as_ref());
    mark_cache_breakpoint(&mut content, &mut extensions);
    let mut turn = Map::new();
    turn.insert("role".into(), "user".into());
    turn.insert("content".into(), content);
    extend_with(&mut turn, Some(extensions));
    Value::Object(turn)
}

/// Moves a message-level `cache_control` onto the message's last block,
/// where Anthropic takes it ("messages.0.cache_control: Extra inputs are not
/// permitted" on the message itself); plain text becomes one text block.
fn mark_cache_breakpoint(content: &mut Value, extensions: &mut Map<String, Value>) {
    let Some(marker) = extensions.remove(CACHE_CONTROL) else {
        return;
    };
    if let Value::String(text) = content {
        *content = json!([{"type": "text", "text": std::mem::take(text)}]);
    }
    if let Some(Value::Object(last)) = content.as_array_mut().and_then(|b| b.last_mut()) {
        last.insert(CACHE_CONTROL.into(), marker);
    }
}

fn assistant_to_json(m: &Message, i: usize) -> Result<Value, GatewayError> {
    let mut extensions = m
        .extensions
        .as_ref()
        .map(map_from_struct)
        .unwrap_or_default();
    let mut blocks = match extensions.remove(THINKING_BLOCKS) {
        Some(Value::Array(thinking)) => thinking,
        Some(_) => {
            return Err(GatewayError::invalid(
                FieldPath::message(i).field(THINKING_BLOCKS),
                "must be an array of thinking blocks",
            ));
        }
        None => Vec::new(),
    };
    let plain_text = match &m.content {
        Some(message::Content::Text(text)) if blocks.is_empty() && m.tool_calls.is_empty() => {
            Some(text.clone())
        }
        Some(message::Content::Text(text)) if !text.is_empty() => {
            blocks.push(json!({"type": "text", "text": text}));
            None
        }
        Some(message::Content::Parts(parts)) => {
            blocks.extend(parts.parts.iter().map(part_to_json));
            None
        }
        _ => None,
    };
    for (j, call) in m.tool_calls.iter().enumerate() {
        blocks.push(tool_use_to_json(
            call,
            FieldPath::message(i).item("tool_calls", j),
        )?);
    }
    let mut content = plain_text.map_or_else(|| blocks.into(), Value::String);
    mark_cache_breakpoint(&mut content, &mut extensions);
    let mut turn = Map::new();
    turn.insert("role".into(), "assistant".into());
    turn.insert("content".into(), content);
    // `reasoning_content` alone cannot be replayed: Anthropic only takes
    // thinking back with its signature (sent as `thinking_blocks`).
    extend_with(&mut turn, Some(extensions));
    Ok(Value::Object(turn))
}

fn tool_use_to_json(call: &ToolCall, at: FieldPath<'_>) -> Result<Value, GatewayError> {
    let input = tool_arguments(call, at, "anthropic")?;
    let mut block = Map::new();
    block.insert("type".into(), "tool_use".into());
    block.insert("id".into(), call.id.clone().into());
    block.insert("name".into(), call.name.clone().into());
    block.insert("input".into(), input);
    extend_with(&mut block, call.extensions.as_ref().map(map_from_struct));
    Ok(Value::Object(block))
}

fn tool_result_to_json(m: &Message) -> Value {
    let mut block = Map::new();
    block.insert("type".into(), "tool_result".into());
    block.insert("tool_use_id".into(), m.tool_call_id.clone().into());
    if let Some(content) = &m.content {
        block.insert("content".into(), content_to_json(Some(content)));
    }
    extend_with(&mut block, m.extensions.as_ref().map(map_from_struct));
    Value::Object(block)
}

fn content_to_json(content: Option<&message::Content>) -> Value {
    match content {
        Some(message::Content::Text(text)) => text.clone().into(),
        Some(message::Content::Parts(parts)) => parts.parts.iter().map(part_to_json).collect(),
        None => Value::Array(Vec::new()),
    }
}

fn part_to_json(part: &ContentPart) -> Value {
    let mut block = match &part.part {
        Some(content_part::Part::Text(text)) => {
            let mut block = Map::new();
            block.insert("type".into(), "text".into());
            block.insert("text".into(), text.clone().into());
            block
        }
        Some(content_part::Part::Image(image)) => image_to_json(image),
        None => Map::new(),
    };
    extend_with(&mut block, part.extensions.as_ref().map(map_from_struct));
    Value::Object(block)
}

fn image_to_json(image: &Image) -> Map<String, Value> {
    let source = match &image.source {
        Some(image::Source::Data(bytes)) => json!({
            "type": "base64",
            "media_type": image.media_type,
            "data": BASE64.encode(bytes),
        }),
        Some(image::Source::Url(url)) => json!({"type": "url", "url": url}),
        None => json!({}),
    };
    let mut block = Map::new();
    block.insert("type".into(), "image".into());
    block.insert("source".into(), source);
    block
}

fn tool_to_json(tool: &Tool) -> Value {
    let mut t = Map::new();
    t.insert("name".into(), tool.name.clone().into());
    if let Some(description) = &tool.description {
        t.insert("description".into(), description.clone().into());
    }
    let schema = tool
        .parameters
        .as_ref()
        .map(|p| Value::Object(map_from_struct(p)))
        // OpenAI allows a tool without parameters; Anthropic needs a schema.
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    t.insert("input_schema".into(), schema);
    if let Some(strict) = tool.strict {
        t.insert("strict".into(), strict.into());
    }
    // `cache_control` included: Anthropic marks a breakpoint on the tool.
    extend_with(&mut t, tool.extensions.as_ref().map(map_from_struct));
    Value::Object(t)
}

fn tool_choice_to_json(request: &ChatRequest) -> Option<Value> {
    let mut choice = match request.tool_choice.as_ref().and_then(|c| c.choice.as_ref()) {
        None => None,
        Some(tool_choice::Choice::FunctionName(name)) => {
            Some(json!({"type": "tool", "name": name}))
        }
        Some(tool_choice::Choice::Mode(mode)) => match ToolChoiceMode::try_from(*mode) {
            Ok(ToolChoiceMode::None) => Some(json!({"type": "none"})),
            Ok(ToolChoiceMode::Required) => Some(json!({"type": "any"})),
            Ok(ToolChoiceMode::Auto) => Some(json!({"type": "auto"})),
            _ => None,
        },
    };
    if request.parallel_tool_calls == Some(false) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = true.into();
        }
    }
    choice
}

fn extend_with(target: &mut Map<String, Value>, fields: Option<Map<String, Value>>) {
    if let Some(fields) = fields {
        target.extend(fields);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_wire::request::from_json;

    fn translate(openai: Value) -> Result<Value, GatewayError> {
        let Value::Object(map) = openai else {
            unreachable!()
        };
        let parsed = from_json(map)?;
        to_json(&parsed.request, "claude-x", false).map(Value::Object)
    }

    /// Parallel calls and their results: tool_use blocks out, one user turn
    /// of tool_result blocks back, system lifted out.
    #[test]
    fn tool_round_trip() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "b", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "a", "content": "sunny"},
                {"role": "tool", "tool_call_id": "b", "content": "rain"}
            ],
            "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "parallel_tool_calls": false
        }))
        .expect("translates");
        assert_eq!(
            body,
            json!({
                "model": "claude-x",
                "system": "Be brief.",
                "max_tokens": DEFAULT_MAX_TOKENS,
                "messages": [
                    {"role": "user", "content": "Weather in Paris and Rome?"},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "a", "name": "w", "input": {"city": "Paris"}},
                        {"type": "tool_use", "id": "b", "name": "w", "input": {"city": "Rome"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "a", "content": "sunny"},
                        {"type": "tool_result", "tool_use_id": "b", "content": "rain"}]}
                ],
                "tools": [{"name": "w", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
            })
        );
    }

    /// What Anthropic cannot do is refused by name, not dropped.
    #[test]
    fn unsupported_parameters_are_named() {
        for (field, value) in [
            ("seed", json!(7)),
            ("presence_penalty", json!(0.5)),
            ("n", json!(2)),
            ("response_format", json!({"type": "json_object"})),
        ] {
            let mut request =
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            request[field] = value;
            let error = translate(request).expect_err(field);
            assert!(
                matches!(&error, GatewayError::Unsupported { param: Some(p), .. } if p == field),
                "{field}: {error:?}"
            );
        }
        // Defaults SDKs send are accepted.
        translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "presence_penalty": 0, "n": 1}),
        )
        .expect("zero penalty and n=1 are fine");
    }

    /// reasoning_effort becomes a thinking budget with room left for the answer;
    /// native fields in the request override and merge.
    #[test]
    fn reasoning_effort_and_native_fields() {
        let body = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": "low",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "output_config": {"effort": "medium"},
            "top_k": 5
        }))
        .expect("translates");
        assert_eq!(
            body["thinking"],
            json!({"type": "enabled", "budget_tokens": 1024})
        );
        assert_eq!(body["max_tokens"], json!(DEFAULT_MAX_TOKENS + 1024));
        assert_eq!(
            body["output_config"],
            json!({"format": {"type": "json_schema", "schema": {"type": "object"}}, "effort": "medium"})
        );
        assert_eq!(body["top_k"], json!(5));
    }

    /// Thinking blocks handed back by the caller are replayed before the text.
    #[test]
    fn thinking_blocks_are_replayed() {
        let thinking = json!({"type": "thinking", "thinking": "hmm", "signature": "sig"});
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello", "reasoning_content": "hmm", "thinking_blocks": [thinking]},
                {"role": "user", "content": "again"}
            ]
        }))
        .expect("translates");
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": [thinking, {"type": "text", "text": "hello"}]})
        );
    }
}
