//! Dropping every object of a database (on PostgreSQL, of one schema),
//! wasmig's own tables included: `wasmig schema drop`, and emptying a
//! `--dev-url` database after use.
//!
//! Objects are listed from the catalog rather than from the model, so what
//! the model does not describe (sequences, domains, a table of an
//! unsupported kind) goes too. PostgreSQL objects that belong to an
//! extension are left to the extension.

use super::introspect::{Cells, current_schema};
use crate::backend::{Backend, DbError, Dialect, Value};
use crate::schema::render::quote;

/// PostgreSQL: what to drop, in an order that needs no dependency walk
/// (`CASCADE` takes what hangs on each).
const POSTGRES_OBJECTS: &str = "\
     SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' \
       WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, \
       c.relname::text, CASE c.relkind WHEN 'v' THEN 1 WHEN 'm' THEN 1 WHEN 'S' THEN 3 ELSE 2 END \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
       AND NOT c.relispartition \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i')) \
     UNION ALL \
     SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, \
       p.proname::text || '(' || pg_get_function_identity_arguments(p.oid) || ')', 4 \
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
     WHERE n.nspname = $1 \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \
     UNION ALL \
     SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.typname::text, 5 \
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
     WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'r', 'm') \
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') \
     UNION ALL \
     SELECT 'TYPE', t.typname::text, 5 \
     FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
     JOIN pg_class c ON c.oid = t.typrelid \
     WHERE n.nspname = $1 AND t.typtype = 'c' AND c.relkind = 'c' \
     ORDER BY 3, 2";

const MYSQL_OBJECTS: &str = "\
     SELECT CASE table_type WHEN 'VIEW' THEN 'VIEW' ELSE 'TABLE' END, \
       CAST(table_name AS CHAR), CASE table_type WHEN 'VIEW' THEN 1 ELSE 2 END \
     FROM information_schema.tables WHERE table_schema = DATABASE() \
     UNION ALL \
     SELECT routine_type, CAST(routine_name AS CHAR), 3 \
     FROM information_schema.routines WHERE routine_schema = DATABASE() \
     ORDER BY 3, 2";

const SQLITE_OBJECTS: &str = "\
     SELECT upper(type), name, CASE type WHEN 'trigger' THEN 1 WHEN 'view' THEN 2 ELSE 3 END \
     FROM sqlite_schema WHERE type IN ('table', 'view', 'trigger') \
       AND name NOT LIKE 'sqlite_%' ORDER BY 3, 2";

/// Drops every object of the database (PostgreSQL: of schema `namespace`,
/// by default the connection's current one). Returns the statements run.
///
/// # Errors
/// The first statement the database refuses; what was dropped before it
/// stays dropped (DDL on MySQL cannot be rolled back anyway).
pub async fn drop_everything(
    db: &mut dyn Backend,
    namespace: Option<&str>,
) -> Result<Vec<String>, DbError> {
    let dialect = db.dialect();
    let rows = match dialect {
        Dialect::Postgres => {
            let namespace = match namespace {
                Some(n) => n.to_owned(),
                None => current_schema(db).await?,
            };
            let rows = db
                .query(POSTGRES_OBJECTS, &[Value::Text(namespace.clone())])
                .await?;
            let statements = rows
                .rows
                .iter()
                .map(|row| {
                    let cells = Cells(row);
                    let kind = cells.text(0);
                    let name = cells.text(1);
                    let target = match name.split_once('(') {
                        // A routine: its quoted name and argument types.
                        Some((routine, args)) => format!(
                            "{}.{}({args}",
                            quote(dialect, &namespace),
                            quote(dialect, routine)
                        ),
                        None => format!("{}.{}", quote(dialect, &namespace), quote(dialect, &name)),
                    };
                    format!("DROP {kind} IF EXISTS {target} CASCADE")
                })
                .collect();
            return run(db, statements).await;
        }
        Dialect::Mysql => db.query(MYSQL_OBJECTS, &[]).await?,
        Dialect::Sqlite => db.query(SQLITE_OBJECTS, &[]).await?,
    };
    let mut statements = Vec::new();
    if dialect == Dialect::Mysql {
        statements.push("SET FOREIGN_KEY_CHECKS = 0".to_owned());
    } else {
        statements.push("PRAGMA foreign_keys = OFF".to_owned());
    }
    for row in &rows.rows {
        let cells = Cells(row);
        statements.push(format!(
            "DROP {} IF EXISTS {}",
            cells.text(0),
            quote(dialect, &cells.text(1))
        ));
    }
    if dialect == Dialect::Mysql {
        statements.push("SET FOREIGN_KEY_CHECKS = 1".to_owned());
    } else {
        statements.push("PRAGMA foreign_keys = ON".to_owned());
    }
    run(db, statements).await
}

async fn run(db: &mut dyn Backend, statements: Vec<String>) -> Result<Vec<String>, DbError> {
    for statement in &statements {
        db.execute(statement, &[]).await?;
    }
    Ok(statements)
}
