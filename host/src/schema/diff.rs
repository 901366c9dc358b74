//! The operations that turn one schema into another: `diff(A, B)` applied
//! to a database whose schema is A leaves one whose schema is B.
//!
//! Tables, columns, indexes and constraints are matched by name (SQLite's
//! unnamed foreign keys and unique constraints by their columns). A rename
//! is never guessed: a table or column that is only in B is created, one
//! only in A is dropped, unless `renames` says they are the same.
//!
//! The order keeps every step valid: keys and indexes that go are dropped
//! first, then tables, then columns change, then new tables are created
//! without their foreign keys, then indexes, unique and check constraints
//! are added, and foreign keys last (so tables may point at each other).

use super::invert::restore_table;
use super::model::{ForeignKey, Index, Schema, Table};
use super::ops::{ColumnSpec, Op};

/// A rename the diff is told about: `table` or `table.column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// The old name (`users` or `users.email`).
    pub from: String,
    /// The new name, in the same form.
    pub to: String,
}

/// The operations that turn `from` into `to`.
pub fn diff(from: &Schema, to: &Schema, renames: &[Rename]) -> Vec<Op> {
    let mut from = from.clone();
    let mut ops = Vec::new();
    apply_renames(&mut from, renames, &mut ops);
    for a in &from.tables {
        if let Some(b) = to.table(&a.name) {
            dropped_parts(a, b, &mut ops);
        }
    }
    for a in from.tables.iter().filter(|a| to.table(&a.name).is_none()) {
        ops.push(Op::DropTable {
            table: a.name.clone(),
            cascade: true,
        });
    }
    for a in &from.tables {
        if let Some(b) = to.table(&a.name) {
            columns(a, b, &mut ops);
        }
    }
    for b in to.tables.iter().filter(|b| from.table(&b.name).is_none()) {
        ops.push(created_without_keys(b));
    }
    for b in &to.tables {
        added_parts(from.table(&b.name), b, &mut ops);
    }
    for b in &to.tables {
        let a = from.table(&b.name);
        for key in b
            .foreign_keys
            .iter()
            .filter(|k| a.is_none_or(|a| !has_key(a, k)))
        {
            ops.push(Op::add_foreign_key(&b.name, key));
        }
    }
    ops
}

/// `ops` with each foreign key of a table they create moved into that
/// table's `create_table`, where the table it references exists by then
/// (before the ops, or created earlier in them). SQLite can only add a
/// foreign key by rebuilding the table, but takes one in `CREATE TABLE`.
pub fn inline_foreign_keys(ops: Vec<Op>) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops {
        if let Op::AddForeignKey {
            table, references, ..
        } = &op
        {
            let created = |name: &str| {
                out.iter()
                    .position(|o| matches!(o, Op::CreateTable { table, .. } if table == name))
            };
            if let Some(at) = created(table)
                && references != table
                && created(references).is_none_or(|r| r < at)
                && let Some(key) = foreign_key_of(&op)
                && let Op::CreateTable { foreign_keys, .. } = &mut out[at]
            {
                foreign_keys.push(key);
                continue;
            }
        }
        out.push(op);
    }
    out
}

/// The key an `add_foreign_key` operation adds.
fn foreign_key_of(op: &Op) -> Option<ForeignKey> {
    match op {
        Op::AddForeignKey {
            name,
            columns,
            references,
            referenced_columns,
            on_delete,
            on_update,
            ..
        } => Some(ForeignKey {
            name: name.clone(),
            columns: columns.clone(),
            references: references.clone(),
            referenced_columns: referenced_columns.clone(),
            on_delete: *on_delete,
            on_update: *on_update,
        }),
        _ => None,
    }
}

/// The foreign keys, indexes and constraints of `a` that `b` does not have.
fn dropped_parts(a: &Table, b: &Table, ops: &mut Vec<Op>) {
    for key in a.foreign_keys.iter().filter(|k| !has_key(b, k)) {
        ops.push(Op::DropForeignKey {
            table: a.name.clone(),
            name: key.name.clone(),
            columns: if key.name.is_some() {
                Vec::new()
            } else {
                key.columns.clone()
            },
        });
    }
    for index in a.indexes.iter().filter(|i| b.index(&i.name) != Some(*i)) {
        ops.push(Op::DropIndex {
            table: a.name.clone(),
            name: index.name.clone(),
        });
    }
    let uniques = a
        .uniques
        .iter()
        .filter(|u| !b.uniques.contains(u))
        .map(|u| &u.name);
    let checks = a
        .checks
        .iter()
        .filter(|c| !b.checks.contains(c))
        .map(|c| &c.name);
    for name in uniques.chain(checks).flatten() {
        ops.push(Op::DropConstraint {
            table: a.name.clone(),
            name: name.clone(),
        });
    }
}

/// A new table with its columns and constraints; its indexes and foreign
/// keys come later, with the others.
fn created_without_keys(b: &Table) -> Op {
    match restore_table(b) {
        Op::CreateTable {
            table,
            columns,
            primary_key,
            primary_key_name,
            uniques,
            checks,
            ..
        } => Op::CreateTable {
            table,
            columns,
            primary_key,
            primary_key_name,
            timestamps: false,
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            uniques,
            checks,
        },
        other => other,
    }
}

/// The indexes of `b` that `a` (if it exists) does not have, and its
/// unique and check constraints.
fn added_parts(a: Option<&Table>, b: &Table, ops: &mut Vec<Op>) {
    let new = |index: &&Index| a.is_none_or(|a| a.index(&index.name) != Some(*index));
    for index in b.indexes.iter().filter(new) {
        ops.push(Op::create_index(&b.name, index));
    }
    let Some(a) = a else {
        return;
    };
    for unique in b.uniques.iter().filter(|u| !a.uniques.contains(u)) {
        if let Some(name) = &unique.name {
            ops.push(Op::AddUnique {
                table: b.name.clone(),
                name: name.clone(),
                columns: unique.columns.clone(),
            });
        }
    }
    for check in b.checks.iter().filter(|c| !a.checks.contains(c)) {
        if let Some(name) = &check.name {
            ops.push(Op::AddCheck {
                table: b.name.clone(),
                name: name.clone(),
                expression: check.expression.clone(),
            });
        }
    }
}

/// Renames first, so the rest of the diff compares like with like.
/// Renames that may be what the user meant, for a tool to ask about (never
/// to assume): a table only in `from` and one only in `to` with the same
/// columns, or, within a table kept, a column only in `from` and one only
/// in `to` of the same type.
pub fn rename_candidates(from: &Schema, to: &Schema) -> Vec<Rename> {
    let mut found = Vec::new();
    let gone: Vec<&Table> = from
        .tables
        .iter()
        .filter(|a| to.table(&a.name).is_none())
        .collect();
    for b in to.tables.iter().filter(|b| from.table(&b.name).is_none()) {
        let same = |a: &&&Table| {
            a.columns.len() == b.columns.len()
                && a.columns
                    .iter()
                    .zip(&b.columns)
                    .all(|(x, y)| x.name == y.name && x.native == y.native)
        };
        if let Some(a) = gone.iter().find(same) {
            found.push(Rename {
                from: a.name.clone(),
                to: b.name.clone(),
            });
        }
    }
    for a in &from.tables {
        let Some(b) = to.table(&a.name) else { continue };
        let added: Vec<_> = b
            .columns
            .iter()
            .filter(|c| a.column(&c.name).is_none())
            .collect();
        for old in a.columns.iter().filter(|c| b.column(&c.name).is_none()) {
            if let Some(new) = added.iter().find(|c| c.native == old.native) {
                found.push(Rename {
                    from: format!("{}.{}", a.name, old.name),
                    to: format!("{}.{}", a.name, new.name),
                });
            }
        }
    }
    found
}

fn apply_renames(from: &mut Schema, renames: &[Rename], ops: &mut Vec<Op>) {
    for rename in renames {
        match (rename.from.split_once('.'), rename.to.split_once('.')) {
            (Some((table, column)), Some((_, to))) => {
                if let Some(c) = from.table_mut(table).and_then(|t| t.column_mut(column)) {
                    c.name = to.to_owned();
                    ops.push(Op::RenameColumn {
                        table: table.to_owned(),
                        column: column.to_owned(),
                        to: to.to_owned(),
                    });
                }
            }
            _ => {
                if let Some(t) = from.table_mut(&rename.from) {
                    t.name.clone_from(&rename.to);
                    ops.push(Op::RenameTable {
                        table: rename.from.clone(),
                        to: rename.to.clone(),
                    });
                }
            }
        }
    }
    from.sort();
}

fn has_key(table: &Table, key: &ForeignKey) -> bool {
    table.foreign_keys.iter().any(|k| k == key)
}

/// Columns that go, change and come, in that order.
fn columns(a: &Table, b: &Table, ops: &mut Vec<Op>) {
    // Last first, so a revert adds them back in their order.
    for column in a
        .columns
        .iter()
        .rev()
        .filter(|c| b.column(&c.name).is_none())
    {
        ops.push(Op::DropColumn {
            table: a.name.clone(),
            column: column.name.clone(),
            revert_default: None,
        });
    }
    for new in &b.columns {
        let Some(old) = a.column(&new.name) else {
            ops.push(Op::AddColumn {
                table: a.name.clone(),
                column: ColumnSpec::of(new),
            });
            continue;
        };
        if old == new {
            continue;
        }
        let retype = old.native != new.native;
        ops.push(Op::AlterColumn {
            table: a.name.clone(),
            column: new.name.clone(),
            portable: None,
            native: retype.then(|| new.native.clone()),
            nullable: (old.nullable != new.nullable).then_some(new.nullable),
            default: if old.default == new.default {
                None
            } else {
                new.default.clone()
            },
            drop_default: old.default.is_some() && new.default.is_none(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::Column;

    fn table(name: &str, columns: &[(&str, &str)]) -> Table {
        Table {
            name: name.into(),
            columns: columns
                .iter()
                .map(|(name, native)| Column {
                    name: (*name).into(),
                    native: (*native).into(),
                    ..Column::default()
                })
                .collect(),
            ..Table::default()
        }
    }

    fn schema(tables: Vec<Table>) -> Schema {
        Schema {
            tables,
            ..Schema::default()
        }
    }

    #[test]
    fn likely_renames_are_proposed_never_applied() {
        let from = schema(vec![
            table("people", &[("id", "bigint"), ("mail", "text")]),
            table("tags", &[("id", "bigint")]),
        ]);
        let to = schema(vec![
            table("people", &[("id", "bigint"), ("email", "text")]),
            table("labels", &[("id", "bigint")]),
        ]);
        let proposed: Vec<(String, String)> = rename_candidates(&from, &to)
            .into_iter()
            .map(|r| (r.from, r.to))
            .collect();
        assert_eq!(
            proposed,
            [
                ("tags".to_owned(), "labels".to_owned()),
                ("people.mail".to_owned(), "people.email".to_owned()),
            ]
        );
        // Without being told, the diff drops and adds.
        let ops = diff(&from, &to, &[]);
        assert!(
            ops.iter()
                .any(|o| matches!(o, Op::DropTable { table, .. } if table == "tags"))
        );
        assert!(
            ops.iter()
                .any(|o| matches!(o, Op::DropColumn { column, .. } if column == "mail"))
        );
    }

    #[test]
    fn foreign_keys_of_new_tables_move_into_their_create_table() {
        let from = schema(vec![table("users", &[("id", "bigint")])]);
        let mut posts = table("posts", &[("id", "bigint"), ("user_id", "bigint")]);
        posts.foreign_keys.push(ForeignKey {
            name: None,
            columns: vec!["user_id".into()],
            references: "users".into(),
            referenced_columns: vec!["id".into()],
            on_delete: Default::default(),
            on_update: Default::default(),
        });
        let to = schema(vec![posts, table("users", &[("id", "bigint")])]);
        let ops = inline_foreign_keys(diff(&from, &to, &[]));
        assert!(
            !ops.iter().any(|o| matches!(o, Op::AddForeignKey { .. })),
            "{ops:?}"
        );
        assert!(
            ops.iter().any(
                |o| matches!(o, Op::CreateTable { foreign_keys, .. } if foreign_keys.len() == 1)
            )
        );
    }
}
