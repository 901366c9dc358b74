//! What a run's schema operations recorded: the inverses a later
//! `revert-recorded` replays, and whether the guest's own DDL makes them
//! insufficient.

use crate::schema::{Op, Revert};

/// What a run's schema operations recorded, and what a revert replays.
#[derive(Debug, Default)]
pub(crate) struct SchemaState {
    /// A schema operation's statements are running (they are not the
    /// guest's own DDL).
    pub(crate) running: bool,
    /// The first DDL statement the guest issued itself, outside `apply`.
    pub(crate) raw_ddl: Option<String>,
    /// The inverse of each operation applied, in order.
    pub(crate) inverses: Vec<Vec<Op>>,
    /// Why an applied operation cannot be undone.
    pub(crate) irreversible: Option<String>,
    /// Going down: what was recorded when the migration was applied.
    pub(crate) kept: Option<Revert>,
}

impl SchemaState {
    /// What to keep in the ledger after `up`: the inverses, newest first,
    /// unless no schema operation ran.
    pub(crate) fn revert(&self) -> Option<Revert> {
        if self.inverses.is_empty() {
            return None;
        }
        let irreversible = self.irreversible.clone().or_else(|| {
            self.raw_ddl.as_ref().map(|sql| {
                format!(
                    "its `up` also ran DDL of its own (`{sql}`), which wasmig cannot undo: \
                     write its `down`"
                )
            })
        });
        Some(Revert {
            ops: self.inverses.iter().rev().flatten().cloned().collect(),
            irreversible,
        })
    }
}
