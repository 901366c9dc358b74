//! `wasmig drift`: after `up`, every layout folder, the sample project and
//! the portable example show no drift on their engines; one hand-made
//! change (a column, an index, a type, a dropped constraint) is reported as
//! exactly that difference; `drift --fix` adopts it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::Path;

use support::{Engine, Project, repo};

#[track_caller]
fn no_drift(p: &Project, dir: &Path) {
    p.wasmig_on(dir, &["drift", "--exit-code"])
        .ok()
        .says(&["no drift"]);
}

fn up_then_no_drift(dir: &Path, engine: Engine) {
    let p = Project::on(engine);
    p.wasmig_on(dir, &["up"]).ok();
    no_drift(&p, dir);
}

#[test]
fn layouts_show_no_drift_after_up() {
    for (name, engine) in [
        ("sqlx_postgres", Engine::Postgres),
        ("golang_migrate_mysql", Engine::Mysql),
        ("dbmate_postgres", Engine::Postgres),
        ("goose_postgres", Engine::Postgres),
        ("diesel_sqlite", Engine::Sqlite),
    ] {
        up_then_no_drift(&repo().join("tests/layouts").join(name), engine);
    }
}

#[test]
fn the_sample_shows_no_drift_on_sqlite() {
    up_then_no_drift(&repo().join("migrations"), Engine::Sqlite);
}

#[test]
fn the_sample_shows_no_drift_on_postgres() {
    up_then_no_drift(&repo().join("migrations"), Engine::Postgres);
}

#[test]
fn the_portable_example_shows_no_drift_on_every_engine() {
    for engine in [Engine::Sqlite, Engine::Postgres, Engine::Mysql] {
        up_then_no_drift(&repo().join("examples/portable"), engine);
    }
}

// ---- one hand-made change, reported as exactly that ---------------------

const USERS: &str = r#"
[[op]]
op = "create_table"
table = "users"
columns = [
  { name = "id", type = "bigint", identity = true, primary_key = true },
  { name = "email", type = "string(100)", nullable = false },
  { name = "age", type = "integer" },
]

[[op]]
op = "add_check"
table = "users"
name = "users_age_check"
expression = "age >= 0"
"#;

fn users_project(engine: Engine) -> Project {
    let p = Project::on(engine);
    fs::write(p.migrations.join("0001_users.schema.toml"), USERS).unwrap();
    p.wasmig(&["up"]).ok();
    no_drift(&p, &p.migrations);
    p
}

/// Edits the SQL SQLite keeps for `users` (a hand-made change SQLite's
/// ALTER TABLE cannot make).
fn edit_sqlite_table(p: &Project, from: &str, to: &str) {
    let path = p.db.url().strip_prefix("sqlite:").unwrap().to_owned();
    let conn = rusqlite::Connection::open(path).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'users'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let edited = sql.replace(from, to);
    assert_ne!(edited, sql, "`{from}` is not in {sql}");
    conn.execute_batch("PRAGMA writable_schema = ON").unwrap();
    conn.execute(
        "UPDATE sqlite_schema SET sql = ?1 WHERE name = 'users'",
        [&edited],
    )
    .unwrap();
    conn.execute_batch("PRAGMA writable_schema = OFF").unwrap();
}

/// Runs drift and asserts it exits 4 with exactly one difference.
#[track_caller]
fn one_difference(p: &Project, change: &str, object: &str, name: &str) {
    let run = p.wasmig(&["drift", "--exit-code"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let run = run.says(&[&format!("{change} {object} `{name}`")]);
    assert!(run.stdout.contains("1 way(s)"), "{}", run.stdout);
    let json = p.wasmig(&["drift", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let found = doc["differences"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{}", json.stdout);
    assert_eq!(found[0]["change"], change);
    assert_eq!(found[0]["object"], object);
    assert_eq!(found[0]["name"], name);
    assert_eq!(doc["drifted"], true);
}

fn added_column(engine: Engine) {
    let p = users_project(engine);
    p.db.apply_natively("ALTER TABLE users ADD COLUMN nickname VARCHAR(50);");
    one_difference(&p, "extra", "column", "users.nickname");
}

fn added_index(engine: Engine) {
    let p = users_project(engine);
    p.db.apply_natively("CREATE INDEX users_age_idx ON users (age);");
    one_difference(&p, "extra", "index", "users_age_idx");
}

fn changed_type(engine: Engine) {
    let p = users_project(engine);
    match engine {
        Engine::Sqlite => edit_sqlite_table(&p, "\"age\" INTEGER", "\"age\" BIGINT"),
        Engine::Postgres => {
            p.db.apply_natively("ALTER TABLE users ALTER COLUMN age TYPE bigint;")
        }
        Engine::Mysql => p.db.apply_natively("ALTER TABLE users MODIFY age BIGINT;"),
    }
    one_difference(&p, "changed", "column", "users.age");
    let run = p.wasmig(&["drift"]);
    assert!(
        run.stdout
            .to_lowercase()
            .contains("the database has `bigint"),
        "{}",
        run.stdout
    );
}

fn dropped_constraint(engine: Engine) {
    let p = users_project(engine);
    match engine {
        Engine::Sqlite => edit_sqlite_table(
            &p,
            ",\n  CONSTRAINT \"users_age_check\" CHECK (age >= 0)",
            "",
        ),
        _ => {
            p.db.apply_natively("ALTER TABLE users DROP CONSTRAINT users_age_check;")
        }
    }
    one_difference(&p, "missing", "constraint", "users_age_check");
}

macro_rules! per_engine {
    ($($name:ident: $case:ident($engine:expr);)*) => {
        $(#[test] fn $name() { $case($engine); })*
    };
}

per_engine! {
    added_column_on_sqlite: added_column(Engine::Sqlite);
    added_column_on_postgres: added_column(Engine::Postgres);
    added_column_on_mariadb: added_column(Engine::Mysql);
    added_index_on_sqlite: added_index(Engine::Sqlite);
    added_index_on_postgres: added_index(Engine::Postgres);
    added_index_on_mariadb: added_index(Engine::Mysql);
    changed_type_on_sqlite: changed_type(Engine::Sqlite);
    changed_type_on_postgres: changed_type(Engine::Postgres);
    changed_type_on_mariadb: changed_type(Engine::Mysql);
    dropped_constraint_on_sqlite: dropped_constraint(Engine::Sqlite);
    dropped_constraint_on_postgres: dropped_constraint(Engine::Postgres);
    dropped_constraint_on_mariadb: dropped_constraint(Engine::Mysql);
    fix_adopts_on_sqlite: fix_adopts(Engine::Sqlite);
    fix_adopts_on_postgres: fix_adopts(Engine::Postgres);
    fix_adopts_on_mariadb: fix_adopts(Engine::Mysql);
}

// ---- drift --fix ----------------------------------------------------------

/// `drift --fix` writes the hand-made change as a migration, records it as
/// applied here (no drift left), and another database applies it.
fn fix_adopts(engine: Engine) {
    let p = users_project(engine);
    p.db.apply_natively(
        "ALTER TABLE users ADD COLUMN nickname VARCHAR(50);\n\
         CREATE INDEX users_age_idx ON users (age);",
    );
    p.wasmig(&["drift", "--fix", "adopt_nickname"]).ok().says(&[
        "0002_adopt_nickname",
        "recorded migration 2 as applied",
        "pending on every other database",
    ]);
    no_drift(&p, &p.migrations);
    let doc = p.status_json();
    let states: Vec<(i64, String)> = doc["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["version"].as_i64().unwrap(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [(1, "applied".to_owned()), (2, "applied".to_owned())]
    );
    let history = p.wasmig(&["history"]).ok();
    assert!(history.stdout.contains("adopt"), "{}", history.stdout);

    // Elsewhere it is pending, and `up` makes the same schema.
    let other = Project::on(engine);
    other.wasmig_on(&p.migrations, &["up"]).ok();
    assert_eq!(
        support::schema_json(&other),
        support::schema_json(&p),
        "the adopted migration makes the schema the hand-made changes made"
    );
    other.wasmig_on(&p.migrations, &["down"]).ok();
    other
        .wasmig_on(&p.migrations, &["drift", "--exit-code"])
        .ok();
}
