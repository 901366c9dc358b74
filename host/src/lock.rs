//! The run lock: one runner at a time per database.
//!
//! `up` and `down` take the lock before they read the ledger and hold it
//! until they finish, so a second runner waits, then reads the ledger the
//! first one wrote and finds nothing left to do.
//!
//! | engine | lock |
//! |---|---|
//! | PostgreSQL | `pg_advisory_lock` on a dedicated connection, outside any transaction (so it cannot deadlock with `CREATE INDEX CONCURRENTLY` in a migration) |
//! | MySQL, MariaDB | `GET_LOCK('wasmig:<database>')` on a dedicated connection |
//! | SQLite | an exclusive file lock on `<database>.wasmig-lock` beside the database file |
//!
//! A runner that dies releases its lock with its connection (or its file
//! handle): there is nothing to clean up.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use crate::backend::DatabaseUrl;
use crate::error::Error;

/// How long a runner waits for another one's lock by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The advisory lock key on PostgreSQL: "wasmig" in ASCII.
const PG_KEY: i64 = 0x7761_736d_6967;

/// A held run lock; released when dropped (or explicitly, see
/// [`RunLock::release`]).
pub struct RunLock {
    held: Held,
}

enum Held {
    Nothing,
    File(File),
    Postgres(PgConnection),
    Mysql(MySqlConnection),
}

impl RunLock {
    /// Takes the run lock of the database at `url`, waiting up to `timeout`
    /// for another runner to finish.
    ///
    /// # Errors
    /// [`Error::Refused`] when the lock is still held after `timeout`;
    /// [`Error::Database`] when the lock connection fails.
    pub async fn acquire(url: &DatabaseUrl, timeout: Duration) -> Result<Self, Error> {
        let held = match url {
            DatabaseUrl::Sqlite { path: None } => Held::Nothing,
            DatabaseUrl::Sqlite { path: Some(path) } => {
                Held::File(lock_file(path.clone(), timeout).await?)
            }
            DatabaseUrl::Postgres(u) => Held::Postgres(lock_postgres(u, timeout).await?),
            DatabaseUrl::Mysql(u) => Held::Mysql(lock_mysql(u, timeout).await?),
        };
        Ok(Self { held })
    }

    /// Releases the lock now.
    pub async fn release(self) {
        match self.held {
            Held::Nothing => {}
            Held::File(file) => {
                let _ = file.unlock();
            }
            Held::Postgres(mut conn) => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_KEY)
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
            Held::Mysql(mut conn) => {
                let _ = sqlx::query("SELECT RELEASE_LOCK(CONCAT('wasmig:', DATABASE()))")
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

fn busy(what: &str, timeout: Duration) -> Error {
    Error::Refused(format!(
        "another wasmig run has held the lock on {what} for more than {}s; wait for it to \
         finish, or raise --lock-timeout. A runner that died releases its lock by itself.",
        timeout.as_secs()
    ))
}

async fn lock_file(db: PathBuf, timeout: Duration) -> Result<File, Error> {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".wasmig-lock");
    let path = db.with_file_name(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io(&path))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(busy(&db.display().to_string(), timeout));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path)(e)),
        }
    }
}

async fn lock_postgres(url: &str, timeout: Duration) -> Result<PgConnection, Error> {
    let context = "taking the run lock (pg_advisory_lock)";
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| Error::Database {
            context: context.into(),
            source: crate::backend::postgres_error(e),
        })?;
    let started = Instant::now();
    loop {
        let row = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(PG_KEY)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| Error::Database {
                context: context.into(),
                source: crate::backend::postgres_error(e),
            })?;
        if row.try_get::<bool, _>(0).unwrap_or(false) {
            return Ok(conn);
        }
        if started.elapsed() >= timeout {
            return Err(busy("this PostgreSQL database", timeout));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lock_mysql(url: &str, timeout: Duration) -> Result<MySqlConnection, Error> {
    let context = "taking the run lock (GET_LOCK)";
    let url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_owned(),
    };
    let mut conn = MySqlConnection::connect(&url)
        .await
        .map_err(|e| Error::Database {
            context: context.into(),
            source: crate::backend::mysql_error(e),
        })?;
    let seconds = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX).max(0);
    let row = sqlx::query("SELECT GET_LOCK(CONCAT('wasmig:', DATABASE()), ?)")
        .bind(seconds)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| Error::Database {
            context: context.into(),
            source: crate::backend::mysql_error(e),
        })?;
    match row.try_get::<Option<i64>, _>(0) {
        Ok(Some(1)) => Ok(conn),
        _ => Err(busy("this MySQL database", timeout)),
    }
}
