//! `wasmig schema dump|diff|sync|drop`.

use std::process::ExitCode;

use anyhow::Result;
use wasmig::schema::render::{render_all, schema_sql};
use wasmig::schema::{SchemaFile, diff};

use super::states::{self, State, renames};
use super::{Settings, confirm};
use crate::{DiffArgs, DiffFormat, DumpFormat, SchemaAction, SchemaDropArgs, SyncArgs};

/// Runs `wasmig schema <action>`.
pub(super) async fn run(ctx: &Settings, action: &SchemaAction) -> Result<ExitCode> {
    match action {
        SchemaAction::Dump(args) => {
            let schema = ctx.migrator()?.schema(args.namespace.as_deref()).await?;
            match args.format {
                DumpFormat::Json => println!("{}", serde_json::to_string_pretty(&schema)?),
                DumpFormat::Toml => print!("{}", toml::to_string(&schema)?),
                DumpFormat::Sql => {
                    for statement in schema_sql(ctx.url.dialect(), &schema) {
                        println!("{statement};\n");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SchemaAction::Diff(args) => show_diff(ctx, args).await,
        SchemaAction::Sync(args) => sync(ctx, args).await,
        SchemaAction::Drop(args) => drop(ctx, args).await,
    }
}

async fn show_diff(ctx: &Settings, args: &DiffArgs) -> Result<ExitCode> {
    let from = states::read(ctx, &args.from.parse::<State>()?).await?;
    let to = states::read(ctx, &args.to.parse::<State>()?).await?;
    let renames = renames(&args.renames, &from, &to)?;
    let ops = diff(&from, &to, &renames);
    if ops.is_empty() {
        eprintln!("the schemas are the same: nothing to do");
    }
    match args.format {
        DiffFormat::Json => {
            let back: Vec<_> = renames
                .iter()
                .map(|r| wasmig::schema::Rename {
                    from: r.to.clone(),
                    to: r.from.clone(),
                })
                .collect();
            let doc = serde_json::json!({
                "format": 1,
                "up": ops,
                "down": diff(&to, &from, &back),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        DiffFormat::Toml if ops.is_empty() => {}
        DiffFormat::Toml => print!("{}", toml::to_string(&SchemaFile { ops })?),
        DiffFormat::Sql if ops.is_empty() => {}
        DiffFormat::Sql => {
            let (generated, _) = super::generate::contents(
                ctx.url.dialect(),
                &from,
                &to,
                &ops,
                &renames,
                false,
                "-- up",
            )?;
            match generated {
                super::scaffold::Generated::Sql { up, down } => print!("{up}\n{down}"),
                super::scaffold::Generated::Schema(_) => {
                    // A SQLite rebuild: the statements still show what runs.
                    for statement in render_all(ctx.url.dialect(), &from, &ops)? {
                        println!("{statement};");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wasmig schema sync`: the live database brought to the desired schema.
async fn sync(ctx: &Settings, args: &SyncArgs) -> Result<ExitCode> {
    refuse_protected(ctx, "schema sync", "change the schema without a migration")?;
    let to = states::desired(ctx).await?;
    let live = ctx.migrator()?.schema(None).await?;
    let renames = renames(&args.renames, &live, &to)?;
    let ops = diff(&live, &to, &renames);
    if ops.is_empty() {
        println!(
            "nothing to do: {} already has the schema in {}",
            ctx.url,
            ctx.schema.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for statement in render_all(ctx.url.dialect(), &live, &ops)? {
        println!("{statement};");
    }
    let question = format!(
        "Run these statements on {} ({}) without a migration? Columns and tables they drop \
         lose their data.",
        ctx.url, ctx.env_name
    );
    if !confirm(&question, args.yes, "schema sync")? {
        println!("nothing was changed");
        return Ok(ExitCode::FAILURE);
    }
    let statements = ctx.migrator()?.sync(&ops).await?;
    println!(
        "synced {}: {} statement(s) ran, recorded in the history as `sync`; no migration \
         makes this schema yet (write one with `wasmig new <name> --auto`)",
        ctx.url,
        statements.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `wasmig schema drop`: every object of the database, gone.
async fn drop(ctx: &Settings, args: &SchemaDropArgs) -> Result<ExitCode> {
    refuse_protected(ctx, "schema drop", "drop every table and its data")?;
    let question = format!(
        "Drop every table, view, routine and type of {} ({}), wasmig's ledger included? \
         Their data is lost.",
        ctx.url, ctx.env_name
    );
    if !confirm(&question, args.yes, "schema drop")? {
        println!("nothing was dropped");
        return Ok(ExitCode::FAILURE);
    }
    let statements = ctx
        .migrator()?
        .drop_schema(args.namespace.as_deref())
        .await?;
    let dropped = statements.iter().filter(|s| s.starts_with("DROP")).count();
    println!(
        "dropped {dropped} object(s) of {}: the next `wasmig up` starts from nothing",
        ctx.url
    );
    Ok(ExitCode::SUCCESS)
}

fn refuse_protected(ctx: &Settings, command: &str, what: &str) -> Result<()> {
    if ctx.config.env(&ctx.env_name).protected {
        anyhow::bail!(
            "environment `{}` is protected (`protected = true` in wasmig.toml): `{command}` \
             would {what} on {}. Nothing was changed",
            ctx.env_name,
            ctx.url
        );
    }
    Ok(())
}
