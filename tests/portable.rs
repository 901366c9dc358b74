//! `examples/portable/`: six declarative migrations applied unchanged on
//! SQLite, PostgreSQL and MariaDB, every portable type reading back as
//! itself, rows of a parent and an `ON DELETE CASCADE` child surviving every
//! table rebuild, and `down --to 0` leaving an empty schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use serde_json::Value;
use support::{Engine, Project, repo};

/// The portable types of `customers`, in column order, as 0001 and 0004
/// declare them (`age` was widened to integer).
const CUSTOMER_TYPES: [(&str, &str); 18] = [
    ("id", "bigint"),
    ("email", "string(255)"),
    ("name", "text"),
    ("age", "integer"),
    ("points", "integer"),
    ("balance", "decimal(12,2)"),
    ("rating", "float"),
    ("score", "double"),
    ("active", "boolean"),
    ("birthday", "date"),
    ("wakes_at", "time"),
    ("last_seen", "datetime"),
    ("tier", "enum('free','pro')"),
    ("profile", "json"),
    ("external_id", "uuid"),
    ("avatar", "binary"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp"),
];

fn model(p: &Project) -> Value {
    serde_json::from_str(&support::schema_json(p)).unwrap()
}

fn count(p: &Project, table: &str) -> String {
    p.db.column(&format!("SELECT count(*) FROM {table}"))
        .join("")
}

fn portable_example_on(engine: Engine) {
    let p = Project::on(engine);
    for entry in fs::read_dir(repo().join("examples/portable")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, p.migrations.join(path.file_name().unwrap())).unwrap();
    }
    if engine == Engine::Sqlite {
        // wasmig's SQLite enforces foreign keys already (the bundled
        // default); this says so in the project, so that a rebuild of
        // `customers` would delete every order if enforcement were left on
        // during it.
        p.sql(
            "0000_enforce_foreign_keys",
            "-- wasmig:no-transaction\nPRAGMA foreign_keys = ON;\n",
            Some("-- wasmig:no-transaction\nPRAGMA foreign_keys = ON;\n"),
        );
    }
    p.wasmig(&["up", "--to", "3"]).ok();
    p.db.apply_natively(
        "INSERT INTO customers (email) VALUES ('ann@example.com'), ('bob@example.com');
         INSERT INTO orders (customer_id, total, note) VALUES (1, 10.50, 'a'), (1, 2.25, 'b'), (2, 7.00, 'c');",
    );
    p.wasmig(&["up"]).ok();
    assert_eq!(
        (count(&p, "customers"), count(&p, "orders")),
        ("2".into(), "3".into())
    );

    let schema = model(&p);
    let customers = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "customers")
        .unwrap();
    let mut expected: Vec<(&str, &str)> = CUSTOMER_TYPES.to_vec();
    expected.retain(|(name, _)| *name != "avatar"); // dropped by 0006
    let found: Vec<(String, String)> = customers["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["type"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, t)| {
            // SQLite's identity is its INTEGER rowid.
            let t = if engine == Engine::Sqlite && *n == "id" {
                "integer"
            } else {
                t
            };
            ((*n).to_owned(), t.to_owned())
        })
        .collect();
    assert_eq!(found, expected, "portable types on {engine:?}");

    // Back through every rebuild: the orders are still there.
    p.wasmig(&["down", "--to", "2"]).ok();
    assert_eq!(
        (count(&p, "customers"), count(&p, "orders")),
        ("2".into(), "3".into())
    );

    p.wasmig(&["down", "--to", "0"]).ok();
    assert_eq!(
        support::schema_json(&p).trim(),
        "{}",
        "an empty schema on {engine:?}"
    );
}

#[test]
fn portable_example_on_sqlite() {
    portable_example_on(Engine::Sqlite);
}

#[test]
fn portable_example_on_postgres() {
    portable_example_on(Engine::Postgres);
}

#[test]
fn portable_example_on_mariadb() {
    portable_example_on(Engine::Mysql);
}
