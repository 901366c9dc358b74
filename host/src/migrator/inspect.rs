//! `wasmig inspect`: what a migration is and the sandbox it would run in,
//! without running or compiling it.

use std::fs;
use std::path::{Path, PathBuf};

use super::Migrator;
use super::payload::{Payload, checksum, read_payload};
use crate::error::Error;
use crate::policy::Sandbox;
use crate::runtime::world;
use crate::source::{MigrationKind, Version};
use crate::sql_file;

/// What `wasmig inspect` shows about one migration: what it is and the
/// sandbox it would run in.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Its version, when its file name has one.
    pub version: Option<Version>,
    /// Its name.
    pub name: String,
    /// The file that runs (the component, or the up script).
    pub path: PathBuf,
    /// SQL or component.
    pub kind: MigrationKind,
    /// The file's size in bytes.
    pub size: u64,
    /// The sha256 of what runs on `up` (the ledger's checksum).
    pub checksum: String,
    /// A component's imports and exports.
    pub shape: Option<world::ComponentShape>,
    /// The sandbox it would run in.
    pub sandbox: Sandbox,
}

impl Migrator {
    /// The sandbox migration `version` at `path` would run in.
    ///
    /// # Errors
    /// [`Error::Config`] when its policies conflict.
    pub fn sandbox(&self, version: Version, path: &Path) -> Result<Sandbox, Error> {
        self.policies.sandbox(version, path)
    }

    /// Describes migration `what` (a version of the directory, or the path
    /// of a migration file, in the directory or not) without running or
    /// compiling it.
    ///
    /// # Errors
    /// [`Error::Refused`] when there is no such migration; [`Error::Io`] or
    /// [`Error::InvalidComponent`] when it cannot be read.
    pub fn inspect(&self, what: &str) -> Result<Inspection, Error> {
        let sources = self.sources()?;
        let as_path = Path::new(what);
        let found = match what.parse::<Version>() {
            Ok(version) => sources.iter().find(|s| s.version == version),
            Err(_) => {
                let wanted = fs::canonicalize(as_path).ok();
                sources
                    .iter()
                    .find(|s| wanted.is_some() && fs::canonicalize(s.path()).ok() == wanted)
            }
        };
        let (version, name, payload) = match found {
            Some(source) => (
                Some(source.version),
                source.name.clone(),
                read_payload(source)?,
            ),
            None if what.parse::<Version>().is_err() && as_path.is_file() => {
                read_loose_file(as_path)?
            }
            None => {
                return Err(Error::Refused(format!(
                    "no migration {what} in {}: give a version listed by `wasmig status`, or \
                     the path of a migration file",
                    self.dir.display()
                )));
            }
        };
        let checksum = checksum(&payload);
        let (path, kind, size, shape) = match &payload {
            // A Python migration's files; the runtime's shape is its imports.
            Payload::Component { bytes, path } if crate::python::is_bundle(bytes) => (
                path.clone(),
                MigrationKind::Component,
                bytes.len() as u64,
                None,
            ),
            Payload::Component { bytes, path } => {
                let shape = world::shape(bytes).map_err(|message| Error::InvalidComponent {
                    path: path.clone(),
                    message,
                })?;
                (
                    path.clone(),
                    MigrationKind::Component,
                    bytes.len() as u64,
                    Some(shape),
                )
            }
            Payload::Schema { text, .. } => (
                found.map_or_else(|| as_path.to_owned(), |s| s.path().to_owned()),
                MigrationKind::Schema,
                text.len() as u64,
                None,
            ),
            Payload::Sql { up, .. } => (
                found.map_or_else(|| as_path.to_owned(), |s| s.path().to_owned()),
                MigrationKind::Sql,
                up.len() as u64,
                None,
            ),
        };
        let sandbox = self
            .policies
            .sandbox(version.unwrap_or(Version::MIN), &path)?;
        Ok(Inspection {
            version,
            name,
            path,
            kind,
            size,
            checksum,
            shape,
            sandbox,
        })
    }
}

/// A migration file outside the migrations directory: its version and name
/// from the file name, and what runs.
fn read_loose_file(as_path: &Path) -> Result<(Option<Version>, String, Payload), Error> {
    let stem = as_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
    let name = stem[digits.len()..].trim_start_matches('_').to_owned();
    let bytes = fs::read(as_path).map_err(Error::io(as_path))?;
    let payload = if bytes.starts_with(b"\0asm") {
        Payload::Component {
            bytes,
            path: as_path.to_owned(),
        }
    } else {
        let up = String::from_utf8(bytes).map_err(|_| Error::Source {
            path: as_path.to_owned(),
            message: "neither a component nor a UTF-8 SQL file".into(),
        })?;
        let scripts = sql_file::parse(&up, None, None);
        Payload::Sql {
            up: scripts.up,
            down: scripts.down,
            no_transaction: scripts.no_transaction,
        }
    };
    Ok((digits.parse().ok(), name, payload))
}
