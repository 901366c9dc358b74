//! Every import of wasmig:migration@0.1.0 in one migration: DDL through
//! `execute`, a batch insert, a query, a cursor, and the environment's name,
//! a config value, a log line and progress. `down` drops what `up` made.

use wasmig_guest::{Db, Env, Migration, Result, export_migration, params};

struct Contract;

impl Migration for Contract {
    fn up(db: &Db, env: &Env) -> Result<()> {
        db.execute(
            "CREATE TABLE contract_notes (id INTEGER PRIMARY KEY, body VARCHAR(100) NOT NULL)",
            &[],
        )?;
        let (a, b) = (db.placeholder(1), db.placeholder(2));
        let rows: Vec<_> = (1..=3_i64)
            .map(|i| params![i, format!("note {i} in {}", env.name())])
            .collect();
        db.execute_batch(
            &format!("INSERT INTO contract_notes (id, body) VALUES ({a}, {b})"),
            &rows,
        )?;
        let count: i64 = db.query_scalar("SELECT count(*) FROM contract_notes", &[])?;
        let mut seen = 0;
        for batch in db.cursor("SELECT id FROM contract_notes ORDER BY id", &[], 2)? {
            seen += batch?.len();
        }
        env.progress(seen as u64, Some(count as u64));
        env.info(&format!(
            "wrote {count} notes (region: {})",
            env.var("region").unwrap_or_else(|| "none".into())
        ));
        Ok(())
    }

    fn down(db: &Db, _env: &Env) -> Result<()> {
        db.execute("DROP TABLE contract_notes", &[])?;
        Ok(())
    }
}

export_migration!(Contract);
