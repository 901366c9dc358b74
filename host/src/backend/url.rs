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
///
/// A SQLite URL takes one option, `?synchronous=off|normal|full|extra`
/// (SQLite's `PRAGMA synchronous` for wasmig's connection; the default is
/// SQLite's own, `full`). Other query parameters, such as sqlx's
/// `mode=rwc`, are accepted and ignored, so an application's URL can be
/// used as it is.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file (`None`: an in-memory database).
    Sqlite {
        /// The file; created when missing.
        path: Option<PathBuf>,
        /// How often commits wait for the disk; `None` keeps SQLite's
        /// default (`FULL`).
        synchronous: Option<Synchronous>,
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
            let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
            let mut synchronous = None;
            for (key, value) in query.split('&').filter_map(|p| p.split_once('=')) {
                if key == "synchronous" {
                    synchronous = Some(Synchronous::parse(value).ok_or_else(|| {
                        format!(
                            "unsupported synchronous=`{value}` in the SQLite URL: \
                             use off, normal, full or extra"
                        )
                    })?);
                }
            }
            let path = (!file.is_empty() && file != ":memory:").then(|| PathBuf::from(file));
            return Ok(DatabaseUrl::Sqlite { path, synchronous });
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
            DatabaseUrl::Sqlite { path, synchronous } => {
                match path {
                    None => f.write_str("sqlite::memory:")?,
                    Some(p) => write!(f, "sqlite:{}", p.display())?,
                }
                match synchronous {
                    Some(s) => write!(f, "?synchronous={}", s.as_str()),
                    None => Ok(()),
                }
            }
            DatabaseUrl::Postgres(u) | DatabaseUrl::Mysql(u) => f.write_str(&redact(u)),
        }
    }
}

/// SQLite's `PRAGMA synchronous` levels.
///
/// In the default rollback-journal mode, `Full` syncs the journal twice and
/// the database once per commit; `Normal` syncs the journal once, which is
/// faster and, on an older file system, leaves a small chance that a power
/// cut at the wrong moment corrupts the database. In WAL mode `Normal`
/// skips the sync at commit: a power cut can lose the last commits, never
/// the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    /// No syncs: the operating system decides when data reaches the disk.
    Off,
    /// Syncs at the critical moments only.
    Normal,
    /// SQLite's default.
    Full,
    /// `Full`, plus a sync of the directory after a journal is deleted.
    Extra,
}

impl Synchronous {
    fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "off" | "0" => Some(Self::Off),
            "normal" | "1" => Some(Self::Normal),
            "full" | "2" => Some(Self::Full),
            "extra" | "3" => Some(Self::Extra),
            _ => None,
        }
    }

    /// The pragma's value, as SQLite spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Normal => "normal",
            Self::Full => "full",
            Self::Extra => "extra",
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
                path: Some("app.db".into()),
                synchronous: None,
            })
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db?mode=rwc"),
            Ok(DatabaseUrl::Sqlite {
                path: Some("/tmp/x.db".into()),
                synchronous: None,
            })
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:"),
            Ok(DatabaseUrl::Sqlite {
                path: None,
                synchronous: None
            })
        );
    }

    #[test]
    fn sqlite_synchronous_is_read_and_shown() {
        let url = DatabaseUrl::parse("sqlite:app.db?mode=rwc&synchronous=NORMAL").unwrap();
        assert_eq!(
            url,
            DatabaseUrl::Sqlite {
                path: Some("app.db".into()),
                synchronous: Some(Synchronous::Normal),
            }
        );
        assert_eq!(url.to_string(), "sqlite:app.db?synchronous=normal");
        let err = DatabaseUrl::parse("sqlite:app.db?synchronous=fast").unwrap_err();
        assert!(err.contains("synchronous=`fast`"), "{err}");
        assert!(err.contains("off, normal, full or extra"), "{err}");
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
