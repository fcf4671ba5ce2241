//! The OpenAI wire format, translated to and from the canonical protobuf
//! messages.
//!
//! Both sides of the gateway speak it: the HTTP facade parses OpenAI requests
//! and writes OpenAI responses, and the OpenAI-family providers write OpenAI
//! requests and parse OpenAI responses. One module serves both directions, so
//! the facade and the providers can never disagree about a field.

pub mod embeddings;
pub mod errors;
pub mod json_struct;
pub mod request;
pub mod response;
pub mod stream;

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use prost_types::Struct;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{FieldPath, GatewayError};
use json_struct::{ProtoValue, map_from_struct};

/// Request fields the gateway decides, whatever a request's extensions say:
/// the deployment names the model (so no caller picks one `model_list` does
/// not offer), and the transport decides streaming (so a client's explicit
/// `stream: false` never reaches an API that has no such field).
pub const GATEWAY_FIELDS: &[&str] = &["model", "stream"];

/// Merges a request's extensions into a native request body as native
/// fields. Objects the translation already filled (e.g. `output_config` from
/// `response_format` plus the caller's `effort`) are merged one level deep;
/// anything else is replaced, but for the fields the gateway decides.
pub fn merge_native_fields(body: &mut Map<String, Value>, extensions: Option<&Struct>) {
    merge_fields(body, extensions.map(map_from_struct).unwrap_or_default());
}

/// [`merge_native_fields`] for fields already read into JSON.
pub fn merge_fields(body: &mut Map<String, Value>, fields: Map<String, Value>) {
    for (key, value) in fields {
        if GATEWAY_FIELDS.contains(&key.as_str()) {
            continue;
        }
        match (body.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(fields)) => existing.extend(fields),
            (_, value) => {
                body.insert(key, value);
            }
        }
    }
}

/// Takes typed fields out of a JSON object, naming the full field path in
/// every error; what is left over afterwards is the unmodelled rest.
pub(crate) struct FieldReader<'a> {
    map: Map<String, Value>,
    /// The object's own path; `None` for the request body itself.
    at: Option<FieldPath<'a>>,
}

impl<'a> FieldReader<'a> {
    /// The request body's own fields.
    pub(crate) fn root(map: Map<String, Value>) -> Self {
        Self { map, at: None }
    }

    /// The fields of the object at `at`.
    pub(crate) fn at(map: Map<String, Value>, at: FieldPath<'a>) -> Self {
        Self { map, at: Some(at) }
    }

    /// The fields of `value` at `at`, which must be an object.
    pub(crate) fn of(value: Value, at: FieldPath<'a>) -> Result<Self, GatewayError> {
        match value {
            Value::Object(map) => Ok(Self::at(map, at)),
            _ => Err(GatewayError::invalid(at, "must be an object")),
        }
    }

    fn path(&self, key: &str) -> String {
        match &self.at {
            Some(at) => format!("{at}.{key}"),
            None => key.to_owned(),
        }
    }

    /// Removes a field; JSON `null` counts as absent.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// Reads a field without taking it (it stays in the unmodelled rest).
    pub(crate) fn peek(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    pub(crate) fn string(&mut self, key: &str) -> Result<Option<String>, GatewayError> {
        self.typed(key, string)
    }

    pub(crate) fn required_string(&mut self, key: &str) -> Result<String, GatewayError> {
        self.string(key)?
            .ok_or_else(|| GatewayError::invalid(self.path(key), "is required"))
    }

    pub(crate) fn bool(&mut self, key: &str) -> Result<Option<bool>, GatewayError> {
        self.typed(key, boolean)
    }

    pub(crate) fn u32(&mut self, key: &str) -> Result<Option<u32>, GatewayError> {
        self.typed(key, count)
    }

    pub(crate) fn array(&mut self, key: &str) -> Result<Option<Vec<Value>>, GatewayError> {
        self.typed(key, array)
    }

    pub(crate) fn required_object(
        &mut self,
        key: &str,
    ) -> Result<Map<String, Value>, GatewayError> {
        self.object(key)?
            .ok_or_else(|| GatewayError::invalid(self.path(key), "is required"))
    }

    pub(crate) fn object(&mut self, key: &str) -> Result<Option<Map<String, Value>>, GatewayError> {
        self.typed(key, object)
    }

    fn typed<T>(
        &mut self,
        key: &str,
        convert: impl FnOnce(Value) -> Result<T, &'static str>,
    ) -> Result<Option<T>, GatewayError> {
        checked(self.take(key), convert, || self.path(key))
    }

    /// Fails on any field not taken yet, for objects whose every field is
    /// modelled (so an unknown one would otherwise be lost).
    pub(crate) fn reject_unknown(&self) -> Result<(), GatewayError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(GatewayError::unsupported(
                self.path(key),
                format!("unknown field `{key}`"),
            )),
        }
    }

    pub(crate) fn into_rest(self) -> Map<String, Value> {
        self.map
    }
}

/// Converts a field's value with `convert`, whose error says what the value
/// must be (`"a string"`); `path` names the field in that error.
pub(crate) fn checked<T>(
    value: Option<Value>,
    convert: impl FnOnce(Value) -> Result<T, &'static str>,
    path: impl FnOnce() -> String,
) -> Result<Option<T>, GatewayError> {
    value
        .map(convert)
        .transpose()
        .map_err(|expected| GatewayError::invalid(path(), format!("must be {expected}")))
}

/// Parses a JSON body. UTF-8 is checked once for the whole body:
/// `serde_json::from_slice` checks every string on its own, which was 5 % of
/// a chat request's instructions (measured with `instructions.sh`). A body
/// that is not UTF-8 goes through `from_slice` anyway, for its exact error
/// (and for bad bytes only inside values a type ignores, which it accepts).
pub(crate) fn from_bytes<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, serde_json::Error> {
    from_bytes_seed(body, PhantomData)
}

/// [`from_bytes`] through a seed that carries state into the parse.
pub(crate) fn from_bytes_seed<'a, S: DeserializeSeed<'a>>(
    body: &'a [u8],
    seed: S,
) -> Result<S::Value, serde_json::Error> {
    fn whole<'a, R: serde_json::de::Read<'a>, S: DeserializeSeed<'a>>(
        mut json: serde_json::Deserializer<R>,
        seed: S,
    ) -> Result<S::Value, serde_json::Error> {
        let value = seed.deserialize(&mut json)?;
        json.end()?;
        Ok(value)
    }
    match std::str::from_utf8(body) {
        Ok(text) => whole(serde_json::Deserializer::from_str(text), seed),
        Err(_) => whole(serde_json::Deserializer::from_slice(body), seed),
    }
}

/// The error for a request body that is not a JSON object.
pub(crate) fn body_not_json(e: serde_json::Error) -> GatewayError {
    GatewayError::InvalidRequest {
        message: format!("request body is not a valid JSON object: {e}"),
        param: None,
    }
}

/// A JSON string's text, or what the value must be instead.
pub(crate) fn string(value: Value) -> Result<String, &'static str> {
    match value {
        Value::String(text) => Ok(text),
        _ => Err("a string"),
    }
}

/// A JSON array's items, or what the value must be instead.
pub(crate) fn array(value: Value) -> Result<Vec<Value>, &'static str> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err("an array"),
    }
}

/// A JSON object's fields, or what the value must be instead.
pub(crate) fn object(value: Value) -> Result<Map<String, Value>, &'static str> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err("an object"),
    }
}

/// A JSON boolean, or what the value must be instead (as below).
pub(crate) fn boolean(value: Value) -> Result<bool, &'static str> {
    value.as_bool().ok_or("a boolean")
}

/// A JSON number as `f64`.
pub(crate) fn number(value: Value) -> Result<f64, &'static str> {
    value.as_f64().ok_or("a number")
}

/// A JSON integer as `i64`.
pub(crate) fn integer(value: Value) -> Result<i64, &'static str> {
    value.as_i64().ok_or("an integer")
}

/// A count such as `max_tokens` or `n`.
pub(crate) fn count(value: Value) -> Result<u32, &'static str> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("a non-negative integer")
}

/// A provider's `content`: OpenAI's string, or the list of typed chunks
/// Mistral answers with (`text` chunks, and `thinking` chunks from its
/// reasoning models).
pub(crate) enum ContentWire {
    Text(String),
    Parts(Vec<Map<String, Value>>),
}

/// Read by the JSON token's kind, not `#[serde(untagged)]`: untagged enums
/// buffer every value first, and this runs for each streamed token.
impl<'de> Deserialize<'de> for ContentWire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = ContentWire;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of content chunks")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ContentWire, E> {
                Ok(ContentWire::Text(text.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<ContentWire, E> {
                Ok(ContentWire::Text(text))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ContentWire, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(ContentWire::Parts(parts))
            }
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

/// Content read from a provider's answer: text, reasoning, and chunks of
/// other types (kept whole under `content_parts`).
#[derive(Default)]
pub(crate) struct ReadContent {
    pub text: Option<String>,
    pub reasoning: Option<String>,
    pub other: Option<Struct>,
}

impl ContentWire {
    pub(crate) fn read(self) -> ReadContent {
        let parts = match self {
            ContentWire::Text(text) => {
                return ReadContent {
                    text: Some(text),
                    ..ReadContent::default()
                };
            }
            ContentWire::Parts(parts) => parts,
        };
        let mut out = ReadContent::default();
        let mut other = Vec::new();
        for part in parts {
            match (
                part.get("type").and_then(Value::as_str),
                part.get("text"),
                part.get("thinking"),
            ) {
                (Some("text"), Some(Value::String(text)), _) => {
                    out.text.get_or_insert_default().push_str(text);
                }
                (Some("thinking"), _, Some(thinking)) => {
                    let reasoning = out.reasoning.get_or_insert_default();
                    match thinking {
                        Value::String(text) => reasoning.push_str(text),
                        // Mistral: a list of text chunks.
                        Value::Array(chunks) => chunks
                            .iter()
                            .filter_map(|c| c.get("text")?.as_str())
                            .for_each(|text| reasoning.push_str(text)),
                        _ => {}
                    }
                }
                _ => other.push(Value::Object(part)),
            }
        }
        if !other.is_empty() {
            let mut fields = Map::new();
            fields.insert("content_parts".into(), other.into());
            out.other = Some(json_struct::struct_from_map(fields));
        }
        out
    }
}

/// Adds `extra` extensions to `target`'s (set while reading a field) without
/// losing either.
pub(crate) fn merge_extensions(target: &mut Option<Struct>, extra: Option<Struct>) {
    match (target.as_mut(), extra) {
        (Some(existing), Some(extra)) => existing.fields.extend(extra.fields),
        (None, extra) => *target = extra,
        (Some(_), None) => {}
    }
}

/// Unmodelled fields, or `None` when there are none.
pub(crate) fn take_extensions(rest: Map<String, Value>) -> Option<Struct> {
    (!rest.is_empty()).then(|| json_struct::struct_from_map(rest))
}

/// A canonical message that can be read straight from a provider's JSON
/// object, field by field, without building a JSON tree first (provider
/// responses and stream chunks are on every request's path).
pub(crate) trait WireObject {
    /// Reads the value of `key` if this type models it; `Ok(false)` leaves
    /// the value unread, and it is kept as an unmodelled extension.
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error>;

    /// Receives the unmodelled fields; types without `extensions` drop them.
    fn set_extensions(&mut self, _extensions: Option<Struct>) {}
}

/// Deserializes any `WireObject` (`from_bytes::<Wire<T>>`).
pub(crate) struct Wire<T>(pub T);

impl<'de, T: WireObject + Default> Deserialize<'de> for Wire<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ObjectSeed(T::default()).deserialize(deserializer).map(Wire)
    }
}

/// Reads a JSON object into the `WireObject` it holds (one that needs a
/// starting value, such as the facade's request with its error slot).
pub(crate) struct ObjectSeed<T>(pub T);

impl<'de, T: WireObject> DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: WireObject> Visitor<'de> for ObjectSeed<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        read_object(map, self.0)
    }
}

/// Reads one JSON object into `object`: its modelled fields through
/// `read_field`, every other field into its extensions.
pub(crate) fn read_object<'de, T: WireObject, A: MapAccess<'de>>(
    mut map: A,
    mut object: T,
) -> Result<T, A::Error> {
    let mut rest = Struct::default();
    while let Some(Key(key)) = map.next_key()? {
        if !object.read_field(&key, &mut map)? {
            let ProtoValue(value) = map.next_value()?;
            rest.fields.insert(key.into_owned(), value);
        }
    }
    object.set_extensions((!rest.fields.is_empty()).then_some(rest));
    Ok(object)
}

/// Reads a list of `WireObject`s; `null` is an empty list.
pub(crate) fn wire_list<'de, A: MapAccess<'de>, T: WireObject + Default>(
    map: &mut A,
) -> Result<Vec<T>, A::Error> {
    let items: Option<Vec<Wire<T>>> = map.next_value()?;
    Ok(items.unwrap_or_default().into_iter().map(|w| w.0).collect())
}

/// Reads a value where `null` and absence both mean the default.
pub(crate) fn or_default<'de, A: MapAccess<'de>, T: Deserialize<'de> + Default>(
    map: &mut A,
) -> Result<T, A::Error> {
    Ok(map.next_value::<Option<T>>()?.unwrap_or_default())
}

/// An object key, borrowed from the input unless it contains escapes.
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}
