//! The core promises on the embedded SQLite, through the `wasmig` binary:
//! migrations apply, revert and report; every failure names the migration,
//! exits non-zero and leaves the database exactly as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use support::{Engine, Project, repo};

/// Runs the listed cases, each a `fn(Engine)`, on one engine.
macro_rules! on_engine {
    ($module:ident, $engine:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $case() {
                    super::$case($engine)
                }
            )*
        }
    };
}

const NOTES: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);";

/// A project with one applied migration (so the ledger exists) and a
/// snapshot of the database taken before the failing attempt.
fn applied_base(engine: Engine) -> (Project, String) {
    let p = Project::on(engine);
    p.sql("1_notes", NOTES, Some("DROP TABLE notes;"));
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    assert!(before.contains("wasmig_migrations"));
    (p, before)
}

// Every engine runs the same promises; the cases that need transactional
// DDL (a failed migration leaves no table behind) and the SQLite-flavoured
// sample project skip MySQL, where DDL commits implicitly.
macro_rules! suite {
    (every_engine: [$($all:ident),* $(,)?], transactional_ddl: [$($tx:ident),* $(,)?]) => {
        on_engine!(sqlite, Engine::Sqlite, [$($all,)* $($tx),*]);
        on_engine!(postgres, Engine::Postgres, [$($all,)* $($tx),*]);
        on_engine!(mysql, Engine::Mysql, [$($all),*]);
    };
}

suite!(
    every_engine: [
        a_lease_left_by_a_dead_runner_expires_and_a_live_one_is_waited_for,
        eight_concurrent_runners_with_a_lease_apply_every_migration_exactly_once,
        killed_runner_leaves_a_state_the_next_run_completes,
        half_applied_migration_is_recorded_failed_until_resolved,
        eight_concurrent_runners_apply_every_migration_exactly_once,
        up_to_applies_through_the_target_and_count_limits,
        down_to_reverts_everything_newer_and_keeps_the_target,
        irreversible_migration_is_not_reverted,
        guest_err_rolls_back_and_records_nothing,
        guest_panic_rolls_back_and_shows_the_panic_message,
        infinite_loop_is_stopped_by_fuel,
        memory_hog_is_stopped_by_the_memory_limit,
        commit_from_a_guest_is_refused_and_everything_rolls_back,
        edited_applied_migration_is_refused_naming_both_checksums,
        corrupt_component_is_refused_before_anything_runs,
        component_of_another_world_is_refused,
        every_value_type_round_trips_through_batch_query_and_cursor,
        bulk_helpers_insert_walk_and_update_every_row
    ],
    transactional_ddl: [
        failed_first_migration_leaves_a_fresh_database_empty,
        sample_project_applies_and_status_json_lists_every_migration,
        sample_down_two_then_up_round_trips_and_a_second_up_is_a_no_op,
        seed_migration_seeds_in_dev_only_and_reads_its_allowed_config_value
    ]
);

// ---- concurrent runners ----------------------------------------------------

fn eight_concurrent_runners_apply_every_migration_exactly_once(engine: Engine) {
    eight_concurrent_runners(engine, &["up", "-q"]);
}

fn eight_concurrent_runners_with_a_lease_apply_every_migration_exactly_once(engine: Engine) {
    eight_concurrent_runners(engine, &["up", "-q", "--lock", "lease"]);
}

fn eight_concurrent_runners(engine: Engine, args: &[&str]) {
    let p = Project::on(engine);
    p.sql("1_runs", "CREATE TABLE runs (n INTEGER NOT NULL);", None);
    for v in 2..=6 {
        p.sql(
            &format!("{v}_step"),
            &format!("CREATE TABLE t{v} (id INTEGER); INSERT INTO runs (n) VALUES ({v});"),
            None,
        );
    }
    p.component("7_typed", "typed_values");
    let runners: Vec<_> = (0..8).map(|_| p.spawn_wasmig(args)).collect();
    for runner in runners {
        let output = runner.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a runner failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        p.column("SELECT n FROM runs ORDER BY n"),
        ["2", "3", "4", "5", "6"]
    );
    assert_eq!(p.column("SELECT count(*) FROM wasmig_migrations"), ["7"]);
    // typed_values deletes all but the first 1001 rows while its cursor reads on.
    assert_eq!(p.column("SELECT count(*) FROM typed"), ["1001"]);
}

#[test]
fn a_runner_gives_up_after_the_lock_timeout_naming_the_flag() {
    let p = Project::new();
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    let lock_path = p.root.path().join("test.db.wasmig-lock");
    let holder = fs::File::create(&lock_path).unwrap();
    holder.lock().unwrap();
    p.wasmig(&["up", "--lock-timeout", "1"])
        .fails()
        .says(&["another wasmig run has held the lock", "--lock-timeout"]);
    holder.unlock().unwrap();
    p.wasmig(&["up"]).ok().says(&["applied 1 migration(s)"]);
}

// ---- crashes ----------------------------------------------------------------

fn killed_runner_leaves_a_state_the_next_run_completes(engine: Engine) {
    let setup = |p: &Project| {
        p.config("[env.dev]\nvars = { rows = \"20000\" }\n");
        p.sql(
            "1_big",
            "CREATE TABLE big (id BIGINT PRIMARY KEY, label VARCHAR(64) NOT NULL);",
            None,
        );
        p.component("2_fill", "slow_fill");
    };
    let summary = |p: &Project| {
        (
            p.column("SELECT count(*) FROM big"),
            p.column("SELECT sum(id) FROM big"),
            p.column("SELECT concat(version, ':', state, ':', checksum) FROM wasmig_migrations ORDER BY version"),
        )
    };

    let whole = Project::on(engine);
    setup(&whole);
    whole.wasmig(&["up"]).ok();

    let p = Project::on(engine);
    setup(&p);
    let mut runner = p.spawn_wasmig(&["up"]);
    let stderr = runner.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    // Kill it (SIGKILL) as soon as the long migration reports progress.
    loop {
        let line = lines
            .next()
            .expect("the runner ended before the migration reported progress")
            .unwrap();
        if line.contains("[2] ") && line.contains("/20000") {
            break;
        }
    }
    runner.kill().unwrap();
    let status = runner.wait().unwrap();
    assert!(
        !status.success(),
        "the runner finished before it was killed"
    );
    assert_eq!(
        p.column("SELECT count(*) FROM wasmig_migrations WHERE state = 'applied'"),
        ["1"],
        "only the first migration may be applied after the kill"
    );

    p.wasmig(&["up"]).ok().says(&["applied 1 migration(s)"]);
    assert_eq!(summary(&p).0, summary(&whole).0);
    assert_eq!(summary(&p).1, summary(&whole).1);
    let states = |s: Vec<String>| -> Vec<String> {
        s.into_iter()
            .map(|row| row.split(':').take(2).collect::<Vec<_>>().join(":"))
            .collect()
    };
    assert_eq!(states(summary(&p).2), ["1:applied", "2:applied"]);
    assert_eq!(summary(&p).2, summary(&whole).2, "checksums differ");
}

// ---- no-transaction migrations and the failed state ------------------------

/// Runs `wasmig up` and fails the test (instead of hanging) if it does not
/// finish within a minute.
fn up_within_a_minute(p: &Project) {
    let mut child = p.spawn_wasmig(&["up"]);
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            assert!(
                status.success(),
                "up failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("`wasmig up` did not finish within a minute: a deadlock?");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn create_index_concurrently_applies_while_wasmig_holds_its_lock() {
    let p = Project::on(Engine::Postgres);
    p.sql("1_notes", NOTES, None);
    p.sql(
        "2_notes_id_index",
        "-- wasmig:no-transaction\nCREATE INDEX CONCURRENTLY notes_id ON notes (id);",
        Some("-- wasmig:no-transaction\nDROP INDEX CONCURRENTLY notes_id;"),
    );
    p.component("3_notes_body_index", "concurrent_index");
    up_within_a_minute(&p);
    assert_eq!(
        p.column("SELECT indexname FROM pg_indexes WHERE tablename = 'notes' ORDER BY 1"),
        ["notes_body", "notes_id", "notes_pkey"]
    );
    assert_eq!(
        p.column("SELECT state FROM wasmig_migrations ORDER BY version"),
        ["applied", "applied", "applied"]
    );
    p.wasmig(&["down", "--to", "1"]).ok();
    assert_eq!(
        p.column("SELECT indexname FROM pg_indexes WHERE tablename = 'notes'"),
        ["notes_pkey"]
    );
}

fn half_applied_migration_is_recorded_failed_until_resolved(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_notes", NOTES, None);
    p.wasmig(&["up"]).ok();
    let broken = "-- wasmig:no-transaction\n\
                  CREATE TABLE extra (id INTEGER);\n\
                  INSERT INTO no_such_table VALUES (1);\n";
    fs::write(p.migrations.join("2_extra.sql"), broken).unwrap();
    p.wasmig(&["up"]).fails().says(&[
        "migration 2",
        "statement 2 of 2 failed",
        "without a transaction",
        "wasmig resolve 2 --as applied",
        "--as rolled-back",
    ]);
    assert!(p.db.has_table("extra"), "the first statement committed");
    let status = p.status_json();
    assert_eq!(status["migrations"][1]["status"], "failed");
    assert!(
        status["migrations"][1]["error"]
            .as_str()
            .unwrap()
            .contains("statement 2 of 2")
    );
    // Until the operator decides, nothing more runs.
    p.sql("3_more", "CREATE TABLE more (id INTEGER);", None);
    p.wasmig(&["up"])
        .fails()
        .says(&["failed part way", "wasmig resolve 2"]);
    assert!(!p.db.has_table("more"));

    // The operator undoes the partial change, fixes the file and resolves.
    p.db.column("DROP TABLE extra");
    fs::write(
        p.migrations.join("2_extra.sql"),
        "-- wasmig:no-transaction\nCREATE TABLE extra (id INTEGER);\n",
    )
    .unwrap();
    p.wasmig(&["resolve", "2", "--as", "rolled-back"])
        .ok()
        .says(&["rolled back"]);
    p.wasmig(&["up"]).ok().says(&["applied 2 migration(s)"]);
    assert!(p.db.has_table("extra") && p.db.has_table("more"));
    p.wasmig(&["resolve", "2", "--as", "applied"])
        .fails()
        .says(&["nothing to resolve"]);
}

#[test]
fn mysql_records_a_failure_after_ddl_as_failed_and_resolve_accepts_it() {
    let p = Project::on(Engine::Mysql);
    p.sql("1_notes", NOTES, None);
    p.sql(
        "2_half",
        "CREATE TABLE half (id INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        None,
    );
    p.wasmig(&["up"]).fails().says(&[
        "statement 2 of 2 failed",
        "MySQL commits DDL statements immediately",
        "wasmig resolve 2",
    ]);
    assert!(p.db.has_table("half"));
    assert_eq!(
        p.column("SELECT state FROM wasmig_migrations WHERE version = 2"),
        ["failed"]
    );
    p.wasmig(&["resolve", "2", "--as", "applied"]).ok();
    assert_eq!(p.status_json()["migrations"][1]["status"], "applied");
}

fn a_lease_left_by_a_dead_runner_expires_and_a_live_one_is_waited_for(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    p.db.column(
        "CREATE TABLE wasmig_lock (name VARCHAR(64) PRIMARY KEY, owner VARCHAR(255) NOT NULL, \
         expires_at BIGINT NOT NULL)",
    );
    // A live holder (expiring far in the future) makes the runner wait, then give up.
    p.db.column("INSERT INTO wasmig_lock VALUES ('run', 'other:1', 99999999999999)");
    p.wasmig(&["up", "--lock", "lease", "--lock-timeout", "1"])
        .fails()
        .says(&["wasmig_lock", "--lock-timeout"]);
    assert!(!p.db.has_table("a"));
    // A dead holder's lease (expired) is taken over.
    p.db.column("UPDATE wasmig_lock SET expires_at = 0");
    p.wasmig(&["up", "--lock", "lease"]).ok();
    assert!(p.db.has_table("a"));
    assert_eq!(p.column("SELECT count(*) FROM wasmig_lock"), ["0"]);
}

// ---- the sample project -------------------------------------------------

fn sample_project_applies_and_status_json_lists_every_migration(engine: Engine) {
    let p = Project::on(engine);
    let sample = repo().join("migrations");
    p.wasmig_on(&sample, &["up"]).ok();

    let run = p.wasmig_on(&sample, &["status", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let migrations = doc["migrations"].as_array().unwrap();
    let kinds: Vec<(i64, &str)> = migrations
        .iter()
        .map(|m| (m["version"].as_i64().unwrap(), m["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, "sql"),
            (2, "sql"),
            (3, "sql"),
            (4, "sql"),
            (5, "component"),
            (6, "component"),
            (7, "component")
        ]
    );
    for m in migrations {
        assert_eq!(m["status"], "applied", "{m}");
        assert_eq!(m["checksum"].as_str().unwrap().len(), 64, "{m}");
        assert!(m["applied_at"].is_string(), "{m}");
        assert_eq!(m["checksum"], m["file_checksum"]);
    }
    // The backfill ran after the seed: every demo user has a name, and the
    // one without a last name got just the first name.
    assert_eq!(
        p.column("SELECT full_name FROM users ORDER BY id"),
        [
            "Ada Lovelace",
            "Grace Hopper",
            "Alan",
            "Edsger Dijkstra",
            "Barbara Liskov"
        ]
    );
}

fn sample_down_two_then_up_round_trips_and_a_second_up_is_a_no_op(engine: Engine) {
    let p = Project::on(engine);
    let sample = repo().join("migrations");
    p.wasmig_on(&sample, &["up"]).ok();
    const USERS: &str = "SELECT id || ' ' || email || ' ' || coalesce(full_name, '-') FROM users";
    const LEDGER: &str = "SELECT version || ' ' || kind || ' ' || checksum FROM wasmig_migrations";
    let applied_users = p.column(USERS);
    let applied_ledger = p.column(LEDGER);
    assert_eq!(applied_users.len(), 5);
    assert_eq!(applied_ledger.len(), 7);
    assert!(p.db.has_table("orders"));

    // 7 has no `down`: its builder operations are reverted from what was
    // recorded.
    p.wasmig_on(&sample, &["down", "--steps", "3"])
        .ok()
        .says(&["reverted 3 migration(s)"]);
    assert!(!p.db.has_table("orders"));
    assert_eq!(p.column("SELECT count(*) FROM users"), ["0"]);
    assert_eq!(
        p.column("SELECT version FROM wasmig_migrations ORDER BY version"),
        ["1", "2", "3", "4"]
    );

    p.wasmig_on(&sample, &["up"])
        .ok()
        .says(&["applied 3 migration(s)"]);
    assert_eq!(p.column(USERS), applied_users);
    assert_eq!(p.column(LEDGER), applied_ledger);

    let before = p.dump();
    p.wasmig_on(&sample, &["up"]).ok().says(&["nothing to do"]);
    assert_eq!(p.dump(), before);
}

fn seed_migration_seeds_in_dev_only_and_reads_its_allowed_config_value(engine: Engine) {
    let sample = repo().join("migrations");

    let prod = Project::on(engine);
    prod.wasmig_on(&sample, &["up", "--env", "prod"]).ok();
    assert_eq!(prod.column("SELECT count(*) FROM users"), ["0"]);
    assert_eq!(
        prod.column("SELECT DISTINCT environment FROM wasmig_migrations"),
        ["prod"]
    );

    let dev = Project::on(engine);
    dev.config("[env.dev]\nvars = { demo_users = \"3\" }\n");
    dev.wasmig_on(&sample, &["--env", "dev", "up"])
        .ok()
        .says(&["seeded 3 demo users"]);
    assert_eq!(dev.column("SELECT count(*) FROM users"), ["3"]);
}

#[test]
fn rebuilding_an_unchanged_crate_keeps_its_checksum() {
    let p = Project::new();
    let sample = repo().join("migrations");
    let crate_dir = sample.join("0006_backfill_full_name");
    let artifact = crate_dir.join("migration.wasm");
    p.wasmig_on(&sample, &["build", "--force"]).ok();
    let first = fs::read(&artifact).unwrap();
    // Unchanged sources: nothing is rebuilt.
    p.wasmig_on(&sample, &["build"])
        .ok()
        .says(&["every guest crate is up to date"]);
    // A real recompilation (the source's timestamp moved, not its content)
    // gives the same bytes.
    let source = crate_dir.join("src/lib.rs");
    let file = fs::File::options().write(true).open(&source).unwrap();
    file.set_modified(std::time::SystemTime::now()).unwrap();
    p.wasmig_on(&sample, &["build", "--force"]).ok();
    assert_eq!(
        fs::read(&artifact).unwrap(),
        first,
        "a rebuild changed the bytes"
    );
}

// ---- targets ------------------------------------------------------------

fn four_tables(engine: Engine) -> Project {
    let p = Project::on(engine);
    for v in 1..=4 {
        p.sql(
            &format!("{v}_t{v}"),
            &format!("CREATE TABLE t{v} (id INTEGER);"),
            Some(&format!("DROP TABLE t{v};")),
        );
    }
    p
}

fn applied_versions(p: &Project) -> Vec<String> {
    p.column("SELECT version FROM wasmig_migrations ORDER BY version")
}

fn up_to_applies_through_the_target_and_count_limits(engine: Engine) {
    let p = four_tables(engine);
    p.wasmig(&["up", "--to", "2"]).ok();
    assert_eq!(applied_versions(&p), ["1", "2"]);
    p.wasmig(&["up", "--count", "1"]).ok();
    assert_eq!(applied_versions(&p), ["1", "2", "3"]);
    p.wasmig(&["up"]).ok();
    assert_eq!(applied_versions(&p), ["1", "2", "3", "4"]);
}

fn down_to_reverts_everything_newer_and_keeps_the_target(engine: Engine) {
    let p = four_tables(engine);
    p.wasmig(&["up"]).ok();
    p.wasmig(&["down", "--to", "2"]).ok();
    assert_eq!(applied_versions(&p), ["1", "2"]);
    assert!(!p.db.has_table("t3"));
    assert!(p.db.has_table("t2"));
    p.wasmig(&["down", "--to", "2"])
        .ok()
        .says(&["nothing to do"]);
    p.wasmig(&["down"]).ok();
    assert_eq!(applied_versions(&p), ["1"]);
    p.wasmig(&["down", "--to", "0"]).ok();
    assert!(applied_versions(&p).is_empty());
}

fn irreversible_migration_is_not_reverted(engine: Engine) {
    let p = Project::on(engine);
    p.sql("1_a", "CREATE TABLE a (id INTEGER);", None);
    p.sql("2_b", "CREATE TABLE b (id INTEGER);", Some("DROP TABLE b;"));
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    p.wasmig(&["down", "--steps", "2"]).fails().says(&[
        "1_a.sql",
        "irreversible",
        "wasmig down --to 1",
    ]);
    assert_eq!(p.dump(), before);
}

// ---- failures leave nothing behind ----------------------------------------

fn guest_err_rolls_back_and_records_nothing(engine: Engine) {
    let (p, before) = applied_base(engine);
    p.component("2_give_up", "guest_err");
    p.wasmig(&["up"]).fails().says(&[
        "migration 2",
        "2_give_up.wasm",
        "refusing to continue: the data does not look right",
        "nothing was applied",
    ]);
    assert_eq!(p.dump(), before);
}

fn guest_panic_rolls_back_and_shows_the_panic_message(engine: Engine) {
    let (p, before) = applied_base(engine);
    p.component("2_panics", "guest_panic");
    p.wasmig(&["up"]).fails().says(&[
        "migration 2",
        "2_panics.wasm",
        "boom: invariant violated after 1 rows",
        "nothing was applied",
    ]);
    assert_eq!(p.dump(), before);
}

fn infinite_loop_is_stopped_by_fuel(engine: Engine) {
    let (p, before) = applied_base(engine);
    p.config("[limits]\nfuel = 50_000_000\n");
    p.component("2_spins", "infinite_loop");
    p.wasmig(&["up"]).fails().says(&[
        "migration 2",
        "2_spins.wasm",
        "CPU budget of 50000000 fuel units",
        "raise `fuel` under [limits]",
    ]);
    assert_eq!(p.dump(), before);
}

fn memory_hog_is_stopped_by_the_memory_limit(engine: Engine) {
    let (p, before) = applied_base(engine);
    p.config("[limits]\nmemory_mb = 64\n");
    p.component("2_hoards", "memory_hog");
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "memory limit of 64 MiB", "memory_mb"]);
    assert_eq!(p.dump(), before);
}

fn commit_from_a_guest_is_refused_and_everything_rolls_back(engine: Engine) {
    let (p, before) = applied_base(engine);
    p.component("2_commits", "commit_midway");
    p.wasmig(&["up"]).fails().says(&[
        "migration 2",
        "`COMMIT` is not allowed in a migration",
        "nothing was applied",
    ]);
    assert_eq!(p.dump(), before);
}

fn edited_applied_migration_is_refused_naming_both_checksums(engine: Engine) {
    let (p, _) = applied_base(engine);
    p.sql("2_more", "CREATE TABLE more (id INTEGER);", None);
    let original = sha256(NOTES);
    fs::write(
        p.migrations.join("1_notes.up.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
    )
    .unwrap();
    let edited = sha256("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);");
    let before = p.dump();
    p.wasmig(&["up"]).fails().says(&[
        "1_notes.up.sql",
        "changed after it was applied",
        &original,
        &edited,
        "git checkout",
    ]);
    assert_eq!(p.dump(), before);
    let status = p.status_json();
    assert_eq!(status["migrations"][0]["status"], "changed");
    assert_eq!(status["migrations"][1]["status"], "pending");
}

#[test]
fn duplicate_version_is_refused_naming_both_files() {
    let (p, before) = applied_base(Engine::Sqlite);
    p.sql("2_left", "CREATE TABLE l (id INTEGER);", None);
    p.sql("002_right", "CREATE TABLE r (id INTEGER);", None);
    p.wasmig(&["up"])
        .fails()
        .says(&["version 2 is used twice", "002_right.sql", "2_left.sql"]);
    assert_eq!(p.dump(), before);
}

#[test]
fn unknown_file_in_the_directory_is_refused() {
    let (p, before) = applied_base(Engine::Sqlite);
    fs::write(p.migrations.join("2-typo.sql"), "SELECT 1;").unwrap();
    p.wasmig(&["up"]).fails().says(&[
        "2-typo.sql",
        "is not a migration",
        "<version>_<name>.up.sql",
    ]);
    assert_eq!(p.dump(), before);
}

#[test]
fn unreadable_sql_is_refused_naming_the_file() {
    let (p, before) = applied_base(Engine::Sqlite);
    fs::write(
        p.migrations.join("2_latin1.sql"),
        b"INSERT INTO notes (body) VALUES ('caf\xe9');",
    )
    .unwrap();
    p.wasmig(&["up"])
        .fails()
        .says(&["2_latin1.sql", "not valid UTF-8"]);
    assert_eq!(p.dump(), before);
    fs::remove_file(p.migrations.join("2_latin1.sql")).unwrap();
    fs::create_dir(p.migrations.join("3_not_a_crate")).unwrap();
    p.wasmig(&["up"])
        .fails()
        .says(&["3_not_a_crate", "has no Cargo.toml, migration.py or up.sql"]);
    assert_eq!(p.dump(), before);
}

fn corrupt_component_is_refused_before_anything_runs(engine: Engine) {
    let (p, before) = applied_base(engine);
    p.sql("2_fine", "CREATE TABLE fine (id INTEGER);", None);
    let mut bytes = fs::read(support::fixture("typed_values")).unwrap();
    bytes.truncate(bytes.len() / 2);
    fs::write(p.migrations.join("3_truncated.wasm"), bytes).unwrap();
    fs::write(p.migrations.join("4_not_wasm.wasm"), b"definitely not wasm").unwrap();
    p.wasmig(&["up"])
        .fails()
        .says(&["3_truncated.wasm", "not a valid component"]);
    // The valid SQL migration before it did not run either.
    assert_eq!(p.dump(), before);
    fs::remove_file(p.migrations.join("3_truncated.wasm")).unwrap();
    p.wasmig(&["up"])
        .fails()
        .says(&["4_not_wasm.wasm", "not a WebAssembly file"]);
    assert_eq!(p.dump(), before);
}

fn component_of_another_world_is_refused(engine: Engine) {
    let (p, before) = applied_base(engine);
    p.component("2_command", "wrong_world");
    p.wasmig(&["up"]).fails().says(&[
        "2_command.wasm",
        "does not export up and down",
        "wasi:cli/run",
        "wasmig:migration/migration@0.1.1",
    ]);
    assert_eq!(p.dump(), before);
}

fn failed_first_migration_leaves_a_fresh_database_empty(engine: Engine) {
    let p = Project::on(engine);
    let before = p.dump();
    p.sql(
        "1_broken",
        "CREATE TABLE ok (id INTEGER); THIS IS NOT SQL;",
        None,
    );
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 1", "1_broken.sql", "syntax error"]);
    assert_eq!(p.dump(), before);
}

// ---- the guest's view -------------------------------------------------------

fn every_value_type_round_trips_through_batch_query_and_cursor(engine: Engine) {
    let p = Project::on(engine);
    p.component("1_typed", "typed_values");
    let run = p
        .wasmig(&["up"])
        .ok()
        .says(&["typed values ok: 2500 rows in 3 batches"]);
    match engine {
        Engine::Postgres => {
            run.says(&["misfit refused", "parameter $2 (UUID)", "not-a-uuid"]);
        }
        Engine::Mysql => {
            run.says(&["misfit refused", "Incorrect", "`id`"]);
        }
        Engine::Sqlite => {}
    }
    p.wasmig(&["down"]).ok();
    assert!(!p.db.has_table("typed"));
}

fn bulk_helpers_insert_walk_and_update_every_row(engine: Engine) {
    let p = Project::on(engine);
    p.component("1_bulk", "bulk_rows");
    // The guest reads every row back and compares it with what it wrote.
    p.wasmig(&["up"])
        .ok()
        .says(&["bulk: inserted 2500, updated 2500 in 3 batches, verified 2500"]);
    let full_name = |id: i64| {
        p.column(&format!("SELECT full_name FROM people WHERE id = {id}"))
            .pop()
            .unwrap()
    };
    assert_eq!(full_name(5), "O'Brien \"5\" L5");
    assert_eq!(full_name(7), "Zoë 東京 7 L7");
    assert_eq!(full_name(8), "L8");
    assert_eq!(
        p.column("SELECT count(*) FROM people WHERE first_name IS NULL"),
        ["500"]
    );
    assert_eq!(
        p.column("SELECT count(*) FROM people WHERE full_name IS NULL OR name_length IS NULL"),
        ["0"]
    );
    p.wasmig(&["down"]).ok();
    assert!(!p.db.has_table("people"));
}

// ---- scaffolding ------------------------------------------------------------

#[test]
fn new_creates_numbered_sql_and_rust_migrations_that_validate_reports() {
    let p = Project::new();
    p.sql(
        "0001_first",
        "CREATE TABLE first (id INTEGER);",
        Some("DROP TABLE first;"),
    );
    p.wasmig(&["new", "add_things"])
        .ok()
        .says(&["0002_add_things.up.sql"]);
    assert!(p.migrations.join("0002_add_things.down.sql").exists());
    p.wasmig(&["new", "fill_things", "--rust"])
        .ok()
        .says(&["0003_fill_things"]);
    let manifest = fs::read_to_string(p.migrations.join("0003_fill_things/Cargo.toml")).unwrap();
    assert!(manifest.contains("cdylib") && manifest.contains("wasmig-guest"));
    assert!(
        fs::read_to_string(p.migrations.join("Cargo.toml"))
            .unwrap()
            .contains("[workspace]")
    );
    p.wasmig(&["validate"])
        .fails()
        .says(&["0003_fill_things", "run `wasmig build`"]);
    p.wasmig(&["new", "bad name!"])
        .fails()
        .says(&["not a valid migration name"]);
}

#[test]
fn every_command_has_help() {
    let p = Project::new();
    for (command, flags) in [
        ("new", &["--rust", "--python"][..]),
        ("build", &["--force"]),
        (
            "up",
            &[
                "--to",
                "--count",
                "--allow-out-of-order",
                "--dry-run",
                "--expect-plan",
            ],
        ),
        ("plan", &["--format", "--to"]),
        ("down", &["--steps", "--to"]),
        (
            "status",
            &[
                "--applied",
                "--pending",
                "--failed",
                "--missing",
                "--changed",
                "--exit-code",
                "--format",
            ],
        ),
        ("history", &["--migration", "--format"]),
        ("validate", &[]),
        ("resolve", &["--as"]),
        ("repair", &["--yes"]),
        ("reset", &["--yes"]),
        ("baseline", &[]),
        ("inspect", &[]),
    ] {
        let run = p.wasmig(&[command, "--help"]).ok();
        for flag in flags.iter().chain(&[
            "--database-url",
            "--env",
            "--log-sql",
            "--verbose",
            "--quiet",
        ]) {
            assert!(
                run.stdout.contains(flag),
                "{command} {flag}: {}",
                run.stdout
            );
        }
    }
}

fn sha256(text: &str) -> String {
    wasmig::source::sha256_hex(text.as_bytes())
}
