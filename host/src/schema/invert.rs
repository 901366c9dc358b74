//! The automatic down: for an operation and the schema before it, the
//! operations that undo it. Recorded with the migration when it is
//! applied, so `wasmig down` reverts it without a hand-written down, and
//! after its file is gone.

use serde::{Deserialize, Serialize};

use super::apply::{OpError, referencing};
use super::model::{Schema, Table};
use super::names::mentions;
use super::ops::{ColumnSpec, Op};
use super::render::{foreign_key_name, quote};
use crate::backend::Dialect;

/// What the ledger keeps to revert a declarative migration: the inverse
/// operations, newest first, or why there are none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    /// The operations that undo the migration, in the order they run.
    #[serde(default)]
    pub ops: Vec<Op>,
    /// Set when an operation cannot be undone: says which, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irreversible: Option<String>,
}

/// The inverse of one operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inverse {
    /// The operations that undo it, in order.
    pub ops: Vec<Op>,
    /// What a revert cannot give back (dropped data), said before it runs.
    pub notes: Vec<String>,
    /// Why it cannot be undone at all.
    pub irreversible: Option<String>,
}

fn table<'a>(schema: &'a Schema, name: &str) -> Result<&'a Table, OpError> {
    schema
        .table(name)
        .ok_or_else(|| OpError(format!("there is no table `{name}`")))
}

/// The operation that recreates `t` as it is, with its keys, indexes and
/// constraints (not its rows).
pub(crate) fn restore_table(t: &Table) -> Op {
    Op::CreateTable {
        table: t.name.clone(),
        columns: t.columns.iter().map(ColumnSpec::of).collect(),
        primary_key: t
            .primary_key
            .as_ref()
            .map(|k| k.columns.clone())
            .unwrap_or_default(),
        primary_key_name: t.primary_key.as_ref().and_then(|k| k.name.clone()),
        timestamps: false,
        indexes: t.indexes.clone(),
        foreign_keys: t.foreign_keys.clone(),
        uniques: t.uniques.clone(),
        checks: t.checks.clone(),
    }
}

/// The operations that undo `op`, given the schema `before` it.
///
/// # Errors
/// When the objects `op` names do not exist in `before`.
pub fn invert(dialect: Dialect, before: &Schema, op: &Op) -> Result<Inverse, OpError> {
    let mut inverse = Inverse::default();
    let ops = &mut inverse.ops;
    match op {
        Op::CreateTable { table, .. } => ops.push(Op::DropTable {
            table: table.clone(),
            cascade: false,
        }),
        Op::DropTable {
            table: name,
            cascade,
        } => drop_table(dialect, before, name, *cascade, &mut inverse)?,
        Op::RenameTable { table, to } => ops.push(Op::RenameTable {
            table: to.clone(),
            to: table.clone(),
        }),
        Op::AddColumn { table, column } => ops.push(Op::DropColumn {
            table: table.clone(),
            column: column.name.clone(),
            revert_default: None,
        }),
        Op::DropColumn { .. } => drop_column(before, op, &mut inverse)?,
        Op::RenameColumn { table, column, to } => ops.push(Op::RenameColumn {
            table: table.clone(),
            column: to.clone(),
            to: column.clone(),
        }),
        Op::AlterColumn { .. } => ops.push(alter_column(before, op)?),
        Op::CreateIndex { table, name, .. } => ops.push(Op::DropIndex {
            table: table.clone(),
            name: name.clone(),
        }),
        Op::DropIndex {
            table: name,
            name: index,
        } => {
            let t = table(before, name)?;
            let i = t
                .index(index)
                .ok_or_else(|| OpError(format!("table `{name}` has no index `{index}`")))?;
            ops.push(Op::create_index(name, i));
        }
        Op::AddForeignKey { .. } => add_foreign_key(dialect, before, op, ops)?,
        Op::DropForeignKey {
            table: name,
            name: key,
            columns,
        } => ops.push(restore_dropped_key(before, name, key.as_deref(), columns)?),
        // SQLite and MySQL keep a unique constraint as a unique index.
        Op::AddUnique { table, name, .. } if dialect == Dialect::Postgres => {
            ops.push(Op::DropConstraint {
                table: table.clone(),
                name: name.clone(),
            });
        }
        Op::AddUnique { table, name, .. } => ops.push(Op::DropIndex {
            table: table.clone(),
            name: name.clone(),
        }),
        Op::AddCheck { table, name, .. } => ops.push(Op::DropConstraint {
            table: table.clone(),
            name: name.clone(),
        }),
        Op::DropConstraint {
            table: name,
            name: constraint,
        } => {
            ops.push(restore_constraint(table(before, name)?, constraint)?);
        }
        Op::Sql { up, down } => match down {
            Some(down) => ops.push(Op::Sql {
                up: down.clone(),
                down: Some(up.clone()),
            }),
            None => inverse.irreversible = Some(NO_DOWN.to_owned()),
        },
    }
    Ok(inverse)
}

/// The column's type, nullability and default as they were, for what the
/// operation changes.
fn alter_column(before: &Schema, op: &Op) -> Result<Op, OpError> {
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
        return Err(OpError("not an alter_column".to_owned()));
    };
    let t = table(before, name)?;
    let c = t
        .column(column)
        .ok_or_else(|| OpError(format!("table `{name}` has no column `{column}`")))?;
    let retype = portable.is_some() || native.is_some();
    let redefault = default.is_some() || *drop_default;
    Ok(Op::AlterColumn {
        table: name.clone(),
        column: column.clone(),
        portable: None,
        native: retype.then(|| c.native.clone()),
        nullable: nullable.map(|_| c.nullable),
        default: if redefault { c.default.clone() } else { None },
        drop_default: redefault && c.default.is_none(),
    })
}

/// The table recreated, with the foreign keys that pointed at it and, on
/// PostgreSQL after a cascade, the views on it.
fn drop_table(
    dialect: Dialect,
    before: &Schema,
    name: &str,
    cascade: bool,
    inverse: &mut Inverse,
) -> Result<(), OpError> {
    inverse.ops.push(restore_table(table(before, name)?));
    for (child, key) in referencing(before, name) {
        inverse.ops.push(Op::add_foreign_key(&child, &key));
    }
    if cascade && dialect == Dialect::Postgres {
        for view in before
            .views
            .iter()
            .filter(|v| mentions(&v.definition, name))
        {
            let quoted = quote(dialect, &view.name);
            inverse.ops.push(Op::Sql {
                up: format!(
                    "CREATE VIEW {quoted} AS {}",
                    view.definition.trim().trim_end_matches(';')
                ),
                down: Some(format!("DROP VIEW {quoted}")),
            });
        }
    }
    inverse.notes.push(format!(
        "a revert recreates table `{name}` empty: its rows are not restored"
    ));
    Ok(())
}

const NO_DOWN: &str = "a `sql` operation without `down` cannot be reverted";

fn restore_dropped_key(
    before: &Schema,
    name: &str,
    key: Option<&str>,
    columns: &[String],
) -> Result<Op, OpError> {
    let t = table(before, name)?;
    let found = t.foreign_keys.iter().find(|k| match key {
        Some(key) => k.name.as_deref() == Some(key),
        None => k.columns == columns,
    });
    let found = found.ok_or_else(|| OpError(format!("table `{name}` has no such foreign key")))?;
    Ok(Op::add_foreign_key(name, found))
}

fn drop_column(before: &Schema, op: &Op, inverse: &mut Inverse) -> Result<(), OpError> {
    let Op::DropColumn {
        table: name,
        column,
        revert_default,
    } = op
    else {
        return Ok(());
    };
    let t = table(before, name)?;
    let c = t
        .column(column)
        .ok_or_else(|| OpError(format!("table `{name}` has no column `{column}`")))?;
    let mut spec = ColumnSpec::of(c);
    let borrowed = c.default.is_none() && !c.nullable;
    if borrowed {
        spec.default.clone_from(revert_default);
    }
    inverse.ops.push(Op::AddColumn {
        table: name.clone(),
        column: spec,
    });
    if borrowed && revert_default.is_some() {
        inverse.ops.push(Op::AlterColumn {
            table: name.clone(),
            column: column.clone(),
            portable: None,
            native: None,
            nullable: None,
            default: None,
            drop_default: true,
        });
    }
    let named = |columns: &[String]| columns.iter().any(|c| c == column);
    for index in t.indexes.iter().filter(|i| named(&i.columns)) {
        inverse.ops.push(Op::create_index(name, index));
    }
    for unique in t.uniques.iter().filter(|u| named(&u.columns)) {
        if let Some(unique_name) = &unique.name {
            inverse.ops.push(Op::AddUnique {
                table: name.clone(),
                name: unique_name.clone(),
                columns: unique.columns.clone(),
            });
        }
    }
    inverse.notes.push(format!(
        "a revert adds column `{name}.{column}` back without its data{}",
        if borrowed && revert_default.is_none() {
            ": it is NOT NULL without a default, so the revert fails while the table has rows \
             (give the operation a `revert_default`)"
        } else {
            ""
        }
    ));
    Ok(())
}

fn add_foreign_key(
    dialect: Dialect,
    before: &Schema,
    op: &Op,
    ops: &mut Vec<Op>,
) -> Result<(), OpError> {
    let Op::AddForeignKey {
        table: name,
        name: key,
        columns,
        ..
    } = op
    else {
        return Ok(());
    };
    if dialect == Dialect::Sqlite {
        ops.push(Op::DropForeignKey {
            table: name.clone(),
            name: None,
            columns: columns.clone(),
        });
        return Ok(());
    }
    let key = key
        .clone()
        .unwrap_or_else(|| foreign_key_name(name, columns));
    ops.push(Op::DropForeignKey {
        table: name.clone(),
        name: Some(key.clone()),
        columns: Vec::new(),
    });
    // MySQL indexes a foreign key's columns itself, under the key's name,
    // unless an index starts with them already.
    let t = table(before, name)?;
    let covered = t
        .indexes
        .iter()
        .map(|i| &i.columns)
        .chain(t.primary_key.as_ref().map(|k| &k.columns))
        .any(|cols| cols.starts_with(columns));
    if dialect == Dialect::Mysql && !covered {
        ops.push(Op::DropIndex {
            table: name.clone(),
            name: key,
        });
    }
    Ok(())
}

fn restore_constraint(t: &Table, constraint: &str) -> Result<Op, OpError> {
    let is = |n: &Option<String>| n.as_deref() == Some(constraint);
    if let Some(unique) = t.uniques.iter().find(|u| is(&u.name)) {
        return Ok(Op::AddUnique {
            table: t.name.clone(),
            name: constraint.to_owned(),
            columns: unique.columns.clone(),
        });
    }
    if let Some(check) = t.checks.iter().find(|c| is(&c.name)) {
        return Ok(Op::AddCheck {
            table: t.name.clone(),
            name: constraint.to_owned(),
            expression: check.expression.clone(),
        });
    }
    if let Some(key) = t.foreign_keys.iter().find(|k| is(&k.name)) {
        return Ok(Op::add_foreign_key(&t.name, key));
    }
    if let Some(index) = t.index(constraint).filter(|i| i.unique) {
        return Ok(Op::create_index(&t.name, index));
    }
    Err(OpError(format!(
        "table `{}` has no constraint `{constraint}`",
        t.name
    )))
}

/// Indexes the engine dropped by itself (MySQL drops the index it made for
/// a foreign key once another index can serve the key) come back first
/// when the operation is undone.
pub fn restore_collateral(before: &Schema, after: &Schema, op: &Op, inverse: &mut Vec<Op>) {
    let (Some(table), Some(old)) = (op.table(), op.table().and_then(|t| before.table(t))) else {
        return;
    };
    let Some(new) = after.table(table) else {
        return;
    };
    let restored = |name: &str| {
        inverse
            .iter()
            .any(|o| matches!(o, Op::CreateIndex { name: n, .. } if n == name))
    };
    let dropped_by_op = |name: &str| matches!(op, Op::DropIndex { name: n, .. } if n == name);
    let lost: Vec<Op> = old
        .indexes
        .iter()
        .filter(|i| new.index(&i.name).is_none())
        .filter(|i| !restored(&i.name) && !dropped_by_op(&i.name))
        .map(|i| Op::CreateIndex {
            table: table.to_owned(),
            name: i.name.clone(),
            columns: i.columns.clone(),
            unique: i.unique,
            predicate: i.predicate.clone(),
            using: i.using.clone(),
        })
        .collect();
    inverse.splice(0..0, lost);
}
