//! Migrations made ready to run: payloads paired with their sources and
//! sandboxes, and every component compiled (or loaded from the cache)
//! before the first migration runs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::payload::{Payload, in_parallel};
use super::{Migrator, runtime};
use crate::backend::Backend;
use crate::error::Error;
use crate::policy::Sandbox;
use crate::python;
use crate::report::{Direction, Event};
use crate::runtime::{LoadedComponent, Origin};
use crate::schema::{Op, Revert};
use crate::source::{MigrationSource, Version};

/// A migration ready to run.
pub(super) struct Prepared<'a> {
    pub(super) source: &'a MigrationSource,
    pub(super) checksum: String,
    pub(super) body: PreparedBody,
    pub(super) sandbox: Sandbox,
}

/// What runs: SQL scripts, or a compiled component.
pub(super) enum PreparedBody {
    Sql {
        up: String,
        down: Option<String>,
        no_transaction: bool,
    },
    Component {
        loaded: LoadedComponent,
        /// The component's bytes, which the ledger keeps as its down step.
        bytes: Vec<u8>,
        /// Going down: what its schema operations recorded when applied.
        kept_revert: Option<Revert>,
    },
    /// Schema operations, rendered against the database as they run (their
    /// policy checks happen then too).
    Schema {
        text: String,
        ops: Vec<Op>,
        /// The recorded revert, when going down.
        revert: Option<Revert>,
    },
}

impl Prepared<'_> {
    /// Whether the migration runs inside a transaction.
    pub(super) fn transactional(&self) -> bool {
        match &self.body {
            PreparedBody::Sql { no_transaction, .. } => !no_transaction,
            PreparedBody::Component { loaded, .. } => loaded.transactional(),
            PreparedBody::Schema { .. } => true,
        }
    }

    /// Whether it runs schema operations (a declarative file, or a
    /// component that imports `schema`), which may rebuild SQLite tables.
    pub(super) fn changes_schema(&self) -> bool {
        match &self.body {
            PreparedBody::Schema { .. } => true,
            PreparedBody::Component { loaded, .. } => loaded.uses_schema(),
            PreparedBody::Sql { .. } => false,
        }
    }

    /// Checks a SQL migration's statements against its policy before any
    /// of them runs.
    pub(super) fn check_sql(&self, db: &dyn Backend, direction: Direction) -> Result<(), String> {
        let PreparedBody::Sql { up, down, .. } = &self.body else {
            return Ok(());
        };
        if !self.sandbox.restricts_sql() {
            return Ok(());
        }
        let script = match direction {
            Direction::Up => Some(up),
            Direction::Down => down.as_ref(),
        };
        let script = script.map_or("", |s| s.as_str());
        for statement in crate::policy::statements_for(db.dialect(), script) {
            self.sandbox
                .check_sql(db.dialect(), db.default_schema(), statement)
                .map_err(|v| format!("refused: {v}"))?;
        }
        Ok(())
    }
}

impl Migrator {
    /// Compiles every component among `versions` before anything runs, so a
    /// broken component fails the run before it changes the database.
    /// `payloads` holds each migration's checksum and bytes, read once.
    pub(super) fn prepare<'a>(
        &self,
        sources: &'a [MigrationSource],
        payloads: &mut BTreeMap<Version, (String, Payload)>,
        versions: &[Version],
    ) -> Result<Vec<Prepared<'a>>, Error> {
        let by_version: BTreeMap<Version, &MigrationSource> =
            sources.iter().map(|s| (s.version, s)).collect();
        let mut picked = Vec::with_capacity(versions.len());
        for version in versions {
            if let (Some(source), Some((checksum, payload))) =
                (by_version.get(version).copied(), payloads.remove(version))
            {
                picked.push((source, checksum, payload));
            }
        }
        let components: Vec<(&Path, &[u8])> = picked
            .iter()
            .filter_map(|(_, _, payload)| match payload {
                Payload::Component { bytes, path } => Some((path.as_path(), bytes.as_slice())),
                Payload::Sql { .. } | Payload::Schema { .. } => None,
            })
            .collect();
        let mut loaded = self.load_components(&components)?.into_iter();
        let mut prepared = Vec::with_capacity(picked.len());
        for (source, checksum, payload) in picked {
            let body = match payload {
                Payload::Sql {
                    up,
                    down,
                    no_transaction,
                } => PreparedBody::Sql {
                    up,
                    down,
                    no_transaction,
                },
                Payload::Schema { text, ops, revert } => PreparedBody::Schema { text, ops, revert },
                Payload::Component { path, bytes } => PreparedBody::Component {
                    loaded: loaded.next().ok_or_else(|| {
                        Error::Runtime(format!("{} was not compiled", path.display()))
                    })?,
                    bytes,
                    kept_revert: None,
                },
            };
            let sandbox = self.policies.sandbox(source.version, source.path())?;
            prepared.push(Prepared {
                source,
                checksum,
                body,
                sandbox,
            });
        }
        Ok(prepared)
    }

    /// Loads `components` (path, bytes) from the compile cache or compiles
    /// them, several at once, in order.
    pub(super) fn load_components(
        &self,
        components: &[(&Path, &[u8])],
    ) -> Result<Vec<LoadedComponent>, Error> {
        if components.is_empty() {
            return Ok(Vec::new());
        }
        // Python migrations all run on the one runtime: it loads once.
        let python_runtime = if components.iter().any(|(_, b)| python::is_bundle(b)) {
            let path = python::runtime_path(&self.dir);
            let bytes = fs::read(&path).map_err(|e| {
                Error::Build(format!(
                    "the Python runtime {} cannot be read ({e}): run `wasmig build` where \
                     componentize-py is installed, and ship .python/ with the migrations",
                    path.display()
                ))
            })?;
            Some((path, bytes))
        } else {
            None
        };
        let mut unique: Vec<(&Path, &[u8])> = Vec::new();
        let mut slots: Vec<(usize, Option<Arc<python::Sources>>)> = Vec::new();
        for (path, bytes) in components {
            match &python_runtime {
                Some((runtime_path, runtime_bytes)) if python::is_bundle(bytes) => {
                    let sources = python::parse_bundle(bytes, path).map_err(|message| {
                        Error::InvalidComponent {
                            path: path.to_path_buf(),
                            message,
                        }
                    })?;
                    let at = unique
                        .iter()
                        .position(|(p, _)| *p == runtime_path.as_path())
                        .unwrap_or_else(|| {
                            unique.push((runtime_path.as_path(), runtime_bytes.as_slice()));
                            unique.len() - 1
                        });
                    slots.push((at, Some(Arc::new(sources))));
                }
                _ => {
                    unique.push((path, bytes));
                    slots.push((unique.len() - 1, None));
                }
            }
        }
        let loaded = self.compile_all(&unique)?;
        slots
            .into_iter()
            .map(|(at, sources)| {
                let component = loaded
                    .get(at)
                    .ok_or_else(|| Error::Runtime("a component was not compiled".to_owned()))?;
                Ok(match sources {
                    Some(sources) => component.running(sources),
                    None => component.clone(),
                })
            })
            .collect()
    }

    /// Loads `components` (path, bytes) from the compile cache or compiles
    /// them, several at once, in order.
    fn compile_all(&self, components: &[(&Path, &[u8])]) -> Result<Vec<LoadedComponent>, Error> {
        let runtime = runtime()?;
        let started = Instant::now();
        let cache = self.cache_dir.as_deref().and_then(|dir| {
            runtime
                .open_cache(dir)
                .map_err(|e| {
                    let message = format!("{e}; compiling without it");
                    self.reporter.event(&Event::Warning { message: &message });
                })
                .ok()
        });
        let results = in_parallel(components, |(path, bytes)| {
            runtime.load(path, bytes, cache.as_ref())
        });
        let mut loaded = Vec::with_capacity(results.len());
        let (mut from_cache, mut compiled) = (0, 0);
        for result in results {
            let (component, origin) = result?;
            match origin {
                Origin::Cache => from_cache += 1,
                Origin::Compiled { notes } => {
                    compiled += 1;
                    for message in &notes {
                        self.reporter.event(&Event::Warning { message });
                    }
                }
            }
            loaded.push(component);
        }
        self.reporter.event(&Event::Loaded {
            from_cache,
            compiled,
            elapsed: started.elapsed(),
        });
        Ok(loaded)
    }
}
