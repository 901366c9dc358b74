//! Database backends: one per SQL dialect, all behind [`Backend`].
//!
//! A backend is one open connection. The executor uses it to run SQL
//! migrations and the ledger; the component runtime hands it to a guest's
//! `db` imports. Every call that moves rows takes them in bulk
//! ([`Backend::execute_batch`], [`Backend::cursor_next`]) so a data migration
//! pays one host round trip per batch, not per row.

mod mysql;
pub mod nodelay;
mod postgres;
mod sqlite;
mod url;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

pub use self::mysql::MysqlBackend;
pub(crate) use self::mysql::to_db_error as mysql_error;
pub(crate) use self::postgres::Reusable as PgReusable;
pub(crate) use self::postgres::connect_as as postgres_connect_as;
pub(crate) use self::postgres::to_db_error as postgres_error;
pub use self::postgres::{PostgresBackend, reuse_connections};
pub use self::sqlite::SqliteBackend;
pub use self::url::{DatabaseUrl, Synchronous};
pub(crate) use self::url::{check_schema_name, split_schema};

/// One SQL value: a parameter or a result cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Boolean(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// Text.
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A JSON document as text.
    Json(String),
    /// A hyphenated UUID.
    Uuid(String),
    /// An RFC 3339 timestamp.
    Timestamp(String),
    /// A calendar date, `YYYY-MM-DD`.
    Date(String),
    /// An exact decimal number as text.
    Decimal(String),
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// The database's name for the column's type (may be empty).
    pub type_name: String,
}

/// A result set: columns once, rows positional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// The kind of a database error, as a migration sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// A constraint was violated.
    Constraint,
    /// The statement was malformed or referred to something missing.
    Syntax,
    /// The database or the sandbox refused the statement.
    PermissionDenied,
    /// A time limit was reached.
    Timeout,
    /// The connection failed.
    Connection,
    /// A host limit was reached.
    Limit,
    /// Anything else.
    Other,
}

/// An error from the database (or from the host refusing a statement).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", code.as_ref().map(|c| format!(" (code {c})")).unwrap_or_default())]
pub struct DbError {
    /// What kind of failure this is.
    pub kind: DbErrorKind,
    /// The database's own error code, when it has one.
    pub code: Option<String>,
    /// The database's message.
    pub message: String,
}

impl DbError {
    /// An error of `kind` with `message` and no database code.
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// The same error, reported as a failure to connect (it happened while
    /// opening the connection, whatever the driver called it).
    pub(crate) fn while_connecting(mut self) -> Self {
        self.kind = DbErrorKind::Connection;
        self
    }
}

/// The SQL dialect of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

impl Dialect {
    /// The placeholder for the `n`th (1-based) positional parameter.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
            Dialect::Mysql => "?".to_owned(),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        })
    }
}

/// How much one read may return to a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCap {
    /// Rows.
    pub rows: u64,
    /// Bytes of values (text and blobs by length, numbers as 8).
    pub bytes: u64,
}

impl ResultCap {
    /// No cap (the host's own reads).
    pub const UNLIMITED: ResultCap = ResultCap {
        rows: u64::MAX,
        bytes: u64::MAX,
    };
}

/// The code of the [`DbError`] a backend returns when a read exceeds its
/// [`ResultCap`]; the reading stops there, so a huge result never fills the
/// host's memory.
pub const RESULT_CAP_CODE: &str = "wasmig-result-cap";

/// Counts what a read returned against a [`ResultCap`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tally {
    cap: ResultCap,
    rows: u64,
    bytes: u64,
}

impl Tally {
    pub(crate) fn new(cap: ResultCap) -> Self {
        Self {
            cap,
            rows: 0,
            bytes: 0,
        }
    }

    /// Counts one row; fails once the cap is exceeded.
    pub(crate) fn add(&mut self, row: &[Value]) -> Result<(), DbError> {
        self.rows += 1;
        self.bytes += row.iter().map(Value::size).sum::<u64>();
        if self.rows > self.cap.rows || self.bytes > self.cap.bytes {
            return Err(DbError {
                kind: DbErrorKind::Limit,
                code: Some(RESULT_CAP_CODE.to_owned()),
                message: format!(
                    "the result exceeds {} rows or {} bytes",
                    self.cap.rows, self.cap.bytes
                ),
            });
        }
        Ok(())
    }
}

impl Value {
    /// The bytes this value counts for against a [`ResultCap`].
    pub fn size(&self) -> u64 {
        match self {
            Value::Null => 1,
            Value::Boolean(_) | Value::Int(_) | Value::Float(_) => 8,
            Value::Text(s)
            | Value::Json(s)
            | Value::Uuid(s)
            | Value::Timestamp(s)
            | Value::Date(s)
            | Value::Decimal(s) => s.len() as u64,
            Value::Bytes(b) => b.len() as u64,
        }
    }
}

/// Identifies an open cursor on a [`Backend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CursorId(pub u64);

/// One open database connection in one dialect.
///
/// All methods run on the connection's current transaction, if any.
#[async_trait]
pub trait Backend: Send {
    /// The connection's dialect.
    fn dialect(&self) -> Dialect;

    /// The schema unqualified table names resolve to: `public` on
    /// PostgreSQL, `main` on SQLite, the connection's database on MySQL.
    fn default_schema(&self) -> &str;

    /// Caps what each later `query` and `cursor_next` may return; a read
    /// past the cap stops and fails with [`RESULT_CAP_CODE`].
    fn set_result_cap(&mut self, cap: ResultCap);

    /// Bounds how long each later statement may run (`None`: no bound), on
    /// the server where the engine supports it.
    ///
    /// # Errors
    /// Returns the database's error.
    async fn set_statement_timeout(&mut self, timeout: Option<Duration>) -> Result<(), DbError>;

    /// An instant no statement may run past (the migration's wall-clock
    /// limit), for engines that run in process and cannot be cancelled from
    /// outside a call. Servers ignore it: the host stops waiting for them.
    fn set_deadline(&mut self, _deadline: Option<std::time::Instant>) {}

    /// Points unqualified names at [`Backend::default_schema`] again after
    /// a migration's own statements ran, so that wasmig's ledger writes land
    /// where the ledger is: a migration on a PostgreSQL schema tenant may
    /// have moved `search_path`. Engines where wasmig never set the scope
    /// leave it as the migration left it.
    ///
    /// # Errors
    /// Returns the database's error.
    async fn restore_default_schema(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Starts a transaction.
    ///
    /// # Errors
    /// Fails if the database refuses, or a transaction is already open.
    async fn begin(&mut self) -> Result<(), DbError>;

    /// Commits the open transaction.
    ///
    /// # Errors
    /// Fails if the commit fails; the transaction is then rolled back.
    async fn commit(&mut self) -> Result<(), DbError>;

    /// Rolls the open transaction back. Does nothing when none is open.
    ///
    /// # Errors
    /// Fails if the database cannot roll back (a broken connection).
    async fn rollback(&mut self) -> Result<(), DbError>;

    /// Whether a transaction is open on the connection right now.
    fn in_transaction(&self) -> bool;

    /// Runs one statement; returns the number of rows changed.
    ///
    /// # Errors
    /// Returns the database's error.
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;

    /// Runs one query and returns all rows.
    ///
    /// # Errors
    /// Returns the database's error.
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError>;

    /// Runs one statement per parameter set through one prepared statement;
    /// returns the total number of rows changed.
    ///
    /// # Errors
    /// Returns the first database error; earlier sets stay executed within
    /// the transaction.
    async fn execute_batch(&mut self, sql: &str, param_sets: &[Vec<Value>])
    -> Result<u64, DbError>;

    /// Runs a multi-statement script without parameters; returns the rows
    /// its statements changed, as the engine reports them.
    ///
    /// # Errors
    /// Returns the first database error.
    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError>;

    /// Opens a cursor over a query's result, as it is now.
    ///
    /// # Errors
    /// Returns the database's error.
    async fn open_cursor(&mut self, sql: &str, params: &[Value]) -> Result<CursorId, DbError>;

    /// Reads up to `max_rows` more rows; `None` once the cursor is exhausted.
    ///
    /// # Errors
    /// Returns the database's error, or an error for an unknown cursor.
    async fn cursor_next(
        &mut self,
        cursor: CursorId,
        max_rows: u32,
    ) -> Result<Option<Rows>, DbError>;

    /// Releases a cursor.
    ///
    /// # Errors
    /// Returns the database's error.
    async fn close_cursor(&mut self, cursor: CursorId) -> Result<(), DbError>;
}

/// Opens a connection for `url`.
///
/// # Errors
/// Fails when the database cannot be reached or opened.
pub async fn connect(url: &DatabaseUrl) -> Result<Box<dyn Backend>, DbError> {
    match url {
        DatabaseUrl::Sqlite { path, synchronous } => {
            let backend = SqliteBackend::open(path.as_deref())?;
            if let Some(level) = synchronous {
                backend.set_synchronous(*level)?;
            }
            Ok(Box::new(backend))
        }
        DatabaseUrl::Postgres(u) => Ok(Box::new(PostgresBackend::connect(u).await?)),
        DatabaseUrl::Mysql(u) => Ok(Box::new(MysqlBackend::connect(u).await?)),
    }
}
