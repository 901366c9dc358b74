//! Untrusted migrations: each adversarial component ends with an error that
//! names the migration and the rule it broke, a non-zero exit, and the
//! database exactly as it was; a well-behaved third-party migration under a
//! narrow policy applies; the statements digest proves determinism.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Engine, Project};

/// The tables every case starts from: the product's own `notes`, and the
/// `acme_*` tables the third party may use.
const TABLES: &str = "\
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
INSERT INTO notes (id, body) VALUES (1, 'the product''s own row');
CREATE TABLE acme_items (id INTEGER PRIMARY KEY, label TEXT);
INSERT INTO acme_items (id, label) VALUES (1, 'first'), (2, 'second');
CREATE TABLE acme_stats (region TEXT NOT NULL, items INTEGER NOT NULL);
";

/// The policy third-party (`*_acme_*`) migrations run under.
fn acme_config(vars: &str) -> String {
    format!(
        r#"
[env.dev]
vars = {{ {vars} }}

[[policy]]
name = "acme"
paths = ["*_acme_*"]
statements = ["select", "insert", "update"]
tables = ["acme_*"]
env_vars = ["attack", "region"]
limits = {{ fuel = 500_000_000, memory_mb = 64, timeout = "4s", rows_per_call = 10_000, log_kb = 256 }}
"#
    )
}

/// Applies the base tables, snapshots the database, then runs the
/// adversary with `attack` and checks the outcome.
fn attack(engine: Engine, attack: &str, says: &[&str]) {
    let p = Project::on(engine);
    p.config(&acme_config(&format!(
        "attack = \"{attack}\", secret_token = \"s3cret\""
    )));
    p.sql("1_tables", TABLES, None);
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    p.component("2_acme_adversary", "adversary");
    let run = p.wasmig(&["up"]).fails();
    run.says(&[
        "migration 2",
        "2_acme_adversary.wasm",
        "nothing was applied",
    ])
    .says(says);
    assert_eq!(
        p.dump(),
        before,
        "the attack `{attack}` changed the database"
    );
}

macro_rules! attacks {
    ($($engine:ident: $kind:expr;)*) => {
        $(
            mod $engine {
                use super::*;

                #[test]
                fn an_endless_loop_runs_out_of_fuel() {
                    attack($kind, "loop", &["CPU budget of 500000000 fuel", "`fuel`"]);
                }

                #[test]
                fn unbounded_recursion_is_stopped() {
                    attack($kind, "recursion", &["stack overflowing", "unbounded recursion"]);
                }

                #[test]
                fn allocating_without_end_hits_the_memory_limit() {
                    attack($kind, "alloc", &["memory limit of 64 MiB", "`memory_mb`"]);
                }

                #[test]
                fn reading_etc_passwd_is_stopped() {
                    attack($kind, "read_passwd", &["open a file", "rule: no file system"]);
                }

                #[test]
                fn listing_the_root_directory_is_stopped() {
                    attack($kind, "list_root", &["open a file", "rule: no file system"]);
                }

                #[test]
                fn opening_a_tcp_socket_is_stopped() {
                    attack($kind, "tcp", &["open a TCP socket", "rule: no network"]);
                }

                #[test]
                fn a_udp_socket_is_stopped() {
                    attack($kind, "udp", &["open a UDP socket", "rule: no network"]);
                }

                #[test]
                fn a_name_lookup_is_stopped() {
                    attack($kind, "lookup", &["look up a host name", "rule: no network"]);
                }

                #[test]
                fn environment_variables_are_empty_and_the_failure_says_why() {
                    attack(
                        $kind,
                        "env_vars",
                        &["DATABASE_URL", "read the process environment", "env.var"],
                    );
                }

                #[test]
                fn reading_a_config_key_outside_the_policy_is_refused() {
                    attack(
                        $kind,
                        "config_key",
                        &["`secret_token`", "rule: env_vars of policy \"acme\""],
                    );
                }

                #[test]
                fn drop_table_is_refused_by_the_statement_rule() {
                    attack(
                        $kind,
                        "drop",
                        &["`drop` statement", "rule: statements of policy \"acme\""],
                    );
                }

                #[test]
                fn a_delete_disguised_by_a_cte_is_refused() {
                    attack(
                        $kind,
                        "delete_via_cte",
                        &["`delete` statement", "rule: statements of policy \"acme\""],
                    );
                }

                #[test]
                fn an_update_inside_a_cte_is_refused_by_the_table_rule() {
                    attack(
                        $kind,
                        "update_in_cte",
                        &["table `notes`", "rule: tables of policy \"acme\""],
                    );
                }

                #[test]
                fn the_second_statement_of_a_script_is_checked() {
                    attack(
                        $kind,
                        "multi_statement",
                        &["`delete` statement", "rule: statements of policy \"acme\""],
                    );
                }

                #[test]
                fn a_quoted_table_name_is_the_same_table() {
                    attack(
                        $kind,
                        "quoted_name",
                        &["table `notes`", "rule: tables of policy \"acme\""],
                    );
                }

                #[test]
                fn a_schema_qualified_table_name_is_the_same_table() {
                    attack(
                        $kind,
                        "qualified_name",
                        &[".notes`", "rule: tables of policy \"acme\""],
                    );
                }

                #[test]
                fn commit_mid_migration_is_refused() {
                    attack(
                        $kind,
                        "commit",
                        &["`COMMIT` is not allowed", "rule: transactions belong to the host"],
                    );
                }

                #[test]
                fn a_huge_result_set_is_cut_off_at_the_row_limit() {
                    attack($kind, "huge_result", &["10000 rows", "`rows_per_call`"]);
                }

                #[test]
                fn logging_without_end_hits_the_log_limit() {
                    attack($kind, "log_flood", &["log limit of 256 KiB", "`log_kb`"]);
                }

                #[test]
                fn printing_without_end_hits_the_log_limit() {
                    attack($kind, "stdout_flood", &["log limit of 256 KiB", "stdout or stderr"]);
                }

                #[test]
                fn a_trap_after_writing_rows_rolls_them_back() {
                    attack($kind, "trap_after_write", &["trapped"]);
                }

                #[test]
                fn a_statement_that_outlives_the_timeout_is_stopped() {
                    attack($kind, "slow_query", &["time limit of 4s", "`timeout`"]);
                }

                #[test]
                fn a_well_behaved_third_party_migration_applies_under_its_policy() {
                    well_behaved_plugin_applies($kind);
                }

                #[test]
                fn a_third_party_sql_migration_is_checked_before_it_runs() {
                    third_party_sql_is_checked($kind);
                }

                #[test]
                fn the_statements_digest_is_the_same_for_the_same_database_state() {
                    digest_is_deterministic($kind);
                }
            }
        )*
    };
}

attacks! {
    sqlite: Engine::Sqlite;
    postgres: Engine::Postgres;
    mysql: Engine::Mysql;
}

fn well_behaved_plugin_applies(engine: Engine) {
    let p = Project::on(engine);
    p.config(&acme_config("region = \"eu\""));
    p.sql("1_tables", TABLES, None);
    p.component("2_acme_plugin", "acme_plugin");
    p.wasmig(&["up"]).ok().says(&["acme: labelled 2 items"]);
    assert_eq!(
        p.column("SELECT label FROM acme_items ORDER BY id"),
        ["first (eu)", "second (eu)"]
    );
    assert_eq!(p.column("SELECT region FROM acme_stats"), ["eu"]);
    assert_eq!(
        p.column("SELECT body FROM notes"),
        ["the product's own row"]
    );
    let status = p.status_json();
    let digest = status["migrations"][1]["statements_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(digest.len(), 64, "{digest}");
}

fn third_party_sql_is_checked(engine: Engine) {
    let p = Project::on(engine);
    p.config(&acme_config("region = \"eu\""));
    p.sql("1_tables", TABLES, None);
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    p.sql(
        "2_acme_cleanup",
        "UPDATE acme_items SET label = 'x';\nUPDATE notes SET body = 'pwned';",
        None,
    );
    p.wasmig(&["up"]).fails().says(&[
        "migration 2",
        "2_acme_cleanup.sql",
        "table `notes`",
        "rule: tables of policy \"acme\"",
    ]);
    assert_eq!(p.dump(), before);
}

/// Applies the probe on a database whose `probe_seed` holds `seeds` rows
/// and returns its statements digest.
fn probe_digest(engine: Engine, seeds: usize) -> String {
    let p = Project::on(engine);
    p.config("[env.staging]\nvars = { greeting = \"hello\" }\n");
    let rows: Vec<String> = (1..=seeds).map(|i| format!("({i})")).collect();
    p.sql(
        "1_seed",
        &format!(
            "CREATE TABLE probe_seed (id INTEGER PRIMARY KEY);\n\
             INSERT INTO probe_seed (id) VALUES {};",
            rows.join(", ")
        ),
        None,
    );
    p.component("20240501123000_probe", "sandbox_probe");
    p.wasmig(&["--env", "staging", "up"])
        .ok()
        .says(&["hello from the guest's stdout"]);
    let fact = |key: &str| {
        p.column(&format!("SELECT value FROM probe WHERE name = '{key}'"))
            .pop()
            .unwrap()
    };
    assert_eq!(fact("env_vars"), "0");
    assert_eq!(fact("args"), "0");
    assert_eq!(fact("unix_time"), "1714566600");
    assert_eq!(fact("monotonic_step_ns"), "1000");
    assert_eq!(fact("env_name"), "staging");
    assert_eq!(fact("allowed_var"), "hello");
    assert_eq!(fact("other_var"), "<none>");
    assert_eq!(fact("seeded"), seeds.to_string());
    let status = p.status_json();
    status["migrations"][1]["statements_digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn digest_is_deterministic(engine: Engine) {
    // The probe reads the clock, asks for random numbers, iterates a
    // HashMap and writes all of it: two fresh databases in the same state
    // see the same statements.
    let first = probe_digest(engine, 3);
    let second = probe_digest(engine, 3);
    assert_eq!(first, second);
    // A different database state makes a different digest.
    assert_ne!(probe_digest(engine, 4), first);
}

#[test]
fn policies_attach_by_version_and_an_unparsable_statement_is_refused() {
    let p = Project::new();
    p.config(
        r#"
[[policy]]
name = "strict"
versions = ["2..2"]
statements = ["insert"]
"#,
    );
    p.sql("1_tables", TABLES, None);
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    p.sql(
        "2_odd",
        "INSERT INTO acme_items VALUES (5, 'x');\nTHIS IS NOT SQL;",
        None,
    );
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "cannot be parsed", "policy \"strict\""]);
    assert_eq!(p.dump(), before);
}

#[test]
fn inspect_shows_what_a_component_is_and_the_sandbox_it_would_run_in() {
    let p = Project::new();
    p.config(&acme_config("region = \"eu\""));
    p.component("2_acme_plugin", "acme_plugin");
    let checksum = {
        use sha2::Digest;
        let bytes = std::fs::read(p.migrations.join("2_acme_plugin.wasm")).unwrap();
        hex::encode(sha2::Sha256::digest(bytes))
    };
    p.wasmig(&["inspect", "2"]).ok().says(&[
        "wasmig:migration/migration@0.1.1",
        "wasmig:migration/db@0.1.1",
        "exports: down, up",
        &checksum,
        "policy: acme",
        "statements: select, insert, update",
        "tables: acme_*",
        "env_vars: attack, region",
        "fuel: 500000000",
        "timeout: 4s",
    ]);
    let path = p.migrations.join("2_acme_plugin.wasm");
    p.wasmig(&["inspect", path.to_str().unwrap()])
        .ok()
        .says(&[&checksum, "policy: acme"]);
    p.wasmig(&["inspect", "7"])
        .fails()
        .says(&["no migration 7"]);
}

/// A PostgreSQL role for one test, dropped with it.
struct Role<'a> {
    name: String,
    project: &'a Project,
}

impl Drop for Role<'_> {
    fn drop(&mut self) {
        self.project.db.psql_here(&format!(
            "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{0}') THEN \
             EXECUTE 'DROP OWNED BY {0}'; END IF; END $$; DROP ROLE IF EXISTS {0}",
            self.name
        ));
    }
}

#[test]
fn on_postgres_a_policy_role_lets_the_database_enforce_privileges_too() {
    let p = Project::on(Engine::Postgres);
    let role = Role {
        name: format!("{}_acme", p.db.name()),
        project: &p,
    };
    p.sql("1_tables", TABLES, None);
    p.wasmig(&["up"]).ok();
    p.db.psql_here(&format!(
        "CREATE ROLE {0} NOLOGIN; \
         GRANT SELECT, INSERT, UPDATE ON acme_items, acme_stats TO {0}",
        role.name
    ));
    // No statement or table rules: only the role stands between the
    // migration and `notes`, and PostgreSQL refuses.
    p.config(&format!(
        "[env.dev]\nvars = {{ attack = \"update_in_cte\", region = \"eu\" }}\n\
         [[policy]]\nname = \"acme\"\npaths = [\"*_acme_*\"]\nrole = \"{}\"\n",
        role.name
    ));
    let before = p.dump();
    p.component("2_acme_adversary", "adversary");
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "permission denied for table notes"]);
    assert_eq!(p.dump(), before);
    // The well-behaved plugin runs as the role and its ledger row is still
    // written by wasmig's own user.
    std::fs::remove_file(p.migrations.join("2_acme_adversary.wasm")).unwrap();
    p.component("2_acme_plugin", "acme_plugin");
    p.wasmig(&["up"]).ok().says(&["acme: labelled 2 items"]);
    assert_eq!(p.column("SELECT count(*) FROM wasmig_migrations"), ["2"]);
    drop(role);
}

#[test]
fn a_vendor_directory_runs_under_its_own_policy() {
    let p = Project::new();
    let vendor = p.root.path().join("vendor/acme");
    std::fs::create_dir_all(&vendor).unwrap();
    p.config(
        r#"
[env.dev]
vars = { attack = "update_in_cte", region = "eu" }

[[policy]]
name = "vendor"
paths = ["vendor/**"]
statements = ["select", "insert", "update"]
tables = ["acme_*"]
"#,
    );
    p.sql("1_tables", TABLES, None);
    let vendor_arg = vendor.to_str().unwrap();
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    std::fs::copy(support::fixture("adversary"), vendor.join("2_sync.wasm")).unwrap();
    p.wasmig(&["--dir", vendor_arg, "up"]).fails().says(&[
        "migration 2",
        "vendor/acme/2_sync.wasm",
        "rule: tables of policy \"vendor\"",
    ]);
    assert_eq!(p.dump(), before);
    std::fs::copy(support::fixture("acme_plugin"), vendor.join("2_sync.wasm")).unwrap();
    p.wasmig(&["--dir", vendor_arg, "up"]).ok();
    let status = p.status_json();
    // Without the vendor directory, its applied migration is missing.
    assert_eq!(status["migrations"][1]["status"], "missing");
    let run = p
        .wasmig(&["--dir", vendor_arg, "status", "--format", "json"])
        .ok();
    let both: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(both["migrations"][1]["status"], "applied");
    assert_eq!(both["migrations"][1]["name"], "sync");
}

#[test]
fn the_total_row_limit_counts_every_read_of_a_run() {
    let p = Project::new();
    // The plugin reads the two items through a cursor, then one row of
    // count(*): three rows in all.
    p.config(&acme_config("region = \"eu\"").replace(
        "rows_per_call = 10_000",
        "rows_per_call = 10_000, rows_total = 2",
    ));
    p.sql("1_tables", TABLES, None);
    p.wasmig(&["up"]).ok();
    let before = p.dump();
    p.component("2_acme_plugin", "acme_plugin");
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "2 rows in all", "`rows_total`"]);
    assert_eq!(p.dump(), before);
}
