//! What the ledger is told about a migration: the mark that it is under
//! way, and its row, kept steps and history event once it ran.

use std::time::{Duration, SystemTime};

use super::Migrator;
use super::payload::{component_steps, schema_steps, sql_steps};
use super::prepare::{Prepared, PreparedBody};
use crate::backend::{Backend, DbError};
use crate::ledger::{self, EntryState, InterruptedMark, LedgerEntry};
use crate::report::Direction;
use crate::schema::Revert;

/// What the ledger already holds for a migration being recorded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Held {
    /// Its row (the mark that it is under way).
    pub(super) row: bool,
    /// Kept steps without a row (the row was deleted by hand).
    pub(super) steps: bool,
}

/// What a migration's run left to record.
pub(super) struct Done<'r> {
    /// How long it ran.
    pub(super) elapsed: Duration,
    /// The digest of the statements it issued.
    pub(super) statements_digest: Option<String>,
    /// How to undo a declarative migration that ran up.
    pub(super) revert: Option<&'r Revert>,
}

impl Migrator {
    /// The mark that records `migration` as under way.
    pub(super) fn interrupted_mark(
        &self,
        migration: &Prepared<'_>,
        direction: Direction,
    ) -> InterruptedMark {
        let source = migration.source;
        match direction {
            Direction::Up => InterruptedMark::Applying(LedgerEntry {
                version: source.version,
                name: source.name.clone(),
                kind: source.kind(),
                checksum: migration.checksum.clone(),
                state: EntryState::Failed,
                applied_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                execution_ms: 0,
                environment: self.env.name.clone(),
                error: Some(ledger::INTERRUPTED_UP.to_owned()),
                statements_digest: None,
            }),
            Direction::Down => InterruptedMark::Reverting(source.version),
        }
    }

    /// Records that `migration` ran in `direction`, in the transaction it
    /// ran in.
    pub(super) async fn record(
        &self,
        db: &mut dyn Backend,
        migration: &Prepared<'_>,
        direction: Direction,
        done: Done<'_>,
        held: Held,
    ) -> Result<(), DbError> {
        let Done {
            elapsed,
            statements_digest,
            revert,
        } = done;
        let source = migration.source;
        match direction {
            Direction::Up => {
                let entry = LedgerEntry {
                    version: source.version,
                    name: source.name.clone(),
                    kind: source.kind(),
                    checksum: migration.checksum.clone(),
                    state: EntryState::Applied,
                    applied_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                    execution_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
                    environment: self.env.name.clone(),
                    error: None,
                    statements_digest,
                };
                let steps = match &migration.body {
                    PreparedBody::Sql {
                        up,
                        down,
                        no_transaction,
                    } => sql_steps(source, up, down.as_deref(), *no_transaction),
                    PreparedBody::Component { loaded, bytes, .. } => {
                        let mut steps =
                            component_steps(source, !loaded.transactional(), bytes.clone());
                        if let Some(revert) = revert
                            && let Ok(json) = serde_json::to_vec(revert)
                        {
                            steps.push((
                                ledger::Step::Revert,
                                ledger::StoredStep {
                                    path: source.path().display().to_string(),
                                    no_transaction: false,
                                    bytes: json,
                                },
                            ));
                        }
                        steps
                    }
                    PreparedBody::Schema { text, .. } => schema_steps(source, text, revert),
                };
                let steps: Vec<_> = steps.iter().map(|(step, s)| (*step, s)).collect();
                let mut event =
                    self.history_event(source.version, &source.name, ledger::Action::Apply);
                event.checksum = Some(migration.checksum.clone());
                event.execution_ms = entry.execution_ms.into();
                // The row exists already when the migration was marked as
                // under way.
                ledger::record_applied(db, &entry, &steps, &event, held.row, held.steps).await
            }
            Direction::Down => {
                ledger::remove(db, source.version).await?;
                let mut event =
                    self.history_event(source.version, &source.name, ledger::Action::Revert);
                event.checksum = Some(migration.checksum.clone());
                event.execution_ms = Some(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
                ledger::log_event(db, &event).await
            }
        }
    }
}
