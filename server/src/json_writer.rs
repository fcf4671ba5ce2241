//! Compact JSON output: byte for byte what `serde_json::to_writer` writes,
//! checked against it by the tests below.
//!
//! serde_json escapes strings one byte at a time, and that loop was the
//! largest single cost of a chat request (10 % of its instructions: keys, ids,
//! the model and the message text, towards the provider and back to the
//! caller). serde_json has no hook for it. `sonic-rs` (tried in session 11)
//! saved less than this module and is a second parser, value type and SIMD
//! layer, and its output is not checked against serde_json's. So outgoing
//! JSON is written here: the same serde `Serialize` impls, strings checked
//! eight bytes at a time, and serde_json's number formatting (`itoa`, `zmij`).

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

/// Appends `value` as compact JSON to `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(Writer(out))
}

/// `value` as compact JSON, in a buffer that starts at `capacity` bytes
/// (sized for the usual body, so it rarely regrows).
pub fn to_vec<T: Serialize + ?Sized>(value: &T, capacity: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(capacity);
    write(&mut out, value)?;
    Ok(out)
}

/// Why a value cannot be written: a map key that is not a string, number or
/// boolean, or an error from a `Serialize` impl.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error(message.to_string())
    }
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".into())
}

/// Writes `text` as a JSON string, escaping what serde_json escapes: `"`,
/// `\` and the control characters below U+0020.
fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    match next_escape(bytes, 0) {
        None => out.extend_from_slice(bytes),
        Some(first) => write_escaped(out, bytes, first),
    }
    out.push(b'"');
}

/// The rare string with something to escape, `first` being the first byte
/// that is.
#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8], first: usize) {
    let mut start = 0;
    let mut next = Some(first);
    while let Some(at) = next {
        out.extend_from_slice(&bytes[start..at]);
        write_escape(out, bytes[at]);
        start = at + 1;
        next = next_escape(bytes, start);
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The index of the first byte from `from` on that must be escaped.
#[inline(always)]
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = &bytes[from..];
    let found = match rest.len().checked_sub(8) {
        // Eight bytes at a time; the last word overlaps the one before it,
        // whose bytes needed no escape and so are not flagged again.
        Some(last) => {
            let mut at = 0;
            loop {
                if let Some(i) = first_flagged(word(rest, at)) {
                    break Some(at + i);
                }
                if at == last {
                    break None;
                }
                at = (at + 8).min(last);
            }
        }
        // Four to seven bytes: the first four and the last four, overlapping.
        None if rest.len() >= 4 => {
            let high = rest.len() - 4;
            let both = u64::from(half(rest, 0)) | u64::from(half(rest, high)) << 32;
            first_flagged(both).map(|i| if i < 4 { i } else { high + i - 4 })
        }
        None => rest.iter().position(|&b| needs_escape(b)),
    };
    found.map(|at| from + at)
}

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn half(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// The first byte of a little-endian word that needs an escape.
fn first_flagged(word: u64) -> Option<usize> {
    match escapes_in(word) {
        0 => None,
        // The lowest flag is exact (see escapes_in).
        flagged => Some(flagged.trailing_zeros() as usize / 8),
    }
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The high bit of every byte of `word` that `needs_escape`, plus possibly
/// bits above the first such byte (borrows), never below it.
fn escapes_in(word: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * b'"' as u64);
    let backslash = word ^ (ONES * b'\\' as u64);
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v;
    (below_space | zero_in(quote) | zero_in(backslash)) & HIGHS
}

fn write_escape(out: &mut Vec<u8>, byte: u8) {
    let short: &[u8] = match byte {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let (high, low) = (HEX[(byte >> 4) as usize], HEX[(byte & 0xf) as usize]);
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', high, low]);
            return;
        }
    };
    out.extend_from_slice(short);
}

/// The `Serializer` methods of every integer type, each calling
/// `self.integer(value)`.
macro_rules! integer_methods {
    () => {
        integer_methods!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
            serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
            serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);
    };
    ($($method:ident: $type:ty),*) => {
        $(
            fn $method(self, value: $type) -> Result<(), Error> {
                self.integer(value)
            }
        )*
    };
}

/// The serializer: every value appends itself to the one buffer.
struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn raw(self, bytes: &[u8]) -> Result<(), Error> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn text(self, text: &str) -> Result<(), Error> {
        write_str(self.0, text);
        Ok(())
    }

    fn integer(self, value: impl itoa::Integer) -> Result<(), Error> {
        self.raw(itoa::Buffer::new().format(value).as_bytes())
    }

    /// Non-finite numbers have no JSON form; serde_json writes `null`.
    fn float(self, value: impl zmij::Float, finite: bool) -> Result<(), Error> {
        match finite {
            true => self.raw(zmij::Buffer::new().format_finite(value).as_bytes()),
            false => self.raw(b"null"),
        }
    }
}

/// An array, object, or an enum variant wrapped in an object, being written.
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: &'static [u8],
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut Vec<u8>, open: &[u8], close: &'static [u8]) -> Self {
        out.extend_from_slice(open);
        Compound {
            out,
            first: true,
            close,
        }
    }

    /// An object opened as `{"variant":` before `open`.
    fn variant(out: &'a mut Vec<u8>, variant: &str, open: &[u8], close: &'static [u8]) -> Self {
        out.push(b'{');
        write_str(out, variant);
        out.push(b':');
        Compound::open(out, open, close)
    }

    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.separate();
        value.serialize(Writer(self.out))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.separate();
        write_str(self.out, key);
        self.out.push(b':');
        value.serialize(Writer(self.out))
    }

    fn close(self) -> Result<(), Error> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.raw(if value { b"true" } else { b"false" })
    }

    integer_methods!();

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        self.float(value, value.is_finite())
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        self.float(value, value.is_finite())
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        self.text(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.text(value)
    }

    /// An array of numbers, as serde_json writes bytes.
    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        let mut array = Compound::open(self.0, b"[", b"]");
        for byte in value {
            array.element(byte)?;
        }
        array.close()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.raw(b"null")
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let mut object = Compound::open(self.0, b"{", b"}");
        object.field(variant, value)?;
        object.close()
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"[", b"]"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"[", b"]"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"[", b"]"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::variant(self.0, variant, b"[", b"]}"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"{", b"}"))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.0, b"{", b"}"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::variant(self.0, variant, b"{", b"}}"))
    }
}

/// The serde compounds other than maps: elements (arrays, tuples) go
/// through `Compound::element`, named fields through `Compound::field`.
macro_rules! compound_impl {
    ($trait:ident, $method:ident(value)) => {
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }

            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    };
    ($trait:ident, $method:ident(key, value)) => {
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(key, value)
            }

            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    };
}

compound_impl!(SerializeSeq, serialize_element(value));
compound_impl!(SerializeTuple, serialize_element(value));
compound_impl!(SerializeTupleStruct, serialize_field(value));
compound_impl!(SerializeTupleVariant, serialize_field(value));
compound_impl!(SerializeStruct, serialize_field(key, value));
compound_impl!(SerializeStructVariant, serialize_field(key, value));

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.separate();
        key.serialize(Key(self.out))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.out.push(b':');
        value.serialize(Writer(self.out))
    }

    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// A map key. JSON keys are strings, so numbers and booleans are written
/// quoted, as serde_json does; anything else is an error.
struct Key<'a>(&'a mut Vec<u8>);

impl Key<'_> {
    fn integer(self, value: impl itoa::Integer) -> Result<(), Error> {
        self.quoted(|w| w.integer(value))
    }

    /// A non-finite key has no form at all (a value would be `null`).
    fn float(self, value: impl zmij::Float, finite: bool) -> Result<(), Error> {
        if !finite {
            return Err(Error("float key must be finite (got NaN or +/-inf)".into()));
        }
        self.quoted(|w| w.float(value, finite))
    }

    fn quoted(self, write: impl FnOnce(Writer<'_>) -> Result<(), Error>) -> Result<(), Error> {
        self.0.push(b'"');
        write(Writer(self.0))?;
        self.0.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        Writer(self.0).text(value)
    }

    fn serialize_char(self, value: char) -> Result<(), Error> {
        Writer(self.0).serialize_char(value)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        Writer(self.0).text(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.quoted(|w| w.serialize_bool(value))
    }

    integer_methods!();

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        self.float(value, value.is_finite())
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        self.float(value, value.is_finite())
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    fn written<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = Vec::new();
        super::write(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn same_as_serde_json<T: Serialize + ?Sized>(value: &T) {
        assert_eq!(written(value), serde_json::to_string(value).unwrap());
    }

    #[test]
    fn every_escape_at_every_position() {
        // Each byte that needs escaping, and some that do not, at every
        // offset of a string longer than two 8-byte words, so the escape
        // falls in a word, across words and in the tail.
        let specials = [
            '"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\0', '\u{1f}',
        ];
        let others = [' ', '/', '\u{7f}', 'é', '€', '😀', '!', '#', ']', '|'];
        for len in 0..20 {
            for at in 0..len {
                for c in specials.iter().chain(&others) {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz"[..len].into();
                    text.replace_range(at..at + 1, &c.to_string());
                    same_as_serde_json(&text);
                    same_as_serde_json(&text.repeat(3));
                }
            }
        }
        let every_byte: String = (0..=0x7f).map(char::from).collect();
        same_as_serde_json(&every_byte);
        same_as_serde_json(&every_byte.chars().rev().collect::<String>());
    }

    #[test]
    fn every_shape_serde_json_writes() {
        #[derive(Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(i32, &'static str),
            Struct { a: Option<f32>, b: () },
        }
        #[derive(Serialize)]
        struct Record<'a> {
            #[serde(rename = "with \"quote\"")]
            quoted: bool,
            shapes: Vec<Shape>,
            bytes: &'a serde_bytes_like::Bytes,
            tuple: (u128, i128, char),
            skipped: Option<u8>,
            #[serde(skip_serializing_if = "Option::is_none")]
            absent: Option<u8>,
            unit: (),
            floats: [f64; 7],
        }
        mod serde_bytes_like {
            pub struct Bytes(pub &'static [u8]);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(self.0)
                }
            }
        }
        same_as_serde_json(&Record {
            quoted: true,
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(7),
                Shape::Tuple(-3, "x\ty"),
                Shape::Struct {
                    a: Some(0.1),
                    b: (),
                },
                Shape::Struct { a: None, b: () },
            ],
            bytes: &serde_bytes_like::Bytes(&[0, 1, 255]),
            tuple: (u128::MAX, i128::MIN, '"'),
            skipped: None,
            absent: None,
            unit: (),
            floats: [0.0, -0.0, 0.2, 1e21, 1.5e-7, f64::NAN, f64::INFINITY],
        });
        // Embedding vectors are f32.
        same_as_serde_json(&[
            0.1_f32,
            -0.022517465,
            1e-7,
            f32::MAX,
            f32::MIN_POSITIVE,
            f32::NAN,
        ]);
        same_as_serde_json(&Vec::<u8>::new());
        same_as_serde_json(&BTreeMap::<String, u8>::new());
        same_as_serde_json(&json!({"nested": [[], {}, [{"a": null}], 1, -1, 2.5, "s"]}));
    }

    #[test]
    fn map_keys_as_serde_json_writes_them() {
        same_as_serde_json(&BTreeMap::from([(1_i64, "a"), (-2, "b")]));
        same_as_serde_json(&BTreeMap::from([(true, 1), (false, 2)]));
        same_as_serde_json(&BTreeMap::from([('k', 1)]));
        same_as_serde_json(&BTreeMap::from([("tab\tkey", 1)]));
        struct FloatKeys;
        impl Serialize for FloatKeys {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map([(1.5_f64, 1), (-0.0, 2)])
            }
        }
        same_as_serde_json(&FloatKeys);
        let mut out = Vec::new();
        let error = super::write(&mut out, &BTreeMap::from([((1, 2), 3)])).unwrap_err();
        assert_eq!(error.to_string(), "key must be a string");
        assert!(serde_json::to_string(&BTreeMap::from([((1, 2), 3)])).is_err());
    }

    /// Every recorded provider body in the repository, parsed and written
    /// back, comes out as serde_json writes it.
    #[test]
    fn recorded_payloads_as_serde_json_writes_them() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance");
        let mut seen = 0;
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| e == "json" || e == "jsonl")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for value in serde_json::Deserializer::from_str(&text)
                        .into_iter::<Value>()
                        .map_while(Result::ok)
                    {
                        same_as_serde_json(&value);
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 100, "only {seen} JSON documents found");
    }
}
