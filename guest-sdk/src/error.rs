use std::fmt;

use crate::{DbError, ErrorKind};

/// Why a migration failed: a database error, or the migration's own message.
#[derive(Debug, Clone)]
pub enum Error {
    /// The database (or the host's sandbox) refused a statement.
    Db(DbError),
    /// The migration gave up with a message.
    Message(String),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::Message(message.to_string())
    }

    /// The database error, if this is one.
    pub fn as_db(&self) -> Option<&DbError> {
        match self {
            Error::Db(e) => Some(e),
            Error::Message(_) => None,
        }
    }

    /// Whether this is a database error of `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        self.as_db().is_some_and(|e| e.kind == kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Db(e) => {
                write!(f, "{:?}: {}", e.kind, e.message)?;
                if let Some(code) = &e.code {
                    write!(f, " (code {code})")?;
                }
                Ok(())
            }
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::Db(e)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Message(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Message(message.to_owned())
    }
}
