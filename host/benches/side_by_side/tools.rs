//! Applying many small migrations: wasmig against sqlx-cli and dbmate, how
//! the cost grows, `status` on a long history, and what a component
//! migration costs over the SQL migration it replaces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::Bench;
use crate::inputs::{self, Timed};
use crate::report::{Goal, Line, Outcome, Report};

/// Where dbmate is: on `PATH`, or installed by npm in the repository.
pub fn dbmate_path() -> Option<String> {
    let local = inputs::repo().join("node_modules/.bin/dbmate");
    if local.exists() {
        return Some(local.display().to_string());
    }
    installed("dbmate").then(|| "dbmate".to_owned())
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A fresh database of `engine` and its URL, as wasmig, sqlx-cli and
/// dbmate write it.
struct Fresh {
    wasmig: String,
    sqlx: String,
    dbmate: String,
}

/// `engine` is `sqlite`, `sqlite-wal` (a database file already in WAL
/// mode, as an application that chose it leaves it), `sqlite-sync-full`
/// (dbmate told to sync as SQLite does by default), `sqlite-sync-normal`
/// (wasmig told to sync as dbmate does by default) or `postgres`.
///
/// dbmate's SQLite driver (mattn/go-sqlite3) sets `synchronous=NORMAL` on
/// every connection: in the default rollback-journal mode that is three
/// syncs per commit where SQLite's default, `FULL`, which wasmig keeps,
/// makes four.
fn fresh(bench: &Bench, engine: &str, tag: &str) -> Result<Fresh> {
    if engine.starts_with("sqlite") {
        let path = bench.work.path().join(format!("{tag}.db"));
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        if engine == "sqlite-wal" {
            let conn = rusqlite::Connection::open(&path)?;
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            anyhow::ensure!(mode == "wal", "{} did not take WAL mode", path.display());
        }
        let (wasmig_options, dbmate_options) = match engine {
            "sqlite-sync-full" => ("", "?_sync=FULL"),
            "sqlite-sync-normal" => ("?synchronous=normal", ""),
            _ => ("", ""),
        };
        return Ok(Fresh {
            wasmig: format!("sqlite:{}{wasmig_options}", path.display()),
            sqlx: format!("sqlite:{}?mode=rwc", path.display()),
            dbmate: format!("sqlite:{}{dbmate_options}", path.display()),
        });
    }
    let pg = bench
        .postgres
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let url = bench.runtime.block_on(pg.database(tag))?;
    Ok(Fresh {
        wasmig: url.clone(),
        sqlx: url.clone(),
        dbmate: url,
    })
}

/// `wasmig up` on `dir` and `url`, with its compile cache in `cache`.
pub fn wasmig_up(bench: &Bench, dir: &Path, url: &str, cache: &Path) -> Result<Timed> {
    wasmig(bench, dir, url, cache, &["up"])
}

fn wasmig(bench: &Bench, dir: &Path, url: &str, cache: &Path, command: &[&str]) -> Result<Timed> {
    inputs::timed(
        Command::new(&bench.wasmig)
            .arg("--dir")
            .arg(dir)
            .arg("--database-url")
            .arg(url)
            .arg("--cache-dir")
            .arg(cache)
            .arg("-q")
            .args(command),
    )
}

/// What every engine's runs share: the migrations, the compile cache and
/// the reference tools found.
struct Setup {
    small_plain: PathBuf,
    small_dbmate: PathBuf,
    large_plain: PathBuf,
    cache: PathBuf,
    dbmate: Option<String>,
    sqlx: Option<String>,
}

impl Setup {
    fn new(bench: &Bench) -> Result<Self> {
        let sizes = bench.sizes;
        let (small_plain, small_dbmate) =
            inputs::trivial_migrations(bench.work.path(), sizes.apply_small)?;
        let (large_plain, _) = inputs::trivial_migrations(bench.work.path(), sizes.apply_large)?;
        Ok(Self {
            small_plain,
            small_dbmate,
            large_plain,
            cache: bench.work.path().join("cache"),
            dbmate: dbmate_path(),
            sqlx: installed("sqlx").then(|| "sqlx".to_owned()),
        })
    }

    /// The tools that apply the small set on `engine`, wasmig first, and
    /// why any reference tool is missing.
    fn contenders(&self, engine: &str) -> (Vec<&'static str>, Vec<&'static str>) {
        let mut names = vec!["wasmig"];
        let mut missing = Vec::new();
        match &self.sqlx {
            // sqlx-cli keeps SQLite's defaults: it takes part where both
            // sides do too.
            Some(_) if !engine.starts_with("sqlite-sync") => names.push("sqlx-cli"),
            Some(_) => {}
            None => missing.push("sqlx-cli is not installed (cargo install sqlx-cli)"),
        }
        match &self.dbmate {
            Some(_) => names.push("dbmate"),
            None => missing.push("dbmate is not installed (npm install --no-save dbmate)"),
        }
        (names, missing)
    }

    /// The reference tool `name` applying the small set to `db`.
    fn reference_command(&self, name: &str, db: &Fresh) -> Command {
        if name == "sqlx-cli" {
            let mut c = Command::new(self.sqlx.as_deref().unwrap_or("sqlx"));
            c.args(["migrate", "run", "--source"])
                .arg(&self.small_plain)
                .args(["--database-url", &db.sqlx]);
            c
        } else {
            let mut c = Command::new(self.dbmate.as_deref().unwrap_or("dbmate"));
            c.args(["--no-dump-schema", "--migrations-dir"])
                .arg(&self.small_dbmate)
                .args(["--url", &db.dbmate, "up"]);
            c
        }
    }
}

pub fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let setup = Setup::new(bench)?;
    for engine in [
        "sqlite",
        "sqlite-wal",
        "sqlite-sync-full",
        "sqlite-sync-normal",
        "postgres",
    ] {
        if engine == "postgres"
            && let Err(why) = &bench.postgres
        {
            for (metric, goal) in [
                ("apply_1k_vs_fastest_tool", Goal::AtMost(1.0)),
                ("apply_10k_over_1k", Goal::AtMost(12.0)),
                ("status_10k_applied", Goal::AtMost(0.1)),
            ] {
                report.add(skipped(metric, "postgres", goal, why));
            }
            continue;
        }
        let small = apply_small(bench, &setup, engine, report)?;
        // Lines beyond the goals: the same comparison with each side's
        // durability settings made equal, and on a database in WAL mode.
        if engine.starts_with("sqlite-") {
            // The variants only add this one line. (In WAL mode a commit
            // syncs once instead of three or four times, so what each tool
            // does per migration shows through the disk.)
            continue;
        }
        apply_large_and_status(bench, &setup, engine, small, report)?;
    }
    components(bench, report)
}

/// wasmig and each reference tool apply the small set to a fresh database
/// of `engine`, in turn, round after round; reports wasmig against the
/// fastest tool and returns wasmig's median.
fn apply_small(
    bench: &Bench,
    setup: &Setup,
    engine: &'static str,
    report: &mut Report,
) -> Result<Duration> {
    let (names, missing) = setup.contenders(engine);
    let mut runs: Vec<Vec<Timed>> = names.iter().map(|_| Vec::new()).collect();
    for round in 0..inputs::ROUNDS {
        for (name, runs) in names.iter().zip(runs.iter_mut()) {
            let db = fresh(bench, engine, &format!("{engine}_{name}_small_{round}"))?;
            runs.push(if *name == "wasmig" {
                wasmig(bench, &setup.small_plain, &db.wasmig, &setup.cache, &["up"])?
            } else {
                inputs::timed(&mut setup.reference_command(name, &db))?
            });
        }
    }
    let mut medians = runs.into_iter().map(inputs::median);
    let small = medians.next().map(|t| t.elapsed).unwrap_or_default();
    let references: Vec<(String, Duration)> = names[1..]
        .iter()
        .zip(medians)
        .map(|(name, t)| ((*name).to_owned(), t.elapsed))
        .collect();
    let goal = Goal::AtMost(if engine == "postgres" { 1.0 } else { 0.8 });
    let fastest = references.iter().min_by_key(|(_, t)| *t);
    report.add(match fastest {
        Some((name, reference)) => Line {
            metric: "apply_1k_vs_fastest_tool",
            engine,
            unit: "s",
            outcome: Outcome::Measured {
                wasmig: small.as_secs_f64(),
                reference: Some(reference.as_secs_f64()),
            },
            goal,
            reference_name: format!(
                "{name}{} ({} migrations)",
                match engine {
                    "sqlite-sync-full" => " with _sync=FULL, as wasmig syncs",
                    "sqlite-sync-normal" => ", as wasmig with ?synchronous=normal",
                    _ => "",
                },
                bench.sizes.apply_small
            ),
        },
        None => skipped(
            "apply_1k_vs_fastest_tool",
            engine,
            goal,
            &missing.join("; "),
        ),
    });
    Ok(small)
}

/// wasmig applies the large set (growth against the small set's `small`;
/// on SQLite, against bare SQLite's growth too), then `status` on it.
fn apply_large_and_status(
    bench: &Bench,
    setup: &Setup,
    engine: &'static str,
    small: Duration,
    report: &mut Report,
) -> Result<()> {
    let sizes = bench.sizes;
    let large_db = fresh(bench, engine, &format!("{engine}_wasmig_large"))?;
    let large = wasmig(
        bench,
        &setup.large_plain,
        &large_db.wasmig,
        &setup.cache,
        &["up"],
    )?
    .elapsed;
    report.add(Line {
        metric: "apply_10k_over_1k",
        engine,
        unit: "s",
        outcome: Outcome::Measured {
            wasmig: large.as_secs_f64(),
            reference: Some(small.as_secs_f64()),
        },
        // Linear, with the goal's slack: 12 for 10x the migrations.
        goal: Goal::AtMost(1.2 * sizes.apply_large as f64 / sizes.apply_small as f64),
        reference_name: format!(
            "wasmig, {} vs {} migrations",
            sizes.apply_large, sizes.apply_small
        ),
    });
    if engine == "sqlite" {
        report.add(growth_vs_bare_sqlite(bench, small, large)?);
    }
    // The first run fills the checksum cache, as the first `status`
    // after a deploy would; the median of the next five is reported.
    let status = || {
        wasmig(
            bench,
            &setup.large_plain,
            &large_db.wasmig,
            &setup.cache,
            &["status"],
        )
    };
    status()?;
    let status = inputs::median((0..5).map(|_| status()).collect::<Result<Vec<_>>>()?);
    report.add(Line {
        metric: "status_10k_applied",
        engine,
        unit: "s",
        outcome: Outcome::Measured {
            wasmig: status.elapsed.as_secs_f64(),
            reference: None,
        },
        goal: Goal::AtMost(0.1),
        reference_name: format!("{} applied", sizes.apply_large),
    });
    Ok(())
}

/// How SQLite itself grows with the number of tables: the same DDL, each
/// in its own transaction with one ledger INSERT, run straight through
/// rusqlite, against wasmig's growth from `small` to `large`.
fn growth_vs_bare_sqlite(bench: &Bench, small: Duration, large: Duration) -> Result<Line> {
    let sizes = bench.sizes;
    let bare =
        |count: usize| bare_sqlite(&bench.work.path().join(format!("bare_{count}.db")), count);
    let (bare_small, bare_large) = (bare(sizes.apply_small)?, bare(sizes.apply_large)?);
    Ok(Line {
        metric: "apply_10k_over_1k_vs_bare_sqlite",
        engine: "sqlite",
        unit: "x",
        outcome: Outcome::Measured {
            wasmig: large.as_secs_f64() / small.as_secs_f64(),
            reference: Some(bare_large.as_secs_f64() / bare_small.as_secs_f64()),
        },
        // wasmig grows no faster than the engine under it.
        goal: Goal::AtMost(1.2),
        reference_name: format!(
            "bare SQLite, {} vs {} (CREATE TABLE + ledger INSERT per transaction)",
            sizes.apply_large, sizes.apply_small
        ),
    })
}

/// `count` trivial migrations applied straight through rusqlite: each one
/// `CREATE TABLE` and one ledger row, committed on its own (as dbmate does).
fn bare_sqlite(path: &Path, count: usize) -> Result<Duration> {
    let _ = std::fs::remove_file(path);
    let started = std::time::Instant::now();
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch("CREATE TABLE ledger (version INTEGER PRIMARY KEY, applied_at TEXT)")?;
    for i in 1..=count {
        let tx = conn.transaction()?;
        tx.execute_batch(&format!(
            "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT);"
        ))?;
        tx.execute(
            "INSERT INTO ledger (version, applied_at) VALUES (?1, datetime('now'))",
            [i64::try_from(i)?],
        )?;
        tx.commit()?;
    }
    Ok(started.elapsed())
}

fn skipped(metric: &'static str, engine: &'static str, goal: Goal, why: &str) -> Line {
    Line {
        metric,
        engine,
        unit: "s",
        outcome: Outcome::Skipped(why.to_owned()),
        goal,
        reference_name: String::new(),
    }
}

/// Directories of `count` one-INSERT migrations after a table-creating
/// first one: components (each with bytes of its own, so each compiles on
/// its own) and SQL.
fn tick_migrations(bench: &Bench, count: usize) -> Result<(PathBuf, PathBuf)> {
    let components = bench.work.path().join("ticks_component");
    let sql = bench.work.path().join("ticks_sql");
    let tick = std::fs::read(bench.guests.join("tick.wasm"))?;
    for dir in [&components, &sql] {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("000000_ticks.sql"),
            "CREATE TABLE ticks (source TEXT NOT NULL);\n",
        )?;
    }
    for i in 1..=count {
        std::fs::write(
            components.join(format!("{i:06}_tick.wasm")),
            inputs::with_nonce(&tick, i),
        )?;
        std::fs::write(
            sql.join(format!("{i:06}_tick.sql")),
            "INSERT INTO ticks (source) VALUES ('sql');\n",
        )?;
    }
    Ok((components, sql))
}

fn components(bench: &Bench, report: &mut Report) -> Result<()> {
    let count = bench.sizes.components;
    let (components, sql) = tick_migrations(bench, count)?;
    let cache = bench.work.path().join("tick_cache");
    let db = |tag: &str| -> Result<String> { Ok(fresh(bench, "sqlite", tag)?.wasmig) };

    // Cold: an empty cache, so every component is compiled.
    let cold = wasmig(bench, &components, &db("ticks_cold")?, &cache, &["up"])?.elapsed;
    let [warm, plain] = inputs::interleaved(
        inputs::ROUNDS,
        [
            &mut || wasmig(bench, &components, &db("ticks_warm")?, &cache, &["up"]),
            &mut || wasmig(bench, &sql, &db("ticks_sql")?, &cache, &["up"]),
        ],
    )?;
    let (warm, plain) = (warm.elapsed, plain.elapsed);
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / count as f64;
    report.add(Line {
        metric: "component_overhead_warm_cache",
        engine: "sqlite",
        unit: "ms/migration",
        outcome: Outcome::Measured {
            wasmig: (per(warm) - per(plain)).max(0.0),
            reference: None,
        },
        goal: Goal::AtMost(2.0),
        reference_name: format!("{count} components vs {count} SQL migrations"),
    });
    report.add(Line {
        metric: "component_cold_cache",
        engine: "sqlite",
        unit: "ms/migration",
        outcome: Outcome::Measured {
            wasmig: per(cold),
            reference: None,
        },
        goal: Goal::AtMost(100.0),
        reference_name: format!("{count} components, compile included"),
    });
    Ok(())
}
