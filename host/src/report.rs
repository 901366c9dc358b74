//! What a run reports while it works: the seam between the library and
//! whatever shows progress (the CLI, an application's log).
//!
//! [`Tracing`] turns a run's events into `tracing` events for applications
//! that log that way; the library never installs a subscriber itself.

use std::time::Duration;

use crate::source::Version;

/// Which way a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Applying (`up`).
    Up,
    /// Reverting (`down`).
    Down,
}

/// A log line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Detailed.
    Debug,
    /// Normal.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The level's name: `trace`, `debug`, `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// The `tracing` target of the lines migrations log (with a `version`
/// field): `RUST_LOG=wasmig::migration=debug` selects them alone.
pub const MIGRATION_TARGET: &str = "wasmig::migration";

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Guest crates are being built.
    Building {
        /// How many crates.
        crates: usize,
    },
    /// The Python runtime is being built.
    BuildingPython {
        /// The componentize-py that builds it.
        tool: &'a str,
    },
    /// The components a run needs were loaded, before any of them ran.
    Loaded {
        /// How many came precompiled from the compile cache.
        from_cache: usize,
        /// How many were compiled.
        compiled: usize,
        /// How long loading took, in all.
        elapsed: Duration,
    },
    /// Something the operator should know that does not stop the run.
    Warning {
        /// What, and what to do.
        message: &'a str,
    },
    /// A migration starts.
    Started {
        /// Its version.
        version: Version,
        /// Its name.
        name: &'a str,
        /// Up or down.
        direction: Direction,
    },
    /// A migration logged a line (through `env.log`, stdout or stderr).
    Log {
        /// The migration's version.
        version: Version,
        /// The level.
        level: LogLevel,
        /// The line.
        message: &'a str,
    },
    /// A migration reported progress.
    Progress {
        /// The migration's version.
        version: Version,
        /// Units done.
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
    },
    /// A migration issues a statement (reported when the migrator was asked
    /// to log SQL).
    Statement {
        /// The migration's version.
        version: Version,
        /// The statement.
        sql: &'a str,
    },
    /// A migration finished and was committed.
    Finished {
        /// Its version.
        version: Version,
        /// Its name.
        name: &'a str,
        /// Up or down.
        direction: Direction,
        /// How long it took.
        elapsed: Duration,
    },
}

/// Receives [`Event`]s. Must be cheap: it is called from the migration's path.
pub trait Reporter: Send + Sync {
    /// Handles one event.
    fn event(&self, event: &Event<'_>);
}

/// A reporter that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _event: &Event<'_>) {}
}

/// A reporter that emits every event as a `tracing` event, to whatever
/// subscriber the application installed: what migrations log at its own
/// level under [`MIGRATION_TARGET`], warnings at `warn`, the run's steps at
/// `info`, progress and statements at `debug` (under `wasmig::report`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tracing;

impl Reporter for Tracing {
    fn event(&self, event: &Event<'_>) {
        match *event {
            Event::Log {
                version,
                level,
                message,
            } => log_line(version, level, message),
            Event::Warning { message } => tracing::warn!("{message}"),
            Event::Building { crates } => tracing::info!(crates, "building guest crates"),
            Event::BuildingPython { tool } => tracing::info!(tool, "building the Python runtime"),
            Event::Loaded {
                from_cache,
                compiled,
                elapsed,
            } => tracing::info!(
                compiled,
                from_cache,
                elapsed_ms = elapsed.as_millis(),
                "components loaded"
            ),
            Event::Started {
                version,
                name,
                direction,
            } => tracing::info!(version, name, ?direction, "migration started"),
            Event::Progress {
                version,
                done,
                total,
            } => tracing::debug!(version, done, total, "migration progress"),
            Event::Statement { version, sql } => tracing::debug!(version, sql, "statement"),
            Event::Finished {
                version,
                name,
                direction,
                elapsed,
            } => tracing::info!(
                version,
                name,
                ?direction,
                elapsed_ms = elapsed.as_millis(),
                "migration finished"
            ),
        }
    }
}

/// A line a migration logged, at its level.
fn log_line(version: Version, level: LogLevel, message: &str) {
    match level {
        LogLevel::Trace => tracing::trace!(target: MIGRATION_TARGET, version, "{message}"),
        LogLevel::Debug => tracing::debug!(target: MIGRATION_TARGET, version, "{message}"),
        LogLevel::Info => tracing::info!(target: MIGRATION_TARGET, version, "{message}"),
        LogLevel::Warn => tracing::warn!(target: MIGRATION_TARGET, version, "{message}"),
        LogLevel::Error => tracing::error!(target: MIGRATION_TARGET, version, "{message}"),
    }
}
