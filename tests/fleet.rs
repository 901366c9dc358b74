//! `wasmig fleet`: one migration set against many tenant databases. A
//! broken tenant and an unreachable one are named in the summary, every
//! other tenant is fully migrated, and a rerun after the fix applies only
//! where something is pending.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use support::{Database, Engine, Project};

/// Tenants in `tenants/`: SQLite files, 500 in CI;
/// `WASMIG_FLEET_TENANTS=1000` is the long run.
fn tenant_count() -> usize {
    std::env::var("WASMIG_FLEET_TENANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500)
}

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

/// `tenant_count()` empty SQLite files; tenant 7 already has a conflicting table.
fn sqlite_fleet(p: &Project) -> std::path::PathBuf {
    let tenants = tenant_count();
    let dir = p.root.path().join("tenants");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..tenants {
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
    let tenants_total = tenant_count();
    let p = Project::new();
    migrations(&p);
    let dir = sqlite_fleet(&p);
    let unreachable = "sqlite:/nonexistent/wasmig/tenant.db";
    let glob = ["--sqlite-glob", "tenants/*.db", "--target", unreachable];
    let before = p.wasmig(&[&["fleet", "status", "--format", "json"][..], &glob].concat());
    let listed = tenants(&before.fails());
    assert_eq!(listed.len(), tenants_total + 1);
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
    assert_eq!(applied.count(), tenants_total - 1);
    // Every migrated tenant's ledger holds both migrations; the broken one none.
    for i in 0..tenants_total {
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
        tenants_total - 1
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
        "{tenants_total} tenant(s): 0 applied, {tenants_total} up to date"
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
    for (engine, count) in [(Engine::Postgres, 30), (Engine::Mysql, 6)] {
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
        let run = p.wasmig(&args).ok();
        let ran = tenants(&run);
        assert!(results(&ran).iter().all(|r| *r == "applied"), "{ran:?}");
        // The default parallelism takes at most half the server's free
        // connections, two per tenant.
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let parallel = doc["parallel"].as_u64().unwrap();
        let max: u64 = dbs[0].column(match engine {
            Engine::Postgres => "SHOW max_connections",
            _ => "SELECT @@max_connections",
        })[0]
            .parse()
            .unwrap();
        assert!(
            (1..=max / 4).contains(&parallel),
            "parallel {parallel} of {max}"
        );
        for db in &dbs {
            assert_eq!(db.column("SELECT count(*) FROM wasmig_migrations"), ["2"]);
        }
        let again = tenants(&p.wasmig(&args).ok());
        assert!(results(&again).iter().all(|r| *r == "up-to-date"));
    }
}

/// Schemas per tenant on one PostgreSQL database: `SCHEMAS` tenants, the
/// migrations' unqualified names land in each tenant's own schema (not in
/// `public`, which has a table of the same name), each schema keeps its own
/// ledger, and tenant 7's conflicting table fails only tenant 7.
const SCHEMAS: usize = 200;

#[test]
fn a_postgres_fleet_of_schemas_keeps_each_tenant_in_its_own_schema() {
    let p = Project::new();
    migrations(&p);
    let db = Database::create(Engine::Postgres, p.root.path());
    let mut setup = String::from("CREATE TABLE public.items (shared TEXT); CREATE SCHEMA other;");
    for i in 0..SCHEMAS {
        setup.push_str(&format!("CREATE SCHEMA tenant_{i:03};"));
    }
    setup.push_str("CREATE TABLE tenant_007.items (legacy TEXT);");
    db.psql_here(&setup);
    let pattern = format!("{}?schema=tenant_*", db.url());
    let args = [
        "fleet",
        "up",
        "--continue-on-error",
        "--format",
        "json",
        "--target",
        &pattern,
    ];
    let ran = tenants(&p.wasmig(&args).fails());
    assert_eq!(ran.len(), SCHEMAS, "`other` and `public` are not tenants");
    assert!(
        ran[7]["target"]
            .as_str()
            .unwrap()
            .ends_with("schema=tenant_007")
    );
    assert_eq!(ran[7]["result"], "failed");
    let applied = results(&ran).iter().filter(|r| **r == "applied").count();
    assert_eq!(applied, SCHEMAS - 1, "{ran:?}");
    let ledgers = db.column(
        "SELECT table_schema || ':' || count(*) FROM information_schema.columns \
         WHERE table_name = 'items' AND column_name = 'price' GROUP BY table_schema",
    );
    assert_eq!(
        ledgers.len(),
        SCHEMAS - 1,
        "price added in every tenant but 7"
    );
    assert_eq!(
        db.column("SELECT count(*) FROM tenant_042.wasmig_migrations"),
        ["2"]
    );
    assert_eq!(
        db.column("SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'items'"),
        ["shared"],
        "public is left alone"
    );
    assert!(!db.has_table("wasmig_migrations"), "no ledger in public");

    // Fixed, the rerun applies only at tenant 7; the schemas can also come
    // from a query on a control database.
    db.psql_here(
        "DROP TABLE tenant_007.items; \
         CREATE TABLE public.tenants (name TEXT, active BOOLEAN); \
         INSERT INTO public.tenants SELECT nspname, nspname <> 'tenant_100' \
         FROM pg_namespace WHERE nspname LIKE 'tenant\\_%';",
    );
    let query = "SELECT name AS schema FROM tenants WHERE active ORDER BY name";
    let control = db.url();
    let rerun = p.wasmig(&[
        "fleet",
        "up",
        "--format",
        "json",
        "--targets-query",
        query,
        "--control-url",
        &control,
    ]);
    let after = tenants(&rerun.ok());
    assert_eq!(after.len(), SCHEMAS - 1, "tenant_100 is not active");
    assert_eq!(after[7]["result"], "applied");
    let up_to_date = results(&after)
        .iter()
        .filter(|r| **r == "up-to-date")
        .count();
    assert_eq!(up_to_date, SCHEMAS - 2);
}

#[test]
fn a_bad_control_database_or_query_is_refused_before_anything_runs() {
    let p = Project::new();
    migrations(&p);
    let db = Database::create(Engine::Postgres, p.root.path());
    db.psql_here(
        "CREATE TABLE tenants (url TEXT); \
         INSERT INTO tenants VALUES ('sqlite:tenants/a.db'), ('customer-b');",
    );
    std::fs::create_dir_all(p.root.path().join("tenants")).unwrap();
    let control = db.url();
    p.wasmig(&[
        "fleet",
        "up",
        "--targets-query",
        "SELECT url FROM tenants",
        "--control-url",
        &control,
    ])
    .fails()
    .says(&[
        "\"customer-b\" in row 2",
        "not a tenant",
        "one database URL per row",
    ]);
    assert!(!p.root.path().join("tenants/a.db").exists(), "nothing ran");
    let gone = format!(
        "{}/wasmig_no_such_control",
        support::database::postgres_server()
    );
    p.wasmig(&[
        "fleet",
        "up",
        "--targets-query",
        "SELECT url FROM tenants",
        "--control-url",
        &gone,
    ])
    .fails()
    .says(&["wasmig_no_such_control"]);
    let missing = format!("{}?schema=nobody_here", db.url());
    let run = p.wasmig(&["fleet", "up", "--format", "json", "--target", &missing]);
    let ran = tenants(&run.fails());
    assert!(
        ran[0]["error"]
            .as_str()
            .unwrap()
            .contains("schema nobody_here does not exist"),
        "{ran:?}"
    );
}

/// Tenants of the killed run, and the rows its slow migration inserts.
const KILLED_TENANTS: usize = 40;
const ROWS: i64 = 150_000;

/// How many migrations tenant `i`'s ledger holds (0 while it is locked or
/// has none).
fn ledger_rows(dir: &std::path::Path, i: usize) -> i64 {
    let Ok(conn) = rusqlite::Connection::open(dir.join(format!("tenant_{i:03}.db"))) else {
        return 0;
    };
    conn.busy_timeout(std::time::Duration::from_secs(2))
        .unwrap();
    conn.query_row("SELECT count(*) FROM wasmig_migrations", [], |r| r.get(0))
        .unwrap_or(0)
}

#[test]
fn a_killed_fleet_run_is_completed_by_the_rerun_exactly_once() {
    let p = Project::new();
    migrations(&p);
    p.sql(
        "3_events",
        &format!(
            "CREATE TABLE events (n INTEGER NOT NULL);\n\
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS}) \
             INSERT INTO events SELECT x FROM c;"
        ),
        Some("DROP TABLE events"),
    );
    let dir = p.root.path().join("tenants");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..KILLED_TENANTS {
        rusqlite::Connection::open(dir.join(format!("tenant_{i:03}.db"))).unwrap();
    }
    let args = [
        "fleet",
        "up",
        "--parallel",
        "2",
        "--sqlite-glob",
        "tenants/*.db",
    ];
    let mut child = p.spawn_wasmig(&args);
    let started = std::time::Instant::now();
    while (0..KILLED_TENANTS)
        .filter(|i| ledger_rows(&dir, *i) == 3)
        .count()
        < 4
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the fleet run never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the fleet run ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before: Vec<usize> = (0..KILLED_TENANTS)
        .filter(|i| ledger_rows(&dir, *i) == 3)
        .collect();
    assert!(
        done_before.len() < KILLED_TENANTS,
        "the kill came after the last tenant"
    );

    let rerun = p.wasmig(&[&args[..], &["--format", "json"]].concat());
    let after = tenants(&rerun.ok());
    for (i, tenant) in after.iter().enumerate() {
        let expected = if done_before.contains(&i) {
            "up-to-date"
        } else {
            "applied"
        };
        assert_eq!(tenant["result"], expected, "tenant {i}: {tenant}");
        let conn = rusqlite::Connection::open(dir.join(format!("tenant_{i:03}.db"))).unwrap();
        let (ledger, events): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM wasmig_migrations), (SELECT count(*) FROM events)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (ledger, events),
            (3, ROWS),
            "tenant {i} holds every migration once"
        );
    }
}

/// Each schema has its own run lock: a run holding schema `a` busy does not
/// make a run on schema `b` of the same database wait, while a second run
/// on `a` does.
#[test]
fn runs_on_two_schemas_of_one_database_do_not_wait_for_each_other() {
    let p = Project::new();
    p.sql(
        "1_slow",
        "CREATE TABLE slow (n int);\n\
         SELECT pg_sleep(CASE WHEN current_schema() = 'a' THEN 6 ELSE 0 END);",
        None,
    );
    let db = Database::create(Engine::Postgres, p.root.path());
    db.psql_here("CREATE SCHEMA a; CREATE SCHEMA b;");
    let a = format!("{}?schema=a", db.url());
    let b = format!("{}?schema=b", db.url());
    let migrations = p.migrations.to_string_lossy().into_owned();
    let on = |url: &str, args: &[&str]| p.wasmig_at(url, args);
    let mut busy = std::process::Command::new(env!("CARGO_BIN_EXE_wasmig"))
        .env("WASMIG_CACHE_DIR", support::test_cache())
        .args(["--dir", &migrations, "--database-url", &a, "up"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while db.column("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(CASE%' AND application_name = 'wasmig'") != ["1"] {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the run on a never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    on(&b, &["--lock-timeout", "1", "up"]).ok();
    assert!(busy.try_wait().unwrap().is_none(), "b ran while a was busy");
    on(&a, &["--lock-timeout", "1", "up"])
        .fails()
        .says(&["the schema a of this PostgreSQL database"]);
    let out = busy.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.column("SELECT count(*) FROM a.wasmig_migrations"), ["1"]);
    assert_eq!(db.column("SELECT count(*) FROM b.wasmig_migrations"), ["1"]);
}

#[test]
fn a_failing_canary_stops_the_fleet_and_waves_finish_it() {
    let tenants_total = tenant_count();
    let p = Project::new();
    migrations(&p);
    let dir = sqlite_fleet(&p);
    let glob = ["--sqlite-glob", "tenants/*.db", "--format", "json"];
    let canary = ["fleet", "up", "--canary", "10", "--continue-on-error"];
    let ran = tenants(&p.wasmig(&[&canary[..], &glob].concat()).fails());
    let seen = results(&ran);
    assert_eq!(seen[7], "failed");
    assert_eq!(seen[..10].iter().filter(|r| **r == "applied").count(), 9);
    assert!(seen[10..].iter().all(|r| *r == "not-run"), "{seen:?}");
    assert!(ran[10]["reason"].as_str().unwrap().contains("canary"));
    assert_eq!(ledger_rows(&dir, 10), 0, "no tenant past the canary ran");

    rusqlite::Connection::open(dir.join("tenant_007.db"))
        .unwrap()
        .execute_batch("DROP TABLE items")
        .unwrap();
    let waves = ["fleet", "up", "--canary", "10", "--wave-size", "100"];
    let ran = tenants(&p.wasmig(&[&waves[..], &glob].concat()).ok());
    let seen = results(&ran);
    assert_eq!(
        seen.iter().filter(|r| **r == "applied").count(),
        tenants_total - 9
    );
    assert_eq!(seen.iter().filter(|r| **r == "up-to-date").count(), 9);
}

/// `fleet plan` groups tenants whose plans do the same things with other
/// data; `fleet up --expect-plan` applies only the reviewed shapes.
#[test]
fn fleet_plan_groups_tenants_by_shape_and_up_applies_only_reviewed_ones() {
    let p = Project::new();
    p.sql(
        "1_people",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, \
         last_name TEXT NOT NULL, full_name TEXT)",
        None,
    );
    let dir = p.root.path().join("tenants");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..10 {
        rusqlite::Connection::open(dir.join(format!("tenant_{i:03}.db"))).unwrap();
    }
    let glob = ["--sqlite-glob", "tenants/*.db", "--format", "json"];
    p.wasmig(&[&["fleet", "up"][..], &glob].concat()).ok();
    // Tenants hold different people; tenant 9 none (its backfill issues
    // fewer statements), tenant 4 an index the last migration also creates.
    for i in 0..10usize {
        let conn = rusqlite::Connection::open(dir.join(format!("tenant_{i:03}.db"))).unwrap();
        let rows = if i == 9 { 0 } else { (i + 1) * 3 };
        for n in 0..rows {
            conn.execute(
                "INSERT INTO people (first_name, last_name) VALUES (?1, ?2)",
                (format!("F{n}"), format!("L{i}")),
            )
            .unwrap();
        }
        if i == 4 {
            conn.execute_batch("CREATE INDEX people_full ON people (full_name)")
                .unwrap();
        }
    }
    p.component("2_backfill", "backfill_people");
    p.sql(
        "3_index",
        "CREATE INDEX people_full ON people (full_name)",
        None,
    );

    let plan = p.wasmig(&[&["fleet", "plan"][..], &glob].concat()).fails();
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(doc["format"], "wasmig-fleet-plan/1");
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[0]["tenants"].as_array().unwrap().len(), 8);
    assert!(
        groups[1]["tenants"][0]
            .as_str()
            .unwrap()
            .ends_with("tenant_009.db")
    );
    let planned = doc["tenants"].as_array().unwrap();
    assert_eq!(planned[4]["result"], "failed");
    assert!(
        planned[4]["error"]
            .as_str()
            .unwrap()
            .contains("migration 3")
    );
    // One shape, different data: every tenant's own digest differs.
    assert_eq!(planned[0]["shape"], planned[1]["shape"]);
    assert_ne!(planned[0]["digest"], planned[1]["digest"]);
    let shape = groups[0]["shape"].as_str().unwrap();
    p.wasmig(&["fleet", "plan", "--sqlite-glob", "tenants/*.db"])
        .fails()
        .says(&[&format!("wasmig fleet up --expect-plan {}", &shape[..16])]);

    let up = [
        "fleet",
        "up",
        "--continue-on-error",
        "--expect-plan",
        &shape[..16],
    ];
    let ran = tenants(&p.wasmig(&[&up[..], &glob].concat()).fails());
    let seen = results(&ran);
    assert_eq!(
        seen.iter().filter(|r| **r == "applied").count(),
        8,
        "{ran:?}"
    );
    assert_eq!(seen[4], "failed");
    assert_eq!(seen[9], "failed");
    assert!(
        ran[9]["error"]
            .as_str()
            .unwrap()
            .contains("not among the reviewed")
    );
    let conn = rusqlite::Connection::open(dir.join("tenant_002.db")).unwrap();
    let full: String = conn
        .query_row("SELECT full_name FROM people WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(full, "F0 L2");
    assert_eq!(
        ledger_rows(&dir, 9),
        1,
        "tenant 9 kept its ledger as it was"
    );
}

/// A new tenant's schema is created like a database, and dropping a
/// tenant's schema leaves the database and the other tenants alone.
#[test]
fn database_create_and_drop_on_a_schema_url_touch_only_that_schema() {
    let p = Project::new();
    migrations(&p);
    let db = Database::create(Engine::Postgres, p.root.path());
    db.psql_here("CREATE SCHEMA keep; CREATE TABLE keep.t (n int);");
    let url = format!("{}?schema=tenant_new", db.url());
    let on = |args: &[&str]| p.wasmig_at(&url, args);
    on(&["database", "create"])
        .ok()
        .says(&["created schema tenant_new of"]);
    on(&["database", "create"]).ok().says(&["exists already"]);
    on(&["up"]).ok();
    assert_eq!(
        db.column("SELECT count(*) FROM tenant_new.wasmig_migrations"),
        ["2"]
    );
    on(&["database", "drop", "--yes"])
        .ok()
        .says(&["dropped schema tenant_new"]);
    assert_eq!(
        db.column("SELECT count(*) FROM pg_namespace WHERE nspname IN ('tenant_new', 'keep')"),
        ["1"],
        "only the tenant's schema is gone"
    );
    assert_eq!(
        db.column("SELECT count(*) FROM keep.t"),
        ["0"],
        "the other schema is kept"
    );
}

/// `fleet drift` compares every tenant with what its own applied
/// migrations produce: a column added by hand in one schema is named
/// there, a tenant behind the others is not drifted for it.
#[test]
fn fleet_drift_names_the_tenant_changed_by_hand() {
    let p = Project::new();
    migrations(&p);
    let db = Database::create(Engine::Postgres, p.root.path());
    db.psql_here("CREATE SCHEMA t_a; CREATE SCHEMA t_b; CREATE SCHEMA t_c;");
    let pattern = format!("{}?schema=t_*", db.url());
    p.wasmig(&["fleet", "up", "--target", &pattern]).ok();
    let behind = format!("{}?schema=t_c", db.url());
    p.wasmig_at(&behind, &["down"]).ok();
    db.psql_here("ALTER TABLE t_b.items ADD COLUMN note TEXT;");
    let run = p.wasmig(&[
        "fleet",
        "drift",
        "--target",
        &pattern,
        "--format",
        "json",
        "--exit-code",
    ]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let found = tenants(&run);
    assert_eq!(
        results(&found),
        ["no-drift", "drifted", "no-drift"],
        "{found:?}"
    );
    let differences = found[1]["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(
        differences[0].as_str().unwrap().contains("items.note"),
        "{differences:?}"
    );
}

/// Schema tenants of one database hand their connections on (tenants
/// after the first run on its connection), and what a migration changed in
/// its session goes with it: the next tenant starts clean.
#[test]
fn a_migration_changing_its_session_does_not_reach_the_next_tenant() {
    let p = Project::new();
    p.sql(
        "1_seen",
        "CREATE TABLE seen AS SELECT current_setting('application_name') AS app, \
         pg_backend_pid() AS pid;\n\
         SET application_name = 'changed by a migration';",
        None,
    );
    let db = Database::create(Engine::Postgres, p.root.path());
    db.psql_here("CREATE SCHEMA s_1; CREATE SCHEMA s_2; CREATE SCHEMA s_3;");
    let pattern = format!("{}?schema=s_*", db.url());
    p.wasmig(&["fleet", "up", "--parallel", "1", "--target", &pattern])
        .ok();
    let seen = db.column(
        "SELECT app FROM s_1.seen UNION ALL SELECT app FROM s_2.seen \
         UNION ALL SELECT app FROM s_3.seen",
    );
    assert_eq!(seen, ["wasmig", "wasmig", "wasmig"]);
    let pids = db.column(
        "SELECT count(DISTINCT pid) FROM (SELECT pid FROM s_1.seen UNION ALL \
         SELECT pid FROM s_2.seen UNION ALL SELECT pid FROM s_3.seen) AS all_pids",
    );
    assert_eq!(pids, ["1"], "one connection served the three tenants");
}

/// On a schema tenant the tenant's schema is the default one: a policy
/// over `acme_*` tables lets a migration use `t_a.acme_notes` and refuses
/// `public.acme_notes`; a migration that moves `search_path` elsewhere is
/// still recorded in the tenant's own ledger.
#[test]
fn a_schema_tenant_is_the_default_schema_for_policies_and_the_ledger() {
    let p = Project::new();
    p.config(
        "[[policy]]\nname = \"acme\"\npaths = [\"*_acme_*\"]\n\
         statements = [\"select\", \"insert\", \"create\"]\ntables = [\"acme_*\"]\n",
    );
    p.sql(
        "1_acme_notes",
        "CREATE TABLE acme_notes (n int);\nINSERT INTO t_a.acme_notes VALUES (1);",
        None,
    );
    let db = Database::create(Engine::Postgres, p.root.path());
    db.psql_here(
        "CREATE SCHEMA t_a; CREATE SCHEMA elsewhere; CREATE TABLE public.acme_notes (n int);",
    );
    let url = format!("{}?schema=t_a", db.url());
    p.wasmig_at(&url, &["up"]).ok();
    assert_eq!(db.column("SELECT count(*) FROM t_a.acme_notes"), ["1"]);

    p.sql(
        "2_acme_leak",
        "INSERT INTO public.acme_notes VALUES (2);",
        None,
    );
    p.wasmig_at(&url, &["up"]).fails().says(&[
        "migration 2",
        "public.acme_notes",
        "outside the tables",
    ]);
    assert_eq!(db.column("SELECT count(*) FROM public.acme_notes"), ["0"]);
    fs::remove_file(p.migrations.join("2_acme_leak.sql")).unwrap();

    p.sql(
        "3_moved",
        "SET LOCAL search_path TO elsewhere;\nCREATE TABLE moved (n int);",
        None,
    );
    p.wasmig_at(&url, &["up"]).ok();
    assert_eq!(db.column("SELECT count(*) FROM elsewhere.moved"), ["0"]);
    assert_eq!(
        db.column("SELECT version FROM t_a.wasmig_migrations ORDER BY version"),
        ["1", "3"]
    );

    // A session-wide SET does not outlive its migration: the next one, run
    // outside a transaction, marks and records itself in the tenant.
    p.sql("4_session", "SET search_path TO elsewhere;", None);
    p.sql(
        "5_outside",
        "-- wasmig:no-transaction\nCREATE TABLE outside (n int);",
        None,
    );
    p.wasmig_at(&url, &["up"]).ok();
    assert_eq!(db.column("SELECT count(*) FROM t_a.outside"), ["0"]);
    assert_eq!(
        db.column("SELECT version FROM t_a.wasmig_migrations ORDER BY version"),
        ["1", "3", "4", "5"]
    );
}

/// `fleet up` reads the migrations once: a file edited while the fleet runs
/// reaches no tenant of that run, and every tenant records one checksum.
#[test]
fn a_file_edited_during_a_fleet_run_reaches_no_tenant_of_that_run() {
    let p = Project::on(Engine::Postgres);
    p.sql(
        "1_wait",
        "SELECT pg_sleep(CASE WHEN current_schema() = 't_a' THEN 3 ELSE 0 END);",
        None,
    );
    p.sql("2_items", "CREATE TABLE items (id INTEGER)", None);
    p.db.psql_here("CREATE SCHEMA t_a; CREATE SCHEMA t_b; CREATE SCHEMA t_c;");
    let pattern = format!("{}?schema=t_*", p.db.url());
    let fleet = p.spawn_wasmig(&["fleet", "up", "--parallel", "1", "--target", &pattern]);
    // The first tenant is in its first migration; the others wait their turn.
    p.wait_for(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'active' AND query LIKE 'SELECT pg_sleep(CASE%'",
    );
    p.sql(
        "2_items",
        "CREATE TABLE items (id INTEGER, edited INTEGER)",
        None,
    );
    let out = fleet.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        p.db.column(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_name = 'items' AND column_name = 'edited'"
        ),
        ["0"],
        "the edit reached a tenant"
    );
    assert_eq!(
        p.db.column(
            "SELECT count(DISTINCT checksum) FROM (SELECT checksum FROM t_a.wasmig_migrations \
             WHERE version = 2 UNION ALL SELECT checksum FROM t_b.wasmig_migrations \
             WHERE version = 2 UNION ALL SELECT checksum FROM t_c.wasmig_migrations \
             WHERE version = 2) AS sums"
        ),
        ["1"]
    );
}
