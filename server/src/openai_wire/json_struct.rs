//! Conversion between `serde_json::Value` and `google.protobuf.Struct`.
//!
//! Protobuf numbers are doubles; JSON schemas and provider options are full of
//! integers (`"minItems": 1`). An integral double within the exactly
//! representable range is written back as a JSON integer, so `1` does not come
//! back as `1.0` and upstream bodies stay byte-faithful.

use std::fmt;

use prost_types::{ListValue, Struct, Value, value::Kind};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value as Json};

pub fn struct_from_map(map: Map<String, Json>) -> Struct {
    Struct {
        fields: map
            .into_iter()
            .map(|(k, v)| (k, value_from_json(v)))
            .collect(),
    }
}

pub fn map_from_struct(s: &Struct) -> Map<String, Json> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), json_from_value(v)))
        .collect()
}

pub fn value_from_json(json: Json) -> Value {
    let kind = match json {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Kind::StringValue(s),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(value_from_json).collect(),
        }),
        Json::Object(map) => Kind::StructValue(struct_from_map(map)),
    };
    Value { kind: Some(kind) }
}

pub fn json_from_value(value: &Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => {
            Json::Array(list.values.iter().map(json_from_value).collect())
        }
        Some(Kind::StructValue(s)) => Json::Object(map_from_struct(s)),
    }
}

/// Serializes a protobuf `Value` as JSON directly, without building a
/// `serde_json::Value` first (used on the per-chunk output path).
pub struct ProtoJson<'a>(pub &'a Value);

impl Serialize for ProtoJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0.kind {
            None | Some(Kind::NullValue(_)) => s.serialize_unit(),
            Some(Kind::BoolValue(b)) => s.serialize_bool(*b),
            Some(Kind::NumberValue(n)) => number_to_json(*n).serialize(s),
            Some(Kind::StringValue(text)) => s.serialize_str(text),
            Some(Kind::ListValue(list)) => {
                let mut seq = s.serialize_seq(Some(list.values.len()))?;
                for item in &list.values {
                    seq.serialize_element(&ProtoJson(item))?;
                }
                seq.end()
            }
            Some(Kind::StructValue(fields)) => {
                let mut map = s.serialize_map(Some(fields.fields.len()))?;
                for (k, v) in &fields.fields {
                    map.serialize_entry(k, &ProtoJson(v))?;
                }
                map.end()
            }
        }
    }
}

/// Reads any JSON value straight into a protobuf `Value`, without building a
/// `serde_json::Value` first (unmodelled fields of provider responses and
/// stream chunks are read on every request's path).
pub struct ProtoValue(pub Value);

impl<'de> Deserialize<'de> for ProtoValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ProtoValueVisitor)
    }
}

struct ProtoValueVisitor;

impl ProtoValueVisitor {
    fn value<E>(kind: Kind) -> Result<ProtoValue, E> {
        Ok(ProtoValue(Value { kind: Some(kind) }))
    }
}

impl<'de> Visitor<'de> for ProtoValueVisitor {
    type Value = ProtoValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<ProtoValue, E> {
        Self::value(Kind::NullValue(0))
    }

    fn visit_none<E>(self) -> Result<ProtoValue, E> {
        Self::value(Kind::NullValue(0))
    }

    fn visit_bool<E>(self, b: bool) -> Result<ProtoValue, E> {
        Self::value(Kind::BoolValue(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<ProtoValue, E> {
        Self::value(Kind::NumberValue(n as f64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<ProtoValue, E> {
        Self::value(Kind::NumberValue(n as f64))
    }

    fn visit_f64<E>(self, n: f64) -> Result<ProtoValue, E> {
        Self::value(Kind::NumberValue(n))
    }

    fn visit_str<E>(self, text: &str) -> Result<ProtoValue, E> {
        Self::value(Kind::StringValue(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<ProtoValue, E> {
        Self::value(Kind::StringValue(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProtoValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(ProtoValue(value)) = seq.next_element()? {
            values.push(value);
        }
        Self::value(Kind::ListValue(ListValue { values }))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProtoValue, A::Error> {
        let mut fields = Struct::default();
        while let Some((key, ProtoValue(value))) = map.next_entry::<String, _>()? {
            fields.fields.insert(key, value);
        }
        Self::value(Kind::StructValue(fields))
    }
}

/// Writes `extensions` into an object being serialized, skipping the keys
/// the object writes itself or owns (`written`), so the output never
/// repeats a key.
pub fn serialize_extensions<M: SerializeMap>(
    map: &mut M,
    extensions: Option<&Struct>,
    written: &[&str],
) -> Result<(), M::Error> {
    for (key, value) in extensions.into_iter().flat_map(|e| &e.fields) {
        if !written.contains(&key.as_str()) {
            map.serialize_entry(key, &ProtoJson(value))?;
        }
    }
    Ok(())
}

fn number_to_json(n: f64) -> Json {
    // An integral double stays an integer (a 64-bit seed too, not `9.9e18`):
    // in these ranges the casts are exact.
    if n.fract() == 0.0 && n >= i64::MIN as f64 && n < i64::MAX as f64 {
        Json::Number(Number::from(n as i64))
    } else if n.fract() == 0.0 && n > 0.0 && n < u64::MAX as f64 {
        Json::Number(Number::from(n as u64))
    } else {
        Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Direct serialization writes the same JSON as the Value conversion.
    #[test]
    fn direct_serialization_matches() {
        let json = json!({"a": [1, 2.5, null, true, "x"], "b": {"c": -3}});
        let value = value_from_json(json.clone());
        assert_eq!(serde_json::to_value(ProtoJson(&value)).unwrap(), json);
    }

    /// Reading JSON text straight into a protobuf value gives the same value
    /// as going through `serde_json::Value`.
    #[test]
    fn direct_deserialization_matches() {
        let text = r#"{"a": [1, -2, 2.5, null, true, "x\u00e9"], "b": {"c": {}}, "d": []}"#;
        let ProtoValue(direct) = serde_json::from_str(text).unwrap();
        let via_json = value_from_json(serde_json::from_str(text).unwrap());
        assert_eq!(direct, via_json);
    }

    /// JSON survives a trip through Struct unchanged, integers included.
    #[test]
    fn round_trips_json_schema() {
        let schema = json!({
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 2.5}},
            "required": ["n"],
            "additionalProperties": false,
            "nothing": null,
            "big": -9007199254740992_i64
        });
        let Json::Object(map) = schema.clone() else {
            unreachable!()
        };
        let back = Json::Object(map_from_struct(&struct_from_map(map)));
        assert_eq!(back, schema);
        assert_eq!(back.to_string(), schema.to_string());
    }
}
