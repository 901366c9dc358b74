//! The smallest useful component migration: one INSERT, as cheap as the SQL
//! migration it is compared with, so a benchmark sees the runtime's own cost.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct Tick;

impl Migration for Tick {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        db.execute("INSERT INTO ticks (source) VALUES ('component')", &[])?;
        Ok(())
    }
}

export_migration!(Tick);
