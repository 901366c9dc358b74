//! Creating the ledger's tables, and upgrading a ledger an earlier wasmig
//! wrote.

use super::{HISTORY, PAYLOADS, TABLE};
use crate::backend::{Backend, Dialect, Value};
use crate::error::Error;

fn create_table_sql(dialect: Dialect) -> String {
    let (text, big) = match dialect {
        Dialect::Sqlite => ("TEXT", "INTEGER"),
        Dialect::Postgres => ("TEXT", "BIGINT"),
        Dialect::Mysql => ("VARCHAR(255)", "BIGINT"),
    };
    let long_text = match dialect {
        Dialect::Mysql => "LONGTEXT",
        _ => "TEXT",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
            version      {big} PRIMARY KEY,
            name         {text} NOT NULL,
            kind         {text} NOT NULL,
            checksum     {text} NOT NULL,
            state        {text} NOT NULL,
            applied_at   {text} NOT NULL,
            execution_ms {big} NOT NULL,
            environment  {text} NOT NULL,
            error        {long_text},
            statements_digest {text}
        )"
    )
}

fn create_payloads_sql(dialect: Dialect) -> String {
    let (text, big, blob) = match dialect {
        Dialect::Sqlite => ("TEXT", "INTEGER", "BLOB"),
        Dialect::Postgres => ("TEXT", "BIGINT", "BYTEA"),
        Dialect::Mysql => ("TEXT", "BIGINT", "LONGBLOB"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {PAYLOADS} (
            version        {big} NOT NULL,
            step           {key} NOT NULL,
            part           {big} NOT NULL,
            path           {text} NOT NULL,
            no_transaction {big} NOT NULL,
            bytes          {blob} NOT NULL,
            PRIMARY KEY (version, step, part)
        )",
        key = if dialect == Dialect::Mysql {
            "VARCHAR(8)"
        } else {
            "TEXT"
        }
    )
}

fn create_history_sql(dialect: Dialect) -> String {
    let (id, text, big) = match dialect {
        // Rows are never deleted, so the rowid only grows.
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "TEXT", "INTEGER"),
        Dialect::Postgres => (
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            "TEXT",
            "BIGINT",
        ),
        Dialect::Mysql => (
            "BIGINT AUTO_INCREMENT PRIMARY KEY",
            "VARCHAR(255)",
            "BIGINT",
        ),
    };
    let long_text = if dialect == Dialect::Mysql {
        "LONGTEXT"
    } else {
        "TEXT"
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {HISTORY} (
            id           {id},
            version      {big} NOT NULL,
            name         {text} NOT NULL,
            action       {text} NOT NULL,
            checksum     {text},
            at           {text} NOT NULL,
            execution_ms {big},
            environment  {text} NOT NULL,
            actor        {text} NOT NULL,
            detail       {long_text}
        )"
    )
}

/// Creates the ledger table if it does not exist.
///
/// # Errors
/// Fails when the database refuses the `CREATE TABLE`.
pub async fn ensure(db: &mut dyn Backend) -> Result<(), Error> {
    let sql = create_table_sql(db.dialect());
    db.execute(&sql, &[])
        .await
        .map_err(Error::db(format!("creating the ledger table {TABLE}")))?;
    upgrade(db).await
}

/// Adds the columns a ledger written by an earlier wasmig lacks.
///
/// # Errors
/// Fails when the database refuses the `ALTER TABLE`.
pub async fn upgrade(db: &mut dyn Backend) -> Result<(), Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => format!("SELECT name FROM pragma_table_info('{TABLE}')"),
        Dialect::Postgres => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{TABLE}'"
        ),
        Dialect::Mysql => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{TABLE}'"
        ),
    };
    let columns = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading the columns of {TABLE}")))?;
    let has = |name: &str| {
        columns
            .rows
            .iter()
            .any(|r| matches!(r.first(), Some(Value::Text(t)) if t.eq_ignore_ascii_case(name)))
    };
    for (table, sql) in [
        (PAYLOADS, create_payloads_sql(db.dialect())),
        (HISTORY, create_history_sql(db.dialect())),
    ] {
        db.execute(&sql, &[])
            .await
            .map_err(Error::db(format!("creating the table {table}")))?;
    }
    if !has("statements_digest") {
        let text = match db.dialect() {
            Dialect::Mysql => "VARCHAR(255)",
            _ => "TEXT",
        };
        db.execute(
            &format!("ALTER TABLE {TABLE} ADD COLUMN statements_digest {text}"),
            &[],
        )
        .await
        .map_err(Error::db(format!("adding statements_digest to {TABLE}")))?;
    }
    Ok(())
}

/// Whether the ledger table exists (so read-only commands need not create it).
///
/// # Errors
/// Returns the database's error.
pub async fn exists(db: &mut dyn Backend) -> Result<bool, Error> {
    table_exists(db, TABLE).await
}

pub(super) async fn table_exists(db: &mut dyn Backend, table: &str) -> Result<bool, Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        Dialect::Postgres => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        Dialect::Mysql => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    let rows = db
        .query(sql, &[Value::Text(table.to_owned())])
        .await
        .map_err(Error::db(format!("looking for the table {table}")))?;
    Ok(!rows.rows.is_empty())
}
