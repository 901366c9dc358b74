//! Applying many small migrations: wasmig against sqlx-cli and dbmate on
//! each engine (how the cost grows and `status` are in `growth`), and what a
//! component migration costs over the SQL migration it replaces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::Bench;
use crate::growth;
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

/// A fresh database of an engine and its URL, as wasmig, sqlx-cli and
/// dbmate write it.
pub struct Fresh {
    pub wasmig: String,
    sqlx: String,
    dbmate: String,
}

/// An engine the tools apply migrations on, and what each tool is told.
///
/// dbmate's SQLite driver (mattn/go-sqlite3) sets `synchronous=NORMAL` on
/// every connection, where wasmig keeps SQLite's default, `FULL`: on the
/// rollback journal that is three syncs per commit against four, in WAL
/// mode none against one. The `sync` variants make both sides alike, in
/// each journal mode: dbmate told to sync as wasmig does (`_sync=FULL`), or
/// wasmig told to sync as dbmate does (`?synchronous=normal`).
pub struct Engine {
    pub name: &'static str,
    /// PostgreSQL; otherwise a SQLite file.
    pub postgres: bool,
    /// The SQLite file is in WAL mode before any tool opens it, as an
    /// application that chose WAL leaves it.
    wal: bool,
    /// Appended to wasmig's SQLite URL.
    wasmig_options: &'static str,
    /// Appended to dbmate's SQLite URL.
    dbmate_options: &'static str,
    /// What the line says of dbmate's settings against wasmig's.
    dbmate_note: &'static str,
    /// sqlx-cli keeps SQLite's defaults and takes no options: it takes part
    /// only where neither side is told otherwise.
    sqlx_cli: bool,
    /// The growth comparison and `status` run on it too; the variants add
    /// only the tool comparison.
    growth: bool,
}

const DEFAULTS_NOTE: &str = ", synchronous=NORMAL by its driver where wasmig keeps FULL";

/// SQLite with its default rollback journal, each tool as it comes.
pub const SQLITE: Engine = Engine {
    name: "sqlite",
    postgres: false,
    wal: false,
    wasmig_options: "",
    dbmate_options: "",
    dbmate_note: DEFAULTS_NOTE,
    sqlx_cli: true,
    growth: true,
};

/// Every engine `apply_1k_vs_fastest_tool` is measured on, in order.
static ENGINES: [Engine; 7] = [
    SQLITE,
    Engine {
        name: "sqlite-wal",
        wal: true,
        growth: false,
        ..SQLITE
    },
    Engine {
        name: "sqlite-sync-full",
        dbmate_options: "?_sync=FULL",
        dbmate_note: " with _sync=FULL, as wasmig syncs",
        sqlx_cli: false,
        growth: false,
        ..SQLITE
    },
    Engine {
        name: "sqlite-sync-normal",
        wasmig_options: "?synchronous=normal",
        dbmate_note: ", as wasmig with ?synchronous=normal",
        sqlx_cli: false,
        growth: false,
        ..SQLITE
    },
    Engine {
        name: "sqlite-wal-sync-full",
        wal: true,
        dbmate_options: "?_sync=FULL",
        dbmate_note: " with _sync=FULL, as wasmig syncs (WAL mode)",
        sqlx_cli: false,
        growth: false,
        ..SQLITE
    },
    Engine {
        name: "sqlite-wal-sync-normal",
        wal: true,
        wasmig_options: "?synchronous=normal",
        dbmate_note: ", as wasmig with ?synchronous=normal (WAL mode)",
        sqlx_cli: false,
        growth: false,
        ..SQLITE
    },
    Engine {
        name: "postgres",
        postgres: true,
        dbmate_note: "",
        ..SQLITE
    },
];

/// A fresh database of `engine`, named after `tag`.
pub fn fresh(bench: &Bench, engine: &Engine, tag: &str) -> Result<Fresh> {
    if engine.postgres {
        let pg = bench
            .postgres
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let url = bench.runtime.block_on(pg.database(tag))?;
        return Ok(Fresh {
            wasmig: url.clone(),
            sqlx: url.clone(),
            dbmate: url,
        });
    }
    let path = bench.work.path().join(format!("{tag}.db"));
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    if engine.wal {
        let conn = rusqlite::Connection::open(&path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        anyhow::ensure!(mode == "wal", "{} did not take WAL mode", path.display());
    }
    Ok(Fresh {
        wasmig: format!("sqlite:{}{}", path.display(), engine.wasmig_options),
        sqlx: format!("sqlite:{}?mode=rwc", path.display()),
        dbmate: format!("sqlite:{}{}", path.display(), engine.dbmate_options),
    })
}

/// `wasmig up` on `dir` and `url`, with its compile cache in `cache`.
pub fn wasmig_up(bench: &Bench, dir: &Path, url: &str, cache: &Path) -> Result<Timed> {
    wasmig(bench, dir, url, cache, &["up"])
}

/// `wasmig up` on `dir` and the SQLite file `db`.
pub fn wasmig_up_file(bench: &Bench, dir: &Path, db: &Path, cache: &Path) -> Result<Timed> {
    wasmig_up(bench, dir, &format!("sqlite:{}", db.display()), cache)
}

/// `wasmig <command>` on `dir` and `url`, with its caches in `cache`.
pub fn wasmig(
    bench: &Bench,
    dir: &Path,
    url: &str,
    cache: &Path,
    command: &[&str],
) -> Result<Timed> {
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
pub struct Setup {
    pub small_plain: PathBuf,
    small_dbmate: PathBuf,
    pub large_plain: PathBuf,
    pub cache: PathBuf,
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
    fn contenders(&self, engine: &Engine) -> (Vec<&'static str>, Vec<&'static str>) {
        let mut names = vec!["wasmig"];
        let mut missing = Vec::new();
        match &self.sqlx {
            Some(_) if engine.sqlx_cli => names.push("sqlx-cli"),
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
    for engine in &ENGINES {
        if engine.postgres
            && let Err(why) = &bench.postgres
        {
            skipped_on_postgres(report, why);
            continue;
        }
        apply_small(bench, &setup, engine, report)?;
        if engine.growth {
            growth::run(bench, &setup, engine, report)?;
        }
    }
    components(bench, report)
}

/// The lines measured on PostgreSQL, skipped when it cannot be reached.
fn skipped_on_postgres(report: &mut Report, why: &str) {
    for (metric, goal) in [
        ("apply_1k_vs_fastest_tool", Goal::AtMost(1.0)),
        ("apply_10k_over_1k", Goal::AtMost(12.0)),
        ("status_10k_applied_warm", Goal::AtMost(0.1)),
        ("status_10k_applied_cold", Goal::Informational),
    ] {
        report.add(skipped(metric, "postgres", goal, why));
    }
}

/// wasmig and each reference tool apply the small set to a fresh database
/// of `engine`, in turn, round after round; reports wasmig against the
/// fastest tool.
fn apply_small(bench: &Bench, setup: &Setup, engine: &Engine, report: &mut Report) -> Result<()> {
    let (names, missing) = setup.contenders(engine);
    let mut runs: Vec<Vec<Timed>> = names.iter().map(|_| Vec::new()).collect();
    for round in 0..inputs::ROUNDS {
        for (name, runs) in names.iter().zip(runs.iter_mut()) {
            let db = fresh(
                bench,
                engine,
                &format!("{}_{name}_small_{round}", engine.name),
            )?;
            runs.push(if *name == "wasmig" {
                wasmig(bench, &setup.small_plain, &db.wasmig, &setup.cache, &["up"])?
            } else {
                inputs::timed(&mut setup.reference_command(name, &db))?
            });
        }
    }
    let mut medians = runs.into_iter().map(inputs::median);
    let small = medians.next().map(|t| t.elapsed).unwrap_or_default();
    let fastest = names[1..]
        .iter()
        .zip(medians)
        .min_by_key(|(_, t)| t.elapsed);
    let goal = Goal::AtMost(if engine.postgres { 1.0 } else { 0.8 });
    report.add(match fastest {
        Some((name, reference)) => Line {
            metric: "apply_1k_vs_fastest_tool",
            engine: engine.name,
            unit: "s",
            outcome: Outcome::Measured {
                wasmig: small.as_secs_f64(),
                reference: Some(reference.elapsed.as_secs_f64()),
            },
            goal,
            reference_name: format!(
                "{name}{} ({} migrations)",
                if *name == "dbmate" {
                    engine.dbmate_note
                } else {
                    ""
                },
                bench.sizes.apply_small
            ),
            rounds: inputs::ROUNDS,
        },
        None => skipped(
            "apply_1k_vs_fastest_tool",
            engine.name,
            goal,
            &missing.join("; "),
        ),
    });
    Ok(())
}

fn skipped(metric: &'static str, engine: &'static str, goal: Goal, why: &str) -> Line {
    Line {
        metric,
        engine,
        unit: "s",
        outcome: Outcome::Skipped(why.to_owned()),
        goal,
        reference_name: String::new(),
        rounds: inputs::ROUNDS,
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
    let caches = bench.work.path().join("tick_cache");
    let warm_cache = caches.join("warm");
    let db = |tag: &str| -> Result<String> { Ok(fresh(bench, &SQLITE, tag)?.wasmig) };

    // Fills the warm cache: the warm runs compile nothing.
    wasmig(bench, &components, &db("ticks_warm")?, &warm_cache, &["up"])?;
    let mut cold_runs = 0;
    let [cold, warm, plain] = inputs::interleaved(
        inputs::ROUNDS,
        [
            // Cold: a cache directory of its own, empty, so every
            // component is compiled.
            &mut || {
                cold_runs += 1;
                let cache = caches.join(format!("cold_{cold_runs}"));
                wasmig(bench, &components, &db("ticks_cold")?, &cache, &["up"])
            },
            &mut || wasmig(bench, &components, &db("ticks_warm")?, &warm_cache, &["up"]),
            &mut || wasmig(bench, &sql, &db("ticks_sql")?, &warm_cache, &["up"]),
        ],
    )?;
    let (cold, warm, plain) = (cold.elapsed, warm.elapsed, plain.elapsed);
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
        rounds: inputs::ROUNDS,
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
        rounds: inputs::ROUNDS,
    });
    Ok(())
}
