//! Records what the sandbox lets it see into `probe(name, value)`: files,
//! environment variables, arguments, the clock, randomness and a HashMap's
//! iteration order.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use wasmig_guest::{Db, Env, Migration, Result, export_migration, params};

struct SandboxProbe;

impl Migration for SandboxProbe {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let mut facts: Vec<(String, String)> = Vec::new();
        let mut fact = |k: &str, v: String| facts.push((k.to_owned(), v));
        fact(
            "passwd",
            match std::fs::read_to_string("/etc/passwd") {
                Ok(_) => "readable".into(),
                Err(e) => format!("error: {:?}", e.kind()),
            },
        );
        fact(
            "root_dir",
            match std::fs::read_dir("/") {
                Ok(_) => "listable".into(),
                Err(e) => format!("error: {:?}", e.kind()),
            },
        );
        fact("env_vars", std::env::vars().count().to_string());
        fact("args", std::env::args().count().to_string());
        fact(
            "tcp",
            match std::net::TcpStream::connect("127.0.0.1:5432") {
                Ok(_) => "connected".into(),
                Err(e) => format!("error: {:?}", e.kind()),
            },
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        fact("unix_time", now.to_string());
        let mut map = HashMap::new();
        for i in 0..16 {
            map.insert(format!("k{i}"), i);
        }
        fact(
            "hashmap_order",
            map.keys().cloned().collect::<Vec<_>>().join(","),
        );
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
