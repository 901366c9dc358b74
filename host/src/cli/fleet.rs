//! `wasmig fleet up|status` (and `plan`, in `fleet_plan`): the migrations run against every tenant
//! database, a few at a time, with one summary at the end.

use std::process::ExitCode;

use anyhow::Result;
use wasmig::fleet::{self, Outcome, Target, TenantResult};
use wasmig::planner::{State, UpOptions};

use super::tenants::{first_line, panicked, start, tenant};
use super::{Settings, render, up_options};
use crate::{FleetAction, FleetArgs, Format};

pub(crate) async fn run(ctx: &Settings, args: &FleetArgs) -> Result<ExitCode> {
    let (common, up) = match &args.action {
        FleetAction::Up(up) => (&up.common, Some(up)),
        FleetAction::Status(common) => (common, None),
        FleetAction::Plan(plan) => return super::fleet_plan::run(ctx, plan).await,
    };
    let (targets, parallel, bar) = start(ctx, common).await?;
    let run_one = |target: &Target| {
        let migrator = tenant(ctx, target);
        let bar = bar.clone();
        let select = up.map(|u| UpOptions {
            expect_shapes: u.expect_plan.clone(),
            ..up_options(&u.select)
        });
        async move {
            let outcome = match migrator {
                Err(outcome) => outcome,
                Ok(migrator) => fleet::on_own_thread(move || async move {
                    match &select {
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
                    }
                })
                .await
                .unwrap_or_else(|e| panicked(&e)),
            };
            bar.inc(1);
            outcome
        }
    };
    let schedule = fleet::Schedule {
        canary: up.map_or(0, |u| u.canary),
        wave_size: up.map_or(0, |u| u.wave_size),
        ..fleet::Schedule::new(parallel, up.is_some_and(|u| !u.continue_on_error))
    };
    let results = fleet::for_each(&targets, schedule, run_one).await;
    bar.finish_and_clear();
    match common.format {
        Format::Json => println!("{}", json(up.is_some(), parallel, &results)?),
        Format::Table => table(&results),
    }
    let failed = results.iter().any(|r| r.outcome.is_failure());
    let behind = results
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Behind { .. } | Outcome::NotRun { .. }));
    Ok(if failed {
        ExitCode::FAILURE
    } else if behind && common.exit_code {
        ExitCode::from(4)
    } else {
        ExitCode::SUCCESS
    })
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
                Outcome::NotRun { reason } => ("not run", reason.clone()),
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
        count(|o| matches!(o, Outcome::NotRun { .. })),
    );
}

/// `{"format": "wasmig-fleet/1", "command": "up"|"status", "parallel",
/// "tenants": [...]}`.
fn json(up: bool, parallel: usize, results: &[TenantResult]) -> Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "format": "wasmig-fleet/1",
        "command": if up { "up" } else { "status" },
        "parallel": parallel,
        "tenants": results,
    }))?)
}
