//! A declarative migration's operations, run against the database: each
//! one rendered for the schema as it is right then, checked against the
//! migration's policy, executed, and inverted for the automatic down.
//!
//! Every operation of the file is first checked against the model of the
//! live schema (tables, columns and names it needs), so a file that cannot
//! work fails before its first statement.

use super::Migrator;
use super::prepare::Prepared;
use super::script::{Progress, run_script};
use crate::backend::{Backend, DbError, Dialect};
use crate::ledger::InterruptedMark;
use crate::plan::Trace;
use crate::report::Event;
use crate::schema::{self, Op, Revert, Schema};
use crate::source::sha256_hex;

/// What running the operations did.
pub(super) struct OpsRun {
    pub(super) outcome: Result<(), String>,
    pub(super) progress: Progress,
    /// The digest of the statements issued.
    pub(super) digest: String,
    /// How to undo what ran (when asked for).
    pub(super) revert: Option<Revert>,
}

/// Where the operations run.
pub(super) struct Target<'t> {
    /// The mark to write before the first DDL statement (MySQL).
    pub(super) ddl_mark: Option<&'t InterruptedMark>,
    /// Records each statement for a plan.
    pub(super) trace: Option<&'t mut Trace>,
    /// Work out the inverse of each operation.
    pub(super) invert: bool,
}

impl<'t> Target<'t> {
    /// A plan's run: every statement recorded, nothing inverted.
    pub(super) fn plan(trace: &'t mut Trace) -> Self {
        Self {
            ddl_mark: None,
            trace: Some(trace),
            invert: false,
        }
    }
}

fn read_schema(error: DbError) -> String {
    format!("cannot read the schema: {error}")
}

impl Migrator {
    /// Runs `ops` of `migration` on `db`.
    pub(super) async fn run_ops(
        &self,
        db: &mut dyn Backend,
        migration: &Prepared<'_>,
        ops: &[Op],
        mut target: Target<'_>,
    ) -> OpsRun {
        let mut run = OpsRun {
            outcome: Ok(()),
            progress: Progress::default(),
            digest: String::new(),
            revert: target.invert.then(Revert::default),
        };
        let mut issued = String::new();
        run.outcome = self
            .run_each(db, migration, ops, &mut target, &mut run, &mut issued)
            .await;
        run.digest = sha256_hex(issued.as_bytes());
        run
    }

    async fn run_each(
        &self,
        db: &mut dyn Backend,
        migration: &Prepared<'_>,
        ops: &[Op],
        target: &mut Target<'_>,
        run: &mut OpsRun,
        issued: &mut String,
    ) -> Result<(), String> {
        let dialect = db.dialect();
        let mut current = schema::introspect(db, None).await.map_err(read_schema)?;
        check_all(&current, dialect, ops)?;
        let mut inverses: Vec<Vec<Op>> = Vec::new();
        let mut rebuilt = false;
        for (i, op) in ops.iter().enumerate() {
            let name =
                |e: &dyn std::fmt::Display| format!("operation {} ({}): {e}", i + 1, op.describe());
            if let Some(revert) = &mut run.revert {
                let inverse = schema::invert(dialect, &current, op).map_err(|e| name(&e))?;
                for note in &inverse.notes {
                    self.reporter.event(&Event::Warning {
                        message: &format!("{} {}: {note}", migration.source.version, op.describe()),
                    });
                }
                if revert.irreversible.is_none() {
                    revert.irreversible = inverse.irreversible.map(|why| name(&why));
                }
                inverses.push(inverse.ops);
            }
            let rendered = schema::render(dialect, &current, op).map_err(|e| name(&e))?;
            if rendered.rebuilt {
                schema::foreign_keys::refuse_enforced(db)
                    .await
                    .map_err(|e| name(&e))?;
                rebuilt = true;
            }
            for statement in &rendered.statements {
                self.run_statement(db, migration, statement, target, run)
                    .await?;
                issued.push_str(statement);
                issued.push('\n');
            }
            let after = schema::introspect(db, None).await.map_err(read_schema)?;
            if let Some(inverse) = inverses.last_mut() {
                schema::restore_collateral(&current, &after, op, inverse);
            }
            current = after;
        }
        if rebuilt {
            schema::foreign_keys::check(db).await?;
        }
        if let Some(revert) = &mut run.revert {
            revert.ops = inverses.into_iter().rev().flatten().collect();
        }
        Ok(())
    }

    /// One rendered statement: checked against the policy, logged, run.
    async fn run_statement(
        &self,
        db: &mut dyn Backend,
        migration: &Prepared<'_>,
        statement: &str,
        target: &mut Target<'_>,
        run: &mut OpsRun,
    ) -> Result<(), String> {
        let version = migration.source.version;
        if migration.sandbox.restricts_sql() {
            migration
                .sandbox
                .check_sql(db.dialect(), db.default_schema(), statement)
                .map_err(|v| format!("refused: {v}"))?;
        }
        if self.log_sql {
            self.reporter.event(&Event::Statement {
                version,
                sql: statement,
            });
        }
        let (outcome, progress) = run_script(
            db,
            statement,
            true,
            target.ddl_mark,
            target.trace.as_deref_mut(),
            None,
        )
        .await;
        run.progress.wrote |= progress.wrote;
        run.progress.marked |= progress.marked;
        run.progress.rows += progress.rows;
        if progress.marked {
            // One mark per migration.
            target.ddl_mark = None;
        }
        outcome
    }
}

/// The statements `ops` would issue, rendered against the model of the
/// live schema as each operation changes it, without running them (for a
/// plan where the engine cannot roll DDL back).
pub(super) async fn render_only(db: &mut dyn Backend, ops: &[Op]) -> Result<Vec<String>, String> {
    let dialect = db.dialect();
    let model = schema::introspect(db, None).await.map_err(read_schema)?;
    check_all(&model, dialect, ops)?;
    schema::render::render_all(dialect, &model, ops).map_err(|e| e.to_string())
}

/// Checks every operation up to the first raw `sql` one (whose effect on
/// the schema is unknown) against the model, in order.
fn check_all(current: &Schema, dialect: Dialect, ops: &[Op]) -> Result<(), String> {
    let mut model = current.clone();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op, Op::Sql { .. }) {
            break;
        }
        schema::apply(&mut model, dialect, op).map_err(|e| {
            format!(
                "operation {} ({}) cannot work: {e}. Nothing was applied",
                i + 1,
                op.describe()
            )
        })?;
    }
    Ok(())
}

pub(super) use crate::schema::foreign_keys::switch_off as foreign_keys_off;
