//! Components built against earlier versions of the contract keep working:
//! the committed `tests/contract/contract-0.1.0.wasm` applies and reverts on
//! every engine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use support::{Engine, Project, repo};

fn contract_0_1_0_on(engine: Engine) {
    let p = Project::on(engine);
    fs::copy(
        repo().join("tests/contract/contract-0.1.0.wasm"),
        p.migrations.join("0001_contract.wasm"),
    )
    .unwrap();
    p.config("[env.dev]\nvars = { region = \"eu\" }\n\n[[policy]]\nname = \"old\"\nversions = [1]\nenv_vars = [\"region\"]\n");
    p.wasmig(&["inspect", "1"])
        .ok()
        .says(&["wasmig:migration/db@0.1.0"]);
    p.wasmig(&["up"]).ok().says(&["wrote 3 notes (region: eu)"]);
    assert_eq!(
        p.db.column("SELECT body FROM contract_notes ORDER BY id"),
        ["note 1 in dev", "note 2 in dev", "note 3 in dev"]
    );
    p.wasmig(&["down"]).ok();
    assert!(!p.db.has_table("contract_notes"), "{engine:?}");
}

#[test]
fn a_0_1_0_component_applies_and_reverts_on_sqlite() {
    contract_0_1_0_on(Engine::Sqlite);
}

#[test]
fn a_0_1_0_component_applies_and_reverts_on_postgres() {
    contract_0_1_0_on(Engine::Postgres);
}

#[test]
fn a_0_1_0_component_applies_and_reverts_on_mariadb() {
    contract_0_1_0_on(Engine::Mysql);
}

const SHOP_USERS: &str = r#"
[[op]]
op = "create_table"
table = "shop_users"
columns = [
  { name = "id", type = "bigint", identity = true, primary_key = true },
  { name = "email", type = "string(255)", nullable = false, unique = true },
]
"#;

/// A component that changes its schema through the builder only, with no
/// `down`: `wasmig down` undoes it from what the host recorded, leaving the
/// schema exactly as before and the rows that were there.
fn builder_without_down_on(engine: Engine) {
    let p = Project::on(engine);
    fs::write(p.migrations.join("0001_users.schema.toml"), SHOP_USERS).unwrap();
    p.wasmig(&["up"]).ok();
    p.db.apply_natively(
        "INSERT INTO shop_users (email) VALUES ('bob@example.com'), ('eve@example.com');",
    );
    let before = support::schema_json(&p);
    p.component("0002_shop", "schema_builder");
    // MySQL's plan stops before the first DDL statement, which it cannot
    // roll back.
    p.wasmig(&["plan"])
        .ok()
        .says(&["CREATE TABLE", "shop_orders"]);
    p.wasmig(&["up"]).ok().says(&["shop_orders has 6 columns"]);
    assert_eq!(p.db.column("SELECT count(*) FROM shop_orders"), ["1"]);
    let applied: serde_json::Value = serde_json::from_str(&support::schema_json(&p)).unwrap();
    let columns = |table: &str| -> Vec<String> {
        applied["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == table)
            .unwrap()["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c["name"].as_str().unwrap(),
                    c["type"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        columns("shop_orders"),
        [
            "id uuid",
            "total decimal(12,2)",
            "user_id bigint",
            "status enum('new','paid')",
            "created_at timestamp",
            "updated_at timestamp"
        ],
        "{engine:?}"
    );
    assert_eq!(columns("shop_users").last().unwrap(), "nickname string(50)");
    p.wasmig(&["down"]).ok();
    assert_eq!(support::schema_json(&p), before, "{engine:?}");
    // The users that were there are still there (the row the migration
    // inserted stays too: recorded operations undo the schema, not rows).
    assert_eq!(
        p.db.column("SELECT email FROM shop_users ORDER BY id"),
        ["bob@example.com", "eve@example.com", "ann@example.com"]
    );
}

#[test]
fn a_builder_component_without_down_is_reverted_on_sqlite() {
    builder_without_down_on(Engine::Sqlite);
}

#[test]
fn a_builder_component_without_down_is_reverted_on_postgres() {
    builder_without_down_on(Engine::Postgres);
}

#[test]
fn a_builder_component_without_down_is_reverted_on_mariadb() {
    builder_without_down_on(Engine::Mysql);
}

#[test]
fn raw_ddl_beside_builder_operations_needs_its_own_down() {
    let p = Project::new();
    p.component("0001_mixed", "schema_mixed");
    p.wasmig(&["up"]).ok();
    let applied = p.db.schema();
    p.wasmig(&["down"]).fails().says(&[
        "migration 1",
        "also ran DDL of its own",
        "CREATE TABLE raw_notes",
        "write its `down`",
    ]);
    assert_eq!(p.db.schema(), applied);
}

#[test]
fn a_component_without_schema_operations_or_down_stays_irreversible() {
    let p = Project::new();
    p.sql(
        "0001_ticks",
        "CREATE TABLE ticks (source TEXT);",
        Some("DROP TABLE ticks;"),
    );
    p.component("0002_tick", "tick");
    p.wasmig(&["up"]).ok();
    p.wasmig(&["down"])
        .fails()
        .says(&["migration 2", "irreversible"]);
}

#[test]
fn policies_apply_to_builder_operations() {
    let p = Project::new();
    p.config("[[policy]]\nname = \"vendor\"\npaths = [\"*_acme_*\"]\nstatements = [\"select\", \"insert\", \"create\"]\ntables = [\"acme_*\"]\n");
    p.component("0001_acme_shop", "schema_builder");
    p.wasmig(&["plan"]).fails().says(&["refused", "shop_users"]);
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 1", "refused", "shop_users"]);
    assert!(!p.db.has_table("shop_users"));
}
