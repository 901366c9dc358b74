//! The database itself, through the `wasmig` binary on PostgreSQL and
//! MariaDB: `up --create-database`, `database create|drop`, and what an
//! operator is told when the database cannot be reached.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Engine, Project};

/// Runs the listed cases, each a `fn(Engine)`, on PostgreSQL and MariaDB.
macro_rules! on_servers {
    ([$($case:ident),* $(,)?]) => {
        mod postgres {
            use super::*;
            $( #[test] fn $case() { super::$case(Engine::Postgres) } )*
        }
        mod mysql {
            use super::*;
            $( #[test] fn $case() { super::$case(Engine::Mysql) } )*
        }
    };
}

on_servers!([
    up_creates_a_missing_database_then_applies,
    runners_creating_the_same_database_at_once_all_succeed,
    a_missing_database_is_named_with_the_command_that_creates_it,
    drop_asks_first_and_is_refused_in_a_protected_environment,
]);

fn project(engine: Engine) -> Project {
    let p = Project::on(engine);
    p.sql(
        "0001_items",
        "CREATE TABLE items (id INT PRIMARY KEY)",
        Some("DROP TABLE items"),
    );
    p
}

fn up_creates_a_missing_database_then_applies(engine: Engine) {
    let p = project(engine);
    p.wasmig(&["database", "drop", "--yes"])
        .ok()
        .says(&["dropped", p.db.name()]);
    p.wasmig(&["up"])
        .fails()
        .says(&["cannot reach the database"]);

    p.wasmig(&["up", "--create-database"])
        .ok()
        .says(&["created", p.db.name(), "applied 1"]);
    assert!(p.db.has_table("items"));

    // An existing database is left as it is.
    p.wasmig(&["up", "--create-database"]).ok();
    p.wasmig(&["database", "create"])
        .ok()
        .says(&["exists already"]);
    assert!(p.db.has_table("items"));
}

fn runners_creating_the_same_database_at_once_all_succeed(engine: Engine) {
    let p = project(engine);
    p.wasmig(&["database", "drop", "--yes"]).ok();
    let runners: Vec<_> = (0..3)
        .map(|_| p.spawn_wasmig(&["up", "--create-database"]))
        .collect();
    for runner in runners {
        let out = runner.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a concurrent `up --create-database` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(p.db.has_table("items"));
    assert_eq!(p.status_json()["migrations"][0]["status"], "applied");
}

fn a_missing_database_is_named_with_the_command_that_creates_it(engine: Engine) {
    let p = project(engine);
    p.wasmig(&["database", "drop", "--yes"]).ok();
    for command in [&["status"][..], &["up"], &["down"]] {
        p.wasmig(command).fails().says(&[
            "cannot reach the database",
            p.db.name(),
            "wasmig database create",
            "--create-database",
        ]);
    }
}

fn drop_asks_first_and_is_refused_in_a_protected_environment(engine: Engine) {
    let p = project(engine);
    p.wasmig(&["up"]).ok();
    // Without a terminal to ask on, nothing is dropped without --yes.
    p.wasmig(&["database", "drop"]).fails().says(&["--yes"]);
    p.config("[env.prod]\nprotected = true\n");
    p.wasmig(&["--env", "prod", "database", "drop", "--yes"])
        .fails()
        .says(&["protected", "Nothing was changed"]);
    assert!(p.db.has_table("items"));
}

/// A server that is not there: the message names the database (without its
/// password) and what to check, whatever the command.
#[test]
fn an_unreachable_server_is_named_without_its_password() {
    let p = Project::new();
    p.sql("0001_items", "CREATE TABLE items (id INT)", None);
    for url in [
        "postgres://app:s3cret@127.0.0.1:1/shop",
        "mysql://app:s3cret@127.0.0.1:1/shop",
    ] {
        for command in [&["status"][..], &["up"], &["database", "create"]] {
            let run = p
                .wasmig_bare(&[("DATABASE_URL", url)], command)
                .fails()
                .says(&[
                    "cannot reach the database",
                    "app:***@127.0.0.1:1/shop",
                    "check that the server is running",
                ]);
            assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
        }
    }
}

/// SQLite: the database is a file, created on first use; `database drop`
/// deletes it.
#[test]
fn sqlite_database_create_and_drop_work_on_the_file() {
    let p = project(Engine::Sqlite);
    let file = p.root.path().join("test.db");
    p.wasmig(&["database", "create"]).ok().says(&["created"]);
    assert!(file.exists());
    p.wasmig(&["up"]).ok();
    p.wasmig(&["database", "drop", "--yes"])
        .ok()
        .says(&["dropped"]);
    assert!(!file.exists());
}

/// A server that refuses the login: the message says so, not "is the server
/// running".
#[test]
fn a_refused_login_is_named_as_such() {
    let p = Project::new();
    p.sql("0001_items", "CREATE TABLE items (id INT)", None);
    // The server's host and port, without the suite's own login.
    let server = |base: String| {
        let rest = base.split_once("://").map_or(base.as_str(), |(_, r)| r);
        rest.rsplit_once('@').map_or(rest, |(_, h)| h).to_owned()
    };
    for url in [
        format!(
            "postgres://wasmig_no_such_role@{}/postgres",
            server(support::database::postgres_server())
        ),
        format!(
            "mysql://wasmig_no_such_user:pw@{}/test",
            server(support::database::mysql_server())
        ),
    ] {
        p.wasmig_bare(&[("DATABASE_URL", url.as_str())], &["status"])
            .fails()
            .says(&["cannot reach the database", "the server refused the login"]);
    }
}
