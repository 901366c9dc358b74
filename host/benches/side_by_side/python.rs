//! Python migrations: the runtime's size and first build, its cold compile
//! and warm load, what the ledger keeps per migration, and the data
//! migration in Python against native CPython and the Rust guest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::Bench;
use crate::data::{check_sqlite, seed_sqlite};
use crate::inputs::{self, Timed};
use crate::report::{Goal, Line, Outcome, Report};
use crate::tools::wasmig_up_file;

const BACKFILL: &str = include_str!("backfill_people.py");
const NATIVE: &str = "host/benches/side_by_side/backfill_people_native.py";

pub fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let Some(tool) = componentize_py() else {
        let why = "componentize-py is not installed: python3 -m venv .venv && \
                   .venv/bin/pip install -r guest-sdk/python/requirements.txt";
        for metric in ["python_first_build", "python_data_vs_native_cpython"] {
            report.add(line(
                metric,
                "s",
                Outcome::Skipped(why.into()),
                Goal::Informational,
                "-",
                1,
            ));
        }
        return Ok(());
    };
    let root = bench.work.path().join("python");
    let migrations = root.join("migrations");
    std::fs::create_dir_all(migrations.join("1_backfill_people"))?;
    std::fs::write(migrations.join("1_backfill_people/migration.py"), BACKFILL)?;
    let cache = root.join("cache");
    let url = |name: &str| -> Result<String> {
        let path = root.join(name);
        seed_sqlite(&path, 0)?;
        Ok(format!("sqlite:{}", path.display()))
    };
    // The first `wasmig build`: componentize-py builds the runtime, wasmtime
    // compiles it, and the migration is imported once.
    let first = inputs::timed(
        Command::new(&bench.wasmig)
            .args(["--dir"])
            .arg(&migrations)
            .args(["--database-url", &url("build.db")?, "--cache-dir"])
            .arg(&cache)
            .arg("build")
            .env("WASMIG_COMPONENTIZE_PY", &tool),
    )?;
    report.add(line(
        "python_first_build",
        "s",
        measured(first.elapsed, None),
        Goal::Informational,
        "-",
        1,
    ));
    let runtime = migrations.join(".python/runtime.wasm");
    let size = std::fs::metadata(&runtime)?.len() as f64 / 1e6;
    report.add(line(
        "python_runtime_size",
        "MB",
        Outcome::Measured {
            wasmig: size,
            reference: None,
        },
        Goal::Informational,
        "-",
        1,
    ));
    compile_lines(bench, &migrations, &root, report, &url)?;
    data_lines(bench, &migrations, &cache, &root, report)
}

/// Cold compile (an empty compile cache) and warm load, as `wasmig up`
/// reports them, and the bytes the ledger keeps of the migration.
fn compile_lines(
    bench: &Bench,
    migrations: &Path,
    root: &Path,
    report: &mut Report,
    url: &dyn Fn(&str) -> Result<String>,
) -> Result<()> {
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 0..inputs::ROUNDS {
        let cache = root.join(format!("cold_cache_{round}"));
        cold.push(loaded(
            bench,
            migrations,
            &url(&format!("cold_{round}.db"))?,
            &cache,
            "1 compiled",
        )?);
        warm.push(loaded(
            bench,
            migrations,
            &url(&format!("warm_{round}.db"))?,
            &cache,
            "1 from the cache",
        )?);
    }
    cold.sort();
    warm.sort();
    let middle = inputs::ROUNDS / 2;
    report.add(line(
        "python_cold_compile",
        "s",
        measured(cold[middle], None),
        Goal::Informational,
        "-",
        inputs::ROUNDS,
    ));
    report.add(line(
        "python_warm_load",
        "ms",
        Outcome::Measured {
            wasmig: warm[middle].as_secs_f64() * 1e3,
            reference: None,
        },
        Goal::Informational,
        "-",
        inputs::ROUNDS,
    ));
    let kept: i64 = rusqlite::Connection::open(root.join("warm_0.db"))?.query_row(
        "SELECT sum(length(bytes)) FROM wasmig_payloads",
        [],
        |r| r.get(0),
    )?;
    let runtime = std::fs::metadata(migrations.join(".python/runtime.wasm"))?.len();
    report.add(line(
        "python_ledger_bytes_per_migration",
        "KB",
        Outcome::Measured {
            wasmig: kept as f64 / 1e3,
            reference: Some(runtime as f64 / 1e3),
        },
        Goal::Informational,
        "the runtime component, were it kept per migration",
        1,
    ));
    Ok(())
}

/// `wasmig up`'s own figure for loading its components, from its
/// "components: …" line, which must say `expect`.
fn loaded(
    bench: &Bench,
    migrations: &Path,
    url: &str,
    cache: &Path,
    expect: &str,
) -> Result<Duration> {
    let output = Command::new(&bench.wasmig)
        .arg("--dir")
        .arg(migrations)
        .args(["--database-url", url, "--cache-dir"])
        .arg(cache)
        .arg("up")
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("wasmig up failed:\n{stderr}");
    }
    let line = stderr
        .lines()
        .find(|l| l.starts_with("components:"))
        .context("no components line")?;
    if !line.contains(expect) {
        bail!("expected {expect:?}: {line}");
    }
    let ms: f64 = line
        .rsplit('(')
        .next()
        .and_then(|t| t.trim_end_matches(')').trim_end_matches(" ms").parse().ok())
        .context("no milliseconds in the components line")?;
    Ok(Duration::from_secs_f64(ms / 1e3))
}

/// The 1M-row backfill: the Python guest, native CPython doing the same,
/// and the Rust guest, each on its own copy of the seeded database.
fn data_lines(
    bench: &Bench,
    migrations: &Path,
    cache: &Path,
    root: &Path,
    report: &mut Report,
) -> Result<()> {
    let rows = bench.sizes.rows;
    let seeded = root.join("people.db");
    seed_sqlite(&seeded, rows)?;
    let rust = root.join("rust");
    std::fs::create_dir_all(&rust)?;
    std::fs::copy(
        bench.guests.join("backfill_people.wasm"),
        rust.join("1_backfill_people.wasm"),
    )?;
    let copy = |tag: &str| -> Result<PathBuf> {
        let path = root.join(format!("people_{tag}.db"));
        std::fs::copy(&seeded, &path)?;
        Ok(path)
    };
    let run_on = |tag: &str, run: &dyn Fn(&Path) -> Result<Timed>| -> Result<Timed> {
        let db = copy(tag)?;
        let timed = run(&db)?;
        check_sqlite(&db, rows)?;
        Ok(timed)
    };
    // Warm the compile cache for the Rust guest too.
    wasmig_up_file(bench, &rust, &copy("warm")?, cache)?;
    let [python, native, rust_guest] = inputs::interleaved(
        inputs::ROUNDS,
        [
            &mut || run_on("python", &|db| wasmig_up_file(bench, migrations, db, cache)),
            &mut || {
                run_on("native", &|db| {
                    inputs::timed(
                        Command::new("python3")
                            .arg(inputs::repo().join(NATIVE))
                            .arg(db),
                    )
                })
            },
            &mut || run_on("rust", &|db| wasmig_up_file(bench, &rust, db, cache)),
        ],
    )?;
    data_report(report, &python, &native, &rust_guest);
    Ok(())
}

fn data_report(report: &mut Report, python: &Timed, native: &Timed, rust_guest: &Timed) {
    report.add(line(
        "python_data_vs_native_cpython",
        "s",
        measured(python.elapsed, Some(native.elapsed)),
        Goal::AtMost(3.0),
        "native CPython (python3, sqlite3, executemany)",
        inputs::ROUNDS,
    ));
    report.add(line(
        "python_data_vs_rust_guest",
        "s",
        measured(python.elapsed, Some(rust_guest.elapsed)),
        Goal::Informational,
        "the Rust guest, same batches",
        inputs::ROUNDS,
    ));
    report.add(line(
        "python_data_peak_rss",
        "MB",
        Outcome::Measured {
            wasmig: python.peak_rss as f64 / 1e6,
            reference: Some(native.peak_rss as f64 / 1e6),
        },
        Goal::Informational,
        "native CPython",
        inputs::ROUNDS,
    ));
}

fn componentize_py() -> Option<PathBuf> {
    std::env::var_os("WASMIG_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .or_else(|| Some(inputs::repo().join(".venv/bin/componentize-py")))
        .filter(|p| p.is_file())
}

fn measured(wasmig: Duration, reference: Option<Duration>) -> Outcome {
    Outcome::Measured {
        wasmig: wasmig.as_secs_f64(),
        reference: reference.map(|r| r.as_secs_f64()),
    }
}

fn line(
    metric: &'static str,
    unit: &'static str,
    outcome: Outcome,
    goal: Goal,
    against: &str,
    rounds: usize,
) -> Line {
    Line {
        metric,
        engine: "sqlite",
        unit,
        outcome,
        goal,
        reference_name: against.into(),
        rounds,
    }
}
