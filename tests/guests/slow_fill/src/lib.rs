//! A long data migration: fills `big` with `rows` rows (an allowed config
//! value) in batches of 1 000, computing for a while between batches, and
//! reports progress after each. Long enough to be killed half way.

use wasmig_guest::{Db, Env, Migration, Result, Value, export_migration, params};

struct SlowFill;

impl Migration for SlowFill {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let rows: i64 = env
            .var("rows")
            .and_then(|r| r.parse().ok())
            .unwrap_or(20_000);
        let insert = format!(
            "INSERT INTO big (id, label) VALUES ({}, {})",
            db.placeholder(1),
            db.placeholder(2)
        );
        let mut next = 1i64;
        while next <= rows {
            let end = (next + 999).min(rows);
            let batch: Vec<Vec<Value>> = (next..=end)
                .map(|id| params![id, format!("row {id}")])
                .collect();
            db.execute_batch(&insert, &batch)?;
            env.progress(end as u64, Some(rows as u64));
            // Simulated work per batch, so the run lasts long enough to be
            // interrupted.
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            next = end + 1;
        }
        Ok(())
    }

    fn down(db: &Db, _env: &Env) -> Result<()> {
        db.execute("DELETE FROM big", &[])?;
        Ok(())
    }
}

export_migration!(SlowFill);
