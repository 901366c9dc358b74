//! The benchmark's data migration: sets `people.full_name` from first and
//! last names, walking the table by key 1 000 rows at a time and writing
//! each batch back in one host call, through the SDK's bulk helpers.

use wasmig_guest::{Db, Env, Migration, Result, export_migration, params};

struct BackfillPeople;

impl Migration for BackfillPeople {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let mut done = 0u64;
        for batch in db.keyset("people", "id", &["first_name", "last_name"], 1_000) {
            let batch = batch?;
            let mut updates = Vec::with_capacity(batch.len());
            for row in batch.iter() {
                let id: i64 = row.get(0)?;
                let first: String = row.get(1)?;
                let last: String = row.get(2)?;
                updates.push(params![id, format!("{first} {last}")]);
            }
            done += db.update_rows("people", "id", &["full_name"], &updates)?;
            env.progress(done, None);
        }
        env.info(&format!("backfilled {done} people"));
        Ok(())
    }
}

export_migration!(BackfillPeople);
