//! The host side of the `db` and `env` imports.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::wasmig::migration::{db, env, types};
use super::convert;
use super::limiter::{LimitExceeded, Limiter};
use crate::backend::{Backend, CursorId, DbError, RESULT_CAP_CODE, ResultCap, Value};
use crate::policy::{self, Sandbox, Violation};
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
    /// The migration's policy and limits.
    pub(crate) sandbox: Sandbox,
    /// Hashes every statement and its parameters, in order.
    pub(crate) digest: Sha256,
    /// Bytes written through `env.log`.
    pub(crate) logged: u64,
    /// Rows and bytes returned to the guest so far.
    pub(crate) read_rows: u64,
    pub(crate) read_bytes: u64,
    /// When the migration's wall-clock limit runs out.
    pub(crate) deadline: Instant,
    /// The guest asked for the process environment (which is empty).
    pub(crate) env_read: bool,
    /// Statements that passed the policy (guests repeat theirs), so each
    /// distinct statement is parsed once.
    pub(crate) allowed: std::collections::HashSet<String>,
    /// Records every statement with its outcome (plans, `up --expect-plan`).
    pub(crate) trace: Option<crate::plan::Trace>,
    /// A simulation on an engine that commits DDL implicitly: stop before
    /// the first DDL statement instead of running it.
    pub(crate) stop_before_ddl: bool,
    /// The simulation stopped before this DDL statement.
    pub(crate) stopped_before_ddl: Option<String>,
    /// Report every statement as an event.
    pub(crate) log_sql: bool,
    /// Rows changed by the migration's writes.
    pub(crate) rows_changed: u64,
    /// What the guest's schema operations recorded to undo them.
    pub(crate) schema: super::schema_state::SchemaState,
    /// A Python migration's files, which the Python runtime asks for.
    pub(crate) python: Option<Arc<crate::python::Sources>>,
}

/// How many distinct allowed statements a run remembers.
const ALLOWED_CACHE: usize = 4096;

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

/// The trap that ends a simulation before a statement that would commit.
#[derive(Debug, thiserror::Error)]
#[error("not simulated: the database commits DDL immediately")]
pub struct StoppedBeforeDdl;

/// The trap raised when a guest breaks a sandbox rule.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SandboxViolation(pub Violation);

/// How long past the deadline the host waits for a server that was told to
/// stop a statement (its own statement timeout) before giving up on it.
const SERVER_GRACE: Duration = Duration::from_secs(5);

impl GuestState {
    /// Applies the sandbox's rules to `sql` and adds it to the digest.
    fn check(&mut self, call: &str, sql: &str) -> wasmtime::Result<()> {
        if !self.allowed.contains(sql) {
            self.sandbox
                .check_sql(self.db.dialect(), self.db.default_schema(), sql)
                .map_err(|v| wasmtime::Error::new(SandboxViolation(v)))?;
            if self.allowed.len() >= ALLOWED_CACHE {
                self.allowed.clear();
            }
            self.allowed.insert(sql.to_owned());
        }
        if !self.schema.running && policy::is_ddl(sql) && self.schema.raw_ddl.is_none() {
            self.schema.raw_ddl = Some(sql.chars().take(80).collect());
        }
        self.digest.update(call.as_bytes());
        digest_text(&mut self.digest, sql);
        if self.log_sql {
            self.reporter.event(&Event::Statement {
                version: self.version,
                sql,
            });
        }
        Ok(())
    }

    /// Adds a statement and its outcome to the trace, when there is one.
    fn trace<T>(
        &mut self,
        call: &'static str,
        sql: &str,
        sets: &[Vec<Value>],
        result: &Result<T, DbError>,
        rows: impl Fn(&T) -> Option<u64>,
    ) {
        if let Some(trace) = &mut self.trace {
            let outcome = match result {
                Ok(value) => Ok(rows(value)),
                Err(e) => Err(e.message.as_str()),
            };
            trace.record(call, sql, sets, outcome);
        }
    }

    fn digest_params(&mut self, params: &[Value]) {
        self.digest.update((params.len() as u64).to_le_bytes());
        for value in params {
            digest_value(&mut self.digest, value);
        }
    }

    /// The cap for the next read: what is left of the per-call and total
    /// limits.
    fn cap(&self) -> ResultCap {
        let limits = &self.sandbox.limits;
        let mb = |m: u64| m.saturating_mul(1 << 20);
        ResultCap {
            rows: limits.rows_per_call.min(
                limits
                    .rows_total
                    .map_or(u64::MAX, |t| t.saturating_sub(self.read_rows)),
            ),
            bytes: mb(limits.result_mb_per_call).min(
                limits
                    .result_mb_total
                    .map_or(u64::MAX, |t| mb(t).saturating_sub(self.read_bytes)),
            ),
        }
    }

    /// Counts rows returned to the guest; turns a capped read into the trap
    /// naming the limit.
    fn count<T>(
        &mut self,
        result: Result<T, DbError>,
        rows: impl Fn(&T) -> Option<&crate::backend::Rows>,
    ) -> wasmtime::Result<Result<T, DbError>> {
        match result {
            Ok(value) => {
                if let Some(r) = rows(&value) {
                    self.read_rows += r.rows.len() as u64;
                    self.read_bytes += r
                        .rows
                        .iter()
                        .flat_map(|row| row.iter().map(Value::size))
                        .sum::<u64>();
                }
                Ok(Ok(value))
            }
            Err(e) if e.code.as_deref() == Some(RESULT_CAP_CODE) => Err(wasmtime::Error::new(
                LimitExceeded(result_cap_message(&self.sandbox.limits)),
            )),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Waits for a database call, but not past the migration's deadline.
    async fn timed<T>(
        deadline: Instant,
        timeout: Duration,
        call: impl Future<Output = T>,
    ) -> wasmtime::Result<T> {
        match tokio::time::timeout_at((deadline + SERVER_GRACE).into(), call).await {
            Ok(value) => Ok(value),
            Err(_) => Err(wasmtime::Error::new(timeout_exceeded(timeout))),
        }
    }

    /// Before `sql` runs: writes the DDL mark if `sql` is the migration's
    /// first DDL, and notes that the database may change.
    async fn before_write(
        &mut self,
        call: &'static str,
        sql: &str,
        sets: &[Vec<Value>],
    ) -> wasmtime::Result<()> {
        let dialect = self.db.dialect();
        if self.stop_before_ddl
            && policy::statements_for(dialect, sql)
                .into_iter()
                .any(policy::is_ddl)
        {
            if let Some(trace) = &mut self.trace {
                trace.record(call, sql, sets, Ok(None));
            }
            self.stopped_before_ddl = Some(sql.to_owned());
            return Err(wasmtime::Error::new(StoppedBeforeDdl));
        }
        self.wrote = true;
        if let Some(mark) = &self.ddl_mark
            && !self.marked
            && policy::statements_for(dialect, sql)
                .into_iter()
                .any(policy::is_ddl)
        {
            crate::ledger::mark(&mut *self.db, mark)
                .await
                .map_err(|e| wasmtime::Error::msg(format!("cannot write the ledger: {e}")))?;
            self.marked = true;
        }
        Ok(())
    }

    /// Traps if the host's transaction is gone after a statement, or the
    /// migration's time is up.
    fn after_statement(&self) -> wasmtime::Result<()> {
        crate::failpoint::hit("statement");
        if self.transactional && !self.db.in_transaction() {
            return Err(wasmtime::Error::new(TransactionEnded));
        }
        if Instant::now() >= self.deadline {
            return Err(wasmtime::Error::new(timeout_exceeded(
                self.sandbox.limits.timeout,
            )));
        }
        Ok(())
    }
}

pub(super) fn wit_error(err: DbError) -> types::DbError {
    convert::db_error_to_wit(err)
}

/// The result limits, as the trap names them: the per-call caps, and the
/// totals where they are set.
fn result_cap_message(limits: &crate::limits::Limits) -> String {
    let mut caps = vec![format!(
        "{} rows or {} MiB per call",
        limits.rows_per_call, limits.result_mb_per_call
    )];
    let mut settings = vec!["`rows_per_call`", "`result_mb_per_call`"];
    if let Some(rows) = limits.rows_total {
        caps.push(format!("{rows} rows in all"));
        settings.push("`rows_total`");
    }
    if let Some(mb) = limits.result_mb_total {
        caps.push(format!("{mb} MiB in all"));
        settings.push("`result_mb_total`");
    }
    format!(
        "a query returned more than the result limits allow: {} (raise {} under [limits] in \
         wasmig.toml or in its policy, or read in smaller batches with a cursor)",
        caps.join(", "),
        settings.join(", ")
    )
}

/// The wall-clock limit, as the trap names it.
pub(crate) fn timeout_exceeded(timeout: Duration) -> LimitExceeded {
    LimitExceeded(format!(
        "the time limit of {} was reached (set `timeout` under [limits] in wasmig.toml, or in \
         its policy, to raise it)",
        humantime::format_duration(timeout)
    ))
}

fn digest_text(digest: &mut Sha256, text: &str) {
    digest.update((text.len() as u64).to_le_bytes());
    digest.update(text.as_bytes());
}

fn digest_value(digest: &mut Sha256, value: &Value) {
    match value {
        Value::Null => digest.update([0]),
        Value::Boolean(b) => digest.update([1, u8::from(*b)]),
        Value::Int(i) => {
            digest.update([2]);
            digest.update(i.to_le_bytes());
        }
        Value::Float(f) => {
            digest.update([3]);
            digest.update(f.to_bits().to_le_bytes());
        }
        Value::Bytes(b) => {
            digest.update([4]);
            digest.update((b.len() as u64).to_le_bytes());
            digest.update(b);
        }
        Value::Text(s) => {
            digest.update([5]);
            digest_text(digest, s);
        }
        Value::Json(s) => {
            digest.update([6]);
            digest_text(digest, s);
        }
        Value::Uuid(s) => {
            digest.update([7]);
            digest_text(digest, s);
        }
        Value::Timestamp(s) => {
            digest.update([8]);
            digest_text(digest, s);
        }
        Value::Date(s) => {
            digest.update([9]);
            digest_text(digest, s);
        }
        Value::Decimal(s) => {
            digest.update([10]);
            digest_text(digest, s);
        }
    }
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
        self.check("execute", &sql)?;
        let params = convert::values_from_wit(params);
        self.digest_params(&params);
        let sets = std::slice::from_ref(&params);
        self.before_write("execute", &sql, sets).await?;
        let (deadline, timeout) = (self.deadline, self.sandbox.limits.timeout);
        let result = Self::timed(deadline, timeout, self.db.execute(&sql, &params)).await?;
        self.trace("execute", &sql, sets, &result, |n| Some(*n));
        self.rows_changed += result.as_ref().map_or(0, |n| *n);
        self.after_statement()?;
        Ok(result.map_err(wit_error))
    }

    async fn query(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<types::Rows, types::DbError>> {
        self.check("query", &sql)?;
        let params = convert::values_from_wit(params);
        self.digest_params(&params);
        let cap = self.cap();
        self.db.set_result_cap(cap);
        let (deadline, timeout) = (self.deadline, self.sandbox.limits.timeout);
        let result = Self::timed(deadline, timeout, self.db.query(&sql, &params)).await?;
        let sets = std::slice::from_ref(&params);
        self.trace("query", &sql, sets, &result, |r| Some(r.rows.len() as u64));
        let result = self.count(result, |rows| Some(rows))?;
        self.after_statement()?;
        Ok(result.map(convert::rows_to_wit).map_err(wit_error))
    }

    async fn execute_batch(
        &mut self,
        sql: String,
        param_sets: Vec<Vec<types::Value>>,
    ) -> wasmtime::Result<Result<u64, types::DbError>> {
        self.check("execute-batch", &sql)?;
        let sets: Vec<_> = param_sets
            .into_iter()
            .map(convert::values_from_wit)
            .collect();
        self.digest.update((sets.len() as u64).to_le_bytes());
        for set in &sets {
            self.digest_params(set);
        }
        self.before_write("execute-batch", &sql, &sets).await?;
        let (deadline, timeout) = (self.deadline, self.sandbox.limits.timeout);
        let result = Self::timed(deadline, timeout, self.db.execute_batch(&sql, &sets)).await?;
        self.trace("execute-batch", &sql, &sets, &result, |n| Some(*n));
        self.rows_changed += result.as_ref().map_or(0, |n| *n);
        self.after_statement()?;
        Ok(result.map_err(wit_error))
    }

    async fn execute_script(
        &mut self,
        sql: String,
    ) -> wasmtime::Result<Result<(), types::DbError>> {
        self.check("execute-script", &sql)?;
        self.before_write("execute-script", &sql, &[]).await?;
        let (deadline, timeout) = (self.deadline, self.sandbox.limits.timeout);
        let result = Self::timed(deadline, timeout, self.db.execute_script(&sql)).await?;
        self.trace("execute-script", &sql, &[], &result, |_| None);
        self.rows_changed += result.as_ref().map_or(0, |n| *n);
        self.after_statement()?;
        Ok(result.map(|_| ()).map_err(wit_error))
    }

    async fn open_cursor(
        &mut self,
        sql: String,
        params: Vec<types::Value>,
    ) -> wasmtime::Result<Result<Resource<CursorHandle>, types::DbError>> {
        self.check("open-cursor", &sql)?;
        let params = convert::values_from_wit(params);
        self.digest_params(&params);
        let (deadline, timeout) = (self.deadline, self.sandbox.limits.timeout);
        let result = Self::timed(deadline, timeout, self.db.open_cursor(&sql, &params)).await?;
        let sets = std::slice::from_ref(&params);
        self.trace("open-cursor", &sql, sets, &result, |_| None);
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
        let cap = self.cap();
        self.db.set_result_cap(cap);
        let (deadline, timeout) = (self.deadline, self.sandbox.limits.timeout);
        let result = Self::timed(deadline, timeout, self.db.cursor_next(id, max_rows)).await?;
        let result = self.count(result, Option::as_ref)?;
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
        self.sandbox
            .check_var(&key)
            .map_err(|v| wasmtime::Error::new(SandboxViolation(v)))?;
        Ok(self.env.vars.get(&key).cloned())
    }

    async fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
        self.logged += message.len() as u64;
        let limit_kb = self.sandbox.limits.log_kb;
        if self.logged > limit_kb.saturating_mul(1024) {
            return Err(wasmtime::Error::new(LimitExceeded(format!(
                "the log limit of {limit_kb} KiB was reached (set `log_kb` under [limits] in \
                 wasmig.toml, or in its policy, to raise it)"
            ))));
        }
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
