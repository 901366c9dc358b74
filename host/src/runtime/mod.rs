//! The component runtime: one wasmtime engine and linker per process, and
//! the run of one migration component inside its sandbox.

pub(crate) mod cache;
mod convert;
mod host;
mod limiter;
mod outcome;
mod packed;
mod python_host;
mod sandbox;
mod schema_host;
mod schema_ops;
mod schema_state;
pub mod world;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable, Val};
use wasmtime::{Config, Engine, Store, UpdateDeadline};

use self::cache::Lookup;
pub use self::cache::{CacheUnavailable, CompileCache, default_cache_dir};
use self::host::GuestState;
pub use self::host::{CursorHandle, GuestEnv, SandboxViolation, TransactionEnded};
pub use self::limiter::LimitExceeded;
use self::limiter::Limiter;
use self::outcome::Ran;
pub use self::sandbox::migration_instant;
use crate::backend::Backend;
use crate::error::Error;
pub use crate::limits::{LimitOverrides, Limits};
use crate::policy::{Sandbox, Violation};
use crate::report::{Direction, Event, LogLevel, Reporter};
use crate::source::Version;

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "migration",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasmig:migration/db.cursor": super::CursorHandle,
        },
    });
}

/// Compiles and runs migration components. Create one per process and share
/// it: the engine and linker are built once.
pub struct ComponentRuntime {
    engine: Engine,
    linker: Linker<GuestState>,
    /// Components this process loaded, by the sha256 of their bytes: a
    /// fleet's tenants (or a long-lived embedder's runs) load each once.
    loaded: std::sync::Mutex<std::collections::HashMap<String, LoadedComponent>>,
}

/// A compiled migration component, ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pre: bindings::MigrationPre<GuestState>,
    no_transaction: bool,
    uses_schema: bool,
    /// For the Python runtime: the migration it runs.
    python: Option<Arc<crate::python::Sources>>,
}

impl LoadedComponent {
    /// Whether the component runs inside the host's transaction (it does
    /// unless it opted out).
    pub fn transactional(&self) -> bool {
        !self.no_transaction
    }

    /// Whether the component imports the `schema` interface (so its
    /// operations may rebuild SQLite tables).
    pub fn uses_schema(&self) -> bool {
        self.uses_schema
    }

    /// The Python runtime, loaded to run the migration of `sources`.
    pub fn running(&self, sources: Arc<crate::python::Sources>) -> Self {
        Self {
            python: Some(sources),
            ..self.clone()
        }
    }
}

/// Where a loaded component's native code came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The compile cache.
    Cache,
    /// The compiler, just now.
    Compiled {
        /// What the operator should know: a cache entry that was rejected,
        /// or one that could not be stored.
        notes: Vec<String>,
    },
}

/// What a component run needs besides the component.
pub(crate) struct RunSpec {
    pub(crate) direction: Direction,
    pub(crate) version: Version,
    pub(crate) checksum: String,
    pub(crate) env: GuestEnv,
    pub(crate) sandbox: Sandbox,
    pub(crate) reporter: Arc<dyn Reporter>,
    pub(crate) transactional: bool,
    /// Written just before the migration's first DDL statement (MySQL).
    pub(crate) ddl_mark: Option<crate::ledger::InterruptedMark>,
    /// Record every statement (plans, `up --expect-plan`).
    pub(crate) trace: bool,
    /// Simulating on an engine that commits DDL implicitly: stop before
    /// the first DDL statement.
    pub(crate) stop_before_ddl: bool,
    /// Report every statement as an event.
    pub(crate) log_sql: bool,
    /// Going down: what the migration's schema operations recorded when it
    /// was applied.
    pub(crate) kept_revert: Option<crate::schema::Revert>,
}

/// The connection, handed back, and how the run went.
pub(crate) struct RunResult {
    pub(crate) db: Box<dyn Backend>,
    /// `Err` holds the reason the migration failed, ready to show.
    pub(crate) outcome: Result<(), String>,
    /// A statement that changes something succeeded.
    pub(crate) wrote: bool,
    /// The DDL mark was written.
    pub(crate) marked: bool,
    /// The digest of the statements and parameters it issued, in order.
    pub(crate) digest: String,
    /// Every statement with its outcome, when asked for.
    pub(crate) trace: Option<crate::plan::Trace>,
    /// A simulation stopped before this DDL statement.
    pub(crate) stopped_before_ddl: Option<String>,
    /// Rows changed by its writes.
    pub(crate) rows_changed: u64,
    /// Going up: what undoes its schema operations, when it ran any.
    pub(crate) revert: Option<crate::schema::Revert>,
}

/// How often the engine's epoch advances: the granularity of the wall-clock
/// limit while a guest computes.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The WASI version whose functions the sandbox replaces (the one
/// wasmtime-wasi links; guests built against earlier 0.2 releases resolve
/// to it).
const WASI_VERSION: &str = "0.2.12";

impl ComponentRuntime {
    /// Builds the engine (deterministic floating point and SIMD, no threads,
    /// fuel metering) and the linker (WASI with nothing ambient, plus the
    /// `wasmig:migration` imports).
    ///
    /// # Errors
    /// Fails only if wasmtime cannot be configured on this machine.
    pub fn new() -> Result<Self, Error> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            // Host imports (SQLite included) run on the guest's fiber stack.
            .async_stack_size(8 << 20);
        let engine = Engine::new(&config).map_err(|e| Error::Runtime(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::Runtime(format!("{e:#}")))?;
        bindings::Migration::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |state| state,
        )
        .map_err(|e| Error::Runtime(format!("{e:#}")))?;
        deny_ambient(&mut linker).map_err(|e| Error::Runtime(format!("{e:#}")))?;
        python_host::add_to_linker(&mut linker).map_err(|e| Error::Runtime(format!("{e:#}")))?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("wasmig-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| Error::Runtime(format!("cannot start the epoch timer: {e}")))?;
        Ok(Self {
            engine,
            linker,
            loaded: std::sync::Mutex::default(),
        })
    }

    /// Opens the compile cache in `dir` for this runtime's engine.
    ///
    /// # Errors
    /// See [`CompileCache::open`].
    pub fn open_cache(&self, dir: &Path) -> Result<CompileCache, CacheUnavailable> {
        CompileCache::open(dir, &self.engine)
    }

    /// Checks that `bytes` are a migration component and compiles them, or
    /// loads what `cache` holds for them (keyed by their sha256). A compiled
    /// component is stored in `cache` for the next run.
    ///
    /// # Errors
    /// [`Error::InvalidComponent`] naming `path` when the bytes are not a
    /// component, target another world, or fail to compile or link.
    pub fn load(
        &self,
        path: &Path,
        bytes: &[u8],
        cache: Option<&CompileCache>,
    ) -> Result<(LoadedComponent, Origin), Error> {
        let invalid = |message: String| Error::InvalidComponent {
            path: path.to_owned(),
            message,
        };
        // Hashed here, from the bytes that compile, so an entry can only
        // ever stand for exactly these bytes.
        let sha256 = crate::source::sha256_hex(bytes);
        let memo = |loaded: &LoadedComponent| {
            let mut memo = self
                .loaded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            memo.insert(sha256.clone(), loaded.clone());
        };
        if let Some(loaded) = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&sha256)
        {
            return Ok((loaded.clone(), Origin::Cache));
        }
        let shape = world::shape(bytes).map_err(invalid)?;
        world::check(&shape).map_err(invalid)?;
        let lookup = cache.map_or(Lookup::Miss, |cache| cache.get(&self.engine, &sha256));
        let (component, origin) = match lookup {
            Lookup::Hit(component) => (component, Origin::Cache),
            Lookup::Miss | Lookup::Rejected(_) => {
                crate::failpoint::hit("compiling");
                let component = Component::new(&self.engine, bytes)
                    .map_err(|e| invalid(format!("cannot be compiled: {e:#}")))?;
                let mut notes = Vec::new();
                if let Lookup::Rejected(why) = lookup {
                    notes.push(why);
                }
                if let Some(cache) = cache
                    && let Err(e) = cache.put(&sha256, &component)
                {
                    notes.push(format!(
                        "cannot store {} in the compile cache {}: {e}",
                        path.display(),
                        cache.dir().display()
                    ));
                }
                (component, Origin::Compiled { notes })
            }
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("cannot be linked into the sandbox: {e:#}")))?;
        let pre = bindings::MigrationPre::new(pre)
            .map_err(|e| invalid(format!("does not match the migration world: {e:#}")))?;
        let loaded = LoadedComponent {
            pre,
            no_transaction: shape.no_transaction,
            uses_schema: shape
                .imports
                .iter()
                .any(|i| i.starts_with("wasmig:migration/schema@")),
            python: None,
        };
        memo(&loaded);
        Ok((loaded, origin))
    }

    /// Runs `up` or `down` of `component` against `db`.
    pub(crate) async fn run(
        &self,
        component: &LoadedComponent,
        db: Box<dyn Backend>,
        spec: RunSpec,
    ) -> RunResult {
        let export = match spec.direction {
            Direction::Up => Export::Up,
            Direction::Down => Export::Down,
        };
        self.call_export(component, db, spec, export).await
    }

    /// Imports a Python migration in the runtime without running it (the
    /// runtime's `check` export): its outcome holds the traceback of a
    /// syntax error or a failed import.
    pub(crate) async fn check_python(
        &self,
        component: &LoadedComponent,
        db: Box<dyn Backend>,
        spec: RunSpec,
    ) -> RunResult {
        self.call_export(component, db, spec, Export::Check).await
    }

    async fn call_export(
        &self,
        component: &LoadedComponent,
        mut db: Box<dyn Backend>,
        spec: RunSpec,
        export: Export,
    ) -> RunResult {
        let limits = spec.sandbox.limits.clone();
        let output_capacity =
            usize::try_from(limits.log_kb.saturating_mul(1024)).unwrap_or(usize::MAX);
        let (wasi, output) = sandbox::wasi_context(spec.version, &spec.checksum, output_capacity);
        let deadline = Instant::now() + limits.timeout;
        // The server stops any statement that would outlive the migration.
        let statement_timeout = limits.statement_timeout.unwrap_or(limits.timeout);
        let armed = db.set_statement_timeout(Some(statement_timeout)).await;
        db.set_deadline(Some(deadline));
        let (direction, version, reporter) = (spec.direction, spec.version, spec.reporter.clone());
        let mut state = guest_state(wasi, db, spec, &limits, deadline);
        state.python.clone_from(&component.python);
        let mut store = self.store(state);
        let result = match (armed, store.set_fuel(limits.fuel)) {
            (Err(e), _) => Err(wasmtime::Error::msg(format!(
                "cannot set the statement timeout: {e}"
            ))),
            (Ok(()), Ok(())) => call(component, &mut store, export).await,
            (Ok(()), Err(e)) => Err(e),
        };
        let mut state = store.into_data();
        state.db.set_deadline(None);
        // Fails only inside a transaction the migration's error aborted,
        // which the rollback that follows resets.
        let _ = state.db.set_statement_timeout(None).await;

        forward_output(&output, &*reporter, version);
        // A full pipe reads as closed to the guest, which then typically
        // panics: the limit is the real reason.
        let output_full = output.stdout.contents().len() >= output_capacity
            || output.stderr.contents().len() >= output_capacity;
        let ran = Ran {
            direction,
            limits: &limits,
            stderr: &output.stderr_text(),
            output_full,
            // The Python runtime's C library reads it at every start.
            env_read: state.env_read && state.python.is_none(),
        };
        let outcome = ran.outcome(result);
        RunResult {
            db: state.db,
            outcome,
            wrote: state.wrote,
            marked: state.marked,
            digest: hex::encode(state.digest.finalize()),
            trace: state.trace,
            stopped_before_ddl: state.stopped_before_ddl,
            rows_changed: state.rows_changed,
            revert: state.schema.revert(),
        }
    }

    /// A store for one run: `state`'s limiter enforces memory and tables,
    /// and the epoch ticks check its deadline.
    fn store(&self, state: GuestState) -> Store<GuestState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().deadline {
                return Err(wasmtime::Error::new(host::timeout_exceeded(
                    store.data().sandbox.limits.timeout,
                )));
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store
    }
}

/// What the guest of one run starts with.
fn guest_state(
    wasi: wasmtime_wasi::WasiCtx,
    db: Box<dyn Backend>,
    spec: RunSpec,
    limits: &Limits,
    deadline: Instant,
) -> GuestState {
    GuestState {
        wasi,
        table: ResourceTable::new(),
        limiter: Limiter::new(limits),
        db,
        env: spec.env,
        version: spec.version,
        reporter: spec.reporter,
        transactional: spec.transactional,
        wrote: false,
        ddl_mark: spec.ddl_mark,
        marked: false,
        sandbox: spec.sandbox,
        digest: Sha256::new(),
        logged: 0,
        read_rows: 0,
        read_bytes: 0,
        deadline,
        env_read: false,
        allowed: std::collections::HashSet::new(),
        trace: spec.trace.then(crate::plan::Trace::default),
        stop_before_ddl: spec.stop_before_ddl,
        stopped_before_ddl: None,
        log_sql: spec.log_sql,
        rows_changed: 0,
        schema: schema_state::SchemaState {
            kept: spec.kept_revert.clone(),
            ..schema_state::SchemaState::default()
        },
        python: None,
    }
}

/// Reports what the guest wrote to stdout (as info) and stderr (as
/// warnings), line by line.
fn forward_output(output: &sandbox::CapturedOutput, reporter: &dyn Reporter, version: Version) {
    for line in output.stdout_text().lines() {
        forward(reporter, version, LogLevel::Info, line);
    }
    for line in output.stderr_text().lines() {
        forward(reporter, version, LogLevel::Warn, line);
    }
}

/// Which export of a component a run calls.
#[derive(Clone, Copy)]
enum Export {
    Up,
    Down,
    /// The Python runtime's `check`.
    Check,
}

async fn call(
    component: &LoadedComponent,
    store: &mut Store<GuestState>,
    export: Export,
) -> wasmtime::Result<Result<(), String>> {
    match export {
        Export::Up => {
            let instance = component.pre.instantiate_async(&mut *store).await?;
            instance.call_up(&mut *store).await
        }
        Export::Down => {
            let instance = component.pre.instantiate_async(&mut *store).await?;
            instance.call_down(&mut *store).await
        }
        Export::Check => python_host::call_check(component.pre.instance_pre(), store).await,
    }
}

fn forward(reporter: &dyn Reporter, version: Version, level: LogLevel, line: &str) {
    reporter.event(&Event::Log {
        version,
        level,
        message: line,
    });
}

/// Replaces the WASI functions that would reach outside the sandbox with
/// ones that stop the migration and name the rule, and records reads of the
/// (empty) process environment.
fn deny_ambient(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let deny = |linker: &mut Linker<GuestState>,
                interface: &str,
                function: &str,
                rule: &'static str,
                what: &'static str|
     -> wasmtime::Result<()> {
        linker
            .instance(&format!("{interface}@{WASI_VERSION}"))?
            .func_new(function, move |_store, _ty, _params, _results| {
                Err(wasmtime::Error::new(SandboxViolation(Violation {
                    rule: rule.into(),
                    message: format!("it tried to {what}, which the sandbox does not allow"),
                })))
            })
    };
    deny(
        linker,
        "wasi:filesystem/preopens",
        "get-directories",
        "no file system",
        "open a file or directory",
    )?;
    deny(
        linker,
        "wasi:sockets/tcp-create-socket",
        "create-tcp-socket",
        "no network",
        "open a TCP socket",
    )?;
    deny(
        linker,
        "wasi:sockets/udp-create-socket",
        "create-udp-socket",
        "no network",
        "open a UDP socket",
    )?;
    deny(
        linker,
        "wasi:sockets/ip-name-lookup",
        "resolve-addresses",
        "no network",
        "look up a host name",
    )?;
    linker
        .instance(&format!("wasi:cli/environment@{WASI_VERSION}"))?
        .func_new(
            "get-environment",
            |mut store, _ty, _params, results: &mut [Val]| {
                store.data_mut().env_read = true;
                if let Some(result) = results.first_mut() {
                    *result = Val::List(Vec::new());
                }
                Ok(())
            },
        )?;
    linker.allow_shadowing(false);
    Ok(())
}
