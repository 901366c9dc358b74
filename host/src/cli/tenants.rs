//! What every `wasmig fleet` command shares: the tenants (from
//! `[fleet]` and the flags), the progress bar over them, and each tenant's
//! migrator.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use indicatif::MultiProgress;
use indicatif::{ProgressBar, ProgressStyle};
use wasmig::backend::DatabaseUrl;
use wasmig::fleet::{self, Outcome, Target};
use wasmig::migrator::Migrator;
use wasmig::report::{Event, Reporter, Silent};

use super::Settings;
use crate::FleetCommon;

/// The fleet's tenants, how many run at once, and the progress bar over
/// them.
pub(super) async fn start(
    ctx: &Settings,
    common: &FleetCommon,
) -> Result<(Vec<Target>, usize, ProgressBar)> {
    let targets = fleet::resolve_targets(&sources(ctx, common)?).await?;
    let parallel = match common.parallel.or(ctx.config.config.fleet.parallel) {
        Some(n) => n.max(1),
        None => fleet::default_parallel(&targets).await,
    };
    // Tenants hand their connections on: a schema tenant's next neighbour
    // on the same database skips the connection's setup.
    wasmig::backend::reuse_connections(parallel * 2);
    let bar = ctx.bars.add(ProgressBar::new(targets.len() as u64));
    if let Ok(style) = ProgressStyle::with_template("tenants [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("#-"));
    }
    Ok((targets, parallel, bar))
}

/// The fleet's migrator, once for all tenants. For `up` and `plan` it reads
/// the migrations now: every tenant gets the same set, even if a file
/// changes while the fleet runs, and a migration that cannot be read is
/// named before any tenant starts.
pub(super) async fn fleet_migrator(ctx: &Settings, read_now: bool) -> Result<Migrator> {
    let migrator = ctx.migrator()?;
    Ok(if read_now {
        migrator.read_once().await?
    } else {
        migrator
    })
}

/// The fleet's migrator pointed at one tenant, reporting nothing (the
/// fleet's bar and summary speak for it); or the tenant's outcome when it
/// cannot run.
pub(super) fn tenant(
    ctx: &Settings,
    fleet: &Migrator,
    target: &Target,
) -> Result<Migrator, Outcome> {
    if let Some(error) = sqlite_dir_missing(&target.url) {
        return Err(Outcome::Unreachable { error });
    }
    let reporter: Arc<dyn Reporter> = if ctx.verbose {
        Arc::new(TenantLines {
            label: target.label.clone(),
            bars: ctx.bars.clone(),
        })
    } else {
        Arc::new(Silent)
    };
    Ok(fleet
        .clone()
        .with_url(target.url.clone())
        .with_reporter(reporter))
}

/// Where the fleet's tenants come from: `[fleet]` in wasmig.toml and the
/// flags, side by side.
pub(super) fn sources(ctx: &Settings, common: &FleetCommon) -> Result<fleet::Sources> {
    let mut urls = ctx.config.fleet_targets()?;
    urls.extend(common.targets.iter().cloned());
    let fleet = &ctx.config.config.fleet;
    let mut sqlite_globs = fleet.sqlite_glob.clone();
    sqlite_globs.extend(common.sqlite_glob.iter().cloned());
    // Globs given on the command line are relative to where it runs.
    let base = if common.sqlite_glob.is_empty() {
        ctx.config.root.clone()
    } else {
        std::env::current_dir()?
    };
    let sql = common.targets_query.clone().or(fleet.targets_query.clone());
    let control = match &common.control_url {
        Some(url) => Some(url.clone()),
        None => ctx.config.fleet_control_url()?,
    };
    let control = match control {
        Some(raw) => DatabaseUrl::parse(&raw)
            .map_err(anyhow::Error::msg)
            .context("the fleet's control database (--control-url)")?,
        None => ctx.url.clone(),
    };
    let query = sql.map(|sql| fleet::ControlQuery { url: control, sql });
    Ok(fleet::Sources {
        urls,
        sqlite_globs,
        base,
        query,
    })
}

/// Why a SQLite tenant cannot be reached: its directory does not exist
/// (SQLite would create a missing file, not a missing directory).
fn sqlite_dir_missing(url: &wasmig::backend::DatabaseUrl) -> Option<String> {
    let wasmig::backend::DatabaseUrl::Sqlite {
        path: Some(path), ..
    } = url
    else {
        return None;
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    (!dir.is_dir()).then(|| format!("the directory {} does not exist", dir.display()))
}

/// The first line of an error, cut to fit a table's row (the JSON form
/// keeps it whole).
pub(super) fn first_line(text: &str) -> String {
    const WIDTH: usize = 140;
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(WIDTH) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// The outcome of a tenant whose run panicked: failed, with the panic.
pub(super) fn panicked(error: &tokio::task::JoinError) -> Outcome {
    Outcome::Failed {
        error: format!("wasmig stopped on this tenant unexpectedly ({error}); please report it"),
    }
}

/// On `-v`: each migration a tenant finishes, and its warnings, one line
/// each, named by the tenant (above the fleet's bar).
struct TenantLines {
    label: String,
    bars: MultiProgress,
}

impl Reporter for TenantLines {
    fn event(&self, event: &Event<'_>) {
        let line = match event {
            Event::Finished {
                version,
                name,
                elapsed,
                ..
            } => format!(
                "{}: ok {version} {name} ({})",
                self.label,
                super::render::millis(*elapsed)
            ),
            Event::Warning { message } => format!("{}: warning: {message}", self.label),
            _ => return,
        };
        self.bars.suspend(|| eprintln!("{line}"));
    }
}
