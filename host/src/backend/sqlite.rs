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

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, ToSql, params_from_iter};

use super::{
    Backend, Column, CursorId, DbError, DbErrorKind, Dialect, ResultCap, Rows, Synchronous, Tally,
    Value,
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
}

enum Cursor {
    /// Rows copied into `temp.<table>`, read in `rowid` order.
    Table {
        table: String,
        columns: Vec<Column>,
        last_rowid: i64,
    },
    /// A statement that cannot feed `CREATE TABLE … AS` (a PRAGMA, say):
    /// its rows are held in memory.
    Buffered(Rows),
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
        let max_rows = max_rows.max(1);
        let Some(state) = self.cursors.get_mut(&cursor.0) else {
            return Err(DbError::new(DbErrorKind::Other, "cursor is closed"));
        };
        match state {
            Cursor::Buffered(rows) => {
                if rows.rows.is_empty() {
                    return Ok(None);
                }
                let take = rows.rows.len().min(max_rows as usize);
                let batch: Vec<Vec<Value>> = rows.rows.drain(..take).collect();
                let mut tally = Tally::new(cap);
                for row in &batch {
                    tally.add(row)?;
                }
                Ok(Some(Rows {
                    columns: rows.columns.clone(),
                    rows: batch,
                }))
            }
            Cursor::Table {
                table,
                columns,
                last_rowid,
            } => {
                let sql = format!(
                    "SELECT rowid, * FROM temp.{table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
                );
                let mut stmt = self.conn.prepare_cached(&sql).map_err(to_db_error)?;
                let mut result = stmt
                    .query((*last_rowid, i64::from(max_rows)))
                    .map_err(to_db_error)?;
                let kinds = kinds_of(columns);
                let mut rows = Vec::new();
                let mut tally = Tally::new(cap);
                while let Some(row) = result.next().map_err(to_db_error)? {
                    *last_rowid = row.get(0).map_err(to_db_error)?;
                    let mut values = Vec::with_capacity(kinds.len());
                    for (i, kind) in kinds.iter().enumerate() {
                        let cell = row.get_ref(i + 1).map_err(to_db_error)?;
                        values.push(to_value(cell, *kind));
                    }
                    tally.add(&values)?;
                    rows.push(values);
                }
                if rows.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Rows {
                    columns: columns.clone(),
                    rows,
                }))
            }
        }
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

fn columns_of(stmt: &rusqlite::Statement<'_>) -> Vec<Column> {
    stmt.columns()
        .into_iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            type_name: c.decl_type().unwrap_or_default().to_owned(),
        })
        .collect()
}

fn read_row(row: &rusqlite::Row<'_>, kinds: &[Kind]) -> Result<Vec<Value>, DbError> {
    let mut values = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        values.push(to_value(row.get_ref(i).map_err(to_db_error)?, *kind));
    }
    Ok(values)
}

/// What a column's declared type says its cells are, beyond SQLite's own
/// storage classes: read once per statement, not once per cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Boolean,
    /// DECIMAL and NUMERIC columns have NUMERIC affinity: SQLite stores
    /// `12.50` as the REAL 12.5 (or `12.00` as the INTEGER 12).
    Decimal,
    Json,
    Uuid,
    Timestamp,
    Date,
}

impl Kind {
    fn of(decl_type: &str) -> Self {
        let decl = decl_type.to_ascii_uppercase();
        if decl.contains("BOOL") {
            Self::Boolean
        } else if decl.contains("JSON") {
            Self::Json
        } else if decl.contains("UUID") {
            Self::Uuid
        } else if decl.contains("TIMESTAMP") || decl.contains("DATETIME") {
            Self::Timestamp
        } else if decl == "DATE" {
            Self::Date
        } else if decl.contains("DECIMAL") || decl.contains("NUMERIC") {
            Self::Decimal
        } else {
            Self::Plain
        }
    }
}

fn kinds_of(columns: &[Column]) -> Vec<Kind> {
    columns.iter().map(|c| Kind::of(&c.type_name)).collect()
}

/// Converts a SQLite cell to a [`Value`], using its column's [`Kind`] to
/// tell booleans, JSON, UUIDs, dates, timestamps and decimals from plain
/// integers and text.
fn to_value(cell: ValueRef<'_>, kind: Kind) -> Value {
    match cell {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => match kind {
            Kind::Boolean => Value::Boolean(i != 0),
            Kind::Decimal => Value::Decimal(i.to_string()),
            _ => Value::Int(i),
        },
        ValueRef::Real(f) if kind == Kind::Decimal => Value::Decimal(f.to_string()),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(bytes) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            match kind {
                Kind::Json => Value::Json(text),
                Kind::Uuid => Value::Uuid(text),
                Kind::Timestamp => Value::Timestamp(text),
                Kind::Date => Value::Date(text),
                Kind::Decimal => Value::Decimal(text),
                Kind::Plain | Kind::Boolean => Value::Text(text),
            }
        }
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

/// Binds a [`Value`] without copying its text or bytes.
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Boolean(b) => ValueRef::Integer(i64::from(*b)),
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Float(f) => ValueRef::Real(*f),
            Value::Text(s)
            | Value::Json(s)
            | Value::Uuid(s)
            | Value::Timestamp(s)
            | Value::Date(s)
            | Value::Decimal(s) => ValueRef::Text(s.as_bytes()),
            Value::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

fn to_db_error(err: rusqlite::Error) -> DbError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let kind = match failure.code {
                ErrorCode::ConstraintViolation => DbErrorKind::Constraint,
                ErrorCode::PermissionDenied
                | ErrorCode::AuthorizationForStatementDenied
                | ErrorCode::ReadOnly => DbErrorKind::PermissionDenied,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbErrorKind::Timeout,
                ErrorCode::OperationInterrupted => DbErrorKind::Timeout,
                ErrorCode::CannotOpen | ErrorCode::NotADatabase => DbErrorKind::Connection,
                ErrorCode::TooBig => DbErrorKind::Limit,
                ErrorCode::Unknown => DbErrorKind::Syntax,
                _ => DbErrorKind::Other,
            };
            DbError {
                kind,
                code: Some(failure.extended_code.to_string()),
                message: message.clone().unwrap_or_else(|| err.to_string()),
            }
        }
        rusqlite::Error::SqlInputError { msg, sql, .. } => {
            DbError::new(DbErrorKind::Syntax, format!("{msg} in `{}`", sql.trim()))
        }
        rusqlite::Error::InvalidParameterCount(given, expected) => DbError::new(
            DbErrorKind::Syntax,
            format!("the statement takes {expected} parameters, {given} were given"),
        ),
        rusqlite::Error::MultipleStatement => DbError::new(
            DbErrorKind::Syntax,
            "several statements in one `execute`; use `execute-script` for scripts",
        ),
        _ => DbError::new(DbErrorKind::Other, err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn people() -> SqliteBackend {
        let mut db = SqliteBackend::open(None).unwrap();
        db.execute_script(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
             active BOOLEAN, born DATE, meta JSON)",
        )
        .await
        .unwrap();
        db
    }

    #[tokio::test]
    async fn batch_insert_and_typed_read_back() {
        let mut db = people().await;
        let sets: Vec<Vec<Value>> = (1..=3)
            .map(|i| {
                vec![
                    Value::Int(i),
                    Value::Text(format!("p{i}")),
                    Value::Boolean(i % 2 == 1),
                    Value::Date("2020-01-01".into()),
                    Value::Json("{}".into()),
                ]
            })
            .collect();
        let n = db
            .execute_batch("INSERT INTO people VALUES (?1, ?2, ?3, ?4, ?5)", &sets)
            .await
            .unwrap();
        assert_eq!(n, 3);
        let rows = db
            .query("SELECT * FROM people WHERE id = ?1", &[Value::Int(1)])
            .await
            .unwrap();
        assert_eq!(
            rows.rows,
            vec![vec![
                Value::Int(1),
                Value::Text("p1".into()),
                Value::Boolean(true),
                Value::Date("2020-01-01".into()),
                Value::Json("{}".into()),
            ]]
        );
        assert_eq!(rows.columns[2].type_name, "BOOLEAN");
    }

    #[tokio::test]
    async fn cursor_sees_rows_as_of_opening_while_the_table_changes() {
        let mut db = people().await;
        db.begin().await.unwrap();
        for i in 1..=5 {
            db.execute(
                "INSERT INTO people (id, name) VALUES (?1, ?2)",
                &[Value::Int(i), Value::Text(format!("p{i}"))],
            )
            .await
            .unwrap();
        }
        let cursor = db
            .open_cursor("SELECT id, name FROM people ORDER BY id;", &[])
            .await
            .unwrap();
        db.execute("DELETE FROM people", &[]).await.unwrap();
        let mut seen = Vec::new();
        while let Some(chunk) = db.cursor_next(cursor, 2).await.unwrap() {
            assert!(chunk.rows.len() <= 2);
            seen.extend(chunk.rows.into_iter().map(|r| r[0].clone()));
        }
        assert_eq!(seen, (1..=5).map(Value::Int).collect::<Vec<_>>());
        db.close_cursor(cursor).await.unwrap();
        db.rollback().await.unwrap();
    }

    #[tokio::test]
    async fn constraint_violation_is_classified() {
        let mut db = people().await;
        let err = db
            .execute("INSERT INTO people (id) VALUES (1)", &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind, DbErrorKind::Constraint, "{err}");
    }

    #[tokio::test]
    async fn two_statements_in_execute_are_refused() {
        let mut db = people().await;
        let err = db
            .execute("DELETE FROM people; DROP TABLE people", &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind, DbErrorKind::Syntax, "{err}");
        assert!(db.query("SELECT * FROM people", &[]).await.is_ok());
    }

    #[tokio::test]
    async fn the_schema_hash_tables_are_uncapped() {
        // Built with .cargo/config.toml's LIBSQLITE3_FLAGS: without it, a
        // database of thousands of tables opens in quadratic time.
        let mut db = SqliteBackend::open(None).unwrap();
        let options = db.query("PRAGMA compile_options", &[]).await.unwrap();
        let has = options
            .rows
            .iter()
            .any(|r| matches!(r.first(), Some(Value::Text(t)) if t == "MALLOC_SOFT_LIMIT=0"));
        assert!(has, "{:?}", options.rows);
    }

    #[tokio::test]
    async fn the_url_sets_how_often_commits_sync() {
        let dir = tempfile::tempdir().unwrap();
        let level = |url: String| async move {
            let url = super::super::DatabaseUrl::parse(&url).unwrap();
            let mut db = super::super::connect(&url).await.unwrap();
            let rows = db.query("PRAGMA synchronous", &[]).await.unwrap();
            rows.rows[0][0].clone()
        };
        let file = dir.path().join("a.db").display().to_string();
        // SQLite's default, FULL (2), unless the URL says otherwise.
        assert_eq!(level(format!("sqlite:{file}")).await, Value::Int(2));
        let normal = format!("sqlite:{file}?synchronous=normal");
        assert_eq!(level(normal).await, Value::Int(1));
    }
}
