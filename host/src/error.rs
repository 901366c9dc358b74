//! The library's error type. Every message names what failed (file, version)
//! and says what to do about it.

use std::path::PathBuf;

use crate::backend::DbError;
use crate::version::Version;

/// Everything that can go wrong in wasmig.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },

    /// An entry of the migrations directory is not a valid migration.
    #[error("{}: {message}", path.display())]
    Source {
        /// The offending entry.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },

    /// Two migrations share a version.
    #[error(
        "version {version} is used twice: {} and {}; give one of them a new version \
         (when two branches were merged, renumber the one that was not applied yet)",
        first.display(),
        second.display()
    )]
    DuplicateVersion {
        /// The version.
        version: Version,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },

    /// The configuration (`wasmig.toml`, flags) is invalid.
    #[error("{0}")]
    Config(String),

    /// A database operation outside any migration failed (connecting, the
    /// ledger).
    #[error("{context}: {error}")]
    Database {
        /// What wasmig was doing.
        context: String,
        /// The database's error.
        error: DbError,
    },

    /// The database could not be reached: its server is down or elsewhere,
    /// the login was refused, or the database does not exist.
    #[error("cannot reach the database {database}: {reason}\n  {hint}")]
    Unreachable {
        /// The database's URL, its password hidden.
        database: String,
        /// The driver's reason.
        reason: String,
        /// What to check.
        hint: String,
    },

    /// The ledger disagrees with the migrations directory in a way that makes
    /// applying unsafe (changed, missing, failed or out-of-order migrations).
    #[error("{0}")]
    Refused(String),

    /// A migration failed; its changes were rolled back.
    #[error("migration {version} ({}) failed: {reason}\n  {hint}", path.display())]
    MigrationFailed {
        /// The migration's version.
        version: Version,
        /// Its file or crate directory.
        path: PathBuf,
        /// What went wrong, including the guest's own message.
        reason: String,
        /// What state the database is in and what to do next.
        hint: String,
    },

    /// A component is not a valid wasmig migration.
    #[error("{}: {message}", path.display())]
    InvalidComponent {
        /// The component file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },

    /// Building guest crates failed.
    #[error("{0}")]
    Build(String),

    /// The WebAssembly engine could not be set up.
    #[error("WebAssembly runtime: {0}")]
    Runtime(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(DbError) -> Error {
        let context = context.into();
        move |error| Error::Database { context, error }
    }
}
