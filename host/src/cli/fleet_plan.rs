//! `wasmig fleet plan`: `up` simulated on every tenant, and the tenants
//! grouped by the shape of their plan (migrations and statements, without
//! the parameters and row counts that differ per tenant), so an operator
//! reviews one plan per group and applies it with
//! `wasmig fleet up --expect-plan SHAPE`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Result;
use wasmig::fleet::{self, Outcome, Target, TenantResult};
use wasmig::plan::Plan;

use super::tenants::{first_line, fleet_migrator, panicked, start, tenant};
use super::{Settings, render, up_options};
use crate::{FleetPlanArgs, Format};

/// How many characters of a shape digest are shown (and enough to pass).
const SHAPE_SHOWN: usize = 16;

/// Tenants sharing one plan shape.
struct Group<'a> {
    shape: &'a str,
    /// The first tenant's plan, shown for the group.
    plan: &'a Plan,
    tenants: Vec<&'a str>,
}

pub(crate) async fn run(ctx: &Settings, args: &FleetPlanArgs) -> Result<ExitCode> {
    let migrator = fleet_migrator(ctx, true).await?;
    let (targets, parallel, bar) = start(ctx, &args.common).await?;
    let options = up_options(&args.select);
    let plans: Mutex<BTreeMap<String, Plan>> = Mutex::new(BTreeMap::new());
    let run_one = |target: &Target| {
        let migrator = tenant(ctx, &migrator, target);
        let (bar, options, plans) = (bar.clone(), options.clone(), &plans);
        let label = target.label.clone();
        async move {
            let planned = match migrator {
                Err(outcome) => Err(outcome),
                Ok(migrator) => {
                    fleet::on_own_thread(move || async move { migrator.plan(&options).await })
                        .await
                        .map_err(|e| panicked(&e))
                        .and_then(|plan| plan.map_err(|e| Outcome::of_error(&e)))
                }
            };
            let outcome = match planned {
                Ok(plan) => {
                    let outcome = of_plan(&plan);
                    if let Ok(mut plans) = plans.lock() {
                        plans.insert(label, plan);
                    }
                    outcome
                }
                Err(outcome) => outcome,
            };
            bar.inc(1);
            outcome
        }
    };
    let results = fleet::for_each(&targets, fleet::Schedule::new(parallel, false), run_one).await;
    bar.finish_and_clear();
    let plans = plans.into_inner().unwrap_or_default();
    let groups = group(&results, &plans);
    match args.common.format {
        Format::Json => println!("{}", json(&results, &plans, &groups)?),
        Format::Table => table(&results, &groups),
    }
    Ok(if results.iter().any(|r| r.outcome.is_failure()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A tenant's plan as an outcome: up to date, behind, or failing.
fn of_plan(plan: &Plan) -> Outcome {
    if let Some(m) = plan.failure() {
        let reason = match &m.simulation {
            wasmig::plan::Simulation::Failed { reason } => reason.as_str(),
            _ => "",
        };
        return Outcome::Failed {
            error: format!(
                "migration {} ({}) fails in the simulation: {reason}",
                m.version, m.name
            ),
        };
    }
    match plan.migrations.len() {
        0 => Outcome::UpToDate,
        pending => Outcome::Behind { pending },
    }
}

/// The tenants with something to apply, grouped by plan shape, largest
/// group first (ties in the order their first tenant appears).
fn group<'a>(results: &'a [TenantResult], plans: &'a BTreeMap<String, Plan>) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for result in results {
        let Some(plan) = plans.get(&result.target) else {
            continue;
        };
        if plan.migrations.is_empty() || plan.failure().is_some() {
            continue;
        }
        match groups.iter_mut().find(|g| g.shape == plan.shape) {
            Some(g) => g.tenants.push(&result.target),
            None => groups.push(Group {
                shape: &plan.shape,
                plan,
                tenants: vec![&result.target],
            }),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.tenants.len()));
    groups
}

fn short(shape: &str) -> &str {
    shape.get(..SHAPE_SHOWN).unwrap_or(shape)
}

fn table(results: &[TenantResult], groups: &[Group<'_>]) {
    for (i, g) in groups.iter().enumerate() {
        println!(
            "group {} of {}: plan shape {} — {} tenant(s), {} migration(s)",
            i + 1,
            groups.len(),
            short(g.shape),
            g.tenants.len(),
            g.plan.migrations.len()
        );
        let more = g.tenants.len().saturating_sub(5);
        let shown = g
            .tenants
            .iter()
            .take(5)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        match more {
            0 => println!("  tenants: {shown}"),
            n => println!("  tenants: {shown} … and {n} more"),
        }
        println!(
            "  as planned for {} (parameters and row counts may differ per tenant):",
            g.tenants[0]
        );
        render::plan_migrations(g.plan);
        println!();
    }
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count();
    let up_to_date = count(|o| matches!(o, Outcome::UpToDate));
    let others: Vec<[String; 3]> = results
        .iter()
        .filter(|r| r.outcome.is_failure())
        .map(|r| {
            let (what, error) = match &r.outcome {
                Outcome::Unreachable { error } => ("UNREACHABLE", error),
                Outcome::Failed { error } => ("FAILS", error),
                _ => ("", &String::new()),
            };
            [r.target.clone(), what.to_owned(), first_line(error)]
        })
        .collect();
    if !others.is_empty() {
        render::print_table(&["TENANT", "PLAN", "DETAIL"], &others);
    }
    println!(
        "{} tenant(s): {} group(s) with migrations to apply, {up_to_date} up to date, {} failing \
         or unreachable",
        results.len(),
        groups.len(),
        others.len()
    );
    if !groups.is_empty() {
        let flags: Vec<String> = groups
            .iter()
            .map(|g| format!("--expect-plan {}", short(g.shape)))
            .collect();
        println!(
            "after review, apply exactly these plans with: wasmig fleet up {}",
            flags.join(" ")
        );
    }
}

/// `{"format": "wasmig-fleet-plan/1", "groups": [...], "tenants": [...]}`.
fn json(
    results: &[TenantResult],
    plans: &BTreeMap<String, Plan>,
    groups: &[Group<'_>],
) -> Result<String> {
    let groups: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "shape": g.shape,
                "tenants": g.tenants,
                "migrations": g.plan.migrations,
            })
        })
        .collect();
    let mut tenants = Vec::with_capacity(results.len());
    for r in results {
        let mut value = serde_json::to_value(r)?;
        if let (Some(plan), Some(map)) = (plans.get(&r.target), value.as_object_mut()) {
            map.insert("shape".into(), plan.shape.clone().into());
            map.insert("digest".into(), plan.digest.clone().into());
        }
        tenants.push(value);
    }
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "format": "wasmig-fleet-plan/1",
        "groups": groups,
        "tenants": tenants,
    }))?)
}
