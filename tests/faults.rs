//! Resource faults: a full disk, a read-only database and a lock held by
//! another session. Each run stops with an error that names the migration,
//! loses nothing, and leaves a ledger that tells the truth; the next run,
//! once the fault is gone, completes.
//!
//! The file-system faults run wasmig in a private mount namespace
//! (`unshare --user --map-root-user --mount`, which needs no privileges):
//! a 256 KiB tmpfs that fills up, and a read-only bind mount that even root
//! cannot write through.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{Engine, Project, test_cache};

/// Runs `script` (a shell script) in a private mount namespace, with
/// `$WASMIG` the binary under test; returns its exit code and output.
fn in_namespace(script: &str) -> (i32, String) {
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .env("WASMIG", env!("CARGO_BIN_EXE_wasmig"))
        .env("WASMIG_CACHE_DIR", test_cache())
        .env_remove("DATABASE_URL")
        .output()
        .expect("running unshare (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// What to do when the namespace cannot be made.
const NAMESPACE_HINT: &str = "\n(these tests need util-linux's `unshare` and unprivileged user \
     namespaces, or root; on Ubuntu 24.04: `sudo sysctl \
     kernel.apparmor_restrict_unprivileged_userns=0`)";

fn versions(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT version FROM wasmig_migrations ORDER BY version")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn count(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// A migration that fills the disk: ~2 MB of rows.
const FILL: &str = "INSERT INTO notes (body) \
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
     SELECT hex(randomblob(500)) FROM n;";

#[test]
fn a_full_file_system_fails_the_migration_and_loses_nothing() {
    let p = Project::new();
    p.sql(
        "0001_notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n\
         INSERT INTO notes (body) VALUES ('kept');",
        None,
    );
    p.wasmig(&["up"]).ok();
    p.sql("0002_fill", FILL, None);
    let dir = p.root.path();
    let script = format!(
        "set -e; mkdir -p {d}/small; mount -t tmpfs -o size=256k tmpfs {d}/small; \
         cp {d}/test.db {d}/small/test.db; \
         if \"$WASMIG\" --dir {d}/migrations --database-url sqlite:{d}/small/test.db up; \
         then echo UNEXPECTED-SUCCESS; fi; \
         cp {d}/small/test.db {d}/after.db",
        d = dir.display()
    );
    let (code, out) = in_namespace(&script);
    assert_eq!(code, 0, "{out}{NAMESPACE_HINT}");
    assert!(!out.contains("UNEXPECTED-SUCCESS"), "{out}");
    assert!(
        out.contains("migration 2"),
        "the error names the migration:\n{out}"
    );
    assert!(
        out.contains("full"),
        "the error says the disk is full:\n{out}"
    );
    let after = dir.join("after.db");
    assert_eq!(
        versions(&after),
        [1],
        "the ledger records only what applied"
    );
    assert_eq!(count(&after, "SELECT count(*) FROM notes"), 1, "{out}");
    // With room again, the rerun completes.
    fs::copy(&after, dir.join("test.db")).unwrap();
    p.wasmig(&["up"]).ok();
    assert_eq!(versions(&dir.join("test.db")), [1, 2]);
}

#[test]
fn a_database_that_fills_its_page_limit_fails_the_migration_and_loses_nothing() {
    let p = Project::new();
    p.sql(
        "0001_notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
        None,
    );
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    // The page limit is the connection's: this run may not grow the file.
    p.sql(
        "0002_fill",
        &format!("PRAGMA max_page_count = 8;\n{FILL}"),
        None,
    );
    p.wasmig(&["up"]).fails().says(&["migration 2", "full"]);
    assert_eq!(p.dump(), before);
    p.sql("0002_fill", FILL, None);
    p.wasmig(&["up"]).ok();
}

#[test]
fn a_read_only_database_is_refused_with_a_clear_error_and_left_as_it_was() {
    let p = Project::new();
    p.sql("0001_a", "CREATE TABLE a (id INTEGER PRIMARY KEY);", None);
    p.wasmig(&["up"]).ok();
    p.sql("0002_b", "CREATE TABLE b (id INTEGER PRIMARY KEY);", None);
    let before = fs::read(p.root.path().join("test.db")).unwrap();
    let script = format!(
        "set -e; mkdir -p {d}/ro; mount --bind {d} {d}/ro; mount -o remount,bind,ro {d}/ro; \
         \"$WASMIG\" --dir {d}/ro/migrations --database-url sqlite:{d}/ro/test.db status; \
         echo STATUS-OK; \
         if \"$WASMIG\" --dir {d}/ro/migrations --database-url sqlite:{d}/ro/test.db up; \
         then echo UNEXPECTED-SUCCESS; fi",
        d = p.root.path().display()
    );
    let (code, out) = in_namespace(&script);
    assert_eq!(code, 0, "{out}{NAMESPACE_HINT}");
    assert!(
        out.contains("STATUS-OK"),
        "status reads a read-only database:\n{out}"
    );
    assert!(!out.contains("UNEXPECTED-SUCCESS"), "{out}");
    assert!(
        out.contains("read-only") || out.contains("readonly"),
        "{out}"
    );
    assert_eq!(
        fs::read(p.root.path().join("test.db")).unwrap(),
        before,
        "the file is untouched"
    );
    p.wasmig(&["up"]).ok();
}

/// Migration 2 failed: its row is not in `t`, and the ledger has only 1.
#[track_caller]
fn nothing_of_the_second_stays(p: &Project) {
    assert_eq!(
        p.column("SELECT count(*) FROM t"),
        ["1"],
        "nothing of 0002 stays"
    );
    assert_eq!(
        p.column("SELECT version FROM wasmig_migrations ORDER BY version"),
        ["1"]
    );
}

/// Another session holds a lock on the table a migration alters; the
/// server's `lock_timeout` (set in the URL) ends the wait.
#[test]
fn a_lock_timeout_fails_the_migration_and_the_rerun_completes() {
    let p = Project::on(Engine::Postgres);
    p.sql(
        "0001_t",
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
        None,
    );
    p.wasmig(&["up"]).ok();
    p.sql(
        "0002_alter",
        "INSERT INTO t VALUES (2);\nALTER TABLE t ADD COLUMN note text;",
        None,
    );
    let holder = Command::new("psql")
        .arg(p.db.url())
        .args([
            "-X",
            "-q",
            "-c",
            "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;",
        ])
        .spawn()
        .unwrap();
    p.wait_for(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE c.relname = 't' AND l.mode = 'AccessExclusiveLock' AND l.granted",
    );
    let url = format!("{}?options=-c%20lock_timeout%3D500ms", p.db.url());
    let started = std::time::Instant::now();
    p.wasmig_at(&url, &["up"])
        .fails()
        .says(&["migration 2", "lock timeout"]);
    assert!(
        started.elapsed().as_secs() < 4,
        "the wait ended at the timeout"
    );
    holder.wait_with_output().unwrap();
    nothing_of_the_second_stays(&p);
    p.wasmig(&["up"]).ok();
    assert_eq!(p.column("SELECT count(*) FROM t"), ["2"]);
}

/// MariaDB: another session holds a row lock the migration needs; the
/// migration's own `innodb_lock_wait_timeout` ends the wait.
#[test]
fn a_lock_wait_timeout_on_mariadb_fails_the_migration_and_the_rerun_completes() {
    let p = Project::on(Engine::Mysql);
    p.sql(
        "0001_t",
        "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0);",
        None,
    );
    p.wasmig(&["up"]).ok();
    p.sql(
        "0002_bump",
        "SET SESSION innodb_lock_wait_timeout = 1;\n\
         INSERT INTO t VALUES (2, 0);\n\
         UPDATE t SET n = n + 1 WHERE id = 1;",
        None,
    );
    let holder = Command::new("mariadb")
        .args(support::database::mysql_args())
        .arg(p.db.name())
        .args([
            "-e",
            "BEGIN; SELECT n FROM t WHERE id = 1 FOR UPDATE; SELECT SLEEP(4); COMMIT;",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    p.wait_for(
        "SELECT count(*) FROM information_schema.processlist \
         WHERE db = DATABASE() AND info LIKE 'SELECT SLEEP(4)%'",
    );
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "Lock wait timeout"]);
    holder.wait_with_output().unwrap();
    nothing_of_the_second_stays(&p);
    p.wasmig(&["up"]).ok();
    assert_eq!(p.column("SELECT n FROM t WHERE id = 1"), ["1"]);
}
