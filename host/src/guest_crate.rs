//! Rust guest crates: `<version>_<name>/` directories that `wasmig build`
//! compiles to components.
//!
//! The crates of one migrations directory form one cargo workspace (the
//! directory's `Cargo.toml`, created on first use), so they share a target
//! directory and their dependencies compile once. All stale crates build in a
//! single `cargo build` invocation.
//!
//! A build writes `migration.wasm` into the crate directory, with a custom
//! section holding a digest of the crate's source files. A crate is stale
//! when that file is missing or its digest differs from the sources: an
//! unchanged crate is never rebuilt, so its checksum never moves, and a
//! machine without a Rust toolchain can run migrations whose `migration.wasm`
//! was shipped beside them.
//!
//! Builds are reproducible: a fixed release profile (one codegen unit, LTO,
//! no debug info, stripped) and source paths remapped to fixed prefixes, so
//! the same sources and toolchain give the same bytes on any machine.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};

pub use crate::artifact::{ARTIFACT, artifact_path, embedded_digest};
use crate::artifact::{SOURCE_SECTION, append_custom_section};
use crate::error::Error;
use crate::source::{MigrationSource, SourceBody};

/// The target guest crates are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The workspace manifest `wasmig` writes into a migrations directory that
/// has guest crates and no `Cargo.toml` yet. `sdk` is the `wasmig-guest`
/// dependency line.
pub fn workspace_manifest(sdk: &str) -> String {
    format!(
        "# The Rust migrations of this directory form one workspace, so their\n\
         # dependencies build once. `wasmig build` builds them.\n\
         [workspace]\n\
         resolver = \"3\"\n\
         members = [\"[0-9]*_*\"]\n\
         \n\
         [workspace.dependencies]\n\
         wasmig-guest = {sdk}\n"
    )
}

/// The `wasmig-guest` dependency for new workspaces: the published crate.
pub const SDK_FROM_REGISTRY: &str = "\"0.1\"";

/// Digest of the crate's sources: every file under `dir` except `target/`,
/// hidden entries and the built `migration.wasm`, by relative path.
///
/// # Errors
/// Fails when a file cannot be read.
pub fn source_digest(dir: &Path) -> Result<String, Error> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for relative in files {
        let bytes = fs::read(dir.join(&relative)).map_err(Error::io(dir.join(&relative)))?;
        let name = relative.to_string_lossy().replace('\\', "/");
        crate::artifact::digest_file(&mut hasher, &name, &bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let top = dir == root;
        if name.starts_with('.') || (top && (name == "target" || name == ARTIFACT)) {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_owned());
        }
    }
    Ok(())
}

/// Whether the crate in `dir` needs building: no `migration.wasm`, or one
/// built from other sources.
///
/// # Errors
/// Fails when the sources cannot be read.
pub fn is_stale(dir: &Path) -> Result<bool, Error> {
    let artifact = artifact_path(dir);
    let Ok(bytes) = fs::read(&artifact) else {
        return Ok(true);
    };
    Ok(embedded_digest(&bytes).as_deref() != Some(source_digest(dir)?.as_str()))
}

/// The crate's package name, from its `Cargo.toml`.
fn package_name(dir: &Path) -> Result<String, Error> {
    let manifest = dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(Error::io(&manifest))?;
    let value: toml::Table = toml::from_str(&text).map_err(|e| Error::Source {
        path: manifest.clone(),
        message: format!("invalid Cargo.toml: {e}"),
    })?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::Source {
            path: manifest,
            message: "Cargo.toml has no [package] name".into(),
        })
}

/// Path dependencies that live outside the migrations directory. Cargo
/// mixes the absolute path of such a dependency into the symbol hashes, so
/// the component's bytes (and checksum) then depend on where the project is
/// checked out. Registry and git dependencies, and path dependencies inside
/// the directory, do not have this problem.
///
/// # Errors
/// Fails when a manifest cannot be read.
pub fn external_path_dependencies(
    dir: &Path,
    crates: &[&MigrationSource],
) -> Result<Vec<String>, Error> {
    let dir = dir.canonicalize().map_err(Error::io(dir))?;
    let mut manifests = vec![dir.join("Cargo.toml")];
    for source in crates {
        if let SourceBody::Crate { dir: crate_dir } = &source.body {
            manifests.push(crate_dir.join("Cargo.toml"));
        }
    }
    let mut found = Vec::new();
    for manifest in manifests {
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        let table: toml::Table = toml::from_str(&text).map_err(|e| Error::Source {
            path: manifest.clone(),
            message: format!("invalid Cargo.toml: {e}"),
        })?;
        let base = manifest.parent().unwrap_or(&dir);
        let sections = [
            table.get("dependencies"),
            table.get("workspace").and_then(|w| w.get("dependencies")),
        ];
        for deps in sections.into_iter().flatten().filter_map(|d| d.as_table()) {
            for (name, spec) in deps {
                let Some(path) = spec.get("path").and_then(|p| p.as_str()) else {
                    continue;
                };
                let resolved = base
                    .join(path)
                    .canonicalize()
                    .unwrap_or_else(|_| base.join(path));
                if !resolved.starts_with(&dir) {
                    let entry = format!(
                        "`{name}` ({}) in {}",
                        resolved.display(),
                        manifest.display()
                    );
                    if !found.contains(&entry) {
                        found.push(entry);
                    }
                }
            }
        }
    }
    Ok(found)
}

/// Builds the given crates of the migrations directory `dir` in one cargo
/// invocation and writes each one's `migration.wasm`.
///
/// # Errors
/// [`Error::Build`] with the compiler's output when cargo fails or is
/// missing, or the wasm target is not installed.
pub async fn build(dir: &Path, crates: &[&MigrationSource]) -> Result<(), Error> {
    if crates.is_empty() {
        return Ok(());
    }
    let dir = dir.canonicalize().map_err(Error::io(dir))?;
    let manifest = dir.join("Cargo.toml");
    if !manifest.exists() {
        fs::write(&manifest, workspace_manifest(SDK_FROM_REGISTRY))
            .map_err(Error::io(&manifest))?;
    }
    let target_dir = dir.join("target");
    let packages = packages(crates)?;
    let labels: Vec<String> = packages.iter().map(|p| p.source.label()).collect();
    let output = cargo_build(&dir, &manifest, &target_dir, &packages)
        .output()
        .await
        .map_err(|e| {
            Error::Build(format!(
                "cannot run cargo to build {} ({e}): install Rust (https://rustup.rs) where \
                 migrations are built, or ship each crate's {ARTIFACT} built with `wasmig build`",
                labels.join(", ")
            ))
        })?;
    if !output.status.success() {
        return Err(build_failure(&labels, &output));
    }
    for package in packages {
        install_artifact(&package, &target_dir)?;
    }
    Ok(())
}

/// A guest crate to build: its migration, directory and package name.
struct Package<'a> {
    source: &'a MigrationSource,
    dir: PathBuf,
    name: String,
}

/// The crates among `crates`, with their package names.
fn packages<'a>(crates: &[&'a MigrationSource]) -> Result<Vec<Package<'a>>, Error> {
    let mut packages = Vec::new();
    for source in crates {
        let SourceBody::Crate { dir } = &source.body else {
            continue;
        };
        packages.push(Package {
            source,
            dir: dir.clone(),
            name: package_name(dir)?,
        });
    }
    Ok(packages)
}

/// The one `cargo build` of every package, reproducible (see the module
/// documentation), its output captured.
fn cargo_build(
    dir: &Path,
    manifest: &Path,
    target_dir: &Path,
    packages: &[Package<'_>],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(cargo());
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--message-format=short");
    for package in packages {
        cmd.arg("-p").arg(&package.name);
    }
    for (key, value) in reproducible_profile() {
        cmd.env(key, value);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", remap_flags(dir));
    cmd.env_remove("RUSTFLAGS");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The error for a failed build of the crates `labels`: the end of the
/// compiler's output, and what to do.
fn build_failure(labels: &[String], output: &std::process::Output) -> Error {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hint = if stderr.contains("target may not be installed")
        || stderr.contains("can't find crate for `core`")
        || stderr.contains("can't find crate for `std`")
    {
        format!("the {TARGET} target is missing: run `rustup target add {TARGET}`")
    } else {
        "fix the errors above and run `wasmig build` again".to_owned()
    };
    let tail: Vec<&str> = stderr.lines().rev().take(60).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Error::Build(format!(
        "building {} failed ({}):\n{}\n  {hint}",
        labels.join(", "),
        output.status,
        tail.join("\n")
    ))
}

/// Writes the built component of `package` into its crate directory as
/// `migration.wasm`, stamped with the digest of its sources.
fn install_artifact(package: &Package<'_>, target_dir: &Path) -> Result<(), Error> {
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package.name.replace('-', "_")));
    let mut bytes = fs::read(&built).map_err(|e| {
        Error::Build(format!(
            "{}: cargo succeeded but produced no {} ({e}); the crate needs \
             `[lib] crate-type = [\"cdylib\"]`",
            package.source.label(),
            built.display()
        ))
    })?;
    let digest = source_digest(&package.dir)?;
    append_custom_section(&mut bytes, SOURCE_SECTION, digest.as_bytes());
    let artifact = artifact_path(&package.dir);
    // Concurrent builds of the same crate each write their own file and
    // rename it into place, so a reader never sees half a component.
    let partial = package
        .dir
        .join(format!(".{ARTIFACT}.{}.partial", std::process::id()));
    fs::write(&partial, &bytes).map_err(Error::io(&partial))?;
    fs::rename(&partial, &artifact).map_err(Error::io(&artifact))?;
    Ok(())
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Profile settings that make the output depend on sources and toolchain
/// only; they override whatever the workspace manifest says.
fn reproducible_profile() -> [(&'static str, &'static str); 6] {
    [
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s"),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
        ("CARGO_PROFILE_RELEASE_LTO", "true"),
        ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
        ("CARGO_PROFILE_RELEASE_STRIP", "true"),
        ("CARGO_PROFILE_RELEASE_INCREMENTAL", "false"),
    ]
}

/// `--remap-path-prefix` flags (separated by 0x1f, as cargo expects) that
/// replace machine-specific paths: the project holding the migrations
/// directory, and cargo's home with its registry sources.
fn remap_flags(dir: &Path) -> String {
    let mut flags = Vec::new();
    if let Some(home) = cargo_home() {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    let project = dir.parent().unwrap_or(dir);
    flags.push(format!(
        "--remap-path-prefix={}=/project",
        project.display()
    ));
    flags.join("\u{1f}")
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .and_then(|p| p.canonicalize().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_section_round_trips() {
        // The smallest component: magic + layer-1 component version.
        let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
        append_custom_section(&mut bytes, SOURCE_SECTION, b"abc123");
        assert_eq!(embedded_digest(&bytes).as_deref(), Some("abc123"));
    }

    #[test]
    fn source_digest_ignores_build_output_and_sees_edits() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("Cargo.toml"), "[package]").unwrap();
        fs::write(dir.path().join("src/lib.rs"), "fn a() {}").unwrap();
        let before = source_digest(dir.path()).unwrap();
        fs::create_dir_all(dir.path().join("target/x")).unwrap();
        fs::write(dir.path().join("target/x/out"), "junk").unwrap();
        fs::write(dir.path().join(ARTIFACT), "junk").unwrap();
        assert_eq!(source_digest(dir.path()).unwrap(), before);
        fs::write(dir.path().join("src/lib.rs"), "fn b() {}").unwrap();
        assert_ne!(source_digest(dir.path()).unwrap(), before);
    }
}
