//! Marking a migration as under way, so a runner that dies half way leaves
//! the truth behind.

use super::entries::{EntryState, LedgerEntry, record, remove, set_state};
use crate::backend::Backend;
use crate::source::Version;

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
        InterruptedMark::Applying(entry) => record(db, entry).await?,
        InterruptedMark::Reverting(version) => {
            set_state(db, *version, EntryState::Failed, Some(INTERRUPTED_DOWN)).await?;
        }
    }
    crate::failpoint::hit("marked");
    Ok(())
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
