//! `wasmig build` for Python migrations: the runtime built when missing or
//! built from another SDK, and each migration imported once in it, so a
//! syntax error or a missing module fails the build, not the deploy.

use std::path::Path;

use super::{Migrator, runtime};
use crate::backend::{self, DatabaseUrl};
use crate::error::Error;
use crate::python;
use crate::report::{Direction, Event};
use crate::runtime::RunSpec;
use crate::source::{MigrationSource, SourceBody, sha256_hex};

impl Migrator {
    /// Builds the Python runtime when a Python migration needs it and it is
    /// missing or stale (always with `force`).
    ///
    /// # Errors
    /// [`Error::Build`] when it must be built and `componentize-py` is
    /// missing or fails.
    pub(super) async fn build_python_runtime(
        &self,
        sources: &[MigrationSource],
        force: bool,
    ) -> Result<bool, Error> {
        if !sources
            .iter()
            .any(|s| matches!(s.body, SourceBody::Python { .. }))
        {
            return Ok(false);
        }
        let path = python::runtime_path(&self.dir);
        if !force && !python::runtime_is_stale(&self.dir) {
            return Ok(false);
        }
        let project = self.dir.parent().unwrap_or(Path::new("."));
        let Some(tool) = python::find_tool(&[project, Path::new(".")]) else {
            if path.is_file() && !force {
                self.reporter.event(&Event::Warning {
                    message: &format!(
                        "{} was built by another wasmig version; it still runs, but rebuild it \
                         with `wasmig build` where componentize-py is installed",
                        path.display()
                    ),
                });
                return Ok(false);
            }
            return Err(Error::Build(format!(
                "Python migrations need the wasmig Python runtime ({}), which componentize-py \
                 builds, and componentize-py was not found: {}",
                path.display(),
                python::install_hint()
            )));
        };
        self.reporter.event(&Event::BuildingPython {
            tool: &tool.display().to_string(),
        });
        python::build_runtime(&self.dir, &tool).await?;
        Ok(true)
    }

    /// Imports every Python migration among `sources` in the runtime,
    /// without running it.
    ///
    /// # Errors
    /// [`Error::Build`] naming the first migration that fails, with its
    /// traceback.
    pub(super) async fn check_python(&self, sources: &[MigrationSource]) -> Result<(), Error> {
        let bundles: Vec<(&MigrationSource, Vec<u8>)> = sources
            .iter()
            .filter_map(|s| match &s.body {
                SourceBody::Python { dir } => Some(python::bundle(dir).map(|b| (s, b))),
                _ => None,
            })
            .collect::<Result<_, _>>()?;
        if bundles.is_empty() {
            return Ok(());
        }
        let components: Vec<(&Path, &[u8])> = bundles
            .iter()
            .map(|(s, b)| (s.path(), b.as_slice()))
            .collect();
        let loaded = self.load_components(&components)?;
        let memory = DatabaseUrl::parse("sqlite::memory:").map_err(Error::Runtime)?;
        for ((source, bundle), component) in bundles.iter().zip(&loaded) {
            let db = backend::connect(&memory)
                .await
                .map_err(|e| Error::Runtime(e.to_string()))?;
            let spec = RunSpec {
                direction: Direction::Up,
                version: source.version,
                checksum: sha256_hex(bundle),
                env: self.env.clone(),
                sandbox: self.policies.sandbox(source.version, source.path())?,
                reporter: self.reporter.clone(),
                transactional: true,
                ddl_mark: None,
                trace: false,
                stop_before_ddl: false,
                log_sql: false,
                kept_revert: None,
            };
            let result = runtime()?.check_python(component, db, spec).await;
            if let Err(reason) = result.outcome {
                return Err(Error::Build(format!(
                    "{} ({}) cannot be imported:\n{reason}\n  fix it and run `wasmig build` again",
                    source.label(),
                    source.path().join(python::ENTRY).display()
                )));
            }
        }
        Ok(())
    }
}
