//! How applying grows from the small set to the large one (beside bare
//! SQLite's own growth for the same DDL), and `status` on the large history
//! with its checksum cache warm and cold.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::Bench;
use crate::inputs::{self, Timed};
use crate::report::{Goal, Line, Outcome, Report};
use crate::tools::{Engine, Setup, fresh, wasmig};

/// How many runs a side each `status` median is of: a run is short, so a
/// few more cost little and steady the median.
const STATUS_ROUNDS: usize = 5;

/// The medians of one growth comparison.
struct Growth {
    small: Timed,
    large: Timed,
    /// Bare SQLite's small and large runs (on SQLite only).
    bare: Option<(Timed, Timed)>,
    /// The database the last large run applied to.
    large_url: String,
}

/// wasmig applies the small and the large set (on SQLite, bare SQLite
/// applies the same DDL too), in turn, round after round; then `status`
/// runs on the large history.
pub fn run(bench: &Bench, setup: &Setup, engine: &Engine, report: &mut Report) -> Result<()> {
    let sizes = bench.sizes;
    let growth = measure(bench, setup, engine)?;
    report.add(Line {
        metric: "apply_10k_over_1k",
        engine: engine.name,
        unit: "s",
        outcome: Outcome::Measured {
            wasmig: growth.large.elapsed.as_secs_f64(),
            reference: Some(growth.small.elapsed.as_secs_f64()),
        },
        // Linear, with the goal's slack: 12 for 10x the migrations.
        goal: Goal::AtMost(1.2 * sizes.apply_large as f64 / sizes.apply_small as f64),
        reference_name: format!(
            "wasmig, {} vs {} migrations",
            sizes.apply_large, sizes.apply_small
        ),
        rounds: inputs::ROUNDS,
    });
    if let Some((bare_small, bare_large)) = &growth.bare {
        let ratio = |large: &Timed, small: &Timed| {
            large.elapsed.as_secs_f64() / small.elapsed.as_secs_f64()
        };
        report.add(Line {
            metric: "apply_10k_over_1k_vs_bare_sqlite",
            engine: engine.name,
            unit: "x",
            outcome: Outcome::Measured {
                wasmig: ratio(&growth.large, &growth.small),
                reference: Some(ratio(bare_large, bare_small)),
            },
            // wasmig grows no faster than the engine under it.
            goal: Goal::AtMost(1.2),
            reference_name: format!(
                "bare SQLite, {} vs {} (CREATE TABLE + ledger INSERT per transaction)",
                sizes.apply_large, sizes.apply_small
            ),
            rounds: inputs::ROUNDS,
        });
    }
    status(bench, setup, engine, &growth.large_url, report)
}

/// The growth comparison's median runs.
fn measure(bench: &Bench, setup: &Setup, engine: &Engine) -> Result<Growth> {
    let sizes = bench.sizes;
    let name = engine.name;
    let mut large_url = String::new();
    let mut small = || {
        let db = fresh(bench, engine, &format!("{name}_wasmig_growth_small"))?;
        wasmig(bench, &setup.small_plain, &db.wasmig, &setup.cache, &["up"])
    };
    let mut large = || {
        let db = fresh(bench, engine, &format!("{name}_wasmig_growth_large"))?;
        large_url.clone_from(&db.wasmig);
        wasmig(bench, &setup.large_plain, &db.wasmig, &setup.cache, &["up"])
    };
    let bare = |count: usize| {
        let path = bench.work.path().join(format!("bare_{count}.db"));
        bare_sqlite(&path, count).map(inputs::took)
    };
    let (small, large, bare) = if engine.postgres {
        let [s, l] = inputs::interleaved(inputs::ROUNDS, [&mut small, &mut large])?;
        (s, l, None)
    } else {
        let [s, l, bs, bl] = inputs::interleaved(
            inputs::ROUNDS,
            [
                &mut small,
                &mut large,
                &mut || bare(sizes.apply_small),
                &mut || bare(sizes.apply_large),
            ],
        )?;
        (s, l, Some((bs, bl)))
    };
    Ok(Growth {
        small,
        large,
        bare,
        large_url,
    })
}

/// `count` trivial migrations applied straight through rusqlite: each one
/// `CREATE TABLE` and one ledger row, committed on its own (as dbmate does).
fn bare_sqlite(path: &Path, count: usize) -> Result<Duration> {
    let _ = std::fs::remove_file(path);
    let started = Instant::now();
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

/// `status` on the large history at `url`: warm (the checksum cache filled
/// by an earlier `status`, as every run after the first on a machine) and
/// cold (a cache directory of its own, empty, so every migration file is
/// read and hashed, as the first run after a deploy), in turn.
fn status(
    bench: &Bench,
    setup: &Setup,
    engine: &Engine,
    url: &str,
    report: &mut Report,
) -> Result<()> {
    let caches = bench.work.path().join(format!("status_{}", engine.name));
    let warm_cache = caches.join("warm");
    let status = |cache: &Path| wasmig(bench, &setup.large_plain, url, cache, &["status"]);
    // Fills the warm cache.
    status(&warm_cache)?;
    let mut cold_runs = 0;
    let [warm, cold] = inputs::interleaved(
        STATUS_ROUNDS,
        [&mut || status(&warm_cache), &mut || {
            cold_runs += 1;
            status(&caches.join(format!("cold_{cold_runs}")))
        }],
    )?;
    let applied = bench.sizes.apply_large;
    for (metric, run, goal, state) in [
        (
            "status_10k_applied_warm",
            warm,
            Goal::AtMost(0.1),
            "checksum cache filled by an earlier status",
        ),
        (
            "status_10k_applied_cold",
            cold,
            Goal::Informational,
            "empty checksum cache: every file read and hashed",
        ),
    ] {
        report.add(Line {
            metric,
            engine: engine.name,
            unit: "s",
            outcome: Outcome::Measured {
                wasmig: run.elapsed.as_secs_f64(),
                reference: None,
            },
            goal,
            reference_name: format!("{applied} applied, {state}"),
            rounds: STATUS_ROUNDS,
        });
    }
    Ok(())
}
