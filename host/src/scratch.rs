//! Scratch databases: created to learn what a set of migrations or schema
//! files produces, and thrown away.
//!
//! - SQLite: a file in a temporary directory, deleted with it.
//! - PostgreSQL, MySQL, MariaDB: a database `wasmig_scratch_<unix time>_<random>`
//!   on the live database's server. The time in the name lets the next run
//!   sweep one a killed process left behind (older than an hour).
//! - A database the user names (`--dev-url`): it must be empty; wasmig
//!   empties it again afterwards and never drops it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Executor, Row};

use crate::backend::{self, DatabaseUrl, DbError, mysql_error, postgres_error};
use crate::database::{self, mysql_maintenance, postgres_maintenance, quote};
use crate::error::Error;
use crate::schema;

/// The prefix of every scratch database's name.
pub const PREFIX: &str = "wasmig_scratch_";

/// Scratch databases older than this are swept by the next run.
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

/// A database that exists for one command.
#[derive(Debug)]
pub struct Scratch {
    url: DatabaseUrl,
    owner: Owner,
}

#[derive(Debug)]
enum Owner {
    /// A SQLite file in this directory, deleted with it.
    File(tempfile::TempDir),
    /// A database wasmig created on the server, dropped by wasmig.
    Server,
    /// The user's dev database, emptied afterwards.
    User,
}

impl Scratch {
    /// A scratch database beside `live` (same engine, same server), or the
    /// empty database `dev` when given. Sweeps scratch databases a killed
    /// run left on the server.
    ///
    /// # Errors
    /// [`Error::Refused`] when the server will not let this user create a
    /// database, or `dev` is not empty; [`Error::Unreachable`] when the
    /// server cannot be reached.
    pub async fn create(live: &DatabaseUrl, dev: Option<&DatabaseUrl>) -> Result<Self, Error> {
        if let Some(dev) = dev {
            return Self::user(live, dev).await;
        }
        match live {
            DatabaseUrl::Sqlite { .. } => {
                let dir = tempfile::Builder::new()
                    .prefix(PREFIX)
                    .tempdir()
                    .map_err(Error::io(std::env::temp_dir()))?;
                let url = DatabaseUrl::Sqlite {
                    path: Some(dir.path().join("scratch.db")),
                    synchronous: Some(crate::backend::Synchronous::Off),
                };
                Ok(Self {
                    url,
                    owner: Owner::File(dir),
                })
            }
            DatabaseUrl::Postgres(raw) | DatabaseUrl::Mysql(raw) => {
                sweep(live).await?;
                let name = fresh_name()?;
                let url = match live {
                    // A tenant's `schema=` stays behind: the scratch database
                    // replays into its own default schema.
                    DatabaseUrl::Postgres(_) => DatabaseUrl::Postgres(with_database(
                        &crate::backend::split_schema(raw).0,
                        &name,
                    )),
                    _ => DatabaseUrl::Mysql(with_database(raw, &name)),
                };
                create_on_server(&url, &name).await?;
                Ok(Self {
                    url,
                    owner: Owner::Server,
                })
            }
        }
    }

    async fn user(live: &DatabaseUrl, dev: &DatabaseUrl) -> Result<Self, Error> {
        if dev == live {
            return Err(Error::Config(format!(
                "--dev-url names the live database {live}: give an empty database of its own, \
                 which wasmig fills and empties again"
            )));
        }
        if dev.dialect() != live.dialect() {
            return Err(Error::Config(format!(
                "--dev-url {dev} is not the same engine as the database {live}: give a \
                 database on a {} server",
                live.dialect()
            )));
        }
        let mut db = connect(dev).await?;
        let found = schema::introspect(db.as_mut(), None)
            .await
            .map_err(Error::db(format!("reading the schema of {dev}")))?;
        let ledger = crate::ledger::exists(db.as_mut()).await?;
        if !found.tables.is_empty() || ledger {
            return Err(Error::Refused(format!(
                "the dev database {dev} is not empty: wasmig replays migrations there and \
                 empties it afterwards, so it must hold nothing. Empty it with `wasmig schema \
                 drop --database-url <it>`, or name another one"
            )));
        }
        Ok(Self {
            url: dev.clone(),
            owner: Owner::User,
        })
    }

    /// The scratch database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Its name on the server (or its file), as `-v` shows it.
    pub fn name(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite { path, .. } => path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            DatabaseUrl::Postgres(raw) | DatabaseUrl::Mysql(raw) => database_of(raw).to_owned(),
        }
    }

    /// Drops the database (or empties the user's).
    ///
    /// # Errors
    /// When the server refuses; the next run sweeps what is left.
    pub async fn drop(self) -> Result<(), Error> {
        match self.owner {
            Owner::File(dir) => dir.close().map_err(Error::io(std::env::temp_dir())),
            Owner::Server => database::drop(&self.url).await.map(|_| ()),
            Owner::User => {
                let mut db = connect(&self.url).await?;
                schema::clean::drop_everything(db.as_mut(), None)
                    .await
                    .map(|_| ())
                    .map_err(Error::db(format!("emptying the dev database {}", self.url)))
            }
        }
    }
}

async fn connect(url: &DatabaseUrl) -> Result<Box<dyn backend::Backend>, Error> {
    let context = format!("connecting to {url}");
    backend::connect(url)
        .await
        .map_err(database::connecting(url, &context))
}

/// `wasmig_scratch_<unix seconds>_<8 random hex digits>`.
fn fresh_name() -> Result<String, Error> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Runtime(format!("cannot draw a random name: {e}")))?;
    Ok(format!(
        "{PREFIX}{}_{}",
        unix_now().as_secs(),
        hex::encode(bytes)
    ))
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Whether the scratch database `name` was made more than an hour ago.
fn abandoned(name: &str, now: Duration) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let Some((secs, _)) = rest.split_once('_') else {
        return false;
    };
    secs.parse::<u64>()
        .is_ok_and(|made| now.as_secs().saturating_sub(made) > ABANDONED_AFTER.as_secs())
}

/// `raw` with its database name (the URL's path) replaced by `name`.
fn with_database(raw: &str, name: &str) -> String {
    let authority = raw.find("://").map_or(0, |i| i + 3);
    let (base, query) = match raw.find('?') {
        Some(q) => (&raw[..q], &raw[q..]),
        None => (raw, ""),
    };
    let host_end = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// The database name in a server URL.
fn database_of(raw: &str) -> &str {
    let authority = raw.find("://").map_or(0, |i| i + 3);
    let base = raw.split('?').next().unwrap_or(raw);
    base[authority..]
        .find('/')
        .map_or("", |i| &base[authority + i + 1..])
}

async fn create_on_server(url: &DatabaseUrl, name: &str) -> Result<(), Error> {
    let refused = |e: DbError| {
        // PostgreSQL 42501, MySQL 1044: this user may not create databases.
        if matches!(e.code.as_deref(), Some("42501" | "1044")) {
            Error::Refused(format!(
                "the server of {url} refused to create the scratch database {name} ({}): \
                 grant this user the right to create databases (PostgreSQL: ALTER ROLE … \
                 CREATEDB; MySQL: GRANT CREATE, DROP ON `wasmig_scratch_%`.*), or name an \
                 empty database wasmig may use with --dev-url",
                e.message
            ))
        } else {
            Error::db(format!("creating the scratch database {name}"))(e)
        }
    };
    match url {
        DatabaseUrl::Postgres(raw) => {
            let (mut conn, _) = postgres_maintenance(url, raw).await?;
            let sql = format!("CREATE DATABASE {}", quote(name, '"'));
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(|e| refused(postgres_error(e)))?;
        }
        DatabaseUrl::Mysql(raw) => {
            let (mut conn, _) = mysql_maintenance(url, raw).await?;
            let sql = format!("CREATE DATABASE {}", quote(name, '`'));
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(|e| refused(mysql_error(e)))?;
        }
        DatabaseUrl::Sqlite { .. } => {}
    }
    Ok(())
}

/// Drops the scratch databases on `live`'s server that a killed run left
/// behind. Best effort: one that cannot be dropped now is tried next time.
async fn sweep(live: &DatabaseUrl) -> Result<(), Error> {
    let now = unix_now();
    let names: Vec<String> = match live {
        DatabaseUrl::Postgres(raw) => {
            let (mut conn, _) = postgres_maintenance(live, raw).await?;
            sqlx::query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
                .bind(PREFIX)
                .fetch_all(&mut conn)
                .await
                .map_err(|e| Error::db("listing scratch databases")(postgres_error(e)))?
                .iter()
                .filter_map(|r| r.try_get::<String, _>(0).ok())
                .collect()
        }
        DatabaseUrl::Mysql(raw) => {
            let (mut conn, _) = mysql_maintenance(live, raw).await?;
            sqlx::query(
                "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata \
                 WHERE LEFT(schema_name, CHAR_LENGTH(?)) = ?",
            )
            .bind(PREFIX)
            .bind(PREFIX)
            .fetch_all(&mut conn)
            .await
            .map_err(|e| Error::db("listing scratch databases")(mysql_error(e)))?
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect()
        }
        DatabaseUrl::Sqlite { .. } => Vec::new(),
    };
    for name in names.iter().filter(|n| abandoned(n, now)) {
        let url = match live {
            DatabaseUrl::Postgres(raw) => DatabaseUrl::Postgres(with_database(raw, name)),
            DatabaseUrl::Mysql(raw) => DatabaseUrl::Mysql(with_database(raw, name)),
            DatabaseUrl::Sqlite { .. } => continue,
        };
        tracing::info!("dropping the scratch database {name}, left behind by an earlier run");
        let _ = database::drop(&url).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "s"),
            "postgres://u:p@h:5432/s?sslmode=disable"
        );
        assert_eq!(with_database("mysql://root@h", "s"), "mysql://root@h/s");
        assert_eq!(database_of("postgres://u@h/app?x=1"), "app");
        assert_eq!(database_of("mysql://root@h"), "");
    }

    #[test]
    fn only_scratch_databases_older_than_an_hour_are_abandoned() {
        let now = Duration::from_secs(1_000_000);
        assert!(abandoned("wasmig_scratch_990000_ab12cd34", now));
        assert!(!abandoned("wasmig_scratch_999000_ab12cd34", now));
        assert!(!abandoned("wasmig_scratch_x_ab12cd34", now));
        assert!(!abandoned("app", now));
    }
}
