//! Raw DDL beside builder operations, and no `down`: what the host recorded
//! cannot undo the raw part, so `wasmig down` must refuse.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct Mixed;

impl Migration for Mixed {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        db.execute("CREATE TABLE raw_notes (id INTEGER)", &[])?;
        db.schema().create_table("built_notes", |t| {
            t.id("id");
        })?;
        Ok(())
    }
}

export_migration!(Mixed);
