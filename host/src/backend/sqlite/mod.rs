//! SQLite through `rusqlite`, in process.
//!
//! SQLite is called directly on the caller's thread: a statement costs what
//! SQLite costs (a few microseconds), with no hand-off to a worker thread per
//! statement. Prepared statements are cached, so a batch or a loop of the
//! same statement is compiled once.
//!
//! Cursors are materialised into a temporary table when opened and read back
//! by `rowid`: the rows a cursor returns are those the query saw when it was
//! opened (as on PostgreSQL), even while the migration updates the same table,
//! and memory stays bounded because SQLite spills temporary tables to disk.

mod cursor;
mod errors;
mod values;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, params_from_iter};

use self::cursor::Cursor;
use self::errors::to_db_error;
use self::values::{Param, columns_of, kinds_of, read_row};
use super::{
    Backend, CursorId, DbError, DbErrorKind, Dialect, ResultCap, Rows, Synchronous, Tally, Value,
};

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A SQLite connection.
pub struct SqliteBackend {
    conn: Connection,
    cursors: HashMap<u64, Cursor>,
    next_cursor: u64,
    cap: ResultCap,
    /// The statement timeout; each statement's deadline is written into
    /// `deadline`, which the progress handler reads.
    statement_timeout: Option<Duration>,
    /// The migration's deadline.
    hard_deadline: Option<Instant>,
    deadline: Arc<Mutex<Option<Instant>>>,
    /// Whether this connection switched the rollback journal from `delete`
    /// to `truncate` (see [`truncate_journal`]), to switch back on close.
    truncating_journal: bool,
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        // Back to SQLite's default, which also removes the emptied journal
        // file; unless a migration chose a mode of its own (WAL, say), which
        // stays. Inside an unfinished transaction SQLite refuses and the close
        // rolls back instead, leaving an empty journal file SQLite ignores.
        if self.truncating_journal && journal_mode(&self.conn).as_deref() == Some("truncate") {
            let _ = self
                .conn
                .query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()));
        }
    }
}

/// Switches a database in SQLite's default `delete` journal mode to
/// `truncate` for this connection: each commit then empties the rollback
/// journal instead of deleting it, which saves creating and unlinking a file
/// and syncing the directory at every commit (wasmig commits once per
/// migration, a fleet thousands of times), with the same durability. A
/// database in another mode (WAL, say) is left alone, and so is one where
/// the switch fails: it keeps the default. Returns whether it switched.
fn truncate_journal(conn: &Connection) -> bool {
    journal_mode(conn).as_deref() == Some("delete")
        && conn
            .query_row("PRAGMA journal_mode = TRUNCATE", [], |row| {
                row.get::<_, String>(0)
            })
            .is_ok_and(|m| m.eq_ignore_ascii_case("truncate"))
}

/// The connection's journal mode, lowercase.
fn journal_mode(conn: &Connection) -> Option<String> {
    conn.query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0))
        .ok()
        .map(|m| m.to_ascii_lowercase())
}

impl SqliteBackend {
    /// Opens (creating if missing) the database at `path`, or an in-memory
    /// database for `None`.
    ///
    /// # Errors
    /// Fails when the file cannot be opened or is not a SQLite database.
    pub fn open(path: Option<&Path>) -> Result<Self, DbError> {
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(|e| to_db_error(e).while_connecting())?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(to_db_error)?;
        conn.set_prepared_statement_cache_capacity(256);
        // Reading the schema fails early, with a clear message, on a file
        // that is not a database.
        conn.execute_batch("PRAGMA foreign_keys = ON; SELECT count(*) FROM sqlite_schema;")
            .map_err(|e| to_db_error(e).while_connecting())?;
        let truncating_journal = path.is_some() && truncate_journal(&conn);
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::default();
        let watched = deadline.clone();
        // Called every few thousand virtual machine steps: interrupts a
        // statement that has run past its deadline.
        conn.progress_handler(
            10_000,
            Some(move || {
                watched
                    .lock()
                    .ok()
                    .and_then(|d| *d)
                    .is_some_and(|d| Instant::now() >= d)
            }),
        )
        .map_err(to_db_error)?;
        Ok(Self {
            conn,
            cursors: HashMap::new(),
            next_cursor: 1,
            cap: ResultCap::UNLIMITED,
            statement_timeout: None,
            hard_deadline: None,
            deadline,
            truncating_journal,
        })
    }

    /// Sets `PRAGMA synchronous` for this connection (the database file
    /// keeps no record of it).
    ///
    /// # Errors
    /// Returns the database's error.
    pub fn set_synchronous(&self, level: Synchronous) -> Result<(), DbError> {
        self.conn
            .pragma_update(None, "synchronous", level.as_str())
            .map_err(to_db_error)
    }

    fn clear_deadline(&self) {
        if let Ok(mut deadline) = self.deadline.lock() {
            *deadline = None;
        }
    }

    /// Starts the clock of the statement about to run.
    fn arm(&self) {
        if self.statement_timeout.is_none() && self.hard_deadline.is_none() {
            return;
        }
        let statement = self.statement_timeout.map(|t| Instant::now() + t);
        let at = match (statement, self.hard_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Ok(mut deadline) = self.deadline.lock() {
            *deadline = at;
        }
    }

    fn run_query(&self, sql: &str, params: &[Value], cap: ResultCap) -> Result<Rows, DbError> {
        self.arm();
        let mut stmt = self.conn.prepare_cached(sql).map_err(to_db_error)?;
        let columns = columns_of(&stmt);
        let kinds = kinds_of(&columns);
        let mut rows = Vec::new();
        let mut tally = Tally::new(cap);
        let mut cursor = stmt
            .query(params_from_iter(params.iter().map(Param)))
            .map_err(to_db_error)?;
        while let Some(row) = cursor.next().map_err(to_db_error)? {
            let row = read_row(row, &kinds)?;
            tally.add(&row)?;
            rows.push(row);
        }
        Ok(Rows { columns, rows })
    }

    fn run_execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.arm();
        let mut stmt = self.conn.prepare_cached(sql).map_err(to_db_error)?;
        let bound = params_from_iter(params.iter().map(Param));
        if stmt.column_count() == 0 {
            return stmt.execute(bound).map(|n| n as u64).map_err(to_db_error);
        }
        // A statement that returns rows (`INSERT … RETURNING`, a PRAGMA):
        // run it to completion and report the rows it changed.
        let before = self.conn.total_changes();
        let mut rows = stmt.query(bound).map_err(to_db_error)?;
        while rows.next().map_err(to_db_error)?.is_some() {}
        Ok(self.conn.total_changes().saturating_sub(before))
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn default_schema(&self) -> &str {
        "main"
    }

    fn set_result_cap(&mut self, cap: ResultCap) {
        self.cap = cap;
    }

    async fn set_statement_timeout(&mut self, timeout: Option<Duration>) -> Result<(), DbError> {
        self.statement_timeout = timeout;
        self.clear_deadline();
        Ok(())
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.hard_deadline = deadline;
        self.clear_deadline();
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        // IMMEDIATE takes the write lock now, so two runners cannot both read
        // and then fail to upgrade.
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(to_db_error)
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.conn.execute_batch("COMMIT").map_err(to_db_error)
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.cursors.clear();
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(to_db_error)
    }

    fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.run_execute(sql, params)
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        self.run_query(sql, params, self.cap)
    }

    async fn execute_batch(
        &mut self,
        sql: &str,
        param_sets: &[Vec<Value>],
    ) -> Result<u64, DbError> {
        self.arm();
        let mut stmt = self.conn.prepare_cached(sql).map_err(to_db_error)?;
        let mut changed = 0u64;
        for (i, set) in param_sets.iter().enumerate() {
            let n = stmt
                .execute(params_from_iter(set.iter().map(Param)))
                .map_err(|e| {
                    let mut err = to_db_error(e);
                    err.message = format!("parameter set {i}: {}", err.message);
                    err
                })?;
            changed += n as u64;
        }
        Ok(changed)
    }

    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError> {
        self.arm();
        let before = self.conn.total_changes();
        self.conn.execute_batch(sql).map_err(to_db_error)?;
        Ok(self.conn.total_changes().saturating_sub(before))
    }

    async fn open_cursor(&mut self, sql: &str, params: &[Value]) -> Result<CursorId, DbError> {
        self.arm();
        let id = self.next_cursor;
        self.next_cursor += 1;
        let columns = {
            let stmt = self.conn.prepare_cached(sql).map_err(to_db_error)?;
            columns_of(&stmt)
        };
        let table = format!("wasmig_cursor_{id}");
        let select = sql.trim().trim_end_matches(';');
        let create = format!("CREATE TEMP TABLE {table} AS {select}");
        let cursor = match self.conn.prepare(&create) {
            Ok(mut stmt) => {
                stmt.execute(params_from_iter(params.iter().map(Param)))
                    .map_err(to_db_error)?;
                Cursor::Table {
                    table,
                    columns,
                    last_rowid: 0,
                }
            }
            Err(_) => Cursor::Buffered(self.run_query(sql, params, self.cap)?),
        };
        self.cursors.insert(id, cursor);
        Ok(CursorId(id))
    }

    async fn cursor_next(
        &mut self,
        cursor: CursorId,
        max_rows: u32,
    ) -> Result<Option<Rows>, DbError> {
        self.arm();
        let cap = self.cap;
        let Some(state) = self.cursors.get_mut(&cursor.0) else {
            return Err(DbError::new(DbErrorKind::Other, "cursor is closed"));
        };
        state.next(&self.conn, max_rows.max(1), cap)
    }

    async fn close_cursor(&mut self, cursor: CursorId) -> Result<(), DbError> {
        if let Some(Cursor::Table { table, .. }) = self.cursors.remove(&cursor.0) {
            // Outside a transaction the table is gone already (rolled back).
            if self.in_transaction() {
                self.conn
                    .execute_batch(&format!("DROP TABLE IF EXISTS temp.{table}"))
                    .map_err(to_db_error)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
