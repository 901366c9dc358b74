//! `wasmig drift`: the live database against what its applied migrations
//! produce; `--fix` adopts the database's side as a new migration.

use std::process::ExitCode;

use anyhow::Result;
use wasmig::Replay;
use wasmig::planner::State;
use wasmig::schema::{self, drift::drift};

use super::generate::{contents, report};
use super::{Settings, scaffold, states};
use crate::{DriftArgs, Format};

/// Runs `wasmig drift`.
pub(super) async fn run(ctx: &Settings, args: &DriftArgs) -> Result<ExitCode> {
    let expected = states::migrations(ctx, Replay::Applied).await?;
    let live = ctx.migrator()?.schema(None).await?;
    if let Some(name) = &args.fix {
        return fix(ctx, name, args.schema, &expected, &live).await;
    }
    let found = drift(&expected, &live);
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "format": 1,
                "database": ctx.url.to_string(),
                "environment": ctx.env_name,
                "drifted": !found.is_empty(),
                "differences": found,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table if found.is_empty() => println!(
            "no drift: {} has exactly the schema its applied migrations produce",
            ctx.url
        ),
        Format::Table => {
            println!(
                "schema drift: {} differs from what its applied migrations produce in {} \
                 way(s):",
                ctx.url,
                found.len()
            );
            for difference in &found {
                println!("  {difference}");
            }
            println!(
                "write a migration that undoes them, or adopt them with `wasmig drift --fix \
                 <name>`"
            );
        }
    }
    Ok(if args.exit_code && !found.is_empty() {
        ExitCode::from(4)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes the migration from what the migrations produce to the live
/// schema, and records it as applied here.
async fn fix(
    ctx: &Settings,
    name: &str,
    declarative: bool,
    expected: &schema::Schema,
    live: &schema::Schema,
) -> Result<ExitCode> {
    let statuses = ctx.migrator()?.status().await?;
    if let Some(pending) = statuses.iter().find(|s| s.status == State::Pending) {
        anyhow::bail!(
            "migration {} ({}) is pending on {}: apply the pending migrations first, so the \
             adopted changes come after them",
            pending.version,
            pending.name,
            ctx.url
        );
    }
    let ops = schema::diff(expected, live, &[]);
    if ops.is_empty() {
        println!("no drift: there is nothing to adopt");
        return Ok(ExitCode::SUCCESS);
    }
    let header = format!(
        "-- {name}: written by `wasmig drift --fix` from the schema of {}, which already has it",
        ctx.url
    );
    let (generated, why) = contents(
        ctx.url.dialect(),
        expected,
        live,
        &ops,
        &[],
        declarative,
        &header,
    )?;
    let (version, created) = scaffold::write_generated(&ctx.dir, name, &generated)?;
    report(&created, why);
    ctx.migrator()?.adopt(version).await?;
    println!(
        "recorded migration {version} as applied on {} (its schema already has these changes); \
         it is pending on every other database and runs there with the next `wasmig up`",
        ctx.url
    );
    Ok(ExitCode::SUCCESS)
}
