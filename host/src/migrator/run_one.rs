//! One migration, up or down, in its transaction together with its ledger
//! change.
//!
//! Where a failure can leave part of a migration behind (no-transaction
//! migrations; MySQL, which commits DDL implicitly), the ledger row is first
//! written as failed ("interrupted"), so even a runner killed half way leaves
//! the truth in the ledger; it becomes applied on success, and is removed
//! again when a failure provably left nothing behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::prepare::{Prepared, PreparedBody};
use super::record::{Done, Held};
use super::schema_ops::{Target, foreign_keys_off};
use super::script::{Progress, run_script};
use super::{Migrator, Ran, runtime, short};
use crate::backend::{Backend, Dialect};
use crate::error::Error;
use crate::ledger::{self, InterruptedMark};
use crate::plan::Trace;
use crate::report::{Direction, Event};
use crate::runtime::RunSpec;
use crate::schema::{Op, Revert};
use crate::source::sha256_hex;

/// What one migration's run needs to know besides the database.
pub(super) struct Attempt<'a, 'm> {
    migrator: &'a Migrator,
    migration: &'a Prepared<'m>,
    direction: Direction,
    /// The migration runs inside a transaction.
    transactional: bool,
    /// The engine commits DDL implicitly.
    mysql: bool,
    /// The row that records the migration as under way.
    mark: InterruptedMark,
    /// The mark is written before the migration starts (no transaction).
    mark_first: bool,
    /// SQLite enforced foreign keys before a declarative migration switched
    /// enforcement off; it is switched back on after.
    foreign_keys_were_on: AtomicBool,
}

/// What running the migration's body did.
struct Executed {
    outcome: Result<(), String>,
    progress: Progress,
    /// The digest of the statements it issued.
    digest: Option<String>,
    trace: Option<Trace>,
    /// How to undo a declarative migration that ran up.
    revert: Option<Revert>,
}

impl Migrator {
    /// Runs one migration in a transaction together with its ledger change.
    /// `create_ledger` creates the ledger first (in the same transaction
    /// where the engine allows); `expected_digest` is the migration's digest
    /// in a reviewed plan; `stale_steps` says the ledger holds kept steps
    /// without a row for it.
    pub(super) async fn run_one(
        &self,
        mut db: Box<dyn Backend>,
        migration: &Prepared<'_>,
        direction: Direction,
        create_ledger: bool,
        expected_digest: Option<&str>,
        stale_steps: bool,
    ) -> (Box<dyn Backend>, Result<Ran, Error>) {
        let attempt = Attempt {
            migrator: self,
            migration,
            direction,
            transactional: migration.transactional(),
            mysql: db.dialect() == Dialect::Mysql,
            mark: self.interrupted_mark(migration, direction),
            mark_first: !migration.transactional(),
            foreign_keys_were_on: AtomicBool::new(false),
        };
        let source = migration.source;
        if let Err(e) = attempt.check(&*db) {
            return (db, Err(e));
        }
        self.reporter.event(&Event::Started {
            version: source.version,
            name: &source.name,
            direction,
        });
        let started = Instant::now();
        let role_set = match attempt.begin(&mut *db, create_ledger).await {
            Ok(role_set) => role_set,
            Err(e) => return (db, Err(e)),
        };
        crate::failpoint::hit("begun");
        let trace = expected_digest.map(|_| Trace::default());
        let (returned, mut executed) = attempt.execute(db, trace).await;
        db = returned;
        let elapsed = started.elapsed();
        let outcome = matches_plan(
            std::mem::replace(&mut executed.outcome, Ok(())),
            expected_digest,
            executed.trace.take(),
        );
        let held = Held {
            row: attempt.mark_first || executed.progress.marked,
            steps: stale_steps,
        };
        let outcome = attempt
            .finish(&mut *db, outcome, role_set, elapsed, &executed, held)
            .await;
        if let Err(reason) = outcome {
            let error = attempt.fail(&mut *db, reason, executed.progress).await;
            attempt.restore_foreign_keys(&mut *db).await;
            return (db, Err(error));
        }
        attempt.restore_foreign_keys(&mut *db).await;
        self.reporter.event(&Event::Finished {
            version: source.version,
            name: &source.name,
            direction,
            elapsed,
        });
        let ran = Ran {
            version: source.version,
            name: source.name.clone(),
            elapsed,
            rows: executed.progress.rows,
        };
        (db, Ok(ran))
    }
}

impl Attempt<'_, '_> {
    /// The error for a failed migration.
    fn failure(&self, reason: String, hint: String) -> Error {
        Error::MigrationFailed {
            version: self.migration.source.version,
            path: self.migration.source.path().to_owned(),
            reason,
            hint,
        }
    }

    /// What the operator is told when everything was rolled back.
    fn rolled_back(&self) -> String {
        match self.direction {
            Direction::Up => {
                "nothing was applied: its changes were rolled back and the ledger is unchanged. \
                 Fix it and run `wasmig up` again."
            }
            Direction::Down => {
                "nothing was reverted: its changes were rolled back and it is still applied. \
                 Fix its down step and run `wasmig down` again."
            }
        }
        .to_owned()
    }

    /// Refuses before anything runs: a SQL statement its policy forbids, or
    /// a policy role on an engine without roles.
    fn check(&self, db: &dyn Backend) -> Result<(), Error> {
        if let Err(reason) = self.migration.check_sql(db, self.direction) {
            return Err(self.failure(reason, self.rolled_back()));
        }
        let sandbox = &self.migration.sandbox;
        if sandbox.role.is_some() && db.dialect() != Dialect::Postgres {
            return Err(self.failure(
                format!(
                    "its policy names a role ({}), which only PostgreSQL supports",
                    sandbox.policies.join(", ")
                ),
                "remove `role` from the policy for this database, or run it on PostgreSQL".into(),
            ));
        }
        Ok(())
    }

    /// Creates the ledger if asked, writes the mark where it goes first,
    /// opens the transaction and switches to the policy's role. Returns
    /// whether a role was set.
    async fn begin(&self, db: &mut dyn Backend, create_ledger: bool) -> Result<bool, Error> {
        // Creating the ledger is DDL: on MySQL it cannot be part of the
        // migration's transaction anyway.
        let ledger_in_transaction = create_ledger && self.transactional && !self.mysql;
        if create_ledger && !ledger_in_transaction {
            ledger::ensure(db).await?;
        }
        if self.mark_first
            && let Err(e) = ledger::mark(db, &self.mark).await
        {
            let reason = format!("cannot write the ledger: {e}");
            return Err(self.failure(reason, self.rolled_back()));
        }
        if db.dialect() == Dialect::Sqlite && self.migration.changes_schema() {
            match foreign_keys_off(db).await {
                Ok(was_on) => self.foreign_keys_were_on.store(was_on, Ordering::Relaxed),
                Err(e) => {
                    let reason = format!("cannot switch foreign-key enforcement off: {e}");
                    return Err(self.failure(reason, self.rolled_back()));
                }
            }
        }
        if self.transactional {
            if let Err(e) = db.begin().await {
                let reason = format!("cannot start a transaction: {e}");
                return Err(self.failure(reason, self.rolled_back()));
            }
            if ledger_in_transaction && let Err(e) = ledger::ensure(db).await {
                let _ = db.rollback().await;
                return Err(e);
            }
        }
        let Some(role) = &self.migration.sandbox.role else {
            return Ok(false);
        };
        let quoted = format!("\"{}\"", role.replace('"', "\"\""));
        let sql = if self.transactional {
            format!("SET LOCAL ROLE {quoted}")
        } else {
            format!("SET ROLE {quoted}")
        };
        if let Err(e) = db.execute_script(&sql).await {
            let _ = db.rollback().await;
            let reason = format!("cannot switch to its policy's role `{role}`: {e}");
            return Err(self.failure(reason, self.rolled_back()));
        }
        Ok(true)
    }

    /// Runs the migration's script or component. On MySQL the mark is
    /// written just before the first DDL statement, which commits everything
    /// so far (the mark included).
    async fn execute(
        &self,
        mut db: Box<dyn Backend>,
        mut trace: Option<Trace>,
    ) -> (Box<dyn Backend>, Executed) {
        let ddl_mark = (self.transactional && self.mysql).then_some(&self.mark);
        let executed = match &self.migration.body {
            PreparedBody::Sql { up, down, .. } => {
                let script = match self.direction {
                    Direction::Up => Some(up.as_str()),
                    Direction::Down => down.as_deref(),
                };
                let (outcome, progress, digest) = match script {
                    Some(sql) => self.run_sql(&mut *db, sql, ddl_mark, trace.as_mut()).await,
                    None => (
                        Err("it has no down script".to_owned()),
                        Progress::default(),
                        None,
                    ),
                };
                Executed {
                    outcome,
                    progress,
                    digest,
                    trace,
                    revert: None,
                }
            }
            PreparedBody::Schema { ops, revert, .. } => {
                return self
                    .execute_schema(db, trace, ddl_mark, ops, revert.as_ref())
                    .await;
            }
            PreparedBody::Component {
                loaded,
                kept_revert,
                ..
            } => {
                let spec = RunSpec {
                    direction: self.direction,
                    version: self.migration.source.version,
                    checksum: self.migration.checksum.clone(),
                    env: self.migrator.env.clone(),
                    sandbox: self.migration.sandbox.clone(),
                    reporter: self.migrator.reporter.clone(),
                    transactional: self.transactional,
                    ddl_mark: ddl_mark.cloned(),
                    trace: trace.is_some(),
                    stop_before_ddl: false,
                    log_sql: self.migrator.log_sql,
                    kept_revert: kept_revert.clone(),
                };
                let rt = match runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let executed = Executed {
                            outcome: Err(e.to_string()),
                            progress: Progress::default(),
                            digest: None,
                            trace,
                            revert: None,
                        };
                        return (db, executed);
                    }
                };
                let result = rt.run(loaded, db, spec).await;
                db = result.db;
                Executed {
                    outcome: result.outcome,
                    progress: Progress {
                        wrote: result.wrote,
                        marked: result.marked,
                        rows: result.rows_changed,
                    },
                    digest: Some(result.digest),
                    trace: result.trace,
                    revert: result.revert,
                }
            }
        };
        (db, executed)
    }

    /// Runs a declarative migration's operations: its own going up, the
    /// recorded revert going down.
    async fn execute_schema(
        &self,
        mut db: Box<dyn Backend>,
        mut trace: Option<Trace>,
        ddl_mark: Option<&InterruptedMark>,
        ops: &[Op],
        revert: Option<&Revert>,
    ) -> (Box<dyn Backend>, Executed) {
        let ops = match (self.direction, revert) {
            (Direction::Up, _) => Ok(ops),
            (Direction::Down, Some(r)) if r.irreversible.is_none() => Ok(r.ops.as_slice()),
            (Direction::Down, Some(r)) => Err(format!(
                "it cannot be reverted: {}",
                r.irreversible.as_deref().unwrap_or_default()
            )),
            (Direction::Down, None) => Err("the ledger kept no operations to revert it".to_owned()),
        };
        let ops = match ops {
            Ok(ops) => ops,
            Err(reason) => {
                let executed = Executed {
                    outcome: Err(reason),
                    progress: Progress::default(),
                    digest: None,
                    trace,
                    revert: None,
                };
                return (db, executed);
            }
        };
        let target = Target {
            ddl_mark,
            trace: trace.as_mut(),
            invert: self.direction == Direction::Up,
        };
        let run = self
            .migrator
            .run_ops(&mut *db, self.migration, ops, target)
            .await;
        let executed = Executed {
            outcome: run.outcome,
            progress: run.progress,
            digest: Some(run.digest),
            trace,
            revert: run.revert,
        };
        (db, executed)
    }

    /// Runs a SQL script, reporting its statements (`--log-sql`) and the
    /// progress of a long one. Returns the outcome, the progress and the
    /// script's digest.
    async fn run_sql(
        &self,
        db: &mut dyn Backend,
        sql: &str,
        ddl_mark: Option<&InterruptedMark>,
        trace: Option<&mut Trace>,
    ) -> (Result<(), String>, Progress, Option<String>) {
        let version = self.migration.source.version;
        let reporter = &self.migrator.reporter;
        if self.migrator.log_sql {
            for statement in crate::policy::statements_for(db.dialect(), sql) {
                reporter.event(&Event::Statement {
                    version,
                    sql: statement,
                });
            }
        }
        let one_by_one = !self.transactional || self.mysql;
        let report = |done: u64, total: u64| {
            reporter.event(&Event::Progress {
                version,
                done,
                total: Some(total),
            });
        };
        let (outcome, progress) =
            run_script(db, sql, one_by_one, ddl_mark, trace, Some(&report)).await;
        (outcome, progress, Some(sha256_hex(sql.as_bytes())))
    }

    /// After the body succeeded: leaves the policy's role, records the
    /// migration in the ledger and commits.
    async fn finish(
        &self,
        db: &mut dyn Backend,
        outcome: Result<(), String>,
        role_set: bool,
        elapsed: Duration,
        executed: &Executed,
        held: Held,
    ) -> Result<(), String> {
        outcome?;
        crate::failpoint::hit("executed");
        let digest = executed.digest.clone();
        if role_set {
            db.execute_script("RESET ROLE")
                .await
                .map_err(|e| format!("cannot leave its policy's role: {e}"))?;
        }
        db.restore_default_schema()
            .await
            .map_err(|e| format!("cannot return to the tenant's schema: {e}"))?;
        self.migrator
            .record(
                db,
                self.migration,
                self.direction,
                Done {
                    elapsed,
                    statements_digest: digest,
                    revert: executed.revert.as_ref(),
                },
                held,
            )
            .await
            .map_err(|e| match (e.kind, self.direction) {
                // The row's key: another runner recorded this migration
                // while this one ran it (the lock was lost in between).
                (crate::backend::DbErrorKind::Constraint, Direction::Up) => format!(
                    "another runner recorded migration {} while this run applied it (this \
                     run's lock was lost); this run's changes are rolled back: {e}",
                    self.migration.source.version
                ),
                _ => format!("cannot update the ledger: {e}"),
            })?;
        crate::failpoint::hit("recorded");
        if self.transactional {
            db.commit()
                .await
                .map_err(|e| format!("the commit failed: {e}"))?;
        }
        crate::failpoint::hit("committed");
        Ok(())
    }

    /// After a failure: rolls back, and leaves the ledger telling the truth
    /// about what stayed behind. Returns the error to report.
    async fn fail(&self, db: &mut dyn Backend, reason: String, progress: Progress) -> Error {
        if let Err(e) = db.rollback().await {
            let hint = format!(
                "the rollback failed too ({e}): check the database before running wasmig again"
            );
            return self.failure(reason, hint);
        }
        // A migration outside a transaction may have left its role and its
        // search_path set: the ledger's marks are written as wasmig.
        if self.migration.sandbox.role.is_some() {
            let _ = db.execute_script("RESET ROLE").await;
        }
        let _ = db.restore_default_schema().await;
        let partial = if self.transactional {
            progress.marked
        } else {
            progress.wrote
        };
        if partial {
            let _ = ledger::mark_failed(db, &self.mark, &reason).await;
            return self.failure(reason, self.partial_hint());
        }
        if !self.mark_first {
            return self.failure(reason, self.rolled_back());
        }
        // Nothing stayed behind: take the mark back.
        match ledger::unmark(db, &self.mark).await {
            Ok(()) => self.failure(reason, self.rolled_back()),
            Err(e) => {
                let hint = format!(
                    "nothing of it stayed behind, but the ledger could not be updated ({e}) \
                     and shows it as failed: run `wasmig resolve {} --as {}`",
                    self.migration.source.version,
                    match self.direction {
                        Direction::Up => "rolled-back",
                        Direction::Down => "applied",
                    }
                );
                self.failure(reason, hint)
            }
        }
    }

    /// Switches SQLite's foreign-key enforcement back on when a declarative
    /// migration switched it off.
    async fn restore_foreign_keys(&self, db: &mut dyn Backend) {
        if self.foreign_keys_were_on.swap(false, Ordering::Relaxed) {
            let _ = db.execute_script("PRAGMA foreign_keys = ON").await;
        }
    }

    /// What the operator is told when part of the migration stayed behind.
    fn partial_hint(&self) -> String {
        let version = self.migration.source.version;
        let why = if self.transactional {
            "MySQL commits DDL statements immediately"
        } else {
            "it runs without a transaction"
        };
        format!(
            "it may be {} in part: {why}, so what ran before the failure stays. The ledger \
             records it as failed. Inspect the database, finish or undo the partial change, \
             then run `wasmig resolve {version} --as applied` or `wasmig resolve {version} \
             --as rolled-back`.",
            match self.direction {
                Direction::Up => "applied",
                Direction::Down => "reverted",
            }
        )
    }
}

/// With a reviewed plan, a migration that succeeded must have issued
/// exactly the statements the plan recorded.
fn matches_plan(
    outcome: Result<(), String>,
    expected: Option<&str>,
    trace: Option<Trace>,
) -> Result<(), String> {
    let (Ok(()), Some(expected), Some(trace)) = (&outcome, expected, trace) else {
        return outcome;
    };
    let (found, _) = trace.finish();
    if found == expected {
        return Ok(());
    }
    Err(format!(
        "it issued other statements (or changed other rows) than in the reviewed plan \
         (migration digest {} in the plan, {} now): the database changed since the plan was \
         made, or an earlier migration of this run could not be simulated. Run `wasmig plan` \
         again and review it",
        short(expected),
        short(&found)
    ))
}
