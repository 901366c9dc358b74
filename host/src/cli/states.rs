//! The schema states commands compare: the live database, what the
//! migrations produce, the desired schema files, or a file; and the scratch
//! databases the middle two are read in.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow};
use wasmig::Replay;
use wasmig::backend::DatabaseUrl;
use wasmig::schema::desired::{self, Desired};
use wasmig::schema::{Rename, Schema};
use wasmig::scratch::Scratch;

use super::Settings;

/// A schema state, as `--from` and `--to` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    /// The live database.
    Database,
    /// What every migration produces.
    Migrations,
    /// The desired schema files.
    Schema,
    /// A `.sql` file or directory, or a state file.
    File(PathBuf),
}

impl FromStr for State {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "database" => Self::Database,
            "migrations" => Self::Migrations,
            "schema" => Self::Schema,
            path => Self::File(PathBuf::from(path)),
        })
    }
}

/// Reads `state`.
pub(super) async fn read(ctx: &Settings, state: &State) -> Result<Schema> {
    match state {
        State::Database => Ok(ctx.migrator()?.schema(None).await?),
        State::Migrations => migrations(ctx, Replay::All).await,
        State::Schema => desired(ctx).await,
        State::File(path) => files(ctx, Desired::at(path)?).await,
    }
}

/// The schema the migrations `which` selects produce, replayed in a
/// scratch database.
pub(super) async fn migrations(ctx: &Settings, which: Replay) -> Result<Schema> {
    let migrator = ctx.migrator()?;
    within_scratch(ctx, async |url| {
        migrator
            .replay(&url, which)
            .await
            .context("replaying the migrations in a scratch database")
    })
    .await
}

/// The desired schema files.
pub(super) async fn desired(ctx: &Settings) -> Result<Schema> {
    if !ctx.schema.exists() {
        anyhow::bail!(
            "there is no desired schema at {}: write the schema you want there as CREATE \
             TABLE statements in .sql files (or a state file from `wasmig schema dump --format \
             toml`), or point `schema` in wasmig.toml at it",
            ctx.schema.display()
        );
    }
    files(ctx, Desired::at(&ctx.schema)?).await
}

async fn files(ctx: &Settings, found: Desired) -> Result<Schema> {
    match found {
        Desired::State(path) => Ok(desired::read_state(&path)?),
        Desired::Sql(files) => {
            within_scratch(ctx, async |url| {
                let mut db = wasmig::backend::connect(&url)
                    .await
                    .map_err(|e| anyhow!("connecting to the scratch database {url}: {e}"))?;
                Ok(desired::load(db.as_mut(), &files).await?)
            })
            .await
        }
    }
}

/// Runs `work` on a scratch database (or the `--dev-url` one), which is
/// dropped (emptied) afterwards: after success, after an error, and after
/// Ctrl-C. One left by a killed process is swept by a later run.
pub(super) async fn within_scratch<T>(
    ctx: &Settings,
    work: impl AsyncFnOnce(DatabaseUrl) -> Result<T>,
) -> Result<T> {
    let scratch = Scratch::create(&ctx.url, ctx.dev_url.as_ref()).await?;
    tracing::debug!("scratch database {} created", scratch.name());
    let name = scratch.name();
    let outcome = tokio::select! {
        done = work(scratch.url().clone()) => done,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    match scratch.drop().await {
        Ok(()) => tracing::debug!("scratch database {name} dropped"),
        Err(e) => tracing::warn!(
            "the scratch database {name} could not be dropped ({e}); the next run drops it"
        ),
    }
    outcome
}

/// `--rename` values, and, on a terminal, the likely renames the user
/// confirms (never assumed).
pub(super) fn renames(given: &[String], from: &Schema, to: &Schema) -> Result<Vec<Rename>> {
    use std::io::IsTerminal;
    let mut renames = Vec::new();
    for rename in given {
        let (from, to) = rename
            .split_once(':')
            .with_context(|| format!("`--rename {rename}`: write it as old:new"))?;
        renames.push(Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    }
    if given.is_empty() && std::io::stdin().is_terminal() {
        for candidate in wasmig::schema::diff::rename_candidates(from, to) {
            let question = format!(
                "Was `{}` renamed to `{}`? (no: it is dropped and `{}` created)",
                candidate.from, candidate.to, candidate.to
            );
            if super::confirm(&question, false, "schema diff")? {
                renames.push(candidate);
            }
        }
    }
    Ok(renames)
}
