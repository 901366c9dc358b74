use crate::bindings::wasmig::migration::db as host;
use crate::bindings::wasmig::migration::types::Rows as WitRows;
use crate::{Column, ColumnIndex, Dialect, Error, FromValue, Result, Value};

/// The database being migrated, inside the transaction wasmig opened.
pub struct Db {
    _private: (),
}

impl Db {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// Schema changes as portable operations (see [`crate::schema`]).
    pub fn schema(&self) -> crate::schema::Schema {
        crate::schema::Schema::new()
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        host::dialect()
    }

    /// The placeholder for the `n`th (1-based) parameter in this dialect:
    /// `?n` on SQLite, `$n` on PostgreSQL, `?` on MySQL.
    pub fn placeholder(&self, n: usize) -> String {
        match self.dialect() {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
            Dialect::Mysql => "?".to_owned(),
        }
    }

    /// Runs one statement; returns how many rows it changed.
    ///
    /// # Errors
    /// The database's error, or the host's refusal.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        Ok(host::execute(sql, params)?)
    }

    /// Runs a query and returns all its rows. For large results use
    /// [`Db::cursor`].
    ///
    /// # Errors
    /// The database's error, or the host's refusal.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        Ok(Rows::from(host::query(sql, params)?))
    }

    /// Runs a query that must return one value (`SELECT count(*) …`).
    ///
    /// # Errors
    /// The database's error, or when the result is not exactly one row.
    pub fn query_scalar<T: FromValue>(&self, sql: &str, params: &[Value]) -> Result<T> {
        let rows = self.query(sql, params)?;
        match rows.rows.len() {
            1 => rows.row(0).get(0),
            n => Err(Error::msg(format!(
                "expected one row from `{sql}`, got {n}"
            ))),
        }
    }

    /// Runs one statement once per parameter set in a single host call,
    /// through one prepared statement. The fast path for bulk writes.
    ///
    /// # Errors
    /// The first failing set's error.
    pub fn execute_batch(&self, sql: &str, param_sets: &[Vec<Value>]) -> Result<u64> {
        Ok(host::execute_batch(sql, param_sets)?)
    }

    /// Runs several `;`-separated statements without parameters.
    ///
    /// # Errors
    /// The first failing statement's error.
    pub fn execute_script(&self, sql: &str) -> Result<()> {
        Ok(host::execute_script(sql)?)
    }

    /// Iterates over a query's rows `batch_size` at a time. The cursor sees
    /// the rows as they were when it was opened.
    ///
    /// # Errors
    /// The database's error.
    pub fn cursor(&self, sql: &str, params: &[Value], batch_size: u32) -> Result<Cursor> {
        Ok(Cursor {
            inner: host::open_cursor(sql, params)?,
            batch_size: batch_size.max(1),
            done: false,
        })
    }
}

/// Batches of rows from [`Db::cursor`].
pub struct Cursor {
    inner: host::Cursor,
    batch_size: u32,
    done: bool,
}

impl Iterator for Cursor {
    type Item = Result<Rows>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.inner.next(self.batch_size) {
            Ok(Some(rows)) => Some(Ok(Rows::from(rows))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.into()))
            }
        }
    }
}

/// A result set.
#[derive(Debug, Clone)]
pub struct Rows {
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, positional.
    pub rows: Vec<Vec<Value>>,
}

impl From<WitRows> for Rows {
    fn from(rows: WitRows) -> Self {
        Self {
            columns: rows.columns,
            rows: rows.rows,
        }
    }
}

impl Rows {
    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `i`th row.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn row(&self, i: usize) -> Row<'_> {
        Row {
            columns: &self.columns,
            values: &self.rows[i],
        }
    }

    /// The rows in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// One row, readable by column name or position.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [Column],
    values: &'a [Value],
}

impl Row<'_> {
    /// The cell of `column` as a `T`.
    ///
    /// # Errors
    /// When there is no such column or the cell is not a `T`.
    pub fn get<T: FromValue>(&self, column: impl ColumnIndex) -> Result<T> {
        let i = column.index(self.columns)?;
        T::from_value(&self.values[i])
            .map_err(|e| Error::msg(format!("column `{}`: {e}", self.columns[i].name)))
    }

    /// The raw cells.
    pub fn values(&self) -> &[Value] {
        self.values
    }
}
