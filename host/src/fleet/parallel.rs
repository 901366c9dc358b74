//! How many tenants run at once when the operator does not say.

use std::collections::BTreeMap;

use super::Target;
use crate::backend::{self, DatabaseUrl, Value};

/// The most tenants run at once by default.
const MAX_DEFAULT: usize = 32;

/// A parallelism that keeps well inside every server's connection limit:
/// each tenant holds two connections (its lock and its work), and the
/// fleet takes at most half of the connections a server has free when the
/// run starts (at most [`MAX_DEFAULT`] tenants, at least one). SQLite
/// tenants are files, and a tenant spends most of its run waiting for the
/// disk to sync each commit: eight per core, at most [`MAX_DEFAULT`] (with
/// 600 files on two cores, 16 at once took 2.5–3.0 s where 4 took 3.6 s).
pub async fn default_parallel(targets: &[Target]) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let mut servers: BTreeMap<String, &DatabaseUrl> = BTreeMap::new();
    for target in targets {
        if let Some(server) = server_of(&target.url) {
            servers.entry(server).or_insert(&target.url);
        }
    }
    if servers.is_empty() {
        return (cores * 8).clamp(2, MAX_DEFAULT);
    }
    let mut parallel = MAX_DEFAULT;
    for url in servers.values() {
        // A server that cannot be asked is left to its tenants' own
        // connections, which report it.
        if let Some(free) = free_connections(url).await {
            parallel = parallel.min((free / 4).max(1));
        }
    }
    parallel
}

/// `scheme://host:port` of a server URL.
fn server_of(url: &DatabaseUrl) -> Option<String> {
    let raw = match url {
        DatabaseUrl::Postgres(raw) | DatabaseUrl::Mysql(raw) => raw,
        DatabaseUrl::Sqlite { .. } => return None,
    };
    let parsed = url::Url::parse(raw).ok()?;
    Some(format!(
        "{}://{}:{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or("localhost"),
        parsed.port().unwrap_or(0)
    ))
}

/// How many more connections the server accepts now (for an ordinary
/// user, past PostgreSQL's reserved ones).
async fn free_connections(url: &DatabaseUrl) -> Option<usize> {
    let sql = match url {
        DatabaseUrl::Postgres(_) => {
            "SELECT (current_setting('max_connections')::int \
             - current_setting('superuser_reserved_connections')::int \
             - (SELECT count(*) FROM pg_stat_activity)::int)::bigint"
        }
        DatabaseUrl::Mysql(_) => {
            "SELECT CAST(@@max_connections - \
             (SELECT COUNT(*) FROM information_schema.processlist) AS SIGNED)"
        }
        DatabaseUrl::Sqlite { .. } => return None,
    };
    // A schema tenant's URL names its schema; the server is asked outside it.
    let server = match url {
        DatabaseUrl::Postgres(raw) => DatabaseUrl::Postgres(backend::split_schema(raw).0),
        other => other.clone(),
    };
    let mut db = backend::connect(&server).await.ok()?;
    let rows = db.query(sql, &[]).await.ok()?;
    match rows.rows.first()?.first()? {
        Value::Int(n) => usize::try_from(*n).ok(),
        Value::Decimal(text) | Value::Text(text) => text.parse().ok(),
        _ => None,
    }
}
