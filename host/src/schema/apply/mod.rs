//! What an operation does to the model: the check that it can work (the
//! tables, columns and names it needs exist, or do not yet), and the model
//! after it. The migrator runs every operation of a file through this
//! before the first one touches the database, so a file that cannot work
//! fails with nothing applied.

mod columns;
mod tables;
#[cfg(test)]
mod tests;

use self::columns::{add_column, alter_column, drop_column, rename_column};
pub use self::tables::{column_of, referencing, timestamp_columns};
use self::tables::{create_table, drop_table, rename_table};

use crate::backend::Dialect;
use crate::schema::model::{ForeignKey, Index, Schema, Table, Unique};
use crate::schema::names::foreign_key_name;
use crate::schema::ops::Op;

/// Why an operation cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, OpError> {
    Err(OpError(message.into()))
}

fn table<'a>(schema: &'a Schema, name: &str) -> Result<&'a Table, OpError> {
    schema
        .table(name)
        .ok_or_else(|| OpError(format!("there is no table `{name}`")))
}

fn table_mut<'a>(schema: &'a mut Schema, name: &str) -> Result<&'a mut Table, OpError> {
    schema
        .table_mut(name)
        .ok_or_else(|| OpError(format!("there is no table `{name}`")))
}

fn has_columns(table: &Table, columns: &[String]) -> Result<(), OpError> {
    if columns.is_empty() {
        return fail("it names no columns");
    }
    for column in columns {
        // An expression key (`lower(email)`) is the engine's to check.
        if !column.contains('(') && table.column(column).is_none() {
            return fail(format!("table `{}` has no column `{column}`", table.name));
        }
    }
    Ok(())
}

/// Index names are unique per schema on PostgreSQL and SQLite, per table on
/// MySQL.
fn index_name_free(
    schema: &Schema,
    dialect: Dialect,
    table: &str,
    name: &str,
) -> Result<(), OpError> {
    let taken = schema.tables.iter().any(|t| {
        (dialect != Dialect::Mysql || t.name == table)
            && (t.index(name).is_some()
                || t.uniques.iter().any(|u| u.name.as_deref() == Some(name)))
    });
    if taken {
        return fail(format!(
            "an index or constraint named `{name}` exists already"
        ));
    }
    Ok(())
}

/// Checks `op` against `schema` and changes the model as the operation
/// will change the database.
///
/// # Errors
/// Why the operation cannot work.
pub fn apply(schema: &mut Schema, dialect: Dialect, op: &Op) -> Result<(), OpError> {
    match op {
        Op::CreateTable { .. } => create_table(schema, dialect, op),
        Op::DropTable { table, cascade } => drop_table(schema, table, *cascade),
        Op::RenameTable { table, to } => rename_table(schema, table, to),
        Op::AddColumn { table, column } => add_column(schema, dialect, table, column),
        Op::DropColumn { table, column, .. } => drop_column(schema, table, column),
        Op::RenameColumn { table, column, to } => rename_column(schema, table, column, to),
        Op::AlterColumn { .. } => alter_column(schema, dialect, op),
        Op::CreateIndex { .. } => create_index(schema, dialect, op),
        Op::DropIndex { table, name } => drop_index(schema, dialect, table, name),
        Op::AddForeignKey { .. } => add_foreign_key(schema, dialect, op),
        Op::DropForeignKey {
            table,
            name,
            columns,
        } => drop_foreign_key(schema, table, name.as_deref(), columns),
        Op::AddUnique {
            table,
            name,
            columns,
        } => add_unique(schema, dialect, table, name, columns),
        Op::AddCheck {
            table,
            name,
            expression,
        } => {
            let t = table_mut(schema, table)?;
            if t.checks.iter().any(|c| c.name.as_ref() == Some(name)) {
                return fail(format!(
                    "table `{table}` has a check named `{name}` already"
                ));
            }
            t.checks.push(crate::schema::model::Check {
                name: Some(name.clone()),
                expression: expression.clone(),
            });
            t.sort();
            Ok(())
        }
        Op::DropConstraint { table, name } => drop_constraint(schema, table, name),
        Op::Sql { .. } => Ok(()),
    }
}

fn create_index(schema: &mut Schema, dialect: Dialect, op: &Op) -> Result<(), OpError> {
    let Op::CreateIndex {
        table,
        name,
        columns,
        unique,
        predicate,
        using,
    } = op
    else {
        return Ok(());
    };
    index_name_free(schema, dialect, table, name)?;
    let t = table_mut(schema, table)?;
    has_columns(t, columns)?;
    t.indexes.push(Index {
        name: name.clone(),
        columns: columns.clone(),
        unique: *unique,
        predicate: predicate.clone(),
        using: using.clone(),
    });
    t.sort();
    Ok(())
}

fn drop_index(
    schema: &mut Schema,
    dialect: Dialect,
    table: &str,
    name: &str,
) -> Result<(), OpError> {
    let t = table_mut(schema, table)?;
    let served_before: Vec<bool> = t
        .foreign_keys
        .iter()
        .map(|k| served(t, &k.columns))
        .collect();
    let before = t.indexes.len();
    t.indexes.retain(|i| i.name != name);
    if t.indexes.len() == before {
        return fail(format!("table `{table}` has no index `{name}`"));
    }
    // MySQL keeps an index on every foreign key's columns.
    if dialect == Dialect::Mysql {
        let lost = t
            .foreign_keys
            .iter()
            .zip(served_before)
            .find(|(k, was)| *was && !served(t, &k.columns));
        if let Some((key, _)) = lost {
            return fail(format!(
                "MySQL needs an index on the columns of foreign key `{}` ({}), and `{name}` is \
                 the only one: drop the foreign key first, or create another index on them",
                key.name.as_deref().unwrap_or_default(),
                key.columns.join(", ")
            ));
        }
    }
    Ok(())
}

/// Whether an index (or the primary key) starts with `columns`.
fn served(t: &Table, columns: &[String]) -> bool {
    t.indexes
        .iter()
        .map(|i| &i.columns)
        .chain(t.primary_key.as_ref().map(|k| &k.columns))
        .any(|c| c.starts_with(columns))
}

/// MySQL makes an index for a foreign key whose columns no index starts
/// with, named after the key.
pub(super) fn index_foreign_keys(t: &mut Table, dialect: Dialect) {
    if dialect != Dialect::Mysql {
        return;
    }
    let missing: Vec<Index> = t
        .foreign_keys
        .iter()
        .filter(|k| !served(t, &k.columns))
        .map(|k| Index {
            name: k.name.clone().unwrap_or_default(),
            columns: k.columns.clone(),
            ..Index::default()
        })
        .collect();
    t.indexes.extend(missing);
    t.sort();
}

fn drop_foreign_key(
    schema: &mut Schema,
    table: &str,
    name: Option<&str>,
    columns: &[String],
) -> Result<(), OpError> {
    let t = table_mut(schema, table)?;
    let found = t.foreign_keys.iter().position(|k| match name {
        Some(name) => k.name.as_deref() == Some(name),
        None => k.columns == columns,
    });
    let Some(i) = found else {
        return fail(format!(
            "table `{table}` has no foreign key {}",
            name.map_or_else(
                || format!("on ({})", columns.join(", ")),
                |n| format!("`{n}`")
            )
        ));
    };
    t.foreign_keys.remove(i);
    Ok(())
}

fn add_unique(
    schema: &mut Schema,
    dialect: Dialect,
    table: &str,
    name: &str,
    columns: &[String],
) -> Result<(), OpError> {
    index_name_free(schema, dialect, table, name)?;
    let t = table_mut(schema, table)?;
    has_columns(t, columns)?;
    // SQLite and MySQL keep a unique constraint as a unique index.
    if dialect == Dialect::Postgres {
        t.uniques.push(Unique {
            name: Some(name.to_owned()),
            columns: columns.to_vec(),
        });
    } else {
        t.indexes.push(Index {
            name: name.to_owned(),
            columns: columns.to_vec(),
            unique: true,
            ..Index::default()
        });
    }
    t.sort();
    Ok(())
}

fn add_foreign_key(schema: &mut Schema, dialect: Dialect, op: &Op) -> Result<(), OpError> {
    let Op::AddForeignKey {
        table: name,
        name: key_name,
        columns,
        references,
        referenced_columns,
        on_delete,
        on_update,
    } = op
    else {
        return Ok(());
    };
    has_columns(table(schema, references)?, referenced_columns)?;
    if columns.len() != referenced_columns.len() {
        return fail(format!(
            "it has {} column(s) but references {}",
            columns.len(),
            referenced_columns.len()
        ));
    }
    let t = table_mut(schema, name)?;
    has_columns(t, columns)?;
    if key_name.is_some() && t.foreign_keys.iter().any(|k| &k.name == key_name) {
        return fail(format!(
            "table `{name}` has a foreign key named `{}` already",
            key_name.as_deref().unwrap_or_default()
        ));
    }
    t.foreign_keys.push(ForeignKey {
        name: (dialect != Dialect::Sqlite).then(|| {
            key_name
                .clone()
                .unwrap_or_else(|| foreign_key_name(name, columns))
        }),
        columns: columns.clone(),
        references: references.clone(),
        referenced_columns: referenced_columns.clone(),
        on_delete: *on_delete,
        on_update: *on_update,
    });
    index_foreign_keys(t, dialect);
    Ok(())
}

fn drop_constraint(schema: &mut Schema, name: &str, constraint: &str) -> Result<(), OpError> {
    let t = table_mut(schema, name)?;
    let is = |n: &Option<String>| n.as_deref() == Some(constraint);
    let before = t.uniques.len() + t.checks.len() + t.foreign_keys.len() + t.indexes.len();
    t.uniques.retain(|u| !is(&u.name));
    t.checks.retain(|c| !is(&c.name));
    t.foreign_keys.retain(|k| !is(&k.name));
    t.indexes.retain(|i| !(i.unique && i.name == constraint));
    let after = t.uniques.len() + t.checks.len() + t.foreign_keys.len() + t.indexes.len();
    if before == after {
        return fail(format!("table `{name}` has no constraint `{constraint}`"));
    }
    Ok(())
}
