//! Reading a migrations directory.
//!
//! One directory holds every migration, ordered by the number its name starts
//! with. Recognised entries:
//!
//! | entry | migration |
//! |---|---|
//! | `<version>_<name>.up.sql` (+ optional `.down.sql`) | SQL, reversible when the down file exists |
//! | `<version>_<name>.sql` | SQL, irreversible |
//! | `<version>_<name>.wasm` | a prebuilt component |
//! | `<version>_<name>/` with a `Cargo.toml` | a Rust guest crate, built by `wasmig build` |
//! | `<version>_<name>/` with `migration.py` | a Python migration, run by the Python runtime |
//! | `<version>_<name>/` with `up.sql` (+ optional `down.sql`) | SQL, diesel's layout |
//!
//! Versions are the leading digits; diesel's dashed timestamps
//! (`2024-01-31-120000_…`) read as their digits. A single `.sql` file with
//! dbmate's `-- migrate:up` / `-- migrate:down` or goose's `-- +goose Up` /
//! `-- +goose Down` sections is reversible (see [`crate::sql_file`]).
//!
//! Hidden entries, `*.md`, and the guest workspace's `Cargo.toml`,
//! `Cargo.lock` and `target/` are ignored; anything else is an error, so a
//! misnamed migration never silently goes missing.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::artifact::artifact_path;
use crate::error::Error;
pub use crate::version::Version;

/// One migration found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationSource {
    /// The version, from the leading digits of the name.
    pub version: Version,
    /// The descriptive part of the name, after `<version>_`.
    pub name: String,
    /// What the migration is made of.
    pub body: SourceBody,
}

/// What a migration is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceBody {
    /// SQL files.
    Sql {
        /// The up script.
        up: PathBuf,
        /// The down script, if the migration is reversible.
        down: Option<PathBuf>,
    },
    /// A prebuilt component file.
    Component {
        /// The `.wasm` file.
        path: PathBuf,
    },
    /// A Rust guest crate; its component is built into the crate directory.
    Crate {
        /// The crate directory.
        dir: PathBuf,
    },
    /// A Python migration: a directory with `migration.py`, run by the
    /// wasmig Python runtime.
    Python {
        /// The directory.
        dir: PathBuf,
    },
    /// A declarative file of schema operations (`.schema.toml`).
    Schema {
        /// The file.
        path: PathBuf,
    },
}

/// The two kinds of migration, as the ledger and `status` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MigrationKind {
    /// SQL up/down files.
    Sql,
    /// A WebAssembly component.
    Component,
    /// Schema operations, rendered for the engine they run on.
    Schema,
}

impl MigrationKind {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationKind::Sql => "sql",
            MigrationKind::Component => "component",
            MigrationKind::Schema => "schema",
        }
    }

    /// Parses a ledger name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sql" => Some(MigrationKind::Sql),
            "component" => Some(MigrationKind::Component),
            "schema" => Some(MigrationKind::Schema),
            _ => None,
        }
    }
}

impl fmt::Display for MigrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MigrationSource {
    /// Whether this is SQL or a component.
    pub fn kind(&self) -> MigrationKind {
        match self.body {
            SourceBody::Sql { .. } => MigrationKind::Sql,
            SourceBody::Component { .. } | SourceBody::Crate { .. } | SourceBody::Python { .. } => {
                MigrationKind::Component
            }
            SourceBody::Schema { .. } => MigrationKind::Schema,
        }
    }

    /// The file or directory a user would open to read this migration.
    pub fn path(&self) -> &Path {
        match &self.body {
            SourceBody::Sql { up, .. } => up,
            SourceBody::Component { path } | SourceBody::Schema { path } => path,
            SourceBody::Crate { dir } | SourceBody::Python { dir } => dir,
        }
    }

    /// The component file that runs for this migration, if it is a component.
    /// For a crate, the file exists once the crate was built.
    pub fn component_path(&self) -> Option<PathBuf> {
        match &self.body {
            SourceBody::Sql { .. } | SourceBody::Schema { .. } | SourceBody::Python { .. } => None,
            SourceBody::Component { path } => Some(path.clone()),
            SourceBody::Crate { dir } => Some(artifact_path(dir)),
        }
    }

    /// `<version>_<name>`, how messages refer to a migration.
    pub fn label(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// Reads `dir` and returns its migrations ordered by version.
///
/// # Errors
/// Fails when the directory cannot be read, when an entry's name is not a
/// migration name, when a `.down.sql` has no `.up.sql`, or when two entries
/// share a version.
pub fn discover(dir: &Path) -> Result<Vec<MigrationSource>, Error> {
    let entries = fs::read_dir(dir).map_err(Error::io(dir))?;
    let mut found: BTreeMap<Version, MigrationSource> = BTreeMap::new();
    let mut downs: BTreeMap<(Version, String), PathBuf> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(dir))?;
        let path = entry.path();
        match read_entry(&entry, &path)? {
            Entry::Ignored => {}
            Entry::Down { version, name } => {
                downs.insert((version, name), path);
            }
            Entry::Migration(source) => {
                if let Some(previous) = found.get(&source.version) {
                    return Err(duplicate(previous.path(), &path, source.version));
                }
                found.insert(source.version, source);
            }
        }
    }
    attach_downs(&mut found, downs)?;
    Ok(found.into_values().collect())
}

/// What one entry of a migrations directory is.
enum Entry {
    /// Not a migration, and allowed there (see [`is_ignored`]).
    Ignored,
    /// A `.down.sql` file, which belongs to the `.up.sql` of its name.
    Down { version: Version, name: String },
    /// A migration.
    Migration(MigrationSource),
}

/// Reads the directory entry at `path`.
fn read_entry(entry: &fs::DirEntry, path: &Path) -> Result<Entry, Error> {
    let file_name = entry.file_name();
    let Some(file_name) = file_name.to_str() else {
        return Err(Error::Source {
            path: path.to_owned(),
            message: "the name is not valid UTF-8".into(),
        });
    };
    // The entry's own type costs no system call; a link is followed.
    let is_dir = match entry.file_type() {
        Ok(kind) if !kind.is_symlink() => kind.is_dir(),
        _ => path.is_dir(),
    };
    if is_ignored(file_name, is_dir) {
        return Ok(Entry::Ignored);
    }
    let unrecognised = || unrecognised(path, file_name);
    let (stem, body) = if is_dir {
        (file_name, directory_body(path, file_name)?)
    } else if let Some(stem) = file_name.strip_suffix(".down.sql") {
        let (version, name) = split_name(stem).ok_or_else(unrecognised)?;
        return Ok(Entry::Down {
            version,
            name: name.to_owned(),
        });
    } else if let Some(stem) = file_name.strip_suffix(".schema.toml") {
        let path = path.to_owned();
        (stem, SourceBody::Schema { path })
    } else if let Some(stem) = file_name
        .strip_suffix(".up.sql")
        .or_else(|| file_name.strip_suffix(".sql"))
    {
        let up = path.to_owned();
        (stem, SourceBody::Sql { up, down: None })
    } else if let Some(stem) = file_name.strip_suffix(".wasm") {
        let path = path.to_owned();
        (stem, SourceBody::Component { path })
    } else {
        return Err(unrecognised());
    };
    let (version, name) = split_name(stem).ok_or_else(unrecognised)?;
    Ok(Entry::Migration(MigrationSource {
        version,
        name: name.to_owned(),
        body,
    }))
}

/// What the migration directory `dir` (named `file_name`) holds: a Rust
/// guest crate, or diesel's `up.sql` and `down.sql`.
fn directory_body(dir: &Path, file_name: &str) -> Result<SourceBody, Error> {
    if dir.join("Cargo.toml").is_file() {
        return Ok(SourceBody::Crate {
            dir: dir.to_owned(),
        });
    }
    if dir.join(crate::python::ENTRY).is_file() {
        return Ok(SourceBody::Python {
            dir: dir.to_owned(),
        });
    }
    if dir.join("up.sql").is_file() {
        // diesel's layout: <version>_<name>/up.sql and down.sql.
        let down = dir.join("down.sql");
        return Ok(SourceBody::Sql {
            up: dir.join("up.sql"),
            down: down.is_file().then_some(down),
        });
    }
    Err(Error::Source {
        path: dir.to_owned(),
        message: format!(
            "directory `{file_name}` has no Cargo.toml, migration.py or up.sql: a \
             migration directory is a Rust guest crate (create one with \
             `wasmig new <name> --rust`), a Python migration (`wasmig new <name> \
             --python`) or holds up.sql and down.sql"
        ),
    })
}

/// The error for an entry whose name is not a migration's.
fn unrecognised(path: &Path, file_name: &str) -> Error {
    Error::Source {
        path: path.to_owned(),
        message: format!(
            "`{file_name}` is not a migration: expected <version>_<name>.up.sql (with an \
             optional .down.sql), <version>_<name>.sql, <version>_<name>.schema.toml, \
             <version>_<name>.wasm or a <version>_<name>/ directory (Rust crate, migration.py, or up.sql); rename it, or move it out of the directory"
        ),
    }
}

/// Gives each `.down.sql` to the `.up.sql` migration of its version and
/// name.
fn attach_downs(
    found: &mut BTreeMap<Version, MigrationSource>,
    downs: BTreeMap<(Version, String), PathBuf>,
) -> Result<(), Error> {
    for ((version, name), down_path) in downs {
        match found.get_mut(&version) {
            Some(MigrationSource {
                name: up_name,
                body: SourceBody::Sql { up, down },
                ..
            }) if *up_name == name && up.to_string_lossy().ends_with(".up.sql") => {
                *down = Some(down_path);
            }
            _ => {
                return Err(Error::Source {
                    path: down_path,
                    message: format!(
                        "down script without an up script: add {version}_{name}.up.sql beside it"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Reads several migrations directories (a project's own and, say, a
/// vendor's) as one sequence, ordered by version.
///
/// # Errors
/// What [`discover`] reports for any of them, and
/// [`Error::DuplicateVersion`] when two directories use one version.
pub fn discover_all(dirs: &[PathBuf]) -> Result<Vec<MigrationSource>, Error> {
    if let [dir] = dirs {
        return discover(dir);
    }
    let mut all: BTreeMap<Version, MigrationSource> = BTreeMap::new();
    for dir in dirs {
        for source in discover(dir)? {
            if let Some(existing) = all.get(&source.version) {
                return Err(duplicate(existing.path(), source.path(), source.version));
            }
            all.insert(source.version, source);
        }
    }
    Ok(all.into_values().collect())
}

fn duplicate(first: &Path, second: &Path, version: Version) -> Error {
    let (first, second) = if first <= second {
        (first, second)
    } else {
        (second, first)
    };
    Error::DuplicateVersion {
        version,
        first: first.to_owned(),
        second: second.to_owned(),
    }
}

/// Entries that live in a migrations directory without being migrations.
fn is_ignored(file_name: &str, is_dir: bool) -> bool {
    file_name.starts_with('.')
        || file_name.ends_with(".md")
        || (is_dir && file_name == "target")
        || (!is_dir && matches!(file_name, "Cargo.toml" | "Cargo.lock"))
}

/// Splits `0042_add_users` into `(42, "add_users")`. The version may be
/// written with dashes, as diesel does (`2024-01-31-120000_add_users`).
fn split_name(stem: &str) -> Option<(Version, &str)> {
    let (version_part, name) = stem.split_once('_')?;
    if !version_part.starts_with(|c: char| c.is_ascii_digit())
        || !version_part
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-')
    {
        return None;
    }
    let digits: String = version_part.chars().filter(char::is_ascii_digit).collect();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    let version = digits.parse().ok()?;
    Some((version, name))
}

/// The lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            if let Some(crate_dir) = f.strip_suffix('/') {
                fs::create_dir_all(dir.path().join(crate_dir)).unwrap();
                fs::write(dir.path().join(crate_dir).join("Cargo.toml"), "").unwrap();
            } else {
                fs::write(path, "SELECT 1;").unwrap();
            }
        }
        dir
    }

    #[test]
    fn mixed_directory_is_ordered_by_version() {
        let dir = dir_with(&[
            "10_seed.wasm",
            "2_users.up.sql",
            "2_users.down.sql",
            "3_index.sql",
            "0004_backfill/",
            "README.md",
            "Cargo.toml",
            ".gitignore",
        ]);
        let found = discover(dir.path()).unwrap();
        let labels: Vec<_> = found.iter().map(|m| m.label()).collect();
        assert_eq!(labels, ["2_users", "3_index", "4_backfill", "10_seed"]);
        assert!(matches!(
            &found[0].body,
            SourceBody::Sql { down: Some(_), .. }
        ));
        assert!(matches!(&found[1].body, SourceBody::Sql { down: None, .. }));
        assert!(matches!(&found[2].body, SourceBody::Crate { .. }));
        assert_eq!(found[3].kind(), MigrationKind::Component);
    }

    #[test]
    fn duplicate_versions_name_both_files() {
        let dir = dir_with(&["1_a.sql", "001_b.up.sql"]);
        let err = discover(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("1_a.sql") && err.contains("001_b.up.sql"),
            "{err}"
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        for bad in ["notes.txt", "abc_x.sql", "12.sql", "3_bad name.sql"] {
            let dir = dir_with(&[bad]);
            let err = discover(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains(bad) || err.contains("not a migration"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn orphan_down_script_is_an_error() {
        let dir = dir_with(&["5_x.down.sql"]);
        let err = discover(dir.path()).unwrap_err().to_string();
        assert!(err.contains("5_x.up.sql"), "{err}");
    }
}
