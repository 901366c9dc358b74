//! MySQL and MariaDB through sqlx, on one connection.
//!
//! Parameters are bound by their value type (MySQL converts them to the
//! column's type, and refuses what does not fit). Timestamps are sent as
//! UTC `DATETIME`s. Cursors are copied into a temporary table when opened
//! and read back in insertion order, so they see the rows as they were.
//!
//! DDL commits implicitly on MySQL: a migration that fails after a DDL
//! statement cannot be rolled back completely (see the ledger's failed state).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use futures_util::TryStreamExt;
use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlRow, MySqlTypeInfo};
use sqlx::types::BigDecimal;
use sqlx::{
    Arguments, AssertSqlSafe, Column as _, Connection, Executor, Row, SqlSafeStr as _, TypeInfo,
};

use super::postgres::parse_timestamp;
use super::{
    Backend, Column, CursorId, DbError, DbErrorKind, Dialect, ResultCap, Rows, Tally, Value,
};

/// A MySQL or MariaDB connection.
pub struct MysqlBackend {
    conn: MySqlConnection,
    url: String,
    database: String,
    mariadb: bool,
    in_transaction: bool,
    cursors: HashMap<u64, MysqlCursor>,
    next_cursor: u64,
    cap: ResultCap,
    /// A read stopped part way (its cap): the connection is replaced rather
    /// than drained.
    abandoned: bool,
}

struct MysqlCursor {
    table: String,
    columns: Vec<Column>,
    last_row: i64,
}

async fn open(url: &str) -> Result<MySqlConnection, DbError> {
    let mut conn = super::nodelay::connecting(MySqlConnection::connect(url))
        .await
        .map_err(|e| to_db_error(e).while_connecting())?;
    // Timestamps travel as UTC.
    conn.execute("SET time_zone = '+00:00'")
        .await
        .map_err(to_db_error)?;
    Ok(conn)
}

impl MysqlBackend {
    /// Connects to `url` (`mysql://` or `mariadb://`).
    ///
    /// # Errors
    /// Fails when the server cannot be reached or refuses the login.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let mut conn = open(&url).await?;
        let (database, version): (Option<String>, String) =
            sqlx::query_as("SELECT DATABASE(), VERSION()")
                .fetch_one(&mut conn)
                .await
                .map_err(to_db_error)?;
        Ok(Self {
            conn,
            url,
            database: database.unwrap_or_default().to_lowercase(),
            mariadb: version.to_ascii_lowercase().contains("mariadb"),
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

    async fn fetch(&mut self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let args = encode_all(params)?;
        let mut tally = Tally::new(self.cap);
        let mut columns = None;
        let mut values = Vec::new();
        let mut stream = sqlx::query_with(AssertSqlSafe(sql), args).fetch(&mut self.conn);
        while let Some(row) = stream.try_next().await.map_err(to_db_error)? {
            if columns.is_none() {
                columns = Some(columns_of(&row));
            }
            let row = read_row(&row, 0)?;
            if let Err(e) = tally.add(&row) {
                drop(stream);
                self.abandoned = true;
                return Err(e);
            }
            values.push(row);
        }
        drop(stream);
        let columns = match columns {
            Some(columns) => columns,
            None => self.describe(sql).await?,
        };
        Ok(Rows {
            columns,
            rows: values,
        })
    }

    /// The columns of a query that returned no rows.
    async fn describe(&mut self, sql: &str) -> Result<Vec<Column>, DbError> {
        let stmt = (&mut self.conn)
            .prepare(AssertSqlSafe(sql.to_owned()).into_sql_str())
            .await
            .map_err(to_db_error)?;
        Ok(sqlx::Statement::columns(&stmt)
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                type_name: c.type_info().name().to_owned(),
            })
            .collect())
    }
}

#[async_trait]
impl Backend for MysqlBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn default_schema(&self) -> &str {
        &self.database
    }

    fn set_result_cap(&mut self, cap: ResultCap) {
        self.cap = cap;
    }

    async fn set_statement_timeout(&mut self, timeout: Option<Duration>) -> Result<(), DbError> {
        // MariaDB bounds every statement (seconds); MySQL only reads
        // (milliseconds).
        let sql = match (self.mariadb, timeout) {
            (true, Some(t)) => format!("SET SESSION max_statement_time = {}", t.as_secs_f64()),
            (true, None) => "SET SESSION max_statement_time = 0".to_owned(),
            (false, Some(t)) => format!("SET SESSION max_execution_time = {}", t.as_millis()),
            (false, None) => "SET SESSION max_execution_time = 0".to_owned(),
        };
        self.simple(&sql).await
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.simple("START TRANSACTION").await?;
        self.in_transaction = true;
        Ok(())
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
        let args = encode_all(params)?;
        sqlx::query_with(AssertSqlSafe(sql), args)
            .execute(&mut self.conn)
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
        let mut changed = 0;
        for (i, set) in param_sets.iter().enumerate() {
            let with_set = |mut err: DbError| {
                err.message = format!("parameter set {i}: {}", err.message);
                err
            };
            let args = encode_all(set).map_err(with_set)?;
            changed += sqlx::query_with(AssertSqlSafe(sql), args)
                .execute(&mut self.conn)
                .await
                .map_err(|e| with_set(to_db_error(e)))?
                .rows_affected();
        }
        Ok(changed)
    }

    async fn execute_script(&mut self, sql: &str) -> Result<u64, DbError> {
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
        let table = format!("wasmig_cursor_{id}");
        let select = sql.trim().trim_end_matches(';');
        let columns = self.describe(select).await?;
        // CREATE TEMPORARY TABLE does not end the transaction on MySQL.
        let create = format!(
            "CREATE TEMPORARY TABLE {table} \
             (wasmig_row BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY) {select}"
        );
        self.execute(&create, params).await?;
        self.cursors.insert(
            id,
            MysqlCursor {
                table,
                columns,
                last_row: 0,
            },
        );
        Ok(CursorId(id))
    }

    async fn cursor_next(
        &mut self,
        cursor: CursorId,
        max_rows: u32,
    ) -> Result<Option<Rows>, DbError> {
        let Some(state) = self.cursors.get(&cursor.0) else {
            return Err(DbError::new(DbErrorKind::Other, "cursor is closed"));
        };
        let sql = format!(
            "SELECT * FROM {} WHERE wasmig_row > ? ORDER BY wasmig_row LIMIT ?",
            state.table
        );
        let columns = state.columns.clone();
        let mut args = MySqlArguments::default();
        args.add(state.last_row).map_err(encode_error)?;
        args.add(i64::from(max_rows.max(1))).map_err(encode_error)?;
        let mut tally = Tally::new(self.cap);
        let mut values = Vec::new();
        let mut last_row = None;
        let mut stream = sqlx::query_with(AssertSqlSafe(sql), args).fetch(&mut self.conn);
        while let Some(row) = stream.try_next().await.map_err(to_db_error)? {
            last_row = Some(row.try_get::<i64, _>(0).map_err(to_db_error)?);
            let row = read_row(&row, 1)?;
            if let Err(e) = tally.add(&row) {
                drop(stream);
                self.abandoned = true;
                return Err(e);
            }
            values.push(row);
        }
        let Some(last_row) = last_row else {
            return Ok(None);
        };
        if let Some(state) = self.cursors.get_mut(&cursor.0) {
            state.last_row = last_row;
        }
        Ok(Some(Rows {
            columns,
            rows: values,
        }))
    }

    async fn close_cursor(&mut self, cursor: CursorId) -> Result<(), DbError> {
        if let Some(state) = self.cursors.remove(&cursor.0) {
            self.simple(&format!("DROP TEMPORARY TABLE IF EXISTS {}", state.table))
                .await?;
        }
        Ok(())
    }
}

fn encode_error(e: sqlx::error::BoxDynError) -> DbError {
    DbError::new(DbErrorKind::Other, e.to_string())
}

fn encode_all(params: &[Value]) -> Result<MySqlArguments, DbError> {
    let mut args = MySqlArguments::default();
    for (i, value) in params.iter().enumerate() {
        let bad =
            |why: String| DbError::new(DbErrorKind::Syntax, format!("parameter {}: {why}", i + 1));
        let added = match value {
            Value::Null => args.add(None::<String>),
            Value::Boolean(b) => args.add(*b),
            Value::Int(n) => args.add(*n),
            Value::Float(f) => args.add(*f),
            Value::Bytes(b) => args.add(b.clone()),
            Value::Text(s) | Value::Json(s) | Value::Uuid(s) | Value::Decimal(s) => {
                args.add(s.clone())
            }
            Value::Timestamp(s) => args.add(parse_timestamp(s).map_err(bad)?),
            Value::Date(s) => args.add(
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map_err(|_| bad(format!("`{s}` is not a date (YYYY-MM-DD)")))?,
            ),
        };
        added.map_err(encode_error)?;
    }
    Ok(args)
}

fn columns_of(row: &MySqlRow) -> Vec<Column> {
    row.columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            type_name: c.type_info().name().to_owned(),
        })
        .collect()
}

fn read_row(row: &MySqlRow, skip: usize) -> Result<Vec<Value>, DbError> {
    let mut values = Vec::with_capacity(row.len().saturating_sub(skip));
    for (i, column) in row.columns().iter().enumerate().skip(skip) {
        values.push(read_cell(row, i, column.type_info()).map_err(|why| {
            DbError::new(
                DbErrorKind::Other,
                format!(
                    "column `{}` ({}): {why}",
                    column.name(),
                    column.type_info().name()
                ),
            )
        })?);
    }
    Ok(values)
}

fn read_cell(row: &MySqlRow, i: usize, ty: &MySqlTypeInfo) -> Result<Value, String> {
    use sqlx::ValueRef as _;
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let e = |e: sqlx::Error| e.to_string();
    let name = ty.name();
    Ok(match name {
        "BOOLEAN" => Value::Boolean(row.try_get(i).map_err(e)?),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            Value::Int(row.try_get(i).map_err(e)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => {
            Value::Int(i64::from(row.try_get::<u32, _>(i).map_err(e)?))
        }
        "BIGINT UNSIGNED" => {
            let n: u64 = row.try_get(i).map_err(e)?;
            i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Int)
        }
        "FLOAT" => Value::Float(f64::from(row.try_get::<f32, _>(i).map_err(e)?)),
        "DOUBLE" => Value::Float(row.try_get(i).map_err(e)?),
        "DECIMAL" => Value::Decimal(row.try_get::<BigDecimal, _>(i).map_err(e)?.to_string()),
        "JSON" => Value::Json(row.try_get(i).map_err(e)?),
        "DATETIME" | "TIMESTAMP" => Value::Timestamp(
            row.try_get::<NaiveDateTime, _>(i)
                .map_err(e)?
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        ),
        "DATE" => Value::Date(row.try_get::<NaiveDate, _>(i).map_err(e)?.to_string()),
        "TIME" => Value::Text(row.try_get::<NaiveTime, _>(i).map_err(e)?.to_string()),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BIT"
        | "GEOMETRY" => Value::Bytes(row.try_get(i).map_err(e)?),
        _ => match row.try_get::<String, _>(i) {
            Ok(s) => Value::Text(s),
            Err(_) => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i).map_err(e)?),
        },
    })
}

/// Maps a sqlx error to a [`DbError`], classifying MySQL's error numbers.
pub(crate) fn to_db_error(err: sqlx::Error) -> DbError {
    match &err {
        sqlx::Error::Database(db) => {
            let number = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|m| m.number());
            let kind = match number {
                Some(1062 | 1451 | 1452 | 1048 | 3819 | 4025) => DbErrorKind::Constraint,
                Some(1044 | 1045 | 1142 | 1143 | 1227 | 1370) => DbErrorKind::PermissionDenied,
                Some(1064 | 1146 | 1054 | 1049 | 1050 | 1051 | 1091) => DbErrorKind::Syntax,
                Some(1205 | 1317 | 3024 | 1969) => DbErrorKind::Timeout,
                Some(2006 | 2013) => DbErrorKind::Connection,
                _ => DbErrorKind::Other,
            };
            DbError {
                kind,
                code: number.map(|n| n.to_string()),
                message: db.message().to_owned(),
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            DbError::new(DbErrorKind::Connection, err.to_string())
        }
        _ => DbError::new(DbErrorKind::Other, err.to_string()),
    }
}
