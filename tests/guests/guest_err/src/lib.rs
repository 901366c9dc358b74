//! Writes and changes rows, then gives up with an error: nothing may stay
//! behind.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct GuestErr;

impl Migration for GuestErr {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        db.execute(
            "INSERT INTO notes (id, body) VALUES (100, 'written by guest_err')",
            &[],
        )?;
        db.execute("UPDATE notes SET body = 'overwritten by guest_err'", &[])?;
        Err("refusing to continue: the data does not look right".into())
    }
}

export_migration!(GuestErr);
