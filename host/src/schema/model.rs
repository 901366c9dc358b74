//! The schema model: what a database's tables are, as plain data.
//!
//! Every list is kept in a stable order (tables, indexes and constraints by
//! name, columns by position), so two models of equal databases are equal
//! and a dump is the same text twice.

use serde::{Deserialize, Serialize};

use super::types::Type;

/// A database schema: its tables and, listed but not modelled further, its
/// views, triggers and routines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Tables, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<Table>,
    /// PostgreSQL enum types, by name (other engines keep an enum's values
    /// on its column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enums: Vec<EnumType>,
    /// Views, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<Object>,
    /// Triggers, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Object>,
    /// Functions and procedures, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routines: Vec<Object>,
}

impl Schema {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The table named `name`, to change.
    pub fn table_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.iter_mut().find(|t| t.name == name)
    }

    /// Puts every list in its stable order.
    pub fn sort(&mut self) {
        self.tables.sort_by(|a, b| a.name.cmp(&b.name));
        for table in &mut self.tables {
            table.sort();
        }
        self.enums.sort_by(|a, b| a.name.cmp(&b.name));
        for list in [&mut self.views, &mut self.triggers, &mut self.routines] {
            list.sort_by(|a, b| (&a.name, &a.table).cmp(&(&b.name, &b.table)));
        }
    }
}

/// One table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// Columns, in their order in the table.
    pub columns: Vec<Column>,
    /// The primary key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<PrimaryKey>,
    /// Indexes other than the ones backing the primary key and unique
    /// constraints, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<Index>,
    /// Foreign keys, by name (then columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    /// Unique constraints, by name (then columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uniques: Vec<Unique>,
    /// Check constraints, by name (then expression).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column named `name`, to change.
    pub fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns.iter_mut().find(|c| c.name == name)
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Puts indexes and constraints in their stable order (columns keep
    /// the table's order).
    pub fn sort(&mut self) {
        self.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        self.foreign_keys
            .sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
        self.uniques
            .sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
        self.checks
            .sort_by(|a, b| (&a.name, &a.expression).cmp(&(&b.name, &b.expression)));
    }
}

/// One column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// The portable type, when the engine's type has one.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub portable: Option<Type>,
    /// The type as the engine reports it (`character varying(255)`,
    /// `tinyint(1)`, `DECIMAL_TEXT(10,2)`).
    pub native: String,
    /// Whether the column accepts NULL.
    pub nullable: bool,
    /// The default expression, as the engine reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Whether the database assigns the value (identity, serial,
    /// auto-increment, SQLite's `INTEGER PRIMARY KEY`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub identity: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_false(b: &bool) -> bool {
    !*b
}

/// A table's primary key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryKey {
    /// The constraint's name, where the engine keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The key's columns, in key order.
    pub columns: Vec<String>,
}

/// An index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// The index's name.
    pub name: String,
    /// Its key: column names, or expressions as the engine reports them.
    pub columns: Vec<String>,
    /// Whether it is unique.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// The `WHERE` of a partial index (PostgreSQL, SQLite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// The access method when it is not the engine's default (`gin`,
    /// `hash`, `FULLTEXT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
}

/// What a foreign key does when the row it points at is deleted or its key
/// updated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Fail at the end of the statement (the default).
    #[default]
    NoAction,
    /// Fail at once.
    Restrict,
    /// Delete or update the referencing rows too.
    Cascade,
    /// Set the referencing columns to NULL.
    SetNull,
    /// Set the referencing columns to their defaults.
    SetDefault,
}

impl Action {
    /// The SQL words for the action.
    pub fn sql(self) -> &'static str {
        match self {
            Action::NoAction => "NO ACTION",
            Action::Restrict => "RESTRICT",
            Action::Cascade => "CASCADE",
            Action::SetNull => "SET NULL",
            Action::SetDefault => "SET DEFAULT",
        }
    }

    /// Reads the SQL words (any case, as catalogs report them).
    pub fn parse(words: &str) -> Option<Self> {
        match words.trim().to_ascii_uppercase().as_str() {
            "NO ACTION" => Some(Action::NoAction),
            "RESTRICT" => Some(Action::Restrict),
            "CASCADE" => Some(Action::Cascade),
            "SET NULL" => Some(Action::SetNull),
            "SET DEFAULT" => Some(Action::SetDefault),
            _ => None,
        }
    }

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
    fn is_default(&self) -> bool {
        *self == Action::NoAction
    }
}

/// A foreign key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKey {
    /// The constraint's name, where the engine keeps one (SQLite does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: String,
    /// The referenced columns, in the same order.
    pub referenced_columns: Vec<String>,
    /// What happens on delete.
    #[serde(default, skip_serializing_if = "Action::is_default")]
    pub on_delete: Action,
    /// What happens on update.
    #[serde(default, skip_serializing_if = "Action::is_default")]
    pub on_update: Action,
}

/// A unique constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unique {
    /// The constraint's name, where the engine keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its columns.
    pub columns: Vec<String>,
}

/// A check constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The constraint's name, where the engine keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The condition, as the engine reports it.
    pub expression: String,
}

/// A PostgreSQL enum type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumType {
    /// The type's name.
    pub name: String,
    /// Its labels, in their order.
    pub values: Vec<String>,
}

/// A view, trigger or routine: named and kept as its definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    /// Its name.
    pub name: String,
    /// The table a trigger belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Its definition, as the engine reports it.
    pub definition: String,
}
