//! `wasmig down`: applied migrations reverted newest first, each in its own
//! transaction with the removal of its ledger row; a migration whose file is
//! gone is reverted with the down step the ledger kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use super::payload::{Payload, checksum, read_payload};
use super::prepare::PreparedBody;
use super::{Migrator, RunReport};
use crate::backend::Backend;
use crate::error::Error;
use crate::ledger::{self, LedgerEntry};
use crate::planner::{self, DownTarget};
use crate::report::{Direction, Event};
use crate::schema::Revert;
use crate::source::{MigrationKind, MigrationSource, SourceBody, Version};

impl Migrator {
    /// Reverts applied migrations, newest first, each in its own transaction
    /// with the removal of its ledger row.
    ///
    /// # Errors
    /// [`Error::Refused`] when a migration to revert is irreversible,
    /// changed or missing; [`Error::MigrationFailed`] when a revert fails.
    pub async fn down(&self, target: DownTarget) -> Result<RunReport, Error> {
        let started = Instant::now();
        let mut sources = self.sources()?;
        let mut lock = self.lock().await?;
        let mut db = self.connect().await?;
        let (entries, stored) = if ledger::exists(&mut *db).await? {
            ledger::upgrade(&mut *db).await?;
            let entries = ledger::read(&mut *db).await?;
            let stored: BTreeSet<Version> =
                ledger::stored_downs(&mut *db).await?.into_iter().collect();
            (entries, stored)
        } else {
            (Vec::new(), BTreeSet::new())
        };
        let applied: Vec<&MigrationSource> = sources
            .iter()
            .filter(|s| entries.iter().any(|e| e.version == s.version))
            .collect();
        let owned: Vec<MigrationSource> = applied.iter().map(|s| (*s).clone()).collect();
        self.build_crates(&owned, false).await?;
        let mut payloads = BTreeMap::new();
        let mut with_sums = Vec::with_capacity(sources.len());
        for source in &sources {
            if applied.iter().any(|a| a.version == source.version) {
                let payload = read_payload(source)?;
                let sum = checksum(&payload);
                with_sums.push((source.clone(), Some(sum.clone())));
                payloads.insert(source.version, (sum, payload));
            } else {
                with_sums.push((source.clone(), None));
            }
        }
        let statuses = planner::reconcile(&with_sums, &entries);
        let versions = planner::plan_down(&statuses, target, &stored)?;
        // A migration whose file is gone runs the down step the ledger kept.
        for version in &versions {
            if !payloads.contains_key(version)
                && let Some((source, kept)) = self.kept_down(&mut *db, &entries, *version).await?
            {
                sources.push(source);
                payloads.insert(*version, kept);
            }
        }
        // A declarative migration is reverted with the operations the
        // ledger recorded when it ran.
        for version in &versions {
            if let Some((_, Payload::Schema { revert, .. })) = payloads.get_mut(version)
                && revert.is_none()
                && let Some(kept) =
                    ledger::read_step(&mut *db, *version, ledger::Step::Down).await?
            {
                *revert = Some(kept_revert_of(*version, &kept.bytes)?);
            }
        }
        refuse_irreversible(&sources, &payloads, &versions)?;
        let mut prepared = self.prepare(&sources, &mut payloads, &versions)?;
        // A component's schema operations are undone from what they
        // recorded, when its `down` asks for it.
        for migration in &mut prepared {
            if let PreparedBody::Component { kept_revert, .. } = &mut migration.body
                && let Some(kept) =
                    ledger::read_step(&mut *db, migration.source.version, ledger::Step::Revert)
                        .await?
            {
                *kept_revert = Some(kept_revert_of(migration.source.version, &kept.bytes)?);
            }
        }
        let mut report = RunReport::default();
        for migration in &prepared {
            lock.check().await?;
            let (returned, result) = self
                .run_one(db, migration, Direction::Down, false, None, false)
                .await;
            db = returned;
            report.migrations.push(result?);
        }
        lock.release().await;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The source and payload of applied migration `version` rebuilt from
    /// the down step the ledger kept, when it kept one.
    async fn kept_down(
        &self,
        db: &mut dyn Backend,
        entries: &[LedgerEntry],
        version: Version,
    ) -> Result<Option<(MigrationSource, (String, Payload))>, Error> {
        let Some(entry) = entries.iter().find(|e| e.version == version) else {
            return Ok(None);
        };
        let Some(down) = ledger::read_step(db, version, ledger::Step::Down).await? else {
            return Ok(None);
        };
        let path = PathBuf::from(&down.path);
        self.reporter.event(&Event::Warning {
            message: &format!(
                "{version} {}: its file {} is gone; reverting it with the down step the \
                 ledger kept",
                entry.name, down.path
            ),
        });
        let (body, payload) = match entry.kind {
            MigrationKind::Sql => {
                let script = String::from_utf8(down.bytes).map_err(|_| {
                    Error::Refused(format!(
                        "the down step kept for migration {version} is not UTF-8 SQL; \
                         restore its file {} to revert it",
                        down.path
                    ))
                })?;
                (
                    SourceBody::Sql {
                        up: path,
                        down: None,
                    },
                    Payload::Sql {
                        up: String::new(),
                        down: Some(script),
                        no_transaction: down.no_transaction,
                    },
                )
            }
            MigrationKind::Component => (
                SourceBody::Component { path: path.clone() },
                Payload::Component {
                    bytes: down.bytes,
                    path,
                },
            ),
            MigrationKind::Schema => (
                SourceBody::Schema { path },
                Payload::Schema {
                    text: String::new(),
                    ops: Vec::new(),
                    revert: Some(kept_revert_of(version, &down.bytes)?),
                },
            ),
        };
        let source = MigrationSource {
            version,
            name: entry.name.clone(),
            body,
        };
        Ok(Some((source, (entry.checksum.clone(), payload))))
    }
}

/// The recorded revert of declarative migration `version`.
fn kept_revert_of(version: Version, bytes: &[u8]) -> Result<Revert, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::Refused(format!(
            "the operations kept to revert migration {version} cannot be read ({e}); \
             revert it by hand and run `wasmig resolve {version} --as rolled-back`"
        ))
    })
}

/// Refuses to revert anything when one of `versions` has no down script.
fn refuse_irreversible(
    sources: &[MigrationSource],
    payloads: &BTreeMap<Version, (String, Payload)>,
    versions: &[Version],
) -> Result<(), Error> {
    for version in versions {
        let path = || {
            sources
                .iter()
                .find(|s| s.version == *version)
                .map(|s| s.path().display().to_string())
                .unwrap_or_default()
        };
        if let Some((_, Payload::Schema { revert, .. })) = payloads.get(version) {
            let why = match revert {
                None => Some(
                    "the ledger kept no operations to revert it (it was recorded without \
                     running, by `baseline` or `resolve`)"
                        .to_owned(),
                ),
                Some(Revert {
                    irreversible: Some(why),
                    ..
                }) => Some(why.clone()),
                Some(_) => None,
            };
            if let Some(why) = why {
                return Err(Error::Refused(format!(
                    "cannot revert {version} ({}): {why}. Revert only the migrations after it \
                     with `wasmig down --to {version}`",
                    path()
                )));
            }
        }
        if let Some((_, Payload::Sql { down: None, .. })) = payloads.get(version) {
            let path = sources
                .iter()
                .find(|s| s.version == *version)
                .map(|s| s.path().display().to_string())
                .unwrap_or_default();
            return Err(Error::Refused(format!(
                "cannot revert {version} ({path}): it has no down script, so it is \
                 irreversible. Add a .down.sql beside it (renaming the migration to \
                 .up.sql), or revert only the migrations after it with \
                 `wasmig down --to {version}`"
            )));
        }
    }
    Ok(())
}
