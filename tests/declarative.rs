//! Declarative migrations as a user meets them: the scaffold, the plan,
//! policies on the rendered SQL, bad files refused before anything runs,
//! what cannot be reverted said up front, and a revert after the file is
//! gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use support::{Engine, Project};

const USERS: &str = r#"
[[op]]
op = "create_table"
table = "users"
columns = [
  { name = "id", type = "bigint", identity = true, primary_key = true },
  { name = "email", type = "string(255)", nullable = false },
]
"#;

fn schema_file(p: &Project, stem: &str, text: &str) {
    fs::write(p.migrations.join(format!("{stem}.schema.toml")), text).unwrap();
}

#[test]
fn new_schema_scaffolds_a_file_that_applies_and_reverts() {
    let p = Project::new();
    p.wasmig(&["new", "add_example", "--schema"])
        .ok()
        .says(&["_add_example.schema.toml"]);
    p.wasmig(&["up"]).ok();
    assert!(p.db.has_table("example"));
    p.wasmig(&["down"]).ok();
    assert!(!p.db.has_table("example"));
}

#[test]
fn plan_shows_the_rendered_statements_for_each_engine() {
    for (engine, spelling) in [
        (Engine::Sqlite, "\"email\" VARCHAR(255) NOT NULL"),
        (
            Engine::Postgres,
            "\"email\" character varying(255) NOT NULL",
        ),
        (Engine::Mysql, "`email` varchar(255) NOT NULL"),
    ] {
        let p = Project::on(engine);
        schema_file(&p, "0001_users", USERS);
        p.wasmig(&["plan"]).ok().says(&["CREATE TABLE", spelling]);
        assert!(
            !p.db.has_table("users"),
            "plan applied nothing on {engine:?}"
        );
    }
}

#[test]
fn a_file_that_cannot_work_fails_before_anything_runs() {
    for engine in [Engine::Sqlite, Engine::Postgres, Engine::Mysql] {
        let p = Project::on(engine);
        schema_file(&p, "0001_users", USERS);
        p.wasmig(&["up"]).ok();
        let before = p.db.schema();
        let bad = [
            (
                "add_column",
                "[[op]]\nop = \"create_index\"\ntable = \"users\"\nname = \"users_email\"\ncolumns = [\"email\"]\n\n\
                 [[op]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"age\", type = \"integer\" }\n\n\
                 [[op]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"nickname\"\n",
                "operation 3 (drop_column on users) cannot work: table `users` has no column `nickname`",
            ),
            (
                "orders",
                "[[op]]\nop = \"create_table\"\ntable = \"orders\"\ncolumns = [{ name = \"user_id\", type = \"bigint\" }]\n\
                 foreign_keys = [{ columns = [\"user_id\"], references = \"customers\", referenced_columns = [\"id\"] }]\n",
                "there is no table `customers`",
            ),
            (
                "money",
                "[[op]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"cash\", type = \"money\" }\n",
                "unknown type `money`",
            ),
        ];
        for (name, text, message) in bad {
            schema_file(&p, &format!("0002_{name}"), text);
            p.wasmig(&["up"])
                .fails()
                .says(&[&format!("0002_{name}.schema.toml"), message]);
            assert_eq!(
                p.db.schema(),
                before,
                "{name} on {engine:?} changed nothing"
            );
            // The ledger has no row for it (a file that does not parse
            // stops `status` too, so only the others are asked).
            if name != "money" {
                p.wasmig(&["status", "--failed"])
                    .ok()
                    .says(&["no migrations"]);
                p.wasmig(&["status", "--pending"]).ok().says(&[name]);
            }
            fs::remove_file(p.migrations.join(format!("0002_{name}.schema.toml"))).unwrap();
        }
    }
}

#[test]
fn a_type_the_engine_refuses_rolls_everything_back() {
    let p = Project::on(Engine::Postgres);
    schema_file(&p, "0001_users", USERS);
    p.wasmig(&["up"]).ok();
    let before = p.db.schema();
    schema_file(
        &p,
        "0002_geo",
        "[[op]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"nick\", type = \"text\" }\n\n\
         [[op]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"spot\", native = \"no_such_type\" }\n",
    );
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "no_such_type", "nothing was applied"]);
    assert_eq!(p.db.schema(), before);
}

#[test]
fn policies_apply_to_the_rendered_statements() {
    let p = Project::new();
    p.config(
        r#"
[[policy]]
name = "vendor"
paths = ["*_acme_*"]
statements = ["create", "select", "insert"]
tables = ["acme_*"]
"#,
    );
    schema_file(
        &p,
        "0001_acme_widgets",
        "[[op]]\nop = \"create_table\"\ntable = \"acme_widgets\"\ncolumns = [{ name = \"id\", type = \"integer\", primary_key = true }]\n",
    );
    p.wasmig(&["up"]).ok();
    let before = p.db.schema();
    schema_file(
        &p,
        "0002_acme_grab",
        "[[op]]\nop = \"create_table\"\ntable = \"users\"\ncolumns = [{ name = \"id\", type = \"integer\" }]\n",
    );
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "refused", "users"]);
    fs::remove_file(p.migrations.join("0002_acme_grab.schema.toml")).unwrap();
    schema_file(
        &p,
        "0002_acme_drop",
        "[[op]]\nop = \"drop_table\"\ntable = \"acme_widgets\"\n",
    );
    p.wasmig(&["up"])
        .fails()
        .says(&["migration 2", "refused", "drop"]);
    assert_eq!(p.db.schema(), before);
}

#[test]
fn raw_sql_without_down_is_irreversible_and_said_so() {
    let p = Project::new();
    schema_file(&p, "0001_users", USERS);
    schema_file(
        &p,
        "0002_seed",
        "[[op]]\nop = \"add_column\"\ntable = \"users\"\ncolumn = { name = \"age\", type = \"integer\" }\n\n\
         [[op]]\nop = \"sql\"\nup = \"UPDATE users SET age = 1\"\n",
    );
    p.wasmig(&["up"]).ok();
    let applied = p.db.schema();
    p.wasmig(&["down"])
        .fails()
        .says(&["cannot revert 2", "operation 2 (sql)", "without `down`"]);
    assert_eq!(p.db.schema(), applied);
}

#[test]
fn dropping_data_is_announced_and_a_not_null_column_needs_a_revert_default() {
    let p = Project::new();
    schema_file(&p, "0001_users", USERS);
    p.wasmig(&["up"]).ok();
    p.db.apply_natively("INSERT INTO users (email) VALUES ('a@example.com');");
    schema_file(
        &p,
        "0002_drop_email",
        "[[op]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"email\"\n",
    );
    p.wasmig(&["up"])
        .ok()
        .says(&["without its data", "give the operation a `revert_default`"]);
    let applied = p.db.schema();
    p.wasmig(&["down"]).fails().says(&["migration 2", "email"]);
    assert_eq!(p.db.schema(), applied);
    // With a revert default the column comes back, NOT NULL, without a
    // default of its own.
    let q = Project::new();
    schema_file(&q, "0001_users", USERS);
    q.wasmig(&["up"]).ok();
    let before = q.db.schema();
    q.db.apply_natively("INSERT INTO users (email) VALUES ('a@example.com');");
    schema_file(
        &q,
        "0002_drop_email",
        "[[op]]\nop = \"drop_column\"\ntable = \"users\"\ncolumn = \"email\"\nrevert_default = \"''\"\n",
    );
    q.wasmig(&["up"]).ok().says(&["without its data"]);
    q.wasmig(&["down"]).ok();
    assert_eq!(q.db.schema(), before);
    assert_eq!(q.db.column("SELECT count(*) FROM users"), ["1"]);
}

#[test]
fn a_declarative_migration_is_reverted_after_its_file_is_gone() {
    let p = Project::on(Engine::Postgres);
    schema_file(&p, "0001_users", USERS);
    p.wasmig(&["up"]).ok();
    fs::remove_file(p.migrations.join("0001_users.schema.toml")).unwrap();
    p.wasmig(&["down", "--to", "0"]).ok().says(&["is gone"]);
    assert!(!p.db.has_table("users"));
}

const PARENT_AND_CHILD: &str = r#"
[[op]]
op = "create_table"
table = "authors"
columns = [{ name = "id", type = "bigint", identity = true, primary_key = true }]

[[op]]
op = "create_table"
table = "books"
columns = [
  { name = "id", type = "bigint", identity = true, primary_key = true },
  { name = "author_id", type = "bigint" },
]
foreign_keys = [{ columns = ["author_id"], references = "authors", referenced_columns = ["id"], on_delete = "cascade" }]
"#;

const DROP_AUTHORS: &str = "[[op]]\nop = \"drop_table\"\ntable = \"authors\"\ncascade = true\n";

#[test]
fn drop_table_cascade_takes_the_keys_and_views_on_it_and_gives_them_back() {
    let p = Project::on(Engine::Postgres);
    schema_file(&p, "0001_tables", PARENT_AND_CHILD);
    p.sql(
        "0002_view",
        "CREATE VIEW author_ids AS SELECT id FROM authors;",
        Some("DROP VIEW author_ids;"),
    );
    p.wasmig(&["up"]).ok();
    let before = p.db.schema();
    schema_file(
        &p,
        "0003_drop_authors",
        "[[op]]\nop = \"drop_table\"\ntable = \"authors\"\n",
    );
    p.wasmig(&["up"])
        .fails()
        .says(&["referenced by foreign keys of `books`", "cascade = true"]);
    schema_file(&p, "0003_drop_authors", DROP_AUTHORS);
    p.wasmig(&["up"])
        .ok()
        .says(&["recreates table `authors` empty"]);
    assert!(!p.db.has_table("authors"));
    p.wasmig(&["down"]).ok();
    assert_eq!(p.db.schema(), before);
}

#[test]
fn a_cascade_drop_keeps_the_child_rows_and_its_revert_refuses_orphans() {
    let p = Project::new();
    schema_file(&p, "0001_tables", PARENT_AND_CHILD);
    p.wasmig(&["up"]).ok();
    p.db.apply_natively(
        "INSERT INTO authors DEFAULT VALUES; INSERT INTO books (author_id) VALUES (1), (1);",
    );
    let before = p.db.schema();
    schema_file(&p, "0002_drop_authors", DROP_AUTHORS);
    // On SQLite the child is rebuilt without its key: its rows stay.
    p.wasmig(&["up"]).ok();
    assert_eq!(p.db.column("SELECT count(*) FROM books"), ["2"]);
    let dropped = p.db.schema();
    // The authors come back empty, so the books' key cannot hold.
    p.wasmig(&["down"])
        .fails()
        .says(&["migration 2", "foreign keys do not hold", "`books`"]);
    assert_eq!(p.db.schema(), dropped);
    p.db.apply_natively("DELETE FROM books;");
    p.wasmig(&["down"]).ok();
    assert_eq!(p.db.schema(), before);
}
