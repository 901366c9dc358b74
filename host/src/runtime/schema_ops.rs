//! The `schema` import's values read into the host's schema operations,
//! and an existing table handed back to a guest.

use super::bindings::wasmig::migration::schema as wit;
use crate::schema::{Action, Check, ColumnSpec, ForeignKey, Index, Op, Table, Type, Unique};

/// Why an operation a guest sent cannot be read (an unknown type).
pub(crate) type ReadError = String;

fn portable(text: Option<String>) -> Result<Option<Type>, ReadError> {
    text.map(|t| t.parse::<Type>().map_err(|e| e.to_string()))
        .transpose()
}

fn column(c: wit::Column) -> Result<ColumnSpec, ReadError> {
    Ok(ColumnSpec {
        name: c.name,
        portable: portable(c.type_)?,
        native: c.native,
        nullable: c.nullable,
        default: c.default,
        identity: c.identity,
        primary_key: c.primary_key,
        unique: c.unique,
    })
}

fn action(a: wit::Action) -> Action {
    match a {
        wit::Action::NoAction => Action::NoAction,
        wit::Action::Restrict => Action::Restrict,
        wit::Action::Cascade => Action::Cascade,
        wit::Action::SetNull => Action::SetNull,
        wit::Action::SetDefault => Action::SetDefault,
    }
}

fn key(k: wit::ForeignKey) -> ForeignKey {
    ForeignKey {
        name: k.name,
        columns: k.columns,
        references: k.references,
        referenced_columns: k.referenced_columns,
        on_delete: action(k.on_delete),
        on_update: action(k.on_update),
    }
}

fn index(i: wit::Index) -> Index {
    Index {
        name: i.name,
        columns: i.columns,
        unique: i.unique,
        predicate: i.predicate,
        using: None,
    }
}

fn create_table(t: wit::CreateTable) -> Result<Op, ReadError> {
    Ok(Op::CreateTable {
        table: t.table,
        columns: t
            .columns
            .into_iter()
            .map(column)
            .collect::<Result<_, _>>()?,
        primary_key: t.primary_key,
        primary_key_name: None,
        timestamps: t.timestamps,
        indexes: t.indexes.into_iter().map(index).collect(),
        foreign_keys: t.foreign_keys.into_iter().map(key).collect(),
        uniques: t
            .uniques
            .into_iter()
            .map(|u| Unique {
                name: Some(u.name),
                columns: u.columns,
            })
            .collect(),
        checks: Vec::<Check>::new(),
    })
}

/// A guest's operation as the host's.
pub(crate) fn op(op: wit::Op) -> Result<Op, ReadError> {
    Ok(match op {
        wit::Op::CreateTable(t) => create_table(t)?,
        wit::Op::DropTable((table, cascade)) => Op::DropTable { table, cascade },
        wit::Op::Rename(r) => match r.column {
            Some(column) => Op::RenameColumn {
                table: r.table,
                column,
                to: r.to,
            },
            None => Op::RenameTable {
                table: r.table,
                to: r.to,
            },
        },
        wit::Op::AddColumn((table, c)) => Op::AddColumn {
            table,
            column: column(c)?,
        },
        wit::Op::DropColumn((table, column, revert_default)) => Op::DropColumn {
            table,
            column,
            revert_default,
        },
        wit::Op::AlterColumn(a) => Op::AlterColumn {
            table: a.table,
            column: a.column,
            portable: portable(a.type_)?,
            native: a.native,
            nullable: a.nullable,
            default: a.default,
            drop_default: a.drop_default,
        },
        wit::Op::CreateIndex((table, i)) => {
            let i = index(i);
            Op::CreateIndex {
                table,
                name: i.name,
                columns: i.columns,
                unique: i.unique,
                predicate: i.predicate,
                using: None,
            }
        }
        wit::Op::DropIndex((table, name)) => Op::DropIndex { table, name },
        wit::Op::AddForeignKey((table, k)) => {
            let k = key(k);
            Op::AddForeignKey {
                table,
                name: k.name,
                columns: k.columns,
                references: k.references,
                referenced_columns: k.referenced_columns,
                on_delete: k.on_delete,
                on_update: k.on_update,
            }
        }
        wit::Op::DropForeignKey((table, name)) => Op::DropForeignKey {
            table,
            name: Some(name),
            columns: Vec::new(),
        },
        wit::Op::AddUnique((table, u)) => Op::AddUnique {
            table,
            name: u.name,
            columns: u.columns,
        },
        wit::Op::AddCheck((table, name, expression)) => Op::AddCheck {
            table,
            name,
            expression,
        },
        wit::Op::DropConstraint((table, name)) => Op::DropConstraint { table, name },
        wit::Op::Sql((up, down)) => Op::Sql { up, down },
    })
}

/// An existing table, as a guest sees it.
pub(crate) fn table_info(t: &Table) -> wit::TableInfo {
    wit::TableInfo {
        name: t.name.clone(),
        columns: t
            .columns
            .iter()
            .map(|c| wit::ColumnInfo {
                name: c.name.clone(),
                type_: c.portable.as_ref().map(ToString::to_string),
                native: c.native.clone(),
                nullable: c.nullable,
                default: c.default.clone(),
                identity: c.identity,
            })
            .collect(),
        primary_key: t
            .primary_key
            .as_ref()
            .map(|k| k.columns.clone())
            .unwrap_or_default(),
        indexes: t.indexes.iter().map(|i| i.name.clone()).collect(),
        foreign_keys: t
            .foreign_keys
            .iter()
            .filter_map(|k| k.name.clone())
            .collect(),
    }
}
