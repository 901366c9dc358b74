//! The component runtime: one wasmtime engine and linker per process, and
//! the run of one migration component inside its sandbox.

mod convert;
mod host;
mod limits;
mod sandbox;
pub mod world;

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap};

use self::host::GuestState;
pub use self::host::{CursorHandle, GuestEnv, TransactionEnded};
use self::limits::Limiter;
pub use self::limits::{LimitExceeded, Limits};
pub use self::sandbox::{OUTPUT_CAPACITY, migration_instant};
use crate::backend::Backend;
use crate::error::Error;
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
}

/// A compiled migration component, ready to instantiate.
pub struct LoadedComponent {
    pre: bindings::MigrationPre<GuestState>,
    no_transaction: bool,
}

impl LoadedComponent {
    /// Whether the component runs inside the host's transaction (it does
    /// unless it opted out).
    pub fn transactional(&self) -> bool {
        !self.no_transaction
    }
}

/// What a component run needs besides the component.
pub(crate) struct RunSpec {
    pub(crate) direction: Direction,
    pub(crate) version: Version,
    pub(crate) checksum: String,
    pub(crate) env: GuestEnv,
    pub(crate) limits: Limits,
    pub(crate) reporter: Arc<dyn Reporter>,
    pub(crate) transactional: bool,
    /// Written just before the migration's first DDL statement (MySQL).
    pub(crate) ddl_mark: Option<crate::ledger::InterruptedMark>,
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
}

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
        Ok(Self { engine, linker })
    }

    /// Checks that `bytes` are a migration component and compiles them.
    ///
    /// # Errors
    /// [`Error::InvalidComponent`] naming `path` when the bytes are not a
    /// component, target another world, or fail to compile or link.
    pub fn load(&self, path: &Path, bytes: &[u8]) -> Result<LoadedComponent, Error> {
        let invalid = |message: String| Error::InvalidComponent {
            path: path.to_owned(),
            message,
        };
        let shape = world::shape(bytes).map_err(invalid)?;
        world::check(&shape).map_err(invalid)?;
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| invalid(format!("cannot be compiled: {e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("cannot be linked into the sandbox: {e:#}")))?;
        let pre = bindings::MigrationPre::new(pre)
            .map_err(|e| invalid(format!("does not match the migration world: {e:#}")))?;
        Ok(LoadedComponent {
            pre,
            no_transaction: shape.no_transaction,
        })
    }

    /// Runs `up` or `down` of `component` against `db`.
    pub(crate) async fn run(
        &self,
        component: &LoadedComponent,
        db: Box<dyn Backend>,
        spec: RunSpec,
    ) -> RunResult {
        let (wasi, output) = sandbox::wasi_context(spec.version, &spec.checksum);
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(&spec.limits),
            db,
            env: spec.env,
            version: spec.version,
            reporter: spec.reporter.clone(),
            transactional: spec.transactional,
            wrote: false,
            ddl_mark: spec.ddl_mark,
            marked: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let result = match store.set_fuel(spec.limits.fuel) {
            Ok(()) => call(component, &mut store, spec.direction).await,
            Err(e) => Err(e),
        };
        let state = store.into_data();

        for line in output.stdout_text().lines() {
            forward(&*spec.reporter, spec.version, LogLevel::Info, line);
        }
        let stderr = output.stderr_text();
        for line in stderr.lines() {
            forward(&*spec.reporter, spec.version, LogLevel::Warn, line);
        }
        let export = match spec.direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        let outcome = match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(format!("`{export}` returned an error: {message}")),
            Err(trap) => Err(describe_trap(&trap, &spec.limits, &stderr)),
        };
        RunResult {
            db: state.db,
            outcome,
            wrote: state.wrote,
            marked: state.marked,
        }
    }
}

async fn call(
    component: &LoadedComponent,
    store: &mut Store<GuestState>,
    direction: Direction,
) -> wasmtime::Result<Result<(), String>> {
    let instance = component.pre.instantiate_async(&mut *store).await?;
    match direction {
        Direction::Up => instance.call_up(&mut *store).await,
        Direction::Down => instance.call_down(&mut *store).await,
    }
}

fn forward(reporter: &dyn Reporter, version: Version, level: LogLevel, line: &str) {
    reporter.event(&Event::Log {
        version,
        level,
        message: line,
    });
}

/// Explains a trap: which limit or rule stopped the guest, or the guest's own
/// panic message from its stderr.
fn describe_trap(trap: &wasmtime::Error, limits: &Limits, stderr: &str) -> String {
    if let Some(limit) = trap.downcast_ref::<LimitExceeded>() {
        return format!("stopped: {limit}");
    }
    if let Some(ended) = trap.downcast_ref::<TransactionEnded>() {
        return ended.to_string();
    }
    if trap.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return format!(
            "stopped: it used its whole CPU budget of {} fuel units (an endless loop?); if it \
             legitimately needs more, raise `fuel` under [limits] in wasmig.toml",
            limits.fuel
        );
    }
    let mut reason = format!("trapped: {}", root_message(trap));
    let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
    if !tail.is_empty() {
        reason.push_str("\n  guest output:");
        for line in tail.into_iter().rev() {
            reason.push_str("\n    ");
            reason.push_str(line);
        }
    }
    reason
}

fn root_message(err: &wasmtime::Error) -> String {
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return trap.to_string();
    }
    err.chain()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}
