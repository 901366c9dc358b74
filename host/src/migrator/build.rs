//! `wasmig build`: stale guest crates built into components, each
//! directory's crates in one cargo run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Migrator;
use crate::error::Error;
use crate::guest_crate;
use crate::report::Event;
use crate::source::{MigrationSource, SourceBody, Version};

impl Migrator {
    /// Builds guest crates: the stale ones, or all with `force`. Returns the
    /// versions built.
    ///
    /// # Errors
    /// [`Error::Build`] when cargo fails.
    pub async fn build(&self, force: bool) -> Result<Vec<Version>, Error> {
        let sources = self.sources()?;
        let built = self.build_crates(&sources, force).await?;
        if force {
            self.build_python_runtime(&sources, true).await?;
        }
        self.check_python(&sources).await?;
        Ok(built)
    }

    /// Builds the crates among `sources` that are stale (all with `force`).
    pub(super) async fn build_crates(
        &self,
        sources: &[MigrationSource],
        force: bool,
    ) -> Result<Vec<Version>, Error> {
        let mut to_build = Vec::new();
        for source in sources {
            if let SourceBody::Crate { dir } = &source.body
                && (force || guest_crate::is_stale(dir)?)
            {
                to_build.push(source);
            }
        }
        self.build_python_runtime(sources, false).await?;
        if to_build.is_empty() {
            return Ok(Vec::new());
        }
        self.reporter.event(&Event::Building {
            crates: to_build.len(),
        });
        // Each directory's crates build in that directory's workspace.
        let mut by_dir: BTreeMap<PathBuf, Vec<&MigrationSource>> = BTreeMap::new();
        for source in &to_build {
            let parent = source
                .path()
                .parent()
                .map_or_else(|| self.dir.clone(), Path::to_path_buf);
            by_dir.entry(parent).or_default().push(*source);
        }
        for (dir, crates) in &by_dir {
            for dependency in guest_crate::external_path_dependencies(dir, crates)? {
                self.reporter.event(&Event::Warning {
                    message: &format!(
                        "path dependency {dependency} is outside the migrations directory: \
                         cargo hashes its absolute path into the component, so checkouts in \
                         other places build other checksums"
                    ),
                });
            }
            guest_crate::build(dir, crates).await?;
        }
        Ok(to_build.iter().map(|s| s.version).collect())
    }
}
