//! Connection reuse across the tenants of a fleet.
//!
//! A PostgreSQL connection costs the server a process and ~10 ms; a fleet
//! of schema tenants on one database would open two per tenant (its lock
//! and its work). With reuse switched on ([`enable`], by `wasmig fleet`), a
//! connection a tenant is done with goes back to an idle list, keyed by
//! server, database, application name and whether it names a schema, and
//! the next tenant takes it after `DISCARD ALL` (which also ends any
//! advisory lock and session setting the last tenant left) and, for a
//! schema tenant, `SET search_path` to its own schema. A connection is given
//! back only from a clean state: not in a transaction, not part way through
//! a read, its run lock released.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _};

/// How many idle connections are kept, in all (0: reuse is off).
static MAX_IDLE: AtomicUsize = AtomicUsize::new(0);

/// The idle connections, oldest first, each with its key.
fn idle() -> &'static Mutex<VecDeque<(String, PgConnection)>> {
    static IDLE: OnceLock<Mutex<VecDeque<(String, PgConnection)>>> = OnceLock::new();
    IDLE.get_or_init(Mutex::default)
}

fn enabled() -> bool {
    MAX_IDLE.load(Ordering::SeqCst) > 0
}

/// Switches reuse on for the rest of the process, keeping at most
/// `max_idle` idle connections in all (past that, the oldest is closed): a
/// fleet of `n` tenants at a time passes `2 n`, so that what it holds, busy
/// and idle, stays within twice what its tenants use.
pub fn enable(max_idle: usize) {
    MAX_IDLE.store(max_idle, Ordering::SeqCst);
}

/// A connection that may go back to the idle list when dropped.
pub(crate) struct Reusable {
    conn: Option<PgConnection>,
    key: String,
    /// Whether it is clean enough to give back; cleared by [`Self::forget`].
    reusable: bool,
}

impl Reusable {
    pub(super) fn new(conn: PgConnection, key: String) -> Self {
        Self {
            conn: Some(conn),
            key,
            reusable: true,
        }
    }

    /// Closes the connection when dropped instead of giving it back.
    pub(crate) fn forget(&mut self) {
        self.reusable = false;
    }

    /// Gives the connection back when it can be reused, else closes it.
    pub(crate) async fn close(mut self) {
        if self.reusable && enabled() {
            return;
        }
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

impl Deref for Reusable {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        // Set at construction and taken only in `drop`.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("a connection taken before drop"))
    }
}

impl DerefMut for Reusable {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("a connection taken before drop"))
    }
}

impl Drop for Reusable {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !(self.reusable && enabled()) {
            return;
        }
        let mut idle = idle().lock().unwrap_or_else(PoisonError::into_inner);
        idle.push_back((std::mem::take(&mut self.key), conn));
        while idle.len() > MAX_IDLE.load(Ordering::SeqCst) {
            idle.pop_front();
        }
    }
}

/// The key connections are kept under.
pub(super) fn key(driver_url: &str, application_name: &str, schema: bool) -> String {
    format!("{application_name}\u{0}{schema}\u{0}{driver_url}")
}

/// An idle connection for `key`, made clean for its next user; `None` when
/// there is none (or reuse is off).
pub(super) async fn take(key: &str, schema: Option<&str>) -> Option<PgConnection> {
    if !enabled() {
        return None;
    }
    loop {
        let conn = {
            let mut idle = idle().lock().unwrap_or_else(PoisonError::into_inner);
            let at = idle.iter().rposition(|(k, _)| k == key);
            at.and_then(|at| idle.remove(at)).map(|(_, conn)| conn)
        };
        let mut conn = conn?;
        if clean(&mut conn, schema).await.is_ok() {
            return Some(conn);
        }
        let _ = conn.close().await;
    }
}

async fn clean(conn: &mut PgConnection, schema: Option<&str>) -> Result<(), sqlx::Error> {
    // DISCARD ALL deallocates the server's prepared statements: sqlx must
    // forget its own first.
    conn.clear_cached_statements().await?;
    // Alone: several statements in one query run as one transaction block,
    // where DISCARD ALL cannot run.
    conn.execute("DISCARD ALL").await?;
    if let Some(schema) = schema {
        let sql = format!("SET search_path TO {}", super::quote_ident(schema));
        conn.execute(AssertSqlSafe(sql)).await?;
    }
    Ok(())
}
