//! Parameters, encoded for the types PostgreSQL inferred for them: a `text`
//! value can fill a `uuid`, `jsonb`, `timestamptz` or `numeric` parameter,
//! and a value that does not fit gets an error naming the parameter and its
//! type.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use sqlx::postgres::{PgArguments, PgTypeInfo, PgTypeKind};
use sqlx::types::BigDecimal;
use sqlx::{Arguments, Statement, TypeInfo};

use crate::backend::{DbError, DbErrorKind, Value};

/// Encodes `params` for the parameter types the server inferred for `stmt`.
pub(super) fn encode_all(
    stmt: &sqlx::postgres::PgStatement,
    params: &[Value],
) -> Result<PgArguments, DbError> {
    let types: Vec<PgTypeInfo> = match stmt.parameters() {
        Some(sqlx::Either::Left(types)) => types.to_vec(),
        _ => Vec::new(),
    };
    if types.len() != params.len() {
        return Err(DbError::new(
            DbErrorKind::Syntax,
            format!(
                "the statement takes {} parameters, {} were given",
                types.len(),
                params.len()
            ),
        ));
    }
    let mut args = PgArguments::default();
    for (i, (value, ty)) in params.iter().zip(&types).enumerate() {
        encode(&mut args, value, ty).map_err(|why| {
            DbError::new(
                DbErrorKind::Syntax,
                format!("parameter ${} ({}): {why}", i + 1, ty.name()),
            )
        })?;
    }
    Ok(args)
}

/// `value` as a JSON document.
fn raw_json<T: serde::Serialize>(value: &T) -> Result<Box<serde_json::value::RawValue>, String> {
    serde_json::value::to_raw_value(value).map_err(|e| format!("invalid JSON: {e}"))
}

/// Encodes one value for a parameter of type `ty`.
fn encode(args: &mut PgArguments, value: &Value, ty: &PgTypeInfo) -> Result<(), String> {
    if matches!(value, Value::Null) {
        return add(args.add(None::<i32>));
    }
    let name = ty.name();
    match name {
        "BOOL" => match value {
            Value::Boolean(b) => add(args.add(*b)),
            Value::Int(i @ (0 | 1)) => add(args.add(*i == 1)),
            _ => Err(cannot_take(value)),
        },
        "INT2" | "INT4" | "INT8" => encode_integer(args, value, name),
        "FLOAT4" | "FLOAT8" => encode_float(args, value, name),
        "NUMERIC" => encode_numeric(args, value),
        "JSON" | "JSONB" => encode_json(args, value),
        "UUID" | "TIMESTAMPTZ" | "TIMESTAMP" | "DATE" | "TIME" => {
            encode_parsed_text(args, value, name)
        }
        "BYTEA" => match value {
            Value::Bytes(b) => add(args.add(b.clone())),
            Value::Text(s) => add(args.add(s.as_bytes().to_vec())),
            _ => Err(cannot_take(value)),
        },
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => {
            encode_text(args, value)
        }
        _ if matches!(ty.kind(), PgTypeKind::Enum(_)) => match text_of(value) {
            // An enum's binary form is its label.
            Some(label) => add(args.add(EnumLabel(label.to_owned(), ty.clone()))),
            None => Err(cannot_take(value)),
        },
        _ => Err(format!(
            "wasmig cannot pass values of this type; cast in SQL instead, e.g. `$1::text::{}`",
            name.to_ascii_lowercase()
        )),
    }
}

/// The outcome of adding one argument, its error as text.
fn add(result: Result<(), sqlx::error::BoxDynError>) -> Result<(), String> {
    result.map_err(|e| e.to_string())
}

/// Why `value` does not fit the parameter.
fn cannot_take(value: &Value) -> String {
    format!("cannot take {}", describe(value))
}

/// The text of `value`, for a parameter that parses text.
fn required_text(value: &Value) -> Result<&str, String> {
    text_of(value).ok_or_else(|| cannot_take(value))
}

/// An `int2`, `int4` or `int8` (named `name`), from an integer, a boolean
/// or digits.
fn encode_integer(args: &mut PgArguments, value: &Value, name: &str) -> Result<(), String> {
    let i = match value {
        Value::Int(i) => *i,
        Value::Boolean(b) => i64::from(*b),
        Value::Decimal(s) | Value::Text(s) => s.trim().parse().map_err(|_| cannot_take(value))?,
        _ => return Err(cannot_take(value)),
    };
    match name {
        "INT2" => add(args.add(i16::try_from(i).map_err(|_| format!("{i} is out of range"))?)),
        "INT4" => add(args.add(i32::try_from(i).map_err(|_| format!("{i} is out of range"))?)),
        _ => add(args.add(i)),
    }
}

/// A `float4` or `float8` (named `name`), from a number or its text.
fn encode_float(args: &mut PgArguments, value: &Value, name: &str) -> Result<(), String> {
    let f = match value {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        Value::Decimal(s) | Value::Text(s) => s.trim().parse().map_err(|_| cannot_take(value))?,
        _ => return Err(cannot_take(value)),
    };
    if name == "FLOAT4" {
        add(args.add(f as f32))
    } else {
        add(args.add(f))
    }
}

/// A `numeric`, exact from an integer or text.
fn encode_numeric(args: &mut PgArguments, value: &Value) -> Result<(), String> {
    let d = match value {
        Value::Int(i) => BigDecimal::from(*i),
        Value::Float(f) => BigDecimal::from_str(&f.to_string()).map_err(|_| cannot_take(value))?,
        _ => BigDecimal::from_str(required_text(value)?.trim()).map_err(|_| cannot_take(value))?,
    };
    add(args.add(d))
}

/// A `json` or `jsonb` document.
fn encode_json(args: &mut PgArguments, value: &Value) -> Result<(), String> {
    // Checked, then sent as written: a batch's JSON document is not built
    // into a tree only to be printed again.
    let j = match value {
        Value::Json(s) | Value::Text(s) => serde_json::value::RawValue::from_string(s.clone())
            .map_err(|e| format!("invalid JSON: {e}"))?,
        Value::Int(i) => raw_json(i)?,
        Value::Float(f) => raw_json(f)?,
        Value::Boolean(b) => raw_json(b)?,
        _ => return Err(cannot_take(value)),
    };
    add(args.add(sqlx::types::Json(j)))
}

/// A `uuid`, `timestamptz`, `timestamp`, `date` or `time` (named `name`),
/// parsed from its text.
fn encode_parsed_text(args: &mut PgArguments, value: &Value, name: &str) -> Result<(), String> {
    let text = required_text(value)?;
    let text = text.trim();
    let bad = || cannot_take(value);
    match name {
        "UUID" => add(args.add(sqlx::types::Uuid::parse_str(text).map_err(|_| bad())?)),
        "TIMESTAMPTZ" => add(args.add(parse_timestamp(text)?.and_utc())),
        "TIMESTAMP" => add(args.add(parse_timestamp(text)?)),
        "DATE" => add(args.add(NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())?)),
        _ => add(args.add(NaiveTime::from_str(text).map_err(|_| bad())?)),
    }
}

/// A text parameter: text as it is, numbers and booleans as they print.
fn encode_text(args: &mut PgArguments, value: &Value) -> Result<(), String> {
    match value {
        Value::Int(i) => add(args.add(i.to_string())),
        Value::Float(f) => add(args.add(f.to_string())),
        Value::Boolean(b) => add(args.add(b.to_string())),
        _ => add(args.add(required_text(value)?.to_owned())),
    }
}

/// A text label sent as a value of a PostgreSQL enum type.
struct EnumLabel(String, PgTypeInfo);

impl sqlx::Type<sqlx::Postgres> for EnumLabel {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("text")
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for EnumLabel {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.0.as_str(), buf)
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.1.clone())
    }
}

fn text_of(value: &Value) -> Option<&str> {
    match value {
        Value::Text(s)
        | Value::Json(s)
        | Value::Uuid(s)
        | Value::Timestamp(s)
        | Value::Date(s)
        | Value::Decimal(s) => Some(s),
        _ => None,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Int(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the float {f}"),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::Text(s) => format!("the text {s:?}"),
        Value::Json(s) => format!("the JSON {s}"),
        Value::Uuid(s) => format!("the UUID {s}"),
        Value::Timestamp(s) => format!("the timestamp {s}"),
        Value::Date(s) => format!("the date {s}"),
        Value::Decimal(s) => format!("the decimal {s}"),
    }
}

/// Parses an RFC 3339 timestamp (with an offset: converted to UTC) or a
/// naive `YYYY-MM-DD[T ]HH:MM:SS[.f]`.
pub(crate) fn parse_timestamp(text: &str) -> Result<NaiveDateTime, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.naive_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t);
        }
    }
    Err(format!("`{text}` is not an RFC 3339 timestamp"))
}
