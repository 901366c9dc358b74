//! SQLite's errors as [`DbError`]s, classified by result code.

use rusqlite::ErrorCode;

use crate::backend::{DbError, DbErrorKind};

/// Maps a rusqlite error to a [`DbError`].
pub(super) fn to_db_error(err: rusqlite::Error) -> DbError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let kind = match failure.code {
                ErrorCode::ConstraintViolation => DbErrorKind::Constraint,
                ErrorCode::PermissionDenied
                | ErrorCode::AuthorizationForStatementDenied
                | ErrorCode::ReadOnly => DbErrorKind::PermissionDenied,
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbErrorKind::Timeout,
                ErrorCode::OperationInterrupted => DbErrorKind::Timeout,
                ErrorCode::CannotOpen | ErrorCode::NotADatabase => DbErrorKind::Connection,
                ErrorCode::TooBig => DbErrorKind::Limit,
                ErrorCode::Unknown => DbErrorKind::Syntax,
                _ => DbErrorKind::Other,
            };
            DbError {
                kind,
                code: Some(failure.extended_code.to_string()),
                message: message.clone().unwrap_or_else(|| err.to_string()),
            }
        }
        rusqlite::Error::SqlInputError { msg, sql, .. } => {
            DbError::new(DbErrorKind::Syntax, format!("{msg} in `{}`", sql.trim()))
        }
        rusqlite::Error::InvalidParameterCount(given, expected) => DbError::new(
            DbErrorKind::Syntax,
            format!("the statement takes {expected} parameters, {given} were given"),
        ),
        rusqlite::Error::MultipleStatement => DbError::new(
            DbErrorKind::Syntax,
            "several statements in one `execute`; use `execute-script` for scripts",
        ),
        _ => DbError::new(DbErrorKind::Other, err.to_string()),
    }
}
