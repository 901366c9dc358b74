//! Running a SQL script: in one call, or statement by statement where an
//! error must say which statement failed, a plan records each one, or the
//! script is long enough to report progress.

use crate::backend::Backend;
use crate::ledger::{self, InterruptedMark};
use crate::plan::Trace;

/// What a migration got done before it failed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Progress {
    /// A statement that changes something succeeded.
    pub(super) wrote: bool,
    /// The interrupted mark was written before a DDL statement.
    pub(super) marked: bool,
    /// Rows changed, as the engine reported them.
    pub(super) rows: u64,
}

/// A SQL script with at least this many statements runs statement by
/// statement and reports its progress.
const PROGRESS_STATEMENTS: usize = 50;

/// Runs a SQL script: in one call when it runs inside a transaction that
/// can roll all of it back, statement by statement when it cannot (so the
/// error says which statement failed and what ran before it). With
/// `ddl_mark`, the mark is written just before the first DDL statement.
///
/// With `trace`, every statement runs on its own and is recorded with the
/// rows it changed.
pub(super) async fn run_script(
    db: &mut dyn Backend,
    sql: &str,
    statement_by_statement: bool,
    ddl_mark: Option<&InterruptedMark>,
    mut trace: Option<&mut Trace>,
    report: Option<&dyn Fn(u64, u64)>,
) -> (Result<(), String>, Progress) {
    let statements = crate::policy::statements_for(db.dialect(), sql);
    let long = statements.len() >= PROGRESS_STATEMENTS;
    if !statement_by_statement && trace.is_none() && !long {
        return match db.execute_script(sql).await {
            Ok(rows) => (
                Ok(()),
                Progress {
                    rows,
                    ..Progress::default()
                },
            ),
            Err(e) => (Err(e.to_string()), Progress::default()),
        };
    }
    let total = statements.len() as u64;
    let mut progress = Progress::default();
    for (i, statement) in statements.iter().enumerate() {
        if let Some(mark) = ddl_mark
            && !progress.marked
            && crate::policy::is_ddl(statement)
        {
            if let Err(e) = ledger::mark(db, mark).await {
                return (Err(format!("cannot write the ledger: {e}")), progress);
            }
            progress.marked = true;
        }
        let result = match &mut trace {
            // DDL reports no rows (and some engines cannot prepare it).
            Some(trace) if crate::policy::is_ddl(statement) => {
                let result = db.execute_script(statement).await;
                let outcome = match &result {
                    Ok(_) => Ok(None),
                    Err(e) => Err(e.message.as_str()),
                };
                trace.record("sql", statement, &[], outcome);
                result
            }
            Some(trace) => {
                let result = db.execute(statement, &[]).await;
                let outcome = match &result {
                    Ok(n) => Ok(Some(*n)),
                    Err(e) => Err(e.message.as_str()),
                };
                trace.record("sql", statement, &[], outcome);
                result
            }
            None => db.execute_script(statement).await,
        };
        if let Ok(rows) = &result {
            progress.rows += rows;
            crate::failpoint::hit("statement");
        }
        if let Err(e) = result {
            let preview: String = statement.chars().take(120).collect();
            return (
                Err(format!(
                    "statement {} of {} failed: {e}\n    {preview}",
                    i + 1,
                    statements.len()
                )),
                progress,
            );
        }
        progress.wrote = true;
        if let Some(report) = report
            && long
        {
            report(i as u64 + 1, total);
        }
    }
    (Ok(()), progress)
}
