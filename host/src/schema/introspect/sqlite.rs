//! SQLite: `sqlite_schema` and the table-valued pragmas, joined so that
//! each kind of thing is one query for every table.
//!
//! SQLite keeps no catalog of check constraints: they are read from each
//! table's `CREATE TABLE` text (only tables whose text mentions `CHECK` are
//! parsed) and written back the way the parser prints them.

use std::collections::BTreeMap;

use sqlparser::ast::{ColumnOption, Expr, Statement, TableConstraint, Value as SqlValue};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

use super::Cells;
use crate::backend::{Backend, DbError, Dialect};
use crate::schema::model::{
    Action, Check, Column, ForeignKey, Index, Object, PrimaryKey, Schema, Table, Unique,
};
use crate::schema::types::Type;

const TABLES: &str = "SELECT m.name, m.sql FROM sqlite_schema m \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

const COLUMNS: &str = "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk \
     FROM sqlite_schema m JOIN pragma_table_xinfo(m.name) p \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND p.hidden = 0 \
     ORDER BY m.name, p.cid";

const INDEXES: &str = "SELECT m.name, il.name, il.\"unique\", il.origin, il.partial, ii.name, \
     s.sql FROM sqlite_schema m JOIN pragma_index_list(m.name) il \
     JOIN pragma_index_info(il.name) ii LEFT JOIN sqlite_schema s ON s.name = il.name \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND il.origin <> 'pk' \
     ORDER BY m.name, il.name, ii.seqno";

const FOREIGN_KEYS: &str = "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\", \
     f.on_update, f.on_delete FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) f \
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
     ORDER BY m.name, f.id, f.seq";

const OBJECTS: &str = "SELECT type, name, tbl_name, sql FROM sqlite_schema \
     WHERE type IN ('view', 'trigger') AND sql IS NOT NULL";

pub(super) async fn read(db: &mut dyn Backend) -> Result<Schema, DbError> {
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut sql_of = BTreeMap::new();
    for row in db.query(TABLES, &[]).await?.rows {
        let cells = Cells(&row);
        let name = cells.text(0);
        sql_of.insert(name.clone(), cells.text(1));
        tables.insert(
            name.clone(),
            Table {
                name,
                ..Table::default()
            },
        );
    }
    read_columns(db, &mut tables).await?;
    read_indexes(db, &mut tables).await?;
    read_foreign_keys(db, &mut tables).await?;
    for (name, sql) in &sql_of {
        if let Some(table) = tables.get_mut(name) {
            read_checks(table, sql);
        }
    }
    let mut schema = Schema {
        tables: tables.into_values().collect(),
        ..Schema::default()
    };
    for row in db.query(OBJECTS, &[]).await?.rows {
        let cells = Cells(&row);
        let object = Object {
            name: cells.text(1),
            table: None,
            definition: cells.text(3),
        };
        if cells.text(0) == "view" {
            schema.views.push(object);
        } else {
            schema.triggers.push(Object {
                table: Some(cells.text(2)),
                ..object
            });
        }
    }
    Ok(schema)
}

async fn read_columns(
    db: &mut dyn Backend,
    tables: &mut BTreeMap<String, Table>,
) -> Result<(), DbError> {
    let mut keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for row in db.query(COLUMNS, &[]).await?.rows {
        let cells = Cells(&row);
        let Some(table) = tables.get_mut(&cells.text(0)) else {
            continue;
        };
        let native = cells.text(2);
        let column = Column {
            name: cells.text(1),
            portable: Type::from_native(Dialect::Sqlite, &native),
            native,
            nullable: !cells.flag(3),
            default: cells.opt_text(4),
            identity: false,
        };
        let position = cells.int(5);
        if position > 0 {
            keys.entry(table.name.clone())
                .or_default()
                .push((position, column.name.clone()));
        }
        table.columns.push(column);
    }
    for (name, mut key) in keys {
        let Some(table) = tables.get_mut(&name) else {
            continue;
        };
        key.sort();
        let columns: Vec<String> = key.into_iter().map(|(_, c)| c).collect();
        // A lone INTEGER PRIMARY KEY is the rowid: SQLite assigns it. It is
        // also never NULL, whatever `notnull` says.
        if let [only] = columns.as_slice()
            && let Some(column) = table.column_mut(only)
            && column.native.eq_ignore_ascii_case("INTEGER")
        {
            column.identity = true;
            column.nullable = false;
        }
        table.primary_key = Some(PrimaryKey {
            name: None,
            columns,
        });
    }
    Ok(())
}

async fn read_indexes(
    db: &mut dyn Backend,
    tables: &mut BTreeMap<String, Table>,
) -> Result<(), DbError> {
    let mut uniques: BTreeMap<(String, String), Unique> = BTreeMap::new();
    for row in db.query(INDEXES, &[]).await?.rows {
        let cells = Cells(&row);
        let Some(table) = tables.get_mut(&cells.text(0)) else {
            continue;
        };
        let name = cells.text(1);
        if cells.text(3) == "u" {
            uniques
                .entry((table.name.clone(), name))
                .or_default()
                .columns
                .push(cells.text(5));
            continue;
        }
        if table.index(&name).is_none() {
            let (expressions, predicate) = index_parts(&cells.text(6));
            table.indexes.push(Index {
                name: name.clone(),
                columns: expressions,
                unique: cells.flag(2),
                predicate: if cells.flag(4) { predicate } else { None },
                using: None,
            });
        }
    }
    for ((table, _), unique) in uniques {
        if let Some(table) = tables.get_mut(&table) {
            table.uniques.push(unique);
        }
    }
    Ok(())
}

/// The key (column names, or expressions as the parser prints them) and the
/// `WHERE` of a `CREATE INDEX` statement.
fn index_parts(sql: &str) -> (Vec<String>, Option<String>) {
    let Ok(statements) = Parser::parse_sql(&SQLiteDialect {}, sql) else {
        return (Vec::new(), None);
    };
    match statements.into_iter().next() {
        Some(Statement::CreateIndex(index)) => (
            index
                .columns
                .iter()
                .map(|c| expression_text(&c.column.expr))
                .collect(),
            index.predicate.as_ref().map(ToString::to_string),
        ),
        _ => (Vec::new(), None),
    }
}

/// A column reference as its bare name; any other expression as printed,
/// without the parentheses around it.
fn expression_text(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::Nested(inner) => expression_text(inner),
        other => other.to_string(),
    }
}

async fn read_foreign_keys(
    db: &mut dyn Backend,
    tables: &mut BTreeMap<String, Table>,
) -> Result<(), DbError> {
    let mut keys: BTreeMap<(String, i64), ForeignKey> = BTreeMap::new();
    for row in db.query(FOREIGN_KEYS, &[]).await?.rows {
        let cells = Cells(&row);
        let key = keys
            .entry((cells.text(0), cells.int(1)))
            .or_insert_with(|| ForeignKey {
                name: None,
                references: cells.text(2),
                on_update: Action::parse(&cells.text(5)).unwrap_or_default(),
                on_delete: Action::parse(&cells.text(6)).unwrap_or_default(),
                ..ForeignKey::default()
            });
        key.columns.push(cells.text(3));
        if let Some(to) = cells.opt_text(4) {
            key.referenced_columns.push(to);
        }
    }
    for ((table, _), mut key) in keys {
        // `REFERENCES parent` without columns means the parent's key.
        if key.referenced_columns.is_empty() {
            key.referenced_columns = tables
                .get(&key.references)
                .and_then(|p| p.primary_key.as_ref())
                .map(|pk| pk.columns.clone())
                .unwrap_or_default();
        }
        if let Some(table) = tables.get_mut(&table) {
            table.foreign_keys.push(key);
        }
    }
    Ok(())
}

/// Check constraints from the table's text. A column check of the form
/// `col IN ('a', 'b')` on a TEXT column is the portable enum's spelling.
fn read_checks(table: &mut Table, sql: &str) {
    if !sql.to_ascii_lowercase().contains("check") {
        return;
    }
    let Ok(statements) = Parser::parse_sql(&SQLiteDialect {}, sql) else {
        return;
    };
    let Some(Statement::CreateTable(create)) = statements.into_iter().next() else {
        return;
    };
    let mut checks = Vec::new();
    for column in &create.columns {
        for option in &column.options {
            if let ColumnOption::Check(check) = &option.option {
                let name = option.name.as_ref().or(check.name.as_ref());
                checks.push((name.map(|n| n.value.clone()), (*check.expr).clone()));
            }
        }
    }
    for constraint in &create.constraints {
        if let TableConstraint::Check(check) = constraint {
            checks.push((
                check.name.as_ref().map(|n| n.value.clone()),
                (*check.expr).clone(),
            ));
        }
    }
    for (name, expr) in checks {
        if name.is_none() && absorb_enum(table, &expr) {
            continue;
        }
        table.checks.push(Check {
            name,
            expression: expr.to_string(),
        });
    }
}

/// Makes a TEXT column with an `IN` list of labels an enum; false when the
/// check is anything else.
fn absorb_enum(table: &mut Table, expr: &Expr) -> bool {
    let Expr::InList {
        expr: column,
        list,
        negated: false,
    } = expr
    else {
        return false;
    };
    let Expr::Identifier(ident) = column.as_ref() else {
        return false;
    };
    let mut values = Vec::new();
    for item in list {
        match item {
            Expr::Value(v) => match &v.value {
                SqlValue::SingleQuotedString(s) => values.push(s.clone()),
                _ => return false,
            },
            _ => return false,
        }
    }
    match table.column_mut(&ident.value) {
        Some(column) if column.native.eq_ignore_ascii_case("TEXT") && !values.is_empty() => {
            column.portable = Some(Type::Enum { values });
            true
        }
        _ => false,
    }
}
