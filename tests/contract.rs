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
