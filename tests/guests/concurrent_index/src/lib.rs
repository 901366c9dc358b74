//! Builds an index without blocking writers: on PostgreSQL with
//! `CREATE INDEX CONCURRENTLY`, which cannot run inside a transaction, so
//! the migration opts out of the host's.

use wasmig_guest::{Db, Dialect, Env, Migration, Result, export_migration};

struct ConcurrentIndex;

impl Migration for ConcurrentIndex {
    fn up(db: &Db, _env: &Env) -> Result<()> {
        let sql = match db.dialect() {
            Dialect::Postgres => "CREATE INDEX CONCURRENTLY notes_body ON notes (body)",
            Dialect::Mysql => "CREATE INDEX notes_body ON notes (body(64))",
            Dialect::Sqlite => "CREATE INDEX notes_body ON notes (body)",
        };
        db.execute(sql, &[])?;
        Ok(())
    }

    fn down(db: &Db, _env: &Env) -> Result<()> {
        let sql = match db.dialect() {
            Dialect::Postgres => "DROP INDEX CONCURRENTLY notes_body",
            Dialect::Mysql => "DROP INDEX notes_body ON notes",
            Dialect::Sqlite => "DROP INDEX notes_body",
        };
        db.execute(sql, &[])?;
        Ok(())
    }
}

export_migration!(ConcurrentIndex, no_transaction);
