//! The history: every apply, revert, repair, resolve and baseline, with who
//! ran it, when, and in which environment.

use super::insert::{Insert, run_inserts};
use super::schema::table_exists;
use super::{HISTORY, int};
use crate::backend::{Backend, Value};
use crate::error::Error;
use crate::source::Version;

/// What happened to a migration, as `history` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `up` applied it.
    Apply,
    /// `down` reverted it.
    Revert,
    /// `repair` re-stamped its checksum.
    Repair,
    /// `resolve --as applied`.
    ResolveApplied,
    /// `resolve --as rolled-back`.
    ResolveRolledBack,
    /// `baseline` recorded it without running it.
    Baseline,
    /// `drift --fix` wrote it from the database's schema and recorded it
    /// without running it.
    Adopt,
    /// `schema sync` changed the schema without a migration (version 0).
    Sync,
}

impl Action {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Revert => "revert",
            Action::Repair => "repair",
            Action::ResolveApplied => "resolve-applied",
            Action::ResolveRolledBack => "resolve-rolled-back",
            Action::Baseline => "baseline",
            Action::Adopt => "adopt",
            Action::Sync => "sync",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Action::Apply,
            Action::Revert,
            Action::Repair,
            Action::ResolveApplied,
            Action::ResolveRolledBack,
            Action::Baseline,
            Action::Adopt,
            Action::Sync,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One row of the history table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEvent {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// What happened.
    pub action: Action,
    /// The checksum the ledger recorded (for a repair: the new one).
    pub checksum: Option<String>,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// How long it took, when it ran.
    pub execution_ms: Option<i64>,
    /// The environment (`--env`).
    pub environment: String,
    /// Who ran it: `user@host`, or `WASMIG_ACTOR`.
    pub actor: String,
    /// More, where there is more to say (a repair's old checksum).
    pub detail: Option<String>,
}

/// Adds `event` to the history.
///
/// # Errors
/// Returns the database's error.
pub async fn log_event(db: &mut dyn Backend, event: &HistoryEvent) -> Result<(), crate::DbError> {
    run_inserts(db, &[history_row(event)]).await
}

pub(super) fn history_row(event: &HistoryEvent) -> Insert {
    let text = |t: &Option<String>| t.clone().map_or(Value::Null, Value::Text);
    Insert {
        into: format!(
            "{HISTORY} (version, name, action, checksum, at, execution_ms, environment, actor, \
             detail)"
        ),
        rows: vec![vec![
            Value::Int(event.version),
            Value::Text(event.name.clone()),
            Value::Text(event.action.as_str().to_owned()),
            text(&event.checksum),
            Value::Text(event.at.clone()),
            event.execution_ms.map_or(Value::Null, Value::Int),
            Value::Text(event.environment.clone()),
            Value::Text(event.actor.clone()),
            text(&event.detail),
        ]],
    }
}

/// Every history event, oldest first (none when there is no history table).
///
/// # Errors
/// Fails when the table cannot be read.
pub async fn read_history(db: &mut dyn Backend) -> Result<Vec<HistoryEvent>, Error> {
    if !table_exists(db, HISTORY).await? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT version, name, action, checksum, at, execution_ms, environment, actor, detail \
         FROM {HISTORY} ORDER BY id"
    );
    let rows = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading {HISTORY}")))?;
    let text = |v: Option<Value>| match v {
        Some(Value::Text(t)) => Some(t),
        _ => None,
    };
    let mut events = Vec::with_capacity(rows.rows.len());
    for row in rows.rows {
        let version = int(row.first());
        let execution_ms = int(row.get(5));
        let mut cells = row.into_iter();
        let _ = cells.next();
        let name = text(cells.next());
        let action = text(cells.next()).and_then(|a| Action::parse(&a));
        let checksum = text(cells.next());
        let at = text(cells.next());
        let _ = cells.next();
        let environment = text(cells.next());
        let actor = text(cells.next());
        let detail = text(cells.next());
        let (Some(version), Some(name), Some(action), Some(at), Some(environment), Some(actor)) =
            (version, name, action, at, environment, actor)
        else {
            return Err(Error::Refused(format!(
                "{HISTORY} has a row wasmig did not write"
            )));
        };
        events.push(HistoryEvent {
            version,
            name,
            action,
            checksum,
            at,
            execution_ms,
            environment,
            actor,
            detail,
        });
    }
    Ok(events)
}

/// Who is running wasmig: `WASMIG_ACTOR` when set (a CI job's name, say),
/// else `user@host`.
pub fn actor() -> String {
    if let Ok(actor) = std::env::var("WASMIG_ACTOR")
        && !actor.is_empty()
    {
        return actor;
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{host}")
}
