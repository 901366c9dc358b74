//! Ledger rows: one per migration that is applied, or failed half way.

use super::TABLE;
use super::insert::{Insert, run_inserts};
use super::schema::exists;
use super::steps::remove_steps;
use crate::backend::{Backend, Value};
use crate::error::Error;
use crate::source::{MigrationKind, Version};

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
    insert(db, entry).await
}

/// Writes `entry` for a version the ledger has no row for.
///
/// # Errors
/// Returns the database's error (a duplicate key when it has one).
pub async fn insert(db: &mut dyn Backend, entry: &LedgerEntry) -> Result<(), crate::DbError> {
    run_inserts(db, &[ledger_row(entry)]).await
}

pub(super) fn ledger_row(entry: &LedgerEntry) -> Insert {
    Insert {
        into: format!(
            "{TABLE} (version, name, kind, checksum, state, applied_at, execution_ms, \
             environment, error, statements_digest)"
        ),
        rows: vec![vec![
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
        ]],
    }
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

/// Removes the row of `version` and its stored down step (after reverting
/// it).
///
/// # Errors
/// Returns the database's error.
pub async fn remove(db: &mut dyn Backend, version: Version) -> Result<(), crate::DbError> {
    let sql = format!(
        "DELETE FROM {TABLE} WHERE version = {}",
        db.dialect().placeholder(1)
    );
    db.execute(&sql, &[Value::Int(version)]).await?;
    remove_steps(db, version).await
}
