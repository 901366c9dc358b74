//! The ledger: the table that records which migrations ran.
//!
//! One row per migration that is applied (or, on engines that cannot roll
//! DDL back, that failed half way). The row is written in the same
//! transaction as the migration itself, so the ledger never claims a
//! migration that did not happen, and never misses one that did.
//!
//! Three tables: the ledger itself ([`TABLE`], see [`LedgerEntry`]), the
//! steps each applied migration ran ([`PAYLOADS`], see [`StoredStep`]), and
//! the history of every action taken ([`HISTORY`], see [`HistoryEvent`]).
//! A migration that may leave changes behind without finishing is marked as
//! under way first ([`InterruptedMark`]).

mod entries;
mod history;
mod insert;
mod marks;
mod schema;
mod steps;

use self::entries::ledger_row;
pub use self::entries::{
    EntryState, LedgerEntry, insert, read, read_if_exists, record, remove, set_state,
};
use self::history::history_row;
pub use self::history::{Action, HistoryEvent, actor, log_event, read_history};
use self::insert::run_inserts;
pub use self::marks::{
    INTERRUPTED_DOWN, INTERRUPTED_UP, InterruptedMark, mark, mark_failed, unmark,
};
pub use self::schema::{ensure, exists, upgrade};
use self::steps::step_rows;
pub use self::steps::{
    Step, StoredStep, read_step, remove_steps, stale_steps, store_steps, stored_downs,
};
use crate::backend::{Backend, Value};

/// The ledger table's name.
pub const TABLE: &str = "wasmig_migrations";

/// The table that keeps what each applied migration ran: its up script (so
/// `repair` can show what changed) and its down step (the down script, or
/// the component), so it can be reverted after its file is gone.
pub const PAYLOADS: &str = "wasmig_payloads";

/// The table of every apply, revert, repair, resolve and baseline, with
/// who ran it, when, and in which environment.
pub const HISTORY: &str = "wasmig_history";

/// Records an applied migration: its ledger row, its kept steps and its
/// history event, in as few statements as the engine allows. `replace`
/// when the ledger has a row for it already (its under-way mark);
/// `stale_steps` when steps are kept for it without a ledger row (someone
/// deleted the row by hand).
///
/// # Errors
/// Returns the database's error.
pub async fn record_applied(
    db: &mut dyn Backend,
    entry: &LedgerEntry,
    steps: &[(Step, &StoredStep)],
    event: &HistoryEvent,
    replace: bool,
    stale_steps: bool,
) -> Result<(), crate::DbError> {
    let d = db.dialect();
    if replace {
        db.execute(
            &format!("DELETE FROM {TABLE} WHERE version = {}", d.placeholder(1)),
            &[Value::Int(entry.version)],
        )
        .await?;
    }
    if stale_steps {
        remove_steps(db, entry.version).await?;
    }
    let mut inserts = vec![ledger_row(entry)];
    inserts.extend(step_rows(entry.version, steps));
    inserts.push(history_row(event));
    // A large payload goes in statements of its own.
    if inserts.len() > 3 {
        for insert in &inserts {
            run_inserts(db, std::slice::from_ref(insert)).await?;
        }
        return Ok(());
    }
    run_inserts(db, &inserts).await
}

/// An integer cell, as any engine returns it.
fn int(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::Int(i)) => Some(*i),
        Some(Value::Boolean(b)) => Some(i64::from(*b)),
        Some(Value::Text(t) | Value::Decimal(t)) => t.parse().ok(),
        _ => None,
    }
}
