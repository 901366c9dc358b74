//! Shared test support: real guest components built once per test run, a
//! throwaway project per test, and the `wasmig` binary under test.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod database;

pub use database::{Database, Engine};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Builds the guest fixtures in `tests/guests` (once per test process; cargo
/// makes concurrent processes wait for each other) and returns the path of
/// fixture `name`'s component.
pub fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let out = BUILT.get_or_init(|| {
        let target = repo().join("target/guest-fixtures");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
            .arg("--manifest-path")
            .arg(repo().join("tests/guests/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("running cargo to build the guest fixtures");
        assert!(
            status.success(),
            "building tests/guests failed (is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`)"
        );
        target.join("wasm32-wasip2/release")
    });
    let path = out.join(format!("{name}.wasm"));
    assert!(path.exists(), "no fixture {}", path.display());
    path
}

/// The `componentize-py` the README's test command installs into `.venv`.
pub fn componentize_py() -> PathBuf {
    let tool = repo().join(".venv/bin/componentize-py");
    assert!(
        tool.is_file(),
        "{} is missing: run `python3 -m venv .venv && .venv/bin/pip install -r \
         guest-sdk/python/requirements.txt` (part of the README's test command)",
        tool.display()
    );
    tool
}

/// The wasmig Python runtime, built once per test run by `wasmig build`
/// itself (which also compiles it into the shared test cache), and reused
/// while the SDK is unchanged.
pub fn python_runtime() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let project = repo().join("target/python-runtime");
            let migrations = project.join("migrations");
            let runtime = wasmig::python::runtime_path(&migrations);
            if !wasmig::python::runtime_is_stale(&migrations) {
                return runtime;
            }
            fs::create_dir_all(migrations.join("1_probe")).unwrap();
            fs::write(
                migrations.join("1_probe/migration.py"),
                "from wasmig_guest import Migration\n\n\nclass Probe(Migration):\n    \
                 def up(self, db, env):\n        pass\n",
            )
            .unwrap();
            let output = Command::new(env!("CARGO_BIN_EXE_wasmig"))
                .current_dir(&project)
                .args(["build", "--database-url", "sqlite::memory:"])
                .env("WASMIG_COMPONENTIZE_PY", componentize_py())
                .env("WASMIG_CACHE_DIR", test_cache())
                .output()
                .unwrap();
            let run = Run::from(output).ok();
            assert!(runtime.is_file(), "{}\n{}", run.stdout, run.stderr);
            runtime
        })
        .clone()
}

/// The compile cache every test's `wasmig` shares (tests of the cache
/// itself name their own), so the user's own cache is left alone.
pub fn test_cache() -> PathBuf {
    repo().join("target/test-compile-cache")
}

/// A finished `wasmig` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "wasmig failed:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self) -> Self {
        assert_ne!(
            self.code, 0,
            "wasmig succeeded but should not have:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that the error output contains every one of `needles`.
    #[track_caller]
    pub fn says(self, needles: &[&str]) -> Self {
        for needle in needles {
            assert!(
                self.stderr.contains(needle) || self.stdout.contains(needle),
                "expected {needle:?} in the output:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }
}

/// A throwaway project: a migrations directory, a fresh database and a
/// working directory for `wasmig.toml`.
pub struct Project {
    pub db: Database,
    pub migrations: PathBuf,
    pub root: tempfile::TempDir,
}

impl Project {
    /// A project on a fresh SQLite file.
    pub fn new() -> Self {
        Self::on(Engine::Sqlite)
    }

    /// A project on a fresh database of `engine`.
    pub fn on(engine: Engine) -> Self {
        let root = tempfile::tempdir().unwrap();
        let migrations = root.path().join("migrations");
        fs::create_dir_all(&migrations).unwrap();
        let db = Database::create(engine, root.path());
        Self {
            db,
            migrations,
            root,
        }
    }

    /// Adds `<stem>.up.sql` (and `.down.sql` when given).
    pub fn sql(&self, stem: &str, up: &str, down: Option<&str>) -> &Self {
        match down {
            Some(down) => {
                fs::write(self.migrations.join(format!("{stem}.up.sql")), up).unwrap();
                fs::write(self.migrations.join(format!("{stem}.down.sql")), down).unwrap();
            }
            None => fs::write(self.migrations.join(format!("{stem}.sql")), up).unwrap(),
        }
        self
    }

    /// Adds the fixture component `fixture` as `<stem>.wasm`.
    pub fn component(&self, stem: &str, fixture_name: &str) -> &Self {
        fs::copy(
            fixture(fixture_name),
            self.migrations.join(format!("{stem}.wasm")),
        )
        .unwrap();
        self
    }

    /// Adds a Python migration `<stem>/` holding `files` (path, text), and
    /// the runtime that runs it.
    pub fn python(&self, stem: &str, files: &[(&str, &str)]) -> &Self {
        let dir = self.migrations.join(stem);
        for (path, text) in files {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let runtime = wasmig::python::runtime_path(&self.migrations);
        if !runtime.exists() {
            fs::create_dir_all(runtime.parent().unwrap()).unwrap();
            if fs::hard_link(python_runtime(), &runtime).is_err() {
                fs::copy(python_runtime(), &runtime).unwrap();
            }
        }
        self
    }

    /// Writes `wasmig.toml`.
    pub fn config(&self, toml: &str) -> &Self {
        fs::write(self.root.path().join("wasmig.toml"), toml).unwrap();
        self
    }

    /// Runs `wasmig` on this project's directory and database.
    pub fn wasmig(&self, args: &[&str]) -> Run {
        self.wasmig_on(&self.migrations, args)
    }

    /// Starts `wasmig` on this project without waiting for it.
    pub fn spawn_wasmig(&self, args: &[&str]) -> std::process::Child {
        self.spawn_wasmig_with(&[], args)
    }

    /// Starts `wasmig` on this project with extra environment variables,
    /// without waiting for it.
    pub fn spawn_wasmig_with(&self, vars: &[(&str, &str)], args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_wasmig"))
            .current_dir(self.root.path())
            .env_remove("DATABASE_URL")
            .env("WASMIG_CACHE_DIR", test_cache())
            .envs(vars.iter().copied())
            .arg("--dir")
            .arg(&self.migrations)
            .arg("--database-url")
            .arg(self.db.url())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs `wasmig` on this project with extra environment variables.
    pub fn wasmig_with(&self, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_wasmig"))
            .current_dir(self.root.path())
            .env_remove("DATABASE_URL")
            .env("WASMIG_CACHE_DIR", test_cache())
            .envs(vars.iter().copied())
            .arg("--dir")
            .arg(&self.migrations)
            .arg("--database-url")
            .arg(self.db.url())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run::from(output)
    }

    /// Runs `wasmig` in the project's root with only `args`: the database
    /// and directory come from `wasmig.toml`, `.env` or `vars`.
    pub fn wasmig_bare(&self, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_wasmig"))
            .current_dir(self.root.path())
            .env_remove("DATABASE_URL")
            .env("WASMIG_CACHE_DIR", test_cache())
            .envs(vars.iter().copied())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run::from(output)
    }

    /// Runs `wasmig` on this project's migrations against another database
    /// (a tenant's URL, say).
    pub fn wasmig_at(&self, url: &str, args: &[&str]) -> Run {
        let dir = self.migrations.to_string_lossy();
        let mut all = vec!["--dir", &dir, "--database-url", url];
        all.extend_from_slice(args);
        self.wasmig_bare(&[], &all)
    }

    /// Runs `wasmig` on another migrations directory with this project's
    /// database.
    pub fn wasmig_on(&self, dir: &Path, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_wasmig"))
            .current_dir(self.root.path())
            .env_remove("DATABASE_URL")
            .env("WASMIG_CACHE_DIR", test_cache())
            .arg("--dir")
            .arg(dir)
            .arg("--database-url")
            .arg(self.db.url())
            .args(args)
            .output()
            .unwrap();
        Run::from(output)
    }

    /// The whole database as text (see [`Database::dump`]).
    pub fn dump(&self) -> String {
        self.db.dump()
    }

    /// Waits up to ten seconds for the count `sql` returns to be 1.
    #[track_caller]
    pub fn wait_for(&self, sql: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.column(sql) != ["1"] {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for: {sql}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The first column of every row of a query, as text.
    pub fn column(&self, sql: &str) -> Vec<String> {
        self.db.column(sql)
    }

    /// The `status --format json` document.
    pub fn status_json(&self) -> serde_json::Value {
        let run = self.wasmig(&["status", "--format", "json"]).ok();
        serde_json::from_str(&run.stdout).unwrap()
    }
}

fn cell_text(cell: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match cell {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("{b:?}"),
    }
}

fn sqlite_dump(path: &Path) -> String {
    if !path.exists() {
        return String::new();
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = String::new();
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    let objects: Vec<(String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (kind, name, sql) in &objects {
        out.push_str(&format!(
            "{kind} {name}: {}\n",
            sql.as_deref().unwrap_or("")
        ));
        if kind == "table" {
            let mut rows = conn
                .prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"))
                .unwrap();
            let n = rows.column_count();
            let lines: Vec<String> = rows
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| cell_text(r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join(" | "))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for line in lines {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out
}

fn sqlite_column(path: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| Ok(cell_text(r.get_ref(0)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The digest a `wasmig plan` printed.
pub fn plan_digest(run: &Run) -> String {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("plan digest: "))
        .expect("the plan prints its digest")
        .to_owned()
}

/// `wasmig schema dump --format json` of a project's database.
pub fn schema_json(project: &Project) -> String {
    project
        .wasmig(&["schema", "dump", "--format", "json"])
        .ok()
        .stdout
}

/// Dumps a project's schema as SQL, applies that with the engine's own
/// client to an empty database of the same engine, and asserts both dump
/// to the same model; returns the model as JSON.
#[track_caller]
pub fn assert_dump_round_trips(project: &Project) -> String {
    let first = schema_json(project);
    let sql = project
        .wasmig(&["schema", "dump", "--format", "sql"])
        .ok()
        .stdout;
    let copy = Project::on(project.db.engine);
    copy.db.apply_natively(&sql);
    assert_eq!(schema_json(&copy), first, "the dumped DDL:\n{sql}");
    // The TOML form is the same model.
    let toml_text = project
        .wasmig(&["schema", "dump", "--format", "toml"])
        .ok()
        .stdout;
    let from_toml: wasmig::schema::Schema = toml::from_str(&toml_text).unwrap();
    let from_json: wasmig::schema::Schema = serde_json::from_str(&first).unwrap();
    assert_eq!(from_toml, from_json, "the TOML dump:\n{toml_text}");
    first
}
