//! `wasmig new`: the files of a new migration.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use wasmig::guest_crate;
use wasmig::source;

/// What kind of migration `wasmig new` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sql,
    Rust,
    Python,
    Schema,
}

/// What a generated migration holds (`new --auto`, `drift --fix`).
pub(crate) enum Generated {
    /// Up and down SQL scripts.
    Sql { up: String, down: String },
    /// A declarative `.schema.toml` file.
    Schema(String),
}

/// The stem `<version>_<name>` of the next migration in `dir`.
fn next_stem(dir: &Path, name: &str) -> Result<(String, String)> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("`{name}` is not a valid migration name: use letters, digits, `_` and `-`");
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let existing = source::discover(dir)?;
    let version = next_version(&existing);
    Ok((format!("{version}_{name}"), version))
}

/// Writes migration `name` with generated contents; returns its version and
/// the files created.
pub(crate) fn write_generated(
    dir: &Path,
    name: &str,
    contents: &Generated,
) -> Result<(i64, Vec<PathBuf>)> {
    let (stem, version) = next_stem(dir, name)?;
    let mut created = Vec::new();
    match contents {
        Generated::Sql { up, down } => {
            write_new(&dir.join(format!("{stem}.up.sql")), up, &mut created)?;
            write_new(&dir.join(format!("{stem}.down.sql")), down, &mut created)?;
        }
        Generated::Schema(text) => {
            write_new(&dir.join(format!("{stem}.schema.toml")), text, &mut created)?;
        }
    }
    let version = version
        .parse()
        .with_context(|| format!("the new version {version} is not a number"))?;
    Ok((version, created))
}

/// Creates migration `name` in `dir` and returns the files created.
pub(crate) fn create(dir: &Path, name: &str, kind: Kind) -> Result<Vec<PathBuf>> {
    let (stem, _) = next_stem(dir, name)?;
    let mut created = Vec::new();
    if kind == Kind::Schema {
        write_new(
            &dir.join(format!("{stem}.schema.toml")),
            &SCHEMA_TEMPLATE.replace("{name}", name),
            &mut created,
        )?;
    } else if kind == Kind::Python {
        let migration_dir = dir.join(&stem);
        fs::create_dir_all(&migration_dir)?;
        write_new(
            &migration_dir.join(wasmig::python::ENTRY),
            &PYTHON_TEMPLATE.replace("{class}", &class_name(name)),
            &mut created,
        )?;
    } else if kind == Kind::Rust {
        let crate_dir = dir.join(&stem);
        fs::create_dir_all(crate_dir.join("src"))?;
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            fs::write(
                &manifest,
                guest_crate::workspace_manifest(&sdk_dependency()),
            )?;
            created.push(manifest);
        }
        let package = format!("m{stem}").replace('-', "_").to_ascii_lowercase();
        write_new(
            &crate_dir.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
                 publish = false\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n\
                 wasmig-guest.workspace = true\n"
            ),
            &mut created,
        )?;
        write_new(&crate_dir.join("src/lib.rs"), RUST_TEMPLATE, &mut created)?;
        write_new(&crate_dir.join(".gitignore"), "/target\n", &mut created)?;
    } else {
        write_new(
            &dir.join(format!("{stem}.up.sql")),
            &format!("-- {name}: applied by `wasmig up`\n"),
            &mut created,
        )?;
        write_new(
            &dir.join(format!("{stem}.down.sql")),
            &format!("-- {name}: reverted by `wasmig down`; undo what the up script does\n"),
            &mut created,
        )?;
    }
    Ok(created)
}

/// `backfill_full_name` as `BackfillFullName`.
fn class_name(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(['_', '-']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, 'M');
    }
    out
}

const PYTHON_TEMPLATE: &str = r#""""Applied by `wasmig up`, reverted by `wasmig down`.

Runs in the wasmig Python runtime: no files, network or environment
variables; `random` and the clock are seeded and fixed per migration. Import
the standard library and your own .py files beside this one at the top.
"""

from wasmig_guest import Migration


class {class}(Migration):
    def up(self, db, env):
        # db.execute("UPDATE users SET active = ? WHERE last_seen IS NULL", [False])
        env.info(f"applying on {db.dialect.value} in {env.name()}")

    def down(self, db, env):
        # Undo what up does. Without this method, the schema operations up
        # ran through db.schema are undone from what wasmig recorded.
        pass
"#;

fn write_new(path: &Path, contents: &str, created: &mut Vec<PathBuf>) -> Result<()> {
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    created.push(path.to_owned());
    Ok(())
}

/// The next version: one more than the newest when the directory numbers its
/// migrations sequentially, otherwise the current UTC time as YYYYMMDDHHMMSS.
fn next_version(existing: &[source::MigrationSource]) -> String {
    match existing.iter().map(|m| m.version).max() {
        Some(newest) if newest < 1_000_000_000 => {
            let width = existing
                .iter()
                .filter_map(|m| m.path().file_name())
                .filter_map(|n| n.to_str())
                .map(|n| n.find('_').unwrap_or(0))
                .max()
                .unwrap_or(4);
            format!("{:0width$}", newest + 1)
        }
        _ => {
            let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
            now.chars().filter(char::is_ascii_digit).take(14).collect()
        }
    }
}

/// The `wasmig-guest` dependency of a new workspace: this checkout's SDK when
/// wasmig runs from a source checkout, the published crate otherwise.
fn sdk_dependency() -> String {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk");
    match checkout.canonicalize() {
        Ok(path) => format!("{{ path = {:?} }}", path.display().to_string()),
        Err(_) => guest_crate::SDK_FROM_REGISTRY.to_owned(),
    }
}

const SCHEMA_TEMPLATE: &str = r#"# {name}: schema operations, applied in order by `wasmig up` and rendered
# for the database's engine. `wasmig down` reverts them with the inverse
# operations recorded when they ran: no down to write. Types: smallint,
# integer, bigint, float, double, decimal(p,s), string(n), text, boolean,
# date, time, datetime, timestamp, json, uuid, enum('a','b'), binary.
# Operations: see the README's "Declarative migrations".

[[op]]
op = "create_table"
table = "example"
timestamps = true
columns = [
  { name = "id", type = "bigint", identity = true, primary_key = true },
  { name = "title", type = "string(200)", nullable = false },
]
"#;

const RUST_TEMPLATE: &str = r#"//! A wasmig migration. `wasmig up` builds it and runs `up` inside a
//! transaction; returning `Err` rolls everything back.
//!
//! Schema changes made through `db.schema()` are reverted by `wasmig down`
//! from what the host recorded when they ran: no `down` to write. Implement
//! `down` when `up` changes anything else (raw DDL, rows).

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct ThisMigration;

impl Migration for ThisMigration {
    fn up(db: &Db, env: &Env) -> Result<()> {
        db.schema().create_table("example_items", |t| {
            t.id("id");
            t.string("title", 200).not_null();
            t.timestamps();
        })?;
        env.info("created example_items");
        Ok(())
    }
}

export_migration!(ThisMigration);
"#;
