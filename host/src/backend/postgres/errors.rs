//! PostgreSQL's errors as [`DbError`]s, classified by SQLSTATE.

use crate::backend::{DbError, DbErrorKind};

/// Maps a sqlx error to a [`DbError`], classifying PostgreSQL's SQLSTATE.
pub(crate) fn to_db_error(err: sqlx::Error) -> DbError {
    match &err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned());
            let kind = match code.as_deref() {
                Some(c) if c.starts_with("23") => DbErrorKind::Constraint,
                Some("42501") => DbErrorKind::PermissionDenied,
                Some(c) if c.starts_with("42") => DbErrorKind::Syntax,
                Some("57014" | "55P03") => DbErrorKind::Timeout,
                Some(c) if c.starts_with("08") => DbErrorKind::Connection,
                Some(c) if c.starts_with("53") || c.starts_with("54") => DbErrorKind::Limit,
                _ => DbErrorKind::Other,
            };
            DbError {
                kind,
                code,
                message: db.message().to_owned(),
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            DbError::new(DbErrorKind::Connection, err.to_string())
        }
        _ => DbError::new(DbErrorKind::Other, err.to_string()),
    }
}
