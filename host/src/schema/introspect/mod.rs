//! Reading a live database's schema into the model.
//!
//! Each engine is read with a handful of bulk catalog queries (columns of
//! every table at once, indexes of every table at once, …), never one query
//! per table, through the same [`Backend`] connection migrations use.
//! wasmig's own tables are left out.

mod mysql;
mod postgres;
mod sqlite;

use crate::backend::{Backend, DbError, DbErrorKind, Dialect, Value};
use crate::ledger;
use crate::lock::LEASE_TABLE;

use super::model::Schema;

/// Reads the schema of the connection's database: on PostgreSQL the schema
/// `namespace` (default: the connection's current schema, `public` unless
/// the URL says otherwise), elsewhere the database itself.
///
/// # Errors
/// Returns the database's error.
pub async fn introspect(db: &mut dyn Backend, namespace: Option<&str>) -> Result<Schema, DbError> {
    let mut schema = match db.dialect() {
        Dialect::Sqlite => sqlite::read(db).await?,
        Dialect::Postgres => {
            let namespace = match namespace {
                Some(name) => name.to_owned(),
                None => current_schema(db).await?,
            };
            postgres::read(db, &namespace).await?
        }
        Dialect::Mysql => mysql::read(db).await?,
    };
    schema.tables.retain(|t| !is_own_table(&t.name));
    schema
        .triggers
        .retain(|t| !t.table.as_deref().is_some_and(is_own_table));
    schema.sort();
    Ok(schema)
}

/// The first schema of the connection's search path (`public` unless the
/// URL or the role says otherwise).
pub(crate) async fn current_schema(db: &mut dyn Backend) -> Result<String, DbError> {
    let rows = db.query("SELECT current_schema()::text", &[]).await?;
    Ok(rows
        .rows
        .first()
        .and_then(|row| Cells(row).opt_text(0))
        .unwrap_or_else(|| "public".to_owned()))
}

/// Whether `name` is one of wasmig's own tables.
pub fn is_own_table(name: &str) -> bool {
    [
        ledger::TABLE,
        ledger::PAYLOADS,
        ledger::HISTORY,
        LEASE_TABLE,
    ]
    .contains(&name)
}

/// A catalog cell, read by position.
pub(super) struct Cells<'a>(pub(super) &'a [Value]);

impl Cells<'_> {
    /// The text at `i` (empty for NULL).
    pub(super) fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    /// The text at `i`, `None` for NULL.
    pub(super) fn opt_text(&self, i: usize) -> Option<String> {
        match self.0.get(i)? {
            Value::Null => None,
            Value::Text(s)
            | Value::Json(s)
            | Value::Uuid(s)
            | Value::Timestamp(s)
            | Value::Date(s)
            | Value::Decimal(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }

    /// The integer at `i` (0 for NULL or text that is not a number).
    pub(super) fn int(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Value::Int(n)) => *n,
            Some(Value::Boolean(b)) => i64::from(*b),
            _ => self.text(i).trim().parse().unwrap_or(0),
        }
    }

    /// The boolean at `i` (`true`, `t`, `YES`, `1`…).
    pub(super) fn flag(&self, i: usize) -> bool {
        match self.0.get(i) {
            Some(Value::Boolean(b)) => *b,
            Some(Value::Int(n)) => *n != 0,
            _ => matches!(
                self.text(i).to_ascii_lowercase().as_str(),
                "true" | "t" | "yes" | "y" | "1"
            ),
        }
    }

    /// The JSON array of strings at `i`.
    pub(super) fn strings(&self, i: usize) -> Result<Vec<String>, DbError> {
        let Some(text) = self.opt_text(i) else {
            return Ok(Vec::new());
        };
        serde_json::from_str(&text).map_err(|e| {
            DbError::new(
                DbErrorKind::Other,
                format!("reading the catalog: {e} in {text}"),
            )
        })
    }
}
