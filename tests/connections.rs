//! Dropped connections: the server ends wasmig's work session, or its lock
//! session, in the middle of a migration. The run stops with an error that
//! names the migration, nothing is half-applied, a runner that takes the
//! released lock never applies the same migration twice, and the next run
//! completes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Child;
use std::time::Duration;

use support::{Engine, Project};

fn finish(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A project whose migration 2 inserts a row, sleeps on the server, and
/// inserts another: killed in between, nothing of it may stay.
fn slow_project(engine: Engine) -> Project {
    let p = Project::on(engine);
    p.sql("0001_rows", "CREATE TABLE rows_seen (n int);", None);
    p.wasmig(&["up"]).ok();
    let sleep = match engine {
        Engine::Postgres => "SELECT pg_sleep(3);",
        _ => "SELECT SLEEP(3);",
    };
    p.sql(
        "0002_slow",
        &format!("INSERT INTO rows_seen VALUES (1);\n{sleep}\nINSERT INTO rows_seen VALUES (2);"),
        None,
    );
    p.sql("0003_after", "INSERT INTO rows_seen VALUES (3);", None);
    p
}

/// The server ends the session doing the work.
fn work_session_ended(engine: Engine) {
    let p = slow_project(engine);
    let runner = p.spawn_wasmig(&["up"]);
    let (find, kill) = match engine {
        Engine::Postgres => (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'wasmig' AND query LIKE '%pg_sleep(3)%'"
                .to_owned(),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'wasmig'"
                .to_owned(),
        ),
        _ => (
            "SELECT count(*) FROM information_schema.processlist \
             WHERE db = DATABASE() AND info LIKE '%SLEEP(3)%' AND id <> CONNECTION_ID()"
                .to_owned(),
            String::new(),
        ),
    };
    p.wait_for(&find);
    match engine {
        Engine::Postgres => {
            p.column(&kill);
        }
        _ => {
            let id = p.column(
                "SELECT id FROM information_schema.processlist \
                 WHERE db = DATABASE() AND info LIKE '%SLEEP(3)%' AND id <> CONNECTION_ID()",
            );
            p.db.apply_natively(&format!("KILL CONNECTION {};", id[0]));
        }
    }
    let (ok, out) = finish(runner);
    assert!(!ok, "the run must fail:\n{out}");
    assert!(
        out.contains("migration 2"),
        "the error names the migration:\n{out}"
    );
    assert_eq!(p.column("SELECT count(*) FROM rows_seen"), ["0"], "{out}");
    assert_eq!(
        p.column("SELECT version FROM wasmig_migrations ORDER BY version"),
        ["1"]
    );
    p.wasmig(&["up"]).ok();
    assert_eq!(p.column("SELECT count(*) FROM rows_seen"), ["3"]);
}

#[test]
fn an_ended_work_session_on_postgres_leaves_nothing_half_applied() {
    work_session_ended(Engine::Postgres);
}

#[test]
fn an_ended_work_session_on_mariadb_leaves_nothing_half_applied() {
    work_session_ended(Engine::Mysql);
}

/// The server ends the session holding the lock: the lock is free while
/// the first runner's migration goes on, and a second runner takes it. The
/// ledger's key lets only one of them record migration 2, and the loser's
/// transaction, its rows with it, rolls back.
fn lock_session_ended(engine: Engine) {
    let p = slow_project(engine);
    let first = p.spawn_wasmig(&["up"]);
    match engine {
        Engine::Postgres => {
            p.wait_for(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'wasmig' AND query LIKE '%pg_sleep(3)%'",
            );
            p.column(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'wasmig lock') t",
            );
        }
        _ => {
            p.wait_for(
                "SELECT count(*) FROM information_schema.processlist \
                 WHERE db = DATABASE() AND info LIKE '%SLEEP(3)%' AND id <> CONNECTION_ID()",
            );
            let holder = p.column("SELECT IS_USED_LOCK(CONCAT('wasmig:', DATABASE()))");
            p.db.apply_natively(&format!("KILL CONNECTION {};", holder[0]));
        }
    }
    let second = p.spawn_wasmig(&["up"]);
    let (first_ok, first_out) = finish(first);
    let (second_ok, second_out) = finish(second);
    let both = format!("first:\n{first_out}\nsecond:\n{second_out}");
    // Migration 2 ran once: rows 1 and 2 once each.
    assert_eq!(
        p.column("SELECT n FROM rows_seen WHERE n < 3 ORDER BY n"),
        ["1", "2"],
        "{both}"
    );
    // The first committed migration 2, then found its lock gone and
    // stopped; the second ran migration 2 too, and could not record it.
    assert!(!first_ok && first_out.contains("lost its lock"), "{both}");
    assert!(
        !second_ok && second_out.contains("another runner recorded migration 2"),
        "{both}"
    );
    p.wasmig(&["up"]).ok();
    assert_eq!(
        p.column("SELECT n FROM rows_seen ORDER BY n"),
        ["1", "2", "3"],
        "{both}"
    );
    assert_eq!(
        p.column("SELECT version FROM wasmig_migrations ORDER BY version"),
        ["1", "2", "3"]
    );
}

#[test]
fn an_ended_lock_session_on_postgres_never_applies_a_migration_twice() {
    lock_session_ended(Engine::Postgres);
}

#[test]
fn an_ended_lock_session_on_mariadb_never_applies_a_migration_twice() {
    lock_session_ended(Engine::Mysql);
}

/// A runner that stalls past its lease (stopped with SIGSTOP for longer
/// than the lease's 30 s) loses it to another runner, which applies the
/// migration the stalled one was in; resumed, the stalled runner cannot
/// record that migration and stops. Every migration runs once.
#[test]
fn a_runner_that_stalls_past_its_lease_stops_and_nothing_runs_twice() {
    let p = Project::on(Engine::Postgres);
    p.sql("0001_rows", "CREATE TABLE rows_seen (n int);", None);
    p.wasmig(&["up", "--lock", "lease"]).ok();
    p.sql(
        "0002_slow",
        "INSERT INTO rows_seen VALUES (1);\nSELECT pg_sleep(1);\nINSERT INTO rows_seen VALUES (2);",
        None,
    );
    p.sql("0003_after", "INSERT INTO rows_seen VALUES (3);", None);
    let stalled = p.spawn_wasmig(&["up", "--lock", "lease"]);
    p.wait_for(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'wasmig' AND query LIKE '%pg_sleep(1)%'",
    );
    let pid = rustix::process::Pid::from_child(&stalled);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    // The lease expires 30 s after its last renewal.
    std::thread::sleep(Duration::from_secs(32));
    let second = p.wasmig(&["up", "--lock", "lease"]);
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    let (stalled_ok, stalled_out) = finish(stalled);
    let both = format!(
        "second:\n{}\n{}\nstalled:\n{stalled_out}",
        second.stdout, second.stderr
    );
    assert_eq!(second.code, 0, "the second runner applies 2 and 3:\n{both}");
    assert!(!stalled_ok, "the stalled runner must stop:\n{both}");
    assert!(
        stalled_out.contains("another runner recorded migration 2"),
        "{both}"
    );
    assert_eq!(
        p.column("SELECT n FROM rows_seen ORDER BY n"),
        ["1", "2", "3"],
        "{both}"
    );
    assert_eq!(
        p.column("SELECT version FROM wasmig_migrations ORDER BY version"),
        ["1", "2", "3"]
    );
}
