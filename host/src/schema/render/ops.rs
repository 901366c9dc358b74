//! One operation as the statements that carry it out on an engine, given
//! the schema before it.

use super::rebuild::rebuild;
use super::{
    add_foreign_key, check_clause, column_definition, create_index, create_table, enum_type_name,
    literal, quote, unique_clause,
};
use crate::backend::Dialect;
use crate::schema::apply::{OpError, apply};
use crate::schema::model::{Column, ForeignKey, Schema, Table};
use crate::schema::ops::Op;
use crate::schema::types::Type;

/// What an operation runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The statements, in order.
    pub statements: Vec<String>,
    /// A SQLite table was rebuilt, so foreign keys must be checked before
    /// the transaction commits.
    pub rebuilt: bool,
}

/// The statements that carry `op` out on `dialect`, given the schema
/// `before` it.
///
/// # Errors
/// Why the operation cannot work.
pub fn render(dialect: Dialect, before: &Schema, op: &Op) -> Result<Rendered, OpError> {
    let mut after = before.clone();
    apply(&mut after, dialect, op)?;
    let mut out = Rendered::default();
    match dialect {
        Dialect::Sqlite => sqlite(before, &after, op, &mut out),
        Dialect::Postgres | Dialect::Mysql => server(dialect, before, &after, op, &mut out),
    }
    Ok(out)
}

/// The statements of `ops` in order, each rendered for the model as the
/// ones before it left it (without a database: the model stands in for
/// it). A raw `sql` operation ends the rendering, as its effect on the
/// schema is unknown.
///
/// # Errors
/// The first operation that cannot work, named.
pub fn render_all(dialect: Dialect, start: &Schema, ops: &[Op]) -> Result<Vec<String>, OpError> {
    let mut model = start.clone();
    let mut statements = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let name = |e: OpError| OpError(format!("operation {} ({}): {e}", i + 1, op.describe()));
        statements.extend(render(dialect, &model, op).map_err(name)?.statements);
        if matches!(op, Op::Sql { .. }) {
            break;
        }
        apply(&mut model, dialect, op).map_err(name)?;
    }
    Ok(statements)
}

/// The table `name` of a model that `apply` just checked.
fn get<'a>(schema: &'a Schema, name: &str) -> &'a Table {
    static EMPTY: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    schema
        .table(name)
        .unwrap_or_else(|| EMPTY.get_or_init(Table::default))
}

fn created(dialect: Dialect, after: &Schema, table: &str, out: &mut Rendered) {
    let t = get(after, table);
    out.statements.push(create_table(dialect, t, true));
    // MySQL indexes a foreign key's columns itself, under the key's name.
    let own = |name: &str| {
        dialect == Dialect::Mysql
            && t.foreign_keys
                .iter()
                .any(|k| k.name.as_deref() == Some(name))
    };
    for index in t.indexes.iter().filter(|i| !own(&i.name)) {
        out.statements.push(create_index(dialect, t, index));
    }
}
fn sqlite(before: &Schema, after: &Schema, op: &Op, out: &mut Rendered) {
    let d = Dialect::Sqlite;
    let q = |name: &str| quote(d, name);
    match op {
        Op::CreateTable { table, .. } => created(d, after, table, out),
        Op::DropTable { table, .. } => {
            // Children lose their foreign keys (cascade): their tables are
            // rebuilt without them.
            for child in &after.tables {
                let was = get(before, &child.name);
                if was.foreign_keys.iter().any(|k| k.references == *table) {
                    rebuild(before, was, child, out);
                }
            }
            out.statements.push(format!("DROP TABLE {}", q(table)));
        }
        Op::RenameTable { table, to } => {
            out.statements
                .push(format!("ALTER TABLE {} RENAME TO {}", q(table), q(to)))
        }
        Op::AddColumn { table, column } => {
            let simple = !column.unique
                && (column.nullable || column.default.is_some())
                && column.default.as_deref().is_none_or(constant_default);
            let t = get(after, table);
            match t.column(&column.name) {
                Some(c) if simple => out.statements.push(format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    q(table),
                    column_definition(d, c)
                )),
                _ => rebuild(before, get(before, table), t, out),
            }
        }
        Op::RenameColumn { table, column, to } => out.statements.push(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            q(table),
            q(column),
            q(to)
        )),
        Op::CreateIndex { table, name, .. } | Op::AddUnique { table, name, .. } => {
            let t = get(after, table);
            if let Some(index) = t.index(name) {
                out.statements.push(create_index(d, t, index));
            }
        }
        Op::DropIndex { name, .. } => out.statements.push(format!("DROP INDEX {}", q(name))),
        Op::DropConstraint { table, name }
            if get(before, table).index(name).is_some_and(|i| i.unique) =>
        {
            out.statements.push(format!("DROP INDEX {}", q(name)));
        }
        Op::Sql { up, .. } => out.statements.push(up.clone()),
        Op::DropColumn { table, .. }
        | Op::AlterColumn { table, .. }
        | Op::AddForeignKey { table, .. }
        | Op::DropForeignKey { table, .. }
        | Op::AddCheck { table, .. }
        | Op::DropConstraint { table, .. } => {
            rebuild(before, get(before, table), get(after, table), out);
        }
    }
}

/// Whether SQLite's `ADD COLUMN` accepts this default (a constant, not a
/// time or an expression in parentheses).
fn constant_default(default: &str) -> bool {
    let upper = default.trim().to_ascii_uppercase();
    !upper.starts_with('(') && !upper.starts_with("CURRENT_")
}

/// PostgreSQL and MySQL: `ALTER TABLE` does it in place.
fn server(dialect: Dialect, before: &Schema, after: &Schema, op: &Op, out: &mut Rendered) {
    let q = |name: &str| quote(dialect, name);
    let alter = |table: &str, what: String| format!("ALTER TABLE {} {what}", q(table));
    let pg = dialect == Dialect::Postgres;
    let statements = &mut out.statements;
    match op {
        Op::CreateTable { table, .. } => {
            create_enums(before, get(after, table), statements);
            created(dialect, after, table, out);
        }
        Op::DropTable { table, cascade } => {
            drop_table(dialect, before, after, table, *cascade, statements);
        }
        Op::RenameTable { table, to } if pg => {
            statements.push(alter(table, format!("RENAME TO {}", q(to))));
        }
        Op::RenameTable { table, to } => {
            statements.push(format!("RENAME TABLE {} TO {}", q(table), q(to)));
        }
        Op::AddColumn { table, column } => {
            add_column(dialect, before, get(after, table), &column.name, statements);
        }
        Op::DropColumn { table, column, .. } => {
            statements.push(alter(table, format!("DROP COLUMN {}", q(column))));
            drop_enums(before, after, get(before, table), statements);
        }
        Op::RenameColumn { table, column, to } => {
            statements.push(alter(
                table,
                format!("RENAME COLUMN {} TO {}", q(column), q(to)),
            ));
        }
        Op::AlterColumn { table, column, .. } => {
            if let (Some(old), Some(new)) = (
                get(before, table).column(column),
                get(after, table).column(column),
            ) {
                alter_column(dialect, table, old, new, statements);
            }
        }
        Op::Sql { up, .. } => statements.push(up.clone()),
        _ => keys(dialect, before, after, op, statements),
    }
}

/// Indexes and constraints, on PostgreSQL and MySQL.
fn keys(dialect: Dialect, before: &Schema, after: &Schema, op: &Op, statements: &mut Vec<String>) {
    let q = |name: &str| quote(dialect, name);
    let alter = |table: &str, what: String| format!("ALTER TABLE {} {what}", q(table));
    let pg = dialect == Dialect::Postgres;
    match op {
        Op::CreateIndex { table, name, .. } => {
            let t = get(after, table);
            if let Some(index) = t.index(name) {
                statements.push(create_index(dialect, t, index));
            }
        }
        Op::DropIndex { table, name } => statements.push(if pg {
            format!("DROP INDEX {}", q(name))
        } else {
            format!("DROP INDEX {} ON {}", q(name), q(table))
        }),
        Op::AddForeignKey { table, columns, .. } => {
            let t = get(after, table);
            if let Some(key) = t.foreign_keys.iter().find(|k| &k.columns == columns) {
                statements.push(add_foreign_key(dialect, table, key));
            }
        }
        Op::DropForeignKey { table, .. } => {
            let old = get(before, table);
            let new = get(after, table);
            for key in old
                .foreign_keys
                .iter()
                .filter(|k| !new.foreign_keys.contains(k))
            {
                statements.push(drop_foreign_key(dialect, table, key));
            }
        }
        Op::AddUnique {
            table,
            name,
            columns,
        } => {
            let unique = crate::schema::model::Unique {
                name: Some(name.clone()),
                columns: columns.clone(),
            };
            statements.push(alter(
                table,
                format!("ADD {}", unique_clause(dialect, &unique)),
            ));
        }
        Op::AddCheck {
            table,
            name,
            expression,
        } => {
            let check = crate::schema::model::Check {
                name: Some(name.clone()),
                expression: expression.clone(),
            };
            statements.push(alter(
                table,
                format!("ADD {}", check_clause(dialect, &check)),
            ));
        }
        Op::DropConstraint { table, name } => {
            statements.push(drop_constraint(dialect, get(before, table), name));
        }
        _ => {}
    }
}

/// `DROP TABLE`: on MySQL, the foreign keys pointing at it first; on
/// PostgreSQL, `CASCADE` when asked, and the enum types of its columns after.
fn drop_table(
    dialect: Dialect,
    before: &Schema,
    after: &Schema,
    table: &str,
    cascade: bool,
    statements: &mut Vec<String>,
) {
    let pg = dialect == Dialect::Postgres;
    if !pg {
        for (child, key) in crate::schema::apply::referencing(before, table) {
            statements.push(drop_foreign_key(dialect, &child, &key));
        }
    }
    let cascade = if pg && cascade { " CASCADE" } else { "" };
    statements.push(format!("DROP TABLE {}{cascade}", quote(dialect, table)));
    drop_enums(before, after, get(before, table), statements);
}

/// `ADD COLUMN` (PostgreSQL: with its enum type first), and a unique
/// constraint the column's spec asked for.
fn add_column(
    dialect: Dialect,
    before: &Schema,
    t: &Table,
    column: &str,
    statements: &mut Vec<String>,
) {
    let alter = |what: String| format!("ALTER TABLE {} {what}", quote(dialect, &t.name));
    create_enums(before, t, statements);
    if let Some(c) = t.column(column) {
        statements.push(alter(format!(
            "ADD COLUMN {}",
            column_definition(dialect, c)
        )));
    }
    let old = get(before, &t.name);
    for unique in t.uniques.iter().filter(|u| !old.uniques.contains(u)) {
        statements.push(alter(format!("ADD {}", unique_clause(dialect, unique))));
    }
}

/// `DROP CONSTRAINT`, or on MySQL what the constraint is there: a foreign
/// key or a unique index.
fn drop_constraint(dialect: Dialect, old: &Table, name: &str) -> String {
    let q = |name: &str| quote(dialect, name);
    let mysql = dialect == Dialect::Mysql;
    let what = if mysql
        && old
            .foreign_keys
            .iter()
            .any(|k| k.name.as_deref() == Some(name))
    {
        format!("DROP FOREIGN KEY {}", q(name))
    } else if mysql && old.index(name).is_some() {
        format!("DROP INDEX {}", q(name))
    } else {
        format!("DROP CONSTRAINT {}", q(name))
    };
    format!("ALTER TABLE {} {what}", q(&old.name))
}

/// PostgreSQL alters each property; MySQL restates the whole column.
fn alter_column(
    dialect: Dialect,
    table: &str,
    old: &Column,
    new: &Column,
    statements: &mut Vec<String>,
) {
    if dialect == Dialect::Postgres {
        alter_postgres(table, old, new, statements);
    } else {
        statements.push(format!(
            "ALTER TABLE {} MODIFY COLUMN {}",
            quote(dialect, table),
            column_definition(dialect, new)
        ));
    }
}

fn drop_foreign_key(dialect: Dialect, table: &str, key: &ForeignKey) -> String {
    let name = key.name.clone().unwrap_or_default();
    let what = if dialect == Dialect::Mysql {
        "FOREIGN KEY"
    } else {
        "CONSTRAINT"
    };
    format!(
        "ALTER TABLE {} DROP {what} {}",
        quote(dialect, table),
        quote(dialect, &name)
    )
}

/// PostgreSQL: one `ALTER COLUMN` per change; a default is dropped before a
/// type change (it may not cast) and set again after it.
fn alter_postgres(table: &str, old: &Column, new: &Column, statements: &mut Vec<String>) {
    let d = Dialect::Postgres;
    let column = quote(d, &new.name);
    let alter = |what: String| {
        format!(
            "ALTER TABLE {} ALTER COLUMN {column} {what}",
            quote(d, table)
        )
    };
    let retype = old.native != new.native;
    if old.default.is_some() && (retype || new.default.is_none()) {
        statements.push(alter("DROP DEFAULT".to_owned()));
    }
    if retype {
        statements.push(alter(format!(
            "TYPE {} USING {column}::{}",
            new.native, new.native
        )));
    }
    if let Some(default) = &new.default
        && (retype || old.default.as_ref() != Some(default))
    {
        statements.push(alter(format!("SET DEFAULT {default}")));
    }
    if old.nullable != new.nullable {
        statements.push(alter(
            if new.nullable {
                "DROP NOT NULL"
            } else {
                "SET NOT NULL"
            }
            .to_owned(),
        ));
    }
}

/// PostgreSQL: `CREATE TYPE` for the enum columns of `table` whose type
/// does not exist yet.
fn create_enums(before: &Schema, table: &Table, statements: &mut Vec<String>) {
    for column in &table.columns {
        if let Some(Type::Enum { values }) = &column.portable
            && !before.enums.iter().any(|e| e.name == column.native)
            && column.native == enum_type_name(&table.name, &column.name)
        {
            let labels: Vec<String> = values.iter().map(|v| literal(v)).collect();
            statements.push(format!(
                "CREATE TYPE {} AS ENUM ({})",
                quote(Dialect::Postgres, &column.native),
                labels.join(", ")
            ));
        }
    }
}

/// PostgreSQL: drops the enum types wasmig named after `table`'s columns
/// once no column uses them.
fn drop_enums(before: &Schema, after: &Schema, table: &Table, statements: &mut Vec<String>) {
    for column in &table.columns {
        let ours = column.native == enum_type_name(&table.name, &column.name);
        let known = before.enums.iter().any(|e| e.name == column.native);
        let used = after
            .tables
            .iter()
            .flat_map(|t| t.columns.iter())
            .any(|c| c.native == column.native);
        if ours && known && !used {
            statements.push(format!(
                "DROP TYPE {}",
                quote(Dialect::Postgres, &column.native)
            ));
        }
    }
}
