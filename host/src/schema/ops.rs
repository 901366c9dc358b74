//! Schema operations: the one vocabulary of changes that declarative
//! migration files, automatic downs and (later) diffs speak.
//!
//! An operation names portable types; the engine's spelling is chosen when
//! it is rendered for a database. A `native` type on a column wins over the
//! portable one: inverses recorded from a live database use it, so a
//! revert restores exactly what was there.

use serde::{Deserialize, Serialize};

use super::model::{Action, Check, Column, ForeignKey, Index, Unique};
use super::types::Type;

/// A column as an operation describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The column's name.
    pub name: String,
    /// Its portable type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub portable: Option<Type>,
    /// The engine's own type, used as it is instead of the portable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<String>,
    /// Whether NULL is allowed (default: true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub nullable: bool,
    /// The default, as a SQL expression (`'active'`, `0`,
    /// `CURRENT_TIMESTAMP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The database assigns the value.
    #[serde(default, skip_serializing_if = "is_false")]
    pub identity: bool,
    /// Shorthand: the column is the table's primary key.
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
    /// Shorthand: the column is unique on its own.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_true(b: &bool) -> bool {
    *b
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_false(b: &bool) -> bool {
    !*b
}

impl ColumnSpec {
    /// The spec that recreates a column read from a database.
    pub fn of(column: &Column) -> Self {
        Self {
            name: column.name.clone(),
            portable: column.portable.clone(),
            native: Some(column.native.clone()),
            nullable: column.nullable,
            default: column.default.clone(),
            identity: column.identity,
            primary_key: false,
            unique: false,
        }
    }
}

/// One schema change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Creates a table with its keys, indexes and constraints.
    CreateTable {
        /// The table.
        table: String,
        /// Its columns, in order.
        columns: Vec<ColumnSpec>,
        /// The primary key's columns (or mark a column `primary_key`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        primary_key: Vec<String>,
        /// The primary key constraint's name, where the engine keeps one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        primary_key_name: Option<String>,
        /// Adds `created_at` and `updated_at` (portable `timestamp`, not
        /// null, default `CURRENT_TIMESTAMP`). `updated_at` does not change
        /// by itself: set it in the statements that update rows.
        #[serde(default, skip_serializing_if = "is_false")]
        timestamps: bool,
        /// Indexes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        indexes: Vec<Index>,
        /// Foreign keys.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        foreign_keys: Vec<ForeignKey>,
        /// Unique constraints.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        uniques: Vec<Unique>,
        /// Check constraints.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checks: Vec<Check>,
    },
    /// Drops a table; with `cascade`, the foreign keys of other tables that
    /// point at it (and, on PostgreSQL, views on it) go too.
    DropTable {
        /// The table.
        table: String,
        /// Drop what depends on it too.
        #[serde(default, skip_serializing_if = "is_false")]
        cascade: bool,
    },
    /// Renames a table.
    RenameTable {
        /// The table.
        table: String,
        /// Its new name.
        to: String,
    },
    /// Adds a column.
    AddColumn {
        /// The table.
        table: String,
        /// The column.
        column: ColumnSpec,
    },
    /// Drops a column (its data is not restored by a revert).
    DropColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The default a revert gives the column back, when it is NOT NULL
        /// without a default of its own and the table has rows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revert_default: Option<String>,
    },
    /// Renames a column.
    RenameColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its new name.
        to: String,
    },
    /// Changes a column's type, nullability or default; what is not given
    /// stays as it is.
    AlterColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The new portable type.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        portable: Option<Type>,
        /// The new engine type, instead of a portable one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        native: Option<String>,
        /// Whether NULL is allowed from now on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nullable: Option<bool>,
        /// The new default (a SQL expression).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        default: Option<String>,
        /// Removes the default.
        #[serde(default, skip_serializing_if = "is_false")]
        drop_default: bool,
    },
    /// Creates an index.
    CreateIndex {
        /// The table.
        table: String,
        /// The index's name.
        name: String,
        /// Its columns (or expressions).
        columns: Vec<String>,
        /// Unique.
        #[serde(default, skip_serializing_if = "is_false")]
        unique: bool,
        /// Partial: the rows it covers (PostgreSQL, SQLite).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predicate: Option<String>,
        /// The access method, when not the default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        using: Option<String>,
    },
    /// Drops an index.
    DropIndex {
        /// The table.
        table: String,
        /// The index.
        name: String,
    },
    /// Adds a foreign key.
    AddForeignKey {
        /// The table.
        table: String,
        /// The constraint's name (SQLite keeps none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The referencing columns.
        columns: Vec<String>,
        /// The referenced table.
        references: String,
        /// The referenced columns.
        referenced_columns: Vec<String>,
        /// On delete.
        #[serde(default)]
        on_delete: Action,
        /// On update.
        #[serde(default)]
        on_update: Action,
    },
    /// Drops a foreign key, by name (or, on SQLite, by its columns).
    DropForeignKey {
        /// The table.
        table: String,
        /// The constraint's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Its columns, where it has no name.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        columns: Vec<String>,
    },
    /// Adds a unique constraint (a unique index on SQLite and MySQL, where
    /// the two are the same thing).
    AddUnique {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
        /// Its columns.
        columns: Vec<String>,
    },
    /// Adds a check constraint.
    AddCheck {
        /// The table.
        table: String,
        /// The constraint's name.
        name: String,
        /// The condition.
        expression: String,
    },
    /// Drops a unique, check or foreign-key constraint by name.
    DropConstraint {
        /// The table.
        table: String,
        /// The constraint.
        name: String,
    },
    /// Raw SQL with its own down (without one, the migration cannot be
    /// reverted).
    Sql {
        /// What runs on apply.
        up: String,
        /// What runs on revert.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        down: Option<String>,
    },
}

impl Op {
    /// The operation that creates `index` on `table`.
    pub fn create_index(table: &str, index: &Index) -> Op {
        Op::CreateIndex {
            table: table.to_owned(),
            name: index.name.clone(),
            columns: index.columns.clone(),
            unique: index.unique,
            predicate: index.predicate.clone(),
            using: index.using.clone(),
        }
    }

    /// The operation that adds `key` to `table`.
    pub fn add_foreign_key(table: &str, key: &ForeignKey) -> Op {
        Op::AddForeignKey {
            table: table.to_owned(),
            name: key.name.clone(),
            columns: key.columns.clone(),
            references: key.references.clone(),
            referenced_columns: key.referenced_columns.clone(),
            on_delete: key.on_delete,
            on_update: key.on_update,
        }
    }

    /// The operation's name, as files spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::CreateTable { .. } => "create_table",
            Op::DropTable { .. } => "drop_table",
            Op::RenameTable { .. } => "rename_table",
            Op::AddColumn { .. } => "add_column",
            Op::DropColumn { .. } => "drop_column",
            Op::RenameColumn { .. } => "rename_column",
            Op::AlterColumn { .. } => "alter_column",
            Op::CreateIndex { .. } => "create_index",
            Op::DropIndex { .. } => "drop_index",
            Op::AddForeignKey { .. } => "add_foreign_key",
            Op::DropForeignKey { .. } => "drop_foreign_key",
            Op::AddUnique { .. } => "add_unique",
            Op::AddCheck { .. } => "add_check",
            Op::DropConstraint { .. } => "drop_constraint",
            Op::Sql { .. } => "sql",
        }
    }

    /// The table the operation changes (none for raw SQL).
    pub fn table(&self) -> Option<&str> {
        match self {
            Op::CreateTable { table, .. }
            | Op::DropTable { table, .. }
            | Op::RenameTable { table, .. }
            | Op::AddColumn { table, .. }
            | Op::DropColumn { table, .. }
            | Op::RenameColumn { table, .. }
            | Op::AlterColumn { table, .. }
            | Op::CreateIndex { table, .. }
            | Op::DropIndex { table, .. }
            | Op::AddForeignKey { table, .. }
            | Op::DropForeignKey { table, .. }
            | Op::AddUnique { table, .. }
            | Op::AddCheck { table, .. }
            | Op::DropConstraint { table, .. } => Some(table),
            Op::Sql { .. } => None,
        }
    }

    /// `create_index users_email on users`, for messages.
    pub fn describe(&self) -> String {
        match self.table() {
            Some(table) => format!("{} on {table}", self.kind()),
            None => self.kind().to_owned(),
        }
    }
}

/// A declarative migration file (`<version>_<name>.schema.toml`): a list
/// of operations, `[[op]]` tables in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    /// The operations, in the order they run.
    #[serde(default, rename = "op")]
    pub ops: Vec<Op>,
}

impl SchemaFile {
    /// Reads a file's text.
    ///
    /// # Errors
    /// The TOML error, with its line, when the text is not a valid list of
    /// operations.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: SchemaFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.ops.is_empty() {
            return Err("it holds no operations: add `[[op]]` tables".to_owned());
        }
        Ok(file)
    }
}
