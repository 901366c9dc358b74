//! `wasmig plan`: every pending migration run in one transaction that is
//! rolled back, each behind a savepoint, with every statement recorded.

use super::payload::Read;
use super::prepare::{Prepared, PreparedBody};
use super::schema_ops::{Target, foreign_keys_off, render_only};
use super::script::run_script;
use super::{Migrator, runtime};
use crate::backend::{Backend, Dialect};
use crate::error::Error;
use crate::ledger;
use crate::plan::{Plan, PlannedMigration, Simulation, Trace};
use crate::planner::{self, UpOptions};
use crate::report::Direction;
use crate::runtime::RunSpec;

impl Migrator {
    /// What `up` with `options` would do: every pending migration runs in
    /// one transaction that is rolled back, and each statement it issues is
    /// recorded. Nothing is applied and the ledger is not touched; guest
    /// crates are built and components compiled, as `up` would.
    ///
    /// # Errors
    /// As [`Migrator::up`] before anything runs. A migration that fails in
    /// the simulation is reported in the plan, not as an error.
    pub async fn plan(&self, options: &UpOptions) -> Result<Plan, Error> {
        let Read {
            sources,
            mut payloads,
            with_sums,
        } = self.read_sources().await?;
        let lock = self.lock().await?;
        let mut db = self.connect().await?;
        let entries = ledger::read_if_exists(&mut *db).await?;
        let statuses = planner::reconcile(&with_sums, &entries);
        let versions = planner::plan_up(&statuses, options)?;
        let prepared = self.prepare(&sources, &mut payloads, &versions)?;
        let (_db, planned) = self.simulate(db, &prepared).await;
        lock.release().await;
        Ok(Plan::new(planned?))
    }

    /// Runs `prepared` in one transaction, each migration behind a
    /// savepoint, recording its statements; rolls everything back.
    pub(super) async fn simulate(
        &self,
        mut db: Box<dyn Backend>,
        prepared: &[Prepared<'_>],
    ) -> (Box<dyn Backend>, Result<Vec<PlannedMigration>, Error>) {
        let enforced = match unenforce_for_rebuilds(&mut *db, prepared).await {
            Ok(enforced) => enforced,
            Err(e) => return (db, Err(e)),
        };
        let context = "starting the simulation's transaction";
        if let Err(e) = db.begin().await {
            return (db, Err(Error::db(context)(e)));
        }
        let dialect = db.dialect();
        let mysql = dialect == Dialect::Mysql;
        let mut planned = Vec::with_capacity(prepared.len());
        let mut failed = false;
        for migration in prepared {
            let source = migration.source;
            let mut trace = Trace::default();
            let simulation = if failed {
                Simulation::NotReached
            } else if !migration.transactional() {
                if let PreparedBody::Sql { up, .. } = &migration.body {
                    for statement in crate::policy::statements_for(dialect, up) {
                        trace.record("sql", statement, &[], Ok(None));
                    }
                }
                Simulation::NotSimulated {
                    reason: "it runs outside a transaction, so it cannot be rolled back".into(),
                }
            } else if let (true, PreparedBody::Sql { up, .. }) = (mysql, &migration.body)
                && crate::policy::statements_for(dialect, up)
                    .into_iter()
                    .any(crate::policy::is_ddl)
            {
                for statement in crate::policy::statements_for(dialect, up) {
                    trace.record("sql", statement, &[], Ok(None));
                }
                Simulation::NotSimulated {
                    reason: "MySQL commits DDL statements immediately".into(),
                }
            } else if let (true, PreparedBody::Schema { ops, .. }) = (mysql, &migration.body) {
                rendered_only(&mut *db, ops, &mut trace).await
            } else {
                let (returned, simulation, recorded) = self.simulate_one(db, migration).await;
                db = returned;
                trace = recorded;
                simulation
            };
            if matches!(simulation, Simulation::Failed { .. }) {
                failed = true;
            }
            let total = trace.total();
            let shape = trace.shape();
            let (digest, statements) = trace.finish();
            let rows_affected = statements
                .iter()
                .filter(|s| crate::plan::is_write(s.call))
                .filter_map(|s| s.rows)
                .sum();
            planned.push(PlannedMigration {
                version: source.version,
                name: source.name.clone(),
                kind: source.kind(),
                path: source.path().to_owned(),
                checksum: migration.checksum.clone(),
                simulation,
                statements,
                statements_total: total,
                rows_affected,
                digest,
                shape,
            });
        }
        if let Err(e) = db.rollback().await {
            return (db, Err(Error::db("rolling the simulation back")(e)));
        }
        if enforced && let Err(e) = db.execute_script("PRAGMA foreign_keys = ON").await {
            return (db, Err(Error::db("switching foreign keys back on")(e)));
        }
        (db, Ok(planned))
    }

    /// Simulates one migration behind a savepoint, which is rolled back to
    /// when it fails or cannot be simulated.
    async fn simulate_one(
        &self,
        mut db: Box<dyn Backend>,
        migration: &Prepared<'_>,
    ) -> (Box<dyn Backend>, Simulation, Trace) {
        let mut trace = Trace::default();
        let failed = |reason: String| Simulation::Failed { reason };
        if let Err(e) = db.execute_script("SAVEPOINT wasmig_plan").await {
            return (db, failed(format!("cannot set a savepoint: {e}")), trace);
        }
        let sandbox = &migration.sandbox;
        let mut simulation = Simulation::Simulated;
        if let Err(reason) = migration.check_sql(&*db, Direction::Up) {
            simulation = failed(reason);
        } else if let Some(role) = &sandbox.role {
            let quoted = format!("\"{}\"", role.replace('"', "\"\""));
            if let Err(e) = db.execute_script(&format!("SET LOCAL ROLE {quoted}")).await {
                simulation = failed(format!("cannot switch to its policy's role `{role}`: {e}"));
            }
        }
        if simulation == Simulation::Simulated {
            simulation = match &migration.body {
                PreparedBody::Sql { up, .. } => {
                    let (outcome, _) =
                        run_script(&mut *db, up, true, None, Some(&mut trace), None).await;
                    outcome.map_or_else(failed, |()| Simulation::Simulated)
                }
                PreparedBody::Schema { ops, .. } => {
                    let target = Target::plan(&mut trace);
                    let run = self.run_ops(&mut *db, migration, ops, target).await;
                    run.outcome.map_or_else(failed, |()| Simulation::Simulated)
                }
                PreparedBody::Component { loaded, .. } => {
                    let spec = RunSpec {
                        direction: Direction::Up,
                        version: migration.source.version,
                        checksum: migration.checksum.clone(),
                        env: self.env.clone(),
                        sandbox: sandbox.clone(),
                        reporter: self.reporter.clone(),
                        transactional: true,
                        ddl_mark: None,
                        trace: true,
                        stop_before_ddl: db.dialect() == Dialect::Mysql,
                        log_sql: self.log_sql,
                        kept_revert: None,
                    };
                    match runtime() {
                        Ok(rt) => {
                            let result = rt.run(loaded, db, spec).await;
                            db = result.db;
                            trace = result.trace.unwrap_or_default();
                            match (result.stopped_before_ddl, result.outcome) {
                                (Some(sql), _) => Simulation::NotSimulated {
                                    reason: format!(
                                        "MySQL commits DDL statements immediately; it stopped \
                                         before `{}`",
                                        sql.chars().take(80).collect::<String>()
                                    ),
                                },
                                (None, Ok(())) => Simulation::Simulated,
                                (None, Err(reason)) => failed(reason),
                            }
                        }
                        Err(e) => failed(e.to_string()),
                    }
                }
            };
        }
        let simulation = settle(&mut *db, sandbox.role.is_some(), simulation).await;
        (db, simulation, trace)
    }
}

/// After a migration's simulation: back to wasmig's own role and schema (as
/// `up` does before its ledger writes; the savepoint keeps a SET, so the next
/// migration would start elsewhere), and back to the savepoint when it failed
/// or was not simulated.
async fn settle(db: &mut dyn Backend, has_role: bool, mut simulation: Simulation) -> Simulation {
    let failed = |reason: String| Simulation::Failed { reason };
    if has_role
        && simulation == Simulation::Simulated
        && let Err(e) = db.execute_script("RESET ROLE").await
    {
        simulation = failed(format!("cannot leave its policy's role: {e}"));
    }
    if simulation == Simulation::Simulated
        && let Err(e) = db.restore_default_schema().await
    {
        simulation = failed(format!("cannot return to the tenant's schema: {e}"));
    }
    if simulation != Simulation::Simulated
        && let Err(e) = db.execute_script("ROLLBACK TO SAVEPOINT wasmig_plan").await
    {
        simulation = failed(format!("cannot roll back to its savepoint: {e}"));
    }
    simulation
}

/// A declarative migration on MySQL, which commits DDL at once: its
/// statements rendered for the schema as it is, not run.
async fn rendered_only(
    db: &mut dyn Backend,
    ops: &[crate::schema::Op],
    trace: &mut Trace,
) -> Simulation {
    match render_only(db, ops).await {
        Ok(statements) => {
            for statement in &statements {
                trace.record("sql", statement, &[], Ok(None));
            }
            Simulation::NotSimulated {
                reason: "MySQL commits DDL statements immediately: the statements are \
                         rendered for the schema as it is, not run"
                    .into(),
            }
        }
        Err(reason) => Simulation::Failed { reason },
    }
}

/// SQLite table rebuilds need foreign keys unenforced, which cannot change
/// once the transaction is open (see `schema::foreign_keys`): a plan with
/// schema operations switches enforcement off, as `up` does for those
/// migrations. Returns whether it was on.
async fn unenforce_for_rebuilds(
    db: &mut dyn Backend,
    prepared: &[Prepared<'_>],
) -> Result<bool, Error> {
    let rebuilds = prepared.iter().any(Prepared::changes_schema);
    if db.dialect() != Dialect::Sqlite || !rebuilds {
        return Ok(false);
    }
    foreign_keys_off(db)
        .await
        .map_err(Error::db("switching foreign keys off"))
}
