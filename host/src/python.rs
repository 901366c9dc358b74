//! Python migrations: `<version>_<name>/migration.py` directories, run by
//! the wasmig Python runtime.
//!
//! The runtime is one CPython component (the `wasmig_guest` SDK, the
//! standard-library modules a migration may import, and a loader), built
//! by `componentize-py` into `<migrations>/.python/runtime.wasm` once per
//! SDK version, and compiled once per machine like any component. A Python
//! migration's payload is its *bundle*: its `.py` files, by relative path,
//! in one canonical JSON document. The bundle is what the ledger checksums
//! and keeps, so two builds of the same sources are the same bytes on any
//! machine, a revert needs only the ledger and the runtime, and a database
//! keeps kilobytes per Python migration, not the interpreter.
//!
//! Why not one `componentize-py` component per migration: its output is not
//! reproducible (the interpreter snapshot holds the build's random hash
//! seed, clocks and heap layout, and it sets no `PYTHONHASHSEED` of its
//! own), each would weigh ~20 MB in the ledger, and each would compile for
//! seconds on every machine.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};

use crate::error::Error;

/// The entry module of a Python migration.
pub const ENTRY: &str = "migration.py";

/// The runtime component, relative to the migrations directory.
pub const RUNTIME: &str = ".python/runtime.wasm";

/// The `componentize-py` release the runtime is built and tested with, as
/// a pip requirement (`componentize-py==<version>`).
pub fn requirement() -> &'static str {
    REQUIREMENTS
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("componentize-py"))
        .unwrap_or("componentize-py")
}

const REQUIREMENTS: &str = include_str!("../../guest-sdk/python/requirements.txt");

/// The SDK and runtime sources, carried in the binary so `wasmig build`
/// needs nothing of this repository.
const SDK_FILES: [(&str, &str); 6] = [
    (
        "wasmig_runtime.py",
        include_str!("../../guest-sdk/python/wasmig_runtime.py"),
    ),
    (
        "wasmig_guest/__init__.py",
        include_str!("../../guest-sdk/python/wasmig_guest/__init__.py"),
    ),
    (
        "wasmig_guest/_values.py",
        include_str!("../../guest-sdk/python/wasmig_guest/_values.py"),
    ),
    (
        "wasmig_guest/db.py",
        include_str!("../../guest-sdk/python/wasmig_guest/db.py"),
    ),
    (
        "wasmig_guest/schema.py",
        include_str!("../../guest-sdk/python/wasmig_guest/schema.py"),
    ),
    (
        "wit/runtime.wit",
        include_str!("../../guest-sdk/python/wit/runtime.wit"),
    ),
];

/// The contract the runtime's world includes.
const CONTRACT: &str = include_str!("../../wit/migration.wit");

/// A Python migration's files, as the runtime receives them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sources {
    /// Format marker; the key no component starts with.
    wasmig_python: u32,
    /// The migration's directory name, which tracebacks show: where it is,
    /// not what it is, so not part of the bundle (a renamed directory
    /// keeps its checksum, as a renamed SQL file does).
    #[serde(skip)]
    pub origin: String,
    /// Relative path (with `/`) to text, in path order.
    pub files: BTreeMap<String, String>,
}

/// Whether `bytes` are a Python migration's bundle (not a component).
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\"wasmig_python\":")
}

/// Reads back the bundle of the migration directory `dir`.
///
/// # Errors
/// What is wrong with it, when it is not a bundle.
pub fn parse_bundle(bytes: &[u8], dir: &Path) -> Result<Sources, String> {
    let mut sources: Sources =
        serde_json::from_slice(bytes).map_err(|e| format!("not a Python migration bundle: {e}"))?;
    sources.origin = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(sources)
}

/// The bundle of the Python migration in `dir`: every `.py` file under it
/// (hidden entries and `__pycache__` aside), in canonical JSON.
///
/// # Errors
/// [`Error::Source`] naming a file that is not UTF-8, or when `migration.py`
/// is missing; [`Error::Io`] when a file cannot be read.
pub fn bundle(dir: &Path) -> Result<Vec<u8>, Error> {
    let mut files = BTreeMap::new();
    collect(dir, dir, &mut files)?;
    if !files.contains_key(ENTRY) {
        return Err(Error::Source {
            path: dir.to_owned(),
            message: format!("a Python migration needs a {ENTRY}"),
        });
    }
    let sources = Sources {
        wasmig_python: 1,
        origin: String::new(),
        files,
    };
    serde_json::to_vec(&sources).map_err(|e| Error::Source {
        path: dir.to_owned(),
        message: format!("cannot bundle: {e}"),
    })
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if name.ends_with(".py") {
            let bytes = fs::read(&path).map_err(Error::io(&path))?;
            let text = String::from_utf8(bytes).map_err(|_| Error::Source {
                path: path.clone(),
                message: "not UTF-8: save it as UTF-8".into(),
            })?;
            if let Ok(relative) = path.strip_prefix(root) {
                let key = relative.to_string_lossy().replace('\\', "/");
                out.insert(key, text);
            }
        }
    }
    Ok(())
}

/// The digest of the SDK this binary carries: a runtime stamped with
/// another one is stale.
pub fn sdk_digest() -> String {
    let mut hasher = Sha256::new();
    for (name, text) in SDK_FILES
        .iter()
        .chain([("wit/deps/migration.wit", CONTRACT)].iter())
    {
        crate::artifact::digest_file(&mut hasher, name, text.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The runtime component of the migrations directory `dir`.
pub fn runtime_path(dir: &Path) -> PathBuf {
    dir.join(RUNTIME)
}

/// Whether the runtime in `dir` is missing or was built from another SDK.
/// Reads only the file's end: the build appends the digest section last.
pub fn runtime_is_stale(dir: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let expected = [
        crate::artifact::SOURCE_SECTION.as_bytes(),
        sdk_digest().as_bytes(),
    ]
    .concat();
    let tail = fs::File::open(runtime_path(dir)).and_then(|mut file| {
        let length = file.metadata()?.len();
        let want = expected.len() as u64;
        if length < want {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(length - want))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        Ok(tail)
    });
    tail.map_or(true, |tail| tail != expected)
}

/// How to install the tool, for messages.
pub fn install_hint() -> String {
    format!(
        "install it with `python3 -m venv .venv && .venv/bin/pip install '{}'` in the \
         project (wasmig looks in ./.venv, $VIRTUAL_ENV and PATH, or set \
         WASMIG_COMPONENTIZE_PY to its path)",
        requirement()
    )
}

/// Finds `componentize-py`: `WASMIG_COMPONENTIZE_PY`, then `.venv/bin`
/// under each of `projects`, then the active virtualenv, then `PATH`.
pub fn find_tool(projects: &[&Path]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASMIG_COMPONENTIZE_PY") {
        return Some(PathBuf::from(path));
    }
    let name = "componentize-py";
    let mut candidates: Vec<PathBuf> = projects
        .iter()
        .map(|project| project.join(".venv/bin").join(name))
        .collect();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        candidates.push(PathBuf::from(venv).join("bin").join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    candidates.into_iter().find(|c| c.is_file())
}

/// Builds the runtime into `dir`'s `.python/runtime.wasm` with `tool`,
/// stamped with the SDK's digest.
///
/// # Errors
/// [`Error::Build`] with the tool's output when it fails.
pub async fn build_runtime(dir: &Path, tool: &Path) -> Result<PathBuf, Error> {
    let work = tempfile::tempdir().map_err(|e| Error::Build(format!("no temp dir: {e}")))?;
    for (name, text) in SDK_FILES {
        write(work.path(), name, text)?;
    }
    write(work.path(), "wit/deps/migration.wit", CONTRACT)?;
    let output_file = work.path().join("runtime.wasm");
    let output = tokio::process::Command::new(tool)
        .current_dir(work.path())
        .args([
            "-q",
            "-d",
            "wit",
            "-w",
            "runtime",
            "componentize",
            "wasmig_runtime",
        ])
        .arg("-p")
        .arg(work.path())
        .arg("-o")
        .arg(&output_file)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Error::Build(format!(
                "cannot run {} ({e}); {}",
                tool.display(),
                install_hint()
            ))
        })?;
    if !output.status.success() {
        return Err(Error::Build(format!(
            "building the Python runtime with {} failed ({}):\n{}{}",
            tool.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut bytes = fs::read(&output_file).map_err(Error::io(&output_file))?;
    crate::artifact::append_custom_section(
        &mut bytes,
        crate::artifact::SOURCE_SECTION,
        sdk_digest().as_bytes(),
    );
    let target = runtime_path(dir);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    let partial = target.with_extension("wasm.partial");
    fs::write(&partial, &bytes).map_err(Error::io(&partial))?;
    fs::rename(&partial, &target).map_err(Error::io(&target))?;
    Ok(target)
}

fn write(root: &Path, name: &str, text: &str) -> Result<(), Error> {
    let path = root.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    fs::write(&path, text).map_err(Error::io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_is_canonical_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("0001_seed");
        fs::create_dir_all(m.join("names/__pycache__")).unwrap();
        fs::write(m.join(ENTRY), "import names\n").unwrap();
        fs::write(m.join("names/__init__.py"), "X = 1\n").unwrap();
        fs::write(m.join("names/__pycache__/x.pyc"), [0u8, 1]).unwrap();
        fs::write(m.join("README.txt"), "not python").unwrap();
        assert!(runtime_is_stale(dir.path()));
        let first = bundle(&m).unwrap();
        assert!(is_bundle(&first));
        assert_eq!(first, bundle(&m).unwrap());
        let sources = parse_bundle(&first, &m).unwrap();
        assert_eq!(sources.origin, "0001_seed");
        assert!(!String::from_utf8_lossy(&first).contains("0001_seed"));
        let names: Vec<&str> = sources.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["migration.py", "names/__init__.py"]);
        assert!(!is_bundle(b"\0asm"));
    }

    #[test]
    fn a_runtime_is_fresh_only_with_this_sdk_s_digest_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = runtime_path(dir.path());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        for (digest, stale) in [(sdk_digest(), false), ("0".repeat(64), true)] {
            let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
            crate::artifact::append_custom_section(
                &mut bytes,
                crate::artifact::SOURCE_SECTION,
                digest.as_bytes(),
            );
            fs::write(&path, &bytes).unwrap();
            assert_eq!(runtime_is_stale(dir.path()), stale);
        }
    }

    #[test]
    fn the_pinned_requirement_is_read_from_requirements_txt() {
        assert!(
            requirement().starts_with("componentize-py=="),
            "{}",
            requirement()
        );
    }

    #[test]
    fn a_directory_without_migration_py_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("helper.py"), "").unwrap();
        let err = bundle(dir.path()).unwrap_err().to_string();
        assert!(err.contains("needs a migration.py"), "{err}");
    }
}
