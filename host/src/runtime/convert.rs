//! Conversions between the WIT types and the backend's, in one place.

use super::bindings::wasmig::migration::types as wit;
use crate::backend::{Column, DbError, DbErrorKind, Dialect, Rows, Value};

pub(crate) fn value_from_wit(value: wit::Value) -> Value {
    match value {
        wit::Value::Null => Value::Null,
        wit::Value::Boolean(b) => Value::Boolean(b),
        wit::Value::Int(i) => Value::Int(i),
        wit::Value::Float(f) => Value::Float(f),
        wit::Value::Text(s) => Value::Text(s),
        wit::Value::Bytes(b) => Value::Bytes(b),
        wit::Value::Json(s) => Value::Json(s),
        wit::Value::Uuid(s) => Value::Uuid(s),
        wit::Value::Timestamp(s) => Value::Timestamp(s),
        wit::Value::Date(s) => Value::Date(s),
        wit::Value::Decimal(s) => Value::Decimal(s),
    }
}

pub(crate) fn values_from_wit(values: Vec<wit::Value>) -> Vec<Value> {
    values.into_iter().map(value_from_wit).collect()
}

fn value_to_wit(value: Value) -> wit::Value {
    match value {
        Value::Null => wit::Value::Null,
        Value::Boolean(b) => wit::Value::Boolean(b),
        Value::Int(i) => wit::Value::Int(i),
        Value::Float(f) => wit::Value::Float(f),
        Value::Text(s) => wit::Value::Text(s),
        Value::Bytes(b) => wit::Value::Bytes(b),
        Value::Json(s) => wit::Value::Json(s),
        Value::Uuid(s) => wit::Value::Uuid(s),
        Value::Timestamp(s) => wit::Value::Timestamp(s),
        Value::Date(s) => wit::Value::Date(s),
        Value::Decimal(s) => wit::Value::Decimal(s),
    }
}

pub(crate) fn rows_to_wit(rows: Rows) -> wit::Rows {
    wit::Rows {
        columns: rows
            .columns
            .into_iter()
            .map(|Column { name, type_name }| wit::Column { name, type_name })
            .collect(),
        rows: rows
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(value_to_wit).collect())
            .collect(),
    }
}

pub(crate) fn db_error_to_wit(err: DbError) -> wit::DbError {
    wit::DbError {
        kind: match err.kind {
            DbErrorKind::Constraint => wit::ErrorKind::Constraint,
            DbErrorKind::Syntax => wit::ErrorKind::Syntax,
            DbErrorKind::PermissionDenied => wit::ErrorKind::PermissionDenied,
            DbErrorKind::Timeout => wit::ErrorKind::Timeout,
            DbErrorKind::Connection => wit::ErrorKind::Connection,
            DbErrorKind::Limit => wit::ErrorKind::Limit,
            DbErrorKind::Other => wit::ErrorKind::Other,
        },
        code: err.code,
        message: err.message,
    }
}

pub(crate) fn dialect_to_wit(dialect: Dialect) -> wit::SqlDialect {
    match dialect {
        Dialect::Sqlite => wit::SqlDialect::Sqlite,
        Dialect::Postgres => wit::SqlDialect::Postgres,
        Dialect::Mysql => wit::SqlDialect::Mysql,
    }
}
