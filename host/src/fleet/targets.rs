//! Which tenants a fleet has: URLs, SQLite files matching a glob,
//! PostgreSQL schemas matching a pattern, and the rows of a query on a
//! control database. Everything is resolved, and checked, before any
//! tenant runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::backend::{self, DatabaseUrl, Value};
use crate::error::Error;

/// One tenant: a database, or a PostgreSQL schema of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How the tenant is named in output: its URL, password redacted.
    pub label: String,
    /// Where it is.
    pub url: DatabaseUrl,
}

impl Target {
    fn new(url: DatabaseUrl) -> Self {
        Self {
            label: url.to_string(),
            url,
        }
    }
}

/// A query on a control database whose rows are the tenants: a column of
/// URLs, or a column named `schema` of PostgreSQL schemas on the control
/// database itself.
#[derive(Debug, Clone)]
pub struct ControlQuery {
    /// The control database.
    pub url: DatabaseUrl,
    /// The query, e.g. `SELECT url FROM tenants WHERE active`.
    pub sql: String,
}

/// Where a fleet's tenants come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Tenant URLs; a PostgreSQL URL whose `schema=` holds `*` or `?` is
    /// every schema matching it.
    pub urls: Vec<String>,
    /// Patterns of SQLite files, relative to `base`.
    pub sqlite_globs: Vec<String>,
    /// The directory the globs are relative to.
    pub base: PathBuf,
    /// A query on a control database.
    pub query: Option<ControlQuery>,
}

/// The tenants of `sources`, in order: URLs (schema patterns expanded,
/// sorted), SQLite files (sorted), then the query's rows.
///
/// # Errors
/// [`Error::Config`] for a URL that does not parse, a bad pattern, a query
/// returning something that is not a URL, a tenant listed twice, or no
/// tenant at all; [`Error::Unreachable`] when a server holding schema
/// tenants, or the control database, cannot be reached.
pub async fn resolve_targets(sources: &Sources) -> Result<Vec<Target>, Error> {
    let mut targets = Vec::new();
    for url in &sources.urls {
        let parsed = DatabaseUrl::parse(url)
            .map_err(|e| Error::Config(format!("fleet target {url:?}: {e}")))?;
        match parsed.schema() {
            Some(pattern) if pattern.contains(['*', '?']) => {
                targets.extend(matching_schemas(&parsed, &pattern).await?);
            }
            _ => targets.push(Target::new(parsed)),
        }
    }
    for pattern in &sources.sqlite_globs {
        targets.extend(sqlite_files(&sources.base, pattern)?);
    }
    if let Some(query) = &sources.query {
        targets.extend(queried(query).await?);
    }
    let mut seen = BTreeSet::new();
    for target in &targets {
        // One SQLite file named two ways (a glob and a URL, a relative and
        // an absolute path) is one tenant.
        let key = match &target.url {
            DatabaseUrl::Sqlite {
                path: Some(path), ..
            } => std::fs::canonicalize(path).map_or_else(
                |_| target.label.clone(),
                |p| format!("sqlite:{}", p.display()),
            ),
            _ => target.label.clone(),
        };
        if !seen.insert(key) {
            return Err(Error::Config(format!(
                "fleet target {} is listed twice: each tenant must appear once",
                target.label
            )));
        }
    }
    if targets.is_empty() {
        return Err(Error::Config(
            "the fleet has no targets: give --target URL, --sqlite-glob PATTERN or \
             --targets-query SQL, or `targets`/`sqlite_glob`/`targets_query` under [fleet] in \
             wasmig.toml (a pattern that matches nothing counts as none)"
                .into(),
        ));
    }
    Ok(targets)
}

fn sqlite_files(base: &Path, pattern: &str) -> Result<Vec<Target>, Error> {
    let full = base.join(pattern);
    let matches = glob::glob(&full.to_string_lossy())
        .map_err(|e| Error::Config(format!("fleet glob {pattern:?}: {e}")))?;
    let mut files: Vec<_> = matches
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|file| {
            Target::new(DatabaseUrl::Sqlite {
                path: Some(file),
                synchronous: None,
            })
        })
        .collect())
}

/// The schemas of `url`'s database matching `pattern` (`*` any run of
/// characters, `?` one), system schemas left out, sorted by name.
async fn matching_schemas(url: &DatabaseUrl, pattern: &str) -> Result<Vec<Target>, Error> {
    let server = match url {
        DatabaseUrl::Postgres(raw) => DatabaseUrl::Postgres(backend::split_schema(raw).0),
        _ => url.clone(),
    };
    let context = format!("listing the schemas matching {pattern}");
    let mut db = backend::connect(&server)
        .await
        .map_err(crate::database::connecting(&server, &context))?;
    let like = pattern
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
        .replace('*', "%")
        .replace('?', "_");
    let rows = db
        .query(
            "SELECT nspname::text FROM pg_namespace \
             WHERE nspname LIKE $1 AND nspname NOT LIKE 'pg\\_%' \
             AND nspname <> 'information_schema' ORDER BY nspname COLLATE \"C\"",
            &[Value::Text(like)],
        )
        .await
        .map_err(Error::db(context))?;
    Ok(rows
        .rows
        .iter()
        .filter_map(|row| match row.first() {
            Some(Value::Text(name)) => Some(Target::new(url.with_schema(name))),
            _ => None,
        })
        .collect())
}

/// The tenants a control database lists.
async fn queried(query: &ControlQuery) -> Result<Vec<Target>, Error> {
    let control = &query.url;
    let context = "reading the fleet's tenants from the control database";
    let mut db = backend::connect(control)
        .await
        .map_err(crate::database::connecting(control, context))?;
    let rows = db
        .query(&query.sql, &[])
        .await
        .map_err(Error::db(format!("{context} ({})", query.sql)))?;
    let by_schema = rows
        .columns
        .first()
        .is_some_and(|c| c.name.eq_ignore_ascii_case("schema"));
    if by_schema && !matches!(control, DatabaseUrl::Postgres(_)) {
        return Err(Error::Config(format!(
            "the fleet query returns a `schema` column, but the control database {control} is \
             not PostgreSQL: return tenant URLs instead"
        )));
    }
    let mut targets = Vec::with_capacity(rows.rows.len());
    for (i, row) in rows.rows.iter().enumerate() {
        let text = match row.first() {
            Some(Value::Text(text)) => text.trim().to_owned(),
            Some(Value::Bytes(bytes)) => String::from_utf8_lossy(bytes).trim().to_owned(),
            other => format!("{other:?}"),
        };
        let url = if by_schema {
            backend::check_schema_name(&text).map(|()| control.with_schema(&text))
        } else {
            DatabaseUrl::parse(&text)
        };
        let url = url.map_err(|e| {
            Error::Config(format!(
                "the fleet query `{}` returned {text:?} in row {}, which is not a tenant: {e}. \
                 Return one database URL per row (sqlite:…, postgres://…, mysql://…), or name \
                 the column `schema` to return PostgreSQL schemas of the control database",
                query.sql,
                i + 1
            ))
        })?;
        targets.push(Target::new(url));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn targets_resolve_in_order_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.db", "a.db", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let sources = |urls: Vec<String>, globs: Vec<String>| Sources {
            urls,
            sqlite_globs: globs,
            base: dir.path().to_owned(),
            query: None,
        };
        let urls = vec!["postgres://app:secret@db/t1".to_owned()];
        let targets = resolve_targets(&sources(urls.clone(), vec!["*.db".into()]))
            .await
            .unwrap();
        let labels: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels[0], "postgres://app:***@db/t1");
        assert!(
            labels[1].ends_with("/a.db") && labels[2].ends_with("/b.db"),
            "{labels:?}"
        );
        assert_eq!(targets.len(), 3);
        let other_path = format!(
            "sqlite:{}/../{}/a.db",
            dir.path().display(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let err = resolve_targets(&sources(vec![other_path], vec!["*.db".into()]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        let twice = vec![urls[0].clone(), urls[0].clone()];
        let err = resolve_targets(&sources(twice, vec![])).await.unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        let none = resolve_targets(&sources(vec![], vec!["*.none".into()]))
            .await
            .unwrap_err();
        assert!(none.to_string().contains("no targets"), "{none}");
        let bad = resolve_targets(&sources(vec!["nonsense".into()], vec![]))
            .await
            .unwrap_err();
        assert!(
            bad.to_string().contains("fleet target \"nonsense\""),
            "{bad}"
        );
    }

    #[tokio::test]
    async fn a_query_returning_something_else_than_urls_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let control = dir.path().join("control.db");
        let url = format!("sqlite:{}", control.display());
        let mut db = backend::connect(&DatabaseUrl::parse(&url).unwrap())
            .await
            .unwrap();
        db.execute_script(
            "CREATE TABLE tenants (url TEXT, active INT);
             INSERT INTO tenants VALUES ('sqlite:t1.db', 1), ('sqlite:t2.db', 0),
                                        ('tenant-three', 1);",
        )
        .await
        .unwrap();
        let query = |sql: &str| Sources {
            query: Some(ControlQuery {
                url: DatabaseUrl::parse(&url).unwrap(),
                sql: sql.into(),
            }),
            ..Sources::default()
        };
        let active = resolve_targets(&query(
            "SELECT url FROM tenants WHERE active AND url LIKE 'sqlite:%'",
        ))
        .await
        .unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].label, "sqlite:t1.db");
        let err = resolve_targets(&query("SELECT url FROM tenants WHERE active"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"tenant-three\" in row 2"), "{err}");
        assert!(err.contains("not a tenant"), "{err}");
        let schema = resolve_targets(&query("SELECT url AS schema FROM tenants"))
            .await
            .unwrap_err();
        assert!(schema.to_string().contains("not PostgreSQL"), "{schema}");
    }
}
