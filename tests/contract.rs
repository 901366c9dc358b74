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

/// A component that changes its schema through the builder only, with no
/// `down`: `wasmig down` undoes it from what the host recorded, leaving the
/// schema exactly as before.
fn builder_without_down_on(engine: Engine) {
    let p = Project::on(engine);
    p.wasmig(&["up"]).ok();
    let before = support::schema_json(&p);
    p.component("0001_shop", "schema_builder");
    // MySQL's plan stops before the first DDL statement, which it cannot
    // roll back.
    p.wasmig(&["plan"])
        .ok()
        .says(&["CREATE TABLE", "shop_users"]);
    p.wasmig(&["up"]).ok().says(&["shop_orders has 6 columns"]);
    assert_eq!(p.db.column("SELECT count(*) FROM shop_orders"), ["1"]);
    let applied: serde_json::Value = serde_json::from_str(&support::schema_json(&p)).unwrap();
    let orders = applied["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "shop_orders")
        .unwrap();
    let types: Vec<&str> = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "uuid",
            "decimal(12,2)",
            "bigint",
            "enum('new','paid')",
            "timestamp",
            "timestamp"
        ],
        "{engine:?}"
    );
    p.wasmig(&["down"]).ok();
    assert_eq!(support::schema_json(&p), before, "{engine:?}");
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
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 1", "shop_users"]);
    assert!(!p.db.has_table("shop_users"));
}
