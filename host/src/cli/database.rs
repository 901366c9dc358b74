//! `wasmig database create|drop`, and the creation `up --create-database`
//! asks for.

use std::process::ExitCode;

use anyhow::Result;
use wasmig::database::{Created, Dropped};

use super::{Settings, confirm};
use crate::DatabaseAction;

/// Runs `wasmig database <action>`.
pub(super) async fn run(ctx: &Settings, action: &DatabaseAction) -> Result<ExitCode> {
    match action {
        DatabaseAction::Create => create(ctx).await?,
        DatabaseAction::Drop(args) => {
            if ctx.config.env(&ctx.env_name).protected {
                anyhow::bail!(
                    "environment `{}` is protected (`protected = true` in wasmig.toml): \
                     `database drop` would delete {} and all its data. Nothing was changed",
                    ctx.env_name,
                    ctx.url
                );
            }
            let what = thing(ctx);
            let question = match ctx.url.schema() {
                Some(_) => format!("Drop the {what} ({}) with all its data?", ctx.env_name),
                None => format!(
                    "Drop the {what} ({}) with all its data, ending every session on it?",
                    ctx.env_name
                ),
            };
            if !confirm(&question, args.yes, "database drop")? {
                println!("nothing was dropped");
                return Ok(ExitCode::FAILURE);
            }
            match ctx.migrator()?.drop_database().await? {
                Dropped::Dropped => println!("dropped {what}"),
                Dropped::Absent => println!("there is no {what}: nothing to drop"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the database unless it exists, and says which it was.
pub(super) async fn create(ctx: &Settings) -> Result<()> {
    let what = thing(ctx);
    match ctx.migrator()?.create_database().await? {
        Created::Created => println!("created {what}"),
        Created::Existed => println!("{what} exists already"),
    }
    Ok(())
}

/// `database URL`, or `schema NAME of URL` for a tenant's schema.
fn thing(ctx: &Settings) -> String {
    match ctx.url.schema() {
        Some(schema) => format!("schema {schema} of {}", ctx.url),
        None => format!("database {}", ctx.url),
    }
}
