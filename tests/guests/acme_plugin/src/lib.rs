//! A well-behaved third-party migration: it only reads and writes its own
//! `acme_*` tables, and reads the one config value it was granted.

use wasmig_guest::{Db, Env, Migration, Result, export_migration, params};

struct AcmePlugin;

impl Migration for AcmePlugin {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let region = env.var("region").unwrap_or_else(|| "unknown".into());
        let p1 = db.placeholder(1);
        let p2 = db.placeholder(2);
        let mut updates = Vec::new();
        for batch in db.cursor("SELECT id, label FROM acme_items ORDER BY id", &[], 100)? {
            let batch = batch?;
            for row in batch.iter() {
                let id: i64 = row.get(0)?;
                let label: String = row.get(1)?;
                updates.push(params![format!("{label} ({region})"), id]);
            }
        }
        db.execute_batch(
            &format!("UPDATE acme_items SET label = {p1} WHERE id = {p2}"),
            &updates,
        )?;
        let total: i64 = db.query_scalar(
            "WITH labelled AS (SELECT id FROM acme_items WHERE label IS NOT NULL) \
             SELECT count(*) FROM labelled",
            &[],
        )?;
        db.execute(
            &format!("INSERT INTO acme_stats (region, items) VALUES ({p1}, {p2})"),
            &params![region, total],
        )?;
        env.info(&format!("acme: labelled {total} items"));
        Ok(())
    }
}

export_migration!(AcmePlugin);
