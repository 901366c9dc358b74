//! Schema management: the diff of two 1,000-table schemas, both read from
//! their databases (introspection included; goal: at most 2 s), and the
//! cost of a scratch database, created and dropped on the server (goal: at
//! most 0.5 s).

use std::time::{Duration, Instant};

use anyhow::Result;
use wasmig::backend::{self, DatabaseUrl};
use wasmig::scratch::Scratch;

use crate::Bench;
use crate::introspect::{TABLES, ddl};
use crate::report::{Goal, Line, Outcome, Report};

const ROUNDS: usize = 5;

/// Schema B: schema A with, in every table, one more column, one index
/// fewer and one column of another type.
fn ddl_b() -> String {
    ddl()
        .replace("note text,", "note varchar(50), extra integer,")
        .lines()
        .filter(|l| !(l.starts_with("CREATE INDEX") && l.contains("_name ON")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn outcome(measured: Result<Duration>) -> Outcome {
    match measured {
        Ok(elapsed) => Outcome::Measured {
            wasmig: elapsed.as_secs_f64(),
            reference: None,
        },
        Err(e) => Outcome::Skipped(e.to_string()),
    }
}

pub fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let postgres = |tag: &str| match &bench.postgres {
        Ok(pg) => bench
            .runtime
            .block_on(pg.database(tag))
            .map_err(|e| anyhow::anyhow!("{e}")),
        Err(why) => Err(anyhow::anyhow!("{why}")),
    };
    let dir = bench.work.path();
    let pairs = [
        (
            "sqlite",
            Ok(format!("sqlite:{}", dir.join("diff_a.db").display())),
            Ok(format!("sqlite:{}", dir.join("diff_b.db").display())),
        ),
        ("postgres", postgres("diff_a"), postgres("diff_b")),
    ];
    for (engine, a, b) in pairs {
        let measured = match (a, b) {
            (Ok(a), Ok(b)) => bench.runtime.block_on(diff(&a, &b)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        report.add(Line {
            metric: "diff_1000_tables",
            engine,
            unit: "s",
            outcome: outcome(measured),
            goal: Goal::AtMost(2.0),
            reference_name: "two 1000-table schemas, introspection included, absolute".into(),
            rounds: ROUNDS,
        });
    }
    let servers = [
        (
            "postgres",
            bench
                .postgres
                .as_ref()
                .map(|pg| format!("{}/postgres", pg.server))
                .map_err(Clone::clone),
        ),
        (
            "mariadb",
            Ok(std::env::var("WASMIG_BENCH_MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
                + "/information_schema"),
        ),
    ];
    for (engine, live) in servers {
        let measured = match live {
            Ok(live) => bench.runtime.block_on(scratch(&live)),
            Err(why) => Err(anyhow::anyhow!("{why}")),
        };
        report.add(Line {
            metric: "scratch_create_drop",
            engine,
            unit: "s",
            outcome: outcome(measured),
            goal: Goal::AtMost(0.5),
            reference_name: "a scratch database created and dropped, absolute".into(),
            rounds: ROUNDS,
        });
    }
    Ok(())
}

/// Builds A and B, then times reading both and diffing them; the median.
async fn diff(a: &str, b: &str) -> Result<Duration> {
    let a = DatabaseUrl::parse(a).map_err(anyhow::Error::msg)?;
    let b = DatabaseUrl::parse(b).map_err(anyhow::Error::msg)?;
    let mut db_a = backend::connect(&a).await?;
    let mut db_b = backend::connect(&b).await?;
    db_a.execute_script(&ddl()).await?;
    db_b.execute_script(&ddl_b()).await?;
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let from = wasmig::schema::introspect(db_a.as_mut(), None).await?;
        let to = wasmig::schema::introspect(db_b.as_mut(), None).await?;
        let ops = wasmig::schema::diff(&from, &to, &[]);
        times.push(start.elapsed());
        // Per table: the index dropped, the column added, the type changed.
        anyhow::ensure!(
            ops.len() == 3 * TABLES,
            "the diff has {} operations, not {}",
            ops.len(),
            3 * TABLES
        );
    }
    times.sort();
    Ok(times[ROUNDS / 2])
}

/// Times creating and dropping a scratch database beside `live`; the median.
async fn scratch(live: &str) -> Result<Duration> {
    let live = DatabaseUrl::parse(live).map_err(anyhow::Error::msg)?;
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let scratch = Scratch::create(&live, None).await?;
        scratch.drop().await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[ROUNDS / 2])
}
