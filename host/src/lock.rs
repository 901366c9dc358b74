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
//!
//! Where session locks do not work — behind PgBouncer in transaction pooling
//! mode, where each statement may land on another server connection — use
//! [`LockMode::Lease`]: a row in `wasmig_lock` that expires unless its holder
//! renews it. The expiry is read from the database's clock, so runners on
//! machines whose clocks disagree still agree. A runner that dies holds the
//! lease until it expires; one that loses its lease (it stalled longer than
//! the lease) stops before its next migration.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlConnection;
use sqlx::{Connection, Row};

use crate::backend::{self, Backend, DatabaseUrl, DbErrorKind, Dialect, Value};
use crate::error::Error;

/// How long a runner waits for another one's lock by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The advisory lock key on PostgreSQL: "wasmig" in ASCII.
const PG_KEY: i64 = 0x7761_736d_6967;

/// The advisory lock key of a run on `schema` (a tenant's schema): the
/// first 8 bytes of sha256("wasmig:" + schema), so runners on different
/// schemas of one database do not wait for each other. Two schemas whose
/// keys collide (1 in 2^64) only take turns.
fn pg_key(schema: Option<&str>) -> i64 {
    use sha2::Digest;
    let Some(schema) = schema else {
        return PG_KEY;
    };
    let digest = sha2::Sha256::digest(format!("wasmig:{schema}"));
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// How runners exclude each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// The engine's session lock (advisory lock, `GET_LOCK`, file lock).
    #[default]
    Session,
    /// A renewed lease in the `wasmig_lock` table, for connection poolers.
    Lease,
}

/// The lease table's name.
pub const LEASE_TABLE: &str = "wasmig_lock";

/// How long a lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);

/// A held run lock; released when dropped (or explicitly, see
/// [`RunLock::release`]).
pub struct RunLock {
    held: Held,
}

enum Held {
    Nothing,
    File(File),
    Postgres(crate::backend::PgReusable, i64),
    Mysql(MySqlConnection),
    Lease(LeaseHolder),
}

struct LeaseHolder {
    lost: Arc<AtomicBool>,
    stop: tokio::sync::oneshot::Sender<()>,
    renewer: tokio::task::JoinHandle<()>,
}

impl RunLock {
    /// Takes the run lock of the database at `url`, waiting up to `timeout`
    /// for another runner to finish.
    ///
    /// # Errors
    /// [`Error::Refused`] when the lock is still held after `timeout`;
    /// [`Error::Database`] when the lock connection fails.
    pub async fn acquire(
        url: &DatabaseUrl,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<Self, Error> {
        if mode == LockMode::Lease {
            return Ok(Self {
                held: Held::Lease(lock_lease(url, timeout).await?),
            });
        }
        let held = match url {
            DatabaseUrl::Sqlite { path: None, .. } => Held::Nothing,
            DatabaseUrl::Sqlite {
                path: Some(path), ..
            } => Held::File(lock_file(path.clone(), timeout).await?),
            DatabaseUrl::Postgres(u) => {
                let key = pg_key(url.schema().as_deref());
                Held::Postgres(lock_postgres(url, u, key, timeout).await?, key)
            }
            DatabaseUrl::Mysql(u) => Held::Mysql(lock_mysql(url, u, timeout).await?),
        };
        Ok(Self { held })
    }

    /// Whether the lock was lost (a lease that could not be renewed in
    /// time); the run must stop before its next migration.
    pub fn is_lost(&self) -> bool {
        match &self.held {
            Held::Lease(lease) => lease.lost.load(Ordering::SeqCst),
            _ => false,
        }
    }

    /// Fails when the lock is gone: a lease that could not be renewed in
    /// time, or a lock connection the server ended (which released the
    /// lock). The run must stop before its next migration; the ledger's
    /// primary key still stops a runner that took the lock meanwhile from
    /// recording a migration this one is committing.
    ///
    /// # Errors
    /// [`Error::Refused`] saying the lock was lost.
    pub async fn check(&mut self) -> Result<(), Error> {
        let alive = match &mut self.held {
            Held::Lease(lease) => !lease.lost.load(Ordering::SeqCst),
            Held::Nothing | Held::File(_) => true,
            Held::Postgres(conn, _) => conn.ping().await.is_ok(),
            Held::Mysql(conn) => conn.ping().await.is_ok(),
        };
        if alive {
            return Ok(());
        }
        Err(Error::Refused(match self.held {
            Held::Lease(_) => "this run lost its lease on wasmig_lock (it could not renew it in \
                 time) and stopped before its next migration; run `wasmig up` again"
                .into(),
            _ => "this run lost its lock connection (the server ended it, which released the \
                 lock) and stopped before its next migration; what it committed is in the \
                 ledger. Run `wasmig up` again"
                .into(),
        }))
    }

    /// Releases the lock now.
    pub async fn release(self) {
        match self.held {
            Held::Lease(lease) => {
                let _ = lease.stop.send(());
                let _ = lease.renewer.await;
            }
            Held::Nothing => {}
            Held::File(file) => {
                let _ = file.unlock();
            }
            Held::Postgres(mut conn, key) => {
                let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .fetch_one(&mut *conn)
                    .await;
                // Only a connection whose lock is surely gone may serve
                // another tenant.
                if !matches!(unlocked, Ok(true)) {
                    conn.forget();
                }
                conn.close().await;
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
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
                Error::Refused(format!(
                    "cannot write beside the database {}: {e}. Applying and reverting \
                     migrations writes the database and its lock file {} in the same \
                     directory; `status`, `history` and `schema dump` only read. Nothing \
                     was changed (the database is read-only here: mount it read-write, or \
                     run where it is writable)",
                    db.display(),
                    path.display()
                ))
            }
            _ => Error::io(&path)(e),
        })?;
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

async fn lock_postgres(
    database: &DatabaseUrl,
    url: &str,
    key: i64,
    timeout: Duration,
) -> Result<crate::backend::PgReusable, Error> {
    let context = "taking the run lock (pg_advisory_lock)";
    let mut conn = crate::backend::postgres_connect_as(url, "wasmig lock")
        .await
        .map_err(crate::database::connecting(database, context))?;
    let started = Instant::now();
    loop {
        let row = sqlx::query("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| Error::Database {
                context: context.into(),
                error: crate::backend::postgres_error(e),
            })?;
        if row.try_get::<bool, _>(0).unwrap_or(false) {
            return Ok(conn);
        }
        if started.elapsed() >= timeout {
            let what = match database.schema() {
                Some(schema) => format!("the schema {schema} of this PostgreSQL database"),
                None => "this PostgreSQL database".to_owned(),
            };
            return Err(busy(&what, timeout));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lock_mysql(
    database: &DatabaseUrl,
    url: &str,
    timeout: Duration,
) -> Result<MySqlConnection, Error> {
    let context = "taking the run lock (GET_LOCK)";
    let url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_owned(),
    };
    let mut conn = crate::backend::nodelay::connecting(MySqlConnection::connect(&url))
        .await
        .map_err(|e| crate::backend::mysql_error(e).while_connecting())
        .map_err(crate::database::connecting(database, context))?;
    let seconds = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX).max(0);
    let row = sqlx::query("SELECT GET_LOCK(CONCAT('wasmig:', DATABASE()), ?)")
        .bind(seconds)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| Error::Database {
            context: context.into(),
            error: crate::backend::mysql_error(e),
        })?;
    match row.try_get::<Option<i64>, _>(0) {
        Ok(Some(1)) => Ok(conn),
        _ => Err(busy("this MySQL database", timeout)),
    }
}

/// The database's clock in milliseconds since the Unix epoch, as SQL.
fn now_ms(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        Dialect::Postgres => "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)",
        Dialect::Mysql => "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)",
    }
}

/// A deadlock or lock-wait error: another runner raced for the same row,
/// and trying again is the cure (InnoDB 1213/1205, PostgreSQL 40P01/40001).
fn contended(err: &crate::backend::DbError) -> bool {
    matches!(
        err.code.as_deref(),
        Some("1213" | "1205" | "40P01" | "40001")
    )
}

async fn lock_lease(url: &DatabaseUrl, timeout: Duration) -> Result<LeaseHolder, Error> {
    let context = "taking the run lease (wasmig_lock)";
    let mut db = backend::connect(url)
        .await
        .map_err(crate::database::connecting(url, context))?;
    let d = db.dialect();
    let owner = format!(
        "{}:{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
        std::process::id(),
        humantime::format_rfc3339_nanos(std::time::SystemTime::now())
    );
    let text = if d == Dialect::Mysql {
        "VARCHAR(255)"
    } else {
        "TEXT"
    };
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {LEASE_TABLE} (name VARCHAR(64) PRIMARY KEY, \
         owner {text} NOT NULL, expires_at BIGINT NOT NULL)"
    );
    match db.execute(&create, &[]).await {
        Ok(_) => {}
        // PostgreSQL: a concurrent runner created it between the existence
        // check and the creation (a unique violation on the catalog, or the
        // table's row type or the table found existing: 42710, 42P07).
        Err(e)
            if e.kind == DbErrorKind::Constraint
                || matches!(e.code.as_deref(), Some("42710" | "42P07")) => {}
        Err(e) => return Err(Error::db(context)(e)),
    }
    let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms(d);
    let started = Instant::now();
    loop {
        // An expired lease belongs to a runner that died: take it over.
        let expired = db
            .execute(
                &format!("DELETE FROM {LEASE_TABLE} WHERE name = 'run' AND expires_at < {now}"),
                &[],
            )
            .await;
        let insert = format!(
            "INSERT INTO {LEASE_TABLE} (name, owner, expires_at) VALUES ('run', {}, {now} + {})",
            d.placeholder(1),
            d.placeholder(2)
        );
        let taken = match expired {
            Ok(_) => {
                db.execute(&insert, &[Value::Text(owner.clone()), Value::Int(lease_ms)])
                    .await
            }
            Err(e) => Err(e),
        };
        match taken {
            Ok(_) => break,
            // Held by another runner, or the engine chose this runner as
            // the victim of a race for the row: try again.
            Err(e) if e.kind == DbErrorKind::Constraint || contended(&e) => {}
            Err(e) => return Err(Error::db(context)(e)),
        }
        if started.elapsed() >= timeout {
            return Err(busy("the wasmig_lock lease", timeout));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lost = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let renewer = tokio::spawn(renew(db, owner, lease_ms, lost.clone(), stopped));
    Ok(LeaseHolder {
        lost,
        stop,
        renewer,
    })
}

/// Renews the lease every third of its length until told to stop, then
/// deletes it. Marks it lost when a renewal finds it gone.
async fn renew(
    mut db: Box<dyn Backend>,
    owner: String,
    lease_ms: i64,
    lost: Arc<AtomicBool>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let d = db.dialect();
    let renew_sql = format!(
        "UPDATE {LEASE_TABLE} SET expires_at = {} + {} WHERE name = 'run' AND owner = {}",
        now_ms(d),
        d.placeholder(1),
        d.placeholder(2)
    );
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = tokio::time::sleep(LEASE / 3) => {
                let renewed = db
                    .execute(&renew_sql, &[Value::Int(lease_ms), Value::Text(owner.clone())])
                    .await;
                if !matches!(renewed, Ok(1)) {
                    lost.store(true, Ordering::SeqCst);
                }
                crate::failpoint::hit("renewed");
            }
        }
    }
    let release = format!(
        "DELETE FROM {LEASE_TABLE} WHERE name = 'run' AND owner = {}",
        d.placeholder(1)
    );
    let _ = db.execute(&release, &[Value::Text(owner)]).await;
}
