//! The ledger: the table that records which migrations ran.
//!
//! One row per migration that is applied (or, on engines that cannot roll
//! DDL back, that failed half way). The row is written in the same
//! transaction as the migration itself, so the ledger never claims a
//! migration that did not happen, and never misses one that did.

use crate::backend::{Backend, Dialect, Value};
use crate::error::Error;
use crate::source::{MigrationKind, Version};

/// The ledger table's name.
pub const TABLE: &str = "wasmig_migrations";

/// The state a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Applied completely.
    Applied,
    /// Failed part way on an engine that could not roll it back.
    Failed,
}

impl EntryState {
    fn as_str(self) -> &'static str {
        match self {
            EntryState::Applied => "applied",
            EntryState::Failed => "failed",
        }
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// SQL or component.
    pub kind: MigrationKind,
    /// The sha256 (hex) of the exact bytes that ran: the up script, or the
    /// component.
    pub checksum: String,
    /// Applied or failed.
    pub state: EntryState,
    /// When it ran (RFC 3339, UTC).
    pub applied_at: String,
    /// How long it took, in milliseconds.
    pub execution_ms: i64,
    /// The environment it ran in (`--env`).
    pub environment: String,
    /// For a failed migration, its error.
    pub error: Option<String>,
    /// The sha256 (hex) of the statements and parameters it issued, in
    /// order: two runs against the same database state give the same
    /// digest.
    pub statements_digest: Option<String>,
}

fn create_table_sql(dialect: Dialect) -> String {
    let (text, big) = match dialect {
        Dialect::Sqlite => ("TEXT", "INTEGER"),
        Dialect::Postgres => ("TEXT", "BIGINT"),
        Dialect::Mysql => ("VARCHAR(255)", "BIGINT"),
    };
    let long_text = match dialect {
        Dialect::Mysql => "LONGTEXT",
        _ => "TEXT",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
            version      {big} PRIMARY KEY,
            name         {text} NOT NULL,
            kind         {text} NOT NULL,
            checksum     {text} NOT NULL,
            state        {text} NOT NULL,
            applied_at   {text} NOT NULL,
            execution_ms {big} NOT NULL,
            environment  {text} NOT NULL,
            error        {long_text},
            statements_digest {text}
        )"
    )
}

/// Creates the ledger table if it does not exist.
///
/// # Errors
/// Fails when the database refuses the `CREATE TABLE`.
pub async fn ensure(db: &mut dyn Backend) -> Result<(), Error> {
    let sql = create_table_sql(db.dialect());
    db.execute(&sql, &[])
        .await
        .map_err(Error::db(format!("creating the ledger table {TABLE}")))?;
    upgrade(db).await
}

/// Adds the columns a ledger written by an earlier wasmig lacks.
///
/// # Errors
/// Fails when the database refuses the `ALTER TABLE`.
pub async fn upgrade(db: &mut dyn Backend) -> Result<(), Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => format!("SELECT name FROM pragma_table_info('{TABLE}')"),
        Dialect::Postgres => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{TABLE}'"
        ),
        Dialect::Mysql => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{TABLE}'"
        ),
    };
    let columns = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading the columns of {TABLE}")))?;
    let has = |name: &str| {
        columns
            .rows
            .iter()
            .any(|r| matches!(r.first(), Some(Value::Text(t)) if t.eq_ignore_ascii_case(name)))
    };
    if !has("statements_digest") {
        let text = match db.dialect() {
            Dialect::Mysql => "VARCHAR(255)",
            _ => "TEXT",
        };
        db.execute(
            &format!("ALTER TABLE {TABLE} ADD COLUMN statements_digest {text}"),
            &[],
        )
        .await
        .map_err(Error::db(format!("adding statements_digest to {TABLE}")))?;
    }
    Ok(())
}

/// Reads every ledger row, ordered by version.
///
/// # Errors
/// Fails when the table cannot be read or holds a row wasmig did not write.
pub async fn read(db: &mut dyn Backend) -> Result<Vec<LedgerEntry>, Error> {
    // `*`, so a ledger an earlier wasmig wrote (without the newer columns)
    // reads too.
    let sql = format!("SELECT * FROM {TABLE} ORDER BY version");
    let rows = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading the ledger table {TABLE}")))?;
    let digest_at = rows
        .columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("statements_digest"));
    rows.rows
        .into_iter()
        .map(|mut row| {
            let digest = match digest_at {
                Some(i) if i < row.len() => match row.remove(i) {
                    Value::Text(t) => Some(t),
                    _ => None,
                },
                _ => None,
            };
            let mut entry = entry_from_row(row)?;
            entry.statements_digest = digest;
            Ok(entry)
        })
        .collect()
}

/// Reads a row in the column order of the original ledger table.
fn entry_from_row(row: Vec<Value>) -> Result<LedgerEntry, Error> {
    let bad = |what: &str| {
        Error::Refused(format!(
            "the ledger table {TABLE} has a row with an invalid {what}; it was not written \
             by this version of wasmig"
        ))
    };
    let mut cells = row.into_iter();
    let mut next = || cells.next().unwrap_or(Value::Null);
    let int = |v: Value| match v {
        Value::Int(i) => Some(i),
        Value::Text(t) | Value::Decimal(t) => t.parse().ok(),
        _ => None,
    };
    let text = |v: Value| match v {
        Value::Text(t) => Some(t),
        _ => None,
    };
    let version = int(next()).ok_or_else(|| bad("version"))?;
    let name = text(next()).ok_or_else(|| bad("name"))?;
    let kind = text(next())
        .and_then(|k| MigrationKind::parse(&k))
        .ok_or_else(|| bad("kind"))?;
    let checksum = text(next()).ok_or_else(|| bad("checksum"))?;
    let state = match text(next()).as_deref() {
        Some("applied") => EntryState::Applied,
        Some("failed") => EntryState::Failed,
        _ => return Err(bad("state")),
    };
    let applied_at = text(next()).ok_or_else(|| bad("applied_at"))?;
    let execution_ms = int(next()).ok_or_else(|| bad("execution_ms"))?;
    let environment = text(next()).ok_or_else(|| bad("environment"))?;
    let error = text(next());
    Ok(LedgerEntry {
        version,
        name,
        kind,
        checksum,
        state,
        applied_at,
        execution_ms,
        environment,
        error,
        statements_digest: None,
    })
}

/// Reads every ledger row, or nothing when there is no ledger table yet
/// (without creating it).
///
/// # Errors
/// Fails when the table cannot be read.
pub async fn read_if_exists(db: &mut dyn Backend) -> Result<Vec<LedgerEntry>, Error> {
    if exists(db).await? {
        read(db).await
    } else {
        Ok(Vec::new())
    }
}

/// Writes `entry`, replacing any row with the same version (a failed row the
/// operator resolved, say).
///
/// # Errors
/// Returns the database's error.
pub async fn record(db: &mut dyn Backend, entry: &LedgerEntry) -> Result<(), crate::DbError> {
    let d = db.dialect();
    db.execute(
        &format!("DELETE FROM {TABLE} WHERE version = {}", d.placeholder(1)),
        &[Value::Int(entry.version)],
    )
    .await?;
    let placeholders: Vec<String> = (1..=10).map(|n| d.placeholder(n)).collect();
    let sql = format!(
        "INSERT INTO {TABLE} (version, name, kind, checksum, state, applied_at, execution_ms, \
         environment, error, statements_digest) VALUES ({})",
        placeholders.join(", ")
    );
    db.execute(
        &sql,
        &[
            Value::Int(entry.version),
            Value::Text(entry.name.clone()),
            Value::Text(entry.kind.as_str().to_owned()),
            Value::Text(entry.checksum.clone()),
            Value::Text(entry.state.as_str().to_owned()),
            Value::Text(entry.applied_at.clone()),
            Value::Int(entry.execution_ms),
            Value::Text(entry.environment.clone()),
            entry.error.clone().map_or(Value::Null, Value::Text),
            entry
                .statements_digest
                .clone()
                .map_or(Value::Null, Value::Text),
        ],
    )
    .await?;
    Ok(())
}

/// Sets the state (and error) of the row of `version`.
///
/// # Errors
/// Returns the database's error.
pub async fn set_state(
    db: &mut dyn Backend,
    version: Version,
    state: EntryState,
    error: Option<&str>,
) -> Result<(), crate::DbError> {
    let d = db.dialect();
    let sql = format!(
        "UPDATE {TABLE} SET state = {}, error = {} WHERE version = {}",
        d.placeholder(1),
        d.placeholder(2),
        d.placeholder(3)
    );
    db.execute(
        &sql,
        &[
            Value::Text(state.as_str().to_owned()),
            error.map_or(Value::Null, |e| Value::Text(e.to_owned())),
            Value::Int(version),
        ],
    )
    .await?;
    Ok(())
}

/// Removes the row of `version` (after reverting it).
///
/// # Errors
/// Returns the database's error.
pub async fn remove(db: &mut dyn Backend, version: Version) -> Result<(), crate::DbError> {
    let sql = format!(
        "DELETE FROM {TABLE} WHERE version = {}",
        db.dialect().placeholder(1)
    );
    db.execute(&sql, &[Value::Int(version)]).await?;
    Ok(())
}

/// Whether the ledger table exists (so read-only commands need not create it).
///
/// # Errors
/// Returns the database's error.
pub async fn exists(db: &mut dyn Backend) -> Result<bool, Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        Dialect::Postgres => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        Dialect::Mysql => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    let rows = db
        .query(sql, &[Value::Text(TABLE.to_owned())])
        .await
        .map_err(Error::db(format!("looking for the ledger table {TABLE}")))?;
    Ok(!rows.rows.is_empty())
}

/// The ledger row that says a migration started and has not finished.
///
/// Written before anything of the migration can stick without a rollback
/// (before a no-transaction migration starts; on MySQL, just before its
/// first DDL statement, which commits implicitly), so a runner that dies
/// half way leaves the truth behind.
#[derive(Debug, Clone, PartialEq)]
pub enum InterruptedMark {
    /// Applying: the row to write, in the failed state.
    Applying(LedgerEntry),
    /// Reverting the applied migration of this version.
    Reverting(Version),
}

/// The error a mark carries until the migration finishes.
pub const INTERRUPTED_UP: &str = "interrupted: the run stopped before this migration finished";
/// The error a mark carries while a migration is reverted.
pub const INTERRUPTED_DOWN: &str =
    "interrupted: the run stopped before this migration was reverted";

/// Writes `mark`.
///
/// # Errors
/// Returns the database's error.
pub async fn mark(db: &mut dyn Backend, mark: &InterruptedMark) -> Result<(), crate::DbError> {
    match mark {
        InterruptedMark::Applying(entry) => record(db, entry).await,
        InterruptedMark::Reverting(version) => {
            set_state(db, *version, EntryState::Failed, Some(INTERRUPTED_DOWN)).await
        }
    }
}

/// Takes `mark` back after a failure that provably left nothing behind.
///
/// # Errors
/// Returns the database's error.
pub async fn unmark(db: &mut dyn Backend, mark: &InterruptedMark) -> Result<(), crate::DbError> {
    match mark {
        InterruptedMark::Applying(entry) => remove(db, entry.version).await,
        InterruptedMark::Reverting(version) => {
            set_state(db, *version, EntryState::Applied, None).await
        }
    }
}

/// Turns `mark` into a failed row carrying `error` (written again if the
/// rollback took the mark with it).
///
/// # Errors
/// Returns the database's error.
pub async fn mark_failed(
    db: &mut dyn Backend,
    mark: &InterruptedMark,
    error: &str,
) -> Result<(), crate::DbError> {
    match mark {
        InterruptedMark::Applying(entry) => {
            let mut entry = entry.clone();
            entry.error = Some(error.to_owned());
            record(db, &entry).await
        }
        InterruptedMark::Reverting(version) => {
            set_state(db, *version, EntryState::Failed, Some(error)).await
        }
    }
}
