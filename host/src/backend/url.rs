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
            if let Some(schema) = split_schema(url).1 {
                check_schema_name(&schema)?;
            }
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            if split_schema(url).1.is_some() {
                return Err(format!(
                    "`schema=` in `{}` applies to PostgreSQL only: on MySQL and MariaDB a \
                     schema is a database, so name it in the URL's path",
                    redact(url)
                ));
            }
            return Ok(DatabaseUrl::Mysql(url.to_owned()));
        }
        Err(format!(
            "unsupported database URL `{}`: use sqlite:<file>, postgres://… or mysql://…",
            redact(url)
        ))
    }

    /// The PostgreSQL schema the URL's `?schema=` names: the tenant's
    /// schema, where its ledger, lock and unqualified names live.
    pub fn schema(&self) -> Option<String> {
        match self {
            DatabaseUrl::Postgres(raw) => split_schema(raw).1,
            _ => None,
        }
    }

    /// This PostgreSQL URL with `?schema=` set to `schema` (any earlier
    /// one replaced).
    #[must_use]
    pub fn with_schema(&self, schema: &str) -> Self {
        match self {
            DatabaseUrl::Postgres(raw) => {
                let (base, _) = split_schema(raw);
                let mut url = match url::Url::parse(&base) {
                    Ok(url) => url,
                    Err(_) => return self.clone(),
                };
                url.query_pairs_mut().append_pair("schema", schema);
                DatabaseUrl::Postgres(url.to_string())
            }
            _ => self.clone(),
        }
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

/// Splits wasmig's own `schema` parameter off a server URL: the URL the
/// driver sees, and the schema (percent-decoded), if any.
pub(crate) fn split_schema(raw: &str) -> (String, Option<String>) {
    let Ok(mut url) = url::Url::parse(raw) else {
        return (raw.to_owned(), None);
    };
    let mut schema = None;
    let rest: Vec<(String, String)> = url
        .query_pairs()
        .filter_map(|(key, value)| {
            if key == "schema" {
                schema = Some(value.into_owned());
                None
            } else {
                Some((key.into_owned(), value.into_owned()))
            }
        })
        .collect();
    if schema.is_none() {
        return (raw.to_owned(), None);
    }
    if rest.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(rest);
    }
    (url.to_string(), schema)
}

/// A schema name wasmig can put in `search_path` and in messages: letters,
/// digits, `_`, `$` and `-`, at most 63 bytes (PostgreSQL's limit). A `*`
/// or `?` makes it a pattern (a fleet target naming many schemas).
pub(crate) fn check_schema_name(name: &str) -> Result<(), String> {
    let fits = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '-' | '*' | '?'));
    if fits {
        Ok(())
    } else {
        Err(format!(
            "schema=`{name}` is not a schema wasmig can use: letters, digits, `_`, `$` and \
             `-`, at most 63 bytes (`*` and `?` match many schemas in a fleet target)"
        ))
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
    fn a_postgres_schema_is_read_set_and_kept_from_the_driver() {
        let url = DatabaseUrl::parse("postgres://u@h/app?sslmode=disable&schema=t_1").unwrap();
        assert_eq!(url.schema().as_deref(), Some("t_1"));
        let (driver, schema) = split_schema("postgres://u@h/app?sslmode=disable&schema=t_1");
        assert_eq!(driver, "postgres://u@h/app?sslmode=disable");
        assert_eq!(schema.as_deref(), Some("t_1"));
        assert_eq!(
            split_schema("postgres://u@h/app?schema=x").0,
            "postgres://u@h/app"
        );
        let other = url.with_schema("t_2");
        assert_eq!(other.schema().as_deref(), Some("t_2"));
        assert!(other.to_string().contains("sslmode=disable"), "{other}");
        assert_eq!(
            DatabaseUrl::parse("postgres://h/app").unwrap().schema(),
            None
        );
        let bad = DatabaseUrl::parse("postgres://h/app?schema=a;drop").unwrap_err();
        assert!(bad.contains("schema=`a;drop`"), "{bad}");
        let mysql = DatabaseUrl::parse("mysql://h/app?schema=x").unwrap_err();
        assert!(mysql.contains("PostgreSQL only"), "{mysql}");
    }

    #[test]
    fn display_redacts_the_password() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/app").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/app");
        let url = DatabaseUrl::parse("mysql://root@localhost/test").unwrap();
        assert_eq!(url.to_string(), "mysql://root@localhost/test");
    }
}
