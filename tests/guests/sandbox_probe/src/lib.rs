//! Records what the sandbox lets it see into `probe(name, value)`:
//! environment variables, arguments, both clocks, randomness, a HashMap's
//! iteration order, and how many rows `probe_seed` holds.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmig_guest::{Db, Env, Migration, Result, export_migration, params};

struct SandboxProbe;

impl Migration for SandboxProbe {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let mut facts: Vec<(String, String)> = Vec::new();
        let mut fact = |k: &str, v: String| facts.push((k.to_owned(), v));
        fact("env_vars", std::env::vars().count().to_string());
        fact("args", std::env::args().count().to_string());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        fact("unix_time", now.to_string());
        // The monotonic clock steps 1 µs per read, whatever the real time.
        let first = std::time::Instant::now();
        let second = std::time::Instant::now();
        fact("monotonic_step_ns", (second - first).as_nanos().to_string());
        let mut map = HashMap::new();
        for i in 0..16 {
            map.insert(format!("k{i}"), i);
        }
        fact(
            "hashmap_order",
            map.keys().cloned().collect::<Vec<_>>().join(","),
        );
        let random = std::collections::hash_map::RandomState::new();
        fact(
            "random_hash",
            std::hash::BuildHasher::hash_one(&random, "wasmig").to_string(),
        );
        // What the database holds decides what the migration writes: the
        // statements digest follows the database state.
        let seeded: i64 = db.query_scalar("SELECT count(*) FROM probe_seed", &[])?;
        fact("seeded", seeded.to_string());
        fact("env_name", env.name());
        fact(
            "allowed_var",
            env.var("greeting").unwrap_or_else(|| "<none>".into()),
        );
        fact(
            "other_var",
            env.var("HOME").unwrap_or_else(|| "<none>".into()),
        );
        println!("hello from the guest's stdout");

        db.execute_script("CREATE TABLE probe (name VARCHAR(64) PRIMARY KEY, value TEXT)")?;
        let sets: Vec<_> = facts.into_iter().map(|(k, v)| params![k, v]).collect();
        let insert = format!(
            "INSERT INTO probe VALUES ({}, {})",
            db.placeholder(1),
            db.placeholder(2)
        );
        db.execute_batch(&insert, &sets)?;
        Ok(())
    }

    fn down(db: &Db, _env: &Env) -> Result<()> {
        db.execute("DROP TABLE probe", &[])?;
        Ok(())
    }
}

export_migration!(SandboxProbe);
