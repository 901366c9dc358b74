//! `wasmig fleet up|status|drift` (and `plan`, in `fleet_plan`): one
//! command run against every tenant, a few at a time, with one summary at
//! the end.

use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Result;
use wasmig::fleet::{self, Outcome, Target, TenantResult};
use wasmig::migrator::Migrator;
use wasmig::planner::{State, UpOptions};

use super::tenants::{first_line, fleet_migrator, panicked, start, tenant};
use super::{Settings, render, up_options};
use crate::{FleetAction, FleetArgs, Format};

/// What a fleet command does on each tenant.
#[derive(Clone)]
enum Job {
    Up(UpOptions),
    Status,
    Drift(Arc<fleet::Expected>),
}

impl Job {
    fn name(&self) -> &'static str {
        match self {
            Job::Up(_) => "up",
            Job::Status => "status",
            Job::Drift(_) => "drift",
        }
    }

    async fn on(&self, migrator: Migrator) -> Outcome {
        match self {
            Job::Up(options) => match migrator.up(options).await {
                Ok(report) if report.migrations.is_empty() => Outcome::UpToDate,
                Ok(report) => Outcome::Applied {
                    count: report.migrations.len(),
                },
                Err(e) => Outcome::of_error(&e),
            },
            Job::Status => match migrator.status().await {
                Ok(statuses) => behind(&statuses),
                Err(e) => Outcome::of_error(&e),
            },
            Job::Drift(expected) => match expected.drift(&migrator).await {
                Ok(found) if found.is_empty() => Outcome::NoDrift,
                Ok(found) => Outcome::Drifted {
                    differences: found.iter().map(ToString::to_string).collect(),
                },
                Err(e) => Outcome::of_error(&e),
            },
        }
    }
}

pub(crate) async fn run(ctx: &Settings, args: &FleetArgs) -> Result<ExitCode> {
    let (common, up, job) = match &args.action {
        FleetAction::Up(up) => {
            let options = UpOptions {
                expect_shapes: up.expect_plan.clone(),
                ..up_options(&up.select)
            };
            (&up.common, Some(up), Job::Up(options))
        }
        FleetAction::Status(common) => (common, None, Job::Status),
        FleetAction::Drift(common) => {
            let expected = fleet::Expected::new(ctx.dev_url.clone());
            (common, None, Job::Drift(Arc::new(expected)))
        }
        FleetAction::Plan(plan) => return super::fleet_plan::run(ctx, plan).await,
    };
    let migrator = fleet_migrator(ctx, matches!(job, Job::Up(_))).await?;
    let (targets, parallel, bar) = start(ctx, common).await?;
    let run_one = |target: &Target| {
        let migrator = tenant(ctx, &migrator, target);
        let (bar, job) = (bar.clone(), job.clone());
        async move {
            let outcome = match migrator {
                Err(outcome) => outcome,
                Ok(migrator) => fleet::on_own_thread(move || async move { job.on(migrator).await })
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
        Format::Json => println!("{}", json(job.name(), parallel, &results)?),
        Format::Table => table(&results),
    }
    let failed = results.iter().any(|r| r.outcome.is_failure());
    let behind = results.iter().any(|r| {
        matches!(
            r.outcome,
            Outcome::Behind { .. } | Outcome::NotRun { .. } | Outcome::Drifted { .. }
        )
    });
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
                Outcome::NoDrift => ("no drift", String::new()),
                Outcome::Drifted { differences } => (
                    "DRIFTED",
                    first_line(&format!(
                        "{} difference(s): {}",
                        differences.len(),
                        differences.join("; ")
                    )),
                ),
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
    let drifted = count(|o| matches!(o, Outcome::Drifted { .. }));
    if drifted > 0 || results.iter().any(|r| r.outcome == Outcome::NoDrift) {
        println!(
            "{drifted} tenant(s) drifted from their migrations (details with --format json, or              `wasmig drift` on one tenant)"
        );
    }
}

/// `{"format": "wasmig-fleet/1", "command": "up"|"status"|"drift",
/// "parallel", "tenants": [...]}`.
fn json(command: &str, parallel: usize, results: &[TenantResult]) -> Result<String> {
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "format": "wasmig-fleet/1",
        "command": command,
        "parallel": parallel,
        "tenants": results,
    }))?)
}
