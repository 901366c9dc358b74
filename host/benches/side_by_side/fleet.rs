//! Fleets: `wasmig fleet up` against the same work done by
//! `xargs -P N wasmig up`, one process per tenant, at the same parallelism.
//! 1,000 SQLite tenants and 200 PostgreSQL schemas, each getting 10
//! migrations, one of them a component (the people backfill).

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::Bench;
use crate::inputs::{self, ROUNDS, Timed};
use crate::report::{Goal, Line, Outcome, Report};

/// The goal: the fleet at least 1.5× as fast as one process per tenant.
const GOAL: f64 = 1.0 / 1.5;

pub fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let quick = bench.sizes.rows < 1_000_000;
    let migrations = bench.work.path().join("fleet/migrations");
    write_migrations(&migrations, &bench.guests)?;
    let cache = bench.work.path().join("fleet/cache");
    // Both sides start with the component compiled and cached.
    let warm = bench.work.path().join("fleet/warm.db");
    crate::tools::wasmig_up_file(bench, &migrations, &warm, &cache)?;
    let tenants = if quick { 100 } else { 1_000 };
    on_sqlite(bench, &migrations, &cache, tenants, report)?;
    let schemas = if quick { 40 } else { 200 };
    match &bench.postgres {
        Ok(pg) => on_postgres(bench, pg, &migrations, &cache, schemas, report),
        Err(why) => {
            report.add(line(
                "fleet_postgres_schemas",
                "postgres",
                Outcome::Skipped(why.clone()),
                0,
            ));
            Ok(())
        }
    }
}

/// Ten migrations: a people table, seed rows, the backfill component, and
/// small schema changes around it.
fn write_migrations(dir: &Path, guests: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let sql = [
        "CREATE TABLE people (id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, \
         last_name TEXT NOT NULL, full_name TEXT)",
        "INSERT INTO people (id, first_name, last_name) VALUES (1, 'Ada', 'Lovelace'), \
         (2, 'Alan', 'Turing'), (3, 'Grace', 'Hopper')",
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL, \
         plan TEXT NOT NULL DEFAULT 'free')",
        "INSERT INTO accounts (id, person_id) SELECT id, id FROM people",
        // 5: the component.
        "CREATE INDEX people_full_name ON people (full_name)",
        "ALTER TABLE accounts ADD COLUMN seats INTEGER NOT NULL DEFAULT 1",
        "UPDATE accounts SET seats = 5 WHERE plan = 'free'",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, note TEXT NOT NULL)",
        "INSERT INTO audit (id, note) VALUES (1, 'fleet migrated')",
    ];
    let mut version = 1;
    for (i, statement) in sql.iter().enumerate() {
        if i == 4 {
            std::fs::copy(
                guests.join("backfill_people.wasm"),
                dir.join(format!("{version}_backfill.wasm")),
            )?;
            version += 1;
        }
        std::fs::write(dir.join(format!("{version}_step.sql")), statement)?;
        version += 1;
    }
    Ok(())
}

fn on_sqlite(
    bench: &Bench,
    migrations: &Path,
    cache: &Path,
    tenants: usize,
    report: &mut Report,
) -> Result<()> {
    let fresh = || -> Result<Tenants> {
        let dir = bench
            .work
            .path()
            .join(format!("fleet/sqlite_{}", next_round()));
        std::fs::create_dir_all(&dir)?;
        for i in 0..tenants {
            std::fs::write(dir.join(format!("t{i:04}.db")), b"")?;
        }
        Ok(Tenants {
            fleet_args: vec!["--sqlite-glob".into(), format!("{}/*.db", dir.display())],
            urls: (0..tenants)
                .map(|i| format!("sqlite:{}/t{i:04}.db", dir.display()))
                .collect(),
        })
    };
    // The same N on both sides: `fleet`'s default for SQLite files.
    let parallel = bench.runtime.block_on(wasmig::fleet::default_parallel(&[]));
    let outcome = fleet_against_xargs(bench, migrations, cache, parallel, &fresh)?;
    report.add(line("fleet_sqlite_tenants", "sqlite", outcome, tenants));
    Ok(())
}

fn on_postgres(
    bench: &Bench,
    pg: &crate::data::Postgres,
    migrations: &Path,
    cache: &Path,
    schemas: usize,
    report: &mut Report,
) -> Result<()> {
    let fresh = || -> Result<Tenants> {
        let url = bench
            .runtime
            .block_on(pg.database(&format!("fleet_{}", next_round())))?;
        let mut setup = String::new();
        for i in 0..schemas {
            setup.push_str(&format!("CREATE SCHEMA t_{i:04};"));
        }
        let status = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &url, "-c", &setup])
            .status()?;
        anyhow::ensure!(status.success(), "creating the tenant schemas failed");
        Ok(Tenants {
            fleet_args: vec!["--target".into(), format!("{url}&schema=t_*")],
            urls: (0..schemas)
                .map(|i| format!("{url}&schema=t_{i:04}"))
                .collect(),
        })
    };
    // `fleet`'s default with servers.
    let parallel = 16;
    let outcome = fleet_against_xargs(bench, migrations, cache, parallel, &fresh)?;
    report.add(line("fleet_postgres_schemas", "postgres", outcome, schemas));
    Ok(())
}

/// A fresh set of tenants, as `fleet up` names them and as one URL each.
struct Tenants {
    fleet_args: Vec<String>,
    urls: Vec<String>,
}

/// `fleet up` and `xargs` in alternating rounds, each on fresh tenants.
fn fleet_against_xargs(
    bench: &Bench,
    migrations: &Path,
    cache: &Path,
    parallel: usize,
    fresh: &dyn Fn() -> Result<Tenants>,
) -> Result<Outcome> {
    let [fleet, xargs] = inputs::interleaved(
        ROUNDS,
        [
            &mut || {
                let tenants = fresh()?;
                fleet_up(bench, migrations, cache, parallel, &tenants.fleet_args)
            },
            &mut || {
                let tenants = fresh()?;
                xargs_up(bench, migrations, cache, parallel, &tenants.urls)
            },
        ],
    )?;
    Ok(Outcome::Measured {
        wasmig: fleet.elapsed.as_secs_f64(),
        reference: Some(xargs.elapsed.as_secs_f64()),
    })
}

/// A number for each fresh set of tenants.
fn next_round() -> usize {
    static ROUND: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    ROUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn fleet_up(
    bench: &Bench,
    migrations: &Path,
    cache: &Path,
    parallel: usize,
    targets: &[String],
) -> Result<Timed> {
    inputs::timed(
        Command::new(&bench.wasmig)
            .arg("--dir")
            .arg(migrations)
            .arg("--cache-dir")
            .arg(cache)
            .args(["-q", "fleet", "up", "--parallel", &parallel.to_string()])
            .args(targets),
    )
}

/// `printf '%s\n' URLS | xargs -P N -I{} wasmig --database-url {} up`.
fn xargs_up(
    bench: &Bench,
    migrations: &Path,
    cache: &Path,
    parallel: usize,
    urls: &[String],
) -> Result<Timed> {
    let list = bench.work.path().join("fleet/urls.txt");
    std::fs::write(&list, urls.join("\n") + "\n")?;
    inputs::timed(
        Command::new("xargs")
            .arg("-a")
            .arg(&list)
            .args(["-P", &parallel.to_string(), "-I{}"])
            .arg(&bench.wasmig)
            .arg("--dir")
            .arg(migrations)
            .arg("--cache-dir")
            .arg(cache)
            .args(["-q", "--database-url", "{}", "up"]),
    )
}

fn line(metric: &'static str, engine: &'static str, outcome: Outcome, tenants: usize) -> Line {
    Line {
        metric,
        engine,
        unit: "s",
        outcome,
        goal: Goal::AtMost(GOAL),
        reference_name: format!("xargs -P N wasmig up ({tenants} tenants x 10 migrations)"),
        rounds: ROUNDS,
    }
}
