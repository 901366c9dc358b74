//! Promises the README makes, each held by a test that fails when it is
//! broken: a password in a URL never appears in any output, and a reviewed
//! plan (`up --expect-plan`) admits neither a new nor an edited migration,
//! and stops a migration whose statements changed after the plan was
//! checked, before its commit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use support::{Engine, Project};

const PASSWORD: &str = "pw-s3cret-9731";

#[track_caller]
fn no_password(run: &support::Run, what: &str) {
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(PASSWORD),
            "`{what}` printed the password:\n{text}"
        );
    }
}

/// PostgreSQL here trusts local logins, so a URL with a password connects:
/// every command, on success and on failure, is checked.
#[test]
fn a_password_in_the_url_never_appears_in_any_output() {
    let p = Project::on(Engine::Postgres);
    let url =
        p.db.url()
            .replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let dir = p.migrations.to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let mut all = vec!["--dir", &dir, "--database-url", &url];
        all.extend_from_slice(args);
        p.wasmig_bare(&[], &all)
    };
    p.sql("0001_a", "CREATE TABLE a (id int);", Some("DROP TABLE a;"));
    p.sql("0002_bad", "CREATE TABLE b (id int, oops);", None);
    fs_write_schema(&p);
    for args in [
        &["-v", "--log-sql", "up", "--to", "1"][..],
        &["status"],
        &["status", "--format", "json"],
        &["plan"],
        &["plan", "--format", "json"],
        &["up"],
        &["history"],
        &["history", "--format", "json"],
        &["schema", "dump"],
        &["-v", "drift"],
        &["drift", "--format", "json"],
        &["schema", "diff"],
        &["validate"],
        &["down", "--to", "0"],
        &["database", "drop"],
    ] {
        no_password(&run(args), &args.join(" "));
    }
    // The environment variable and wasmig.toml carry it too.
    p.config(&format!("database_url = \"{url}\"\n"));
    no_password(
        &p.wasmig_bare(&[], &["--dir", &dir, "up"]),
        "up (URL from wasmig.toml)",
    );
    no_password(
        &p.wasmig_bare(
            &[("DATABASE_URL", url.as_str())],
            &["--dir", &dir, "status"],
        ),
        "status (URL from DATABASE_URL)",
    );
    // A server that refuses the login: the error names the URL, hidden.
    let refused = format!("mysql://root:{PASSWORD}@127.0.0.1:3306/test");
    let run = p.wasmig_bare(&[], &["--dir", &dir, "--database-url", &refused, "status"]);
    assert_ne!(run.code, 0);
    no_password(&run, "status against a refused login");
    assert!(run.stderr.contains("root:***@"), "{}", run.stderr);
}

fn fs_write_schema(p: &Project) {
    let dir = p.root.path().join("schema");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.sql"), "CREATE TABLE a (id int);\n").unwrap();
}

// ---- up --expect-plan ------------------------------------------------------

fn planned(engine: Engine) -> (Project, String) {
    let p = Project::on(engine);
    p.sql("1_people", "CREATE TABLE people (id int);", None);
    p.wasmig(&["up"]).ok();
    p.sql("2_more", "INSERT INTO people VALUES (1);", None);
    let digest = support::plan_digest(&p.wasmig(&["plan"]).ok());
    (p, digest)
}

#[test]
fn a_new_migration_is_refused_under_a_reviewed_digest() {
    let (p, digest) = planned(Engine::Sqlite);
    p.sql("3_sneaked_in", "DELETE FROM people;", None);
    let before = p.dump();
    p.wasmig(&["up", "--expect-plan", &digest])
        .fails()
        .says(&["differs from the reviewed", "Nothing was applied"]);
    assert_eq!(p.dump(), before);
}

#[test]
fn an_edited_migration_is_refused_under_a_reviewed_digest() {
    let (p, digest) = planned(Engine::Postgres);
    p.sql("2_more", "INSERT INTO people VALUES (1), (2);", None);
    let before = p.dump();
    p.wasmig(&["up", "--expect-plan", &digest])
        .fails()
        .says(&["differs from the reviewed", "Nothing was applied"]);
    assert_eq!(p.dump(), before);
}

/// The plan is checked again when `up` starts; a migration whose
/// statements change after that (another session wrote while an earlier
/// migration ran) is stopped before its commit.
#[test]
fn a_migration_whose_statements_changed_after_the_check_is_stopped_before_its_commit() {
    let p = Project::on(Engine::Postgres);
    p.sql(
        "1_seed",
        "CREATE TABLE probe_seed (id INTEGER PRIMARY KEY); INSERT INTO probe_seed VALUES (1);",
        None,
    );
    p.wasmig(&["up"]).ok();
    p.sql("2_wait", "SELECT pg_sleep(2);", None);
    // The probe writes how many rows probe_seed holds.
    p.component("20240501123000_probe", "sandbox_probe");
    let digest = support::plan_digest(&p.wasmig(&["plan"]).ok());
    let runner = p.spawn_wasmig(&["up", "--expect-plan", &digest]);
    // Migration 2 sleeps twice: in the check of the plan when `up` starts
    // (a simulation, rolled back), then for real, in another transaction.
    // Write during the second.
    let sleeping = || {
        p.column(
            "SELECT xact_start::text FROM pg_stat_activity WHERE datname = current_database() \
             AND query LIKE '%pg_sleep(2)%' AND state = 'active' AND pid <> pg_backend_pid()",
        )
        .pop()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut first = None;
    loop {
        assert!(Instant::now() < deadline, "migration 2 never ran twice");
        match (sleeping(), &first) {
            (Some(started), None) => first = Some(started),
            (Some(started), Some(simulated)) if started != *simulated => break,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    p.db.apply_natively("INSERT INTO probe_seed VALUES (2);");
    let out = runner.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("20240501123000"), "{text}");
    assert!(text.contains("reviewed"), "{text}");
    assert!(!p.db.has_table("probe"), "the probe's table was committed");
    assert_eq!(
        p.column("SELECT version FROM wasmig_migrations ORDER BY version"),
        ["1", "2"],
        "{text}"
    );
}
