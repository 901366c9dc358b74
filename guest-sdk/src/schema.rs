//! Schema changes without dialect SQL: `db.schema()` builds portable
//! operations the host renders for the connected engine. The host records
//! how to undo each one, so a migration that only changes its schema this
//! way needs no `down`.
//!
//! ```no_run
//! # use wasmig_guest::{Db, Result};
//! # fn up(db: &Db) -> Result<()> {
//! db.schema().create_table("orders", |t| {
//!     t.uuid("id").primary_key();
//!     t.decimal("total", 10, 2).not_null();
//!     t.references("user_id", "users", "id").on_delete_cascade();
//!     t.timestamps();
//! })?;
//! if db.schema().table("legacy_orders")?.is_some() {
//!     db.schema().drop_table("legacy_orders")?;
//! }
//! # Ok(())
//! # }
//! ```

use crate::Result;
use crate::bindings::wasmig::migration::schema as host;

pub use host::{Action, ColumnInfo, Op, TableInfo};

/// The schema of the database being migrated (see [`crate::Db::schema`]).
pub struct Schema {
    _private: (),
}

impl Schema {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// Runs several operations, in order, in one host call.
    ///
    /// # Errors
    /// The first operation that cannot work, or the database's error.
    pub fn apply(&self, ops: &[Op]) -> Result<()> {
        Ok(host::apply(ops)?)
    }

    /// The table named `name` as it is now, or `None` when there is none.
    ///
    /// # Errors
    /// The database's error.
    pub fn table(&self, name: &str) -> Result<Option<TableInfo>> {
        Ok(host::table(name)?)
    }

    /// Creates a table; `build` adds its columns, keys and indexes.
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn create_table(&self, name: &str, build: impl FnOnce(&mut TableBuilder)) -> Result<()> {
        let mut table = TableBuilder::new(name);
        build(&mut table);
        self.apply(&table.into_ops())
    }

    /// Drops a table (its rows are not restored by a revert).
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn drop_table(&self, name: &str) -> Result<()> {
        self.apply(&[Op::DropTable((name.to_owned(), false))])
    }

    /// Renames a table.
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn rename_table(&self, name: &str, to: &str) -> Result<()> {
        self.apply(&[Op::Rename(host::Rename {
            table: name.to_owned(),
            column: None,
            to: to.to_owned(),
        })])
    }

    /// Adds the columns `build` declares to an existing table.
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn add_column(&self, table: &str, build: impl FnOnce(&mut TableBuilder)) -> Result<()> {
        let mut columns = TableBuilder::new(table);
        build(&mut columns);
        let ops: Vec<Op> = columns
            .columns
            .into_iter()
            .map(|c| Op::AddColumn((table.to_owned(), c)))
            .collect();
        self.apply(&ops)
    }

    /// Drops a column (its data is not restored by a revert).
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn drop_column(&self, table: &str, column: &str) -> Result<()> {
        self.apply(&[Op::DropColumn((table.to_owned(), column.to_owned(), None))])
    }

    /// Renames a column.
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn rename_column(&self, table: &str, column: &str, to: &str) -> Result<()> {
        self.apply(&[Op::Rename(host::Rename {
            table: table.to_owned(),
            column: Some(column.to_owned()),
            to: to.to_owned(),
        })])
    }

    /// Changes a column: `alter` says what.
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn alter_column(
        &self,
        table: &str,
        column: &str,
        alter: impl FnOnce(&mut Alter),
    ) -> Result<()> {
        let mut change = Alter(host::AlterColumn {
            table: table.to_owned(),
            column: column.to_owned(),
            type_: None,
            native: None,
            nullable: None,
            default: None,
            drop_default: false,
        });
        alter(&mut change);
        self.apply(&[Op::AlterColumn(change.0)])
    }

    /// Creates an index on `columns`.
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn create_index(
        &self,
        table: &str,
        name: &str,
        columns: &[&str],
        unique: bool,
    ) -> Result<()> {
        self.apply(&[Op::CreateIndex((
            table.to_owned(),
            host::Index {
                name: name.to_owned(),
                columns: columns.iter().map(|c| (*c).to_owned()).collect(),
                unique,
                predicate: None,
            },
        ))])
    }

    /// Undoes what `up` did through these operations, from what the host
    /// recorded when they ran: what a `down` that is not written does.
    ///
    /// # Errors
    /// When nothing was recorded, or `up` also changed the schema by other
    /// means (then the migration must implement `down`).
    pub fn revert_recorded(&self) -> Result<()> {
        Ok(host::revert_recorded()?)
    }

    /// Drops an index.
    ///
    /// # Errors
    /// As [`Schema::apply`].
    pub fn drop_index(&self, table: &str, name: &str) -> Result<()> {
        self.apply(&[Op::DropIndex((table.to_owned(), name.to_owned()))])
    }
}

/// What [`Schema::alter_column`] changes.
pub struct Alter(host::AlterColumn);

impl Alter {
    /// A new portable type (`"bigint"`, `"string(320)"`).
    pub fn kind(&mut self, portable: &str) -> &mut Self {
        self.0.type_ = Some(portable.to_owned());
        self
    }

    /// NULL allowed or not from now on.
    pub fn nullable(&mut self, nullable: bool) -> &mut Self {
        self.0.nullable = Some(nullable);
        self
    }

    /// A new default (a SQL expression).
    pub fn default(&mut self, expression: &str) -> &mut Self {
        self.0.default = Some(expression.to_owned());
        self
    }

    /// No default any more.
    pub fn drop_default(&mut self) -> &mut Self {
        self.0.drop_default = true;
        self
    }
}

/// The columns, keys and indexes of a table being created (or the columns
/// being added to one).
pub struct TableBuilder {
    table: String,
    columns: Vec<host::Column>,
    timestamps: bool,
    indexes: Vec<host::Index>,
    foreign_keys: Vec<host::ForeignKey>,
}

impl TableBuilder {
    fn new(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            columns: Vec::new(),
            timestamps: false,
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
        }
    }

    fn into_ops(self) -> Vec<Op> {
        vec![Op::CreateTable(host::CreateTable {
            table: self.table,
            columns: self.columns,
            primary_key: Vec::new(),
            timestamps: self.timestamps,
            indexes: self.indexes,
            foreign_keys: self.foreign_keys,
            uniques: Vec::new(),
        })]
    }

    /// A column of a portable type (`"decimal(10,2)"`, `"enum('a','b')"`).
    pub fn column(&mut self, name: &str, portable: &str) -> ColumnBuilder<'_> {
        self.columns.push(host::Column {
            name: name.to_owned(),
            type_: Some(portable.to_owned()),
            native: None,
            nullable: true,
            default: None,
            identity: false,
            primary_key: false,
            unique: false,
        });
        let last = self.columns.len() - 1;
        ColumnBuilder(&mut self.columns[last])
    }

    /// A `bigint` the database assigns, as the primary key.
    pub fn id(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "bigint").identity().primary_key()
    }

    /// A UUID column.
    pub fn uuid(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "uuid")
    }

    /// A 64-bit integer column.
    pub fn bigint(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "bigint")
    }

    /// A 32-bit integer column.
    pub fn integer(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "integer")
    }

    /// Text of at most `length` characters.
    pub fn string(&mut self, name: &str, length: u32) -> ColumnBuilder<'_> {
        self.column(name, &format!("string({length})"))
    }

    /// Text of any length.
    pub fn text(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "text")
    }

    /// True or false.
    pub fn boolean(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "boolean")
    }

    /// An exact decimal.
    pub fn decimal(&mut self, name: &str, precision: u32, scale: u32) -> ColumnBuilder<'_> {
        self.column(name, &format!("decimal({precision},{scale})"))
    }

    /// An instant (stored as UTC).
    pub fn timestamp(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "timestamp")
    }

    /// A JSON document.
    pub fn json(&mut self, name: &str) -> ColumnBuilder<'_> {
        self.column(name, "json")
    }

    /// A nullable `bigint` column `name` referencing `table.column` (use
    /// [`TableBuilder::column`] and [`Schema::apply`] with
    /// [`Op::AddForeignKey`] for other key types); its key's actions are
    /// set on what this returns.
    pub fn references(&mut self, name: &str, table: &str, column: &str) -> KeyBuilder<'_> {
        self.column(name, "bigint");
        self.foreign_keys.push(host::ForeignKey {
            name: None,
            columns: vec![name.to_owned()],
            references: table.to_owned(),
            referenced_columns: vec![column.to_owned()],
            on_delete: Action::NoAction,
            on_update: Action::NoAction,
        });
        let last = self.foreign_keys.len() - 1;
        KeyBuilder(&mut self.foreign_keys[last])
    }

    /// `created_at` and `updated_at` (timestamp, not null, default now).
    pub fn timestamps(&mut self) {
        self.timestamps = true;
    }

    /// An index on `columns`.
    pub fn index(&mut self, name: &str, columns: &[&str]) {
        self.indexes.push(host::Index {
            name: name.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            unique: false,
            predicate: None,
        });
    }
}

/// Settings of the column just declared.
pub struct ColumnBuilder<'t>(&'t mut host::Column);

impl ColumnBuilder<'_> {
    /// NULL not allowed.
    pub fn not_null(self) -> Self {
        self.0.nullable = false;
        self
    }

    /// The default, as a SQL expression (`"0"`, `"'new'"`, `"CURRENT_TIMESTAMP"`).
    pub fn default(self, expression: &str) -> Self {
        self.0.default = Some(expression.to_owned());
        self
    }

    /// The table's primary key.
    pub fn primary_key(self) -> Self {
        self.0.primary_key = true;
        self
    }

    /// Unique on its own.
    pub fn unique(self) -> Self {
        self.0.unique = true;
        self
    }

    /// Assigned by the database.
    pub fn identity(self) -> Self {
        self.0.identity = true;
        self
    }
}

/// Settings of the foreign key just declared.
pub struct KeyBuilder<'t>(&'t mut host::ForeignKey);

impl KeyBuilder<'_> {
    /// Deleting the referenced row deletes this one.
    pub fn on_delete_cascade(self) {
        self.0.on_delete = Action::Cascade;
    }

    /// Deleting the referenced row sets this column to NULL.
    pub fn on_delete_set_null(self) {
        self.0.on_delete = Action::SetNull;
    }
}
