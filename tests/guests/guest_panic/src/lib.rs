//! Writes a row, then panics: the trap must roll the row back and the panic
//! message must reach the operator.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct GuestPanic;

impl Migration for GuestPanic {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        db.execute(
            "INSERT INTO notes (id, body) VALUES (101, 'written by guest_panic')",
            &[],
        )?;
        let rows = db.query("SELECT body FROM notes", &[])?;
        if !rows.is_empty() {
            panic!("boom: invariant violated after {} rows", rows.len());
        }
        Ok(())
    }
}

export_migration!(GuestPanic);
