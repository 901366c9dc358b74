//! Column operations on the model: add, drop, rename, alter.

use super::{OpError, column_of, fail, table_mut};
use crate::backend::Dialect;
use crate::schema::model::{EnumType, Schema, Unique};
use crate::schema::names::{enum_type_name, mentions};
use crate::schema::ops::{ColumnSpec, Op};
use crate::schema::types::Type;

pub(super) fn add_column(
    schema: &mut Schema,
    dialect: Dialect,
    name: &str,
    spec: &ColumnSpec,
) -> Result<(), OpError> {
    let t = table_mut(schema, name)?;
    if t.column(&spec.name).is_some() {
        return fail(format!(
            "table `{name}` has a column `{}` already",
            spec.name
        ));
    }
    if spec.primary_key {
        return fail(format!(
            "column `{}`: a primary key cannot be added to an existing table's column list; \
             create the table with it",
            spec.name
        ));
    }
    if spec.identity && dialect == Dialect::Sqlite {
        return fail(format!(
            "column `{}`: SQLite cannot add an identity column to an existing table",
            spec.name
        ));
    }
    let column = column_of(dialect, name, spec)?;
    if spec.unique {
        t.uniques.push(Unique {
            name: None,
            columns: vec![spec.name.clone()],
        });
    }
    t.columns.push(column);
    if let (Dialect::Postgres, Some(Type::Enum { values })) = (dialect, &spec.portable) {
        let native = enum_type_name(name, &spec.name);
        if !schema.enums.iter().any(|e| e.name == native) {
            schema.enums.push(EnumType {
                name: native,
                values: values.clone(),
            });
        }
    }
    Ok(())
}

pub(super) fn drop_column(schema: &mut Schema, name: &str, column: &str) -> Result<(), OpError> {
    let incoming = super::referencing(schema, name);
    let t = table_mut(schema, name)?;
    if t.column(column).is_none() {
        return fail(format!("table `{name}` has no column `{column}`"));
    }
    if t.columns.len() == 1 {
        return fail(format!(
            "`{column}` is the only column of `{name}`: drop the table instead"
        ));
    }
    let named = |columns: &[String]| columns.iter().any(|c| c == column);
    if t.primary_key.as_ref().is_some_and(|k| named(&k.columns)) {
        return fail(format!("`{column}` is part of the primary key of `{name}`"));
    }
    if let Some(key) = t.foreign_keys.iter().find(|k| named(&k.columns)) {
        return fail(format!(
            "`{column}` is in the foreign key {}: drop the foreign key first",
            key.name.as_deref().unwrap_or("on it")
        ));
    }
    if let Some((other, _)) = incoming.iter().find(|(_, k)| named(&k.referenced_columns)) {
        return fail(format!(
            "`{name}.{column}` is referenced by a foreign key of `{other}`: drop that first"
        ));
    }
    if let Some(check) = t.checks.iter().find(|c| mentions(&c.expression, column)) {
        return fail(format!(
            "`{column}` is used by the check {}: drop the check first",
            check
                .name
                .as_deref()
                .map_or_else(|| format!("`{}`", check.expression), |n| format!("`{n}`"))
        ));
    }
    t.columns.retain(|c| c.name != column);
    t.indexes.retain(|i| !named(&i.columns));
    t.uniques.retain(|u| !named(&u.columns));
    Ok(())
}

pub(super) fn rename_column(
    schema: &mut Schema,
    name: &str,
    column: &str,
    to: &str,
) -> Result<(), OpError> {
    let t = table_mut(schema, name)?;
    if t.column(to).is_some() {
        return fail(format!("table `{name}` has a column `{to}` already"));
    }
    let Some(c) = t.column_mut(column) else {
        return fail(format!("table `{name}` has no column `{column}`"));
    };
    c.name = to.to_owned();
    let rename = |columns: &mut Vec<String>| {
        for c in columns.iter_mut().filter(|c| c.as_str() == column) {
            *c = to.to_owned();
        }
    };
    if let Some(key) = &mut t.primary_key {
        rename(&mut key.columns);
    }
    t.indexes.iter_mut().for_each(|i| rename(&mut i.columns));
    t.uniques.iter_mut().for_each(|u| rename(&mut u.columns));
    t.foreign_keys
        .iter_mut()
        .for_each(|k| rename(&mut k.columns));
    for other in &mut schema.tables {
        for key in other
            .foreign_keys
            .iter_mut()
            .filter(|k| k.references == name)
        {
            rename(&mut key.referenced_columns);
        }
    }
    Ok(())
}

pub(super) fn alter_column(schema: &mut Schema, dialect: Dialect, op: &Op) -> Result<(), OpError> {
    let Op::AlterColumn {
        table: name,
        column,
        portable,
        native,
        nullable,
        default,
        drop_default,
    } = op
    else {
        return Ok(());
    };
    if default.is_some() && *drop_default {
        return fail("it both sets and drops the default: give one");
    }
    let t = table_mut(schema, name)?;
    let Some(c) = t.column_mut(column) else {
        return fail(format!("table `{name}` has no column `{column}`"));
    };
    if let Some(native) = native {
        c.native = native.clone();
        c.portable = Type::from_native(dialect, native);
    } else if let Some(portable) = portable {
        if matches!(portable, Type::Enum { .. }) && dialect == Dialect::Postgres {
            return fail(format!(
                "column `{column}`: changing a column to an enum is not supported on PostgreSQL; \
                 add a new column instead"
            ));
        }
        c.native = portable.native(dialect, &enum_type_name(name, column));
        c.portable = Some(portable.clone());
    }
    if let Some(nullable) = nullable {
        c.nullable = *nullable;
    }
    if let Some(default) = default {
        c.default = Some(default.clone());
    }
    if *drop_default {
        c.default = None;
    }
    Ok(())
}
