//! wasmig against its references, side by side in one run.
//!
//! `cargo bench -p wasmig` builds its inputs (guest components, migration
//! directories, databases), runs each comparison and prints one line per
//! metric:
//!
//! ```text
//! metric=<name> engine=<e> wasmig=<value> reference=<value> ratio=<x> goal=<y|-> ok=<true|false|-> unit=<u> rounds=<n> against=<reference>
//! ```
//!
//! `rounds` is how many runs a side each median is of; a line with
//! `goal=-` is informational (a second reference, or a condition shown
//! beside the goal's line).
//!
//! `WASMIG_BENCH_QUICK=1` shrinks every size so the run takes a minute or
//! two; a full run also writes `BENCHMARKS.md` at the repository root.
//! PostgreSQL is read from `WASMIG_BENCH_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432`); sqlx-cli and dbmate are used when
//! installed (`cargo install sqlx-cli`, `npm install --no-save dbmate`), and their
//! lines say `ok=skipped` with the reason otherwise; the Python lines need
//! componentize-py in `.venv` (the README's test command installs it).

#![allow(missing_docs, clippy::unwrap_used)]

mod data;
mod fleet;
mod growth;
mod inputs;
mod introspect;
mod manage;
mod python;
mod report;
mod tools;

use std::path::PathBuf;

use anyhow::Result;

use crate::report::Report;

/// How big each comparison is.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Rows of the data migration.
    pub rows: u64,
    /// Migrations of the small apply run (and the 10k/1k base).
    pub apply_small: usize,
    /// Migrations of the large apply run.
    pub apply_large: usize,
    /// Component migrations of the per-migration overhead runs.
    pub components: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                rows: 50_000,
                apply_small: 200,
                apply_large: 2_000,
                components: 40,
            }
        } else {
            Self {
                rows: 1_000_000,
                apply_small: 1_000,
                apply_large: 10_000,
                components: 200,
            }
        }
    }
}

/// What every comparison needs.
pub struct Bench {
    pub sizes: Sizes,
    /// The `wasmig` binary under test.
    pub wasmig: PathBuf,
    /// Scratch space, removed at the end.
    pub work: tempfile::TempDir,
    /// The built guest components.
    pub guests: PathBuf,
    /// A PostgreSQL server, or why there is none.
    pub postgres: Result<data::Postgres, String>,
    pub runtime: tokio::runtime::Runtime,
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; a filter, if any, is ignored.
    let quick = std::env::var("WASMIG_BENCH_QUICK").is_ok_and(|v| v == "1");
    let sizes = Sizes::new(quick);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let postgres = runtime.block_on(data::Postgres::connect());
    let bench = Bench {
        sizes,
        wasmig: PathBuf::from(env!("CARGO_BIN_EXE_wasmig")),
        work: tempfile::tempdir()?,
        guests: inputs::build_guests()?,
        postgres,
        runtime,
    };
    eprintln!(
        "wasmig side-by-side benchmark ({}): {sizes:?}",
        if quick { "quick" } else { "full" }
    );
    let mut report = Report::default();
    // `WASMIG_BENCH_ONLY=introspect,manage` runs only those groups (and
    // writes no BENCHMARKS.md): data, tools, introspect, manage, python, fleet.
    let only = std::env::var("WASMIG_BENCH_ONLY").ok();
    let wanted = |group: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|g| g == group))
    };
    if wanted("data") {
        data::run(&bench, &mut report)?;
    }
    if wanted("tools") {
        tools::run(&bench, &mut report)?;
    }
    if wanted("introspect") {
        introspect::run(&bench, &mut report)?;
    }
    if wanted("manage") {
        manage::run(&bench, &mut report)?;
    }
    if wanted("python") {
        python::run(&bench, &mut report)?;
    }
    if wanted("fleet") {
        fleet::run(&bench, &mut report)?;
    }
    if let Ok(pg) = &bench.postgres {
        bench.runtime.block_on(pg.drop_all());
    }
    if !quick && only.is_none() {
        let path = inputs::repo().join("BENCHMARKS.md");
        std::fs::write(&path, report.markdown(&bench))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
