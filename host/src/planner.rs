//! The planner: what the directory and the ledger say together, and what
//! `up` and `down` would do. Plain functions over data, no I/O.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Error;
use crate::ledger::{EntryState, LedgerEntry};
use crate::source::{MigrationKind, MigrationSource, SourceBody, Version};

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In the ledger and on disk, unchanged.
    Applied,
    /// On disk, not in the ledger.
    Pending,
    /// In the ledger as failed part way.
    Failed,
    /// In the ledger, no longer on disk.
    Missing,
    /// In the ledger, but the file on disk has another checksum.
    Changed,
}

impl State {
    /// The lowercase name `status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Failed => "failed",
            State::Missing => "missing",
            State::Changed => "changed",
        }
    }
}

/// One migration as the directory and the ledger see it together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationStatus {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: String,
    /// SQL or component.
    pub kind: MigrationKind,
    /// Where it stands.
    pub status: State,
    /// The checksum that counts: the ledger's for applied, failed and missing
    /// migrations; the file's for pending ones (unknown for a crate that was
    /// not built yet).
    pub checksum: Option<String>,
    /// The checksum of the file on disk now, when known.
    pub file_checksum: Option<String>,
    /// When it was applied.
    pub applied_at: Option<String>,
    /// How long applying took, in milliseconds.
    pub execution_ms: Option<i64>,
    /// The environment it was applied in.
    pub environment: Option<String>,
    /// The file or crate directory, when it is on disk.
    pub path: Option<PathBuf>,
    /// The error of a failed migration.
    pub error: Option<String>,
    /// The digest of the statements it issued when applied (see
    /// [`crate::ledger::LedgerEntry::statements_digest`]).
    pub statements_digest: Option<String>,
}

/// Joins the directory's migrations (with their files' checksums, where
/// known) and the ledger into one list ordered by version.
pub fn reconcile(
    sources: &[(MigrationSource, Option<String>)],
    ledger: &[LedgerEntry],
) -> Vec<MigrationStatus> {
    reconcile_owned(sources.to_vec(), ledger.to_vec())
}

/// [`reconcile`], taking its inputs: every string moves into the result
/// instead of being copied (`status` on a long history).
pub fn reconcile_owned(
    mut sources: Vec<(MigrationSource, Option<String>)>,
    mut ledger: Vec<LedgerEntry>,
) -> Vec<MigrationStatus> {
    // Both come sorted (the directory by name, the ledger by its query);
    // sorting again is a linear check then.
    sources.sort_by_key(|(s, _)| s.version);
    ledger.sort_by_key(|e| e.version);
    let mut out = Vec::with_capacity(sources.len().max(ledger.len()));
    let mut sources = sources.into_iter().peekable();
    let mut ledger = ledger.into_iter().peekable();
    loop {
        let next_entry = ledger.peek().map(|e| e.version);
        let status = if let Some((source, sum)) =
            sources.next_if(|(s, _)| next_entry.is_none_or(|e| s.version <= e))
        {
            let file = on_disk(source, sum);
            match ledger.next_if(|e| e.version == file.version) {
                Some(entry) => recorded(file, entry),
                None => file,
            }
        } else if let Some(entry) = ledger.next() {
            let gone = MigrationStatus {
                version: entry.version,
                name: entry.name.clone(),
                kind: entry.kind,
                status: State::Missing,
                checksum: None,
                file_checksum: None,
                applied_at: None,
                execution_ms: None,
                environment: None,
                path: None,
                error: None,
                statements_digest: None,
            };
            recorded(gone, entry)
        } else {
            break;
        };
        out.push(status);
    }
    out
}

/// A migration on disk, with its file's checksum, as if pending.
fn on_disk(source: MigrationSource, sum: Option<String>) -> MigrationStatus {
    let kind = source.kind();
    let path = match source.body {
        SourceBody::Sql { up, .. } => up,
        SourceBody::Component { path } | SourceBody::Schema { path } => path,
        SourceBody::Crate { dir } | SourceBody::Python { dir } => dir,
    };
    MigrationStatus {
        version: source.version,
        name: source.name,
        kind,
        status: State::Pending,
        checksum: sum.clone(),
        file_checksum: sum,
        applied_at: None,
        execution_ms: None,
        environment: None,
        path: Some(path),
        error: None,
        statements_digest: None,
    }
}

/// `status` with what the ledger row of its migration says.
fn recorded(mut status: MigrationStatus, entry: LedgerEntry) -> MigrationStatus {
    status.status = if status.path.is_none() {
        State::Missing
    } else if entry.state == EntryState::Failed {
        State::Failed
    } else if status
        .file_checksum
        .as_ref()
        .is_some_and(|c| *c != entry.checksum)
    {
        State::Changed
    } else {
        State::Applied
    };
    status.checksum = Some(entry.checksum);
    status.applied_at = Some(entry.applied_at);
    status.execution_ms = Some(entry.execution_ms);
    status.environment = Some(entry.environment);
    status.error = entry.error;
    status.statements_digest = entry.statements_digest;
    status
}

/// What `up` may apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpOptions {
    /// Apply only migrations up to and including this version.
    pub to: Option<Version>,
    /// Apply at most this many migrations.
    pub count: Option<usize>,
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Carry on when applied migrations are missing from the directory.
    pub ignore_missing: bool,
    /// The digest of the reviewed plan (`wasmig plan`): refuse to apply
    /// anything else.
    pub expect_plan: Option<String>,
    /// Plan shapes a reviewer accepted (`fleet plan`): refuse to apply a
    /// plan of any other shape. Each entry may be a prefix of at least 12
    /// characters, like `expect_plan`.
    pub expect_shapes: Vec<String>,
}

/// What `down` reverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownTarget {
    /// The newest `n` applied migrations.
    Steps(usize),
    /// Every applied migration newer than this version; the version itself
    /// stays applied. `To(0)` reverts everything.
    To(Version),
}

/// The versions `up` applies, in order.
///
/// # Errors
/// [`Error::Refused`] when a migration failed, was changed after being
/// applied, went missing (unless ignored), or is pending behind a newer
/// applied one (unless allowed).
pub fn plan_up(statuses: &[MigrationStatus], options: &UpOptions) -> Result<Vec<Version>, Error> {
    refuse_unsafe_states(statuses, options.ignore_missing)?;
    let newest_applied = statuses
        .iter()
        .filter(|s| s.status != State::Pending)
        .map(|s| s.version)
        .max();
    let pending: Vec<&MigrationStatus> = statuses
        .iter()
        .filter(|s| s.status == State::Pending)
        .filter(|s| options.to.is_none_or(|to| s.version <= to))
        .collect();
    if !options.allow_out_of_order
        && let Some(newest) = newest_applied
    {
        let behind: Vec<String> = pending
            .iter()
            .filter(|s| s.version < newest)
            .map(|s| describe(s))
            .collect();
        if !behind.is_empty() {
            return Err(Error::Refused(format!(
                "pending migration(s) older than the newest applied one ({newest}): {}.\n  \
                 This usually means a branch was merged whose migrations were written before \
                 others that are already applied. Check that they do not conflict, then run \
                 `wasmig up --allow-out-of-order` to apply them, or give them newer versions.",
                behind.join(", ")
            )));
        }
    }
    let limit = options.count.unwrap_or(usize::MAX);
    Ok(pending.iter().take(limit).map(|s| s.version).collect())
}

/// The versions `down` reverts, newest first. `stored` holds the versions
/// whose down step the ledger keeps, which can be reverted without their
/// files.
///
/// # Errors
/// [`Error::Refused`] when a migration to revert failed, changed, or is
/// missing from the directory with no down step kept.
pub fn plan_down(
    statuses: &[MigrationStatus],
    target: DownTarget,
    stored: &BTreeSet<Version>,
) -> Result<Vec<Version>, Error> {
    let applied: Vec<&MigrationStatus> = statuses
        .iter()
        .rev()
        .filter(|s| s.status != State::Pending)
        .collect();
    let chosen: Vec<&MigrationStatus> = match target {
        DownTarget::Steps(n) => applied.into_iter().take(n).collect(),
        DownTarget::To(version) => applied
            .into_iter()
            .take_while(|s| s.version > version)
            .collect(),
    };
    for s in &chosen {
        match s.status {
            State::Missing if !stored.contains(&s.version) => {
                return Err(Error::Refused(format!(
                    "cannot revert {}: its file is no longer in the migrations directory and \
                     the ledger keeps no down step for it (it is irreversible, or was applied \
                     by a wasmig that kept none); restore the file (e.g. from version control) \
                     and run `wasmig down` again",
                    describe(s)
                )));
            }
            State::Changed => return Err(changed_error(s)),
            State::Failed => return Err(failed_error(s)),
            State::Missing | State::Applied | State::Pending => {}
        }
    }
    Ok(chosen.into_iter().map(|s| s.version).collect())
}

fn refuse_unsafe_states(statuses: &[MigrationStatus], ignore_missing: bool) -> Result<(), Error> {
    if let Some(s) = statuses.iter().find(|s| s.status == State::Failed) {
        return Err(failed_error(s));
    }
    if let Some(s) = statuses.iter().find(|s| s.status == State::Changed) {
        return Err(changed_error(s));
    }
    let missing: Vec<String> = statuses
        .iter()
        .filter(|s| s.status == State::Missing)
        .map(describe)
        .collect();
    if !missing.is_empty() && !ignore_missing {
        return Err(Error::Refused(format!(
            "applied migration(s) missing from the migrations directory: {}.\n  Restore the \
             files (they may live on another branch), or run `wasmig up --ignore-missing` if \
             they were removed on purpose.",
            missing.join(", ")
        )));
    }
    Ok(())
}

fn describe(s: &MigrationStatus) -> String {
    match &s.path {
        Some(path) => format!("{} ({})", s.version, path.display()),
        None => format!("{} {}", s.version, s.name),
    }
}

fn changed_error(s: &MigrationStatus) -> Error {
    Error::Refused(format!(
        "migration {} was changed after it was applied: the ledger has checksum {} but the \
         file now has {}.\n  An applied migration must not be edited. Restore it as it was \
         (e.g. `git checkout` it) and put the new change in a new migration{}.",
        describe(s),
        s.checksum.as_deref().unwrap_or("?"),
        s.file_checksum.as_deref().unwrap_or("?"),
        if s.kind == MigrationKind::Component {
            "; for a crate, rebuilding with another Rust toolchain or other dependency \
             versions also changes the component: build with the toolchain it was built with"
        } else {
            ""
        }
    ))
}

fn failed_error(s: &MigrationStatus) -> Error {
    Error::Refused(format!(
        "migration {} failed part way in an earlier run{}; the database may hold part of it.\n  \
         Inspect the database, then record what you found with \
         `wasmig resolve {} --as applied` or `--as rolled-back`.",
        describe(s),
        s.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default(),
        s.version
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceBody;

    fn source(version: Version) -> (MigrationSource, Option<String>) {
        (
            MigrationSource {
                version,
                name: format!("m{version}"),
                body: SourceBody::Sql {
                    up: format!("{version}_m{version}.up.sql").into(),
                    down: None,
                },
            },
            Some(format!("sum{version}")),
        )
    }

    fn entry(version: Version, checksum: &str) -> LedgerEntry {
        LedgerEntry {
            version,
            name: format!("m{version}"),
            kind: MigrationKind::Sql,
            checksum: checksum.into(),
            state: EntryState::Applied,
            applied_at: "2024-01-01T00:00:00Z".into(),
            execution_ms: 1,
            environment: "dev".into(),
            error: None,
            statements_digest: None,
        }
    }

    fn states(statuses: &[MigrationStatus]) -> Vec<(Version, State)> {
        statuses.iter().map(|s| (s.version, s.status)).collect()
    }

    #[test]
    fn reconcile_sees_every_state() {
        let sources = [source(1), source(2), source(4)];
        let ledger = [entry(1, "sum1"), entry(2, "other"), entry(3, "sum3")];
        assert_eq!(
            states(&reconcile(&sources, &ledger)),
            [
                (1, State::Applied),
                (2, State::Changed),
                (3, State::Missing),
                (4, State::Pending)
            ]
        );
    }

    #[test]
    fn up_applies_pending_in_order_up_to_the_target() {
        let sources = [source(1), source(2), source(3), source(4)];
        let statuses = reconcile(&sources, &[entry(1, "sum1")]);
        assert_eq!(
            plan_up(&statuses, &UpOptions::default()).unwrap(),
            [2, 3, 4]
        );
        let to = UpOptions {
            to: Some(3),
            ..Default::default()
        };
        assert_eq!(plan_up(&statuses, &to).unwrap(), [2, 3]);
        let count = UpOptions {
            count: Some(1),
            ..Default::default()
        };
        assert_eq!(plan_up(&statuses, &count).unwrap(), [2]);
    }

    #[test]
    fn up_refuses_a_changed_migration_naming_both_checksums() {
        let statuses = reconcile(&[source(1)], &[entry(1, "old")]);
        let err = plan_up(&statuses, &UpOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("old") && err.contains("sum1"), "{err}");
        assert!(err.contains("1_m1.up.sql"), "{err}");
    }

    #[test]
    fn up_refuses_out_of_order_unless_allowed() {
        let statuses = reconcile(&[source(1), source(2)], &[entry(2, "sum2")]);
        let err = plan_up(&statuses, &UpOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--allow-out-of-order"), "{err}");
        let allow = UpOptions {
            allow_out_of_order: true,
            ..Default::default()
        };
        assert_eq!(plan_up(&statuses, &allow).unwrap(), [1]);
    }

    #[test]
    fn up_refuses_missing_unless_ignored() {
        let statuses = reconcile(&[source(2)], &[entry(1, "sum1")]);
        assert!(plan_up(&statuses, &UpOptions::default()).is_err());
        let ignore = UpOptions {
            ignore_missing: true,
            ..Default::default()
        };
        assert_eq!(plan_up(&statuses, &ignore).unwrap(), [2]);
    }

    #[test]
    fn down_to_keeps_the_target_applied() {
        let sources = [source(1), source(2), source(3), source(4)];
        let ledger = [entry(1, "sum1"), entry(2, "sum2"), entry(3, "sum3")];
        let statuses = reconcile(&sources, &ledger);
        assert_eq!(
            plan_down(&statuses, DownTarget::To(1), &BTreeSet::new()).unwrap(),
            [3, 2]
        );
        assert_eq!(
            plan_down(&statuses, DownTarget::To(3), &BTreeSet::new()).unwrap(),
            Vec::<Version>::new()
        );
        assert_eq!(
            plan_down(&statuses, DownTarget::To(0), &BTreeSet::new()).unwrap(),
            [3, 2, 1]
        );
        assert_eq!(
            plan_down(&statuses, DownTarget::Steps(2), &BTreeSet::new()).unwrap(),
            [3, 2]
        );
    }

    #[test]
    fn down_reverts_a_missing_migration_only_with_a_stored_down_step() {
        let statuses = reconcile(&[source(1)], &[entry(1, "sum1"), entry(2, "sum2")]);
        let err = plan_down(&statuses, DownTarget::Steps(1), &BTreeSet::new()).unwrap_err();
        assert!(err.to_string().contains("no down step"), "{err}");
        let stored = BTreeSet::from([2]);
        assert_eq!(
            plan_down(&statuses, DownTarget::Steps(1), &stored).unwrap(),
            [2]
        );
    }
}
