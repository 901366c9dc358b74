//! `wasmig schema sync` and `wasmig schema drop`: development conveniences
//! that change the live database without a migration file. Both are refused
//! in a protected environment; both leave a line in the history.

use super::{Migrator, commit_or_roll_back};
use crate::backend::Dialect;
use crate::error::Error;
use crate::ledger::{self, Action};
use crate::schema::{self, Op, Schema, foreign_keys};

impl Migrator {
    fn refuse_protected(&self, command: &str, what: &str) -> Result<(), Error> {
        if self.protected {
            return Err(Error::Refused(format!(
                "environment `{}` is protected (`protected = true` in wasmig.toml): `{command}` \
                 would {what} on {} without a migration. Nothing was changed",
                self.env.name, self.url
            )));
        }
        Ok(())
    }

    /// Runs `ops` (usually `diff(live, desired)`) on the live database,
    /// under the run lock, in one transaction where the engine can roll DDL
    /// back, and records a `sync` line in the history with the statements.
    /// Returns the statements run.
    ///
    /// # Errors
    /// [`Error::Refused`] in a protected environment or when an operation
    /// cannot work on the live schema (nothing is run then);
    /// [`Error::Database`] when a statement fails (rolled back where the
    /// engine allows).
    pub async fn sync(&self, ops: &[Op]) -> Result<Vec<String>, Error> {
        self.refuse_protected("schema sync", "change the schema")?;
        let lock = self.lock().await?;
        let mut db = self.connect().await?;
        let context = format!("syncing the schema of {}", self.url);
        let live: Schema = schema::introspect(db.as_mut(), None)
            .await
            .map_err(Error::db(context.clone()))?;
        let dialect = db.dialect();
        let statements = schema::render::render_all(dialect, &live, ops)
            .map_err(|e| Error::Refused(format!("{context}: {e}. Nothing was changed")))?;
        let enforced = if dialect == Dialect::Sqlite {
            foreign_keys::switch_off(db.as_mut())
                .await
                .map_err(Error::db(context.clone()))?
        } else {
            false
        };
        db.begin().await.map_err(Error::db(context.clone()))?;
        let done = async {
            for statement in &statements {
                db.execute(statement, &[])
                    .await
                    .map_err(|e| Error::Refused(format!("{context}: `{statement}` failed: {e}")))?;
            }
            if dialect == Dialect::Sqlite {
                foreign_keys::check(db.as_mut())
                    .await
                    .map_err(|e| Error::Refused(format!("{context}: {e}")))?;
            }
            ledger::ensure(db.as_mut()).await?;
            let mut event = self.history_event(0, "schema sync", Action::Sync);
            event.detail = Some(statements.join(";\n"));
            ledger::log_event(db.as_mut(), &event)
                .await
                .map_err(Error::db(context.clone()))
        }
        .await;
        let committed = commit_or_roll_back(db.as_mut(), done, &context).await;
        if enforced {
            let _ = db.execute_script("PRAGMA foreign_keys = ON").await;
        }
        committed?;
        lock.release().await;
        Ok(statements)
    }

    /// Drops every object of the database (PostgreSQL: of schema
    /// `namespace`, by default the current one), wasmig's own tables
    /// included, so the next `up` starts from nothing. Returns the
    /// statements run.
    ///
    /// # Errors
    /// [`Error::Refused`] in a protected environment; [`Error::Database`]
    /// when a statement fails.
    pub async fn drop_schema(&self, namespace: Option<&str>) -> Result<Vec<String>, Error> {
        self.refuse_protected("schema drop", "drop every table and its data")?;
        let mut db = self.connect().await?;
        schema::clean::drop_everything(db.as_mut(), namespace)
            .await
            .map_err(Error::db(format!("dropping every object of {}", self.url)))
    }
}
