//! The host side of the `db` and `env` imports.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::wasmig::migration::{db, env, types};
use super::convert;
use super::limits::Limiter;
use crate::backend::{Backend, CursorId, DbError, DbErrorKind};
use crate::policy;
use crate::report::{Event, LogLevel, Reporter};
use crate::source::Version;

/// A cursor a guest holds; the rows live in the backend.
pub struct CursorHandle(CursorId);

/// What a guest may learn about the run it is part of.
#[derive(Debug, Clone, Default)]
pub struct GuestEnv {
    /// The environment's name (`--env`).
    pub name: String,
    /// The config values the operator allowed guests to read.
    pub vars: BTreeMap<String, String>,
}

/// Everything a guest's store holds.
pub(crate) struct GuestState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) db: Box<dyn Backend>,
    pub(crate) env: GuestEnv,
    pub(crate) version: Version,
    pub(crate) reporter: Arc<dyn Reporter>,
    /// Whether the migration runs inside the host's transaction, which it must
    /// not end.
    pub(crate) transactional: bool,
    /// A statement that changes something succeeded.
    pub(crate) wrote: bool,
    /// Written just before the first DDL statement (MySQL, where DDL
    /// commits implicitly).
    pub(crate) ddl_mark: Option<crate::ledger::InterruptedMark>,
    /// Whether `ddl_mark` was written.
    pub(crate) marked: bool,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The trap raised when a guest manages to end the host's transaction.
#[derive(Debug, thiserror::Error)]
#[error("the migration ended the transaction wasmig runs it in; its changes were rolled back")]
pub struct TransactionEnded;

impl GuestState {
    /// Refuses transaction control before it reaches the database.
    fn check(&self, sql: &str) -> Result<(), DbError> {
        match policy::transaction_control(sql) {
            Some(keyword) => Err(DbError::new(
                DbErrorKind::PermissionDenied,
                format!(
                    "`{keyword}` is not allowed in a migration: wasmig runs each migration in \
                     its own transaction and commits it when `up`/`down` returns ok"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Before `sql` runs: writes the DDL mark if `sql` is the migration's
    /// first DDL, and notes that the database may change.
    async fn before_write(&mut self, sql: &str) -> wasmtime::Result<()> {
        self.wrote = true;
        if let Some(mark) = &self.ddl_mark
            && !self.marked
            && policy::statements(sql).into_iter().any(policy::is_ddl)
        {
            crate::ledger::mark(&mut *self.db, mark)
                .await
                .map_err(|e| wasmtime::Error::msg(format!("cannot write the ledger: {e}")))?;
            self.marked = true;
        }
        Ok(())
    }

    /// Traps if the host's transaction is gone after a statement.
    fn after_statement(&self) -> wasmtime::Result<()> {
        if self.transactional && !self.db.in_transaction() {
            return Err(wasmtime::Error::new(TransactionEnded));
        }
        Ok(())
    }
}

fn wit_error(err: DbError) -> types::DbError {
    convert::db_error_to_wit(err)
}

impl types::Host for GuestState {}

impl db::Host for GuestState {
    async fn dialect(&mut self) -> wasmtime::Result<types::SqlDialect> {
        Ok(convert::dialect_to_wit(self.db.dialect()))
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        if let Err(e) = self.check(&sql) {
            return Ok(Err(wit_error(e)));
        }
        let params = convert::values_from_wit(params);
        self.before_write(&sql).await?;
        let result = self.db.execute(&sql, &params).await;
        self.after_statement()?;
        Ok(result.map_err(wit_error))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<types::Rows, types::DbError>> {
        if let Err(e) = self.check(&sql) {
            return Ok(Err(wit_error(e)));
        }
        let params = convert::values_from_wit(params);
        let result = self.db.query(&sql, &params).await;
        self.after_statement()?;
        Ok(result.map(convert::rows_to_wit).map_err(wit_error))
    }

    async fn execute_batch(
        &mut self,
        sql: String,
        param_sets: Vec<Vec<types::Value>>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        if let Err(e) = self.check(&sql) {
            return Ok(Err(wit_error(e)));
        }
        let sets: Vec<_> = param_sets
            .into_iter()
            .map(convert::values_from_wit)
            .collect();
        self.before_write(&sql).await?;
        let result = self.db.execute_batch(&sql, &sets).await;
        self.after_statement()?;
        Ok(result.map_err(wit_error))
    }

    async fn execute_script(
        &mut self,
        sql: String,
    ) -> wasmtime::Result<Result<(), types::DbError>> {
        if let Err(e) = self.check(&sql) {
            return Ok(Err(wit_error(e)));
        }
        self.before_write(&sql).await?;
        let result = self.db.execute_script(&sql).await;
        self.after_statement()?;
        Ok(result.map_err(wit_error))
    }

    async fn open_cursor(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<Resource<CursorHandle>, types::DbError>> {
        if let Err(e) = self.check(&sql) {
            return Ok(Err(wit_error(e)));
        }
        let params = convert::values_from_wit(params);
        let result = self.db.open_cursor(&sql, &params).await;
        self.after_statement()?;
        match result {
            Ok(id) => Ok(Ok(self.table.push(CursorHandle(id))?)),
            Err(e) => Ok(Err(wit_error(e))),
        }
    }
}

impl db::HostCursor for GuestState {
    async fn next(
        &mut self,
        cursor: Resource<CursorHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Option<types::Rows>, types::DbError>> {
        let id = self.table.get(&cursor)?.0;
        let result = self.db.cursor_next(id, max_rows).await;
        self.after_statement()?;
        Ok(result
            .map(|rows| rows.map(convert::rows_to_wit))
            .map_err(wit_error))
    }

    async fn drop(&mut self, cursor: Resource<CursorHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(cursor)?;
        // A failure to drop the temporary rows is not the guest's concern;
        // they go away with the connection.
        let _ = self.db.close_cursor(handle.0).await;
        Ok(())
    }
}

impl env::Host for GuestState {
    async fn name(&mut self) -> wasmtime::Result<String> {
        Ok(self.env.name.clone())
    }

    async fn var(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.env.vars.get(&key).cloned())
    }

    async fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            types::Level::Trace => LogLevel::Trace,
            types::Level::Debug => LogLevel::Debug,
            types::Level::Info => LogLevel::Info,
            types::Level::Warn => LogLevel::Warn,
            types::Level::Error => LogLevel::Error,
        };
        self.reporter.event(&Event::Log {
            version: self.version,
            level,
            message: &message,
        });
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        self.reporter.event(&Event::Progress {
            version: self.version,
            done,
            total,
        });
        Ok(())
    }
}
