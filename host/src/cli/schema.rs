//! `wasmig schema dump` and `wasmig schema diff`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use wasmig::schema::render::{render_all, schema_sql};
use wasmig::schema::{Rename, Schema, SchemaFile};

use super::Settings;
use crate::{DiffArgs, DiffFormat, DumpFormat, SchemaAction};

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
        }
        SchemaAction::Diff(args) => diff(ctx, args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A state file: the model as `schema dump --format toml` or `json` wrote it.
fn read_state(path: &std::path::Path) -> Result<Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the schema state {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        toml::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| {
        format!(
            "{} is not a schema state (write one with `wasmig schema dump --format toml`)",
            path.display()
        )
    })
}

async fn diff(ctx: &Settings, args: &DiffArgs) -> Result<()> {
    let from = match &args.from {
        Some(path) => read_state(path)?,
        None => ctx.migrator()?.schema(None).await?,
    };
    let to = read_state(&args.to)?;
    let mut renames = Vec::new();
    for rename in &args.renames {
        let (from, to) = rename
            .split_once(':')
            .with_context(|| format!("`--rename {rename}`: write it as old:new"))?;
        renames.push(Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    }
    let ops = wasmig::schema::diff(&from, &to, &renames);
    match args.format {
        DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&ops)?),
        DiffFormat::Toml => {
            if ops.is_empty() {
                eprintln!("the schemas are the same: nothing to do");
            } else {
                print!("{}", toml::to_string(&SchemaFile { ops })?);
            }
        }
        DiffFormat::Sql => {
            let statements = render_all(ctx.url.dialect(), &from, &ops)?;
            for statement in statements {
                println!("{statement};\n");
            }
        }
    }
    Ok(())
}
