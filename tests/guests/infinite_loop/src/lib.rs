//! Writes a row, then never returns: fuel must stop it.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct InfiniteLoop;

impl Migration for InfiniteLoop {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        db.execute(
            "INSERT INTO notes (id, body) VALUES (102, 'written by infinite_loop')",
            &[],
        )?;
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_migration!(InfiniteLoop);
