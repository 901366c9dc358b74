//! The operator's recovery commands: `baseline` adopts a database another
//! tool migrated, `resolve` settles a failed migration, `repair` re-stamps
//! edited ones, and `reset` starts a development database afresh.

use std::path::PathBuf;
use std::time::SystemTime;

use super::payload::{Payload, checksum, read_payload, steps_to_keep};
use super::{Migrator, RunReport, commit_or_roll_back};
use crate::error::Error;
use crate::ledger::{self, EntryState, LedgerEntry};
use crate::planner::{DownTarget, MigrationStatus, State, UpOptions};
use crate::source::{MigrationKind, MigrationSource, Version};

/// An applied migration whose file was edited since: what `repair` shows
/// and re-stamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// Its file or crate.
    pub path: PathBuf,
    /// SQL or component.
    pub kind: MigrationKind,
    /// The checksum the ledger has (of what ran).
    pub old_checksum: String,
    /// The checksum of the file now.
    pub new_checksum: String,
    /// The up script that ran, when the ledger keeps it.
    pub ran: Option<String>,
    /// The up script on disk now (SQL migrations).
    pub now: Option<String>,
}

impl Migrator {
    /// Adopts a database that another tool (or hand-run scripts) already
    /// migrated: records every migration up to and including `version` as
    /// applied, without running it. Returns how many were recorded.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger already has rows (baseline adopts a
    /// database; it does not rewrite history) or no migration is that old.
    pub async fn baseline(&self, version: Version) -> Result<usize, Error> {
        let sources = self.sources()?;
        let adopted: Vec<MigrationSource> = sources
            .iter()
            .filter(|s| s.version <= version)
            .cloned()
            .collect();
        if adopted.is_empty() {
            return Err(Error::Refused(format!(
                "no migration has a version up to {version}: nothing to baseline"
            )));
        }
        self.build_crates(&adopted, false).await?;
        let lock = self.lock().await?;
        let mut db = self.connect().await?;
        if !ledger::read_if_exists(&mut *db).await?.is_empty() {
            return Err(Error::Refused(
                "the ledger already records migrations: baseline adopts a database that \
                 wasmig has not migrated yet. Use `wasmig resolve` for a failed migration."
                    .into(),
            ));
        }
        let context = "recording the baseline";
        db.begin().await.map_err(Error::db(context))?;
        let recorded = async {
            ledger::ensure(&mut *db).await?;
            for source in &adopted {
                self.record_unrun(&mut *db, source, ledger::Action::Baseline)
                    .await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        commit_or_roll_back(&mut *db, recorded, context).await?;
        lock.release().await;
        Ok(adopted.len())
    }

    /// Records migration `version`, pending here, as applied without running
    /// it: `drift --fix` wrote it from this database's schema, which already
    /// has what it does. Every other database still runs it.
    ///
    /// # Errors
    /// [`Error::Refused`] when `version` is not a pending migration.
    pub async fn adopt(&self, version: Version) -> Result<(), Error> {
        let sources = self.sources()?;
        let Some(source) = sources.iter().find(|s| s.version == version) else {
            return Err(Error::Refused(format!(
                "there is no migration {version} to record as applied"
            )));
        };
        let lock = self.lock().await?;
        let mut db = self.connect().await?;
        if ledger::read_if_exists(&mut *db)
            .await?
            .iter()
            .any(|e| e.version == version)
        {
            return Err(Error::Refused(format!(
                "migration {version} is in the ledger already: there is nothing to adopt"
            )));
        }
        let context = format!("recording migration {version} as applied");
        ledger::ensure(&mut *db).await?;
        ledger::upgrade(&mut *db).await?;
        db.begin().await.map_err(Error::db(context.clone()))?;
        let recorded = self
            .record_unrun(&mut *db, source, ledger::Action::Adopt)
            .await;
        commit_or_roll_back(&mut *db, recorded, &context).await?;
        lock.release().await;
        Ok(())
    }

    /// Records `source` as applied, with its steps and a history line,
    /// without running it.
    async fn record_unrun(
        &self,
        db: &mut dyn crate::backend::Backend,
        source: &MigrationSource,
        action: ledger::Action,
    ) -> Result<(), Error> {
        let context = format!("recording migration {} as applied", source.version);
        let payload = read_payload(source)?;
        let entry = LedgerEntry {
            version: source.version,
            name: source.name.clone(),
            kind: source.kind(),
            checksum: checksum(&payload),
            statements_digest: None,
            state: EntryState::Applied,
            applied_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            execution_ms: 0,
            environment: self.env.name.clone(),
            error: None,
        };
        ledger::record(db, &entry)
            .await
            .map_err(Error::db(context.clone()))?;
        let steps = steps_to_keep(source, &payload)?;
        let steps: Vec<_> = steps.iter().map(|(step, s)| (*step, s)).collect();
        ledger::store_steps(db, source.version, &steps)
            .await
            .map_err(Error::db(context.clone()))?;
        ledger::log_event(
            db,
            &self.history_event(source.version, &source.name, action),
        )
        .await
        .map_err(Error::db(context))
    }

    /// Records the operator's decision about a migration the ledger shows as
    /// failed: it is now fully applied, or nothing of it remains.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger has no failed row for `version`.
    pub async fn resolve(&self, version: Version, as_applied: bool) -> Result<(), Error> {
        let lock = self.lock().await?;
        let mut db = self.connect().await?;
        let entries = ledger::read_if_exists(&mut *db).await?;
        match entries.iter().find(|e| e.version == version) {
            Some(entry) if entry.state == EntryState::Failed => {}
            Some(_) => {
                return Err(Error::Refused(format!(
                    "migration {version} is applied, not failed: there is nothing to resolve"
                )));
            }
            None => {
                return Err(Error::Refused(format!(
                    "the ledger has no row for migration {version}: there is nothing to resolve"
                )));
            }
        }
        let context = format!("recording the resolution of migration {version}");
        ledger::upgrade(&mut *db).await?;
        let name = entries
            .iter()
            .find(|e| e.version == version)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        let action = if as_applied {
            ledger::Action::ResolveApplied
        } else {
            ledger::Action::ResolveRolledBack
        };
        // The decision and its history event are one transaction.
        db.begin().await.map_err(Error::db(context.clone()))?;
        let recorded = async {
            if as_applied {
                ledger::set_state(&mut *db, version, EntryState::Applied, None).await?;
            } else {
                ledger::remove(&mut *db, version).await?;
            }
            ledger::log_event(&mut *db, &self.history_event(version, &name, action)).await
        }
        .await
        .map_err(Error::db(context.clone()));
        commit_or_roll_back(&mut *db, recorded, &context).await?;
        lock.release().await;
        Ok(())
    }

    /// The applied migrations whose files were edited since, each with what
    /// ran and what is on disk now: what [`Migrator::repair`] would
    /// re-stamp.
    ///
    /// # Errors
    /// Fails when the directory or the ledger cannot be read.
    pub async fn repairs(&self) -> Result<Vec<Repair>, Error> {
        let changed: Vec<MigrationStatus> = self
            .status()
            .await?
            .into_iter()
            .filter(|s| s.status == State::Changed)
            .collect();
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let sources = self.sources()?;
        let mut db = self.connect().await?;
        let mut repairs = Vec::with_capacity(changed.len());
        for status in changed {
            let Some(source) = sources.iter().find(|s| s.version == status.version) else {
                continue;
            };
            let payload = read_payload(source)?;
            let ran = match ledger::read_step(&mut *db, status.version, ledger::Step::Up).await {
                Ok(step) => step.and_then(|s| String::from_utf8(s.bytes).ok()),
                Err(_) => None,
            };
            let now = match &payload {
                Payload::Sql { up, .. } => Some(up.clone()),
                Payload::Schema { text, .. } => Some(text.clone()),
                Payload::Component { .. } => None,
            };
            repairs.push(Repair {
                version: status.version,
                name: status.name.clone(),
                path: source.path().to_owned(),
                kind: status.kind,
                old_checksum: status.checksum.clone().unwrap_or_default(),
                new_checksum: checksum(&payload),
                ran,
                now,
            });
        }
        Ok(repairs)
    }

    /// Re-stamps the ledger with the checksums of the edited files in
    /// `reviewed` (from [`Migrator::repairs`]), in one transaction, and keeps
    /// their new scripts. A migration that changed again since it was
    /// reviewed is refused. Nothing runs. Returns how many were re-stamped.
    ///
    /// # Errors
    /// [`Error::Refused`] when the ledger or a file no longer matches the
    /// review.
    pub async fn repair(&self, reviewed: &[Repair]) -> Result<usize, Error> {
        if reviewed.is_empty() {
            return Ok(0);
        }
        let sources = self.sources()?;
        let lock = self.lock().await?;
        let mut db = self.connect().await?;
        ledger::upgrade(&mut *db).await?;
        let entries = ledger::read(&mut *db).await?;
        let mut work = Vec::with_capacity(reviewed.len());
        for r in reviewed {
            let entry = entries.iter().find(|e| e.version == r.version);
            let source = sources.iter().find(|s| s.version == r.version);
            let payload = source.map(read_payload).transpose()?;
            let (Some(entry), Some(source), Some(payload)) = (entry, source, payload) else {
                return Err(Error::Refused(format!(
                    "migration {} changed since it was reviewed (its file or ledger row is \
                     gone); nothing was repaired. Run `wasmig repair` again",
                    r.version
                )));
            };
            if entry.checksum != r.old_checksum || checksum(&payload) != r.new_checksum {
                return Err(Error::Refused(format!(
                    "migration {} ({}) changed since it was reviewed; nothing was repaired. \
                     Run `wasmig repair` again",
                    r.version,
                    source.path().display()
                )));
            }
            work.push((entry.clone(), source, payload));
        }
        let context = "recording the repair";
        db.begin().await.map_err(Error::db(context))?;
        let done = async {
            for (entry, source, payload) in &work {
                let mut updated = entry.clone();
                updated.checksum = checksum(payload);
                ledger::record(&mut *db, &updated)
                    .await
                    .map_err(Error::db(context))?;
                // What undoes its schema operations was recorded when it
                // ran; the edit does not change it.
                let recorded = match payload {
                    Payload::Schema { .. } => Some(ledger::Step::Down),
                    Payload::Component { .. } => Some(ledger::Step::Revert),
                    Payload::Sql { .. } => None,
                };
                let kept_revert = match recorded {
                    Some(step) => ledger::read_step(&mut *db, entry.version, step)
                        .await?
                        .map(|kept| (step, kept)),
                    None => None,
                };
                ledger::remove_steps(&mut *db, entry.version)
                    .await
                    .map_err(Error::db(context))?;
                let mut steps = steps_to_keep(source, payload)?;
                if let Some(kept) = kept_revert {
                    steps.push(kept);
                }
                let steps: Vec<_> = steps.iter().map(|(step, s)| (*step, s)).collect();
                ledger::store_steps(&mut *db, entry.version, &steps)
                    .await
                    .map_err(Error::db(context))?;
                let mut event =
                    self.history_event(entry.version, &entry.name, ledger::Action::Repair);
                event.checksum = Some(updated.checksum.clone());
                event.detail = Some(format!("checksum was {}", entry.checksum));
                ledger::log_event(&mut *db, &event)
                    .await
                    .map_err(Error::db(context))?;
            }
            Ok::<_, Error>(())
        }
        .await;
        commit_or_roll_back(&mut *db, done, context).await?;
        lock.release().await;
        Ok(work.len())
    }

    /// Reverts every applied migration, then applies every migration: a
    /// fresh start for a development database. Refused in a protected
    /// environment.
    ///
    /// # Errors
    /// [`Error::Refused`] in a protected environment, or as
    /// [`Migrator::down`] and [`Migrator::up`].
    pub async fn reset(&self) -> Result<(RunReport, RunReport), Error> {
        if self.protected {
            return Err(Error::Refused(format!(
                "environment `{}` is protected (`protected = true` in wasmig.toml): `reset` \
                 would revert every migration and lose its data. Nothing was changed",
                self.env.name
            )));
        }
        let reverted = self.down(DownTarget::To(Version::MIN)).await?;
        let applied = self.up(&UpOptions::default()).await?;
        Ok((reverted, applied))
    }
}
