//! Kill trials: `wasmig up` on a mixed directory (and, every other trial,
//! `wasmig down --to 0` after it) is killed with SIGKILL, at
//! a random moment (seeded; the seed is printed) or at a named boundary
//! (the debug build's failpoints, see `host/src/failpoint.rs`), and then:
//!
//! - at most one migration is recorded *failed*, and only one that cannot
//!   roll back (no-transaction; on MySQL, one with DDL);
//! - after the documented recovery (`resolve <v> --as rolled-back` for that
//!   one after `up`, `--as applied` after `down`: its statements are written
//!   to run again) and a rerun, schema, data and ledger equal an
//!   uninterrupted run's, timestamps aside.
//!
//! `WASMIG_KILL_TRIALS` (default 84 per engine: 50 at random moments, 34 at
//! boundaries) and `WASMIG_KILL_SEED` run
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
    p.sql("1_items", &items, Some("DROP TABLE IF EXISTS items;"));
    p.sql(
        "2_big",
        "CREATE TABLE IF NOT EXISTS big (id BIGINT PRIMARY KEY, label VARCHAR(40));",
        Some("DROP TABLE IF EXISTS big;"),
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
    let no_transaction_down = match engine {
        Engine::Postgres => {
            "DROP INDEX CONCURRENTLY IF EXISTS items_label;\nDROP TABLE IF EXISTS side;\n"
        }
        Engine::Sqlite => "DROP INDEX IF EXISTS items_label;\nDROP TABLE IF EXISTS side;\n",
        Engine::Mysql => "DROP INDEX IF EXISTS items_label ON items;\nDROP TABLE IF EXISTS side;\n",
    };
    p.sql("4_side", no_transaction, Some(no_transaction_down));
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
    let less = match engine {
        Engine::Sqlite => {
            "ALTER TABLE items DROP COLUMN note;\n\
             UPDATE items SET label = 'item ' || id WHERE id > 30;"
        }
        Engine::Postgres => {
            "ALTER TABLE items DROP COLUMN IF EXISTS note;\n\
             UPDATE items SET label = 'item ' || id WHERE id > 30;"
        }
        Engine::Mysql => {
            "ALTER TABLE items DROP COLUMN IF EXISTS note;\n\
             UPDATE items SET label = CONCAT('item ', id) WHERE id > 30;"
        }
    };
    p.sql("5_more", more, Some(less));
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
    for sql in data {
        let table = if sql.contains("items") {
            "items"
        } else {
            "big"
        };
        if p.db.has_table(table) {
            out.push_str(&format!("\n{sql}: {:?}", p.column(sql)));
        }
    }
    if p.db.has_table("wasmig_migrations") {
        out.push_str(&format!("\nledger: {:?}", p.column(ledger)));
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

/// The command a trial kills: `up` on a fresh database, or `down --to 0`
/// after a complete `up`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Run {
    Up,
    Down,
}

impl Run {
    fn args(self) -> &'static [&'static str] {
        match self {
            Run::Up => &["up", "-q"],
            Run::Down => &["down", "--to", "0", "-q"],
        }
    }

    /// How the ledger records a migration whose run was cut short and is
    /// written to run again: `up` runs it again once it is recorded as rolled
    /// back, `down` once it is recorded as still applied.
    fn resolution(self) -> &'static str {
        match self {
            Run::Up => "rolled-back",
            Run::Down => "applied",
        }
    }
}

/// One trial: how it ended, and what it found wrong (nothing, if it held).
fn trial(engine: Engine, run: Run, reference: &str, kill: &Kill) -> (String, Result<(), String>) {
    let p = mixed(engine);
    if run == Run::Down {
        p.wasmig(&["up", "-q"]).ok();
    }
    let mut args = run.args().to_vec();
    let mut child = match kill {
        // Compiling happens only when the compile cache misses.
        Kill::At(point) if point == "compiling" => {
            args.push("--no-cache");
            p.spawn_wasmig_with(&[("WASMIG_FAILPOINT", point)], &args)
        }
        Kill::At(point) => p.spawn_wasmig_with(&[("WASMIG_FAILPOINT", point)], &args),
        Kill::After(_) => p.spawn_wasmig(&args),
    };
    if let Kill::After(delay) = kill {
        std::thread::sleep(*delay);
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let name = format!("{run:?}").to_lowercase();
    let outcome = match (kill, status.signal()) {
        (Kill::At(point), Some(9)) => format!("{name}: killed at {point}"),
        (Kill::After(_), Some(9)) => format!("{name}: killed at a random moment"),
        _ if status.success() => format!("{name}: finished before the kill"),
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
    let outcome = if matches!(kill, Kill::After(_)) && outcome.contains("killed") {
        let applied = migrations
            .iter()
            .filter(|m| m["status"] == "applied")
            .count();
        match (run, applied) {
            (Run::Up, 5) | (Run::Down, 0) => format!("{outcome}, after the last migration"),
            (Run::Up, n) => format!("{outcome}, in migration {}", n + 1),
            (Run::Down, n) => format!("{outcome}, in migration {n}"),
        }
    } else {
        outcome
    };
    if let Err(why) = check_failed(engine, kill, &outcome, &failed) {
        return (outcome, Err(why));
    }
    if let Some(version) = failed.first() {
        let resolved = p.wasmig(&["resolve", version, "--as", run.resolution()]);
        if resolved.code != 0 {
            return (outcome, Err(format!("resolve failed: {}", resolved.stderr)));
        }
    }
    let rerun = p.wasmig(run.args());
    if rerun.code != 0 {
        return (outcome, Err(format!("the rerun failed: {}", rerun.stderr)));
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

/// What the ledger may say right after a kill: at most one *failed*
/// migration, one that cannot roll back.
fn check_failed(
    engine: Engine,
    kill: &Kill,
    outcome: &str,
    failed: &[String],
) -> Result<(), String> {
    if failed.len() > 1
        || failed
            .iter()
            .any(|v| !may_fail(engine).contains(&v.as_str()))
    {
        return Err(format!("failed rows after the kill: {failed:?}"));
    }
    // Killed right after writing the interrupted mark: the ledger must say
    // so, for exactly that migration. (On MySQL the mark before a DDL
    // statement sits in the migration's transaction until the DDL commits
    // it: killed in between, mark and migration roll back together, and
    // the ledger is right to show nothing.)
    if matches!(kill, Kill::At(point) if point == "marked")
        && outcome.contains("killed")
        && engine != Engine::Mysql
        && failed.len() != 1
    {
        return Err(format!(
            "killed after the mark, but failed rows are {failed:?}"
        ));
    }
    Ok(())
}

enum Kill {
    At(String),
    After(Duration),
}

fn kill_trials(engine: Engine) {
    let trials: usize = std::env::var("WASMIG_KILL_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(84);
    let seed: u64 = std::env::var("WASMIG_KILL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("kill trials on {engine:?}: {trials} trials, seed {seed} (WASMIG_KILL_SEED)");
    // Uninterrupted runs: `up` on a fresh database, `down --to 0` after it.
    let reference_project = mixed(engine);
    let started = Instant::now();
    reference_project.wasmig(&["up", "-q"]).ok();
    let up_span = started.elapsed();
    let up_reference = state(&reference_project);
    let started = Instant::now();
    reference_project.wasmig(Run::Down.args()).ok();
    let down_span = started.elapsed();
    let down_reference = state(&reference_project);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut boundary = 0;
    for i in 0..trials {
        // Every other trial kills `down`.
        let (run, span, reference) = if i % 2 == 0 {
            (Run::Up, up_span, &up_reference)
        } else {
            (Run::Down, down_span, &down_reference)
        };
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
        let (outcome, held) = trial(engine, run, reference, &kill);
        *outcomes.entry(outcome.clone()).or_default() += 1;
        if let Err(why) = held {
            failures.push(format!("trial {i} ({outcome}): {why}"));
        }
    }
    println!(
        "kill trials on {engine:?}, seed {seed}, an uninterrupted up {up_span:?}, down \
         {down_span:?}:"
    );
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

/// Killed after a statement that cannot roll back, the migration is left
/// *failed (interrupted)*: a no-transaction migration on every engine, a
/// MySQL migration after its DDL.
fn killed_after_what_cannot_roll_back(engine: Engine, sql: &str) {
    let p = Project::on(engine);
    p.sql("1_a", sql, None);
    let child = p.spawn_wasmig_with(&[("WASMIG_FAILPOINT", "statement@1")], &["up", "-q"]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the failpoint was not reached"
    );
    let doc = p.status_json();
    assert_eq!(doc["migrations"][0]["status"], "failed", "{doc}");
    p.wasmig(&["up"])
        .fails()
        .says(&["failed part way", "wasmig resolve 1"]);
}

#[test]
fn a_killed_no_transaction_migration_is_left_failed_on_sqlite() {
    killed_after_what_cannot_roll_back(
        Engine::Sqlite,
        "-- wasmig:no-transaction\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);",
    );
}

#[test]
fn a_killed_no_transaction_migration_is_left_failed_on_postgres() {
    killed_after_what_cannot_roll_back(
        Engine::Postgres,
        "-- wasmig:no-transaction\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);",
    );
}

#[test]
fn a_killed_ddl_migration_is_left_failed_on_mariadb() {
    killed_after_what_cannot_roll_back(
        Engine::Mysql,
        "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\nCREATE TABLE b (id int);",
    );
}
