//! Migration folders written for other tools run unchanged, and leave the
//! schema those tools' own clients would: sqlx (PostgreSQL), golang-migrate
//! (MariaDB), dbmate (PostgreSQL), goose (PostgreSQL) and diesel (SQLite).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{Engine, Project, repo};

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The up scripts of a folder in version order, read independently of
/// wasmig: whole files, or the text between a dbmate/goose up marker and
/// the down marker.
fn up_scripts(dir: &Path) -> Vec<(i64, String)> {
    let mut scripts = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let version: i64 = name
            .split('_')
            .next()
            .unwrap()
            .replace('-', "")
            .parse()
            .unwrap();
        let text = if path.is_dir() {
            fs::read_to_string(path.join("up.sql")).unwrap()
        } else if name.ends_with(".down.sql") {
            continue;
        } else {
            let text = fs::read_to_string(&path).unwrap();
            let lower = text.to_lowercase();
            match lower
                .find("-- migrate:up")
                .or_else(|| lower.find("-- +goose up"))
            {
                Some(start) => {
                    let body = &text[start..];
                    let body = &body[body.find('\n').unwrap() + 1..];
                    let lower_body = body.to_lowercase();
                    let end = lower_body
                        .find("-- migrate:down")
                        .or_else(|| lower_body.find("-- +goose down"))
                        .unwrap_or(body.len());
                    body[..end].to_owned()
                }
                None => text,
            }
        };
        scripts.push((version, text));
    }
    scripts.sort_by_key(|(v, _)| *v);
    scripts
}

fn layout(name: &str) -> PathBuf {
    repo().join("tests/layouts").join(name)
}

fn applies_like_its_own_tool(name: &str, engine: Engine) {
    let folder = layout(name);

    // wasmig applies the folder as it is.
    let by_wasmig = Project::on(engine);
    fs::remove_dir_all(&by_wasmig.migrations).unwrap();
    copy_dir(&folder, &by_wasmig.migrations);
    by_wasmig.wasmig(&["up"]).ok();
    // Its schema, dumped as SQL, rebuilds an equal schema.
    support::assert_dump_round_trips(&by_wasmig);

    // The same up scripts through the engine's own client.
    let by_hand = Project::on(engine);
    let scripts = up_scripts(&folder);
    for (_, script) in &scripts {
        by_hand.db.apply_natively(script);
    }
    assert_eq!(by_wasmig.db.schema(), by_hand.db.schema());

    // The hand-migrated database is adopted with a baseline: nothing runs.
    fs::remove_dir_all(&by_hand.migrations).unwrap();
    copy_dir(&folder, &by_hand.migrations);
    let newest = scripts.last().unwrap().0.to_string();
    by_hand
        .wasmig(&["baseline", &newest])
        .ok()
        .says(&[&format!("recorded {} migration(s)", scripts.len())]);
    by_hand.wasmig(&["up"]).ok().says(&["nothing to do"]);

    // Every layout here is reversible: down to nothing leaves an empty schema.
    by_wasmig.wasmig(&["down", "--to", "0"]).ok();
    let empty = Project::on(engine);
    assert_eq!(by_wasmig.db.schema(), empty.db.schema());
}

#[test]
fn sqlx_folder_on_postgres() {
    applies_like_its_own_tool("sqlx_postgres", Engine::Postgres);
}

#[test]
fn golang_migrate_folder_on_mariadb() {
    applies_like_its_own_tool("golang_migrate_mysql", Engine::Mysql);
}

#[test]
fn dbmate_folder_on_postgres() {
    applies_like_its_own_tool("dbmate_postgres", Engine::Postgres);
}

#[test]
fn goose_folder_on_postgres() {
    applies_like_its_own_tool("goose_postgres", Engine::Postgres);
}

#[test]
fn diesel_folder_on_sqlite() {
    applies_like_its_own_tool("diesel_sqlite", Engine::Sqlite);
}

#[test]
fn baseline_refuses_a_database_wasmig_already_migrated() {
    let p = Project::new();
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    p.wasmig(&["up"]).ok();
    p.wasmig(&["baseline", "1"])
        .fails()
        .says(&["already records migrations"]);
}
