//! A migration's bytes, read once, so that what is checksummed is what runs;
//! and what the ledger keeps of them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::Migrator;
use crate::error::Error;
use crate::guest_crate;
use crate::ledger;
use crate::runtime::world;
use crate::schema::Op;
use crate::schema::{Revert, SchemaFile};
use crate::source::{MigrationSource, SourceBody, Version, sha256_hex};
use crate::sql_file;

/// A migration's bytes, read once: what is checksummed is what runs.
#[derive(Clone)]
pub(super) enum Payload {
    Sql {
        up: String,
        down: Option<String>,
        no_transaction: bool,
    },
    Component {
        bytes: Vec<u8>,
        path: PathBuf,
    },
    Schema {
        /// The file's text, which the checksum covers.
        text: String,
        ops: Vec<Op>,
        /// What the ledger kept to revert it (read for `down` only).
        revert: Option<Revert>,
    },
}

/// Reads what runs of `source`: its scripts, or its component.
pub(super) fn read_payload(source: &MigrationSource) -> Result<Payload, Error> {
    let read_text = |path: &Path| -> Result<String, Error> {
        let bytes = fs::read(path).map_err(Error::io(path))?;
        String::from_utf8(bytes).map_err(|_| Error::Source {
            path: path.to_owned(),
            message: "the SQL file is not valid UTF-8; save it as UTF-8".into(),
        })
    };
    match &source.body {
        SourceBody::Sql { up, down } => {
            let text = read_text(up)?;
            let down = down.as_deref().map(read_text).transpose()?;
            // diesel keeps per-migration options beside up.sql.
            let metadata = up
                .file_name()
                .filter(|n| *n == "up.sql")
                .and_then(|_| fs::read_to_string(up.with_file_name("metadata.toml")).ok());
            let scripts = sql_file::parse(&text, down, metadata.as_deref());
            Ok(Payload::Sql {
                up: scripts.up,
                down: scripts.down,
                no_transaction: scripts.no_transaction,
            })
        }
        SourceBody::Component { path } => Ok(Payload::Component {
            bytes: fs::read(path).map_err(Error::io(path))?,
            path: path.clone(),
        }),
        SourceBody::Schema { path } => {
            let text = read_text(path)?;
            let file = SchemaFile::parse(&text).map_err(|message| Error::Source {
                path: path.clone(),
                message: format!("not a list of schema operations: {message}"),
            })?;
            Ok(Payload::Schema {
                text,
                ops: file.ops,
                revert: None,
            })
        }
        // What runs is the Python runtime; what the ledger checksums and
        // keeps is the migration's own files.
        SourceBody::Python { dir } => Ok(Payload::Component {
            bytes: crate::python::bundle(dir)?,
            path: dir.clone(),
        }),
        SourceBody::Crate { dir } => {
            let path = guest_crate::artifact_path(dir);
            let bytes = fs::read(&path).map_err(|e| Error::Source {
                path: dir.clone(),
                message: format!(
                    "its component {} cannot be read ({e}); run `wasmig build`",
                    path.display()
                ),
            })?;
            Ok(Payload::Component { bytes, path })
        }
    }
}

/// The checksum of the bytes that run on `up`: the up script, or the
/// component.
pub(super) fn checksum(payload: &Payload) -> String {
    match payload {
        Payload::Sql { up, .. } => sha256_hex(up.as_bytes()),
        Payload::Component { bytes, .. } => sha256_hex(bytes),
        Payload::Schema { text, .. } => sha256_hex(text.as_bytes()),
    }
}

/// The migrations as read: the sources, each migration's checksum and
/// payload by version, and the sources with their checksums for
/// [`planner::reconcile`].
#[derive(Clone)]
pub(super) struct Read {
    pub sources: Vec<MigrationSource>,
    pub payloads: BTreeMap<Version, (String, Payload)>,
    pub with_sums: Vec<(MigrationSource, Option<String>)>,
}

impl Migrator {
    /// The migrations, guest crates built first; or what
    /// [`Migrator::read_once`] kept.
    pub(super) async fn read_sources(&self) -> Result<Read, Error> {
        if let Some(read) = &self.read {
            return Ok(Read::clone(read));
        }
        let sources = self.sources()?;
        self.build_crates(&sources, false).await?;
        let (payloads, with_sums) = read_all(&sources)?;
        Ok(Read {
            sources,
            payloads,
            with_sums,
        })
    }
}

/// Every migration's payload and checksum, read on several threads: the
/// payloads by version, and the sources with their checksums for
/// [`planner::reconcile`].
#[allow(clippy::type_complexity)]
fn read_all(
    sources: &[MigrationSource],
) -> Result<
    (
        BTreeMap<Version, (String, Payload)>,
        Vec<(MigrationSource, Option<String>)>,
    ),
    Error,
> {
    let mut payloads = BTreeMap::new();
    let mut with_sums = Vec::with_capacity(sources.len());
    for (source, payload) in sources.iter().zip(in_parallel(sources, read_payload)) {
        let payload = payload?;
        let sum = checksum(&payload);
        with_sums.push((source.clone(), Some(sum.clone())));
        payloads.insert(source.version, (sum, payload));
    }
    Ok((payloads, with_sums))
}

/// `f` applied to every item, on up to as many threads as there are cores;
/// the results keep the items' order.
pub(super) fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}

/// What the ledger keeps of a SQL migration: its up script (to show what an
/// edit changed) and its down script (to revert it without its file).
pub(super) fn sql_steps(
    source: &MigrationSource,
    up: &str,
    down: Option<&str>,
    no_transaction: bool,
) -> Vec<(ledger::Step, ledger::StoredStep)> {
    let step = |bytes: &str| ledger::StoredStep {
        path: source.path().display().to_string(),
        no_transaction,
        bytes: bytes.as_bytes().to_vec(),
    };
    let mut steps = vec![(ledger::Step::Up, step(up))];
    if let Some(down) = down {
        steps.push((ledger::Step::Down, step(down)));
    }
    steps
}

/// What the ledger keeps of a migration read from its file.
pub(super) fn steps_to_keep(
    source: &MigrationSource,
    payload: &Payload,
) -> Result<Vec<(ledger::Step, ledger::StoredStep)>, Error> {
    Ok(match payload {
        Payload::Sql {
            up,
            down,
            no_transaction,
        } => sql_steps(source, up, down.as_deref(), *no_transaction),
        Payload::Component { bytes, .. } if crate::python::is_bundle(bytes) => {
            component_steps(source, false, bytes.clone())
        }
        Payload::Component { bytes, path } => {
            let shape = world::shape(bytes).map_err(|message| Error::InvalidComponent {
                path: path.clone(),
                message,
            })?;
            component_steps(source, shape.no_transaction, bytes.clone())
        }
        // The revert is known once the operations ran against the database.
        Payload::Schema { text, .. } => schema_steps(source, text, None),
    })
}

/// What the ledger keeps of a declarative migration: its file (to show what
/// an edit changed) and, once it ran, the operations that revert it.
pub(super) fn schema_steps(
    source: &MigrationSource,
    text: &str,
    revert: Option<&Revert>,
) -> Vec<(ledger::Step, ledger::StoredStep)> {
    let step = |bytes: Vec<u8>| ledger::StoredStep {
        path: source.path().display().to_string(),
        no_transaction: false,
        bytes,
    };
    let mut steps = vec![(ledger::Step::Up, step(text.as_bytes().to_vec()))];
    if let Some(revert) = revert
        && let Ok(json) = serde_json::to_vec(revert)
    {
        steps.push((ledger::Step::Down, step(json)));
    }
    steps
}

/// What the ledger keeps of a component migration: the component itself,
/// which is also its down step.
pub(super) fn component_steps(
    source: &MigrationSource,
    no_transaction: bool,
    bytes: Vec<u8>,
) -> Vec<(ledger::Step, ledger::StoredStep)> {
    let step = ledger::StoredStep {
        path: source.path().display().to_string(),
        no_transaction,
        bytes,
    };
    vec![(ledger::Step::Down, step)]
}
