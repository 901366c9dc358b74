//! `wasmig fleet up|status`: the migrations run against every tenant
//! database, a few at a time, with one summary at the end.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use wasmig::fleet::{self, Outcome, Target, TenantResult};
use wasmig::planner::State;
use wasmig::report::Silent;

use super::{Settings, render, up_options};
use crate::{FleetAction, FleetArgs, Format};

pub(crate) async fn run(ctx: &Settings, args: &FleetArgs) -> Result<ExitCode> {
    let (common, up) = match &args.action {
        FleetAction::Up(up) => (&up.common, Some(up)),
        FleetAction::Status(common) => (common, None),
    };
    let mut urls = ctx.config.fleet_targets()?;
    urls.extend(common.targets.iter().cloned());
    let mut globs = ctx.config.config.fleet.sqlite_glob.clone();
    let base = if common.sqlite_glob.is_empty() {
        ctx.config.root.clone()
    } else {
        std::env::current_dir()?
    };
    globs.extend(common.sqlite_glob.iter().cloned());
    let targets = fleet::resolve_targets(&urls, &globs, &base)?;
    let parallel = common
        .parallel
        .or(ctx.config.config.fleet.parallel)
        .unwrap_or_else(|| fleet::default_parallel(&targets));
    let bar = ctx.bars.add(ProgressBar::new(targets.len() as u64));
    if let Ok(style) = ProgressStyle::with_template("tenants [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("#-"));
    }
    let run_one = |target: &Target| {
        let migrator = ctx.migrator().map(|m| {
            m.with_url(target.url.clone())
                .with_reporter(Arc::new(Silent))
        });
        let bar = bar.clone();
        let select = up.map(|u| up_options(&u.select));
        let missing_dir = sqlite_dir_missing(&target.url);
        async move {
            let outcome = match migrator {
                _ if missing_dir.is_some() => Outcome::Unreachable {
                    error: missing_dir.unwrap_or_default(),
                },
                Err(e) => Outcome::Failed {
                    error: format!("{e:#}"),
                },
                Ok(migrator) => match &select {
                    Some(options) => match migrator.up(options).await {
                        Ok(report) if report.migrations.is_empty() => Outcome::UpToDate,
                        Ok(report) => Outcome::Applied {
                            count: report.migrations.len(),
                        },
                        Err(e) => Outcome::of_error(&e),
                    },
                    None => match migrator.status().await {
                        Ok(statuses) => behind(&statuses),
                        Err(e) => Outcome::of_error(&e),
                    },
                },
            };
            bar.inc(1);
            outcome
        }
    };
    let stop = up.is_some_and(|u| !u.continue_on_error);
    let results = fleet::for_each(&targets, parallel, stop, run_one).await;
    bar.finish_and_clear();
    match common.format {
        Format::Json => println!("{}", json(up.is_some(), &results)?),
        Format::Table => table(&results),
    }
    let failed = results.iter().any(|r| r.outcome.is_failure());
    let behind = results
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Behind { .. } | Outcome::NotRun));
    Ok(if failed {
        ExitCode::FAILURE
    } else if behind && common.exit_code {
        ExitCode::from(4)
    } else {
        ExitCode::SUCCESS
    })
}

/// Why a SQLite tenant cannot be reached: its directory does not exist
/// (SQLite would create a missing file, not a missing directory).
fn sqlite_dir_missing(url: &wasmig::backend::DatabaseUrl) -> Option<String> {
    let wasmig::backend::DatabaseUrl::Sqlite {
        path: Some(path), ..
    } = url
    else {
        return None;
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    (!dir.is_dir()).then(|| format!("the directory {} does not exist", dir.display()))
}

/// A tenant's status as one outcome: failed migrations first, then pending.
fn behind(statuses: &[wasmig::planner::MigrationStatus]) -> Outcome {
    if let Some(failed) = statuses.iter().find(|s| s.status == State::Failed) {
        return Outcome::Failed {
            error: format!(
                "migration {} ({}) is marked failed: resolve it there",
                failed.version, failed.name
            ),
        };
    }
    let pending = statuses
        .iter()
        .filter(|s| s.status == State::Pending)
        .count();
    if pending == 0 {
        Outcome::UpToDate
    } else {
        Outcome::Behind { pending }
    }
}

fn table(results: &[TenantResult]) {
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|r| {
            let (result, detail) = match &r.outcome {
                Outcome::Applied { count } => ("applied", format!("{count} migration(s)")),
                Outcome::UpToDate => ("up to date", String::new()),
                Outcome::Behind { pending } => ("behind", format!("{pending} pending")),
                Outcome::Failed { error } => ("FAILED", first_line(error)),
                Outcome::Unreachable { error } => ("UNREACHABLE", first_line(error)),
                Outcome::NotRun => ("not run", "an earlier tenant failed".to_owned()),
            };
            [
                r.target.clone(),
                result.to_owned(),
                detail,
                format!("{} ms", r.ms),
            ]
        })
        .collect();
    render::print_table(&["TENANT", "RESULT", "DETAIL", "TIME"], &rows);
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
    println!(
        "{} tenant(s): {} applied, {} up to date, {} behind, {} failed, {} unreachable, {} not run",
        results.len(),
        count(|o| matches!(o, Outcome::Applied { .. })),
        count(|o| matches!(o, Outcome::UpToDate)),
        count(|o| matches!(o, Outcome::Behind { .. })),
        count(|o| matches!(o, Outcome::Failed { .. })),
        count(|o| matches!(o, Outcome::Unreachable { .. })),
        count(|o| matches!(o, Outcome::NotRun)),
    );
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// `{"format": "wasmig-fleet/1", "command": "up"|"status", "tenants": [...]}`.
fn json(up: bool, results: &[TenantResult]) -> Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "format": "wasmig-fleet/1",
        "command": if up { "up" } else { "status" },
        "tenants": results,
    }))?)
}
