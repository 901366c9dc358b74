//! The steps each applied migration ran (its up script, its down script or
//! component), kept so it can be shown or reverted after its file is gone.

use super::insert::{Insert, run_inserts};
use super::schema::table_exists;
use super::{PAYLOADS, TABLE, int};
use crate::backend::{Backend, Value};
use crate::error::Error;
use crate::source::Version;

/// Stored payloads are split into parts of this size, which every engine
/// accepts in one statement (MySQL's `max_allowed_packet` included).
const PART_BYTES: usize = 1 << 20;

/// Which step of a migration a stored payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// What `up` ran (SQL migrations only: a component is its own down step).
    Up,
    /// What `down` runs.
    Down,
    /// What a component's schema operations recorded to undo them (its
    /// `down` replays it through `revert-recorded`).
    Revert,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Up => "up",
            Step::Down => "down",
            Step::Revert => "revert",
        }
    }
}

/// A step of a migration as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStep {
    /// The migration file's path when it was applied (policies match it).
    pub path: String,
    /// Whether the migration runs outside a transaction.
    pub no_transaction: bool,
    /// The script (UTF-8), or the component's bytes.
    pub bytes: Vec<u8>,
}

/// Keeps `steps` of migration `version` (which has none kept: [`remove`](super::remove)
/// forgets them with the ledger row), in one statement unless a payload is
/// larger than a part.
///
/// # Errors
/// Returns the database's error.
pub async fn store_steps(
    db: &mut dyn Backend,
    version: Version,
    steps: &[(Step, &StoredStep)],
) -> Result<(), crate::DbError> {
    for insert in step_rows(version, steps) {
        run_inserts(db, &[insert]).await?;
    }
    Ok(())
}

/// The inserts that keep `steps`: one for all of them, unless a payload is
/// larger than half a part; then one per part.
pub(super) fn step_rows(version: Version, steps: &[(Step, &StoredStep)]) -> Vec<Insert> {
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for (step, stored) in steps {
        let mut parts: Vec<&[u8]> = stored.bytes.chunks(PART_BYTES).collect();
        if parts.is_empty() {
            parts.push(&[]);
        }
        for (i, part) in parts.into_iter().enumerate() {
            rows.push(vec![
                Value::Int(version),
                Value::Text(step.as_str().to_owned()),
                Value::Int(i64::try_from(i).unwrap_or(i64::MAX)),
                Value::Text(stored.path.clone()),
                Value::Int(i64::from(stored.no_transaction)),
                Value::Bytes(part.to_vec()),
            ]);
        }
    }
    if rows.is_empty() {
        return Vec::new();
    }
    let into = format!("{PAYLOADS} (version, step, part, path, no_transaction, bytes)");
    if steps.iter().any(|(_, s)| s.bytes.len() > PART_BYTES / 2) {
        rows.into_iter()
            .map(|row| Insert {
                into: into.clone(),
                rows: vec![row],
            })
            .collect()
    } else {
        vec![Insert { into, rows }]
    }
}

/// The versions that have steps kept but no ledger row (someone deleted
/// the row by hand): applying them replaces the steps.
///
/// # Errors
/// Fails when the tables cannot be read.
pub async fn stale_steps(db: &mut dyn Backend, ledger_exists: bool) -> Result<Vec<Version>, Error> {
    let sql = if ledger_exists {
        format!(
            "SELECT DISTINCT p.version FROM {PAYLOADS} p LEFT JOIN {TABLE} m \
             ON m.version = p.version WHERE m.version IS NULL"
        )
    } else if table_exists(db, PAYLOADS).await? {
        format!("SELECT DISTINCT version FROM {PAYLOADS}")
    } else {
        return Ok(Vec::new());
    };
    let rows = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading {PAYLOADS}")))?;
    Ok(rows.rows.iter().filter_map(|r| int(r.first())).collect())
}

/// Forgets the stored steps of migration `version`.
///
/// # Errors
/// Returns the database's error.
pub async fn remove_steps(db: &mut dyn Backend, version: Version) -> Result<(), crate::DbError> {
    let sql = format!(
        "DELETE FROM {PAYLOADS} WHERE version = {}",
        db.dialect().placeholder(1)
    );
    db.execute(&sql, &[Value::Int(version)]).await?;
    Ok(())
}

/// The versions whose down step the ledger keeps.
///
/// # Errors
/// Fails when the table cannot be read.
pub async fn stored_downs(db: &mut dyn Backend) -> Result<Vec<Version>, Error> {
    let rows = db
        .query(
            &format!("SELECT DISTINCT version FROM {PAYLOADS} WHERE step = 'down'"),
            &[],
        )
        .await
        .map_err(Error::db(format!("reading {PAYLOADS}")))?;
    Ok(rows.rows.iter().filter_map(|r| int(r.first())).collect())
}

/// The `step` kept for migration `version`, if any.
///
/// # Errors
/// Fails when the table cannot be read or holds parts wasmig did not write.
pub async fn read_step(
    db: &mut dyn Backend,
    version: Version,
    step: Step,
) -> Result<Option<StoredStep>, Error> {
    let d = db.dialect();
    let sql = format!(
        "SELECT part, path, no_transaction, bytes FROM {PAYLOADS} \
         WHERE version = {} AND step = {} ORDER BY part",
        d.placeholder(1),
        d.placeholder(2)
    );
    let rows = db
        .query(
            &sql,
            &[Value::Int(version), Value::Text(step.as_str().to_owned())],
        )
        .await
        .map_err(Error::db(format!(
            "reading the {} step of {version} from {PAYLOADS}",
            step.as_str()
        )))?;
    let mut stored: Option<StoredStep> = None;
    for (i, row) in rows.rows.into_iter().enumerate() {
        let bad = || {
            Error::Refused(format!(
                "{PAYLOADS} holds a damaged {} step for migration {version}; restore the \
                 migration's file instead",
                step.as_str()
            ))
        };
        if int(row.first()) != i64::try_from(i).ok() {
            return Err(bad());
        }
        let mut cells = row.into_iter().skip(1);
        let (path, flag, bytes) = (cells.next(), cells.next(), cells.next());
        let (Some(Value::Text(path)), Some(flag), Some(Value::Bytes(bytes))) =
            (path, int(flag.as_ref()), bytes)
        else {
            return Err(bad());
        };
        match &mut stored {
            Some(s) => s.bytes.extend_from_slice(&bytes),
            None => {
                stored = Some(StoredStep {
                    path,
                    no_transaction: flag != 0,
                    bytes,
                });
            }
        }
    }
    Ok(stored)
}
