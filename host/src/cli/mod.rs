//! Commands: resolve settings, call the library, render the result.

mod render;
mod scaffold;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wasmig::Migrator;
use wasmig::backend::DatabaseUrl;
use wasmig::config::LoadedConfig;
use wasmig::planner::{DownTarget, UpOptions};

use crate::{Cli, Command, Format, Global, LockArg, Resolution};

/// Settings resolved from flags, the environment and `wasmig.toml`.
struct Settings {
    dir: PathBuf,
    extra_dirs: Vec<PathBuf>,
    url: DatabaseUrl,
    config: LoadedConfig,
    env_name: String,
    quiet: bool,
    lock_timeout: std::time::Duration,
    lock_mode: wasmig::lock::LockMode,
    cache_dir: Option<PathBuf>,
}

impl Settings {
    fn resolve(global: &Global) -> Result<Self> {
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
            None => match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => url,
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
        Ok(Self {
            dir,
            extra_dirs,
            url,
            config,
            env_name: global.env_name.clone(),
            quiet: global.quiet,
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
            self.config.config.limits.clone(),
            &self.config.config.policy,
            &self.config.root,
        )?;
        let mut migrator = Migrator::new(self.dir.clone(), self.url.clone())
            .with_env(self.env_name.clone())
            .with_policies(policies)
            .with_lock_timeout(self.lock_timeout)
            .with_lock_mode(self.lock_mode)
            .with_cache_dir(self.cache_dir.clone())
            .with_reporter(Arc::new(render::Console::new(self.quiet)));
        for dir in &self.extra_dirs {
            migrator = migrator.with_dir(dir.clone());
        }
        for (key, value) in self.config.env(&self.env_name).vars {
            migrator = migrator.with_var(key, value);
        }
        Ok(migrator)
    }
}

pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Settings::resolve(&cli.global)?;
    match cli.command {
        Command::New(args) => {
            let created = scaffold::create(&ctx.dir, &args.name, args.rust)?;
            for path in created {
                println!("created {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Build(args) => {
            let built = ctx.migrator()?.build(args.force).await?;
            if built.is_empty() {
                println!("every guest crate is up to date");
            } else {
                println!("built {} guest crate(s)", built.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Up(args) => {
            let options = UpOptions {
                to: args.to,
                count: args.count,
                allow_out_of_order: args.allow_out_of_order,
                ignore_missing: args.ignore_missing,
            };
            let report = ctx.migrator()?.up(&options).await?;
            render::summary(&report, "applied", &ctx.url, &ctx.env_name);
            Ok(ExitCode::SUCCESS)
        }
        Command::Down(args) => {
            let target = match (args.steps, args.to) {
                (_, Some(to)) => DownTarget::To(to),
                (steps, None) => DownTarget::Steps(steps.unwrap_or(1)),
            };
            let report = ctx.migrator()?.down(target).await?;
            render::summary(&report, "reverted", &ctx.url, &ctx.env_name);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let statuses = ctx.migrator()?.status().await?;
            match args.format {
                Format::Table => render::status_table(&statuses),
                Format::Json => render::status_json(&statuses, &ctx.url, &ctx.env_name)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve(args) => {
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
        Command::Baseline(args) => {
            let n = ctx.migrator()?.baseline(args.migration).await?;
            println!(
                "recorded {n} migration(s) up to {} as applied, without running them",
                args.migration
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect(args) => {
            let inspection = ctx.migrator()?.inspect(&args.migration)?;
            render::inspection(&inspection);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate => {
            let problems = ctx.migrator()?.validate().await?;
            if problems.is_empty() {
                println!("ok: every migration is valid and the ledger agrees with the directory");
                Ok(ExitCode::SUCCESS)
            } else {
                for problem in &problems {
                    eprintln!("error: {problem}");
                }
                eprintln!("{} problem(s) found", problems.len());
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
