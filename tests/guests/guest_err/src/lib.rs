//! Writes a row, then gives up with an error: nothing may stay behind.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct GuestErr;

impl Migration for GuestErr {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        db.execute_script(
            "CREATE TABLE half_done (id INTEGER); INSERT INTO half_done VALUES (1);",
        )?;
        db.execute(
            "INSERT INTO notes (body) VALUES ('written by guest_err')",
            &[],
        )?;
        Err("refusing to continue: the data does not look right".into())
    }
}

export_migration!(GuestErr);
