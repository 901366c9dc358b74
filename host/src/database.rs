//! The database itself rather than what is in it: creating and dropping it
//! on its server (`wasmig database create|drop`, `wasmig up
//! --create-database`), and saying which database could not be reached and
//! what to check.
//!
//! PostgreSQL databases are created and dropped through the server's
//! maintenance database (`postgres`), MySQL and MariaDB ones through
//! `information_schema`; a SQLite database is its file.

use std::path::Path;
use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Executor, Row};

use crate::backend::{
    DatabaseUrl, DbError, DbErrorKind, mysql_error, nodelay, postgres_error, split_schema,
};
use crate::error::Error;

/// What `create` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The database did not exist and was created.
    Created,
    /// The database existed already (perhaps created by another runner a
    /// moment before).
    Existed,
}

/// What `drop` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The database existed and was dropped.
    Dropped,
    /// There was no such database.
    Absent,
}

/// Creates the database `url` names, unless it exists. Several runners may
/// do this at once: a database created by another one a moment before
/// counts as existing.
///
/// # Errors
/// [`Error::Unreachable`] when the server cannot be reached;
/// [`Error::Database`] when the server refuses (no `CREATEDB` privilege,
/// an invalid name).
///
/// A PostgreSQL URL with `?schema=NAME` is a tenant's schema: its database
/// is created when missing, then the schema in it.
pub async fn create(url: &DatabaseUrl) -> Result<Created, Error> {
    if let (DatabaseUrl::Postgres(raw), Some(schema)) = (url, url.schema()) {
        let base = DatabaseUrl::Postgres(split_schema(raw).0);
        create_database(&base).await?;
        return create_schema(&base, &schema).await;
    }
    create_database(url).await
}

async fn create_database(url: &DatabaseUrl) -> Result<Created, Error> {
    match url {
        DatabaseUrl::Sqlite { path: None, .. } => Ok(Created::Existed),
        DatabaseUrl::Sqlite {
            path: Some(path), ..
        } => create_sqlite(path),
        DatabaseUrl::Postgres(raw) => {
            let (mut conn, name) = postgres_maintenance(url, raw).await?;
            let context = format!("creating database {name}");
            if postgres_exists(&mut conn, &name, &context).await? {
                return Ok(Created::Existed);
            }
            let sql = format!("CREATE DATABASE {}", quote(&name, '"'));
            match conn
                .execute(AssertSqlSafe(sql))
                .await
                .map_err(postgres_error)
            {
                Ok(_) => Ok(Created::Created),
                // 42P04: it exists; 23505: another runner's CREATE won the race.
                Err(e) if matches!(e.code.as_deref(), Some("42P04" | "23505")) => {
                    Ok(Created::Existed)
                }
                Err(e) => Err(Error::db(context)(e)),
            }
        }
        DatabaseUrl::Mysql(raw) => {
            let (mut conn, name) = mysql_maintenance(url, raw).await?;
            let context = format!("creating database {name}");
            let existed = mysql_exists(&mut conn, &name, &context).await?;
            let sql = format!("CREATE DATABASE IF NOT EXISTS {}", quote(&name, '`'));
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(|e| Error::db(context)(mysql_error(e)))?;
            Ok(if existed {
                Created::Existed
            } else {
                Created::Created
            })
        }
    }
}

/// Drops the database `url` names, ending other sessions connected to it
/// first where the engine allows. A SQLite database's file is deleted, with
/// its journal.
///
/// # Errors
/// [`Error::Unreachable`] when the server cannot be reached;
/// [`Error::Database`] when the server refuses.
///
/// A PostgreSQL URL with `?schema=NAME` is a tenant's schema: only the
/// schema is dropped, with everything in it; the database stays.
pub async fn drop(url: &DatabaseUrl) -> Result<Dropped, Error> {
    if let (DatabaseUrl::Postgres(raw), Some(schema)) = (url, url.schema()) {
        return drop_schema(&DatabaseUrl::Postgres(split_schema(raw).0), &schema).await;
    }
    drop_database(url).await
}

/// Creates the tenant schema `schema` in the database `base` names.
async fn create_schema(base: &DatabaseUrl, schema: &str) -> Result<Created, Error> {
    let context = format!("creating the schema {schema}");
    let Some(mut conn) = schema_connection(base, &context).await? else {
        return Err(Error::Config(format!("{base} names no database")));
    };
    let existed = schema_exists(&mut conn, schema, &context).await?;
    let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote(schema, '"'));
    (&mut *conn)
        .execute(AssertSqlSafe(sql))
        .await
        .map_err(|e| Error::db(context)(postgres_error(e)))?;
    Ok(if existed {
        Created::Existed
    } else {
        Created::Created
    })
}

/// Drops the tenant schema `schema` of the database `base` names, with
/// everything in it.
async fn drop_schema(base: &DatabaseUrl, schema: &str) -> Result<Dropped, Error> {
    let context = format!("dropping the schema {schema}");
    let Some(mut conn) = schema_connection(base, &context).await? else {
        return Ok(Dropped::Absent);
    };
    if !schema_exists(&mut conn, schema, &context).await? {
        return Ok(Dropped::Absent);
    }
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(schema, '"'));
    (&mut *conn)
        .execute(AssertSqlSafe(sql))
        .await
        .map_err(|e| Error::db(context)(postgres_error(e)))?;
    Ok(Dropped::Dropped)
}

/// A connection to the database `base` names; `None` when it does not exist.
async fn schema_connection(
    base: &DatabaseUrl,
    context: &str,
) -> Result<Option<crate::backend::PgReusable>, Error> {
    let DatabaseUrl::Postgres(raw) = base else {
        return Ok(None);
    };
    match crate::backend::postgres_connect_as(raw, "wasmig").await {
        Ok(conn) => Ok(Some(conn)),
        Err(e) if e.code.as_deref() == Some("3D000") => Ok(None),
        Err(e) => Err(connecting(base, context)(e)),
    }
}

async fn schema_exists(
    conn: &mut PgConnection,
    schema: &str,
    context: &str,
) -> Result<bool, Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(conn)
        .await
        .map_err(|e| Error::db(context.to_owned())(postgres_error(e)))
}

async fn drop_database(url: &DatabaseUrl) -> Result<Dropped, Error> {
    match url {
        DatabaseUrl::Sqlite { path: None, .. } => Ok(Dropped::Absent),
        DatabaseUrl::Sqlite {
            path: Some(path), ..
        } => drop_sqlite(path),
        DatabaseUrl::Postgres(raw) => {
            let (mut conn, name) = postgres_maintenance(url, raw).await?;
            let context = format!("dropping database {name}");
            let existed = postgres_exists(&mut conn, &name, &context).await?;
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(&name, '"'));
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(|e| Error::db(context)(postgres_error(e)))?;
            Ok(if existed {
                Dropped::Dropped
            } else {
                Dropped::Absent
            })
        }
        DatabaseUrl::Mysql(raw) => {
            let (mut conn, name) = mysql_maintenance(url, raw).await?;
            let context = format!("dropping database {name}");
            if !mysql_exists(&mut conn, &name, &context).await? {
                return Ok(Dropped::Absent);
            }
            // MySQL has no DROP … FORCE: end the other sessions using it.
            let sessions = sqlx::query(
                "SELECT id FROM information_schema.processlist \
                 WHERE db = ? AND id <> CONNECTION_ID()",
            )
            .bind(&name)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| Error::db(context.clone())(mysql_error(e)))?;
            for session in sessions {
                let id: u64 = session.try_get(0).unwrap_or_default();
                // A session may have ended by itself meanwhile.
                let _ = conn.execute(AssertSqlSafe(format!("KILL {id}"))).await;
            }
            let sql = format!("DROP DATABASE IF EXISTS {}", quote(&name, '`'));
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(|e| Error::db(context)(mysql_error(e)))?;
            Ok(Dropped::Dropped)
        }
    }
}

/// The error for a database that could not be reached: which one (its
/// password hidden), the driver's reason, and what to check.
pub(crate) fn unreachable(url: &DatabaseUrl, error: DbError) -> Error {
    let hint = match (url, error.code.as_deref()) {
        // PostgreSQL 3D000, MySQL 1049: the server has no such database.
        (DatabaseUrl::Postgres(_), Some("3D000")) | (DatabaseUrl::Mysql(_), Some("1049")) => {
            "the server is up but has no such database: create it with `wasmig database \
             create`, or apply with `wasmig up --create-database`"
        }
        // PostgreSQL 28P01/28000, MySQL 1044/1045/1698: the login was refused.
        (DatabaseUrl::Postgres(_), Some("28P01" | "28000"))
        | (DatabaseUrl::Mysql(_), Some("1044" | "1045" | "1698")) => {
            "the server refused the login: check the user and password in the URL"
        }
        (DatabaseUrl::Sqlite { .. }, _) => {
            "check that the file's directory exists and that this user may write there"
        }
        _ => {
            "check that the server is running and accepts connections at the URL's host and \
             port (README: Databases), and that the URL is the one you meant: it comes from \
             --database-url, then DATABASE_URL, then wasmig.toml"
        }
    };
    Error::Unreachable {
        database: url.to_string(),
        reason: error.message,
        hint: hint.to_owned(),
    }
}

/// Maps an error met while connecting: one that says the database could not
/// be reached becomes [`Error::Unreachable`]; any other keeps `context`.
pub(crate) fn connecting(url: &DatabaseUrl, context: &str) -> impl FnOnce(DbError) -> Error {
    move |error| {
        let login_or_missing = matches!(
            error.code.as_deref(),
            Some("3D000" | "28P01" | "28000" | "1049" | "1044" | "1045" | "1698")
        );
        if error.kind == DbErrorKind::Connection || login_or_missing {
            unreachable(url, error)
        } else {
            Error::db(context)(error)
        }
    }
}

/// A connection to the PostgreSQL server's maintenance database, and the
/// name of the database `raw` names.
pub(crate) async fn postgres_maintenance(
    url: &DatabaseUrl,
    raw: &str,
) -> Result<(PgConnection, String), Error> {
    let options = PgConnectOptions::from_str(raw)
        .map_err(|e| Error::Config(format!("the database URL {url} cannot be read: {e}")))?;
    let name = database_name(url, options.get_database())?;
    let maintenance = options.database("postgres");
    let conn = nodelay::connecting(PgConnection::connect_with(&maintenance))
        .await
        .map_err(|e| unreachable(url, postgres_error(e).while_connecting()))?;
    Ok((conn, name))
}

/// A connection to the MySQL server without the database `raw` names, and
/// that database's name.
pub(crate) async fn mysql_maintenance(
    url: &DatabaseUrl,
    raw: &str,
) -> Result<(MySqlConnection, String), Error> {
    let raw = raw
        .strip_prefix("mariadb://")
        .map_or_else(|| raw.to_owned(), |rest| format!("mysql://{rest}"));
    let options = MySqlConnectOptions::from_str(&raw)
        .map_err(|e| Error::Config(format!("the database URL {url} cannot be read: {e}")))?;
    let name = database_name(url, options.get_database())?;
    let maintenance = options.database("information_schema");
    let conn = nodelay::connecting(MySqlConnection::connect_with(&maintenance))
        .await
        .map_err(|e| unreachable(url, mysql_error(e).while_connecting()))?;
    Ok((conn, name))
}

async fn postgres_exists(
    conn: &mut PgConnection,
    name: &str,
    context: &str,
) -> Result<bool, Error> {
    let found = sqlx::query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(|e| Error::db(context)(postgres_error(e)))?;
    Ok(found.is_some())
}

async fn mysql_exists(
    conn: &mut MySqlConnection,
    name: &str,
    context: &str,
) -> Result<bool, Error> {
    let found = sqlx::query("SELECT 1 FROM information_schema.schemata WHERE schema_name = ?")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(|e| Error::db(context)(mysql_error(e)))?;
    Ok(found.is_some())
}

fn database_name(url: &DatabaseUrl, name: Option<&str>) -> Result<String, Error> {
    match name {
        Some(name) if !name.is_empty() => Ok(name.to_owned()),
        _ => Err(Error::Config(format!(
            "the database URL {url} names no database: add it after the host, as in \
             postgres://user@host:5432/app or mysql://user@host:3306/app"
        ))),
    }
}

/// `name` as a quoted identifier: `"…"` on PostgreSQL, `` `…` `` on MySQL.
pub(crate) fn quote(name: &str, mark: char) -> String {
    let doubled = name.replace(mark, &format!("{mark}{mark}"));
    format!("{mark}{doubled}{mark}")
}

fn create_sqlite(path: &Path) -> Result<Created, Error> {
    if path.exists() {
        return Ok(Created::Existed);
    }
    rusqlite::Connection::open(path)
        .and_then(|conn| conn.execute_batch("PRAGMA user_version"))
        .map_err(|e| Error::Io {
            path: path.to_owned(),
            error: std::io::Error::other(e.to_string()),
        })?;
    Ok(Created::Created)
}

fn drop_sqlite(path: &Path) -> Result<Dropped, Error> {
    if !path.exists() {
        return Ok(Dropped::Absent);
    }
    std::fs::remove_file(path).map_err(Error::io(path))?;
    for suffix in ["-journal", "-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    Ok(Dropped::Dropped)
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn identifiers_are_quoted_with_their_marks_doubled() {
        assert_eq!(quote("app", '"'), "\"app\"");
        assert_eq!(quote("a\"b", '"'), "\"a\"\"b\"");
        assert_eq!(quote("a`b", '`'), "`a``b`");
    }
}
