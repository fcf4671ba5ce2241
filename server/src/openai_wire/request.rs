//! OpenAI chat-completions request JSON <-> canonical `ChatRequest`.
//!
//! `from_slice` is the facade's parser (strict: a malformed field is a 400 that
//! names it); `to_json` writes the body for OpenAI-style upstreams. Fields the
//! proto does not model travel in `extensions` both ways, so OpenAI -> OpenAI
//! is faithful and nothing a client sends is silently dropped.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use prost_types::Struct;
use prost_types::value::Kind;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::json_struct::{map_from_struct, serialize_extensions, struct_from_map};
use super::response::{Seq, ToolCallJson};
use super::{
    FieldReader, ObjectSeed, WireObject, body_not_json, checked, read_object, take_extensions,
};
use crate::error::{FieldPath, GatewayError};
use crate::pb::{
    ChatRequest, ContentPart, ContentParts, Image, ImageDetail, JsonObjectFormat, JsonSchemaFormat,
    Message, ReasoningEffort, ResponseFormat, Role, StreamOptions, TextFormat, Tool, ToolCall,
    ToolChoice, ToolChoiceMode, content_part, image, message, response_format, tool_choice,
};

/// A parsed facade request: the canonical request plus the transport choice.
pub struct ParsedChatRequest {
    pub request: ChatRequest,
    pub stream: bool,
}

/// Parses an OpenAI chat-completions body.
///
/// The body is read field by field as the JSON goes by: the messages, nearly
/// all of a request's bytes, straight into `Message`s, the other modelled
/// fields into slots, the rest into extensions. Errors name the field path.
pub fn from_slice(body: &[u8]) -> Result<ParsedChatRequest, GatewayError> {
    let mut found = None;
    let fields = RequestFields {
        found: &mut found,
        slots: RequestSlots::default(),
    };
    match super::from_bytes_seed(body, ObjectSeed(fields)) {
        Ok(fields) => fields.slots.into_request(),
        Err(e) => Err(found.unwrap_or_else(|| body_not_json(e))),
    }
}

/// [`from_slice`] for a body that is already a JSON object (tests, the
/// conformance runner).
pub fn from_json(body: Map<String, Value>) -> Result<ParsedChatRequest, GatewayError> {
    from_slice(Value::Object(body).to_string().as_bytes())
}

/// The request body as it is read: its modelled fields in slots, and where
/// an error inside `messages` waits, with its field path.
struct RequestFields<'a> {
    found: &'a mut Option<GatewayError>,
    slots: RequestSlots,
}

/// The request body's modelled fields as the client sent them (JSON `null`
/// counts as absent), and the rest as its extensions.
#[derive(Default)]
struct RequestSlots {
    messages: Option<Vec<Message>>,
    model: Option<Value>,
    stream: Option<Value>,
    tools: Option<Value>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<Value>,
    response_format: Option<Value>,
    temperature: Option<Value>,
    top_p: Option<Value>,
    max_completion_tokens: Option<Value>,
    max_tokens: Option<Value>,
    stop: Option<Value>,
    seed: Option<Value>,
    presence_penalty: Option<Value>,
    frequency_penalty: Option<Value>,
    n: Option<Value>,
    reasoning_effort: Option<Value>,
    user: Option<Value>,
    metadata: Option<Value>,
    stream_options: Option<Value>,
    extensions: Option<Struct>,
}

impl WireObject for RequestFields<'_> {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        let s = &mut self.slots;
        let slot = match key {
            "messages" => {
                s.messages = map.next_value_seed(MessagesSeed(&mut *self.found))?;
                return Ok(true);
            }
            "model" => &mut s.model,
            "stream" => &mut s.stream,
            "tools" => &mut s.tools,
            "tool_choice" => &mut s.tool_choice,
            "parallel_tool_calls" => &mut s.parallel_tool_calls,
            "response_format" => &mut s.response_format,
            "temperature" => &mut s.temperature,
            "top_p" => &mut s.top_p,
            "max_completion_tokens" => &mut s.max_completion_tokens,
            "max_tokens" => &mut s.max_tokens,
            "stop" => &mut s.stop,
            "seed" => &mut s.seed,
            "presence_penalty" => &mut s.presence_penalty,
            "frequency_penalty" => &mut s.frequency_penalty,
            "n" => &mut s.n,
            "reasoning_effort" => &mut s.reasoning_effort,
            "user" => &mut s.user,
            "metadata" => &mut s.metadata,
            "stream_options" => &mut s.stream_options,
            _ => return Ok(false),
        };
        *slot = Some(map.next_value::<Value>()?).filter(|v| !v.is_null());
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        self.slots.extensions = extensions;
    }
}

/// A top-level field converted by `convert`, its error naming `key`.
fn top<T>(
    value: Option<Value>,
    convert: impl FnOnce(Value) -> Result<T, &'static str>,
    key: &str,
) -> Result<Option<T>, GatewayError> {
    checked(value, convert, || key.to_owned())
}

impl RequestSlots {
    fn into_request(self) -> Result<ParsedChatRequest, GatewayError> {
        let mut extensions = self.extensions;
        // `stream: true` picks the transport and is re-added for streaming
        // upstreams; an explicit `false` is forwarded as sent.
        let stream = match top(self.stream, super::boolean, "stream")? {
            Some(true) => true,
            Some(false) => {
                let forwarded = extensions.get_or_insert_default();
                forwarded.fields.insert("stream".into(), false.into());
                false
            }
            None => false,
        };
        let request = ChatRequest {
            model: top(self.model, super::string, "model")?
                .ok_or_else(|| GatewayError::invalid("model", "is required"))?,
            messages: self
                .messages
                .ok_or_else(|| GatewayError::invalid("messages", "is required"))?,
            tools: top(self.tools, super::array, "tools")?
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, t)| tool_from_json(t, FieldPath::top_item("tools", i)))
                .collect::<Result<_, _>>()?,
            tool_choice: self.tool_choice.map(tool_choice_from_json).transpose()?,
            parallel_tool_calls: top(
                self.parallel_tool_calls,
                super::boolean,
                "parallel_tool_calls",
            )?,
            response_format: self
                .response_format
                .map(response_format_from_json)
                .transpose()?,
            temperature: top(self.temperature, super::number, "temperature")?,
            top_p: top(self.top_p, super::number, "top_p")?,
            max_completion_tokens: top(
                self.max_completion_tokens,
                super::count,
                "max_completion_tokens",
            )?,
            max_tokens: top(self.max_tokens, super::count, "max_tokens")?,
            stop: {
                let invalid =
                    || GatewayError::invalid("stop", "must be a string or an array of strings");
                match self.stop {
                    None => Vec::new(),
                    Some(Value::String(s)) => vec![s],
                    Some(Value::Array(items)) => items
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(s),
                            _ => Err(invalid()),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => return Err(invalid()),
                }
            },
            seed: top(self.seed, super::integer, "seed")?,
            presence_penalty: top(self.presence_penalty, super::number, "presence_penalty")?,
            frequency_penalty: top(self.frequency_penalty, super::number, "frequency_penalty")?,
            n: top(self.n, super::count, "n")?,
            reasoning_effort: match top(self.reasoning_effort, super::string, "reasoning_effort")? {
                None => ReasoningEffort::Unspecified,
                Some(effort) => reasoning_effort_from_str(&effort).ok_or_else(|| {
                    GatewayError::invalid(
                        "reasoning_effort",
                        format!("`{effort}` is not one of none, minimal, low, medium, high, xhigh"),
                    )
                })?,
            } as i32,
            user: top(self.user, super::string, "user")?.unwrap_or_default(),
            metadata: match top(self.metadata, super::object, "metadata")? {
                None => Default::default(),
                Some(map) => map
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k, s)),
                        _ => Err(GatewayError::invalid(
                            format!("metadata.{k}"),
                            "metadata values must be strings",
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            },
            stream_options: match top(self.stream_options, super::object, "stream_options")? {
                None => None,
                Some(options) => {
                    let mut o = FieldReader::at(options, FieldPath::top("stream_options"));
                    let include_usage = o.bool("include_usage")?.unwrap_or(false);
                    // OpenAI's per-hop padding, which the gateway never
                    // forwards: `false` is met, and so is the default.
                    o.bool("include_obfuscation")?;
                    o.reject_unknown()?;
                    Some(StreamOptions { include_usage })
                }
            },
            extensions,
        };
        Ok(ParsedChatRequest { request, stream })
    }
}

/// Stops the parse for a request error found mid-stream: serde unwinds with
/// a bare error, and the real one, with its field path, waits in `found`.
fn stop<E: de::Error>(found: &mut Option<GatewayError>, error: GatewayError) -> E {
    *found = Some(error);
    E::custom("invalid request")
}

/// Visitor methods for the scalar kinds a value must not be.
macro_rules! reject_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(self.wrong_kind())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(self.wrong_kind())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(self.wrong_kind())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(self.wrong_kind())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(self.wrong_kind())
        }
    };
}

/// `messages`: an array of messages; `null` counts as absent.
struct MessagesSeed<'a>(&'a mut Option<GatewayError>);

impl MessagesSeed<'_> {
    fn wrong_kind<E: de::Error>(self) -> E {
        stop(
            self.0,
            GatewayError::invalid("messages", "must be an array"),
        )
    }
}

impl<'de> DeserializeSeed<'de> for MessagesSeed<'_> {
    type Value = Option<Vec<Message>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessagesSeed<'_> {
    type Value = Option<Vec<Message>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }

    reject_scalars!();

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong_kind())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut messages = Vec::new();
        while let Some(message) = seq.next_element_seed(MessageSeed {
            index: messages.len(),
            found: &mut *self.0,
        })? {
            messages.push(message);
        }
        Ok(Some(messages))
    }
}

/// One message object. Its modelled fields are collected as JSON and checked
/// once the object ends, in a fixed order; the rest become its extensions.
struct MessageSeed<'a> {
    index: usize,
    found: &'a mut Option<GatewayError>,
}

impl MessageSeed<'_> {
    fn wrong_kind<E: de::Error>(self) -> E {
        let at = FieldPath::message(self.index);
        stop(self.found, GatewayError::invalid(at, "must be an object"))
    }
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = Message;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Message, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }

    reject_scalars!();

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Message, A::Error> {
        Err(self.wrong_kind())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Message, E> {
        Err(self.wrong_kind())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Message, A::Error> {
        read_object(map, MessageFields::default())?
            .into_message(self.index)
            .map_err(|e| stop(self.found, e))
    }
}

/// A message's modelled fields as the client sent them (JSON `null` counts
/// as absent), and the rest as its extensions.
#[derive(Default)]
struct MessageFields {
    role: Option<Value>,
    content: Option<Value>,
    name: Option<Value>,
    tool_calls: Option<Value>,
    tool_call_id: Option<Value>,
    refusal: Option<Value>,
    reasoning_content: Option<Value>,
    extensions: Option<Struct>,
}

impl WireObject for MessageFields {
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        let slot = match key {
            "role" => &mut self.role,
            "content" => &mut self.content,
            "name" => &mut self.name,
            "tool_calls" => &mut self.tool_calls,
            "tool_call_id" => &mut self.tool_call_id,
            "refusal" => &mut self.refusal,
            "reasoning_content" => &mut self.reasoning_content,
            _ => return Ok(false),
        };
        *slot = Some(map.next_value::<Value>()?).filter(|v| !v.is_null());
        Ok(true)
    }

    fn set_extensions(&mut self, extensions: Option<Struct>) {
        self.extensions = extensions;
    }
}

impl MessageFields {
    fn into_message(self, index: usize) -> Result<Message, GatewayError> {
        let message = FieldPath::message(index);
        let at = |field| message.field(field);
        let text = |value, field| checked(value, super::string, || at(field).into());
        let role_text = text(self.role, "role")?
            .ok_or_else(|| GatewayError::invalid(at("role"), "is required"))?;
        let role = role_from_str(&role_text).ok_or_else(|| {
            GatewayError::invalid(
                at("role"),
                format!("`{role_text}` is not one of system, developer, user, assistant, tool"),
            )
        })?;
        let content = match self.content {
            None => None,
            Some(Value::String(text)) => Some(message::Content::Text(text)),
            Some(Value::Array(parts)) => Some(message::Content::Parts(ContentParts {
                parts: parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| part_from_json(p, message.item("content", i)))
                    .collect::<Result<_, _>>()?,
            })),
            Some(_) => {
                return Err(GatewayError::invalid(
                    at("content"),
                    "must be a string, an array of content parts, or null",
                ));
            }
        };
        Ok(Message {
            role: role as i32,
            content,
            name: text(self.name, "name")?.unwrap_or_default(),
            tool_calls: checked(self.tool_calls, super::array, || at("tool_calls").into())?
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, c)| tool_call_from_json(c, message.item("tool_calls", i)))
                .collect::<Result<_, _>>()?,
            tool_call_id: text(self.tool_call_id, "tool_call_id")?.unwrap_or_default(),
            refusal: text(self.refusal, "refusal")?,
            reasoning_content: text(self.reasoning_content, "reasoning_content")?,
            extensions: self.extensions,
        })
    }
}

fn part_from_json(value: Value, at: FieldPath<'_>) -> Result<ContentPart, GatewayError> {
    let mut r = FieldReader::of(value, at)?;
    let kind = r.required_string("type")?;
    let part = match kind.as_str() {
        "text" => content_part::Part::Text(r.required_string("text")?),
        "image_url" => {
            let image_at = at.field("image_url");
            let mut i = FieldReader::at(r.required_object("image_url")?, image_at);
            let url = i.required_string("url")?;
            let detail = match i.string("detail")?.as_deref() {
                None => ImageDetail::Unspecified,
                Some("auto") => ImageDetail::Auto,
                Some("low") => ImageDetail::Low,
                Some("high") => ImageDetail::High,
                Some(other) => {
                    return Err(GatewayError::invalid(
                        image_at.field("detail"),
                        format!("`{other}` is not one of auto, low, high"),
                    ));
                }
            };
            i.reject_unknown()?;
            content_part::Part::Image(image_from_url(url, detail, image_at.field("url"))?)
        }
        other => {
            return Err(GatewayError::unsupported(
                at.field("type"),
                format!(
                    "content part type `{other}` is not supported yet (text and image_url are)"
                ),
            ));
        }
    };
    Ok(ContentPart {
        part: Some(part),
        extensions: take_extensions(r.into_rest()),
    })
}

/// `data:<media type>;base64,<data>` URLs become bytes; others stay URLs.
fn image_from_url(
    url: String,
    detail: ImageDetail,
    at: FieldPath<'_>,
) -> Result<Image, GatewayError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(Image {
            source: Some(image::Source::Url(url)),
            media_type: String::new(),
            detail: detail as i32,
        });
    };
    let (media_type, data) = rest.split_once(";base64,").ok_or_else(|| {
        GatewayError::invalid(at, "data URLs must be `data:<media type>;base64,<data>`")
    })?;
    let bytes = BASE64
        .decode(data)
        .map_err(|e| GatewayError::invalid(at, format!("image data is not valid base64: {e}")))?;
    Ok(Image {
        source: Some(image::Source::Data(bytes)),
        media_type: media_type.to_owned(),
        detail: detail as i32,
    })
}

fn tool_call_from_json(value: Value, at: FieldPath<'_>) -> Result<ToolCall, GatewayError> {
    let mut r = FieldReader::of(value, at)?;
    if let Some(kind) = r.string("type")?
        && kind != "function"
    {
        return Err(GatewayError::unsupported(
            at.field("type"),
            format!("tool call type `{kind}` is not supported (function is)"),
        ));
    }
    let id = r.required_string("id")?;
    let mut f = FieldReader::at(r.required_object("function")?, at.field("function"));
    let call = ToolCall {
        id,
        name: f.required_string("name")?,
        arguments: f.string("arguments")?.unwrap_or_default(),
        // Echoed provider fields (DeepSeek's `index`) travel on as sent.
        extensions: take_extensions(r.into_rest()),
    };
    f.reject_unknown()?;
    Ok(call)
}

fn tool_from_json(value: Value, at: FieldPath<'_>) -> Result<Tool, GatewayError> {
    let mut r = FieldReader::of(value, at)?;
    let kind = r.required_string("type")?;
    if kind != "function" {
        return Err(GatewayError::unsupported(
            at.field("type"),
            format!("tool type `{kind}` is not supported (function is)"),
        ));
    }
    let mut f = FieldReader::at(r.required_object("function")?, at.field("function"));
    let tool = Tool {
        name: f.required_string("name")?,
        description: f.string("description")?,
        parameters: f.object("parameters")?.map(struct_from_map),
        strict: f.bool("strict")?,
        // A cache marker on the tool (Anthropic's, in LiteLLM's spelling),
        // or a field only the provider knows.
        extensions: take_extensions(r.into_rest()),
    };
    f.reject_unknown()?;
    Ok(tool)
}

fn tool_choice_from_json(value: Value) -> Result<ToolChoice, GatewayError> {
    let choice = match value {
        Value::String(mode) => tool_choice::Choice::Mode(match mode.as_str() {
            "none" => ToolChoiceMode::None,
            "auto" => ToolChoiceMode::Auto,
            "required" => ToolChoiceMode::Required,
            _ => {
                return Err(GatewayError::invalid(
                    "tool_choice",
                    format!("`{mode}` is not one of none, auto, required"),
                ));
            }
        } as i32),
        Value::Object(map) => {
            let name = map
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    GatewayError::invalid(
                        "tool_choice",
                        "must be {\"type\": \"function\", \"function\": {\"name\": ...}}",
                    )
                })?;
            tool_choice::Choice::FunctionName(name.to_owned())
        }
        _ => {
            return Err(GatewayError::invalid(
                "tool_choice",
                "must be a string or an object",
            ));
        }
    };
    Ok(ToolChoice {
        choice: Some(choice),
    })
}

fn response_format_from_json(value: Value) -> Result<ResponseFormat, GatewayError> {
    let at = FieldPath::top("response_format");
    let mut r = FieldReader::of(value, at)?;
    let format = match r.required_string("type")?.as_str() {
        "text" => response_format::Format::Text(TextFormat {}),
        "json_object" => response_format::Format::JsonObject(JsonObjectFormat {}),
        "json_schema" => {
            let mut s = FieldReader::at(r.required_object("json_schema")?, at.field("json_schema"));
            let format = JsonSchemaFormat {
                name: s.required_string("name")?,
                description: s.string("description")?,
                schema: s.object("schema")?.map(struct_from_map),
                strict: s.bool("strict")?,
            };
            s.reject_unknown()?;
            response_format::Format::JsonSchema(format)
        }
        other => {
            return Err(GatewayError::invalid(
                at.field("type"),
                format!("`{other}` is not one of text, json_object, json_schema"),
            ));
        }
    };
    r.reject_unknown()?;
    Ok(ResponseFormat {
        format: Some(format),
    })
}

/// The OpenAI chat-completions body for `request`, sending `model` as the
/// model id, written straight into the output: the top level and the
/// messages, nearly all of a request, build no JSON tree on the way.
/// Extensions are merged in as given, so one replaces a modelled field of
/// the same name, except `model` and `stream`: the deployment and the
/// transport decide those.
pub struct RequestJson<'a> {
    pub request: &'a ChatRequest,
    pub model: &'a str,
    pub stream: bool,
}

impl Serialize for RequestJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.request;
        let extensions = r.extensions.as_ref();
        let mut m = Merged::new(s.serialize_map(None)?, extensions, super::GATEWAY_FIELDS);
        m.entry("model", self.model)?;
        m.entry("messages", &Seq(&r.messages, MessageJson))?;
        // A client's explicit `stream: false` on a unary call is kept.
        let explicit_false = extensions
            .and_then(|e| e.fields.get("stream"))
            .is_some_and(|v| v.kind == Some(Kind::BoolValue(false)));
        if self.stream || explicit_false {
            m.entry("stream", &self.stream)?;
        }
        if self.stream
            && let Some(options) = &r.stream_options
        {
            let include_usage = options.include_usage;
            m.entry("stream_options", &StreamOptionsJson { include_usage })?;
        }
        if !r.tools.is_empty() {
            m.entry("tools", &Seq(&r.tools, tool_to_json))?;
        }
        if let Some(choice) = r.tool_choice.as_ref().and_then(|c| c.choice.as_ref()) {
            m.entry("tool_choice", &tool_choice_to_json(choice))?;
        }
        m.entry_opt("parallel_tool_calls", &r.parallel_tool_calls)?;
        if let Some(format) = r.response_format.as_ref().and_then(|f| f.format.as_ref()) {
            m.entry("response_format", &response_format_to_json(format))?;
        }
        m.entry_opt("temperature", &r.temperature)?;
        m.entry_opt("top_p", &r.top_p)?;
        m.entry_opt("max_completion_tokens", &r.max_completion_tokens)?;
        m.entry_opt("max_tokens", &r.max_tokens)?;
        if !r.stop.is_empty() {
            m.entry("stop", &r.stop)?;
        }
        m.entry_opt("seed", &r.seed)?;
        m.entry_opt("presence_penalty", &r.presence_penalty)?;
        m.entry_opt("frequency_penalty", &r.frequency_penalty)?;
        m.entry_opt("n", &r.n)?;
        m.entry_opt(
            "reasoning_effort",
            &reasoning_effort_to_str(r.reasoning_effort()),
        )?;
        if !r.user.is_empty() {
            m.entry("user", &r.user)?;
        }
        if !r.metadata.is_empty() {
            m.entry("metadata", &r.metadata)?;
        }
        m.end()
    }
}

/// [`RequestJson`] as a JSON object, for a provider's quirks to rewrite.
pub fn to_json(request: &ChatRequest, model: &str, stream: bool) -> Map<String, Value> {
    let body = RequestJson {
        request,
        model,
        stream,
    };
    match serde_json::to_value(body) {
        Ok(Value::Object(map)) => map,
        _ => unreachable!("RequestJson always writes a JSON object"),
    }
}

/// A JSON object being written whose extensions, written last, replace the
/// modelled fields of the same name, except the `owned` ones. (A provider's
/// answer settles the clash the other way, in `serialize_extensions`: there
/// the extensions are what the gateway did not model; here they are what the
/// client asked to send.)
struct Merged<'a, M> {
    map: M,
    extensions: Option<&'a Struct>,
    owned: &'static [&'static str],
}

impl<'a, M: SerializeMap> Merged<'a, M> {
    fn new(map: M, extensions: Option<&'a Struct>, owned: &'static [&'static str]) -> Self {
        Self {
            map,
            extensions,
            owned,
        }
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), M::Error> {
        if !self.owned.contains(&key) && self.extensions.is_some_and(|e| e.fields.contains_key(key))
        {
            return Ok(());
        }
        self.map.serialize_entry(key, value)
    }

    fn entry_opt<T: Serialize>(&mut self, key: &str, value: &Option<T>) -> Result<(), M::Error> {
        match value {
            Some(value) => self.entry(key, value),
            None => Ok(()),
        }
    }

    fn end(mut self) -> Result<M::Ok, M::Error> {
        serialize_extensions(&mut self.map, self.extensions, self.owned)?;
        self.map.end()
    }
}

struct MessageJson<'a>(&'a Message);

impl Serialize for MessageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let mut m = Merged::new(s.serialize_map(None)?, message.extensions.as_ref(), &[]);
        m.entry("role", role_to_str(message.role()))?;
        match &message.content {
            None => {}
            Some(message::Content::Text(text)) => m.entry("content", text)?,
            Some(message::Content::Parts(parts)) => {
                m.entry("content", &Seq(&parts.parts, part_to_json))?
            }
        }
        if !message.name.is_empty() {
            m.entry("name", &message.name)?;
        }
        if !message.tool_calls.is_empty() {
            m.entry("tool_calls", &Seq(&message.tool_calls, ToolCallJson))?;
        }
        if !message.tool_call_id.is_empty() {
            m.entry("tool_call_id", &message.tool_call_id)?;
        }
        m.entry_opt("refusal", &message.refusal)?;
        m.entry_opt("reasoning_content", &message.reasoning_content)?;
        m.end()
    }
}

fn part_to_json(part: &ContentPart) -> Value {
    let mut p = Map::new();
    match &part.part {
        Some(content_part::Part::Text(text)) => {
            p.insert("type".into(), "text".into());
            p.insert("text".into(), text.clone().into());
        }
        Some(content_part::Part::Image(image)) => {
            p.insert("type".into(), "image_url".into());
            p.insert("image_url".into(), image_url_to_json(image));
        }
        None => {}
    }
    if let Some(extensions) = &part.extensions {
        p.extend(map_from_struct(extensions));
    }
    Value::Object(p)
}

fn image_url_to_json(image: &Image) -> Value {
    let url = match &image.source {
        Some(image::Source::Url(url)) => url.clone(),
        Some(image::Source::Data(bytes)) => {
            format!("data:{};base64,{}", image.media_type, BASE64.encode(bytes))
        }
        None => String::new(),
    };
    let mut i = Map::new();
    i.insert("url".into(), url.into());
    let detail = match image.detail() {
        ImageDetail::Unspecified => None,
        ImageDetail::Auto => Some("auto"),
        ImageDetail::Low => Some("low"),
        ImageDetail::High => Some("high"),
    };
    if let Some(detail) = detail {
        i.insert("detail".into(), detail.into());
    }
    Value::Object(i)
}

#[derive(Serialize)]
struct StreamOptionsJson {
    include_usage: bool,
}

fn tool_to_json(tool: &Tool) -> Value {
    let mut f = function_json(tool);
    insert_opt(&mut f, "strict", tool.strict);
    tool_object(f, tool.extensions.iter().flat_map(map_from_struct))
}

/// An OpenAI tool object around `function`, with the tool's other `fields`.
pub(crate) fn tool_object(
    function: Map<String, Value>,
    fields: impl IntoIterator<Item = (String, Value)>,
) -> Value {
    let mut t = Map::new();
    t.insert("type".into(), "function".into());
    t.insert("function".into(), function.into());
    t.extend(fields);
    Value::Object(t)
}

/// A tool's `function` object without `strict`: name, description and
/// JSON-schema parameters (also Cohere's and Ollama's shape).
pub(crate) fn function_json(tool: &Tool) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("name".into(), tool.name.clone().into());
    if let Some(description) = &tool.description {
        f.insert("description".into(), description.clone().into());
    }
    if let Some(parameters) = &tool.parameters {
        f.insert(
            "parameters".into(),
            Value::Object(map_from_struct(parameters)),
        );
    }
    f
}

fn tool_choice_to_json(choice: &tool_choice::Choice) -> Value {
    match choice {
        tool_choice::Choice::Mode(mode) => match ToolChoiceMode::try_from(*mode) {
            Ok(ToolChoiceMode::None) => "none".into(),
            Ok(ToolChoiceMode::Required) => "required".into(),
            _ => "auto".into(),
        },
        tool_choice::Choice::FunctionName(name) => {
            json!({"type": "function", "function": {"name": name}})
        }
    }
}

fn response_format_to_json(format: &response_format::Format) -> Value {
    match format {
        response_format::Format::Text(_) => json!({"type": "text"}),
        response_format::Format::JsonObject(_) => json!({"type": "json_object"}),
        response_format::Format::JsonSchema(s) => {
            let mut schema = Map::new();
            schema.insert("name".into(), s.name.clone().into());
            if let Some(description) = &s.description {
                schema.insert("description".into(), description.clone().into());
            }
            if let Some(body) = &s.schema {
                schema.insert("schema".into(), Value::Object(map_from_struct(body)));
            }
            insert_opt(&mut schema, "strict", s.strict);
            json!({"type": "json_schema", "json_schema": schema})
        }
    }
}

fn insert_opt<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.into(), value.into());
    }
}

pub fn role_from_str(role: &str) -> Option<Role> {
    Some(match role {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    })
}

pub fn role_to_str(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User | Role::Unspecified => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn reasoning_effort_from_str(effort: &str) -> Option<ReasoningEffort> {
    Some(match effort {
        "none" => ReasoningEffort::None,
        "minimal" => ReasoningEffort::Minimal,
        "low" => ReasoningEffort::Low,
        "medium" => ReasoningEffort::Medium,
        "high" => ReasoningEffort::High,
        "xhigh" => ReasoningEffort::Xhigh,
        _ => return None,
    })
}

fn reasoning_effort_to_str(effort: ReasoningEffort) -> Option<&'static str> {
    Some(match effort {
        ReasoningEffort::Unspecified => return None,
        ReasoningEffort::None => "none",
        ReasoningEffort::Minimal => "minimal",
        ReasoningEffort::Low => "low",
        ReasoningEffort::Medium => "medium",
        ReasoningEffort::High => "high",
        ReasoningEffort::Xhigh => "xhigh",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(body: Value) -> Value {
        let Value::Object(map) = body else {
            panic!("object")
        };
        let parsed = from_json(map).expect("parses");
        Value::Object(to_json(&parsed.request, "upstream-model", parsed.stream))
    }

    /// A request using every modelled field comes back out unchanged (model
    /// rewritten), including fields the proto does not model.
    #[test]
    fn full_request_round_trips() {
        let body = json!({
            "model": "upstream-model",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Prefer JSON."},
                {"role": "user", "name": "ana", "content": [
                    {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
                ]},
                {"role": "assistant", "content": null, "annotations": [], "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "f", "description": "", "strict": true,
                "parameters": {"type": "object", "properties": {"a": {"type": "integer", "minimum": 1}}}
            }, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "strict": true, "schema": {"type": "object"}}},
            "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 100, "max_tokens": 50,
            "stop": ["END"], "seed": 7, "presence_penalty": 0.5, "frequency_penalty": -0.5, "n": 2,
            "reasoning_effort": "low", "user": "u-1", "metadata": {"team": "blue"},
            "stream": true, "stream_options": {"include_usage": true},
            "logit_bias": {"50256": -100}, "service_tier": "flex"
        });
        let mut expected = body.clone();
        // The assistant turn's `content: null` is the absence of content.
        expected["messages"][3]
            .as_object_mut()
            .unwrap()
            .remove("content");
        assert_eq!(round_trip(body), expected);
    }

    /// An extension is merged in as given: it replaces a modelled field of
    /// the same name (a gRPC client can set both), and the key is written once.
    #[test]
    fn extensions_replace_modelled_fields_once() {
        let mut message = Message {
            role: Role::User as i32,
            content: Some(message::Content::Text("hi".into())),
            ..Default::default()
        };
        message.extensions = Some(struct_from_map(
            json!({"role": "developer", "cache_control": {"type": "ephemeral"}})
                .as_object()
                .unwrap()
                .clone(),
        ));
        let request = ChatRequest {
            temperature: Some(0.5),
            messages: vec![message],
            extensions: Some(struct_from_map(
                json!({"temperature": 1, "logit_bias": {}, "model": "gpt-5", "stream": true})
                    .as_object()
                    .unwrap()
                    .clone(),
            )),
            ..Default::default()
        };
        let written = |stream| {
            let body = RequestJson {
                request: &request,
                model: "m",
                stream,
            };
            let text = serde_json::to_string(&body).unwrap();
            for key in ["temperature", "role", "model"] {
                assert_eq!(text.matches(&format!("\"{key}\"")).count(), 1, "{text}");
            }
            serde_json::from_str::<Value>(&text).unwrap()
        };
        let messages = json!([
            {"role": "developer", "content": "hi", "cache_control": {"type": "ephemeral"}}
        ]);
        assert_eq!(
            written(false),
            json!({"model": "m", "temperature": 1, "logit_bias": {}, "messages": messages})
        );
        assert_eq!(
            written(true),
            json!({"model": "m", "stream": true, "temperature": 1, "logit_bias": {}, "messages": messages})
        );
    }

    /// An explicit `stream: false` is the client's, so it is forwarded.
    #[test]
    fn explicit_stream_false_is_forwarded() {
        let body =
            json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(
            round_trip(body),
            json!({"model": "upstream-model", "stream": false, "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    /// Nothing is injected: a minimal request stays minimal.
    #[test]
    fn minimal_request_injects_nothing() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(
            round_trip(body),
            json!({"model": "upstream-model", "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    /// Malformed fields are rejected with the field path as `param`.
    #[test]
    fn rejects_malformed_fields_with_their_path() {
        let cases = [
            (json!({"messages": []}), "model"),
            (json!({"model": "m"}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
                "temperature",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
                "max_tokens",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,***"}}]}]}),
                "messages[0].content[0].image_url.url",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}),
                "tool_choice",
            ),
            (json!({"model": "m", "messages": null}), "messages"),
            (
                json!({"model": "m", "messages": {"role": "user"}}),
                "messages",
            ),
            (json!({"model": "m", "messages": "hi"}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}, 3]}),
                "messages[1]",
            ),
            (json!({"model": "m", "messages": [null]}), "messages[0]"),
            (json!({"model": "m", "messages": [[]]}), "messages[0]"),
            (
                json!({"model": "m", "messages": [{"content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": null, "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": 1, "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x", "name": 5}]}),
                "messages[0].name",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": {}}]}),
                "messages[0].tool_calls",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]}),
                "messages[0].tool_calls[0].function.name",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]}),
                "messages[0].tool_calls[0].function",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "x"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "max"}},
                ]}]}),
                "messages[0].content[1].image_url.detail",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}},
                ]}]}),
                "messages[0].content[0].image_url.url",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
                "messages[0].content[0].image_url",
            ),
            (
                json!({"model": "m", "messages": [], "tools": [
                    {"type": "function", "function": {"name": "a"}},
                    {"type": "function", "function": {"description": "no name"}},
                ]}),
                "tools[1].function.name",
            ),
            (
                json!({"model": "m", "messages": [], "stream_options": {"include_usage": "yes"}}),
                "stream_options.include_usage",
            ),
            (
                json!({"model": "m", "messages": [], "stream_options": {"include_obfuscation": 0}}),
                "stream_options.include_obfuscation",
            ),
            (
                json!({"model": "m", "messages": [], "response_format": {"type": "json_schema"}}),
                "response_format.json_schema",
            ),
            (
                json!({"model": "m", "messages": [], "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}),
                "response_format.json_schema.name",
            ),
            (json!({"model": 5, "messages": []}), "model"),
            (
                json!({"model": "m", "messages": [], "stream": "yes"}),
                "stream",
            ),
            (json!({"model": "m", "messages": [], "seed": 1.5}), "seed"),
            (json!({"model": "m", "messages": [], "n": "2"}), "n"),
            (json!({"model": "m", "messages": [], "stop": 5}), "stop"),
            (json!({"model": "m", "messages": [], "user": 5}), "user"),
            (json!({"model": "m", "messages": [], "tools": {}}), "tools"),
            (
                json!({"model": "m", "messages": [], "parallel_tool_calls": "no"}),
                "parallel_tool_calls",
            ),
            (
                json!({"model": "m", "messages": [], "reasoning_effort": "max"}),
                "reasoning_effort",
            ),
            (
                json!({"model": "m", "messages": [], "metadata": {"a": 1}}),
                "metadata.a",
            ),
            (
                json!({"model": "m", "messages": [], "stream_options": true}),
                "stream_options",
            ),
        ];
        for (body, param) in cases {
            let Value::Object(map) = body else {
                unreachable!()
            };
            match from_json(map) {
                Err(GatewayError::InvalidRequest { param: Some(p), .. }) => assert_eq!(p, param),
                Err(other) => panic!("expected invalid {param}, got {other:?}"),
                Ok(_) => panic!("expected invalid {param}, got Ok"),
            }
        }
    }

    /// Content kinds the proto cannot carry yet fail loudly instead of vanishing.
    #[test]
    fn unmodelled_content_is_rejected_not_dropped() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
        ]}]});
        let Value::Object(map) = body else {
            unreachable!()
        };
        assert!(matches!(
            from_json(map),
            Err(GatewayError::Unsupported { .. })
        ));
    }

    /// Messages are read as the JSON streams by; what a JSON object parser
    /// would do still holds: the last of duplicate keys wins, escaped keys
    /// are keys, unknown message fields travel on, and a body that is not
    /// one JSON object is refused as such.
    #[test]
    fn streamed_messages_keep_json_object_semantics() {
        let parsed = from_slice(
            br#"{"model":"m","messages":[{"role":"user","content":"first","content":"second",
                "ro\u006ce":"tool","tool_call_id":"t1","x_extra":{"a":[1,null]}}]}"#,
        )
        .expect("parses");
        let message = &parsed.request.messages[0];
        assert_eq!(message.role, Role::Tool as i32);
        assert_eq!(
            message.content,
            Some(message::Content::Text("second".into()))
        );
        assert_eq!(message.tool_call_id, "t1");
        let extensions = message.extensions.as_ref().expect("extensions");
        assert_eq!(
            map_from_struct(extensions),
            json!({"x_extra": {"a": [1, null]}})
                .as_object()
                .unwrap()
                .clone()
        );

        let twice = from_slice(
            br#"{"model":"m","messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"b"},{"role":"user","content":"c"}]}"#,
        )
        .expect("parses");
        assert_eq!(twice.request.messages.len(), 2);

        for body in [
            &b"[]"[..],
            b"{\"model\":\"m\",\"messages\":[]} trailing",
            b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"",
            b"",
        ] {
            match from_slice(body) {
                Err(GatewayError::InvalidRequest {
                    message,
                    param: None,
                }) => {
                    assert!(
                        message.starts_with("request body is not a valid JSON object"),
                        "{message}"
                    )
                }
                other => panic!("expected a not-JSON error, got {:?}", other.map(|_| ())),
            }
        }
        match from_slice(b"{\"model\":\"m\xff\",\"messages\":[]}") {
            Err(GatewayError::InvalidRequest { message, .. }) => assert!(
                message.starts_with("request body is not a valid JSON object: invalid unicode"),
                "{message}"
            ),
            other => panic!("expected a UTF-8 error, got {:?}", other.map(|_| ())),
        }
    }

    /// OpenAI's `include_obfuscation` is accepted either way: the gateway
    /// never forwards the padding it controls.
    #[test]
    fn obfuscation_choice_is_accepted() {
        for include in [true, false] {
            let Value::Object(body) = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "stream": true, "stream_options": {"include_usage": true, "include_obfuscation": include}})
            else {
                unreachable!()
            };
            let parsed = from_json(body).expect("accepted");
            assert!(
                parsed
                    .request
                    .stream_options
                    .is_some_and(|o| o.include_usage)
            );
        }
    }
}
