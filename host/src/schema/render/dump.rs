//! A whole schema as DDL: what `wasmig schema dump --format sql` prints,
//! and what loads the same schema into an empty database of the engine.

use super::{add_foreign_key, create_index, create_table, literal, quote};
use crate::backend::Dialect;
use crate::schema::model::{Object, Schema};

/// The statements that build `schema` in an empty database of `dialect`:
/// enum types first, then tables, foreign keys (added after every table
/// exists, except on SQLite, which keeps them in the table), indexes,
/// routines (which may name tables), views and triggers.
///
/// Routines and triggers are their full statements; on MySQL their bodies
/// hold `;`, so the script is for a client that sends it as one
/// multi-statement query (wasmig does), not for one split at `;`.
pub fn schema_sql(dialect: Dialect, schema: &Schema) -> Vec<String> {
    let mut statements = Vec::new();
    for e in &schema.enums {
        let labels: Vec<String> = e.values.iter().map(|v| literal(v)).collect();
        statements.push(format!(
            "CREATE TYPE {} AS ENUM ({})",
            quote(dialect, &e.name),
            labels.join(", ")
        ));
    }
    let inline_keys = dialect == Dialect::Sqlite;
    for table in &schema.tables {
        statements.push(create_table(dialect, table, inline_keys));
    }
    if !inline_keys {
        for table in &schema.tables {
            for key in &table.foreign_keys {
                statements.push(add_foreign_key(dialect, &table.name, key));
            }
        }
    }
    for table in &schema.tables {
        for index in &table.indexes {
            statements.push(create_index(dialect, table, index));
        }
    }
    statements.extend(schema.routines.iter().map(|r| r.definition.clone()));
    statements.extend(schema.views.iter().map(|v| view(dialect, v)));
    statements.extend(schema.triggers.iter().map(|t| t.definition.clone()));
    statements
}

/// A view: SQLite keeps the whole statement, the servers only the query.
fn view(dialect: Dialect, view: &Object) -> String {
    match dialect {
        Dialect::Sqlite => view.definition.clone(),
        _ => format!(
            "CREATE VIEW {} AS {}",
            quote(dialect, &view.name),
            view.definition.trim().trim_end_matches(';')
        ),
    }
}
