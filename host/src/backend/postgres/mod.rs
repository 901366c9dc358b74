//! PostgreSQL through sqlx, on one connection.
//!
//! Every statement is prepared once per connection (sqlx caches it) and its
//! parameters are encoded for the types PostgreSQL inferred for them, so a
//! `text` value can fill a `uuid`, `jsonb`, `timestamptz` or `numeric`
//! parameter, and a value that does not fit gets an error naming the
//! parameter and its type. Cursors are server-side (`DECLARE … CURSOR`).

mod errors;
mod params;
mod reuse;
mod rows;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::{
    AssertSqlSafe, Column as _, Connection, Executor, SqlSafeStr as _, Statement, TypeInfo,
};

pub(crate) use self::errors::to_db_error;
use self::params::encode_all;
pub(crate) use self::params::parse_timestamp;
pub(crate) use self::reuse::Reusable;
pub use self::reuse::enable as reuse_connections;
use self::rows::read_row;
use super::{
    Backend, Column, CursorId, DbError, DbErrorKind, Dialect, ResultCap, Rows, Tally, Value,
};

async fn open(url: &str) -> Result<Reusable, DbError> {
    connect_as(url, "wasmig").await
}

/// Connects to `url` as `application_name` (unless the URL names one), so
/// an operator, or a test, can tell wasmig's sessions apart in
/// `pg_stat_activity`: `wasmig` does the work, `wasmig lock` holds the lock.
///
/// A URL with `?schema=NAME` (wasmig's own parameter, not the driver's)
/// connects with `search_path` set to that schema alone, so the ledger, the
/// lease table and every unqualified name are the tenant's. In a fleet an
/// idle connection is reused when there is one (see `reuse`).
pub(crate) async fn connect_as(url: &str, application_name: &str) -> Result<Reusable, DbError> {
    let (url, schema) = super::url::split_schema(url);
    let key = reuse::key(&url, application_name, schema.is_some());
    if let Some(conn) = reuse::take(&key, schema.as_deref()).await {
        return Ok(Reusable::new(conn, key));
    }
    let mut options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .map_err(|e| to_db_error(e).while_connecting())?;
    if options.get_application_name().is_none() {
        options = options.application_name(application_name);
    }
    if let Some(schema) = &schema {
        options = options.options([("search_path", quote_ident(schema))]);
    }
    super::nodelay::connecting(PgConnection::connect_with(&options))
        .await
        .map(|conn| Reusable::new(conn, key))
        .map_err(|e| to_db_error(e).while_connecting())
}

/// `name` as a quoted identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL connection.
pub struct PostgresBackend {
    conn: Reusable,
    url: String,
    /// The tenant schema of a `?schema=` URL; `public` otherwise.
    schema: Option<String>,
    in_transaction: bool,
    cursors: HashMap<u64, Vec<Column>>,
    next_cursor: u64,
    cap: ResultCap,
    /// A read stopped part way (its cap): the server may still be sending
    /// rows, so the connection is replaced rather than drained.
    abandoned: bool,
}

impl PostgresBackend {
    /// Connects to `url`.
    ///
    /// # Errors
    /// Fails when the server cannot be reached or refuses the login.
    /// With `?schema=NAME`, fails when the schema does not exist.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let schema = super::url::split_schema(url).1;
        let mut conn = open(url).await?;
        if let Some(name) = &schema {
            let exists: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
                .fetch_one(&mut *conn)
                .await
                .map_err(to_db_error)?;
            if exists.is_none() {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    format!(
                        "the schema {name} does not exist in this database: create it \
                         (CREATE SCHEMA {}), or fix the URL's schema=",
                        quote_ident(name)
                    ),
                ));
            }
        }
        Ok(Self {
            conn,
            schema,
            url: url.to_owned(),
            in_transaction: false,
            cursors: HashMap::new(),
            next_cursor: 1,
            cap: ResultCap::UNLIMITED,
            abandoned: false,
        })
    }

    async fn simple(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn
            .execute(AssertSqlSafe(sql))
            .await
            .map(|_| ())
            .map_err(to_db_error)
    }

    /// Prepares `sql` (cached per connection) and encodes `params` for the
    /// parameter types the server inferred.
    async fn prepare(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<(sqlx::postgres::PgStatement, PgArguments), DbError> {
        let stmt = (&mut *self.conn)
            .prepare(AssertSqlSafe(sql.to_owned()).into_sql_str())
            .await
            .map_err(to_db_error)?;
        let args = encode_all(&stmt, params)?;
        Ok((stmt, args))
    }

    async fn fetch(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let (stmt, args) = self.prepare(sql, params).await?;
        let columns: Vec<Column> = stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                type_name: c.type_info().name().to_owned(),
            })
            .collect();
        let mut tally = Tally::new(self.cap);
        let mut rows = Vec::new();
        let mut stream = stmt.query_with(args).fetch(&mut *self.conn);
        while let Some(row) = stream.try_next().await.map_err(to_db_error)? {
            let row = read_row(&row)?;
            if let Err(e) = tally.add(&row) {
                drop(stream);
                self.abandoned = true;
                return Err(e);
            }
            rows.push(row);
        }
        Ok(Rows { columns, rows })
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        // Part way through a transaction or a read, the connection is not
        // handed to the next tenant.
        if self.in_transaction || self.abandoned {
            self.conn.forget();
        }
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn default_schema(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    fn set_result_cap(&mut self, cap: ResultCap) {
        self.cap = cap;
    }

    async fn set_statement_timeout(&mut self, timeout: Option<Duration>) -> Result<(), DbError> {
        let ms = timeout.map_or(0, |t| t.as_millis().clamp(1, i32::MAX as u128));
        self.simple(&format!("SET statement_timeout = {ms}")).await
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        match &self.schema {
            // A migration that sets search_path changes it for its own
            // transaction; the next one starts in the tenant's schema again.
            Some(schema) => {
                let sql = format!("BEGIN; SET LOCAL search_path TO {}", quote_ident(schema));
                self.simple(&sql).await?;
            }
            None => self.simple("BEGIN").await?,
        }
        self.in_transaction = true;
        Ok(())
    }

    async fn restore_default_schema(&mut self) -> Result<(), DbError> {
        let Some(schema) = &self.schema else {
            return Ok(());
        };
        // A session-wide SET: inside a transaction it commits with it (and is
        // undone by a rollback), so a migration's own session-wide SET does
        // not outlive it into the next migration's ledger mark.
        self.simple(&format!("SET search_path TO {}", quote_ident(schema)))
            .await
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        let result = self.simple("COMMIT").await;
        self.in_transaction = false;
        self.cursors.clear();
        result
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.cursors.clear();
        if self.abandoned {
            // Closing the connection ends its transaction on the server.
            self.conn.forget();
            self.conn = open(&self.url).await?;
            self.abandoned = false;
            self.in_transaction = false;
            return Ok(());
        }
        if !self.in_transaction {
            return Ok(());
        }
        let result = self.simple("ROLLBACK").await;
        self.in_transaction = false;
        result
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let (stmt, args) = self.prepare(sql, params).await?;
        stmt.query_with(args)
            .execute(&mut *self.conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(to_db_error)
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        self.fetch(sql, params).await
    }

    async fn execute_batch(
        &mut self,
        sql: &str,
        param_sets: &[Vec<Value>],
    ) -> Result<u64, DbError> {
        let stmt = (&mut *self.conn)
            .prepare(AssertSqlSafe(sql.to_owned()).into_sql_str())
            .await
            .map_err(to_db_error)?;
        let mut changed = 0;
        for (i, set) in param_sets.iter().enumerate() {
            let with_set = |mut err: DbError| {
                err.message = format!("parameter set {i}: {}", err.message);
                err
            };
            let args = encode_all(&stmt, set).map_err(with_set)?;
            changed += stmt
                .query_with(args)
                .execute(&mut *self.conn)
                .await
                .map_err(|e| with_set(to_db_error(e)))?
                .rows_affected();
        }
        Ok(changed)
    }

    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError> {
        // The simple query protocol runs every statement of the script.
        let mut results = self.conn.execute_many(AssertSqlSafe(sql));
        let mut rows = 0;
        while let Some(done) = results.try_next().await.map_err(to_db_error)? {
            rows += done.rows_affected();
        }
        Ok(rows)
    }

    async fn open_cursor(&mut self, sql: &str, params: &[Value]) -> Result<CursorId, DbError> {
        let id = self.next_cursor;
        self.next_cursor += 1;
        let select = sql.trim().trim_end_matches(';');
        // Outside a transaction a cursor must be WITH HOLD to survive.
        let hold = if self.in_transaction {
            ""
        } else {
            " WITH HOLD"
        };
        let declare = format!("DECLARE wasmig_cursor_{id} NO SCROLL CURSOR{hold} FOR {select}");
        let columns = {
            let stmt = (&mut *self.conn)
                .prepare(AssertSqlSafe(select.to_owned()).into_sql_str())
                .await
                .map_err(to_db_error)?;
            stmt.columns()
                .iter()
                .map(|c| Column {
                    name: c.name().to_owned(),
                    type_name: c.type_info().name().to_owned(),
                })
                .collect()
        };
        self.execute(&declare, params).await?;
        self.cursors.insert(id, columns);
        Ok(CursorId(id))
    }

    async fn cursor_next(
        &mut self,
        cursor: CursorId,
        max_rows: u32,
    ) -> Result<Option<Rows>, DbError> {
        let Some(columns) = self.cursors.get(&cursor.0).cloned() else {
            return Err(DbError::new(DbErrorKind::Other, "cursor is closed"));
        };
        let fetch = format!(
            "FETCH FORWARD {} FROM wasmig_cursor_{}",
            max_rows.max(1),
            cursor.0
        );
        let mut tally = Tally::new(self.cap);
        let mut rows = Vec::new();
        let mut stream = sqlx::query(AssertSqlSafe(fetch)).fetch(&mut *self.conn);
        while let Some(row) = stream.try_next().await.map_err(to_db_error)? {
            let row = read_row(&row)?;
            if let Err(e) = tally.add(&row) {
                drop(stream);
                self.abandoned = true;
                return Err(e);
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Rows { columns, rows }))
    }

    async fn close_cursor(&mut self, cursor: CursorId) -> Result<(), DbError> {
        if self.cursors.remove(&cursor.0).is_some() {
            self.simple(&format!("CLOSE wasmig_cursor_{}", cursor.0))
                .await?;
        }
        Ok(())
    }
}
