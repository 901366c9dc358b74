//! Fills `users.full_name` from first and last name, in batches.
//!
//! Rows that already have a full name keep it; a missing part is left out
//! ("Ada" rather than "Ada "); rows with neither name stay NULL.

use wasmig_guest::{Db, Env, Migration, Result, Value, export_migration, params};

const BATCH: u32 = 1_000;

struct BackfillFullName;

fn full_name(first: Option<String>, last: Option<String>) -> Option<String> {
    match (first, last) {
        (Some(f), Some(l)) if !f.is_empty() && !l.is_empty() => Some(format!("{f} {l}")),
        (Some(f), _) if !f.is_empty() => Some(f),
        (_, Some(l)) if !l.is_empty() => Some(l),
        _ => None,
    }
}

impl Migration for BackfillFullName {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let total: i64 =
            db.query_scalar("SELECT count(*) FROM users WHERE full_name IS NULL", &[])?;
        let update = format!(
            "UPDATE users SET full_name = {} WHERE id = {}",
            db.placeholder(1),
            db.placeholder(2)
        );
        let mut done = 0u64;
        let mut filled = 0u64;
        let cursor = db.cursor(
            "SELECT id, first_name, last_name FROM users WHERE full_name IS NULL ORDER BY id",
            &[],
            BATCH,
        )?;
        for batch in cursor {
            let batch = batch?;
            let mut updates: Vec<Vec<Value>> = Vec::with_capacity(batch.len());
            for row in batch.iter() {
                let id: i64 = row.get("id")?;
                if let Some(name) = full_name(row.get("first_name")?, row.get("last_name")?) {
                    updates.push(params![name, id]);
                }
            }
            filled += db.execute_batch(&update, &updates)?;
            done += batch.len() as u64;
            env.progress(done, Some(total as u64));
        }
        env.info(&format!(
            "filled {filled} of {done} users without a full name"
        ));
        Ok(())
    }

    fn down(db: &Db, _env: &Env) -> Result<()> {
        db.execute("UPDATE users SET full_name = NULL", &[])?;
        Ok(())
    }
}

export_migration!(BackfillFullName);
