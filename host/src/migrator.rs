//! [`Migrator`]: the library's entry point. It reads the directory and the
//! ledger, plans, and runs each migration in its own transaction with its
//! ledger row.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::backend::{self, Backend, DatabaseUrl, Dialect};
use crate::checksum_cache::{ChecksumCache, Stamp};
use crate::error::Error;
use crate::guest_crate;
use crate::ledger::{self, EntryState, InterruptedMark, LedgerEntry};
use crate::lock::{self, LockMode, RunLock};
use crate::plan::{Plan, PlannedMigration, Simulation, Trace};
use crate::planner::{self, DownTarget, MigrationStatus, State, UpOptions};
use crate::policy::{Policies, Sandbox};
use crate::report::{Direction, Event, Reporter, Silent};
use crate::runtime::{
    ComponentRuntime, GuestEnv, Limits, LoadedComponent, Origin, RunSpec, default_cache_dir, world,
};
use crate::source::{self, MigrationKind, MigrationSource, SourceBody, Version, sha256_hex};
use crate::sql_file;

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
}

/// What `wasmig inspect` shows about one migration: what it is and the
/// sandbox it would run in.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Its version, when its file name has one.
    pub version: Option<Version>,
    /// Its name.
    pub name: String,
    /// The file that runs (the component, or the up script).
    pub path: PathBuf,
    /// SQL or component.
    pub kind: MigrationKind,
    /// The file's size in bytes.
    pub size: u64,
    /// The sha256 of what runs on `up` (the ledger's checksum).
    pub checksum: String,
    /// A component's imports and exports.
    pub shape: Option<world::ComponentShape>,
    /// The sandbox it would run in.
    pub sandbox: Sandbox,
}

/// An applied migration whose file was edited since: what `repair` shows
/// and re-stamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// Its file or crate.
    pub path: PathBuf,
    /// SQL or component.
    pub kind: MigrationKind,
    /// The checksum the ledger has (of what ran).
    pub old_checksum: String,
    /// The checksum of the file now.
    pub new_checksum: String,
    /// The up script that ran, when the ledger keeps it.
    pub ran: Option<String>,
    /// The up script on disk now (SQL migrations).
    pub now: Option<String>,
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

/// A migration's bytes, read once: what is checksummed is what runs.
enum Payload {
    Sql {
        up: String,
        down: Option<String>,
        no_transaction: bool,
    },
    Component {
        bytes: Vec<u8>,
        path: PathBuf,
    },
}

struct Prepared<'a> {
    source: &'a MigrationSource,
    checksum: String,
    body: PreparedBody,
    sandbox: Sandbox,
}

enum PreparedBody {
    Sql {
        up: String,
        down: Option<String>,
        no_transaction: bool,
    },
    Component {
        loaded: LoadedComponent,
        /// The component's bytes, which the ledger keeps as its down step.
        bytes: Vec<u8>,
    },
}

impl Prepared<'_> {
    /// Whether the migration runs inside a transaction.
    fn transactional(&self) -> bool {
        match &self.body {
            PreparedBody::Sql { no_transaction, .. } => !no_transaction,
            PreparedBody::Component { loaded, .. } => loaded.transactional(),
        }
    }
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

    /// The sandbox migration `version` at `path` would run in.
    ///
    /// # Errors
    /// [`Error::Config`] when its policies conflict.
    pub fn sandbox(&self, version: Version, path: &Path) -> Result<Sandbox, Error> {
        self.policies.sandbox(version, path)
    }

    /// Describes migration `what` (a version of the directory, or the path
    /// of a migration file, in the directory or not) without running or
    /// compiling it.
    ///
    /// # Errors
    /// [`Error::Refused`] when there is no such migration; [`Error::Io`] or
    /// [`Error::InvalidComponent`] when it cannot be read.
    pub fn inspect(&self, what: &str) -> Result<Inspection, Error> {
        let sources = self.sources()?;
        let as_path = Path::new(what);
        let found = match what.parse::<Version>() {
            Ok(version) => sources.iter().find(|s| s.version == version),
            Err(_) => {
                let wanted = fs::canonicalize(as_path).ok();
                sources
                    .iter()
                    .find(|s| wanted.is_some() && fs::canonicalize(s.path()).ok() == wanted)
            }
        };
        let (version, name, payload) = match found {
            Some(source) => (
                Some(source.version),
                source.name.clone(),
                read_payload(source)?,
            ),
            None if what.parse::<Version>().is_err() && as_path.is_file() => {
                let stem = as_path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
                let name = stem[digits.len()..].trim_start_matches('_').to_owned();
                let bytes = fs::read(as_path).map_err(Error::io(as_path))?;
                let payload = if bytes.starts_with(b"\0asm") {
                    Payload::Component {
                        bytes,
                        path: as_path.to_owned(),
                    }
                } else {
                    let up = String::from_utf8(bytes).map_err(|_| Error::Source {
                        path: as_path.to_owned(),
                        message: "neither a component nor a UTF-8 SQL file".into(),
                    })?;
                    let scripts = sql_file::parse(&up, None, None);
                    Payload::Sql {
                        up: scripts.up,
                        down: scripts.down,
                        no_transaction: scripts.no_transaction,
                    }
                };
                (digits.parse().ok(), name, payload)
            }
            None => {
                return Err(Error::Refused(format!(
                    "no migration {what} in {}: give a version listed by `wasmig status`, or \
                     the path of a migration file",
                    self.dir.display()
                )));
            }
        };
        let checksum = checksum(&payload);
        let (path, kind, size, shape) = match &payload {
            Payload::Component { bytes, path } => {
                let shape = world::shape(bytes).map_err(|message| Error::InvalidComponent {
                    path: path.clone(),
                    message,
                })?;
                (
                    path.clone(),
                    MigrationKind::Component,
                    bytes.len() as u64,
                    Some(shape),
                )
            }
            Payload::Sql { up, .. } => (
                found.map_or_else(|| as_path.to_owned(), |s| s.path().to_owned()),
                MigrationKind::Sql,
                up.len() as u64,
                None,
            ),
        };
        let sandbox = self
            .policies
            .sandbox(version.unwrap_or(Version::MIN), &path)?;
        Ok(Inspection {
            version,
            name,
            path,
            kind,
            size,
            checksum,
            shape,
            sandbox,
        })
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

    /// Adds another migrations directory (a vendor's, say): its migrations
    /// join the sequence by version, and policies can single them out by
    /// path.
    pub fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.extra_dirs.push(dir.into());
        self
    }

    /// The (first) migrations directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// Builds guest crates: the stale ones, or all with `force`. Returns the
    /// versions built.
    ///
    /// # Errors
    /// [`Error::Build`] when cargo fails.
    pub async fn build(&self, force: bool) -> Result<Vec<Version>, Error> {
        let sources = self.sources()?;
        self.build_crates(&sources, force).await
    }

    async fn build_crates(
        &self,
        sources: &[MigrationSource],
        force: bool,
    ) -> Result<Vec<Version>, Error> {
        let mut to_build = Vec::new();
        for source in sources {
            if let SourceBody::Crate { dir } = &source.body
                && (force || guest_crate::is_stale(dir)?)
            {
                to_build.push(source);
            }
        }
        if to_build.is_empty() {
            return Ok(Vec::new());
        }
        self.reporter.event(&Event::Building {
            crates: to_build.len(),
        });
        // Each directory's crates build in that directory's workspace.
        let mut by_dir: BTreeMap<PathBuf, Vec<&MigrationSource>> = BTreeMap::new();
        for source in &to_build {
            let parent = source
                .path()
                .parent()
                .map_or_else(|| self.dir.clone(), Path::to_path_buf);
            by_dir.entry(parent).or_default().push(*source);
        }
        for (dir, crates) in &by_dir {
            for dependency in guest_crate::external_path_dependencies(dir, crates)? {
                self.reporter.event(&Event::Warning {
                    message: &format!(
                        "path dependency {dependency} is outside the migrations directory: \
                         cargo hashes its absolute path into the component, so checkouts in \
                         other places build other checksums"
                    ),
                });
            }
            guest_crate::build(dir, crates).await?;
        }
        Ok(to_build.iter().map(|s| s.version).collect())
    }

    /// Every migration, on disk or in the ledger, with where it stands.
    /// Builds and compiles nothing; never writes to the database.
    ///
    /// # Errors
    /// Fails when the directory or the ledger cannot be read.
    pub async fn status(&self) -> Result<Vec<MigrationStatus>, Error> {
        // The directory is listed, and its files read and hashed, on other
        // threads while the ledger is read; files whose metadata did not
        // change since an earlier run are not read at all.
        let dirs = self.dirs();
        let cache_dir = self.cache_dir.clone();
        let files = tokio::task::spawn_blocking(move || {
            let sources = source::discover_all(&dirs)?;
            let cache = cache_dir.and_then(|dir| ChecksumCache::open(&dir, &dirs));
            checksums(sources, cache)
        });
        let ledger = async {
            let mut db = self.connect().await?;
            let entries = ledger::read_if_exists(&mut *db).await?;
            // Closing frees the engine's copy of the schema (SQLite parses
            // every table's definition on open): not on the caller's time.
            tokio::task::spawn_blocking(move || drop(db));
            Ok::<_, Error>(entries)
        }
        .await;
        let with_sums = files
            .await
            .map_err(|e| Error::Runtime(format!("reading the migrations failed: {e}")))??;
        Ok(planner::reconcile_owned(with_sums, ledger?))
    }

    /// Checks every migration without running or compiling anything: SQL
    /// files are readable UTF-8, components are components of the migration
    /// world, crates are built; and the ledger agrees with the directory.
    /// Returns the problems found, each naming its migration.
    ///
    /// # Errors
    /// Fails when the directory is malformed (bad names, duplicate versions)
    /// or the ledger cannot be read.
    pub async fn validate(&self) -> Result<Vec<String>, Error> {
        let sources = self.sources()?;
        let mut problems = Vec::new();
        for source in &sources {
            if let SourceBody::Crate { dir } = &source.body
                && guest_crate::is_stale(dir)?
            {
                problems.push(format!(
                    "{}: the crate's {} is missing or older than its sources; run `wasmig build`",
                    dir.display(),
                    guest_crate::ARTIFACT
                ));
                continue;
            }
            match read_payload(source) {
                Ok(Payload::Component { bytes, path }) => {
                    let check = world::shape(&bytes).and_then(|shape| world::check(&shape));
                    if let Err(message) = check {
                        problems.push(format!("{}: {message}", path.display()));
                    }
                }
                Ok(Payload::Sql { .. }) => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
        for status in self.status().await? {
            let refusal = match status.status {
                State::Changed | State::Failed | State::Missing => planner::plan_down(
                    std::slice::from_ref(&status),
                    DownTarget::Steps(1),
                    &BTreeSet::new(),
                )
                .err(),
                State::Applied | State::Pending => None,
            };
            if let Some(e) = refusal {
                problems.push(e.to_string());
            }
        }
        Ok(problems)
    }

    /// Applies pending migrations, each in its own transaction with its
    /// ledger row. Stale guest crates are built and every component is
    /// compiled before the first migration runs.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger and directory disagree (see
    /// [`planner::plan_up`]); [`Error::MigrationFailed`] when a migration
    /// fails: it is rolled back, and the ones before it stay applied.
    pub async fn up(&self, options: &UpOptions) -> Result<RunReport, Error> {
        let started = Instant::now();
        let sources = self.sources()?;
        self.build_crates(&sources, false).await?;
        let (mut payloads, with_sums) = read_all(&sources)?;
        let lock = RunLock::acquire(&self.url, self.lock_mode, self.lock_timeout).await?;
        let mut db = self.connect().await?;
        let mut ledger_exists = ledger::exists(&mut *db).await?;
        let entries = if ledger_exists {
            ledger::upgrade(&mut *db).await?;
            ledger::read(&mut *db).await?
        } else {
            Vec::new()
        };
        // Steps kept without a ledger row (a row deleted by hand) are
        // replaced when their migration applies.
        let stale: BTreeSet<Version> = ledger::stale_steps(&mut *db, ledger_exists)
            .await?
            .into_iter()
            .collect();
        let statuses = planner::reconcile(&with_sums, &entries);
        let versions = planner::plan_up(&statuses, options)?;
        let prepared = self.prepare(&sources, &mut payloads, &versions)?;
        // With a reviewed plan: simulate again, refuse if anything differs,
        // and check each migration's statements against it as it runs.
        let mut expected: BTreeMap<Version, String> = BTreeMap::new();
        if let Some(reviewed) = &options.expect_plan {
            let (returned, planned) = self.simulate(db, &prepared).await;
            db = returned;
            let plan = Plan::new(planned?);
            if !plan.digest.starts_with(reviewed.as_str()) || reviewed.len() < 12 {
                return Err(Error::Refused(format!(
                    "the plan differs from the reviewed one: --expect-plan {reviewed}, but \
                     what `up` would do now has digest {}. The database or the pending \
                     migrations changed since the plan was made (or the plan was made with \
                     other options). Nothing was applied; run `wasmig plan` again, review \
                     it, and pass its digest",
                    plan.digest
                )));
            }
            for m in plan.migrations {
                if m.simulation == Simulation::Simulated {
                    expected.insert(m.version, m.digest);
                }
            }
        }
        let mut report = RunReport::default();
        for migration in &prepared {
            lost_lock(&lock)?;
            // A new ledger is created in the first migration's transaction,
            // so a failed first run leaves the database untouched.
            let (returned, result) = self
                .apply(
                    db,
                    migration,
                    Direction::Up,
                    !ledger_exists,
                    expected.get(&migration.source.version).map(String::as_str),
                    stale.contains(&migration.source.version),
                )
                .await;
            db = returned;
            report.migrations.push(result?);
            ledger_exists = true;
        }
        lock.release().await;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// What `up` with `options` would do: every pending migration runs in
    /// one transaction that is rolled back, and each statement it issues is
    /// recorded. Nothing is applied and the ledger is not touched; guest
    /// crates are built and components compiled, as `up` would.
    ///
    /// # Errors
    /// As [`Migrator::up`] before anything runs. A migration that fails in
    /// the simulation is reported in the plan, not as an error.
    pub async fn plan(&self, options: &UpOptions) -> Result<Plan, Error> {
        let sources = self.sources()?;
        self.build_crates(&sources, false).await?;
        let (mut payloads, with_sums) = read_all(&sources)?;
        let lock = RunLock::acquire(&self.url, self.lock_mode, self.lock_timeout).await?;
        let mut db = self.connect().await?;
        let entries = ledger::read_if_exists(&mut *db).await?;
        let statuses = planner::reconcile(&with_sums, &entries);
        let versions = planner::plan_up(&statuses, options)?;
        let prepared = self.prepare(&sources, &mut payloads, &versions)?;
        let (_db, planned) = self.simulate(db, &prepared).await;
        lock.release().await;
        Ok(Plan::new(planned?))
    }

    /// Runs `prepared` in one transaction, each migration behind a
    /// savepoint, recording its statements; rolls everything back.
    async fn simulate(
        &self,
        mut db: Box<dyn Backend>,
        prepared: &[Prepared<'_>],
    ) -> (Box<dyn Backend>, Result<Vec<PlannedMigration>, Error>) {
        let context = "starting the simulation's transaction";
        if let Err(e) = db.begin().await {
            return (db, Err(Error::db(context)(e)));
        }
        let mysql = db.dialect() == Dialect::Mysql;
        let mut planned = Vec::with_capacity(prepared.len());
        let mut failed = false;
        for migration in prepared {
            let source = migration.source;
            let mut trace = Trace::default();
            let simulation = if failed {
                Simulation::NotReached
            } else if !migration.transactional() {
                if let PreparedBody::Sql { up, .. } = &migration.body {
                    for statement in crate::policy::statements(up) {
                        trace.record("sql", statement, &[], Ok(None));
                    }
                }
                Simulation::NotSimulated {
                    reason: "it runs outside a transaction, so it cannot be rolled back".into(),
                }
            } else if let (true, PreparedBody::Sql { up, .. }) = (mysql, &migration.body)
                && crate::policy::statements(up)
                    .into_iter()
                    .any(crate::policy::is_ddl)
            {
                for statement in crate::policy::statements(up) {
                    trace.record("sql", statement, &[], Ok(None));
                }
                Simulation::NotSimulated {
                    reason: "MySQL commits DDL statements immediately".into(),
                }
            } else {
                let (returned, simulation, recorded) = self.simulate_one(db, migration).await;
                db = returned;
                trace = recorded;
                simulation
            };
            if matches!(simulation, Simulation::Failed { .. }) {
                failed = true;
            }
            let total = trace.total();
            let (digest, statements) = trace.finish();
            let rows_affected = statements
                .iter()
                .filter(|s| crate::plan::is_write(s.call))
                .filter_map(|s| s.rows)
                .sum();
            planned.push(PlannedMigration {
                version: source.version,
                name: source.name.clone(),
                kind: source.kind(),
                path: source.path().to_owned(),
                checksum: migration.checksum.clone(),
                simulation,
                statements,
                statements_total: total,
                rows_affected,
                digest,
            });
        }
        if let Err(e) = db.rollback().await {
            return (db, Err(Error::db("rolling the simulation back")(e)));
        }
        (db, Ok(planned))
    }

    /// Simulates one migration behind a savepoint, which is rolled back to
    /// when it fails or cannot be simulated.
    async fn simulate_one(
        &self,
        mut db: Box<dyn Backend>,
        migration: &Prepared<'_>,
    ) -> (Box<dyn Backend>, Simulation, Trace) {
        let mut trace = Trace::default();
        let failed = |reason: String| Simulation::Failed { reason };
        if let Err(e) = db.execute_script("SAVEPOINT wasmig_plan").await {
            return (db, failed(format!("cannot set a savepoint: {e}")), trace);
        }
        let sandbox = &migration.sandbox;
        let mut simulation = Simulation::Simulated;
        if let Err(reason) = self.check_sql_migration(&*db, migration, Direction::Up) {
            simulation = failed(reason);
        } else if let Some(role) = &sandbox.role {
            let quoted = format!("\"{}\"", role.replace('"', "\"\""));
            if let Err(e) = db.execute_script(&format!("SET LOCAL ROLE {quoted}")).await {
                simulation = failed(format!("cannot switch to its policy's role `{role}`: {e}"));
            }
        }
        if simulation == Simulation::Simulated {
            simulation = match &migration.body {
                PreparedBody::Sql { up, .. } => {
                    let (outcome, _) =
                        run_script(&mut *db, up, true, None, Some(&mut trace), None).await;
                    outcome.map_or_else(failed, |()| Simulation::Simulated)
                }
                PreparedBody::Component { loaded, .. } => {
                    let spec = RunSpec {
                        direction: Direction::Up,
                        version: migration.source.version,
                        checksum: migration.checksum.clone(),
                        env: self.env.clone(),
                        sandbox: sandbox.clone(),
                        reporter: self.reporter.clone(),
                        transactional: true,
                        ddl_mark: None,
                        trace: true,
                        stop_before_ddl: db.dialect() == Dialect::Mysql,
                        log_sql: self.log_sql,
                    };
                    match runtime() {
                        Ok(rt) => {
                            let result = rt.run(loaded, db, spec).await;
                            db = result.db;
                            trace = result.trace.unwrap_or_default();
                            match (result.stopped_before_ddl, result.outcome) {
                                (Some(sql), _) => Simulation::NotSimulated {
                                    reason: format!(
                                        "MySQL commits DDL statements immediately; it stopped \
                                         before `{}`",
                                        sql.chars().take(80).collect::<String>()
                                    ),
                                },
                                (None, Ok(())) => Simulation::Simulated,
                                (None, Err(reason)) => failed(reason),
                            }
                        }
                        Err(e) => failed(e.to_string()),
                    }
                }
            };
        }
        if sandbox.role.is_some()
            && simulation == Simulation::Simulated
            && let Err(e) = db.execute_script("RESET ROLE").await
        {
            simulation = failed(format!("cannot leave its policy's role: {e}"));
        }
        if simulation != Simulation::Simulated
            && let Err(e) = db.execute_script("ROLLBACK TO SAVEPOINT wasmig_plan").await
        {
            simulation = failed(format!("cannot roll back to its savepoint: {e}"));
        }
        (db, simulation, trace)
    }

    /// Reverts applied migrations, newest first, each in its own transaction
    /// with the removal of its ledger row.
    ///
    /// # Errors
    /// [`Error::Refused`] when a migration to revert is irreversible,
    /// changed or missing; [`Error::MigrationFailed`] when a revert fails.
    pub async fn down(&self, target: DownTarget) -> Result<RunReport, Error> {
        let started = Instant::now();
        let mut sources = self.sources()?;
        let lock = RunLock::acquire(&self.url, self.lock_mode, self.lock_timeout).await?;
        let mut db = self.connect().await?;
        let (entries, stored) = if ledger::exists(&mut *db).await? {
            ledger::upgrade(&mut *db).await?;
            let entries = ledger::read(&mut *db).await?;
            let stored: BTreeSet<Version> =
                ledger::stored_downs(&mut *db).await?.into_iter().collect();
            (entries, stored)
        } else {
            (Vec::new(), BTreeSet::new())
        };
        let applied: Vec<&MigrationSource> = sources
            .iter()
            .filter(|s| entries.iter().any(|e| e.version == s.version))
            .collect();
        let owned: Vec<MigrationSource> = applied.iter().map(|s| (*s).clone()).collect();
        self.build_crates(&owned, false).await?;
        let mut payloads = BTreeMap::new();
        let mut with_sums = Vec::with_capacity(sources.len());
        for source in &sources {
            if applied.iter().any(|a| a.version == source.version) {
                let payload = read_payload(source)?;
                let sum = checksum(&payload);
                with_sums.push((source.clone(), Some(sum.clone())));
                payloads.insert(source.version, (sum, payload));
            } else {
                with_sums.push((source.clone(), None));
            }
        }
        let statuses = planner::reconcile(&with_sums, &entries);
        let versions = planner::plan_down(&statuses, target, &stored)?;
        // A migration whose file is gone runs the down step the ledger kept.
        for version in &versions {
            if payloads.contains_key(version) {
                continue;
            }
            let Some(entry) = entries.iter().find(|e| e.version == *version) else {
                continue;
            };
            let Some(down) = ledger::read_step(&mut *db, *version, ledger::Step::Down).await?
            else {
                continue;
            };
            let path = PathBuf::from(&down.path);
            self.reporter.event(&Event::Warning {
                message: &format!(
                    "{version} {}: its file {} is gone; reverting it with the down step the \
                     ledger kept",
                    entry.name, down.path
                ),
            });
            let (body, payload) = match entry.kind {
                MigrationKind::Sql => {
                    let script = String::from_utf8(down.bytes).map_err(|_| {
                        Error::Refused(format!(
                            "the down step kept for migration {version} is not UTF-8 SQL; \
                             restore its file {} to revert it",
                            down.path
                        ))
                    })?;
                    (
                        SourceBody::Sql {
                            up: path,
                            down: None,
                        },
                        Payload::Sql {
                            up: String::new(),
                            down: Some(script),
                            no_transaction: down.no_transaction,
                        },
                    )
                }
                MigrationKind::Component => (
                    SourceBody::Component { path: path.clone() },
                    Payload::Component {
                        bytes: down.bytes,
                        path,
                    },
                ),
            };
            sources.push(MigrationSource {
                version: *version,
                name: entry.name.clone(),
                body,
            });
            payloads.insert(*version, (entry.checksum.clone(), payload));
        }
        for version in &versions {
            if let Some((_, Payload::Sql { down: None, .. })) = payloads.get(version) {
                let path = sources
                    .iter()
                    .find(|s| s.version == *version)
                    .map(|s| s.path().display().to_string())
                    .unwrap_or_default();
                return Err(Error::Refused(format!(
                    "cannot revert {version} ({path}): it has no down script, so it is \
                     irreversible. Add a .down.sql beside it (renaming the migration to \
                     .up.sql), or revert only the migrations after it with \
                     `wasmig down --to {version}`"
                )));
            }
        }
        let prepared = self.prepare(&sources, &mut payloads, &versions)?;
        let mut report = RunReport::default();
        for migration in &prepared {
            lost_lock(&lock)?;
            let (returned, result) = self
                .apply(db, migration, Direction::Down, false, None, false)
                .await;
            db = returned;
            report.migrations.push(result?);
        }
        lock.release().await;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Adopts a database that another tool (or hand-run scripts) already
    /// migrated: records every migration up to and including `version` as
    /// applied, without running it. Returns how many were recorded.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger already has rows (baseline adopts a
    /// database; it does not rewrite history) or no migration is that old.
    pub async fn baseline(&self, version: Version) -> Result<usize, Error> {
        let sources = self.sources()?;
        let adopted: Vec<MigrationSource> = sources
            .iter()
            .filter(|s| s.version <= version)
            .cloned()
            .collect();
        if adopted.is_empty() {
            return Err(Error::Refused(format!(
                "no migration has a version up to {version}: nothing to baseline"
            )));
        }
        self.build_crates(&adopted, false).await?;
        let lock = RunLock::acquire(&self.url, self.lock_mode, self.lock_timeout).await?;
        let mut db = self.connect().await?;
        if !ledger::read_if_exists(&mut *db).await?.is_empty() {
            return Err(Error::Refused(
                "the ledger already records migrations: baseline adopts a database that \
                 wasmig has not migrated yet. Use `wasmig resolve` for a failed migration."
                    .into(),
            ));
        }
        let context = "recording the baseline";
        db.begin().await.map_err(Error::db(context))?;
        let recorded = async {
            ledger::ensure(&mut *db).await?;
            for source in &adopted {
                let payload = read_payload(source)?;
                let entry = LedgerEntry {
                    version: source.version,
                    name: source.name.clone(),
                    kind: source.kind(),
                    checksum: checksum(&payload),
                    statements_digest: None,
                    state: EntryState::Applied,
                    applied_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                    execution_ms: 0,
                    environment: self.env.name.clone(),
                    error: None,
                };
                ledger::record(&mut *db, &entry)
                    .await
                    .map_err(Error::db(context))?;
                let steps = steps_to_keep(source, &payload)?;
                let steps: Vec<_> = steps.iter().map(|(step, s)| (*step, s)).collect();
                ledger::store_steps(&mut *db, source.version, &steps)
                    .await
                    .map_err(Error::db(context))?;
                ledger::log_event(
                    &mut *db,
                    &self.history_event(source.version, &source.name, ledger::Action::Baseline),
                )
                .await
                .map_err(Error::db(context))?;
            }
            Ok::<_, Error>(())
        }
        .await;
        commit_or_roll_back(&mut *db, recorded, context).await?;
        lock.release().await;
        Ok(adopted.len())
    }

    /// Records the operator's decision about a migration the ledger shows as
    /// failed: it is now fully applied, or nothing of it remains.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger has no failed row for `version`.
    pub async fn resolve(&self, version: Version, as_applied: bool) -> Result<(), Error> {
        let lock = RunLock::acquire(&self.url, self.lock_mode, self.lock_timeout).await?;
        let mut db = self.connect().await?;
        let entries = ledger::read_if_exists(&mut *db).await?;
        match entries.iter().find(|e| e.version == version) {
            Some(entry) if entry.state == EntryState::Failed => {}
            Some(_) => {
                return Err(Error::Refused(format!(
                    "migration {version} is applied, not failed: there is nothing to resolve"
                )));
            }
            None => {
                return Err(Error::Refused(format!(
                    "the ledger has no row for migration {version}: there is nothing to resolve"
                )));
            }
        }
        let context = format!("recording the resolution of migration {version}");
        ledger::upgrade(&mut *db).await?;
        let name = entries
            .iter()
            .find(|e| e.version == version)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let action = if as_applied {
            ledger::Action::ResolveApplied
        } else {
            ledger::Action::ResolveRolledBack
        };
        // The decision and its history event are one transaction.
        db.begin().await.map_err(Error::db(context.clone()))?;
        let recorded = async {
            if as_applied {
                ledger::set_state(&mut *db, version, EntryState::Applied, None).await?;
            } else {
                ledger::remove(&mut *db, version).await?;
            }
            ledger::log_event(&mut *db, &self.history_event(version, &name, action)).await
        }
        .await
        .map_err(Error::db(context.clone()));
        commit_or_roll_back(&mut *db, recorded, &context).await?;
        lock.release().await;
        Ok(())
    }

    /// Every apply, revert, repair, resolve and baseline, oldest first.
    ///
    /// # Errors
    /// Fails when the history cannot be read.
    pub async fn history(&self) -> Result<Vec<ledger::HistoryEvent>, Error> {
        let mut db = self.connect().await?;
        ledger::read_history(&mut *db).await
    }

    /// The applied migrations whose files were edited since, each with what
    /// ran and what is on disk now: what [`Migrator::repair`] would
    /// re-stamp.
    ///
    /// # Errors
    /// Fails when the directory or the ledger cannot be read.
    pub async fn repairs(&self) -> Result<Vec<Repair>, Error> {
        let changed: Vec<MigrationStatus> = self
            .status()
            .await?
            .into_iter()
            .filter(|s| s.status == State::Changed)
            .collect();
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let sources = self.sources()?;
        let mut db = self.connect().await?;
        let mut repairs = Vec::with_capacity(changed.len());
        for status in changed {
            let Some(source) = sources.iter().find(|s| s.version == status.version) else {
                continue;
            };
            let payload = read_payload(source)?;
            let ran = match ledger::read_step(&mut *db, status.version, ledger::Step::Up).await {
                Ok(step) => step.and_then(|s| String::from_utf8(s.bytes).ok()),
                Err(_) => None,
            };
            let now = match &payload {
                Payload::Sql { up, .. } => Some(up.clone()),
                Payload::Component { .. } => None,
            };
            repairs.push(Repair {
                version: status.version,
                name: status.name.clone(),
                path: source.path().to_owned(),
                kind: status.kind,
                old_checksum: status.checksum.clone().unwrap_or_default(),
                new_checksum: checksum(&payload),
                ran,
                now,
            });
        }
        Ok(repairs)
    }

    /// Re-stamps the ledger with the checksums of the edited files in
    /// `reviewed` (from [`Migrator::repairs`]), in one transaction, and keeps
    /// their new scripts. A migration that changed again since it was
    /// reviewed is refused. Nothing runs. Returns how many were re-stamped.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger or a file no longer matches the
    /// review.
    pub async fn repair(&self, reviewed: &[Repair]) -> Result<usize, Error> {
        if reviewed.is_empty() {
            return Ok(0);
        }
        let sources = self.sources()?;
        let lock = RunLock::acquire(&self.url, self.lock_mode, self.lock_timeout).await?;
        let mut db = self.connect().await?;
        ledger::upgrade(&mut *db).await?;
        let entries = ledger::read(&mut *db).await?;
        let mut work = Vec::with_capacity(reviewed.len());
        for r in reviewed {
            let entry = entries.iter().find(|e| e.version == r.version);
            let source = sources.iter().find(|s| s.version == r.version);
            let payload = source.map(read_payload).transpose()?;
            let (Some(entry), Some(source), Some(payload)) = (entry, source, payload) else {
                return Err(Error::Refused(format!(
                    "migration {} changed since it was reviewed (its file or ledger row is \
                     gone); nothing was repaired. Run `wasmig repair` again",
                    r.version
                )));
            };
            if entry.checksum != r.old_checksum || checksum(&payload) != r.new_checksum {
                return Err(Error::Refused(format!(
                    "migration {} ({}) changed since it was reviewed; nothing was repaired. \
                     Run `wasmig repair` again",
                    r.version,
                    source.path().display()
                )));
            }
            work.push((entry.clone(), source, payload));
        }
        let context = "recording the repair";
        db.begin().await.map_err(Error::db(context))?;
        let done = async {
            for (entry, source, payload) in &work {
                let mut updated = entry.clone();
                updated.checksum = checksum(payload);
                ledger::record(&mut *db, &updated)
                    .await
                    .map_err(Error::db(context))?;
                ledger::remove_steps(&mut *db, entry.version)
                    .await
                    .map_err(Error::db(context))?;
                let steps = steps_to_keep(source, payload)?;
                let steps: Vec<_> = steps.iter().map(|(step, s)| (*step, s)).collect();
                ledger::store_steps(&mut *db, entry.version, &steps)
                    .await
                    .map_err(Error::db(context))?;
                let mut event =
                    self.history_event(entry.version, &entry.name, ledger::Action::Repair);
                event.checksum = Some(updated.checksum.clone());
                event.detail = Some(format!("checksum was {}", entry.checksum));
                ledger::log_event(&mut *db, &event)
                    .await
                    .map_err(Error::db(context))?;
            }
            Ok::<_, Error>(())
        }
        .await;
        commit_or_roll_back(&mut *db, done, context).await?;
        lock.release().await;
        Ok(work.len())
    }

    /// Reverts every applied migration, then applies every migration: a
    /// fresh start for a development database. Refused in a protected
    /// environment.
    ///
    /// # Errors
    /// [`Error::Refused`] in a protected environment, or as
    /// [`Migrator::down`] and [`Migrator::up`].
    pub async fn reset(&self) -> Result<(RunReport, RunReport), Error> {
        if self.protected {
            return Err(Error::Refused(format!(
                "environment `{}` is protected (`protected = true` in wasmig.toml): `reset` \
                 would revert every migration and lose its data. Nothing was changed",
                self.env.name
            )));
        }
        let reverted = self.down(DownTarget::To(Version::MIN)).await?;
        let applied = self.up(&UpOptions::default()).await?;
        Ok((reverted, applied))
    }

    async fn connect(&self) -> Result<Box<dyn Backend>, Error> {
        backend::connect(&self.url)
            .await
            .map_err(Error::db(format!("connecting to {}", self.url)))
    }

    /// Compiles every component among `versions` before anything runs, so a
    /// broken component fails the run before it changes the database.
    /// `payloads` holds each migration's checksum and bytes, read once.
    fn prepare<'a>(
        &self,
        sources: &'a [MigrationSource],
        payloads: &mut BTreeMap<Version, (String, Payload)>,
        versions: &[Version],
    ) -> Result<Vec<Prepared<'a>>, Error> {
        let by_version: BTreeMap<Version, &MigrationSource> =
            sources.iter().map(|s| (s.version, s)).collect();
        let mut picked = Vec::with_capacity(versions.len());
        for version in versions {
            if let (Some(source), Some((checksum, payload))) =
                (by_version.get(version).copied(), payloads.remove(version))
            {
                picked.push((source, checksum, payload));
            }
        }
        let components: Vec<(&Path, &[u8])> = picked
            .iter()
            .filter_map(|(_, _, payload)| match payload {
                Payload::Component { bytes, path } => Some((path.as_path(), bytes.as_slice())),
                Payload::Sql { .. } => None,
            })
            .collect();
        let mut loaded = self.load_components(&components)?.into_iter();
        let mut prepared = Vec::with_capacity(picked.len());
        for (source, checksum, payload) in picked {
            let body = match payload {
                Payload::Sql {
                    up,
                    down,
                    no_transaction,
                } => PreparedBody::Sql {
                    up,
                    down,
                    no_transaction,
                },
                Payload::Component { path, bytes } => PreparedBody::Component {
                    loaded: loaded.next().ok_or_else(|| {
                        Error::Runtime(format!("{} was not compiled", path.display()))
                    })?,
                    bytes,
                },
            };
            let sandbox = self.policies.sandbox(source.version, source.path())?;
            prepared.push(Prepared {
                source,
                checksum,
                body,
                sandbox,
            });
        }
        Ok(prepared)
    }

    /// Loads `components` (path, bytes) from the compile cache or compiles
    /// them, several at once, in order.
    fn load_components(
        &self,
        components: &[(&Path, &[u8])],
    ) -> Result<Vec<LoadedComponent>, Error> {
        if components.is_empty() {
            return Ok(Vec::new());
        }
        let runtime = runtime()?;
        let started = Instant::now();
        let cache = self.cache_dir.as_deref().and_then(|dir| {
            runtime
                .open_cache(dir)
                .map_err(|e| {
                    let message = format!("{e}; compiling without it");
                    self.reporter.event(&Event::Warning { message: &message });
                })
                .ok()
        });
        let results = in_parallel(components, |(path, bytes)| {
            runtime.load(path, bytes, cache.as_ref())
        });
        let mut loaded = Vec::with_capacity(results.len());
        let (mut from_cache, mut compiled) = (0, 0);
        for result in results {
            let (component, origin) = result?;
            match origin {
                Origin::Cache => from_cache += 1,
                Origin::Compiled { notes } => {
                    compiled += 1;
                    for message in &notes {
                        self.reporter.event(&Event::Warning { message });
                    }
                }
            }
            loaded.push(component);
        }
        self.reporter.event(&Event::Loaded {
            from_cache,
            compiled,
            elapsed: started.elapsed(),
        });
        Ok(loaded)
    }

    /// Runs one migration in a transaction together with its ledger change.
    ///
    /// Where a failure can leave part of a migration behind (no-transaction
    /// migrations; MySQL, which commits DDL implicitly), the ledger row is
    /// first written as failed ("interrupted"), so even a runner killed half
    /// way leaves the truth in the ledger; it becomes applied on success, and
    /// is removed again when a failure provably left nothing behind.
    async fn apply(
        &self,
        mut db: Box<dyn Backend>,
        migration: &Prepared<'_>,
        direction: Direction,
        create_ledger: bool,
        expected_digest: Option<&str>,
        stale_steps: bool,
    ) -> (Box<dyn Backend>, Result<Ran, Error>) {
        let source = migration.source;
        let version = source.version;
        let fail = |reason: String, hint: String| Error::MigrationFailed {
            version,
            path: source.path().to_owned(),
            reason,
            hint,
        };
        let rolled_back = match direction {
            Direction::Up => {
                "nothing was applied: its changes were rolled back and the ledger is unchanged. \
                 Fix it and run `wasmig up` again."
            }
            Direction::Down => {
                "nothing was reverted: its changes were rolled back and it is still applied. \
                 Fix its down step and run `wasmig down` again."
            }
        }
        .to_owned();
        let transactional = migration.transactional();
        let mysql = db.dialect() == Dialect::Mysql;
        let sandbox = &migration.sandbox;
        if let Err(reason) = self.check_sql_migration(&*db, migration, direction) {
            return (db, Err(fail(reason, rolled_back)));
        }
        if sandbox.role.is_some() && db.dialect() != Dialect::Postgres {
            return (
                db,
                Err(fail(
                    format!(
                        "its policy names a role ({}), which only PostgreSQL supports",
                        sandbox.policies.join(", ")
                    ),
                    "remove `role` from the policy for this database, or run it on PostgreSQL"
                        .into(),
                )),
            );
        }
        let mark = self.interrupted_mark(migration, direction);
        // A no-transaction migration is marked before it starts; on MySQL a
        // migration is marked just before its first DDL statement, which
        // commits everything so far (the mark included).
        let mark_first = !transactional;
        let mark_before_ddl = transactional && mysql;
        self.reporter.event(&Event::Started {
            version,
            name: &source.name,
            direction,
        });
        let started = Instant::now();

        // Creating the ledger is DDL: on MySQL it cannot be part of the
        // migration's transaction anyway.
        let ledger_in_transaction = create_ledger && transactional && !mysql;
        if create_ledger
            && !ledger_in_transaction
            && let Err(e) = ledger::ensure(&mut *db).await
        {
            return (db, Err(e));
        }
        if mark_first && let Err(e) = ledger::mark(&mut *db, &mark).await {
            return (
                db,
                Err(fail(format!("cannot write the ledger: {e}"), rolled_back)),
            );
        }
        if transactional {
            if let Err(e) = db.begin().await {
                return (
                    db,
                    Err(fail(
                        format!("cannot start a transaction: {e}"),
                        rolled_back,
                    )),
                );
            }
            if ledger_in_transaction && let Err(e) = ledger::ensure(&mut *db).await {
                let _ = db.rollback().await;
                return (db, Err(e));
            }
        }

        let role_set = match &sandbox.role {
            Some(role) => {
                let quoted = format!("\"{}\"", role.replace('"', "\"\""));
                let sql = if transactional {
                    format!("SET LOCAL ROLE {quoted}")
                } else {
                    format!("SET ROLE {quoted}")
                };
                if let Err(e) = db.execute_script(&sql).await {
                    let _ = db.rollback().await;
                    return (
                        db,
                        Err(fail(
                            format!("cannot switch to its policy's role `{role}`: {e}"),
                            rolled_back,
                        )),
                    );
                }
                true
            }
            None => false,
        };
        let ddl_mark = mark_before_ddl.then_some(&mark);
        let mut digest = None;
        let mut trace = expected_digest.map(|_| crate::plan::Trace::default());
        let (outcome, progress) = match &migration.body {
            PreparedBody::Sql { up, down, .. } => {
                let script = match direction {
                    Direction::Up => Some(up.as_str()),
                    Direction::Down => down.as_deref(),
                };
                match script {
                    Some(sql) => {
                        digest = Some(sha256_hex(sql.as_bytes()));
                        if self.log_sql {
                            for statement in crate::policy::statements(sql) {
                                self.reporter.event(&Event::Statement {
                                    version,
                                    sql: statement,
                                });
                            }
                        }
                        let one_by_one = !transactional || mysql;
                        let reporter = self.reporter.clone();
                        let report = move |done: u64, total: u64| {
                            reporter.event(&Event::Progress {
                                version,
                                done,
                                total: Some(total),
                            });
                        };
                        run_script(
                            &mut *db,
                            sql,
                            one_by_one,
                            ddl_mark,
                            trace.as_mut(),
                            Some(&report),
                        )
                        .await
                    }
                    None => (Err("it has no down script".to_owned()), Progress::default()),
                }
            }
            PreparedBody::Component {
                loaded: component, ..
            } => {
                let spec = RunSpec {
                    direction,
                    version,
                    checksum: migration.checksum.clone(),
                    env: self.env.clone(),
                    sandbox: sandbox.clone(),
                    reporter: self.reporter.clone(),
                    transactional,
                    ddl_mark: ddl_mark.cloned(),
                    trace: trace.is_some(),
                    stop_before_ddl: false,
                    log_sql: self.log_sql,
                };
                match runtime() {
                    Ok(rt) => {
                        let result = rt.run(component, db, spec).await;
                        db = result.db;
                        digest = Some(result.digest);
                        trace = result.trace;
                        let progress = Progress {
                            wrote: result.wrote,
                            marked: result.marked,
                            rows: result.rows_changed,
                        };
                        (result.outcome, progress)
                    }
                    Err(e) => (Err(e.to_string()), Progress::default()),
                }
            }
        };
        let elapsed = started.elapsed();
        let outcome = match (outcome, expected_digest, trace) {
            (Ok(()), Some(expected), Some(trace)) => {
                let (found, _) = trace.finish();
                if found == expected {
                    Ok(())
                } else {
                    Err(format!(
                        "it issued other statements (or changed other rows) than in the \
                         reviewed plan (migration digest {} in the plan, {} now): the \
                         database changed since the plan was made, or an earlier migration \
                         of this run could not be simulated. Run `wasmig plan` again and \
                         review it",
                        short(expected),
                        short(&found)
                    ))
                }
            }
            (outcome, _, _) => outcome,
        };
        let outcome = match outcome {
            Ok(()) if role_set => db
                .execute_script("RESET ROLE")
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot leave its policy's role: {e}")),
            other => other,
        };
        let outcome = match outcome {
            Ok(()) => self
                .record(
                    &mut *db,
                    migration,
                    direction,
                    elapsed,
                    digest,
                    Held {
                        row: mark_first || progress.marked,
                        steps: stale_steps,
                    },
                )
                .await
                .map_err(|e| format!("cannot update the ledger: {e}")),
            Err(e) => Err(e),
        };
        let outcome = match outcome {
            Ok(()) if transactional => db
                .commit()
                .await
                .map_err(|e| format!("the commit failed: {e}")),
            other => other,
        };
        if let Err(reason) = outcome {
            if let Err(e) = db.rollback().await {
                return (
                    db,
                    Err(fail(
                        reason,
                        format!(
                            "the rollback failed too ({e}): check the database before \
                             running wasmig again"
                        ),
                    )),
                );
            }
            let partial = if transactional {
                progress.marked
            } else {
                progress.wrote
            };
            if !partial {
                if !mark_first {
                    return (db, Err(fail(reason, rolled_back)));
                }
                // Nothing stayed behind: take the mark back.
                return match ledger::unmark(&mut *db, &mark).await {
                    Ok(()) => (db, Err(fail(reason, rolled_back))),
                    Err(e) => (
                        db,
                        Err(fail(
                            reason,
                            format!(
                                "nothing of it stayed behind, but the ledger could not be \
                                 updated ({e}) and shows it as failed: run \
                                 `wasmig resolve {version} --as {}`",
                                match direction {
                                    Direction::Up => "rolled-back",
                                    Direction::Down => "applied",
                                }
                            ),
                        )),
                    ),
                };
            }
            let why = if transactional {
                "MySQL commits DDL statements immediately"
            } else {
                "it runs without a transaction"
            };
            let _ = ledger::mark_failed(&mut *db, &mark, &reason).await;
            return (
                db,
                Err(fail(
                    reason,
                    format!(
                        "it may be {} in part: {why}, so what ran before the failure stays. \
                         The ledger records it as failed. Inspect the database, finish or \
                         undo the partial change, then run `wasmig resolve {version} --as \
                         applied` or `wasmig resolve {version} --as rolled-back`.",
                        match direction {
                            Direction::Up => "applied",
                            Direction::Down => "reverted",
                        }
                    ),
                )),
            );
        }
        self.reporter.event(&Event::Finished {
            version,
            name: &source.name,
            direction,
            elapsed,
        });
        (
            db,
            Ok(Ran {
                version,
                name: source.name.clone(),
                elapsed,
                rows: progress.rows,
            }),
        )
    }

    /// Checks a SQL migration's statements against its policy before any
    /// of them runs.
    fn check_sql_migration(
        &self,
        db: &dyn Backend,
        migration: &Prepared<'_>,
        direction: Direction,
    ) -> Result<(), String> {
        let PreparedBody::Sql { up, down, .. } = &migration.body else {
            return Ok(());
        };
        if !migration.sandbox.restricts_sql() {
            return Ok(());
        }
        let script = match direction {
            Direction::Up => Some(up),
            Direction::Down => down.as_ref(),
        };
        for statement in crate::policy::statements(script.map_or("", |s| s.as_str())) {
            migration
                .sandbox
                .check_sql(db.dialect(), db.default_schema(), statement)
                .map_err(|v| format!("refused: {v}"))?;
        }
        Ok(())
    }

    /// The mark that records `migration` as under way.
    fn interrupted_mark(&self, migration: &Prepared<'_>, direction: Direction) -> InterruptedMark {
        let source = migration.source;
        match direction {
            Direction::Up => InterruptedMark::Applying(LedgerEntry {
                version: source.version,
                name: source.name.clone(),
                kind: source.kind(),
                checksum: migration.checksum.clone(),
                state: EntryState::Failed,
                applied_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                execution_ms: 0,
                environment: self.env.name.clone(),
                error: Some(ledger::INTERRUPTED_UP.to_owned()),
                statements_digest: None,
            }),
            Direction::Down => InterruptedMark::Reverting(source.version),
        }
    }

    async fn record(
        &self,
        db: &mut dyn Backend,
        migration: &Prepared<'_>,
        direction: Direction,
        elapsed: Duration,
        statements_digest: Option<String>,
        held: Held,
    ) -> Result<(), crate::DbError> {
        let source = migration.source;
        match direction {
            Direction::Up => {
                let entry = LedgerEntry {
                    version: source.version,
                    name: source.name.clone(),
                    kind: source.kind(),
                    checksum: migration.checksum.clone(),
                    state: EntryState::Applied,
                    applied_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                    execution_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
                    environment: self.env.name.clone(),
                    error: None,
                    statements_digest,
                };
                let steps = match &migration.body {
                    PreparedBody::Sql {
                        up,
                        down,
                        no_transaction,
                    } => sql_steps(source, up, down.as_deref(), *no_transaction),
                    PreparedBody::Component { loaded, bytes } => {
                        vec![(
                            ledger::Step::Down,
                            ledger::StoredStep {
                                path: source.path().display().to_string(),
                                no_transaction: !loaded.transactional(),
                                bytes: bytes.clone(),
                            },
                        )]
                    }
                };
                let steps: Vec<_> = steps.iter().map(|(step, s)| (*step, s)).collect();
                let mut event =
                    self.history_event(source.version, &source.name, ledger::Action::Apply);
                event.checksum = Some(migration.checksum.clone());
                event.execution_ms = entry.execution_ms.into();
                // The row exists already when the migration was marked as
                // under way.
                ledger::record_applied(db, &entry, &steps, &event, held.row, held.steps).await
            }
            Direction::Down => {
                ledger::remove(db, source.version).await?;
                let mut event =
                    self.history_event(source.version, &source.name, ledger::Action::Revert);
                event.checksum = Some(migration.checksum.clone());
                event.execution_ms = Some(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
                ledger::log_event(db, &event).await
            }
        }
    }
}

/// What the ledger keeps of a SQL migration: its up script (to show what an
/// edit changed) and its down script (to revert it without its file).
fn sql_steps(
    source: &MigrationSource,
    up: &str,
    down: Option<&str>,
    no_transaction: bool,
) -> Vec<(ledger::Step, ledger::StoredStep)> {
    let step = |bytes: &str| ledger::StoredStep {
        path: source.path().display().to_string(),
        no_transaction,
        bytes: bytes.as_bytes().to_vec(),
    };
    let mut steps = vec![(ledger::Step::Up, step(up))];
    if let Some(down) = down {
        steps.push((ledger::Step::Down, step(down)));
    }
    steps
}

/// What the ledger keeps of a migration read from its file.
fn steps_to_keep(
    source: &MigrationSource,
    payload: &Payload,
) -> Result<Vec<(ledger::Step, ledger::StoredStep)>, Error> {
    Ok(match payload {
        Payload::Sql {
            up,
            down,
            no_transaction,
        } => sql_steps(source, up, down.as_deref(), *no_transaction),
        Payload::Component { bytes, path } => {
            let shape = world::shape(bytes).map_err(|message| Error::InvalidComponent {
                path: path.clone(),
                message,
            })?;
            vec![(
                ledger::Step::Down,
                ledger::StoredStep {
                    path: source.path().display().to_string(),
                    no_transaction: shape.no_transaction,
                    bytes: bytes.clone(),
                },
            )]
        }
    })
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

/// What the ledger already holds for a migration being recorded.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// Its row (the mark that it is under way).
    row: bool,
    /// Kept steps without a row (the row was deleted by hand).
    steps: bool,
}

/// What a migration got done before it failed.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// A statement that changes something succeeded.
    wrote: bool,
    /// The interrupted mark was written before a DDL statement.
    marked: bool,
    /// Rows changed, as the engine reported them.
    rows: u64,
}

/// A SQL script with at least this many statements runs statement by
/// statement and reports its progress.
const PROGRESS_STATEMENTS: usize = 50;

/// Runs a SQL script: in one call when it runs inside a transaction that
/// can roll all of it back, statement by statement when it cannot (so the
/// error says which statement failed and what ran before it). With
/// `ddl_mark`, the mark is written just before the first DDL statement.
///
/// With `trace`, every statement runs on its own and is recorded with the
/// rows it changed.
async fn run_script(
    db: &mut dyn Backend,
    sql: &str,
    statement_by_statement: bool,
    ddl_mark: Option<&InterruptedMark>,
    mut trace: Option<&mut crate::plan::Trace>,
    report: Option<&dyn Fn(u64, u64)>,
) -> (Result<(), String>, Progress) {
    let statements = crate::policy::statements(sql);
    let long = statements.len() >= PROGRESS_STATEMENTS;
    if !statement_by_statement && trace.is_none() && !long {
        return match db.execute_script(sql).await {
            Ok(rows) => (
                Ok(()),
                Progress {
                    rows,
                    ..Progress::default()
                },
            ),
            Err(e) => (Err(e.to_string()), Progress::default()),
        };
    }
    let total = statements.len() as u64;
    let mut progress = Progress::default();
    for (i, statement) in statements.iter().enumerate() {
        if let Some(mark) = ddl_mark
            && !progress.marked
            && crate::policy::is_ddl(statement)
        {
            if let Err(e) = ledger::mark(db, mark).await {
                return (Err(format!("cannot write the ledger: {e}")), progress);
            }
            progress.marked = true;
        }
        let result = match &mut trace {
            // DDL reports no rows (and some engines cannot prepare it).
            Some(trace) if crate::policy::is_ddl(statement) => {
                let result = db.execute_script(statement).await;
                let outcome = match &result {
                    Ok(_) => Ok(None),
                    Err(e) => Err(e.message.as_str()),
                };
                trace.record("sql", statement, &[], outcome);
                result
            }
            Some(trace) => {
                let result = db.execute(statement, &[]).await;
                let outcome = match &result {
                    Ok(n) => Ok(Some(*n)),
                    Err(e) => Err(e.message.as_str()),
                };
                trace.record("sql", statement, &[], outcome);
                result
            }
            None => db.execute_script(statement).await,
        };
        if let Ok(rows) = &result {
            progress.rows += rows;
        }
        if let Err(e) = result {
            let preview: String = statement.chars().take(120).collect();
            return (
                Err(format!(
                    "statement {} of {} failed: {e}\n    {preview}",
                    i + 1,
                    statements.len()
                )),
                progress,
            );
        }
        progress.wrote = true;
        if let Some(report) = report
            && long
        {
            report(i as u64 + 1, total);
        }
    }
    (Ok(()), progress)
}

/// The first 12 hex digits of a digest, as messages show it.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Stops a run whose lease was taken over while it stalled.
fn lost_lock(lock: &RunLock) -> Result<(), Error> {
    if lock.is_lost() {
        return Err(Error::Refused(
            "this run lost its lease on wasmig_lock (it could not renew it in time) and \
             stopped before its next migration; run `wasmig up` again"
                .into(),
        ));
    }
    Ok(())
}

/// Every migration's payload and checksum, read on several threads: the
/// payloads by version, and the sources with their checksums for
/// [`planner::reconcile`].
#[allow(clippy::type_complexity)]
fn read_all(
    sources: &[MigrationSource],
) -> Result<
    (
        BTreeMap<Version, (String, Payload)>,
        Vec<(MigrationSource, Option<String>)>,
    ),
    Error,
> {
    let mut payloads = BTreeMap::new();
    let mut with_sums = Vec::with_capacity(sources.len());
    for (source, payload) in sources.iter().zip(in_parallel(sources, read_payload)) {
        let payload = payload?;
        let sum = checksum(&payload);
        with_sums.push((source.clone(), Some(sum.clone())));
        payloads.insert(source.version, (sum, payload));
    }
    Ok((payloads, with_sums))
}

/// `f` applied to every item, on up to as many threads as there are cores;
/// the results keep the items' order.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Each migration with the checksum of what is on disk (`None` for a crate
/// not built yet), read on several threads; `cache` answers for files whose
/// metadata did not change, and learns the rest.
fn checksums(
    sources: Vec<MigrationSource>,
    mut cache: Option<ChecksumCache>,
) -> Result<Vec<(MigrationSource, Option<String>)>, Error> {
    // The file whose bytes alone make the checksum (a crate's depends on
    // its build, so it is always read).
    let keyed = |source: &MigrationSource| match &source.body {
        SourceBody::Sql { up, .. } => Some(up.clone()),
        SourceBody::Component { path } => Some(path.clone()),
        SourceBody::Crate { .. } => None,
    };
    let sums = in_parallel(&sources, |source| {
        let stamped = keyed(source).and_then(|path| Some((Stamp::of(&path)?, path)));
        if let (Some(cache), Some((stamp, path))) = (&cache, &stamped)
            && let Some(sum) = cache.get(path, *stamp)
        {
            return Ok((Some(sum.to_owned()), None));
        }
        match &source.body {
            SourceBody::Crate { dir } if guest_crate::is_stale(dir)? => Ok((None, None)),
            _ => {
                let sum = checksum(&read_payload(source)?);
                Ok((
                    Some(sum.clone()),
                    stamped.map(|(stamp, path)| (path, stamp, sum)),
                ))
            }
        }
    });
    let mut out = Vec::with_capacity(sources.len());
    let mut seen = Vec::with_capacity(sources.len());
    for (source, result) in sources.into_iter().zip(sums) {
        let (sum, learned) = result?;
        if let Some(path) = keyed(&source) {
            seen.push(path);
        }
        if let (Some(cache), Some((path, stamp, sum))) = (&mut cache, learned) {
            cache.learn(&path, stamp, sum);
        }
        out.push((source, sum));
    }
    if let Some(cache) = cache {
        cache.save(&seen);
    }
    Ok(out)
}

/// The process's component runtime, built on first use.
fn runtime() -> Result<&'static ComponentRuntime, Error> {
    static RUNTIME: OnceLock<Result<ComponentRuntime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| ComponentRuntime::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))
}

fn read_payload(source: &MigrationSource) -> Result<Payload, Error> {
    let read_text = |path: &Path| -> Result<String, Error> {
        let bytes = fs::read(path).map_err(Error::io(path))?;
        String::from_utf8(bytes).map_err(|_| Error::Source {
            path: path.to_owned(),
            message: "the SQL file is not valid UTF-8; save it as UTF-8".into(),
        })
    };
    match &source.body {
        SourceBody::Sql { up, down } => {
            let text = read_text(up)?;
            let down = down.as_deref().map(read_text).transpose()?;
            // diesel keeps per-migration options beside up.sql.
            let metadata = up
                .file_name()
                .filter(|n| *n == "up.sql")
                .and_then(|_| fs::read_to_string(up.with_file_name("metadata.toml")).ok());
            let scripts = sql_file::parse(&text, down, metadata.as_deref());
            Ok(Payload::Sql {
                up: scripts.up,
                down: scripts.down,
                no_transaction: scripts.no_transaction,
            })
        }
        SourceBody::Component { path } => Ok(Payload::Component {
            bytes: fs::read(path).map_err(Error::io(path))?,
            path: path.clone(),
        }),
        SourceBody::Crate { dir } => {
            let path = guest_crate::artifact_path(dir);
            let bytes = fs::read(&path).map_err(|e| Error::Source {
                path: dir.clone(),
                message: format!(
                    "its component {} cannot be read ({e}); run `wasmig build`",
                    path.display()
                ),
            })?;
            Ok(Payload::Component { bytes, path })
        }
    }
}

/// The checksum of the bytes that run on `up`: the up script, or the
/// component.
fn checksum(payload: &Payload) -> String {
    match payload {
        Payload::Sql { up, .. } => sha256_hex(up.as_bytes()),
        Payload::Component { bytes, .. } => sha256_hex(bytes),
    }
}
