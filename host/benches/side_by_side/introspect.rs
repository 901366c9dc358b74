//! Reading a large schema: 1,000 tables of 10 columns and 2 indexes each,
//! introspected into the schema model on SQLite and PostgreSQL. The goal is
//! an absolute one: at most a second.

use std::time::{Duration, Instant};

use anyhow::Result;
use wasmig::backend::{self, DatabaseUrl};

use crate::Bench;
use crate::report::{Goal, Line, Outcome, Report};

pub(crate) const TABLES: usize = 1_000;
const ROUNDS: usize = 5;

/// The DDL of the large schema.
pub(crate) fn ddl() -> String {
    let mut sql = String::new();
    for t in 0..TABLES {
        sql.push_str(&format!(
            "CREATE TABLE t{t} (id integer PRIMARY KEY, name varchar(100) NOT NULL, \
             email varchar(255), score numeric(10,2), active boolean DEFAULT true, \
             created date, note text, amount bigint DEFAULT 0, ratio double precision, \
             parent integer REFERENCES t{t} (id));\n\
             CREATE INDEX t{t}_name ON t{t} (name);\n\
             CREATE UNIQUE INDEX t{t}_email ON t{t} (email);\n"
        ));
    }
    sql
}

pub fn run(bench: &Bench, report: &mut Report) -> Result<()> {
    let sqlite = bench.work.path().join("introspect.db");
    let urls = [
        ("sqlite", Ok(format!("sqlite:{}", sqlite.display()))),
        (
            "postgres",
            match &bench.postgres {
                Ok(pg) => bench
                    .runtime
                    .block_on(pg.database("introspect"))
                    .map_err(|e| e.to_string()),
                Err(why) => Err(why.clone()),
            },
        ),
    ];
    for (engine, url) in urls {
        let outcome = match url {
            Ok(url) => match bench.runtime.block_on(measure(&url)) {
                Ok(elapsed) => Outcome::Measured {
                    wasmig: elapsed.as_secs_f64(),
                    reference: None,
                },
                Err(e) => Outcome::Skipped(e.to_string()),
            },
            Err(why) => Outcome::Skipped(why),
        };
        report.add(Line {
            metric: "introspect_1000_tables",
            engine,
            unit: "s",
            outcome,
            goal: Goal::AtMost(1.0),
            reference_name: "1000 tables x 10 columns x 2 indexes, absolute".into(),
            rounds: ROUNDS,
        });
    }
    Ok(())
}

/// Builds the schema, then times `ROUNDS` introspections and returns the
/// median.
async fn measure(url: &str) -> Result<Duration> {
    let url = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?;
    let mut db = backend::connect(&url).await?;
    db.execute_script(&ddl()).await?;
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let schema = wasmig::schema::introspect(db.as_mut(), None).await?;
        times.push(start.elapsed());
        anyhow::ensure!(
            schema.tables.len() == TABLES
                && schema
                    .tables
                    .iter()
                    .all(|t| t.columns.len() == 10 && t.indexes.len() == 2),
            "introspection read {} tables, not {TABLES} of 10 columns and 2 indexes",
            schema.tables.len()
        );
    }
    times.sort();
    Ok(times[ROUNDS / 2])
}
