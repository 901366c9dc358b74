//! Drift: how a live database differs from what its migrations produce,
//! in words an operator can act on.
//!
//! The differences are the operations of `diff(expected, live)`, each read
//! back as a finding: what is extra in the database (made by hand), what is
//! missing, and what changed.

use serde::Serialize;

use super::model::{Column, Schema};
use super::ops::Op;

/// One way the database differs from its migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `extra`, `missing` or `changed`.
    pub change: &'static str,
    /// `table`, `column`, `index`, `foreign key`, `unique constraint`,
    /// `check constraint` or `constraint`.
    pub object: &'static str,
    /// The table it belongs to (or is).
    pub table: String,
    /// Its name (`table.column` for a column, the index or constraint's
    /// name), as messages show it.
    pub name: String,
    /// What the migrations produce, for a changed column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrations: Option<String>,
    /// What the database has, for a changed column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            object,
            name,
            table,
            ..
        } = self;
        match self.change {
            "extra" => write!(
                f,
                "extra {object} `{name}`: the database has it, no migration makes it"
            ),
            "missing" => write!(
                f,
                "missing {object} `{name}`{}: the migrations make it, the database does not have it",
                if *object == "table" {
                    String::new()
                } else {
                    format!(" on `{table}`")
                }
            ),
            _ => write!(
                f,
                "changed {object} `{name}`: the migrations make {}, the database has {}",
                self.migrations.as_deref().unwrap_or("?"),
                self.database.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// The differences between `expected` (what the applied migrations
/// produce) and `live` (the database), in the order `diff` finds them.
pub fn drift(expected: &Schema, live: &Schema) -> Vec<Difference> {
    super::diff(expected, live, &[])
        .iter()
        .filter_map(|op| finding(expected, live, op))
        .collect()
}

fn finding(expected: &Schema, live: &Schema, op: &Op) -> Option<Difference> {
    let table = op.table().unwrap_or_default().to_owned();
    let found = |change, object, name: String| Difference {
        change,
        object,
        table: table.clone(),
        name,
        migrations: None,
        database: None,
    };
    Some(match op {
        Op::CreateTable { .. } => found("extra", "table", table.clone()),
        Op::DropTable { .. } => found("missing", "table", table.clone()),
        Op::AddColumn { column, .. } => {
            found("extra", "column", format!("{table}.{}", column.name))
        }
        Op::DropColumn { column, .. } => found("missing", "column", format!("{table}.{column}")),
        Op::AlterColumn { column, .. } => {
            let before = expected
                .table(&table)?
                .columns
                .iter()
                .find(|c| c.name == *column)?;
            let after = live
                .table(&table)?
                .columns
                .iter()
                .find(|c| c.name == *column)?;
            Difference {
                migrations: Some(shape(before)),
                database: Some(shape(after)),
                ..found("changed", "column", format!("{table}.{column}"))
            }
        }
        Op::CreateIndex { name, .. } => found("extra", "index", name.clone()),
        Op::DropIndex { name, .. } => found("missing", "index", name.clone()),
        Op::AddForeignKey { name, columns, .. } => found(
            "extra",
            "foreign key",
            name.clone().unwrap_or_else(|| columns.join(", ")),
        ),
        Op::DropForeignKey { name, columns, .. } => found(
            "missing",
            "foreign key",
            name.clone().unwrap_or_else(|| columns.join(", ")),
        ),
        Op::AddUnique { name, .. } => found("extra", "unique constraint", name.clone()),
        Op::AddCheck { name, .. } => found("extra", "check constraint", name.clone()),
        Op::DropConstraint { name, .. } => found("missing", "constraint", name.clone()),
        Op::RenameTable { .. } | Op::RenameColumn { .. } | Op::Sql { .. } => return None,
    })
}

/// A column's type, nullability and default, as a finding shows them.
fn shape(column: &Column) -> String {
    let mut text = format!("`{}`", column.native);
    text.push_str(if column.nullable {
        " null"
    } else {
        " not null"
    });
    if let Some(default) = &column.default {
        text.push_str(&format!(" default {default}"));
    }
    text
}
