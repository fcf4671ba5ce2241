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

use prost_types::Struct;
use serde_json::{Map, Value};

use crate::error::GatewayError;

/// Takes typed fields out of a JSON object, naming the full field path in
/// every error; what is left over afterwards is the unmodelled rest.
pub(crate) struct FieldReader {
    map: Map<String, Value>,
    prefix: String,
}

impl FieldReader {
    pub(crate) fn new(map: Map<String, Value>, prefix: &str) -> Self {
        Self {
            map,
            prefix: prefix.to_owned(),
        }
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn invalid(&self, key: &str, expected: &str) -> GatewayError {
        GatewayError::invalid(self.path(key), format!("must be {expected}"))
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
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(key, "a string")),
        }
    }

    pub(crate) fn required_string(&mut self, key: &str) -> Result<String, GatewayError> {
        self.string(key)?
            .ok_or_else(|| GatewayError::invalid(self.path(key), "is required"))
    }

    pub(crate) fn bool(&mut self, key: &str) -> Result<Option<bool>, GatewayError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(self.invalid(key, "a boolean")),
        }
    }

    pub(crate) fn f64(&mut self, key: &str) -> Result<Option<f64>, GatewayError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, "a number")),
        }
    }

    pub(crate) fn u32(&mut self, key: &str) -> Result<Option<u32>, GatewayError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.invalid(key, "a non-negative integer")),
        }
    }

    pub(crate) fn i64(&mut self, key: &str) -> Result<Option<i64>, GatewayError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, "an integer")),
        }
    }

    pub(crate) fn array(&mut self, key: &str) -> Result<Option<Vec<Value>>, GatewayError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.invalid(key, "an array")),
        }
    }

    pub(crate) fn required_array(&mut self, key: &str) -> Result<Vec<Value>, GatewayError> {
        self.array(key)?
            .ok_or_else(|| GatewayError::invalid(self.path(key), "is required"))
    }

    pub(crate) fn object(&mut self, key: &str) -> Result<Option<Map<String, Value>>, GatewayError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(self.invalid(key, "an object")),
        }
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

/// Unmodelled fields, or `None` when there are none.
pub(crate) fn take_extensions(rest: Map<String, Value>) -> Option<Struct> {
    (!rest.is_empty()).then(|| json_struct::struct_from_map(rest))
}
