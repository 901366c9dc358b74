//! The commands that change nothing: `status`, `validate` and `history`.

use std::collections::BTreeSet;

use super::Migrator;
use super::payload::{Payload, checksum, in_parallel, read_payload};
use crate::checksum_cache::{ChecksumCache, Stamp};
use crate::error::Error;
use crate::guest_crate;
use crate::ledger;
use crate::planner::{self, DownTarget, MigrationStatus, State};
use crate::runtime::world;
use crate::source::{self, MigrationSource, SourceBody};

impl Migrator {
    /// Every migration, on disk or in the ledger, with where it stands.
    /// Builds and compiles nothing; never writes to the database.
    ///
    /// # Errors
    /// Fails when the directory or the ledger cannot be read.
    pub async fn status(&self) -> Result<Vec<MigrationStatus>, Error> {
        // The directory is listed, and its files read and hashed, on other
        // threads while the ledger is read; files whose metadata did not
        // change since an earlier run are not read at all.
        let dirs = self.dirs();
        let cache_dir = self.cache_dir.clone();
        let files = tokio::task::spawn_blocking(move || {
            let sources = source::discover_all(&dirs)?;
            let cache = cache_dir.and_then(|dir| ChecksumCache::open(&dir, &dirs));
            checksums(sources, cache)
        });
        let ledger = async {
            let mut db = self.connect().await?;
            let entries = ledger::read_if_exists(&mut *db).await?;
            // Closing frees the engine's copy of the schema (SQLite parses
            // every table's definition on open): not on the caller's time.
            tokio::task::spawn_blocking(move || drop(db));
            Ok::<_, Error>(entries)
        }
        .await;
        let with_sums = files
            .await
            .map_err(|e| Error::Runtime(format!("reading the migrations failed: {e}")))??;
        Ok(planner::reconcile_owned(with_sums, ledger?))
    }

    /// Checks every migration without running or compiling anything: SQL
    /// files are readable UTF-8, components are components of the migration
    /// world, crates are built; and the ledger agrees with the directory.
    /// Returns the problems found, each naming its migration.
    ///
    /// # Errors
    /// Fails when the directory is malformed (bad names, duplicate versions)
    /// or the ledger cannot be read.
    pub async fn validate(&self) -> Result<Vec<String>, Error> {
        let sources = self.sources()?;
        let mut problems = Vec::new();
        for source in &sources {
            if let SourceBody::Crate { dir } = &source.body
                && guest_crate::is_stale(dir)?
            {
                problems.push(format!(
                    "{}: the crate's {} is missing or older than its sources; run `wasmig build`",
                    dir.display(),
                    guest_crate::ARTIFACT
                ));
                continue;
            }
            match read_payload(source) {
                Ok(Payload::Component { bytes, .. }) if crate::python::is_bundle(&bytes) => {}
                Ok(Payload::Component { bytes, path }) => {
                    let check = world::shape(&bytes).and_then(|shape| world::check(&shape));
                    if let Err(message) = check {
                        problems.push(format!("{}: {message}", path.display()));
                    }
                }
                Ok(Payload::Sql { .. } | Payload::Schema { .. }) => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
        for status in self.status().await? {
            let refusal = match status.status {
                State::Changed | State::Failed | State::Missing => planner::plan_down(
                    std::slice::from_ref(&status),
                    DownTarget::Steps(1),
                    &BTreeSet::new(),
                )
                .err(),
                State::Applied | State::Pending => None,
            };
            if let Some(e) = refusal {
                problems.push(e.to_string());
            }
        }
        Ok(problems)
    }

    /// Every apply, revert, repair, resolve and baseline, oldest first.
    ///
    /// # Errors
    /// Fails when the history cannot be read.
    pub async fn history(&self) -> Result<Vec<ledger::HistoryEvent>, Error> {
        let mut db = self.connect().await?;
        ledger::read_history(&mut *db).await
    }
}

/// Each migration with the checksum of what is on disk (`None` for a crate
/// not built yet), read on several threads; `cache` answers for files whose
/// metadata did not change, and learns the rest.
fn checksums(
    sources: Vec<MigrationSource>,
    mut cache: Option<ChecksumCache>,
) -> Result<Vec<(MigrationSource, Option<String>)>, Error> {
    // The file whose bytes alone make the checksum (a crate's depends on
    // its build, so it is always read).
    let keyed = |source: &MigrationSource| match &source.body {
        SourceBody::Sql { up, .. } => Some(up.clone()),
        SourceBody::Component { path } | SourceBody::Schema { path } => Some(path.clone()),
        SourceBody::Crate { .. } | SourceBody::Python { .. } => None,
    };
    let sums = in_parallel(&sources, |source| {
        let stamped = keyed(source).and_then(|path| Some((Stamp::of(&path)?, path)));
        if let (Some(cache), Some((stamp, path))) = (&cache, &stamped)
            && let Some(sum) = cache.get(path, *stamp)
        {
            return Ok((Some(sum.to_owned()), None));
        }
        match &source.body {
            SourceBody::Crate { dir } if guest_crate::is_stale(dir)? => Ok((None, None)),
            _ => {
                let sum = checksum(&read_payload(source)?);
                Ok((
                    Some(sum.clone()),
                    stamped.map(|(stamp, path)| (path, stamp, sum)),
                ))
            }
        }
    });
    let mut out = Vec::with_capacity(sources.len());
    let mut seen = Vec::with_capacity(sources.len());
    for (source, result) in sources.into_iter().zip(sums) {
        let (sum, learned) = result?;
        if let Some(path) = keyed(&source) {
            seen.push(path);
        }
        if let (Some(cache), Some((path, stamp, sum))) = (&mut cache, learned) {
            cache.learn(&path, stamp, sum);
        }
        out.push((source, sum));
    }
    if let Some(cache) = cache {
        cache.save(&seen);
    }
    Ok(out)
}
