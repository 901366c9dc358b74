//! `wasmig up`: pending migrations applied oldest first, each in its own
//! transaction with its ledger row.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::payload::Read;
use super::prepare::Prepared;
use super::{Migrator, RunReport};
use crate::backend::Backend;
use crate::error::Error;
use crate::ledger;
use crate::plan::{Plan, Simulation};
use crate::planner::{self, UpOptions};
use crate::report::Direction;
use crate::source::Version;

impl Migrator {
    /// Applies pending migrations, each in its own transaction with its
    /// ledger row. Stale guest crates are built and every component is
    /// compiled before the first migration runs.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger and directory disagree (see
    /// [`planner::plan_up`]); [`Error::MigrationFailed`] when a migration
    /// fails: it is rolled back, and the ones before it stay applied.
    pub async fn up(&self, options: &UpOptions) -> Result<RunReport, Error> {
        let started = Instant::now();
        let Read {
            sources,
            mut payloads,
            with_sums,
        } = self.read_sources().await?;
        let mut lock = self.lock().await?;
        let mut db = self.connect().await?;
        let mut ledger_exists = ledger::exists(&mut *db).await?;
        let entries = if ledger_exists {
            ledger::upgrade(&mut *db).await?;
            ledger::read(&mut *db).await?
        } else {
            Vec::new()
        };
        // Steps kept without a ledger row (a row deleted by hand) are
        // replaced when their migration applies.
        let stale: BTreeSet<Version> = ledger::stale_steps(&mut *db, ledger_exists)
            .await?
            .into_iter()
            .collect();
        let statuses = planner::reconcile(&with_sums, &entries);
        let versions = planner::plan_up(&statuses, options)?;
        let prepared = self.prepare(&sources, &mut payloads, &versions)?;
        // With a reviewed plan, each migration's statements are checked
        // against it as it runs.
        let mut expected = BTreeMap::new();
        // A tenant with nothing pending has nothing to check: `fleet plan`
        // shows no group for it.
        let shapes = !options.expect_shapes.is_empty() && !prepared.is_empty();
        if options.expect_plan.is_some() || shapes {
            let (returned, digests) = self.reviewed_digests(db, &prepared, options).await;
            db = returned;
            expected = digests?;
        }
        let mut report = RunReport::default();
        for migration in &prepared {
            lock.check().await?;
            // A new ledger is created in the first migration's transaction,
            // so a failed first run leaves the database untouched.
            let (returned, result) = self
                .run_one(
                    db,
                    migration,
                    Direction::Up,
                    !ledger_exists,
                    expected.get(&migration.source.version).map(String::as_str),
                    stale.contains(&migration.source.version),
                )
                .await;
            db = returned;
            report.migrations.push(result?);
            ledger_exists = true;
        }
        lock.release().await;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// With a reviewed plan (`--expect-plan`, or the shapes a fleet's
    /// reviewer accepted): simulates again, refuses if anything differs,
    /// and returns each simulated migration's digest, to check its
    /// statements against as it runs.
    async fn reviewed_digests(
        &self,
        db: Box<dyn Backend>,
        prepared: &[Prepared<'_>],
        options: &UpOptions,
    ) -> (Box<dyn Backend>, Result<BTreeMap<Version, String>, Error>) {
        let (db, planned) = self.simulate(db, prepared).await;
        let plan = match planned {
            Ok(planned) => Plan::new(planned),
            Err(e) => return (db, Err(e)),
        };
        let matches =
            |digest: &str, reviewed: &str| reviewed.len() >= 12 && digest.starts_with(reviewed);
        if let Some(reviewed) = &options.expect_plan
            && !matches(&plan.digest, reviewed)
        {
            let refusal = Error::Refused(format!(
                "the plan differs from the reviewed one: --expect-plan {reviewed}, but what \
                 `up` would do now has digest {}. The database or the pending migrations \
                 changed since the plan was made (or the plan was made with other options). \
                 Nothing was applied; run `wasmig plan` again, review it, and pass its digest",
                plan.digest
            ));
            return (db, Err(refusal));
        }
        let shapes = &options.expect_shapes;
        if !shapes.is_empty() && !shapes.iter().any(|s| matches(&plan.shape, s)) {
            let refusal = Error::Refused(format!(
                "the plan's shape {} is not among the reviewed ones ({}): the database or the \
                 pending migrations changed since `wasmig fleet plan`, or this tenant's plan \
                 was never reviewed. Nothing was applied here; run `wasmig fleet plan` again, \
                 review the new group, and pass its shape to --expect-plan",
                plan.shape,
                shapes.join(", ")
            ));
            return (db, Err(refusal));
        }
        let expected = plan
            .migrations
            .into_iter()
            .filter(|m| m.simulation == Simulation::Simulated)
            .map(|m| (m.version, m.digest))
            .collect();
        (db, Ok(expected))
    }
}
