//! What a run reports while it works: the seam between the library and
//! whatever shows progress (the CLI, an application's log).

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

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Guest crates are being built.
    Building {
        /// How many crates.
        crates: usize,
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
