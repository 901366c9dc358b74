//! Python migrations, run by the real wasmig Python runtime (built once per
//! test run by `componentize-py` from `.venv`, through `wasmig build`): every
//! SDK call on each engine, the sandbox, the limits, tracebacks, builds and
//! determinism.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use support::{Engine, Project};

const CALLS: &[(&str, &str)] = &[
    ("migration.py", include_str!("python/calls/migration.py")),
    ("checks.py", include_str!("python/calls/checks.py")),
];
const SCHEMA: &[(&str, &str)] = &[("migration.py", include_str!("python/schema/migration.py"))];
const FAILING: &[(&str, &str)] = &[
    ("migration.py", include_str!("python/failing/migration.py")),
    ("keys.py", include_str!("python/failing/keys.py")),
];
const EDGES: &[(&str, &str)] = &[
    ("migration.py", include_str!("python/edges/migration.py")),
    ("lib/util.py", include_str!("python/edges/lib/util.py")),
];
const SANDBOX: &[(&str, &str)] = &[("migration.py", include_str!("python/sandbox/migration.py"))];

/// Every `db` and `env` call, and the schema builder, applied and reverted.
fn calls(engine: Engine) {
    let p = Project::on(engine);
    p.config("[env.dev]\nvars = { region = \"eu\" }\n");
    p.python("1_calls", CALLS).python("2_schema", SCHEMA);
    let run = p.wasmig(&["up"]).ok();
    let dialect = match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
    };
    run.says(&[
        &format!("calls passed on {dialect}"),
        &format!("dialect={dialect} env=dev is_dev=True"),
        "warn line",
        "2500/2500",
    ]);
    assert_eq!(
        p.db.column("SELECT full_name FROM py_people WHERE id = 2500"),
        ["first2500 last2500"]
    );
    assert!(p.db.has_table("py_orders"));
    let status = p.status_json();
    let kinds: Vec<&str> = status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["component", "component"]);
    p.wasmig(&["down", "--to", "0"]).ok();
    for table in ["py_orders", "py_people", "py_values"] {
        assert!(!p.db.has_table(table), "{table} is still there");
    }
}

#[test]
fn every_call_on_sqlite() {
    calls(Engine::Sqlite);
}

#[test]
fn every_call_on_postgres() {
    calls(Engine::Postgres);
}

#[test]
fn every_call_on_mysql() {
    calls(Engine::Mysql);
}

#[test]
fn edge_values_and_imports_on_sqlite_and_postgres() {
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let p = Project::on(engine);
        p.python("1_edges", EDGES);
        p.wasmig(&["up"]).ok().says(&["edges passed"]);
        p.wasmig(&["down"]).ok();
        assert!(!p.db.has_table("py_edges"));
    }
}

#[test]
fn a_generator_up_a_shadowing_module_and_a_runtime_import_are_named() {
    for (files, says) in [
        (
            vec![(
                "migration.py",
                "from wasmig_guest import Migration\n\n\nclass G(Migration):\n    \
                 def up(self, db, env):\n        yield 1\n",
            )],
            "up(db, env) returned generator",
        ),
        (
            vec![
                (
                    "migration.py",
                    "import json\n\ndef up(db, env):\n    pass\n",
                ),
                ("json.py", ""),
            ],
            "1_x/json.py has the name of a module the runtime already carries",
        ),
        (
            vec![("migration.py", "def up(db, env):\n    import sqlite3\n")],
            "File \"1_x/migration.py\", line 2, in up",
        ),
    ] {
        let p = Project::new();
        p.python("1_x", &files);
        p.wasmig(&["up"])
            .fails()
            .says(&[says, "nothing was applied"]);
    }
}

/// A unique-key violation inside a helper module: kind and code reach
/// Python, the traceback names both files, nothing is applied.
fn failing(engine: Engine, code: &str) {
    let p = Project::on(engine);
    p.sql(
        "1_keys",
        "CREATE TABLE py_keys (id BIGINT PRIMARY KEY, email VARCHAR(100) UNIQUE)",
        None,
    );
    p.python("2_failing", FAILING);
    p.wasmig(&["up"]).fails().says(&[
        "migration 2",
        &format!("kind=constraint code={code}"),
        "Python traceback (most recent call last):",
        "File \"2_failing/migration.py\", line 11, in up",
        "keys.insert_twice(db, \"a@example.com\")",
        "File \"2_failing/keys.py\", line 4, in insert_twice",
        "DbError:",
        "nothing was applied",
    ]);
    assert!(p.db.column("SELECT id FROM py_keys").is_empty());
    assert_eq!(p.db.column("SELECT version FROM wasmig_migrations"), ["1"]);
}

#[test]
fn a_db_error_carries_kind_code_and_traceback_on_sqlite() {
    failing(Engine::Sqlite, "2067");
}

#[test]
fn a_db_error_carries_kind_code_and_traceback_on_postgres() {
    failing(Engine::Postgres, "23505");
}

#[test]
fn a_db_error_carries_kind_code_and_traceback_on_mysql() {
    failing(Engine::Mysql, "1062");
}

/// The sandbox migration with `attack` under small limits.
fn sandboxed(attack: &str) -> Project {
    let p = Project::new();
    p.config(&format!(
        "[env.dev]\nvars = {{ attack = \"{attack}\" }}\n[limits]\nmemory_mb = 128\n\
         fuel = 2_000_000_000\n"
    ));
    p.python("1_sandbox", SANDBOX);
    p
}

/// What a migration sees: no environment variables, a fixed clock, file
/// access refused as an exception it may catch.
fn report_of(p: &Project) -> serde_json::Value {
    p.wasmig(&["up"]).ok();
    let text = p.db.column("SELECT report FROM py_sandbox");
    serde_json::from_str(&text[0]).unwrap()
}

#[test]
fn the_sandbox_shows_nothing_ambient() {
    let report = report_of(&sandboxed("report"));
    assert_eq!(report["environ"], serde_json::json!({}));
    assert_eq!(report["time"], serde_json::json!(946_684_800.0));
    for call in ["open", "listdir"] {
        let refused = report[call].as_str().unwrap();
        assert!(
            refused.contains("refused: a migration has no file system"),
            "{refused}"
        );
    }
}

#[test]
fn the_sandbox_stops_files_sockets_and_foreign_modules() {
    for (attack, says) in [
        (
            "stat",
            "it tried to open a file or directory (rule: no file system)",
        ),
        ("socket", "(rule: no network)"),
        (
            "import",
            "No module named 'sqlite3' in the wasmig Python runtime",
        ),
    ] {
        let p = sandboxed(attack);
        let run = p.wasmig(&["up"]).fails();
        let flat = run.stderr.replace(", which the sandbox does not allow", "");
        assert!(flat.contains(says), "{attack}: {}", run.stderr);
        assert!(!p.db.has_table("py_sandbox"));
    }
}

#[test]
fn the_fuel_and_memory_limits_stop_python() {
    sandboxed("fuel")
        .wasmig(&["up"])
        .fails()
        .says(&["CPU budget of 2000000000 fuel units", "nothing was applied"]);
    sandboxed("memory")
        .wasmig(&["up"])
        .fails()
        .says(&["memory limit of 128 MiB", "nothing was applied"]);
}

#[test]
fn the_same_migration_issues_the_same_statements_and_random_is_per_migration() {
    let first = sandboxed("report");
    let second = sandboxed("report");
    let digests: Vec<String> = [&first, &second]
        .iter()
        .map(|p| support::plan_digest(&p.wasmig(&["up", "--dry-run"]).ok()))
        .collect();
    assert_eq!(digests[0], digests[1]);
    let (a, b) = (report_of(&first), report_of(&second));
    assert_eq!(a, b, "two fresh databases, one migration");
    // Another migration (another checksum) draws another random stream:
    // `random` is reseeded from the host, not frozen in the runtime.
    let other = Project::new();
    other.config("[env.dev]\nvars = { attack = \"report\" }\n");
    let edited = format!("{}\n# another checksum\n", SANDBOX[0].1);
    other.python("1_sandbox", &[("migration.py", &edited)]);
    let c = report_of(&other);
    assert_ne!(a["random"], c["random"]);
    assert_eq!(a["set_order"], c["set_order"]);
}

#[test]
fn builds_are_reproducible_and_the_ledger_keeps_only_the_sources() {
    let (first, second) = (Project::new(), Project::new());
    first.python("1_calls", CALLS);
    // Another place and another name: the checksum is the sources'.
    second.python("1_calls_renamed", CALLS);
    let sums: Vec<String> = [&first, &second]
        .iter()
        .map(|p| {
            p.wasmig(&["build"])
                .ok()
                .says(&["1 Python migration(s) import cleanly"]);
            p.status_json()["migrations"][0]["checksum"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        sums[0], sums[1],
        "one source, one checksum, wherever it lives"
    );
    let runtime = wasmig::python::runtime_path(&first.migrations);
    let before = fs::metadata(&runtime).unwrap().modified().unwrap();
    first.wasmig(&["build"]).ok();
    assert_eq!(fs::metadata(&runtime).unwrap().modified().unwrap(), before);
    first.config("[env.dev]\nvars = { region = \"eu\" }\n");
    first.wasmig(&["up"]).ok();
    let kept = first
        .db
        .column("SELECT length(bytes) FROM wasmig_payloads WHERE version = 1");
    let kept: usize = kept[0].parse().unwrap();
    let sources: usize = CALLS.iter().map(|(_, text)| text.len()).sum();
    assert!(kept < sources + 1024, "the ledger keeps {kept} bytes");
}

#[test]
fn a_syntax_error_fails_the_build_with_file_and_line() {
    let p = Project::new();
    p.python(
        "1_broken",
        &[(
            "migration.py",
            "from wasmig_guest import Migration\n\n\nclass Broken(Migration):\n    \
             def up(self, db, env)\n        pass\n",
        )],
    );
    p.wasmig(&["build"]).fails().says(&[
        "1_broken",
        "File \"1_broken/migration.py\", line 5",
        "SyntaxError",
        "fix it and run `wasmig build` again",
    ]);
    p.wasmig(&["up"])
        .fails()
        .says(&["SyntaxError", "nothing was applied"]);
    assert_eq!(p.status_json()["migrations"][0]["status"], "pending");
}

#[test]
fn new_python_scaffolds_a_migration_that_runs_and_reverts_without_its_directory() {
    let p = Project::new();
    p.python("1_calls", CALLS);
    fs::remove_dir_all(p.migrations.join("1_calls")).unwrap();
    let run = p.wasmig(&["new", "seed_demo", "--python"]).ok();
    assert!(run.stdout.contains("migration.py"), "{}", run.stdout);
    let dir = fs::read_dir(&p.migrations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|path| path.to_string_lossy().ends_with("_seed_demo"))
        .unwrap();
    fs::write(
        dir.join("migration.py"),
        fs::read_to_string(dir.join("migration.py"))
            .unwrap()
            .replace(
                "        env.info(",
                "        db.execute(\"CREATE TABLE seeded (id INTEGER)\")\n        env.info(",
            )
            .replace(
                "        pass\n",
                "        db.execute(\"DROP TABLE seeded\")\n",
            ),
    )
    .unwrap();
    p.wasmig(&["up"]).ok().says(&["applying on sqlite in dev"]);
    assert!(p.db.has_table("seeded"));
    fs::remove_dir_all(&dir).unwrap();
    p.wasmig(&["down"]).ok().says(&["is gone"]);
    assert!(!p.db.has_table("seeded"));
}

#[test]
fn a_missing_componentize_py_says_how_to_install_it() {
    let p = Project::new();
    fs::create_dir_all(p.migrations.join("1_x")).unwrap();
    fs::write(p.migrations.join("1_x/migration.py"), "").unwrap();
    p.wasmig_with(
        &[("WASMIG_COMPONENTIZE_PY", "/nonexistent/componentize-py")],
        &["up"],
    )
    .fails()
    .says(&["pip install 'componentize-py==", "WASMIG_COMPONENTIZE_PY"]);
}

#[test]
fn the_python_example_seeds_and_backfills_the_sample() {
    let p = Project::new();
    p.config("[env.dev]\nvars = { demo_users = \"7\" }\n");
    for entry in fs::read_dir(support::repo().join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".sql") && name.as_str() < "0005" {
            fs::copy(&path, p.migrations.join(&name)).unwrap();
        }
    }
    let example = support::repo().join("examples/python");
    for stem in ["0005_seed_demo_users", "0006_backfill_full_name"] {
        let files: Vec<(String, String)> = fs::read_dir(example.join(stem))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, fs::read_to_string(path).unwrap())
            })
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        p.python(stem, &files);
    }
    p.wasmig(&["up"]).ok().says(&[
        "seeded 7 demo users",
        "filled 7 of 7 users without a full name",
    ]);
    let names =
        p.db.column("SELECT full_name FROM users WHERE id IN (1000000, 1000002) ORDER BY id");
    assert_eq!(names, ["Ada Lovelace", "Alan"]);
    p.wasmig(&["down", "--to", "4"])
        .ok()
        .says(&["removed 7 demo users"]);
    assert_eq!(p.db.column("SELECT count(*) FROM users"), ["0"]);
}
