//! Structural comparison of what was sent or received against what a case expects.
//!
//! JSON is compared for equality, object keys in any order. Every difference is reported
//! with its path, so an extra field, a missing field or a changed value each show up as one
//! readable line. A few placeholder strings stand for values that legitimately vary:
//!
//! | placeholder   | matches                                   |
//! |---------------|-------------------------------------------|
//! | `"{{any}}"`   | any value, but the field must be present  |
//! | `"{{string}}"`| any string                                |
//! | `"{{number}}"`| any number                                |
//!
//! An expected `null` is also met by an absent field: OpenAI-style APIs treat the two alike
//! (`"refusal": null`), and the gateway's writers omit what is unset. The reverse is not
//! true: a `null` the case does not expect is an unexpected field.

use serde_json::Value;

pub const ANY: &str = "{{any}}";
pub const STRING: &str = "{{string}}";
pub const NUMBER: &str = "{{number}}";

/// Lists every difference between `expected` and `actual`, one line each, prefixed by the
/// JSON path under `root`. Empty means they match.
pub fn json_diff(root: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(root, expected, actual, Precision::F64, &mut out);
    out
}

/// Like [`json_diff`], but numbers that are the same `f32` match: for values that travel as
/// protobuf `float` (embedding vectors), whose text form beyond f32 precision is not data.
pub fn json_diff_f32(root: &str, expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(root, expected, actual, Precision::F32, &mut out);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Precision {
    F64,
    F32,
}

fn same_number(want: &serde_json::Number, got: &serde_json::Number, precision: Precision) -> bool {
    match (want.as_f64(), got.as_f64()) {
        (Some(w), Some(g)) if precision == Precision::F32 => w as f32 == g as f32,
        (w, g) => w == g,
    }
}

fn diff_into(
    path: &str,
    expected: &Value,
    actual: &Value,
    precision: Precision,
    out: &mut Vec<String>,
) {
    match (expected, actual) {
        (Value::String(p), _) if p == ANY => {}
        (Value::String(p), Value::String(_)) if p == STRING => {}
        (Value::String(p), Value::Number(_)) if p == NUMBER => {}
        (Value::Object(want), Value::Object(got)) => {
            for (key, want_value) in want {
                let child = format!("{path}.{key}");
                match got.get(key) {
                    Some(got_value) => diff_into(&child, want_value, got_value, precision, out),
                    None if want_value.is_null() => {}
                    None => out.push(format!("{child}: missing (expected {})", short(want_value))),
                }
            }
            for (key, got_value) in got {
                if !want.contains_key(key) {
                    out.push(format!(
                        "{path}.{key}: unexpected field ({})",
                        short(got_value)
                    ));
                }
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                diff_into(&format!("{path}[{i}]"), w, g, precision, out);
            }
            if want.len() != got.len() {
                out.push(format!(
                    "{path}: expected {} items, got {}",
                    want.len(),
                    got.len()
                ));
            }
        }
        // Numbers compare by value: 1 and 1.0 are the same JSON number to every client.
        (Value::Number(want), Value::Number(got)) if same_number(want, got, precision) => {}
        _ if expected == actual => {}
        _ => out.push(format!(
            "{path}: expected {}, got {}",
            short(expected),
            short(actual)
        )),
    }
}

/// A value as one short line for a diff.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 120 {
        return text;
    }
    let cut = (0..=117)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}...", &text[..cut])
}

/// Checks headers that matter: each expected header appears exactly once with a matching value
/// (`{{any}}` accepts any value), no header listed in `absent` appears, and no header at all
/// appears twice. `actual` holds `[name, value]` pairs with lower-case names.
pub fn header_diff(
    root: &str,
    expected: &[(String, String)],
    absent: &[String],
    actual: &[(String, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    let values = |name: &str| -> Vec<&str> {
        actual
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for (name, want) in expected {
        match values(name).as_slice() {
            [] => out.push(format!("{root}.{name}: missing (expected {want:?})")),
            [got] if want == ANY || got == want => {}
            [got] => out.push(format!("{root}.{name}: expected {want:?}, got {got:?}")),
            _ => {}
        }
    }
    for name in absent {
        if let Some(got) = values(name).first() {
            out.push(format!("{root}.{name}: must not be sent, got {got:?}"));
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in actual {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        let all = values(name);
        if all.len() > 1 {
            out.push(format!("{root}.{name}: sent {} times {all:?}", all.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_extra_missing_and_changed_fields_with_paths() {
        let expected = json!({"model": "m", "messages": [{"role": "user"}], "n": 1});
        let actual = json!({"model": "m", "messages": [{"role": "system"}], "tools": []});
        assert_eq!(
            json_diff("body", &expected, &actual),
            vec![
                "body.messages[0].role: expected \"user\", got \"system\"",
                "body.n: missing (expected 1)",
                "body.tools: unexpected field ([])",
            ]
        );
    }

    #[test]
    fn placeholders_match_what_varies_and_nothing_else() {
        let expected = json!({"id": "{{string}}", "created": "{{number}}", "x": "{{any}}"});
        assert!(json_diff("", &expected, &json!({"id": "a", "created": 1, "x": null})).is_empty());
        assert_eq!(
            json_diff("", &expected, &json!({"id": 1, "created": "1"})),
            vec![
                ".created: expected \"{{number}}\", got \"1\"",
                ".id: expected \"{{string}}\", got 1",
                ".x: missing (expected \"{{any}}\")",
            ]
        );
    }

    #[test]
    fn expected_null_is_met_by_absence_but_not_the_reverse() {
        assert!(json_diff("", &json!({"refusal": null}), &json!({})).is_empty());
        assert_eq!(
            json_diff("", &json!({}), &json!({"refusal": null})),
            vec![".refusal: unexpected field (null)"]
        );
    }

    #[test]
    fn arrays_report_length_and_numbers_compare_by_value() {
        assert_eq!(
            json_diff("a", &json!([1, 2]), &json!([1.0])),
            vec!["a: expected 2 items, got 1"]
        );
    }

    #[test]
    fn f32_precision_only_where_asked() {
        let (want, got) = (json!([-0.0069352793]), json!([-0.0069352794]));
        assert!(json_diff_f32("v", &want, &got).is_empty());
        assert_eq!(
            json_diff("v", &want, &got),
            vec!["v[0]: expected -0.0069352793, got -0.0069352794"]
        );
        assert!(!json_diff_f32("v", &json!([0.2]), &json!([0.21])).is_empty());
    }

    #[test]
    fn headers_must_appear_once_and_absent_ones_never() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let actual = pairs(&[
            ("content-type", "application/json"),
            ("content-type", "application/json"),
            ("authorization", "Bearer k"),
            ("x-extra", "1"),
        ]);
        let diff = header_diff(
            "headers",
            &pairs(&[("authorization", "Bearer k"), ("x-request-id", ANY)]),
            &["x-extra".to_string()],
            &actual,
        );
        assert_eq!(
            diff,
            vec![
                "headers.x-request-id: missing (expected \"{{any}}\")",
                "headers.x-extra: must not be sent, got \"1\"",
                "headers.content-type: sent 2 times [\"application/json\", \"application/json\"]",
            ]
        );
    }
}
