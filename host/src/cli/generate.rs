//! Migrations written from a difference of schemas: `wasmig new --auto`
//! (from what the migrations produce to the desired schema files) and
//! `wasmig drift --fix` (from what they produce to the live database).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use wasmig::Replay;
use wasmig::backend::Dialect;
use wasmig::schema::{self, Op, Rename, Schema, SchemaFile};

use super::Settings;
use super::scaffold::{self, Generated};
use super::states::{self, renames};
use crate::NewArgs;

/// The up and down SQL of `ops` (which turn `from` into `to`), or the
/// declarative form: asked for with `declarative`, or needed because a
/// SQLite table is rebuilt (which a SQL migration cannot do safely while
/// foreign keys are enforced; a declarative one switches them off).
pub(super) fn contents(
    dialect: Dialect,
    from: &Schema,
    to: &Schema,
    ops: &[Op],
    renames: &[Rename],
    declarative: bool,
    header: &str,
) -> Result<(Generated, Option<&'static str>)> {
    let inlined;
    let ops = if dialect == Dialect::Sqlite {
        inlined = schema::diff::inline_foreign_keys(ops.to_vec());
        &inlined[..]
    } else {
        ops
    };
    if declarative {
        return Ok((schema_file(ops, header)?, None));
    }
    if dialect == Dialect::Sqlite && rebuilds(dialect, from, ops)? {
        return Ok((
            schema_file(ops, header)?,
            Some(
                "this change rebuilds a SQLite table, which only a declarative migration does \
                 safely (it switches foreign-key enforcement off around the rebuild)",
            ),
        ));
    }
    let back: Vec<Rename> = renames
        .iter()
        .map(|r| Rename {
            from: r.to.clone(),
            to: r.from.clone(),
        })
        .collect();
    let down_ops = schema::diff(to, from, &back);
    let up = script(header, &schema::render::render_all(dialect, from, ops)?);
    let down = script(
        "-- reverts the up script",
        &schema::render::render_all(dialect, to, &down_ops)?,
    );
    Ok((Generated::Sql { up, down }, None))
}

fn script(header: &str, statements: &[String]) -> String {
    let mut text = format!("{header}\n");
    for statement in statements {
        text.push_str(statement);
        text.push_str(";\n");
    }
    text
}

fn schema_file(ops: &[Op], header: &str) -> Result<Generated> {
    let body = toml::to_string(&SchemaFile { ops: ops.to_vec() })?;
    let header: String = header
        .lines()
        .map(|l| format!("#{}\n", l.strip_prefix("--").unwrap_or(l)))
        .collect();
    Ok(Generated::Schema(format!("{header}\n{body}")))
}

/// Whether running `ops` from `from` rebuilds a table.
fn rebuilds(dialect: Dialect, from: &Schema, ops: &[Op]) -> Result<bool> {
    let mut model = from.clone();
    for op in ops {
        if schema::render(dialect, &model, op)?.rebuilt {
            return Ok(true);
        }
        schema::apply(&mut model, dialect, op)?;
    }
    Ok(false)
}

/// Says what was written.
pub(super) fn report(created: &[PathBuf], why_declarative: Option<&str>) {
    for path in created {
        println!("created {}", path.display());
    }
    if let Some(why) = why_declarative {
        println!("  written as a declarative migration: {why}");
    }
}

/// `wasmig new <name> --auto`.
pub(super) async fn new_auto(ctx: &Settings, args: &NewArgs) -> Result<ExitCode> {
    let to = states::desired(ctx).await?;
    let from = states::migrations(ctx, Replay::All).await?;
    let renames = renames(&args.renames, &from, &to)?;
    let ops = schema::diff(&from, &to, &renames);
    if ops.is_empty() {
        println!(
            "nothing to do: the migrations already produce the schema in {}",
            ctx.schema.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let header = format!(
        "-- {}: written by `wasmig new --auto` from {}; review it before applying",
        args.name,
        ctx.schema.display()
    );
    let (generated, why) = contents(
        ctx.url.dialect(),
        &from,
        &to,
        &ops,
        &renames,
        args.schema,
        &header,
    )?;
    let (_, created) = scaffold::write_generated(&ctx.dir, &args.name, &generated)?;
    report(&created, why);
    Ok(ExitCode::SUCCESS)
}
