//! [`Migrator`]: the library's entry point. It reads the directory and the
//! ledger, plans, and runs each migration in its own transaction with its
//! ledger row.
//!
//! One module per command, with the pieces they share beside them:
//! - `build`: building guest crates;
//! - `python_build`: the Python runtime built, and Python migrations imported;
//! - `status`: `status`, `validate` and `history`, which change nothing;
//! - `apply`: `up`;
//! - `simulate`: `plan`, and the check behind `up --expect-plan`;
//! - `revert`: `down`, with the steps the ledger kept for missing files;
//! - `recover`: `baseline`, `resolve`, `repair` and `reset`;
//! - `database`: the database itself, created or dropped;
//! - `inspect`: what a migration is and the sandbox it would run in;
//! - `payload`: a migration's bytes, read once, and its checksum;
//! - `prepare`: payloads made ready to run, components compiled;
//! - `run_one`: one migration in its transaction with its ledger change;
//! - `record`: what the ledger is told about a migration;
//! - `script`: running a SQL script statement by statement.

mod apply;
mod build;
mod database;
mod inspect;
mod payload;
mod prepare;
mod python_build;
mod record;
mod recover;
mod replay;
mod revert;
mod run_one;
mod schema;
mod schema_ops;
mod script;
mod simulate;
mod status;
mod sync;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

pub use self::inspect::Inspection;
pub use self::recover::Repair;
pub use self::replay::Replay;
use crate::backend::{self, Backend, DatabaseUrl};
use crate::error::Error;
use crate::ledger;
use crate::lock::{self, LockMode, RunLock};
use crate::policy::Policies;
use crate::report::{Reporter, Silent};
use crate::runtime::{ComponentRuntime, GuestEnv, Limits, default_cache_dir};
use crate::source::{self, MigrationSource, Version};

/// Applies, reverts and reports on the migrations of one directory against
/// one database.
///
/// ```no_run
/// # async fn run() -> Result<(), wasmig::Error> {
/// use wasmig::{Migrator, backend::DatabaseUrl, planner::UpOptions};
///
/// let url = DatabaseUrl::parse("sqlite:app.db").map_err(wasmig::Error::Config)?;
/// let report = Migrator::new("migrations", url)
///     .with_env("prod")
///     .up(&UpOptions::default())
///     .await?;
/// println!("applied {} migrations", report.migrations.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Migrator {
    dir: PathBuf,
    /// More directories read with `dir` as one sequence.
    extra_dirs: Vec<PathBuf>,
    url: DatabaseUrl,
    env: GuestEnv,
    policies: Policies,
    reporter: Arc<dyn Reporter>,
    lock_timeout: Duration,
    lock_mode: LockMode,
    /// Where compiled components are kept between runs; `None` compiles
    /// every time.
    cache_dir: Option<PathBuf>,
    /// Who the history records as running this (see [`ledger::actor`]).
    actor: String,
    /// The environment is protected: `reset` is refused.
    protected: bool,
    /// Report every statement as an [`Event::Statement`].
    log_sql: bool,
    /// Where embedded migrations were written out, kept while the migrator
    /// lives.
    _embedded: Option<Arc<tempfile::TempDir>>,
    /// The migrations as [`Migrator::read_once`] read them, for every later
    /// `up` and `plan`.
    read: Option<Arc<payload::Read>>,
}

/// One migration a run applied or reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// How long it took.
    pub elapsed: Duration,
    /// Rows its statements changed, as the database reported them.
    pub rows: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The migrations applied (or reverted), in the order they ran.
    pub migrations: Vec<Ran>,
    /// The whole run: reading the migrations, waiting for the lock, every
    /// migration and its commit.
    pub elapsed: Duration,
}

impl Migrator {
    /// A migrator for the migrations in `dir` and the database at `url`, in
    /// the `dev` environment with default limits.
    pub fn new(dir: impl Into<PathBuf>, url: DatabaseUrl) -> Self {
        Self {
            dir: dir.into(),
            extra_dirs: Vec::new(),
            url,
            env: GuestEnv {
                name: "dev".into(),
                vars: BTreeMap::new(),
            },
            policies: Policies::default(),
            reporter: Arc::new(Silent),
            lock_timeout: lock::DEFAULT_TIMEOUT,
            lock_mode: LockMode::Session,
            cache_dir: default_cache_dir(),
            actor: ledger::actor(),
            protected: false,
            log_sql: false,
            _embedded: None,
            read: None,
        }
    }

    /// A migrator for migrations compiled into the application: each a
    /// file name (as in a migrations directory, `0001_users.up.sql`,
    /// `0002_backfill.wasm`, or `0003_x/up.sql`) and its bytes, typically
    /// from `include_bytes!`. They run exactly as from a directory, with the
    /// same checksums, so the `wasmig` command and the application agree on
    /// one ledger.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), wasmig::Error> {
    /// use wasmig::{Migrator, backend::DatabaseUrl, planner::UpOptions};
    ///
    /// const MIGRATIONS: &[(&str, &[u8])] = &[
    ///     ("0001_users.up.sql", b"CREATE TABLE users (id INTEGER PRIMARY KEY);"),
    ///     ("0001_users.down.sql", b"DROP TABLE users;"),
    /// ];
    /// let url = DatabaseUrl::parse("sqlite:app.db").map_err(wasmig::Error::Config)?;
    /// Migrator::embedded(MIGRATIONS, url)?.up(&UpOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Refused`] for a name that is not a plain relative path;
    /// [`Error::Io`] when the files cannot be written out.
    pub fn embedded(files: &[(&str, &[u8])], url: DatabaseUrl) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("wasmig-embedded-")
            .tempdir()
            .map_err(Error::io(std::env::temp_dir()))?;
        for (name, bytes) in files {
            let relative = Path::new(name);
            let plain = relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !plain || name.is_empty() {
                return Err(Error::Refused(format!(
                    "embedded migration `{name}`: give a file name relative to the migrations \
                     directory, such as `0001_users.up.sql`"
                )));
            }
            let path = dir.path().join(relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(Error::io(parent))?;
            }
            fs::write(&path, bytes).map_err(Error::io(&path))?;
        }
        let mut migrator = Self::new(dir.path(), url);
        migrator._embedded = Some(Arc::new(dir));
        Ok(migrator)
    }

    /// Reports every statement migrations issue as an [`Event::Statement`]
    /// (`--log-sql`).
    pub fn with_log_sql(mut self, on: bool) -> Self {
        self.log_sql = on;
        self
    }

    /// Marks the environment protected: [`Migrator::reset`] refuses to run.
    pub fn with_protected(mut self, protected: bool) -> Self {
        self.protected = protected;
        self
    }

    /// Sets who the history records as running migrations (default:
    /// `WASMIG_ACTOR`, else `user@host`).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// Sets where compiled components are cached between runs (default:
    /// [`default_cache_dir`]); `None` compiles every component on every run.
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Sets the environment's name, which guests read with `env.name` and the
    /// ledger records.
    pub fn with_env(mut self, name: impl Into<String>) -> Self {
        self.env.name = name.into();
        self
    }

    /// Allows guests to read `key` with `env.var`.
    pub fn with_var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.vars.insert(key.into(), value.into());
        self
    }

    /// Sets the sandbox policies (which carry the default limits; see
    /// [`Policies::new`]).
    pub fn with_policies(mut self, policies: Policies) -> Self {
        self.policies = policies;
        self
    }

    /// Sets the default limits for component migrations.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.policies.set_limits(limits);
        self
    }

    /// How long `up` and `down` wait for another runner's lock (default
    /// five minutes).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Chooses how runners exclude each other (see [`LockMode`]).
    pub fn with_lock_mode(mut self, mode: LockMode) -> Self {
        self.lock_mode = mode;
        self
    }

    /// Sends progress and log events to `reporter`.
    pub fn with_reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// The same migrations against another database (a fleet's tenant).
    pub fn with_url(mut self, url: DatabaseUrl) -> Self {
        self.url = url;
        self
    }

    /// The database this migrator runs against.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Adds another migrations directory (a vendor's, say): its migrations
    /// join the sequence by version, and policies can single them out by
    /// path.
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.extra_dirs.push(dir.into());
        // What `read_once` kept no longer covers every directory.
        self.read = None;
        self
    }

    /// The (first) migrations directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the migrations now (guest crates built, every file read and
    /// checksummed) and keeps them: `up` and `plan` on this migrator and its
    /// clones use what was read here, not the files as they are later. A
    /// fleet reads its migrations once, so every tenant gets the same set
    /// even if a file changes during the run.
    ///
    /// # Errors
    /// As [`Migrator::up`] when a migration cannot be read or built.
    pub async fn read_once(mut self) -> Result<Self, Error> {
        self.read = None;
        let read = self.read_sources().await?;
        self.read = Some(Arc::new(read));
        Ok(self)
    }

    /// Reads the migrations directories.
    ///
    /// # Errors
    /// See [`source::discover_all`].
    pub fn sources(&self) -> Result<Vec<MigrationSource>, Error> {
        source::discover_all(&self.dirs())
    }

    /// The migrations directories: the project's own, then any others.
    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.dir.clone()];
        dirs.extend(self.extra_dirs.iter().cloned());
        dirs
    }

    /// A history event for migration `version` happening now.
    fn history_event(
        &self,
        version: Version,
        name: &str,
        action: ledger::Action,
    ) -> ledger::HistoryEvent {
        ledger::HistoryEvent {
            version,
            name: name.to_owned(),
            action,
            checksum: None,
            at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            execution_ms: None,
            environment: self.env.name.clone(),
            actor: self.actor.clone(),
            detail: None,
        }
    }

    /// A connection to the database.
    async fn connect(&self) -> Result<Box<dyn Backend>, Error> {
        let context = format!("connecting to {}", self.url);
        backend::connect(&self.url)
            .await
            .map_err(crate::database::connecting(&self.url, &context))
    }

    /// Waits for the run lock (see [`Migrator::with_lock_mode`]).
    async fn lock(&self) -> Result<RunLock, Error> {
        RunLock::acquire(&self.url, self.lock_mode, self.lock_timeout).await
    }
}

/// Commits when `done` is `Ok`, rolls back otherwise.
async fn commit_or_roll_back(
    db: &mut dyn Backend,
    done: Result<(), Error>,
    context: &str,
) -> Result<(), Error> {
    match done {
        Ok(()) => db.commit().await.map_err(Error::db(context)),
        Err(e) => {
            let _ = db.rollback().await;
            Err(e)
        }
    }
}

/// The first 12 hex digits of a digest, as messages show it.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// The process's component runtime, built on first use.
fn runtime() -> Result<&'static ComponentRuntime, Error> {
    static RUNTIME: OnceLock<Result<ComponentRuntime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| ComponentRuntime::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))
}
