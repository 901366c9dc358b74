//! `wasmig schema dump`.

use std::process::ExitCode;

use anyhow::Result;
use wasmig::schema::render::schema_sql;

use super::Settings;
use crate::{DumpFormat, SchemaAction};

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
    }
    Ok(ExitCode::SUCCESS)
}
