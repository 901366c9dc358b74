//! Table operations on the model: create, drop, rename; and the model
//! column an operation's column spec makes.

use super::{OpError, fail, has_columns, table, table_mut};
use crate::backend::Dialect;
use crate::schema::model::{Column, EnumType, ForeignKey, PrimaryKey, Schema, Table, Unique};
use crate::schema::names::{enum_type_name, foreign_key_name};
use crate::schema::ops::{ColumnSpec, Op};
use crate::schema::types::Type;

/// The model column `spec` makes in `table` on `dialect`.
///
/// # Errors
/// When the spec names no type, or asks for what the engine cannot do.
pub fn column_of(dialect: Dialect, table: &str, spec: &ColumnSpec) -> Result<Column, OpError> {
    let native = match (&spec.native, &spec.portable) {
        _ if spec.identity && dialect == Dialect::Sqlite => "INTEGER".to_owned(),
        (Some(native), _) => native.clone(),
        (None, Some(portable)) => portable.native(dialect, &enum_type_name(table, &spec.name)),
        (None, None) => {
            return fail(format!(
                "column `{}` has no type: give `type` (a portable type) or `native`",
                spec.name
            ));
        }
    };
    if spec.identity
        && !matches!(
            spec.portable,
            None | Some(Type::SmallInt | Type::Integer | Type::BigInt)
        )
    {
        return fail(format!(
            "column `{}` is an identity, so its type must be smallint, integer or bigint",
            spec.name
        ));
    }
    Ok(Column {
        name: spec.name.clone(),
        portable: spec.portable.clone(),
        native,
        nullable: spec.nullable && !spec.primary_key && !spec.identity,
        default: spec.default.clone(),
        identity: spec.identity,
    })
}

/// The columns `create_table` with `timestamps` adds.
pub fn timestamp_columns() -> [ColumnSpec; 2] {
    ["created_at", "updated_at"].map(|name| ColumnSpec {
        name: name.to_owned(),
        portable: Some(Type::Timestamp),
        nullable: false,
        default: Some("CURRENT_TIMESTAMP".to_owned()),
        ..ColumnSpec::default()
    })
}

pub(super) fn create_table(schema: &mut Schema, dialect: Dialect, op: &Op) -> Result<(), OpError> {
    let Op::CreateTable {
        table: name,
        columns,
        primary_key,
        primary_key_name,
        timestamps,
        indexes,
        foreign_keys,
        uniques,
        checks,
    } = op
    else {
        return Ok(());
    };
    if schema.table(name).is_some() {
        return fail(format!("table `{name}` exists already"));
    }
    if columns.is_empty() {
        return fail(format!("table `{name}` has no columns"));
    }
    let mut specs: Vec<ColumnSpec> = columns.clone();
    if *timestamps {
        specs.extend(timestamp_columns());
    }
    let mut key: Vec<String> = primary_key.clone();
    key.extend(
        specs
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name.clone()),
    );
    let mut table = new_table(schema, dialect, name, &specs, &key)?;
    if table.columns.iter().any(|c| c.identity) && dialect == Dialect::Sqlite && key.len() != 1 {
        return fail(format!(
            "table `{name}`: on SQLite an identity column must be the whole primary key"
        ));
    }
    if !key.is_empty() {
        has_columns(&table, &key)?;
        table.primary_key = Some(PrimaryKey {
            name: primary_key_name.clone(),
            columns: key,
        });
    }
    for index in indexes {
        has_columns(&table, &index.columns)?;
    }
    table.indexes = indexes.clone();
    table.uniques.extend(uniques.iter().cloned());
    table.checks = checks.clone();
    for key in foreign_keys {
        has_columns(&table, &key.columns)?;
        if key.references != *name {
            has_columns(
                super::table(schema, &key.references)?,
                &key.referenced_columns,
            )?;
        }
    }
    // A key without a name gets the one its revert can name; SQLite keeps
    // no names.
    table.foreign_keys = foreign_keys
        .iter()
        .map(|k| ForeignKey {
            name: (dialect != Dialect::Sqlite).then(|| {
                k.name
                    .clone()
                    .unwrap_or_else(|| foreign_key_name(name, &k.columns))
            }),
            ..k.clone()
        })
        .collect();
    super::index_foreign_keys(&mut table, dialect);
    schema.tables.push(table);
    schema.sort();
    Ok(())
}

/// A table of `specs`' columns (unique ones with their constraint), its
/// key's columns not null, and PostgreSQL's enum types added to `schema`.
fn new_table(
    schema: &mut Schema,
    dialect: Dialect,
    name: &str,
    specs: &[ColumnSpec],
    key: &[String],
) -> Result<Table, OpError> {
    let mut table = Table {
        name: name.to_owned(),
        ..Table::default()
    };
    for spec in specs {
        if table.column(&spec.name).is_some() {
            return fail(format!("column `{}` is listed twice", spec.name));
        }
        let mut column = column_of(dialect, name, spec)?;
        if key.contains(&spec.name) {
            column.nullable = false;
        }
        if let (Dialect::Postgres, Some(Type::Enum { values })) = (dialect, &spec.portable)
            && !schema.enums.iter().any(|e| e.name == column.native)
        {
            schema.enums.push(EnumType {
                name: column.native.clone(),
                values: values.clone(),
            });
        }
        table.columns.push(column);
        if spec.unique {
            table.uniques.push(Unique {
                name: None,
                columns: vec![spec.name.clone()],
            });
        }
    }
    Ok(table)
}

/// The tables other than `name` whose foreign keys point at it.
pub fn referencing(schema: &Schema, name: &str) -> Vec<(String, ForeignKey)> {
    schema
        .tables
        .iter()
        .filter(|t| t.name != name)
        .flat_map(|t| {
            t.foreign_keys
                .iter()
                .filter(|k| k.references == name)
                .map(|k| (t.name.clone(), k.clone()))
        })
        .collect()
}

pub(super) fn drop_table(schema: &mut Schema, name: &str, cascade: bool) -> Result<(), OpError> {
    table(schema, name)?;
    let incoming = referencing(schema, name);
    if !incoming.is_empty() && !cascade {
        let from: Vec<String> = incoming.iter().map(|(t, _)| format!("`{t}`")).collect();
        return fail(format!(
            "table `{name}` is referenced by foreign keys of {}: drop those first, or set \
             `cascade = true` to drop them with it",
            from.join(", ")
        ));
    }
    for t in &mut schema.tables {
        t.foreign_keys
            .retain(|k| k.references != name || t.name == name);
    }
    schema.tables.retain(|t| t.name != name);
    Ok(())
}

pub(super) fn rename_table(schema: &mut Schema, name: &str, to: &str) -> Result<(), OpError> {
    if schema.table(to).is_some() {
        return fail(format!("table `{to}` exists already"));
    }
    table_mut(schema, name)?.name = to.to_owned();
    for t in &mut schema.tables {
        for key in &mut t.foreign_keys {
            if key.references == name {
                key.references = to.to_owned();
            }
        }
    }
    schema.sort();
    Ok(())
}
