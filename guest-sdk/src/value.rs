use crate::{Column, Error, Result, Value};

/// Converts a Rust value into a SQL parameter; used by [`params!`](crate::params).
pub trait IntoValue {
    /// The SQL value.
    fn into_value(self) -> Value;
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl IntoValue for &Value {
    fn into_value(self) -> Value {
        self.clone()
    }
}

macro_rules! int_into_value {
    ($($t:ty),*) => {$(
        impl IntoValue for $t {
            fn into_value(self) -> Value {
                Value::Int(i64::from(self))
            }
        }
    )*};
}
int_into_value!(i8, i16, i32, i64, u8, u16, u32);

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Boolean(self)
    }
}

impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Float(self)
    }
}

impl IntoValue for f32 {
    fn into_value(self) -> Value {
        Value::Float(f64::from(self))
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}

impl IntoValue for &String {
    fn into_value(self) -> Value {
        Value::Text(self.clone())
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl IntoValue for Vec<u8> {
    fn into_value(self) -> Value {
        Value::Bytes(self)
    }
}

impl IntoValue for &[u8] {
    fn into_value(self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}

/// Reads a result cell as a Rust value; used by [`Row::get`](crate::Row::get).
pub trait FromValue: Sized {
    /// Converts the cell, or explains why it cannot.
    ///
    /// # Errors
    /// When the cell holds another type (or NULL, except for `Option`).
    fn from_value(value: &Value) -> Result<Self>;
}

fn mismatch<T>(expected: &str, value: &Value) -> Result<T> {
    Err(Error::msg(format!(
        "expected {expected}, found {}",
        describe(value)
    )))
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => format!("boolean {b}"),
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::Text(s) => format!("text {s:?}"),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::Json(s) => format!("json {s}"),
        Value::Uuid(s) => format!("uuid {s}"),
        Value::Timestamp(s) => format!("timestamp {s}"),
        Value::Date(s) => format!("date {s}"),
        Value::Decimal(s) => format!("decimal {s}"),
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Int(i) => Ok(*i),
            Value::Boolean(b) => Ok(i64::from(*b)),
            Value::Decimal(s) | Value::Text(s) => match s.parse() {
                Ok(i) => Ok(i),
                Err(_) => mismatch("an integer", value),
            },
            _ => mismatch("an integer", value),
        }
    }
}

macro_rules! narrow_int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self> {
                let wide = i64::from_value(value)?;
                <$t>::try_from(wide).map_err(|_| {
                    Error::msg(format!("{wide} does not fit in {}", stringify!($t)))
                })
            }
        }
    )*};
}
narrow_int_from_value!(i32, i16, u32, u64, usize);

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::Decimal(s) => match s.parse() {
                Ok(f) => Ok(f),
                Err(_) => mismatch("a number", value),
            },
            _ => mismatch("a number", value),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Boolean(b) => Ok(*b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            _ => mismatch("a boolean", value),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Text(s)
            | Value::Json(s)
            | Value::Uuid(s)
            | Value::Timestamp(s)
            | Value::Date(s)
            | Value::Decimal(s) => Ok(s.clone()),
            // MySQL reports text with a binary collation (MariaDB's JSON
            // columns, say) as bytes.
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => Ok(s.to_owned()),
                Err(_) => mismatch("text", value),
            },
            _ => mismatch("text", value),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Bytes(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.as_bytes().to_vec()),
            _ => mismatch("bytes", value),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Picks a column by position (`0`) or by name (`"id"`).
pub trait ColumnIndex {
    /// The position of the column in `columns`.
    ///
    /// # Errors
    /// When there is no such column.
    fn index(&self, columns: &[Column]) -> Result<usize>;
}

impl ColumnIndex for usize {
    fn index(&self, columns: &[Column]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::msg(format!(
                "column {self} does not exist: the result has {} columns",
                columns.len()
            )))
        }
    }
}

impl ColumnIndex for &str {
    fn index(&self, columns: &[Column]) -> Result<usize> {
        columns
            .iter()
            .position(|c| c.name == *self)
            .or_else(|| {
                columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(self))
            })
            .ok_or_else(|| {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                Error::msg(format!(
                    "no column named `{self}` (columns: {})",
                    names.join(", ")
                ))
            })
    }
}
