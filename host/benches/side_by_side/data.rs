//! The data migration: set `people.full_name` on every row, by a component
//! run through `wasmig up`, by the same algorithm in native Rust, and by one
//! set-based UPDATE.

use crate::tools::{wasmig_up, wasmig_up_file};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::{Connection, Executor, PgConnection, Row};

use crate::Bench;
use crate::inputs::{self, Timed};
use crate::report::{Goal, Line, Outcome, Report};

const BATCH: i64 = 1_000;

/// A PostgreSQL server the benchmark makes its own databases on.
pub struct Postgres {
    /// The server URL, without a database.
    pub server: String,
    /// `SELECT version()`.
    pub version: String,
    created: std::sync::Mutex<Vec<String>>,
}

impl Postgres {
    pub async fn connect() -> Result<Self, String> {
        let server = std::env::var("WASMIG_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let mut conn = PgConnection::connect(&format!("{server}/postgres"))
            .await
            .map_err(|e| format!("PostgreSQL is not reachable at {server}: {e}"))?;
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self {
            server,
            version: version.split(" on ").next().unwrap_or(&version).to_owned(),
            created: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// A new, empty database; returns its URL. Every tool reaches it the
    /// same way, over the loopback without TLS: a TLS handshake costs
    /// 50–100 ms per connection here, more than a whole `status` run
    /// should, and tools differ in whether they attempt one by default.
    pub async fn database(&self, tag: &str) -> Result<String> {
        let name = format!("wasmig_bench_{}_{tag}", std::process::id());
        let mut conn = PgConnection::connect(&format!("{}/postgres", self.server)).await?;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .await?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        if let Ok(mut created) = self.created.lock() {
            created.push(name.clone());
        }
        Ok(format!("{}/{name}?sslmode=disable", self.server))
    }

    /// Drops every database this run created.
    pub async fn drop_all(&self) {
        let names = self.created.lock().map(|c| c.clone()).unwrap_or_default();
        if let Ok(mut conn) = PgConnection::connect(&format!("{}/postgres", self.server)).await {
            for name in names {
                let _ = conn
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await;
            }
        }
    }
}

pub fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let migrations = bench.work.path().join("backfill");
    std::fs::create_dir_all(&migrations)?;
    std::fs::copy(
        bench.guests.join("backfill_people.wasm"),
        migrations.join("1_backfill_people.wasm"),
    )?;
    let cache = bench.work.path().join("cache");
    on_sqlite(bench, &migrations, &cache, report)?;
    match &bench.postgres {
        Ok(pg) => on_postgres(bench, pg, &migrations, &cache, report),
        Err(why) => {
            for (metric, goal) in [
                ("data_migration_vs_native", Goal::AtMost(1.10)),
                ("data_migration_vs_set_based", Goal::AtMost(2.5)),
                ("data_migration_peak_rss", Goal::AtMost(150.0)),
            ] {
                report.add(Line {
                    metric,
                    engine: "postgres",
                    unit: "s",
                    outcome: Outcome::Skipped(why.clone()),
                    goal,
                    reference_name: String::new(),
                    rounds: inputs::ROUNDS,
                });
            }
            Ok(())
        }
    }
}

/// The backfill on SQLite: the component, native Rust (rusqlite in
/// process, the goal's reference; and sqlx, shown beside it) and one
/// UPDATE, each on its own copy of the seeded database.
fn on_sqlite(bench: &Bench, migrations: &Path, cache: &Path, report: &mut Report) -> Result<()> {
    let rows = bench.sizes.rows;
    let [component, native, sqlx_native, set_based] = sqlite_runs(bench, migrations, cache)?;
    data_lines(
        report,
        "sqlite",
        &component,
        native.elapsed,
        "native Rust + rusqlite (in process)",
        set_based.elapsed,
        rows,
    );
    report.add(Line {
        metric: "data_migration_vs_native_sqlx",
        engine: "sqlite",
        unit: "s",
        outcome: Outcome::Measured {
            wasmig: component.elapsed.as_secs_f64(),
            reference: Some(sqlx_native.elapsed.as_secs_f64()),
        },
        // sqlx's SQLite driver hands every statement to a worker thread and
        // waits for the answer: a second reference, not the goal's.
        goal: Goal::Informational,
        reference_name: "native Rust + sqlx (every statement handed to a worker thread)".into(),
        rounds: inputs::ROUNDS,
    });
    Ok(())
}

/// The SQLite contenders' median runs: the component, native Rust with
/// rusqlite, native Rust with sqlx, and one UPDATE.
fn sqlite_runs(bench: &Bench, migrations: &Path, cache: &Path) -> Result<[Timed; 4]> {
    let rows = bench.sizes.rows;
    let seeded = bench.work.path().join("people.db");
    seed_sqlite(&seeded, rows)?;
    let copy = |tag: &str| -> Result<std::path::PathBuf> {
        let path = bench.work.path().join(format!("people_{tag}.db"));
        std::fs::copy(&seeded, &path)?;
        Ok(path)
    };
    // Warm the compile cache: the comparison is about moving rows.
    let warm = bench.work.path().join("warm.db");
    seed_sqlite(&warm, 0)?;
    wasmig_up_file(bench, migrations, &warm, cache)?;
    let timed_copy = |tag: &str, run: &dyn Fn(&Path) -> Result<Timed>| -> Result<Timed> {
        let db = copy(tag)?;
        let timed = run(&db)?;
        check_sqlite(&db, rows)?;
        Ok(timed)
    };
    inputs::interleaved(
        inputs::ROUNDS,
        [
            &mut || {
                timed_copy("component", &|db| {
                    wasmig_up_file(bench, migrations, db, cache)
                })
            },
            &mut || timed_copy("native", &|db| native_sqlite(db).map(inputs::took)),
            &mut || {
                timed_copy("sqlx", &|db| {
                    bench
                        .runtime
                        .block_on(native_sqlite_sqlx(db))
                        .map(inputs::took)
                })
            },
            &mut || timed_copy("set", &|db| set_based_sqlite(db).map(inputs::took)),
        ],
    )
}

/// The backfill on PostgreSQL: the component, native Rust and one UPDATE,
/// each from the same freshly seeded, vacuumed and checkpointed table.
fn on_postgres(
    bench: &Bench,
    pg: &Postgres,
    migrations: &Path,
    cache: &Path,
    report: &mut Report,
) -> Result<()> {
    let rows = bench.sizes.rows;
    let url = bench.runtime.block_on(pg.database("data"))?;
    let reset = || bench.runtime.block_on(seed_postgres(&url, rows));
    bench.runtime.block_on(seed_postgres(&url, 0))?;
    wasmig_up(bench, migrations, &url, cache)?;
    let [component, native, set_based] = inputs::interleaved(
        inputs::ROUNDS,
        [
            &mut || {
                reset()?;
                let run = wasmig_up(bench, migrations, &url, cache)?;
                bench.runtime.block_on(check_postgres(&url, rows))?;
                Ok(run)
            },
            &mut || {
                reset()?;
                let elapsed = bench.runtime.block_on(native_postgres(&url))?;
                bench.runtime.block_on(check_postgres(&url, rows))?;
                Ok(inputs::took(elapsed))
            },
            &mut || {
                reset()?;
                let elapsed = bench.runtime.block_on(set_based_postgres(&url))?;
                bench.runtime.block_on(check_postgres(&url, rows))?;
                Ok(inputs::took(elapsed))
            },
        ],
    )?;
    let (native, set_based) = (native.elapsed, set_based.elapsed);
    data_lines(
        report,
        "postgres",
        &component,
        native,
        "native Rust + sqlx",
        set_based,
        rows,
    );
    Ok(())
}

fn data_lines(
    report: &mut Report,
    engine: &'static str,
    component: &Timed,
    native: Duration,
    native_name: &str,
    set_based: Duration,
    rows: u64,
) {
    let secs = |d: Duration| d.as_secs_f64();
    report.add(Line {
        metric: "data_migration_vs_native",
        engine,
        unit: "s",
        outcome: Outcome::Measured {
            wasmig: secs(component.elapsed),
            reference: Some(secs(native)),
        },
        goal: Goal::AtMost(1.10),
        reference_name: native_name.into(),
        rounds: inputs::ROUNDS,
    });
    report.add(Line {
        metric: "data_migration_vs_set_based",
        engine,
        unit: "s",
        outcome: Outcome::Measured {
            wasmig: secs(component.elapsed),
            reference: Some(secs(set_based)),
        },
        goal: Goal::AtMost(if engine == "sqlite" { 5.0 } else { 2.5 }),
        reference_name: "one set-based UPDATE".into(),
        rounds: inputs::ROUNDS,
    });
    if engine == "sqlite" {
        report.add(Line {
            metric: "data_migration_rows_per_second",
            engine,
            unit: "rows/s",
            outcome: Outcome::Measured {
                wasmig: rows as f64 / secs(component.elapsed).max(1e-9),
                reference: None,
            },
            goal: Goal::AtLeast(200_000.0),
            reference_name: "-".into(),
            rounds: inputs::ROUNDS,
        });
    }
    report.add(Line {
        metric: "data_migration_peak_rss",
        engine,
        unit: "MB",
        outcome: Outcome::Measured {
            wasmig: component.peak_rss as f64 / 1e6,
            reference: None,
        },
        goal: Goal::AtMost(150.0),
        reference_name: "-".into(),
        rounds: inputs::ROUNDS,
    });
}

pub fn seed_sqlite(path: &Path, rows: u64) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(&format!(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, \
         last_name TEXT NOT NULL, full_name TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO people (id, first_name, last_name)
           SELECT i, 'first' || i, 'last' || i FROM n WHERE {rows} > 0;"
    ))?;
    Ok(())
}

pub fn check_sqlite(path: &Path, rows: u64) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let done: i64 = conn.query_row(
        "SELECT count(*) FROM people WHERE full_name = first_name || ' ' || last_name",
        [],
        |r| r.get(0),
    )?;
    if u64::try_from(done).ok() != Some(rows) {
        bail!("{}: {done} of {rows} rows were backfilled", path.display());
    }
    Ok(())
}

/// The component's algorithm in native Rust: keyset batches of 1 000, one
/// prepared UPDATE per row, one transaction.
fn native_sqlite(path: &Path) -> Result<Duration> {
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    {
        let mut select = tx.prepare(
            "SELECT id, first_name, last_name FROM people WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let mut update = tx.prepare("UPDATE people SET full_name = ?1 WHERE id = ?2")?;
        let mut last = 0i64;
        loop {
            let batch: Vec<(i64, String, String)> = select
                .query_map(rusqlite::params![last, BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let Some((id, _, _)) = batch.last() else {
                break;
            };
            last = *id;
            for (id, first, last_name) in &batch {
                update.execute(rusqlite::params![format!("{first} {last_name}"), id])?;
            }
        }
    }
    tx.commit()?;
    Ok(started.elapsed())
}

/// The same algorithm with sqlx: keyset batches of 1 000, one prepared
/// UPDATE per row, one transaction.
async fn native_sqlite_sqlx(path: &Path) -> Result<Duration> {
    let started = Instant::now();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display())).await?;
    let mut tx = conn.begin().await?;
    let mut last = 0i64;
    loop {
        let batch = sqlx::query(
            "SELECT id, first_name, last_name FROM people WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(last)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(row) = batch.last() else {
            break;
        };
        last = row.try_get(0)?;
        for row in &batch {
            let id: i64 = row.try_get(0)?;
            let first: String = row.try_get(1)?;
            let last_name: String = row.try_get(2)?;
            sqlx::query("UPDATE people SET full_name = ?1 WHERE id = ?2")
                .bind(format!("{first} {last_name}"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(started.elapsed())
}

fn set_based_sqlite(path: &Path) -> Result<Duration> {
    let started = Instant::now();
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "BEGIN; UPDATE people SET full_name = first_name || ' ' || last_name; COMMIT;",
    )?;
    Ok(started.elapsed())
}

/// A sqlx connection on the same footing as wasmig's (`TCP_NODELAY`, see
/// `wasmig::backend::nodelay`).
async fn connect_pg(url: &str) -> Result<PgConnection> {
    let fds = wasmig::backend::nodelay::before_connect();
    let conn = PgConnection::connect(url).await?;
    wasmig::backend::nodelay::after_connect(&fds);
    Ok(conn)
}

async fn seed_postgres(url: &str, rows: u64) -> Result<()> {
    let mut conn = connect_pg(url).await?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS people, wasmig_migrations, wasmig_payloads, wasmig_history;
         CREATE TABLE people (id bigint PRIMARY KEY, first_name text NOT NULL,
           last_name text NOT NULL, full_name text);
         INSERT INTO people (id, first_name, last_name)
           SELECT i, 'first' || i, 'last' || i FROM generate_series(1, {rows}) AS i;"
    )))
    .await?;
    conn.execute("VACUUM ANALYZE people").await?;
    // The seeding's dirty pages are written now, not during the timed run.
    conn.execute("CHECKPOINT").await?;
    Ok(())
}

async fn check_postgres(url: &str, rows: u64) -> Result<()> {
    let mut conn = connect_pg(url).await?;
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM people WHERE full_name = first_name || ' ' || last_name",
    )
    .fetch_one(&mut conn)
    .await?;
    if u64::try_from(done).ok() != Some(rows) {
        bail!("postgres: {done} of {rows} rows were backfilled");
    }
    Ok(())
}

/// The component's algorithm in native Rust with sqlx: keyset batches of
/// 1 000, each written back by one `UPDATE … FROM json_populate_recordset`
/// (what the SDK's `update_rows` issues on PostgreSQL), one transaction.
async fn native_postgres(url: &str) -> Result<Duration> {
    let started = Instant::now();
    let mut conn = connect_pg(url).await?;
    let mut tx = conn.begin().await?;
    let mut last = 0i64;
    loop {
        let batch = sqlx::query(
            "SELECT id, first_name, last_name FROM people WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(last)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(row) = batch.last() else {
            break;
        };
        last = row.try_get(0)?;
        let mut records = Vec::with_capacity(batch.len());
        for row in &batch {
            let id: i64 = row.try_get(0)?;
            let first: String = row.try_get(1)?;
            let last_name: String = row.try_get(2)?;
            records
                .push(serde_json::json!({ "id": id, "full_name": format!("{first} {last_name}") }));
        }
        sqlx::query(
            "UPDATE people AS t SET full_name = v.full_name \
             FROM json_populate_recordset(NULL::people, $1::json) AS v WHERE t.id = v.id",
        )
        .bind(serde_json::Value::Array(records).to_string())
        .execute(&mut *tx)
        .await
        .context("native batch update")?;
    }
    tx.commit().await?;
    Ok(started.elapsed())
}

async fn set_based_postgres(url: &str) -> Result<Duration> {
    let started = Instant::now();
    let mut conn = connect_pg(url).await?;
    let mut tx = conn.begin().await?;
    tx.execute("UPDATE people SET full_name = first_name || ' ' || last_name")
        .await?;
    tx.commit().await?;
    Ok(started.elapsed())
}
