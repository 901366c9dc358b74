//! `wasmig fleet`: one migration set against many tenant databases. A
//! broken tenant and an unreachable one are named in the summary, every
//! other tenant is fully migrated, and a rerun after the fix applies only
//! where something is pending.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use support::{Database, Engine, Project};

/// Tenants in `tenants/`: `count` SQLite files.
const TENANTS: usize = 60;

fn migrations(p: &Project) {
    p.sql(
        "1_items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        Some("DROP TABLE items"),
    );
    p.sql(
        "2_price",
        "ALTER TABLE items ADD COLUMN price INTEGER",
        Some("ALTER TABLE items DROP COLUMN price"),
    );
}

/// `TENANTS` empty SQLite files; tenant 7 already has a conflicting table.
fn sqlite_fleet(p: &Project) -> std::path::PathBuf {
    let dir = p.root.path().join("tenants");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..TENANTS {
        let path = dir.join(format!("tenant_{i:03}.db"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        if i == 7 {
            conn.execute_batch("CREATE TABLE items (legacy TEXT)")
                .unwrap();
        }
    }
    dir
}

fn tenants(run: &support::Run) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    assert_eq!(doc["format"], "wasmig-fleet/1");
    doc["tenants"].as_array().unwrap().clone()
}

fn results(tenants: &[serde_json::Value]) -> Vec<&str> {
    tenants
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect()
}

#[test]
fn a_sqlite_fleet_migrates_around_a_broken_and_an_unreachable_tenant() {
    let p = Project::new();
    migrations(&p);
    let dir = sqlite_fleet(&p);
    let unreachable = "sqlite:/nonexistent/wasmig/tenant.db";
    let glob = ["--sqlite-glob", "tenants/*.db", "--target", unreachable];
    let before = p.wasmig(&[&["fleet", "status", "--format", "json"][..], &glob].concat());
    let listed = tenants(&before.fails());
    assert_eq!(listed.len(), TENANTS + 1);
    assert_eq!(listed[0]["target"], unreachable);
    assert_eq!(listed[0]["result"], "unreachable");
    assert!(
        listed[1..]
            .iter()
            .all(|t| t["result"] == "behind" && t["pending"] == 2)
    );

    let up = p.wasmig(
        &[
            &[
                "fleet",
                "up",
                "--continue-on-error",
                "--parallel",
                "4",
                "--format",
                "json",
            ][..],
            &glob,
        ]
        .concat(),
    );
    let ran = tenants(&up.fails());
    let broken = &ran[1 + 7];
    assert!(
        broken["target"]
            .as_str()
            .unwrap()
            .ends_with("tenant_007.db")
    );
    assert_eq!(broken["result"], "failed");
    assert!(
        broken["error"].as_str().unwrap().contains("migration 1"),
        "{broken}"
    );
    assert_eq!(ran[0]["result"], "unreachable");
    let applied = ran
        .iter()
        .filter(|t| t["result"] == "applied" && t["count"] == 2);
    assert_eq!(applied.count(), TENANTS - 1);
    // Every migrated tenant's ledger holds both migrations; the broken one none.
    for i in 0..TENANTS {
        let conn = rusqlite::Connection::open(dir.join(format!("tenant_{i:03}.db"))).unwrap();
        let count: i64 = conn
            .query_row("SELECT count(*) FROM wasmig_migrations", [], |r| r.get(0))
            .unwrap_or(0);
        assert_eq!(count, if i == 7 { 0 } else { 2 }, "tenant {i}");
    }

    // Fixed, the rerun applies only there.
    let conn = rusqlite::Connection::open(dir.join("tenant_007.db")).unwrap();
    conn.execute_batch("DROP TABLE items").unwrap();
    let rerun = p.wasmig(&[
        "fleet",
        "up",
        "--sqlite-glob",
        "tenants/*.db",
        "--format",
        "json",
    ]);
    let after = tenants(&rerun.ok());
    assert_eq!(after[7]["result"], "applied");
    assert_eq!(after[7]["count"], 2);
    assert_eq!(
        results(&after)
            .iter()
            .filter(|r| **r == "up-to-date")
            .count(),
        TENANTS - 1
    );
    p.wasmig(&[
        "fleet",
        "status",
        "--sqlite-glob",
        "tenants/*.db",
        "--exit-code",
    ])
    .ok()
    .says(&[&format!(
        "{TENANTS} tenant(s): 0 applied, {TENANTS} up to date"
    )]);
}

#[test]
fn without_continue_on_error_the_fleet_stops_at_the_first_failure() {
    let p = Project::new();
    migrations(&p);
    sqlite_fleet(&p);
    let run = p.wasmig(&[
        "fleet",
        "up",
        "--parallel",
        "1",
        "--sqlite-glob",
        "tenants/*.db",
        "--format",
        "json",
    ]);
    let ran = tenants(&run.fails());
    let seen = results(&ran);
    assert_eq!(seen[..7], ["applied"; 7]);
    assert_eq!(seen[7], "failed");
    assert!(seen[8..].iter().all(|r| *r == "not-run"), "{seen:?}");
    // Its migration rolled back: the tenant is behind, like those not run,
    // and `status --exit-code` says so with 4.
    let status = p.wasmig(&[
        "fleet",
        "status",
        "--sqlite-glob",
        "tenants/*.db",
        "--exit-code",
    ]);
    assert_eq!(status.code, 4, "{}\n{}", status.stdout, status.stderr);
}

#[test]
fn a_target_listed_twice_is_refused_before_anything_runs() {
    let p = Project::new();
    migrations(&p);
    let url = p.db.url();
    p.wasmig(&["fleet", "up", "--target", &url, "--target", &url])
        .fails()
        .says(&["is listed twice"]);
    assert!(!p.db.has_table("items"));
}

#[test]
fn server_fleets_of_postgres_and_mariadb_databases() {
    for (engine, count) in [(Engine::Postgres, 8), (Engine::Mysql, 4)] {
        let p = Project::new();
        migrations(&p);
        let dbs: Vec<Database> = (0..count)
            .map(|_| Database::create(engine, p.root.path()))
            .collect();
        let mut args = vec!["fleet", "up", "--format", "json"];
        let urls: Vec<String> = dbs.iter().map(Database::url).collect();
        for url in &urls {
            args.extend(["--target", url.as_str()]);
        }
        let ran = tenants(&p.wasmig(&args).ok());
        assert!(results(&ran).iter().all(|r| *r == "applied"), "{ran:?}");
        for db in &dbs {
            assert_eq!(db.column("SELECT count(*) FROM wasmig_migrations"), ["2"]);
        }
        let again = tenants(&p.wasmig(&args).ok());
        assert!(results(&again).iter().all(|r| *r == "up-to-date"));
    }
}
