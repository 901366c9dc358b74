//! Kill trials: `wasmig up` on a mixed directory is killed with SIGKILL, at
//! a random moment (seeded; the seed is printed) or at a named boundary
//! (the debug build's failpoints, see `host/src/failpoint.rs`), and then:
//!
//! - at most one migration is recorded *failed*, and only one that cannot
//!   roll back (no-transaction; on MySQL, one with DDL);
//! - after the documented recovery (`resolve <v> --as rolled-back` for that
//!   one, whose statements are written to run again) and a rerun, schema,
//!   data and ledger equal an uninterrupted run's, timestamps aside.
//!
//! `WASMIG_KILL_TRIALS` (default 50 per engine) and `WASMIG_KILL_SEED` run
//! more or other trials: the long run is
//! `WASMIG_KILL_TRIALS=1000 cargo test -p wasmig --test kills -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use support::{Engine, Project};

const DEFAULT_SEED: u64 = 20_261_130;

/// The boundaries a trial may stop at (see `host/src/failpoint.rs`).
const FAILPOINTS: [&str; 7] = [
    "begun",
    "statement",
    "marked",
    "executed",
    "recorded",
    "committed",
    "compiling",
];

/// The mixed directory: many SQL statements, a long component data
/// migration, a no-transaction migration and DDL after data. Statements
/// that may run twice after a recovery are written to (`IF NOT EXISTS`), as
/// the README advises for migrations that cannot roll back.
fn mixed(engine: Engine) -> Project {
    let p = Project::on(engine);
    p.config("[env.dev]\nvars = { rows = \"4000\" }\n");
    let mut items = String::from(
        "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, label VARCHAR(40));\n",
    );
    // On MySQL the inserts after the DDL commit one by one, so they must be
    // able to run again.
    let insert = match engine {
        Engine::Mysql => "INSERT IGNORE",
        _ => "INSERT",
    };
    for i in 1..=60 {
        items.push_str(&format!(
            "{insert} INTO items (id, label) VALUES ({i}, 'item {i}');\n"
        ));
    }
    p.sql("1_items", &items, None);
    p.sql(
        "2_big",
        "CREATE TABLE IF NOT EXISTS big (id BIGINT PRIMARY KEY, label VARCHAR(40));",
        None,
    );
    p.component("3_fill", "slow_fill");
    let no_transaction = match engine {
        Engine::Postgres => {
            "-- wasmig:no-transaction\n\
             CREATE TABLE IF NOT EXISTS side (id INTEGER);\n\
             CREATE INDEX CONCURRENTLY IF NOT EXISTS items_label ON items (label);\n"
        }
        _ => {
            "-- wasmig:no-transaction\n\
             CREATE TABLE IF NOT EXISTS side (id INTEGER);\n\
             CREATE INDEX IF NOT EXISTS items_label ON items (label);\n"
        }
    };
    p.sql("4_side", no_transaction, None);
    let more = match engine {
        Engine::Sqlite => {
            "UPDATE items SET label = 'renamed ' || id WHERE id > 30;\n\
             ALTER TABLE items ADD COLUMN note VARCHAR(20);"
        }
        Engine::Postgres => {
            "UPDATE items SET label = 'renamed ' || id WHERE id > 30;\n\
             ALTER TABLE items ADD COLUMN IF NOT EXISTS note VARCHAR(20);"
        }
        Engine::Mysql => {
            "ALTER TABLE items ADD COLUMN IF NOT EXISTS note VARCHAR(20);\n\
             UPDATE items SET label = CONCAT('renamed ', id) WHERE id > 30;"
        }
    };
    p.sql("5_more", more, None);
    p
}

/// Schema, data and ledger, without timestamps.
fn state(p: &Project) -> String {
    let ledger = match p.db.engine {
        Engine::Mysql => {
            "SELECT CONCAT(version, ':', checksum, ':', state) FROM wasmig_migrations ORDER BY version"
        }
        _ => {
            "SELECT version || ':' || checksum || ':' || state FROM wasmig_migrations ORDER BY version"
        }
    };
    let data = [
        "SELECT count(*) FROM items",
        "SELECT count(*) FROM items WHERE label LIKE 'renamed%'",
        "SELECT count(*) FROM big",
        "SELECT sum(id) FROM big",
    ];
    let mut out = support::schema_json(p);
    for sql in data.iter().chain([&ledger]) {
        out.push_str(&format!("\n{sql}: {:?}", p.column(sql)));
    }
    out
}

/// The versions the engine may leave *failed* when killed.
fn may_fail(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Mysql => &["1", "2", "4", "5"],
        _ => &["4"],
    }
}

/// One trial: how it ended, and what it found wrong (nothing, if it held).
fn trial(engine: Engine, reference: &str, kill: &Kill) -> (String, Result<(), String>) {
    let p = mixed(engine);
    let mut child = match kill {
        // Compiling happens only when the compile cache misses.
        Kill::At(point) if point == "compiling" => {
            p.spawn_wasmig_with(&[("WASMIG_FAILPOINT", point)], &["up", "-q", "--no-cache"])
        }
        Kill::At(point) => p.spawn_wasmig_with(&[("WASMIG_FAILPOINT", point)], &["up", "-q"]),
        Kill::After(_) => p.spawn_wasmig(&["up", "-q"]),
    };
    if let Kill::After(delay) = kill {
        std::thread::sleep(*delay);
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let outcome = match (kill, status.signal()) {
        (Kill::At(point), Some(9)) => format!("killed at {point}"),
        (Kill::After(_), Some(9)) => "killed at a random moment".to_owned(),
        _ if status.success() => "finished before the kill".to_owned(),
        _ => return ("failed".into(), Err(format!("wasmig exited with {status}"))),
    };
    let status = p.wasmig(&["status", "--format", "json"]);
    if status.code != 0 {
        return (outcome, Err(format!("status failed: {}", status.stderr)));
    }
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let migrations = doc["migrations"].as_array().unwrap();
    let failed: Vec<String> = migrations
        .iter()
        .filter(|m| m["status"] == "failed")
        .map(|m| m["version"].to_string())
        .collect();
    // Where a random kill landed: the migration that was in flight.
    let outcome = if matches!(kill, Kill::After(_)) && outcome.starts_with("killed") {
        let applied = migrations
            .iter()
            .filter(|m| m["status"] == "applied")
            .count();
        format!("{outcome}, in migration {}", applied + 1)
    } else {
        outcome
    };
    if failed.len() > 1
        || failed
            .iter()
            .any(|v| !may_fail(engine).contains(&v.as_str()))
    {
        return (
            outcome,
            Err(format!("failed rows after the kill: {failed:?}")),
        );
    }
    // Killed right after writing the interrupted mark: the ledger must say
    // so, for exactly that migration.
    if matches!(kill, Kill::At(point) if point == "marked")
        && outcome.starts_with("killed")
        && failed.len() != 1
    {
        return (
            outcome,
            Err(format!(
                "killed after the mark, but failed rows are {failed:?}"
            )),
        );
    }
    if let Some(version) = failed.first() {
        let run = p.wasmig(&["resolve", version, "--as", "rolled-back"]);
        if run.code != 0 {
            return (outcome, Err(format!("resolve failed: {}", run.stderr)));
        }
    }
    let run = p.wasmig(&["up", "-q"]);
    if run.code != 0 {
        return (outcome, Err(format!("the rerun failed: {}", run.stderr)));
    }
    let found = state(&p);
    if found != reference {
        return (
            outcome,
            Err(format!("differs from an uninterrupted run:\n{found}")),
        );
    }
    (outcome, Ok(()))
}

enum Kill {
    At(String),
    After(Duration),
}

fn kill_trials(engine: Engine) {
    let trials: usize = std::env::var("WASMIG_KILL_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("WASMIG_KILL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("kill trials on {engine:?}: {trials} trials, seed {seed} (WASMIG_KILL_SEED)");
    let reference_project = mixed(engine);
    let started = Instant::now();
    reference_project.wasmig(&["up", "-q"]).ok();
    let span = started.elapsed();
    let reference = state(&reference_project);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut boundary = 0;
    for i in 0..trials {
        // Two trials in five stop at a boundary, taken in turn so every
        // one is reached; the others at a random moment of the run.
        let kill = if i % 5 < 2 {
            let point = FAILPOINTS[boundary % FAILPOINTS.len()];
            boundary += 1;
            match point {
                "statement" => Kill::At(format!("statement@{}", rng.random_range(1..=70))),
                "begun" | "executed" | "recorded" | "committed" => {
                    Kill::At(format!("{point}@{}", rng.random_range(1..=5)))
                }
                _ => Kill::At(point.to_owned()),
            }
        } else {
            Kill::After(span.mul_f64(rng.random_range(0.0..1.1)))
        };
        let (outcome, held) = trial(engine, &reference, &kill);
        *outcomes.entry(outcome.clone()).or_default() += 1;
        if let Err(why) = held {
            failures.push(format!("trial {i} ({outcome}): {why}"));
        }
    }
    println!("kill trials on {engine:?}, seed {seed}, an uninterrupted run {span:?}:");
    for (outcome, n) in &outcomes {
        println!("  {n:5}  {outcome}");
    }
    assert!(
        failures.is_empty(),
        "{} of {trials} trials broke a promise (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn kill_trials_on_sqlite() {
    kill_trials(Engine::Sqlite);
}

#[test]
fn kill_trials_on_postgres() {
    kill_trials(Engine::Postgres);
}

#[test]
fn kill_trials_on_mariadb() {
    kill_trials(Engine::Mysql);
}
