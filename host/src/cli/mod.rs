//! Commands: resolve settings, call the library, render the result.

mod console;
mod database;
mod drift;
mod fleet;
mod fleet_plan;
mod generate;
mod logging;
mod render;
mod scaffold;
mod schema;
mod states;
mod tenants;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::MultiProgress;
use wasmig::Migrator;
use wasmig::backend::DatabaseUrl;
use wasmig::config::LoadedConfig;
use wasmig::planner::{DownTarget, State, UpOptions};

use crate::{
    BaselineArgs, BuildArgs, Cli, Command, ConfirmArgs, DownArgs, Format, Global, HistoryArgs,
    LockArg, NewArgs, Resolution, ResolveArgs, Selection, StatusArgs, UpArgs,
};

/// Settings resolved from flags, the environment and `wasmig.toml`.
struct Settings {
    dir: PathBuf,
    extra_dirs: Vec<PathBuf>,
    url: DatabaseUrl,
    config: LoadedConfig,
    env_name: String,
    quiet: bool,
    /// `-v` or more.
    verbose: bool,
    /// Where progress bars are drawn; the log subscriber prints above them.
    bars: MultiProgress,
    log_sql: bool,
    lock_timeout: std::time::Duration,
    lock_mode: wasmig::lock::LockMode,
    cache_dir: Option<PathBuf>,
    /// The user's empty database for replays (`--dev-url`), if any.
    dev_url: Option<DatabaseUrl>,
    /// Where the desired schema is kept (`schema` in wasmig.toml, else
    /// `schema/`).
    schema: PathBuf,
}

impl Settings {
    fn resolve(global: &Global, bars: MultiProgress) -> Result<Self> {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        let config = LoadedConfig::load(&cwd, global.config.as_deref())?;
        let dirs: Vec<PathBuf> = match (global.dir.is_empty(), &config.config.migrations) {
            (false, _) => global.dir.iter().map(|d| cwd.join(d)).collect(),
            (true, Some(dirs)) => dirs.list().iter().map(|d| config.root.join(d)).collect(),
            (true, None) => vec![config.root.join("migrations")],
        };
        let mut dirs = dirs.into_iter();
        let dir = dirs
            .next()
            .context("`migrations` in wasmig.toml lists no directory")?;
        let extra_dirs: Vec<PathBuf> = dirs.collect();
        let raw_url = match &global.database_url {
            Some(url) => url.clone(),
            None => match config.var("DATABASE_URL") {
                Some(url) if !url.is_empty() => url,
                _ => match config.database_url(&global.env_name)? {
                    Some(url) => url,
                    None => format!("sqlite:{}", config.root.join("wasmig.db").display()),
                },
            },
        };
        let url = DatabaseUrl::parse(&raw_url).map_err(anyhow::Error::msg)?;
        let cache_dir = match (&global.cache_dir, &config.config.cache_dir) {
            _ if global.no_cache => None,
            (Some(dir), _) => Some(cwd.join(dir)),
            (None, Some(dir)) => Some(config.root.join(dir)),
            (None, None) => wasmig::runtime::default_cache_dir(),
        };
        let dev_url = match &global.dev_url {
            Some(url) => Some(url.clone()),
            None => config.dev_url()?,
        };
        let dev_url = dev_url
            .map(|u| DatabaseUrl::parse(&u).map_err(anyhow::Error::msg))
            .transpose()
            .context("--dev-url")?;
        let schema = config
            .root
            .join(config.config.schema.as_deref().unwrap_or("schema".as_ref()));
        Ok(Self {
            dev_url,
            schema,
            dir,
            extra_dirs,
            url,
            config,
            env_name: global.env_name.clone(),
            quiet: global.quiet,
            verbose: global.verbose > 0,
            bars,
            log_sql: global.log_sql,
            lock_timeout: std::time::Duration::from_secs(global.lock_timeout),
            lock_mode: match global.lock_mode {
                LockArg::Session => wasmig::lock::LockMode::Session,
                LockArg::Lease => wasmig::lock::LockMode::Lease,
            },
            cache_dir,
        })
    }

    fn migrator(&self) -> Result<Migrator> {
        let policies = wasmig::policy::Policies::new(
            self.config.limits(&self.env_name)?,
            &self.config.config.policy,
            &self.config.root,
        )?;
        let mut migrator = Migrator::new(self.dir.clone(), self.url.clone())
            .with_env(self.env_name.clone())
            .with_policies(policies)
            .with_lock_timeout(self.lock_timeout)
            .with_lock_mode(self.lock_mode)
            .with_cache_dir(self.cache_dir.clone())
            .with_protected(self.config.env(&self.env_name).protected)
            .with_log_sql(self.log_sql)
            .with_reporter(Arc::new(console::Console::new(
                self.quiet,
                self.bars.clone(),
            )));
        for dir in &self.extra_dirs {
            migrator = migrator.with_dir(dir.clone());
        }
        for (key, value) in self.config.env(&self.env_name).vars {
            migrator = migrator.with_var(key, value);
        }
        Ok(migrator)
    }
}

fn up_options(select: &Selection) -> UpOptions {
    UpOptions {
        to: select.to,
        count: select.count,
        allow_out_of_order: select.allow_out_of_order,
        ignore_missing: select.ignore_missing,
        ..UpOptions::default()
    }
}

/// Asks `question` on the terminal; `yes` answers it. Without a terminal
/// and without `--yes`, refuses rather than guess.
fn confirm(question: &str, yes: bool, command: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "`wasmig {command}` asks for confirmation, and there is no terminal to ask on: \
             review the output above and run `wasmig {command} --yes`"
        );
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Prints the plan; fails when a migration fails in the simulation.
async fn plan(ctx: &Settings, options: &UpOptions, format: Format) -> Result<ExitCode> {
    let plan = ctx.migrator()?.plan(options).await?;
    match format {
        Format::Table => render::plan(&plan, &ctx.url, &ctx.env_name),
        Format::Json => render::plan_json(&plan, &ctx.url, &ctx.env_name)?,
    }
    Ok(match plan.failure() {
        Some(_) => ExitCode::FAILURE,
        None => ExitCode::SUCCESS,
    })
}

/// Runs the command `cli` names, with the log subscriber installed.
pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    let bars = MultiProgress::new();
    logging::install(cli.global.quiet, cli.global.verbose, bars.clone());
    let ctx = Settings::resolve(&cli.global, bars)?;
    match cli.command {
        Command::New(args) => new(&ctx, &args).await,
        Command::Build(args) => build(&ctx, &args).await,
        Command::Up(args) => up(&ctx, args).await,
        Command::Plan(args) => plan(&ctx, &up_options(&args.select), args.format).await,
        Command::Down(args) => down(&ctx, &args).await,
        Command::Status(args) => status(&ctx, &args).await,
        Command::Resolve(args) => resolve(&ctx, &args).await,
        Command::Baseline(args) => baseline(&ctx, &args).await,
        Command::History(args) => history(&ctx, &args).await,
        Command::Repair(args) => repair(&ctx, &args).await,
        Command::Reset(args) => reset(&ctx, &args).await,
        Command::Inspect(args) => {
            let inspection = ctx.migrator()?.inspect(&args.migration)?;
            render::inspection(&inspection);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate => validate(&ctx).await,
        Command::Database(args) => database::run(&ctx, &args.action).await,
        Command::Schema(args) => schema::run(&ctx, &args.action).await,
        Command::Drift(args) => drift::run(&ctx, &args).await,
        Command::Fleet(args) => fleet::run(&ctx, &args).await,
    }
}

async fn new(ctx: &Settings, args: &NewArgs) -> Result<ExitCode> {
    if args.auto {
        return generate::new_auto(ctx, args).await;
    }
    let kind = if args.rust {
        scaffold::Kind::Rust
    } else if args.python {
        scaffold::Kind::Python
    } else if args.schema {
        scaffold::Kind::Schema
    } else {
        scaffold::Kind::Sql
    };
    let created = scaffold::create(&ctx.dir, &args.name, kind)?;
    for path in created {
        println!("created {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn build(ctx: &Settings, args: &BuildArgs) -> Result<ExitCode> {
    let migrator = ctx.migrator()?;
    let built = migrator.build(args.force).await?;
    if built.is_empty() {
        println!("every guest crate is up to date");
    } else {
        println!("built {} guest crate(s)", built.len());
    }
    let python = migrator
        .sources()?
        .iter()
        .filter(|s| matches!(s.body, wasmig::source::SourceBody::Python { .. }))
        .count();
    if python > 0 {
        println!("{python} Python migration(s) import cleanly in the Python runtime");
    }
    Ok(ExitCode::SUCCESS)
}

async fn up(ctx: &Settings, args: UpArgs) -> Result<ExitCode> {
    if args.create_database {
        database::create(ctx).await?;
    }
    let mut options = up_options(&args.select);
    if args.dry_run {
        return plan(ctx, &options, args.format).await;
    }
    options.expect_plan = args.expect_plan;
    let report = ctx.migrator()?.up(&options).await?;
    render::summary(&report, "applied", &ctx.url, &ctx.env_name);
    Ok(ExitCode::SUCCESS)
}

async fn down(ctx: &Settings, args: &DownArgs) -> Result<ExitCode> {
    let target = match (args.steps, args.to) {
        (_, Some(to)) => DownTarget::To(to),
        (steps, None) => DownTarget::Steps(steps.unwrap_or(1)),
    };
    let report = ctx.migrator()?.down(target).await?;
    render::summary(&report, "reverted", &ctx.url, &ctx.env_name);
    Ok(ExitCode::SUCCESS)
}

/// Shows the statuses the filters select; with `--exit-code`, exits 4 when
/// anything is wrong, else 3 when anything is pending.
async fn status(ctx: &Settings, args: &StatusArgs) -> Result<ExitCode> {
    let statuses = ctx.migrator()?.status().await?;
    let wanted = [
        (args.applied, State::Applied),
        (args.pending, State::Pending),
        (args.failed, State::Failed),
        (args.missing, State::Missing),
        (args.changed, State::Changed),
    ];
    let filtered = wanted.iter().any(|(on, _)| *on);
    let shown: Vec<_> = statuses
        .iter()
        .filter(|s| !filtered || wanted.contains(&(true, s.status)))
        .collect();
    match args.format {
        Format::Table => render::status_table(&shown),
        Format::Json => render::status_json(&shown, &ctx.url, &ctx.env_name)?,
    }
    let wrong = statuses
        .iter()
        .any(|s| matches!(s.status, State::Failed | State::Missing | State::Changed));
    let pending = statuses.iter().any(|s| s.status == State::Pending);
    Ok(match (args.exit_code, wrong, pending) {
        (false, _, _) | (true, false, false) => ExitCode::SUCCESS,
        (true, true, _) => ExitCode::from(4),
        (true, false, true) => ExitCode::from(3),
    })
}

async fn resolve(ctx: &Settings, args: &ResolveArgs) -> Result<ExitCode> {
    let applied = args.state == Resolution::Applied;
    ctx.migrator()?.resolve(args.migration, applied).await?;
    println!(
        "recorded migration {} as {}",
        args.migration,
        if applied {
            "applied"
        } else {
            "rolled back (it will run again on the next `up`)"
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn baseline(ctx: &Settings, args: &BaselineArgs) -> Result<ExitCode> {
    let n = ctx.migrator()?.baseline(args.migration).await?;
    println!(
        "recorded {n} migration(s) up to {} as applied, without running them",
        args.migration
    );
    Ok(ExitCode::SUCCESS)
}

async fn history(ctx: &Settings, args: &HistoryArgs) -> Result<ExitCode> {
    let events: Vec<_> = ctx
        .migrator()?
        .history()
        .await?
        .into_iter()
        .filter(|e| args.migration.is_none_or(|v| e.version == v))
        .collect();
    match args.format {
        Format::Table => render::history(&events),
        Format::Json => {
            let doc = serde_json::json!({ "format": 1, "events": events });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Shows every edit to an applied migration, asks, then re-stamps them.
async fn repair(ctx: &Settings, args: &ConfirmArgs) -> Result<ExitCode> {
    let migrator = ctx.migrator()?;
    let repairs = migrator.repairs().await?;
    if repairs.is_empty() {
        println!("nothing to repair: no applied migration was edited");
        return Ok(ExitCode::SUCCESS);
    }
    for repair in &repairs {
        render::repair(repair);
    }
    let question = format!(
        "Record the edited file(s) as what ran, for {} migration(s)? Nothing runs.",
        repairs.len()
    );
    if !confirm(&question, args.yes, "repair")? {
        println!("nothing was repaired");
        return Ok(ExitCode::FAILURE);
    }
    let n = migrator.repair(&repairs).await?;
    println!("re-stamped {n} migration(s) with the checksums of their files");
    Ok(ExitCode::SUCCESS)
}

/// Reverts everything and applies it again, unless the environment is
/// protected or the operator says no.
async fn reset(ctx: &Settings, args: &ConfirmArgs) -> Result<ExitCode> {
    if ctx.config.env(&ctx.env_name).protected {
        anyhow::bail!(
            "environment `{}` is protected (`protected = true` in wasmig.toml): `reset` \
             would revert every migration and lose its data. Nothing was changed",
            ctx.env_name
        );
    }
    let question = format!(
        "Revert every migration of {} ({}) and apply them all again? Data they \
         created is lost.",
        ctx.url, ctx.env_name
    );
    if !confirm(&question, args.yes, "reset")? {
        println!("nothing was reset");
        return Ok(ExitCode::FAILURE);
    }
    let (reverted, applied) = ctx.migrator()?.reset().await?;
    render::summary(&reverted, "reverted", &ctx.url, &ctx.env_name);
    render::summary(&applied, "applied", &ctx.url, &ctx.env_name);
    Ok(ExitCode::SUCCESS)
}

async fn validate(ctx: &Settings) -> Result<ExitCode> {
    let problems = ctx.migrator()?.validate().await?;
    if problems.is_empty() {
        println!("ok: every migration is valid and the ledger agrees with the directory");
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    eprintln!("{} problem(s) found", problems.len());
    Ok(ExitCode::FAILURE)
}
