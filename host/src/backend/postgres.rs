//! PostgreSQL through sqlx, on one connection.
//!
//! Every statement is prepared once per connection (sqlx caches it) and its
//! parameters are encoded for the types PostgreSQL inferred for them, so a
//! `text` value can fill a `uuid`, `jsonb`, `timestamptz` or `numeric`
//! parameter, and a value that does not fit gets an error naming the
//! parameter and its type. Cursors are server-side (`DECLARE … CURSOR`).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgArguments, PgConnection, PgRow, PgTypeInfo, PgTypeKind};
use sqlx::types::BigDecimal;
use sqlx::{
    Arguments, AssertSqlSafe, Column as _, Connection, Executor, Row, SqlSafeStr as _, Statement,
    TypeInfo,
};

use super::{
    Backend, Column, CursorId, DbError, DbErrorKind, Dialect, ResultCap, Rows, Tally, Value,
};

async fn open(url: &str) -> Result<PgConnection, DbError> {
    let conn = super::nodelay::connecting(PgConnection::connect(url))
        .await
        .map_err(|e| to_db_error(e).while_connecting())?;
    Ok(conn)
}

/// A PostgreSQL connection.
pub struct PostgresBackend {
    conn: PgConnection,
    url: String,
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
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Ok(Self {
            conn: open(url).await?,
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
        let stmt = (&mut self.conn)
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
        let mut stream = stmt.query_with(args).fetch(&mut self.conn);
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

#[async_trait]
impl Backend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn default_schema(&self) -> &str {
        "public"
    }

    fn set_result_cap(&mut self, cap: ResultCap) {
        self.cap = cap;
    }

    async fn set_statement_timeout(&mut self, timeout: Option<Duration>) -> Result<(), DbError> {
        let ms = timeout.map_or(0, |t| t.as_millis().clamp(1, i32::MAX as u128));
        self.simple(&format!("SET statement_timeout = {ms}")).await
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.simple("BEGIN").await?;
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
        let (stmt, args) = self.prepare(sql, params).await?;
        stmt.query_with(args)
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
        let stmt = (&mut self.conn)
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
                .execute(&mut self.conn)
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
            let stmt = (&mut self.conn)
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
        let mut stream = sqlx::query(AssertSqlSafe(fetch)).fetch(&mut self.conn);
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

fn encode_all(
    stmt: &sqlx::postgres::PgStatement,
    params: &[Value],
) -> Result<PgArguments, DbError> {
    let types: Vec<PgTypeInfo> = match stmt.parameters() {
        Some(sqlx::Either::Left(types)) => types.to_vec(),
        _ => Vec::new(),
    };
    if types.len() != params.len() {
        return Err(DbError::new(
            DbErrorKind::Syntax,
            format!(
                "the statement takes {} parameters, {} were given",
                types.len(),
                params.len()
            ),
        ));
    }
    let mut args = PgArguments::default();
    for (i, (value, ty)) in params.iter().zip(&types).enumerate() {
        encode(&mut args, value, ty).map_err(|why| {
            DbError::new(
                DbErrorKind::Syntax,
                format!("parameter ${} ({}): {why}", i + 1, ty.name()),
            )
        })?;
    }
    Ok(args)
}

/// `value` as a JSON document.
fn raw_json<T: serde::Serialize>(value: &T) -> Result<Box<serde_json::value::RawValue>, String> {
    serde_json::value::to_raw_value(value).map_err(|e| format!("invalid JSON: {e}"))
}

/// Encodes one value for a parameter of type `ty`.
fn encode(args: &mut PgArguments, value: &Value, ty: &PgTypeInfo) -> Result<(), String> {
    let add = |r: Result<(), sqlx::error::BoxDynError>| r.map_err(|e| e.to_string());
    if matches!(value, Value::Null) {
        return add(args.add(None::<i32>));
    }
    let name = ty.name();
    let text = text_of(value);
    let bad = || format!("cannot take {}", describe(value));
    match name {
        "BOOL" => match value {
            Value::Boolean(b) => add(args.add(*b)),
            Value::Int(i @ (0 | 1)) => add(args.add(*i == 1)),
            _ => Err(bad()),
        },
        "INT2" | "INT4" | "INT8" => {
            let i = match value {
                Value::Int(i) => *i,
                Value::Boolean(b) => i64::from(*b),
                Value::Decimal(s) | Value::Text(s) => s.trim().parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            match name {
                "INT2" => {
                    add(args.add(i16::try_from(i).map_err(|_| format!("{i} is out of range"))?))
                }
                "INT4" => {
                    add(args.add(i32::try_from(i).map_err(|_| format!("{i} is out of range"))?))
                }
                _ => add(args.add(i)),
            }
        }
        "FLOAT4" | "FLOAT8" => {
            let f = match value {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                Value::Decimal(s) | Value::Text(s) => s.trim().parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            if name == "FLOAT4" {
                add(args.add(f as f32))
            } else {
                add(args.add(f))
            }
        }
        "NUMERIC" => {
            let d = match value {
                Value::Int(i) => BigDecimal::from(*i),
                Value::Float(f) => BigDecimal::from_str(&f.to_string()).map_err(|_| bad())?,
                _ => BigDecimal::from_str(text.ok_or_else(bad)?.trim()).map_err(|_| bad())?,
            };
            add(args.add(d))
        }
        "UUID" => {
            let u =
                sqlx::types::Uuid::parse_str(text.ok_or_else(bad)?.trim()).map_err(|_| bad())?;
            add(args.add(u))
        }
        "JSON" | "JSONB" => {
            // Checked, then sent as written: a batch's JSON document is
            // not built into a tree only to be printed again.
            let j = match value {
                Value::Json(s) | Value::Text(s) => {
                    serde_json::value::RawValue::from_string(s.clone())
                        .map_err(|e| format!("invalid JSON: {e}"))?
                }
                Value::Int(i) => raw_json(i)?,
                Value::Float(f) => raw_json(f)?,
                Value::Boolean(b) => raw_json(b)?,
                _ => return Err(bad()),
            };
            add(args.add(sqlx::types::Json(j)))
        }
        "TIMESTAMPTZ" => add(args.add(parse_timestamp(text.ok_or_else(bad)?)?.and_utc())),
        "TIMESTAMP" => add(args.add(parse_timestamp(text.ok_or_else(bad)?)?)),
        "DATE" => {
            let d = NaiveDate::parse_from_str(text.ok_or_else(bad)?.trim(), "%Y-%m-%d")
                .map_err(|_| bad())?;
            add(args.add(d))
        }
        "TIME" => {
            let t = NaiveTime::from_str(text.ok_or_else(bad)?.trim()).map_err(|_| bad())?;
            add(args.add(t))
        }
        "BYTEA" => match value {
            Value::Bytes(b) => add(args.add(b.clone())),
            Value::Text(s) => add(args.add(s.as_bytes().to_vec())),
            _ => Err(bad()),
        },
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => match value {
            Value::Int(i) => add(args.add(i.to_string())),
            Value::Float(f) => add(args.add(f.to_string())),
            Value::Boolean(b) => add(args.add(b.to_string())),
            _ => add(args.add(text.ok_or_else(bad)?.to_owned())),
        },
        _ if matches!(ty.kind(), PgTypeKind::Enum(_)) => match text {
            // An enum's binary form is its label.
            Some(label) => add(args.add(EnumLabel(label.to_owned(), ty.clone()))),
            None => Err(bad()),
        },
        _ => Err(format!(
            "wasmig cannot pass values of this type; cast in SQL instead, e.g. `$1::text::{}`",
            name.to_ascii_lowercase()
        )),
    }
}

/// A text label sent as a value of a PostgreSQL enum type.
struct EnumLabel(String, PgTypeInfo);

impl sqlx::Type<sqlx::Postgres> for EnumLabel {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_name("text")
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for EnumLabel {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.0.as_str(), buf)
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.1.clone())
    }
}

fn text_of(value: &Value) -> Option<&str> {
    match value {
        Value::Text(s)
        | Value::Json(s)
        | Value::Uuid(s)
        | Value::Timestamp(s)
        | Value::Date(s)
        | Value::Decimal(s) => Some(s),
        _ => None,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => format!("the boolean {b}"),
        Value::Int(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the float {f}"),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::Text(s) => format!("the text {s:?}"),
        Value::Json(s) => format!("the JSON {s}"),
        Value::Uuid(s) => format!("the UUID {s}"),
        Value::Timestamp(s) => format!("the timestamp {s}"),
        Value::Date(s) => format!("the date {s}"),
        Value::Decimal(s) => format!("the decimal {s}"),
    }
}

/// Parses an RFC 3339 timestamp (with an offset: converted to UTC) or a
/// naive `YYYY-MM-DD[T ]HH:MM:SS[.f]`.
pub(crate) fn parse_timestamp(text: &str) -> Result<NaiveDateTime, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.naive_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t);
        }
    }
    Err(format!("`{text}` is not an RFC 3339 timestamp"))
}

fn read_row(row: &PgRow) -> Result<Vec<Value>, DbError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
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

fn read_cell(row: &PgRow, i: usize, ty: &PgTypeInfo) -> Result<Value, String> {
    use sqlx::ValueRef as _;
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let e = |e: sqlx::Error| e.to_string();
    Ok(match ty.name() {
        "BOOL" => Value::Boolean(row.try_get(i).map_err(e)?),
        "INT2" => Value::Int(i64::from(row.try_get::<i16, _>(i).map_err(e)?)),
        "INT4" => Value::Int(i64::from(row.try_get::<i32, _>(i).map_err(e)?)),
        "INT8" => Value::Int(row.try_get(i).map_err(e)?),
        "OID" => Value::Int(i64::from(
            row.try_get::<sqlx::postgres::types::Oid, _>(i)
                .map_err(e)?
                .0,
        )),
        "FLOAT4" => Value::Float(f64::from(row.try_get::<f32, _>(i).map_err(e)?)),
        "FLOAT8" => Value::Float(row.try_get(i).map_err(e)?),
        "NUMERIC" => Value::Decimal(numeric_text(raw.as_bytes().map_err(|e| e.to_string())?)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" => {
            Value::Text(row.try_get(i).map_err(e)?)
        }
        "BYTEA" => Value::Bytes(row.try_get(i).map_err(e)?),
        "JSON" | "JSONB" => Value::Json(
            row.try_get::<sqlx::types::Json<serde_json::Value>, _>(i)
                .map_err(e)?
                .0
                .to_string(),
        ),
        "UUID" => Value::Uuid(
            row.try_get::<sqlx::types::Uuid, _>(i)
                .map_err(e)?
                .to_string(),
        ),
        "TIMESTAMPTZ" => Value::Timestamp(
            row.try_get::<DateTime<Utc>, _>(i)
                .map_err(e)?
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ),
        "TIMESTAMP" => Value::Timestamp(
            row.try_get::<NaiveDateTime, _>(i)
                .map_err(e)?
                .format("%Y-%m-%dT%H:%M:%S%.f")
                .to_string(),
        ),
        "DATE" => Value::Date(row.try_get::<NaiveDate, _>(i).map_err(e)?.to_string()),
        "TIME" => Value::Text(row.try_get::<NaiveTime, _>(i).map_err(e)?.to_string()),
        "VOID" => Value::Null,
        _ if matches!(ty.kind(), PgTypeKind::Enum(_)) => {
            let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
            Value::Text(String::from_utf8_lossy(bytes).into_owned())
        }
        other => {
            return Err(format!(
                "wasmig cannot read this type; cast it in the query, e.g. `{}::text`",
                other.to_ascii_lowercase()
            ));
        }
    })
}

/// Renders PostgreSQL's binary `numeric` exactly as PostgreSQL prints it,
/// keeping its display scale (`12.50` stays `12.50`).
fn numeric_text(bytes: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<i16, String> {
        bytes
            .get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".to_owned())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "invalid numeric")?;
    let weight = i64::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?).map_err(|_| "invalid numeric")?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        digits.push(i64::from(word(4 + i)?));
    }
    let group = |i: i64| -> i64 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                text.push_str(&group(i).to_string());
            } else {
                text.push_str(&format!("{:04}", group(i)));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", group(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// Maps a sqlx error to a [`DbError`], classifying PostgreSQL's SQLSTATE.
pub(crate) fn to_db_error(err: sqlx::Error) -> DbError {
    match &err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned());
            let kind = match code.as_deref() {
                Some(c) if c.starts_with("23") => DbErrorKind::Constraint,
                Some("42501") => DbErrorKind::PermissionDenied,
                Some(c) if c.starts_with("42") => DbErrorKind::Syntax,
                Some("57014" | "55P03") => DbErrorKind::Timeout,
                Some(c) if c.starts_with("08") => DbErrorKind::Connection,
                Some(c) if c.starts_with("53") || c.starts_with("54") => DbErrorKind::Limit,
                _ => DbErrorKind::Other,
            };
            DbError {
                kind,
                code,
                message: db.message().to_owned(),
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            DbError::new(DbErrorKind::Connection, err.to_string())
        }
        _ => DbError::new(DbErrorKind::Other, err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::numeric_text;

    fn numeric(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [ndigits, weight, sign as i16, dscale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_keeps_its_display_scale() {
        assert_eq!(
            numeric_text(&numeric(2, 0, 0, 2, &[12, 5000])).unwrap(),
            "12.50"
        );
        assert_eq!(
            numeric_text(&numeric(2, 1, 0x4000, 0, &[1, 2345])).unwrap(),
            "-12345"
        );
        assert_eq!(
            numeric_text(&numeric(1, -1, 0, 5, &[12])).unwrap(),
            "0.00120"
        );
        assert_eq!(numeric_text(&numeric(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(
            numeric_text(&numeric(1, 2, 0, 0, &[7])).unwrap(),
            "700000000"
        );
    }
}
