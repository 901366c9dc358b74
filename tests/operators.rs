//! What operators rely on, through the `wasmig` binary on SQLite and
//! PostgreSQL: plans that pin what runs, status gates, history, rollback
//! without files, repair, reset, environments and logging.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use support::{Engine, Project};

/// Runs the listed cases, each a `fn(Engine)`, on SQLite and PostgreSQL.
macro_rules! on_sqlite_and_postgres {
    ([$($case:ident),* $(,)?]) => {
        mod sqlite {
            use super::*;
            $( #[test] fn $case() { super::$case(Engine::Sqlite) } )*
        }
        mod postgres {
            use super::*;
            $( #[test] fn $case() { super::$case(Engine::Postgres) } )*
        }
    };
}

/// MySQL commits DDL immediately: what cannot be rolled back is listed, not
/// run, and what can is simulated.
#[test]
fn mysql_plans_list_ddl_as_not_simulated_and_simulate_the_rest() {
    let p = Project::on(Engine::Mysql);
    p.sql(
        "1_people",
        "CREATE TABLE people (id BIGINT PRIMARY KEY, first_name TEXT NOT NULL, \
         last_name TEXT NOT NULL, full_name TEXT);\n\
         INSERT INTO people (id, first_name, last_name) VALUES (1, 'Ada', 'Lovelace');",
        Some("DROP TABLE people;"),
    );
    p.wasmig(&["up"]).ok();
    p.sql(
        "2_shout",
        "UPDATE people SET last_name = UPPER(last_name);",
        None,
    );
    p.component("3_typed", "typed_values");
    p.sql("4_more", "CREATE TABLE more (id INTEGER);", None);
    let before = p.dump();
    let plan = p.wasmig(&["plan"]).ok();
    assert_eq!(p.dump(), before, "plan changed the database");
    let plan = plan.says(&[
        "2 shout",
        "simulated: 1 statement(s), 1 row(s) changed",
        "3 typed",
        "NOT SIMULATED (MySQL commits DDL statements immediately; it stopped before `CREATE TABLE typed",
        "4 more",
        "CREATE TABLE more",
    ]);
    assert!(!p.db.has_table("typed") && !p.db.has_table("more"));
    let digest = support::plan_digest(&plan);
    p.wasmig(&["up", "--expect-plan", &digest]).ok();
    assert_eq!(applied(&p), ["1", "2", "3", "4"]);
    assert_eq!(p.column("SELECT last_name FROM people"), ["LOVELACE"]);
}

on_sqlite_and_postgres!([
    plan_then_up_with_its_digest_applies_exactly_the_plan,
    a_database_changed_after_the_plan_makes_up_refuse_it,
    up_dry_run_changes_nothing_and_prints_the_plan_as_json,
    plan_reports_a_failing_migration_and_exits_non_zero,
    a_migration_outside_a_transaction_is_listed_not_simulated,
    a_migration_whose_files_were_deleted_is_reverted_from_the_ledger,
    a_component_whose_file_was_deleted_is_reverted_from_the_ledger,
    status_filters_and_exit_codes_gate_ci,
    history_records_who_did_what_where,
    repair_shows_the_edit_and_restamps_only_when_confirmed,
    reset_starts_over_except_in_a_protected_environment,
    environments_come_from_wasmig_toml_and_dotenv,
    log_sql_echoes_every_statement_and_verbose_shows_debug_logs,
    out_of_order_migrations_are_refused_until_allowed,
    down_to_is_exact_at_the_target,
    the_library_migrates_with_the_same_ledger_as_the_cli,
    a_long_sql_migration_reports_progress_and_the_summary_counts_rows,
    embedded_migrations_run_with_the_checksums_of_their_files,
    failed_and_missing_migrations_show_in_their_filters_and_fail_the_gate,
    a_ledger_row_deleted_by_hand_lets_the_migration_apply_again,
]);

const PEOPLE: &str = "CREATE TABLE people (id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, \
                      last_name TEXT NOT NULL, full_name TEXT);\n\
                      INSERT INTO people (id, first_name, last_name) VALUES \
                      (1, 'Ada', 'Lovelace'), (2, 'Alan', 'Turing'), (3, 'Grace', 'Hopper');";

/// A project with `people` applied and two migrations pending: a component
/// backfill and a SQL update.
fn people_with_pending(engine: Engine) -> Project {
    let p = Project::on(engine);
    p.sql("1_people", PEOPLE, Some("DROP TABLE people;"));
    p.wasmig(&["up"]).ok();
    p.component("2_backfill", "backfill_people");
    p.sql(
        "3_shout",
        "UPDATE people SET last_name = UPPER(last_name) WHERE id > 1;",
        Some("UPDATE people SET last_name = last_name;"),
    );
    p
}

fn applied(p: &Project) -> Vec<String> {
    p.column("SELECT version FROM wasmig_migrations ORDER BY version")
}

fn plan_then_up_with_its_digest_applies_exactly_the_plan(engine: Engine) {
    let p = people_with_pending(engine);
    let before = p.dump();
    let plan = p.wasmig(&["plan"]).ok();
    assert_eq!(p.dump(), before, "plan changed the database");
    // The component's statements, with parameters, and the SQL's row count.
    plan.says(&[
        "2 backfill",
        "simulated",
        "full_name",
        "Ada Lovelace",
        "3 shout",
        "UPDATE people SET last_name = UPPER(last_name) WHERE id > 1  -> 2 row(s)",
        "wasmig up --expect-plan",
    ]);
    let plan = p.wasmig(&["plan"]).ok();
    let digest = support::plan_digest(&plan);
    assert_eq!(digest.len(), 64);
    assert_eq!(
        digest,
        support::plan_digest(&p.wasmig(&["plan"]).ok()),
        "plans differ"
    );
    p.wasmig(&["up", "--expect-plan", &digest]).ok();
    assert_eq!(applied(&p), ["1", "2", "3"]);
    assert_eq!(
        p.column("SELECT full_name FROM people ORDER BY id"),
        ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    );
    // Nothing is pending now: a new plan is empty, with another digest.
    let empty = p.wasmig(&["plan"]).ok().says(&["nothing to do"]);
    assert_ne!(support::plan_digest(&empty), digest);
}

fn a_database_changed_after_the_plan_makes_up_refuse_it(engine: Engine) {
    let p = people_with_pending(engine);
    let digest = support::plan_digest(&p.wasmig(&["plan"]).ok());
    p.db.apply_natively(
        "INSERT INTO people (id, first_name, last_name) VALUES (4, 'Edsger', 'Dijkstra');",
    );
    let changed = p.dump();
    p.wasmig(&["up", "--expect-plan", &digest]).fails().says(&[
        "differs from the reviewed",
        "Nothing was applied",
        "wasmig plan",
    ]);
    assert_eq!(p.dump(), changed, "a refused plan applied something");
    // Reviewing again gives a plan that applies.
    let digest = support::plan_digest(&p.wasmig(&["plan"]).ok());
    p.wasmig(&["up", "--expect-plan", &digest]).ok();
    assert_eq!(applied(&p), ["1", "2", "3"]);
    // A digest that is not a plan's is refused too.
    p.sql("4_more", "CREATE TABLE more (id INTEGER);", None);
    p.wasmig(&["up", "--expect-plan", "abc"])
        .fails()
        .says(&["differs"]);
    assert_eq!(applied(&p), ["1", "2", "3"]);
}

fn up_dry_run_changes_nothing_and_prints_the_plan_as_json(engine: Engine) {
    let p = people_with_pending(engine);
    let before = p.dump();
    let run = p.wasmig(&["up", "--dry-run", "--format", "json"]).ok();
    assert_eq!(p.dump(), before);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let migrations = doc["migrations"].as_array().unwrap();
    assert_eq!(migrations.len(), 2);
    assert_eq!(migrations[0]["version"], 2);
    assert_eq!(migrations[0]["simulation"]["state"], "simulated");
    let statements = migrations[0]["statements"].as_array().unwrap();
    assert!(
        statements
            .iter()
            .any(|s| s["sql"].as_str().unwrap().contains("full_name")),
        "{statements:?}"
    );
    assert_eq!(migrations[1]["rows_affected"], 2);
    assert_eq!(doc["digest"].as_str().unwrap().len(), 64);
    // --dry-run and plan agree.
    let plan = p.wasmig(&["plan"]).ok();
    assert_eq!(doc["digest"].as_str().unwrap(), support::plan_digest(&plan));
    // plan takes up's selection: --to and --count.
    for args in [["plan", "--to", "2"], ["plan", "--count", "1"]] {
        let run = p.wasmig(&[&args[..], &["--format", "json"]].concat()).ok();
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let versions: Vec<i64> = doc["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, [2], "{args:?}");
    }
    assert_eq!(p.dump(), before);
}

fn plan_reports_a_failing_migration_and_exits_non_zero(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    p.sql("2_bad", "INSERT INTO missing_table VALUES (1);", None);
    p.sql("3_c", "CREATE TABLE c (id INTEGER);", None);
    let run = p
        .wasmig(&["plan"])
        .fails()
        .says(&["2 bad", "FAILS", "not reached"]);
    assert!(run.stdout.contains("missing_table"), "{}", run.stdout);
    assert!(!p.db.has_table("a"), "the simulation was not rolled back");
}

fn a_migration_outside_a_transaction_is_listed_not_simulated(engine: Engine) {
    let p = Project::on(engine);
    p.sql(
        "1_outside",
        "-- no-transaction\nCREATE TABLE outside (id INTEGER);",
        None,
    );
    p.wasmig(&["plan"]).ok().says(&[
        "NOT SIMULATED",
        "outside a transaction",
        "CREATE TABLE outside",
    ]);
    assert!(!p.db.has_table("outside"));
}

fn a_migration_whose_files_were_deleted_is_reverted_from_the_ledger(engine: Engine) {
    let p = Project::on(engine);
    p.sql(
        "1_keep",
        "CREATE TABLE keep (id INTEGER);",
        Some("DROP TABLE keep;"),
    );
    p.sql(
        "2_gone",
        "CREATE TABLE gone (id INTEGER);\nINSERT INTO gone VALUES (1);",
        Some("DROP TABLE gone;"),
    );
    p.wasmig(&["up"]).ok();
    // A deploy of another branch: the files are gone.
    fs::remove_file(p.migrations.join("2_gone.up.sql")).unwrap();
    fs::remove_file(p.migrations.join("2_gone.down.sql")).unwrap();
    let status = p.status_json();
    assert_eq!(status["migrations"][1]["status"], "missing");
    p.wasmig(&["down"])
        .ok()
        .says(&["2_gone.up.sql is gone", "down step the ledger kept"]);
    assert!(!p.db.has_table("gone"));
    assert!(p.db.has_table("keep"));
    assert_eq!(applied(&p), ["1"]);
    // An irreversible migration without its file cannot be reverted.
    p.sql("3_oneway", "CREATE TABLE oneway (id INTEGER);", None);
    p.wasmig(&["up"]).ok();
    fs::remove_file(p.migrations.join("3_oneway.sql")).unwrap();
    p.wasmig(&["down"])
        .fails()
        .says(&["cannot revert 3", "no down step"]);
    assert!(p.db.has_table("oneway"));
}

fn a_component_whose_file_was_deleted_is_reverted_from_the_ledger(engine: Engine) {
    let p = Project::on(engine);
    p.config("[env.dev]\nvars = { rows = \"5\" }\n");
    p.sql(
        "1_big",
        "CREATE TABLE big (id INTEGER PRIMARY KEY, label TEXT);",
        Some("DROP TABLE big;"),
    );
    p.component("2_fill", "slow_fill");
    p.wasmig(&["up"]).ok();
    assert_eq!(p.column("SELECT COUNT(*) FROM big"), ["5"]);
    fs::remove_file(p.migrations.join("2_fill.wasm")).unwrap();
    p.wasmig(&["down"])
        .ok()
        .says(&["down step the ledger kept"]);
    assert_eq!(p.column("SELECT COUNT(*) FROM big"), ["0"]);
    assert_eq!(applied(&p), ["1"]);
}

fn status_filters_and_exit_codes_gate_ci(engine: Engine) {
    let p = Project::on(engine);
    for v in 1..=3 {
        p.sql(
            &format!("{v}_t{v}"),
            &format!("CREATE TABLE t{v} (id INTEGER);"),
            Some(&format!("DROP TABLE t{v};")),
        );
    }
    p.wasmig(&["up", "--to", "2"]).ok();
    let pending = p.wasmig(&["status", "--pending"]).ok();
    assert!(pending.stdout.contains("t3"), "{}", pending.stdout);
    assert!(!pending.stdout.contains("t1"), "{}", pending.stdout);
    let applied = p.wasmig(&["status", "--applied", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&applied.stdout).unwrap();
    let versions: Vec<i64> = doc["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(doc["format"], 1);
    assert_eq!(p.wasmig(&["status", "--exit-code"]).code, 3);
    p.wasmig(&["up"]).ok();
    assert_eq!(p.wasmig(&["status", "--exit-code"]).code, 0);
    fs::write(
        p.migrations.join("2_t2.up.sql"),
        "CREATE TABLE t2 (id BIGINT);",
    )
    .unwrap();
    let changed = p.wasmig(&["status", "--changed", "--exit-code"]);
    assert_eq!(changed.code, 4, "{}", changed.stderr);
    assert!(changed.stdout.contains("changed"), "{}", changed.stdout);
    assert!(!changed.stdout.contains("t1"), "{}", changed.stdout);
    // Without --exit-code, status reports and succeeds.
    p.wasmig(&["status"]).ok();
}

fn history_records_who_did_what_where(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.sql("2_b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    let ci = [("WASMIG_ACTOR", "deploy-job-7")];
    p.wasmig_with(&ci, &["up", "--env", "staging"]).ok();
    p.wasmig_with(&ci, &["down", "--env", "staging"]).ok();
    let run = p.wasmig(&["history", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let events: Vec<(i64, String, String, String)> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_i64().unwrap(),
                e["action"].as_str().unwrap().to_owned(),
                e["environment"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ev = |v: i64, a: &str| {
        (
            v,
            a.to_owned(),
            "staging".to_owned(),
            "deploy-job-7".to_owned(),
        )
    };
    assert_eq!(events, [ev(1, "apply"), ev(2, "apply"), ev(2, "revert")]);
    p.wasmig(&["history", "--migration", "2"])
        .ok()
        .says(&["revert", "deploy-job-7", "staging"]);
}

fn repair_shows_the_edit_and_restamps_only_when_confirmed(engine: Engine) {
    let p = Project::on(engine);
    p.sql(
        "1_a",
        "CREATE TABLE a (id INTEGER);\nCREATE TABLE z (id INTEGER);",
        Some("DROP TABLE a;\nDROP TABLE z;"),
    );
    p.wasmig(&["up"]).ok();
    fs::write(
        p.migrations.join("1_a.up.sql"),
        "CREATE TABLE a (id INTEGER); -- reviewed\nCREATE TABLE z (id INTEGER);",
    )
    .unwrap();
    p.wasmig(&["up"])
        .fails()
        .says(&["changed after it was applied"]);
    // No terminal and no --yes: shows the diff, asks nobody, changes nothing.
    p.wasmig(&["repair"]).fails().says(&[
        "- CREATE TABLE a (id INTEGER);",
        "+ CREATE TABLE a (id INTEGER); -- reviewed",
        "--yes",
    ]);
    assert_eq!(p.status_json()["migrations"][0]["status"], "changed");
    p.wasmig(&["repair", "--yes"]).ok().says(&["re-stamped 1"]);
    assert_eq!(p.status_json()["migrations"][0]["status"], "applied");
    p.wasmig(&["up"]).ok().says(&["nothing to do"]);
    p.wasmig(&["history"]).ok().says(&["repair"]);
    p.wasmig(&["repair"]).ok().says(&["nothing to repair"]);
}

fn reset_starts_over_except_in_a_protected_environment(engine: Engine) {
    let p = Project::on(engine);
    p.config("[env.prod]\nprotected = true\n");
    p.sql(
        "1_a",
        "CREATE TABLE a (id INTEGER);\nINSERT INTO a VALUES (1);",
        Some("DROP TABLE a;"),
    );
    p.wasmig(&["up"]).ok();
    p.db.apply_natively("INSERT INTO a VALUES (2);");
    let before = p.dump();
    p.wasmig(&["reset", "--yes", "--env", "prod"])
        .fails()
        .says(&["protected"]);
    assert_eq!(p.dump(), before);
    p.wasmig(&["reset"]).fails().says(&["--yes"]);
    assert_eq!(p.dump(), before);
    p.wasmig(&["reset", "--yes"])
        .ok()
        .says(&["reverted 1", "applied 1"]);
    assert_eq!(p.column("SELECT id FROM a"), ["1"]);
}

fn environments_come_from_wasmig_toml_and_dotenv(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    let url = p.db.url();
    fs::write(
        p.root.path().join("wasmig.toml"),
        "[env.staging]\ndatabase_url = \"${WASMIG_TEST_STAGING_URL}\"\n\
         limits = { fuel = 10 }\n",
    )
    .unwrap();
    fs::write(
        p.root.path().join(".env"),
        format!("# staging\nWASMIG_TEST_STAGING_URL={url}\n"),
    )
    .unwrap();
    // The URL comes from .env; a secret in it is never printed.
    p.wasmig_bare(&[], &["up", "--env", "staging"]).ok();
    assert_eq!(applied(&p), ["1"]);
    // The environment's limits apply to its component migrations.
    p.sql("2_ticks_table", "CREATE TABLE ticks (source TEXT);", None);
    p.component("3_tick", "tick");
    p.wasmig_bare(&[], &["up", "--env", "staging"])
        .fails()
        .says(&["3_tick.wasm", "fuel"]);
    p.wasmig(&["up"]).ok();
    assert_eq!(applied(&p), ["1", "2", "3"]);
    // A variable set neither in the environment nor in .env is named.
    fs::remove_file(p.root.path().join(".env")).unwrap();
    p.wasmig_bare(&[], &["status", "--env", "staging"])
        .fails()
        .says(&["WASMIG_TEST_STAGING_URL"]);
}

fn log_sql_echoes_every_statement_and_verbose_shows_debug_logs(engine: Engine) {
    let project = || {
        let p = Project::on(engine);
        p.sql("1_people", PEOPLE, Some("DROP TABLE people;"));
        p.component("2_backfill", "backfill_people");
        p
    };
    let run = project().wasmig(&["up", "--log-sql"]).ok();
    assert!(
        run.stderr.contains("[1] sql: CREATE TABLE people"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("[2] sql: SELECT id, first_name"),
        "{}",
        run.stderr
    );
    // Guest info lines show by default, not with -q or RUST_LOG=warn.
    project()
        .wasmig(&["up"])
        .ok()
        .says(&["backfilled 3 people"]);
    let quiet = project().wasmig(&["up", "-q"]).ok();
    assert!(!quiet.stderr.contains("backfilled"), "{}", quiet.stderr);
    let warn_only = project().wasmig_with(&[("RUST_LOG", "warn")], &["up"]).ok();
    assert!(
        !warn_only.stderr.contains("backfilled"),
        "{}",
        warn_only.stderr
    );
    let verbose = project()
        .wasmig_with(&[("RUST_LOG", "warn")], &["up", "-v"])
        .ok();
    assert!(verbose.stderr.contains("backfilled"), "{}", verbose.stderr);
}

fn out_of_order_migrations_are_refused_until_allowed(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    p.sql("3_c", "CREATE TABLE c (id INTEGER);", None);
    p.wasmig(&["up"]).ok();
    // A branch merged with an older migration.
    p.sql("2_b", "CREATE TABLE b (id INTEGER);", None);
    p.wasmig(&["up"]).fails().says(&[
        "2 (",
        "older than the newest applied one (3)",
        "branch",
        "--allow-out-of-order",
    ]);
    assert!(!p.db.has_table("b"));
    p.wasmig(&["up", "--allow-out-of-order"]).ok();
    assert_eq!(applied(&p), ["1", "2", "3"]);
}

fn down_to_is_exact_at_the_target(engine: Engine) {
    let p = Project::on(engine);
    for v in [10, 20, 30] {
        p.sql(
            &format!("{v}_t{v}"),
            &format!("CREATE TABLE t{v} (id INTEGER);"),
            Some(&format!("DROP TABLE t{v};")),
        );
    }
    p.wasmig(&["up"]).ok();
    // --to names the last migration that stays applied.
    p.wasmig(&["down", "--to", "20"]).ok();
    assert_eq!(applied(&p), ["10", "20"]);
    // A version between two migrations keeps the older one.
    p.wasmig(&["down", "--to", "15"]).ok();
    assert_eq!(applied(&p), ["10"]);
    p.wasmig(&["down", "--steps", "5"]).ok();
    assert!(applied(&p).is_empty());
}

fn the_library_migrates_with_the_same_ledger_as_the_cli(engine: Engine) {
    use wasmig::Migrator;
    use wasmig::backend::DatabaseUrl;
    use wasmig::planner::UpOptions;

    let p = Project::on(engine);
    p.sql("1_people", PEOPLE, Some("DROP TABLE people;"));
    p.component("2_backfill", "backfill_people");
    let url = DatabaseUrl::parse(&p.db.url()).unwrap();
    let migrator = Migrator::new(&p.migrations, url)
        .with_cache_dir(Some(support::test_cache()))
        .with_env("staging");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(migrator.up(&UpOptions::default()))
        .unwrap();
    let versions: Vec<i64> = report.migrations.iter().map(|m| m.version).collect();
    assert_eq!(versions, [1, 2]);
    // The CLI sees what the library did, and a second start-up does nothing.
    assert_eq!(p.wasmig(&["status", "--exit-code"]).code, 0);
    p.wasmig(&["history"]).ok().says(&["staging"]);
    let again = runtime
        .block_on(migrator.up(&UpOptions::default()))
        .unwrap();
    assert!(again.migrations.is_empty());
    assert_eq!(
        p.column("SELECT full_name FROM people WHERE id = 3"),
        ["Grace Hopper"]
    );
}

fn a_long_sql_migration_reports_progress_and_the_summary_counts_rows(engine: Engine) {
    let p = Project::on(engine);
    let mut script = String::from("CREATE TABLE n (i INTEGER);\n");
    for i in 0..59 {
        script.push_str(&format!("INSERT INTO n VALUES ({i});\n"));
    }
    p.sql("1_numbers", &script, Some("DROP TABLE n;"));
    // Not a terminal: progress comes as plain lines, the last one complete.
    let run = p.wasmig(&["up"]).ok();
    assert!(run.stderr.contains("[1] ["), "{}", run.stderr);
    assert!(run.stderr.contains("100% 60/60"), "{}", run.stderr);
    assert!(!run.stderr.contains('\r'), "{}", run.stderr);
    assert!(
        run.stdout.contains("applied 1 migration(s)") && run.stdout.contains("59 row(s) changed"),
        "{}",
        run.stdout
    );
    assert_eq!(p.column("SELECT COUNT(*) FROM n"), ["59"]);
}

fn embedded_migrations_run_with_the_checksums_of_their_files(engine: Engine) {
    use wasmig::Migrator;
    use wasmig::backend::DatabaseUrl;
    use wasmig::planner::UpOptions;

    let p = Project::on(engine);
    p.sql("1_people", PEOPLE, Some("DROP TABLE people;"));
    p.component("2_backfill", "backfill_people");
    // What an application would get from include_bytes!.
    let files: Vec<(String, Vec<u8>)> = fs::read_dir(&p.migrations)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let url = DatabaseUrl::parse(&p.db.url()).unwrap();
    let migrator = Migrator::embedded(&borrowed, url.clone())
        .unwrap()
        .with_cache_dir(Some(support::test_cache()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(migrator.up(&UpOptions::default()))
        .unwrap();
    assert_eq!(report.migrations.len(), 2);
    // The directory's files have the checksums the ledger recorded.
    assert_eq!(p.wasmig(&["status", "--exit-code"]).code, 0);
    let bad = Migrator::embedded(&[("../escape.sql", b"SELECT 1")], url);
    assert!(bad.is_err_and(|e| e.to_string().contains("relative")));
}

fn failed_and_missing_migrations_show_in_their_filters_and_fail_the_gate(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.sql("2_b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    p.wasmig(&["up"]).ok();
    // A migration whose file is gone.
    fs::remove_file(p.migrations.join("1_a.up.sql")).unwrap();
    fs::remove_file(p.migrations.join("1_a.down.sql")).unwrap();
    let missing = p.wasmig(&["status", "--missing", "--exit-code"]);
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(missing.stdout.contains("missing"), "{}", missing.stdout);
    assert!(!missing.stdout.contains(" b "), "{}", missing.stdout);
    // Pending work is refused while it is missing, unless told it is gone on purpose.
    p.sql("3_c", "CREATE TABLE c (id INTEGER);", None);
    p.wasmig(&["up"])
        .fails()
        .says(&["missing", "--ignore-missing"]);
    p.wasmig(&["up", "--ignore-missing"]).ok();
    assert!(p.db.has_table("c"));
    // A migration outside a transaction that fails half way is recorded failed.
    p.sql(
        "4_half",
        "-- no-transaction\nCREATE TABLE half (id INTEGER);\nINSERT INTO nowhere VALUES (1);",
        None,
    );
    p.wasmig(&["up", "--ignore-missing"]).fails();
    let failed = p.wasmig(&["status", "--failed", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    let listed = doc["migrations"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["version"], 4);
    assert_eq!(listed[0]["status"], "failed");
    assert_eq!(p.wasmig(&["status", "--exit-code"]).code, 4);
}

fn a_ledger_row_deleted_by_hand_lets_the_migration_apply_again(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", Some("DROP TABLE a;"));
    p.wasmig(&["up"]).ok();
    // What operators of other tools do to re-run a migration.
    p.db.apply_natively("DROP TABLE a;\nDELETE FROM wasmig_migrations;");
    p.wasmig(&["up"]).ok();
    assert!(p.db.has_table("a"));
    p.wasmig(&["down"]).ok();
    assert!(!p.db.has_table("a"));
}
