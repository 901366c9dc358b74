//! Fuzzing on the stable toolchain: generated inputs for the migration
//! directory reader, the SQL statement splitter and the policy checker,
//! each judged by a reference that is not the code under test.
//!
//! - Directories: random file names and contents in every supported
//!   layout; reading them never panics, and what is read keeps the version
//!   its name starts with.
//! - The splitter: scripts built from a grammar (quotes, comments, `$$`
//!   bodies, `BEGIN … END` trigger bodies) split into exactly the
//!   statements they were built from; on SQLite, SQLite's own parser
//!   (rusqlite's batch reader) agrees.
//! - Policies: statements built from a grammar (CTEs, subqueries,
//!   multi-statement strings, quoting, schema-qualified and look-alike
//!   names) over an allowed table and forbidden ones; a statement SQLite's
//!   authorizer sees touch a forbidden table is never allowed.
//!
//! CI runs `WASMIG_FUZZ_CASES` (default 2,000) cases per target with a fixed,
//! printed seed (`WASMIG_FUZZ_SEED`); the long run is
//! `WASMIG_FUZZ_CASES=100000 cargo test -p wasmig --test fuzz -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rusqlite::fallible_iterator::FallibleIterator;
use wasmig::backend::Dialect;
use wasmig::policy::{Policies, PolicyConfig};

fn runner(target: &str) -> TestRunner {
    let cases: u32 = std::env::var("WASMIG_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let seed: u64 = std::env::var("WASMIG_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_261_130);
    println!("fuzz {target}: {cases} cases, seed {seed} (WASMIG_FUZZ_SEED)");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

// ---- the migration directory ------------------------------------------------

fn file_name() -> impl Strategy<Value = String> {
    let version = prop_oneof![
        "[0-9]{1,4}",
        "[0-9]{14}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{6}",
        "[0-9]{20,22}",
        "[a-z]{0,3}",
    ];
    let name = "[a-zA-Z0-9_.\\- ]{0,12}";
    let suffix = prop_oneof![
        Just(".sql"),
        Just(".up.sql"),
        Just(".down.sql"),
        Just(".wasm"),
        Just(".schema.toml"),
        Just(".txt"),
        Just(""),
    ];
    (version, name, suffix).prop_map(|(v, n, s)| format!("{v}_{n}{s}"))
}

fn file_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("-- migrate:up".to_owned()),
        Just("-- migrate:down".to_owned()),
        Just("-- migrate:up transaction:false".to_owned()),
        Just("-- +goose Up".to_owned()),
        Just("-- +goose Down".to_owned()),
        Just("-- +goose StatementBegin".to_owned()),
        Just("-- +goose StatementEnd".to_owned()),
        Just("-- +goose NO TRANSACTION".to_owned()),
        Just("-- wasmig:no-transaction".to_owned()),
        Just("CREATE TABLE t (id int);".to_owned()),
        Just("BEGIN;".to_owned()),
        Just("COMMIT;".to_owned()),
        Just("[[op]]\nop = \"create_table\"\ntable = \"x\"".to_owned()),
        "[ -~]{0,30}",
    ];
    proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
}

/// Entries of a directory: files, and diesel-style directories holding
/// `up.sql`/`down.sql`/`metadata.toml`.
fn entries() -> impl Strategy<Value = Vec<(String, bool, String)>> {
    proptest::collection::vec((file_name(), any::<bool>(), file_text()), 0..6)
}

fn write_entries(dir: &Path, entries: &[(String, bool, String)]) {
    for (name, is_dir, text) in entries {
        let path = dir.join(name);
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            continue;
        }
        if *is_dir {
            if std::fs::create_dir_all(&path).is_ok() {
                let _ = std::fs::write(path.join("up.sql"), text);
                let _ = std::fs::write(path.join("down.sql"), "SELECT 1;");
            }
        } else {
            let _ = std::fs::write(&path, text);
        }
    }
}

#[test]
fn reading_any_directory_never_panics_and_keeps_versions() {
    let mut runner = runner("directories");
    runner
        .run(&entries(), |entries| {
            let dir = tempfile::tempdir().unwrap();
            write_entries(dir.path(), &entries);
            if let Ok(found) = wasmig::source::discover(dir.path()) {
                for migration in found {
                    // A directory migration's path is its up.sql.
                    let path = migration.path();
                    let named = match path.file_name().and_then(|n| n.to_str()) {
                        Some("up.sql" | "down.sql" | "metadata.toml") => path.parent().unwrap(),
                        _ => path,
                    };
                    let name = named.file_name().unwrap().to_string_lossy().into_owned();
                    let digits: String = name
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '-')
                        .filter(char::is_ascii_digit)
                        .collect();
                    prop_assert_eq!(
                        digits.parse::<i64>().ok(),
                        Some(migration.version),
                        "{}",
                        name
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn reading_any_sql_file_never_panics() {
    let mut runner = runner("sql files");
    runner
        .run(&(file_text(), file_text()), |(text, down)| {
            let scripts = wasmig::sql_file::parse(&text, Some(down), Some(&text));
            prop_assert!(scripts.up.len() <= text.len());
            Ok(())
        })
        .unwrap();
}

// ---- the statement splitter ---------------------------------------------------

/// The engine a script is written for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavor {
    Sqlite,
    Postgres,
    Mysql,
}

/// One statement of the grammar: forms every engine reads, and each
/// engine's own (PostgreSQL's `$$` bodies and nested comments, MySQL's
/// backslash escapes).
fn statement(flavor: Flavor) -> BoxedStrategy<String> {
    let text = "[a-z ;'\"()-]{0,12}".prop_map(|t| t.replace('\'', "''"));
    let mut forms = vec![
        Just("SELECT 1".to_owned()).boxed(),
        text.clone().prop_map(|t| format!("SELECT '{t}'")).boxed(),
        text.clone()
            .prop_map(|t| format!("INSERT INTO t (a) VALUES ('{t}')"))
            .boxed(),
        "[a-z;]{1,8}"
            .prop_map(|t| format!("SELECT a AS \"{t}\" FROM t"))
            .boxed(),
        text.clone()
            .prop_map(|t| format!("SELECT 1 /* {t} */ + 2"))
            .boxed(),
        text.clone()
            .prop_map(|t| format!("-- {}\nSELECT 2", t.replace('\n', " ")))
            .boxed(),
        Just(
            "CREATE TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN \
             UPDATE t SET a = 'x;y' WHERE 0; DELETE FROM t WHERE 0; END"
                .to_owned(),
        )
        .boxed(),
        Just("WITH c AS (SELECT 1 AS n) SELECT n FROM c".to_owned()).boxed(),
    ];
    match flavor {
        Flavor::Sqlite => {}
        Flavor::Postgres => {
            forms.push(
                text.clone()
                    .prop_map(|t| {
                        format!(
                            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; -- {t}\n $$ \
                             LANGUAGE sql"
                        )
                    })
                    .boxed(),
            );
            forms.push(
                text.clone()
                    .prop_map(|t| format!("DO $body$ BEGIN PERFORM '{t}'; END $body$"))
                    .boxed(),
            );
            forms.push(
                text.clone()
                    .prop_map(|t| format!("SELECT 1 /* outer /* {t} */ still; */"))
                    .boxed(),
            );
        }
        Flavor::Mysql => {
            // Backslash escapes, in single- and double-quoted strings.
            forms.push(
                "[a-z ;'\"()-]{0,12}"
                    .prop_map(|t| {
                        let single = t.replace('\'', "\\'");
                        let double = t.replace('"', "\\\"");
                        format!("SELECT 'it\\'s; {single}', \"q\\\"; {double}\"")
                    })
                    .boxed(),
            );
        }
    }
    proptest::strategy::Union::new(forms).boxed()
}

fn script(flavor: Flavor) -> impl Strategy<Value = (Vec<String>, String)> {
    proptest::collection::vec((statement(flavor), "[ \n\t]{0,3}"), 1..6).prop_map(|parts| {
        let statements: Vec<String> = parts.iter().map(|(s, _)| s.clone()).collect();
        let text = parts
            .iter()
            .map(|(s, space)| format!("{s};{space}"))
            .collect::<String>();
        (statements, text)
    })
}

fn splits_as_built(flavor: Flavor, dialect: Dialect) {
    let mut runner = runner(&format!("splitter ({flavor:?})"));
    runner
        .run(&script(flavor), |(built, text)| {
            let found = wasmig::policy::statements_for(dialect, &text);
            prop_assert_eq!(found.len(), built.len(), "{}\nsplit as {:#?}", text, found);
            for (found, built) in found.iter().zip(&built) {
                prop_assert_eq!(found.trim(), built.trim());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_splitter_finds_the_statements_a_postgres_script_was_built_from() {
    splits_as_built(Flavor::Postgres, Dialect::Postgres);
}

#[test]
fn the_splitter_finds_the_statements_a_mysql_script_was_built_from() {
    splits_as_built(Flavor::Mysql, Dialect::Mysql);
}

#[test]
fn the_splitter_agrees_with_sqlite() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (a TEXT)").unwrap();
    let mut runner = runner("splitter against SQLite");
    runner
        .run(&script(Flavor::Sqlite), |(built, text)| {
            let mut reference = 0;
            let mut batch = rusqlite::Batch::new(&conn, &text);
            while let Some(statement) = batch.next().unwrap() {
                drop(statement);
                reference += 1;
            }
            let found = wasmig::policy::statements_for(Dialect::Sqlite, &text);
            prop_assert_eq!(found.len(), reference, "{}", text);
            prop_assert_eq!(found.len(), built.len(), "{}", text);
            for one in &found {
                // Each piece is exactly one statement to SQLite.
                prop_assert!(conn.prepare(one).is_ok(), "{}", one);
            }
            Ok(())
        })
        .unwrap();
}

// ---- the policy checker -----------------------------------------------------------

const TABLES: [&str; 5] = [
    "acme_items",
    "\"acme_items\"",
    "main.acme_items",
    "users",
    "\"Users\"",
];

fn table() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(TABLES.to_vec()).prop_map(str::to_owned),
        Just("main.users".to_owned()),
        Just("USERS".to_owned()),
        Just("acme_itemsx".to_owned()),
        Just("\"acme_items\"\"x\"".to_owned()),
    ]
}

fn policy_statement() -> BoxedStrategy<String> {
    let one = (table(), table(), 0..8u8)
        .prop_map(|(a, b, form)| match form {
            0 => format!("SELECT * FROM {a}"),
            1 => format!("INSERT INTO {a} (n) SELECT n FROM {b}"),
            2 => format!("UPDATE {a} SET n = (SELECT max(n) FROM {b})"),
            3 => format!("DELETE FROM {a} WHERE n IN (SELECT n FROM {b})"),
            4 => format!("WITH c AS (SELECT n FROM {b}) SELECT * FROM {a} JOIN c USING (n)"),
            5 => format!("SELECT (SELECT count(*) FROM {b}) FROM {a}"),
            6 => format!("SELECT * FROM {a} UNION SELECT * FROM {b}"),
            _ => format!("SELECT n FROM {a} WHERE EXISTS (SELECT 1 FROM {b} x WHERE x.n = 1)"),
        })
        .boxed();
    proptest::collection::vec(one, 1..3)
        .prop_map(|v| v.join("; "))
        .boxed()
}

/// The tables SQLite's authorizer sees `sql` read or write.
fn touched(conn: &rusqlite::Connection, sql: &str) -> Option<Vec<String>> {
    use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let _ = conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        let table = match ctx.action {
            AuthAction::Read { table_name, .. }
            | AuthAction::Update { table_name, .. }
            | AuthAction::Insert { table_name }
            | AuthAction::Delete { table_name } => Some(table_name.to_owned()),
            _ => None,
        };
        if let Some(table) = table.filter(|t| !t.starts_with("sqlite_"))
            && let Ok(mut log) = log.lock()
        {
            log.push(table.to_lowercase());
        }
        Authorization::Allow
    }));
    let mut batch = rusqlite::Batch::new(conn, sql);
    let prepared = loop {
        match batch.next() {
            Ok(Some(_)) => {}
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    let _ = conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    let tables = seen.lock().map(|t| t.clone()).unwrap_or_default();
    prepared.then_some(tables)
}

#[test]
fn a_statement_that_touches_a_forbidden_table_is_never_allowed() {
    #[derive(serde::Deserialize)]
    struct File {
        policy: Vec<PolicyConfig>,
    }
    let file: File = toml::from_str(
        "[[policy]]\nname = \"acme\"\npaths = [\"**\"]\n\
         statements = [\"select\", \"insert\", \"update\", \"delete\"]\ntables = [\"acme_*\"]\n",
    )
    .unwrap();
    let policies = Policies::new(Default::default(), &file.policy, "/p").unwrap();
    let sandbox = policies.sandbox(1, Path::new("/p/1_x.wasm")).unwrap();
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE acme_items (n INTEGER); CREATE TABLE users (n INTEGER); \
         CREATE TABLE \"acme_items\"\"x\" (n INTEGER); CREATE TABLE acme_itemsx (n INTEGER);",
    )
    .unwrap();
    let mut runner = runner("policy checker against SQLite's authorizer");
    let forbidden_seen = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&policy_statement(), |sql| {
            let verdict = sandbox.check_sql(Dialect::Sqlite, "main", &sql);
            if let Some(tables) = touched(&conn, &sql) {
                let forbidden = tables.iter().any(|t| !t.starts_with("acme_"));
                if forbidden {
                    forbidden_seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    prop_assert!(
                        verdict.is_err(),
                        "allowed, but SQLite sees it touch {:?}: {}",
                        tables,
                        sql
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    let forbidden = forbidden_seen.into_inner();
    println!("  {forbidden} statements touched a forbidden table; every one was refused");
    assert!(forbidden > 0, "the grammar never touched a forbidden table");
}
