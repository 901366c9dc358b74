//! The Python runtime's packed `db` calls: the same statements as
//! `db.query` and `db.execute-batch`, through the same host functions (so
//! the same policy checks, limits, trace and statements digest), with rows
//! and parameters carried as one JSON text each. CPython lifts a
//! `list<list<value>>` as one Python object per value, built in bytecode;
//! it reads JSON in C, several times faster.
//!
//! A value is JSON's own `null`, `true`/`false`, an integer, a float (with
//! a fraction or an exponent) or a string (text); the other kinds are an
//! object with one key: `{"b": hex}` bytes, `{"j": text}` JSON, `{"u": …}`
//! UUID, `{"t": …}` timestamp, `{"d": …}` date, `{"n": …}` decimal,
//! `{"f": "NaN" | "inf" | "-inf"}` a float JSON cannot write.

use std::fmt::Write as _;

use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::bindings::wasmig::migration::types::{Rows, Value};

/// `rows` as `{"columns": [[name, type], …], "rows": [[value, …], …]}`.
pub(super) fn encode_rows(rows: &Rows) -> String {
    let mut out = String::with_capacity(64 + rows.rows.len() * 32);
    out.push_str("{\"columns\":[");
    for (i, column) in rows.columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        string(&mut out, &column.name);
        out.push(',');
        string(&mut out, &column.type_name);
        out.push(']');
    }
    out.push_str("],\"rows\":[");
    for (r, row) in rows.rows.iter().enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('[');
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            encode(&mut out, value);
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

fn encode(out: &mut String, value: &Value) {
    let tagged = |out: &mut String, tag: &str, text: &str| {
        let _ = write!(out, "{{\"{tag}\":");
        string(out, text);
        out.push('}');
    };
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if f.is_finite() => {
            // `{:?}` always writes a fraction or an exponent: 2.0, 1e300.
            let _ = write!(out, "{f:?}");
        }
        Value::Float(f) if f.is_nan() => tagged(out, "f", "NaN"),
        Value::Float(f) => tagged(out, "f", if *f > 0.0 { "inf" } else { "-inf" }),
        Value::Text(s) => string(out, s),
        Value::Bytes(bytes) => tagged(out, "b", &hex::encode(bytes)),
        Value::Json(s) => tagged(out, "j", s),
        Value::Uuid(s) => tagged(out, "u", s),
        Value::Timestamp(s) => tagged(out, "t", s),
        Value::Date(s) => tagged(out, "d", s),
        Value::Decimal(s) => tagged(out, "n", s),
    }
}

fn string(out: &mut String, s: &str) {
    // Writing a str to a String cannot fail.
    let _ = serde_json::to_writer(utf8_sink(out), s);
}

/// A `std::io::Write` over a `String` that only ever receives UTF-8 (what
/// `serde_json` writes for a `str`).
fn utf8_sink(out: &mut String) -> impl std::io::Write + '_ {
    struct Utf8Sink<'a>(&'a mut String);
    impl std::io::Write for Utf8Sink<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let text = std::str::from_utf8(buf)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            self.0.push_str(text);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    Utf8Sink(out)
}

/// Parameter sets from `[[value, …], …]`.
///
/// # Errors
/// What is wrong, naming the set and the parameter.
pub(super) fn decode_sets(text: &str) -> Result<Vec<Vec<Value>>, String> {
    let sets: Vec<Vec<&RawValue>> =
        serde_json::from_str(text).map_err(|e| format!("packed parameters: {e}"))?;
    sets.into_iter()
        .enumerate()
        .map(|(s, set)| {
            set.into_iter()
                .enumerate()
                .map(|(p, raw)| {
                    decode_raw(raw.get())
                        .map_err(|e| format!("parameter set {s}, parameter {}: {e}", p + 1))
                })
                .collect()
        })
        .collect()
}

/// An integer is read from its own digits (a JSON parser would make one
/// beyond 64 bits a float); everything else as JSON.
fn decode_raw(raw: &str) -> Result<Value, String> {
    let integer =
        raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) && !raw.contains(['.', 'e', 'E']);
    if integer {
        return raw
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("{raw} does not fit a 64-bit signed integer"));
    }
    decode(serde_json::from_str(raw).map_err(|e| format!("{raw}: {e}"))?)
}

fn decode(value: Json) -> Result<Value, String> {
    Ok(match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if !n.is_f64() => Value::Int(i),
            (_, Some(f)) if n.is_f64() => Value::Float(f),
            _ => return Err(format!("{n} does not fit a 64-bit signed integer")),
        },
        Json::String(s) => Value::Text(s),
        Json::Object(map) if map.len() == 1 => {
            let Some((tag, Json::String(text))) = map.into_iter().next() else {
                return Err("a tagged value holds a string".into());
            };
            match tag.as_str() {
                "b" => Value::Bytes(hex::decode(&text).map_err(|e| format!("bytes: {e}"))?),
                "j" => Value::Json(text),
                "u" => Value::Uuid(text),
                "t" => Value::Timestamp(text),
                "d" => Value::Date(text),
                "n" => Value::Decimal(text),
                "f" => Value::Float(match text.as_str() {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    _ => f64::NAN,
                }),
                other => return Err(format!("unknown value tag {other:?}")),
            }
        }
        other => return Err(format!("{other} is not a value")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::wasmig::migration::types::Column;

    #[test]
    fn every_kind_round_trips() {
        let values = vec![
            Value::Null,
            Value::Boolean(true),
            Value::Int(i64::MIN),
            Value::Float(2.0),
            Value::Float(f64::INFINITY),
            Value::Text("é \"quoted\"\n".into()),
            Value::Bytes(vec![0, 255]),
            Value::Json("{\"a\":1}".into()),
            Value::Uuid("67e55044-10b1-426f-9247-bb680e5fe0c8".into()),
            Value::Timestamp("2024-05-01T12:30:00Z".into()),
            Value::Date("2024-05-01".into()),
            Value::Decimal("12.50".into()),
        ];
        let rows = Rows {
            columns: vec![Column {
                name: "c".into(),
                type_name: "T".into(),
            }],
            rows: vec![values.clone()],
        };
        let text = encode_rows(&rows);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let back = decode_sets(&doc["rows"].to_string()).unwrap();
        let again = Rows {
            columns: rows.columns.clone(),
            rows: back,
        };
        assert_eq!(encode_rows(&again), text);
        assert_eq!(doc["columns"], serde_json::json!([["c", "T"]]));
        assert_eq!(doc["rows"][0][3], serde_json::json!(2.0));
        assert_eq!(doc["rows"][0][6], serde_json::json!({"b": "00ff"}));
    }

    #[test]
    fn a_bad_parameter_is_named() {
        let err = decode_sets("[[1, 18446744073709551615]]").unwrap_err();
        assert!(err.contains("parameter set 0, parameter 2"), "{err}");
        let err = decode_sets("[[100000000000000000001]]").unwrap_err();
        assert!(
            err.contains("does not fit a 64-bit signed integer"),
            "{err}"
        );
        assert!(
            decode_sets("[[{\"x\": \"1\"}]]")
                .unwrap_err()
                .contains("unknown value tag")
        );
    }
}
