//! Schema management from the desired schema files: `new --auto`,
//! `schema diff`, `schema sync` and `schema drop`, and the scratch
//! databases they replay in (dropped after success, failure and Ctrl-C;
//! swept when a killed run left one; a `--dev-url` instead).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::io::{BufRead, BufReader};

use support::{Engine, Project};

/// The first migration, and the desired schema that adds a column, an
/// index and a table pointing at the first, in each engine's own SQL.
fn dialect_sql(engine: Engine) -> (&'static str, &'static str) {
    match engine {
        Engine::Sqlite => (
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);",
            "CREATE TABLE users (\n  id INTEGER PRIMARY KEY,\n  email TEXT NOT NULL,\n  \
             nickname TEXT\n);\nCREATE INDEX users_email_idx ON users (email);\n\n\
             CREATE TABLE posts (\n  id INTEGER PRIMARY KEY,\n  user_id INTEGER NOT NULL \
             REFERENCES users (id),\n  title TEXT NOT NULL DEFAULT 'untitled'\n);\n",
        ),
        Engine::Postgres => (
            "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);",
            "CREATE TABLE users (\n  id bigserial PRIMARY KEY,\n  email text NOT NULL,\n  \
             nickname varchar(50)\n);\nCREATE INDEX users_email_idx ON users (email);\n\n\
             CREATE TABLE posts (\n  id bigserial PRIMARY KEY,\n  user_id bigint NOT NULL \
             REFERENCES users (id),\n  title text NOT NULL DEFAULT 'untitled'\n);\n",
        ),
        Engine::Mysql => (
            "CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) NOT NULL);",
            "CREATE TABLE users (\n  id BIGINT AUTO_INCREMENT PRIMARY KEY,\n  email \
             VARCHAR(100) NOT NULL,\n  nickname VARCHAR(50)\n);\nCREATE INDEX users_email_idx \
             ON users (email);\n\nCREATE TABLE posts (\n  id BIGINT AUTO_INCREMENT PRIMARY KEY,\n  \
             user_id BIGINT NOT NULL,\n  title VARCHAR(200) NOT NULL DEFAULT 'untitled',\n  \
             FOREIGN KEY (user_id) REFERENCES users (id)\n);\n",
        ),
    }
}

fn desired_project(engine: Engine) -> Project {
    let p = Project::on(engine);
    let (first, desired) = dialect_sql(engine);
    p.sql("0001_users", first, Some("DROP TABLE users;"));
    fs::create_dir_all(p.root.path().join("schema")).unwrap();
    fs::write(p.root.path().join("schema/app.sql"), desired).unwrap();
    p
}

/// `new --auto` writes up and down files that `up` applies (leaving the
/// desired schema) and `down` reverts; then there is nothing left to do.
fn auto_round_trip(engine: Engine, declarative: bool) {
    let p = desired_project(engine);
    p.wasmig(&["up"]).ok();
    let before = support::schema_json(&p);
    let mut args = vec!["new", "grow", "--auto"];
    if declarative {
        args.push("--schema");
    }
    let run = p.wasmig(&args).ok();
    let written = if declarative {
        "0002_grow.schema.toml"
    } else {
        "0002_grow.up.sql"
    };
    let run = run.says(&[written]);
    if !declarative {
        let up = fs::read_to_string(p.migrations.join("0002_grow.up.sql")).unwrap();
        assert!(up.contains("posts") && up.contains("nickname"), "{up}");
        assert!(
            p.migrations.join("0002_grow.down.sql").exists(),
            "{}",
            run.stdout
        );
    }
    p.wasmig(&["up"]).ok();
    p.wasmig(&["schema", "diff", "--from", "database", "--to", "schema"])
        .ok()
        .says(&["the schemas are the same"]);
    p.wasmig(&["new", "again", "--auto"])
        .ok()
        .says(&["nothing to do"]);
    assert!(!p.migrations.join("0003_again.up.sql").exists());
    p.wasmig(&["down"]).ok();
    assert_eq!(support::schema_json(&p), before, "down restores the schema");
    p.wasmig(&["up"]).ok();
    p.wasmig(&["drift", "--exit-code"]).ok();
}

#[test]
fn auto_on_sqlite() {
    auto_round_trip(Engine::Sqlite, false);
}

#[test]
fn auto_on_postgres() {
    auto_round_trip(Engine::Postgres, false);
}

#[test]
fn auto_on_mariadb() {
    auto_round_trip(Engine::Mysql, false);
}

#[test]
fn auto_declarative_on_postgres() {
    auto_round_trip(Engine::Postgres, true);
}

#[test]
fn a_state_file_is_a_desired_schema_too() {
    let p = desired_project(Engine::Sqlite);
    p.wasmig(&["up"]).ok();
    // The state of a database that has the desired schema.
    let model = Project::on(Engine::Sqlite);
    model.db.apply_natively(dialect_sql(Engine::Sqlite).1);
    let state = model
        .wasmig(&["schema", "dump", "--format", "toml"])
        .ok()
        .stdout;
    fs::write(p.root.path().join("state.toml"), state).unwrap();
    p.config("schema = \"state.toml\"\n");
    p.wasmig(&["new", "grow", "--auto"]).ok();
    p.wasmig(&["up"]).ok();
    assert_eq!(support::schema_json(&p), support::schema_json(&model));
}

#[test]
fn a_schema_file_the_engine_refuses_names_file_line_and_construct() {
    let p = desired_project(Engine::Sqlite);
    fs::write(
        p.root.path().join("schema/app.sql"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\n\n\
         CREATE TABLE posts (\n  id INTEGER PRIMARY KEY,,\n  title TEXT\n);\n",
    )
    .unwrap();
    p.wasmig(&["new", "x", "--auto"]).fails().says(&[
        "app.sql",
        "line 3",
        "CREATE TABLE posts",
        "does not parse",
        "Line: 4",
    ]);
    assert!(fs::read_dir(&p.migrations).unwrap().count() == 2);
}

#[test]
fn without_schema_files_auto_says_where_to_put_them() {
    let p = Project::new();
    p.wasmig(&["new", "x", "--auto"])
        .fails()
        .says(&["no desired schema", "schema"]);
}

// ---- schema sync and schema drop ----------------------------------------

fn sync_then_drop(engine: Engine) {
    let p = desired_project(engine);
    p.wasmig(&["up"]).ok();
    // No terminal and no --yes: refused, nothing changed.
    p.wasmig(&["schema", "sync"]).fails().says(&["--yes"]);
    assert!(!p.db.has_table("posts"));
    p.wasmig(&["schema", "sync", "--yes"])
        .ok()
        .says(&["synced"]);
    assert!(p.db.has_table("posts"));
    p.wasmig(&["schema", "diff"])
        .ok()
        .says(&["the schemas are the same"]);
    p.wasmig(&["history"]).ok().says(&["sync"]);
    p.wasmig(&["schema", "sync", "--yes"])
        .ok()
        .says(&["nothing to do"]);

    p.wasmig(&["schema", "drop", "--yes"])
        .ok()
        .says(&["dropped"]);
    assert!(!p.db.has_table("users"));
    assert!(!p.db.has_table("wasmig_migrations"));
    p.wasmig(&["up"]).ok();
    assert!(p.db.has_table("users"));
}

#[test]
fn sync_and_drop_on_sqlite() {
    sync_then_drop(Engine::Sqlite);
}

#[test]
fn sync_and_drop_on_postgres() {
    sync_then_drop(Engine::Postgres);
}

#[test]
fn sync_and_drop_on_mariadb() {
    sync_then_drop(Engine::Mysql);
}

#[test]
fn sync_and_drop_are_refused_when_protected() {
    let p = desired_project(Engine::Postgres);
    p.config("[env.prod]\nprotected = true\n");
    p.wasmig(&["--env", "prod", "up"]).ok();
    let before = p.dump();
    for args in [["schema", "sync", "--yes"], ["schema", "drop", "--yes"]] {
        let mut args = args.to_vec();
        args.splice(0..0, ["--env", "prod"]);
        p.wasmig(&args)
            .fails()
            .says(&["protected", "Nothing was changed"]);
    }
    assert_eq!(p.dump(), before);
}

// ---- scratch databases ----------------------------------------------------

fn database_exists(name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    support::Database::psql_on("postgres", &sql).trim() == "1"
}

/// The scratch database's name, from `-v` output.
fn scratch_name(line: &str) -> Option<String> {
    let rest = &line[line.find("scratch database ")? + "scratch database ".len()..];
    Some(rest.split_whitespace().next()?.to_owned())
}

#[test]
fn a_scratch_database_is_dropped_after_a_failed_replay_and_a_stale_one_is_swept() {
    let stale = format!("wasmig_scratch_1000_{:08x}", std::process::id());
    support::Database::psql_on("postgres", &format!("CREATE DATABASE {stale}"));
    let p = Project::on(Engine::Postgres);
    p.sql("0001_a", "CREATE TABLE a (id int);", None);
    p.wasmig(&["up"]).ok();
    // The file changes after it was applied: its replay fails.
    p.sql("0001_a", "CREATE TABLE a (id int, oops);", None);
    let run = p.wasmig(&["-v", "drift"]).fails();
    let name = run
        .stderr
        .lines()
        .find_map(scratch_name)
        .unwrap_or_else(|| panic!("no scratch database named in\n{}", run.stderr));
    assert!(name.starts_with("wasmig_scratch_"), "{name}");
    assert!(!database_exists(&name), "{name} was left behind");
    assert!(!database_exists(&stale), "the stale {stale} was not swept");
    assert!(run.stderr.contains("0001"), "{}", run.stderr);
}

#[test]
fn ctrl_c_drops_the_scratch_database() {
    let p = Project::on(Engine::Postgres);
    // Slow only where it replays.
    p.sql(
        "0001_slow",
        "SELECT pg_sleep(CASE WHEN current_database() LIKE 'wasmig_scratch%' THEN 60 ELSE 0 END);",
        None,
    );
    p.wasmig(&["up"]).ok();
    let mut child = p.spawn_wasmig(&["-v", "drift"]);
    let stderr = child.stderr.take().unwrap();
    let mut name = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if let Some(found) = scratch_name(&line) {
            name = Some(found);
            break;
        }
    }
    let name = name.expect("the scratch database is named on -v");
    std::thread::sleep(std::time::Duration::from_millis(500));
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(!database_exists(&name), "{name} was left behind");
}

#[test]
fn a_dev_url_is_used_and_left_empty_and_must_be_empty() {
    let p = desired_project(Engine::Postgres);
    p.wasmig(&["up"]).ok();
    let dev = support::Database::create(Engine::Postgres, p.root.path());
    p.wasmig(&["--dev-url", &dev.url(), "drift", "--exit-code"])
        .ok();
    assert!(dev.column("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == ["0"]);
    dev.apply_natively("CREATE TABLE x (id int);");
    p.wasmig(&["--dev-url", &dev.url(), "drift"])
        .fails()
        .says(&["not empty"]);
}

#[test]
fn a_user_who_may_not_create_databases_is_pointed_at_dev_url() {
    support::Database::psql_on(
        "postgres",
        "DO $$ BEGIN CREATE ROLE wasmig_nocreate LOGIN NOCREATEDB; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    );
    let p = Project::on(Engine::Postgres);
    p.sql("0001_a", "SELECT 1;", None);
    let url = p.db.url().replacen("postgres@", "wasmig_nocreate@", 1);
    p.wasmig_at(&url, &["drift"])
        .fails()
        .says(&["--dev-url", "create databases"]);
}
