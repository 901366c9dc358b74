//! Values in and out of SQLite: cells read by their column's declared type,
//! parameters bound without copying.

use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, ValueRef};

use super::errors::to_db_error;
use crate::backend::{Column, DbError, Value};

/// The columns a statement returns, with their declared types.
pub(super) fn columns_of(stmt: &rusqlite::Statement<'_>) -> Vec<Column> {
    stmt.columns()
        .into_iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            type_name: c.decl_type().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Reads every cell of `row`, by its column's kind.
pub(super) fn read_row(row: &rusqlite::Row<'_>, kinds: &[Kind]) -> Result<Vec<Value>, DbError> {
    let mut values = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        values.push(to_value(row.get_ref(i).map_err(to_db_error)?, *kind));
    }
    Ok(values)
}

/// What a column's declared type says its cells are, beyond SQLite's own
/// storage classes: read once per statement, not once per cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Plain,
    Boolean,
    /// DECIMAL and NUMERIC columns have NUMERIC affinity: SQLite stores
    /// `12.50` as the REAL 12.5 (or `12.00` as the INTEGER 12).
    Decimal,
    Json,
    Uuid,
    Timestamp,
    Date,
}

impl Kind {
    fn of(decl_type: &str) -> Self {
        let decl = decl_type.to_ascii_uppercase();
        if decl.contains("BOOL") {
            Self::Boolean
        } else if decl.contains("JSON") {
            Self::Json
        } else if decl.contains("UUID") {
            Self::Uuid
        } else if decl.contains("TIMESTAMP") || decl.contains("DATETIME") {
            Self::Timestamp
        } else if decl == "DATE" {
            Self::Date
        } else if decl.contains("DECIMAL") || decl.contains("NUMERIC") {
            Self::Decimal
        } else {
            Self::Plain
        }
    }
}

/// The kind of each column.
pub(super) fn kinds_of(columns: &[Column]) -> Vec<Kind> {
    columns.iter().map(|c| Kind::of(&c.type_name)).collect()
}

/// Converts a SQLite cell to a [`Value`], using its column's [`Kind`] to
/// tell booleans, JSON, UUIDs, dates, timestamps and decimals from plain
/// integers and text.
pub(super) fn to_value(cell: ValueRef<'_>, kind: Kind) -> Value {
    match cell {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => match kind {
            Kind::Boolean => Value::Boolean(i != 0),
            Kind::Decimal => Value::Decimal(i.to_string()),
            _ => Value::Int(i),
        },
        ValueRef::Real(f) if kind == Kind::Decimal => Value::Decimal(f.to_string()),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(bytes) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            match kind {
                Kind::Json => Value::Json(text),
                Kind::Uuid => Value::Uuid(text),
                Kind::Timestamp => Value::Timestamp(text),
                Kind::Date => Value::Date(text),
                Kind::Decimal => Value::Decimal(text),
                Kind::Plain | Kind::Boolean => Value::Text(text),
            }
        }
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

/// Binds a [`Value`] without copying its text or bytes.
pub(super) struct Param<'a>(pub(super) &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Boolean(b) => ValueRef::Integer(i64::from(*b)),
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Float(f) => ValueRef::Real(*f),
            Value::Text(s)
            | Value::Json(s)
            | Value::Uuid(s)
            | Value::Timestamp(s)
            | Value::Date(s)
            | Value::Decimal(s) => ValueRef::Text(s.as_bytes()),
            Value::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}
