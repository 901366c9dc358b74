use crate::Level;
use crate::bindings::wasmig::migration::env as host;

/// What the operator shares with migrations: the environment's name, the
/// config values they allowed, and the run's log.
pub struct Env {
    _private: (),
}

impl Env {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// The environment's name (`dev`, `staging`, `prod`, ...).
    pub fn name(&self) -> String {
        host::name()
    }

    /// Whether the environment is called `name`.
    pub fn is(&self, name: &str) -> bool {
        self.name() == name
    }

    /// A config value the operator allowed; `None` for any other key.
    pub fn var(&self, key: &str) -> Option<String> {
        host::var(key)
    }

    /// Writes a line to the run's log.
    pub fn log(&self, level: Level, message: &str) {
        host::log(level, message);
    }

    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        host::log(Level::Debug, message);
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        host::log(Level::Info, message);
    }

    /// Logs a warning.
    pub fn warn(&self, message: &str) {
        host::log(Level::Warn, message);
    }

    /// Logs an error.
    pub fn error(&self, message: &str) {
        host::log(Level::Error, message);
    }

    /// Reports progress: `done` of `total` units.
    pub fn progress(&self, done: u64, total: Option<u64>) {
        host::progress(done, total);
    }
}
