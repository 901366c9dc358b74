//! Database URLs: which backend to open, and how to show the URL without
//! leaking its password.

use std::fmt;
use std::path::PathBuf;

use super::Dialect;

/// A parsed database URL.
///
/// Accepted forms: `sqlite:path/to.db`, `sqlite://path/to.db`,
/// `sqlite::memory:`, `postgres://…` / `postgresql://…`,
/// `mysql://…` / `mariadb://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file (`None`: an in-memory database).
    Sqlite {
        /// The file; created when missing.
        path: Option<PathBuf>,
    },
    /// A PostgreSQL server URL.
    Postgres(String),
    /// A MySQL or MariaDB server URL.
    Mysql(String),
}

impl DatabaseUrl {
    /// Parses a URL.
    ///
    /// # Errors
    /// Returns a message naming the accepted schemes when `url` has none of them.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let rest = rest.split('?').next().unwrap_or_default();
            return Ok(if rest.is_empty() || rest == ":memory:" {
                DatabaseUrl::Sqlite { path: None }
            } else {
                DatabaseUrl::Sqlite {
                    path: Some(PathBuf::from(rest)),
                }
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            return Ok(DatabaseUrl::Mysql(url.to_owned()));
        }
        Err(format!(
            "unsupported database URL `{}`: use sqlite:<file>, postgres://… or mysql://…",
            redact(url)
        ))
    }

    /// The dialect this URL connects to.
    pub fn dialect(&self) -> Dialect {
        match self {
            DatabaseUrl::Sqlite { .. } => Dialect::Sqlite,
            DatabaseUrl::Postgres(_) => Dialect::Postgres,
            DatabaseUrl::Mysql(_) => Dialect::Mysql,
        }
    }
}

/// Shows the URL with any password replaced by `***`.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite { path: None } => f.write_str("sqlite::memory:"),
            DatabaseUrl::Sqlite { path: Some(p) } => write!(f, "sqlite:{}", p.display()),
            DatabaseUrl::Postgres(u) | DatabaseUrl::Mysql(u) => f.write_str(&redact(u)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..authority_start],
            &authority[..colon],
            &url[authority_start + at..]
        ),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_forms_parse_to_a_path_or_memory() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:app.db"),
            Ok(DatabaseUrl::Sqlite {
                path: Some("app.db".into())
            })
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db?mode=rwc"),
            Ok(DatabaseUrl::Sqlite {
                path: Some("/tmp/x.db".into())
            })
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:"),
            Ok(DatabaseUrl::Sqlite { path: None })
        );
    }

    #[test]
    fn unknown_scheme_is_refused_without_leaking_the_password() {
        let err = DatabaseUrl::parse("oracle://scott:tiger@db/x").unwrap_err();
        assert!(err.contains("oracle://scott:***@db/x"), "{err}");
        assert!(!err.contains("tiger"));
    }

    #[test]
    fn display_redacts_the_password() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/app").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/app");
        let url = DatabaseUrl::parse("mysql://root@localhost/test").unwrap();
        assert_eq!(url.to_string(), "mysql://root@localhost/test");
    }
}
