//! Every schema operation on every engine, with rows present: the schema
//! after `up` equals a model written out by hand, and after `down` it is
//! exactly the schema before, rows included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;

use serde_json::{Value, json};
use support::{Engine, Project};

/// How each engine reports a portable type (written out here, not taken
/// from wasmig).
fn native(engine: Engine, portable: &str) -> String {
    let (name, arg) = match portable.split_once('(') {
        Some((n, rest)) => (n, Some(rest.trim_end_matches(')'))),
        None => (portable, None),
    };
    match (engine, name) {
        (Engine::Sqlite, "bigint") => "BIGINT".into(),
        (Engine::Sqlite, "integer") => "INTEGER".into(),
        (Engine::Sqlite, "string") => format!("VARCHAR({})", arg.unwrap()),
        (Engine::Sqlite, "text") => "TEXT".into(),
        (Engine::Postgres, "bigint") => "bigint".into(),
        (Engine::Postgres, "integer") => "integer".into(),
        (Engine::Postgres, "string") => format!("character varying({})", arg.unwrap()),
        (Engine::Postgres, "text") => "text".into(),
        (Engine::Mysql, "bigint") => "bigint(20)".into(),
        (Engine::Mysql, "integer") => "int(11)".into(),
        (Engine::Mysql, "string") => format!("varchar({})", arg.unwrap()),
        (Engine::Mysql, "text") => "longtext".into(),
        _ => panic!("no spelling for {portable}"),
    }
}

fn col(engine: Engine, name: &str, portable: &str, nullable: bool) -> Value {
    json!({"name": name, "type": portable, "native": native(engine, portable), "nullable": nullable})
}

/// An identity key column: SQLite's is the INTEGER rowid.
fn id(engine: Engine) -> Value {
    match engine {
        Engine::Sqlite => json!({"name": "id", "type": "integer", "native": "INTEGER",
                                 "nullable": false, "identity": true}),
        _ => {
            let mut c = col(engine, "id", "bigint", false);
            c["identity"] = json!(true);
            c
        }
    }
}

/// A string literal default as the engine reports it.
fn text_default(engine: Engine, literal: &str, portable: &str) -> Value {
    match engine {
        Engine::Postgres => json!(format!(
            "'{literal}'::{}",
            native(engine, portable).split('(').next().unwrap()
        )),
        _ => json!(format!("'{literal}'")),
    }
}

fn primary_key(engine: Engine, table: &str) -> Value {
    match engine {
        Engine::Postgres => json!({"name": format!("{table}_pkey"), "columns": ["id"]}),
        _ => json!({"columns": ["id"]}),
    }
}

fn check(engine: Engine, name: &str, sqlite: &str, postgres: &str, mysql: &str) -> Value {
    json!({"name": name, "expression": match engine {
        Engine::Sqlite => sqlite, Engine::Postgres => postgres, Engine::Mysql => mysql,
    }})
}

fn books_key(engine: Engine) -> Value {
    let mut key = json!({"columns": ["author_id"], "references": "authors",
                         "referenced_columns": ["id"], "on_delete": "cascade"});
    if engine != Engine::Sqlite {
        key["name"] = json!("books_author_id_fkey");
    }
    key
}

const BASE: &str = r#"
[[op]]
op = "create_table"
table = "authors"
columns = [
  { name = "id", type = "bigint", identity = true, primary_key = true },
  { name = "name", type = "string(100)", nullable = false },
  { name = "bio", type = "text" },
]

[[op]]
op = "create_table"
table = "books"
columns = [
  { name = "id", type = "bigint", identity = true, primary_key = true },
  { name = "author_id", type = "bigint", nullable = false },
  { name = "title", type = "string(200)", nullable = false },
  { name = "pages", type = "integer" },
]
foreign_keys = [{ columns = ["author_id"], references = "authors", referenced_columns = ["id"], on_delete = "cascade" }]
indexes = [{ name = "books_author", columns = ["author_id"] }]
checks = [{ name = "title_not_empty", expression = "title <> ''" }]
"#;

/// The base schema's model on `engine`, written out by hand.
fn base(engine: Engine) -> Value {
    json!({"tables": [
        {
            "name": "authors",
            "columns": [id(engine), col(engine, "name", "string(100)", false), col(engine, "bio", "text", true)],
            "primary_key": primary_key(engine, "authors"),
        },
        {
            "name": "books",
            "columns": [id(engine), col(engine, "author_id", "bigint", false),
                        col(engine, "title", "string(200)", false), col(engine, "pages", "integer", true)],
            "primary_key": primary_key(engine, "books"),
            "indexes": [{"name": "books_author", "columns": ["author_id"]}],
            "foreign_keys": [books_key(engine)],
            "checks": [check(engine, "title_not_empty", "title <> ''",
                             "title::text <> ''::text", "`title` <> ''")],
        }
    ]})
}

const ROWS: &str = "INSERT INTO authors (name) VALUES ('Ann'), ('Bob');
INSERT INTO books (author_id, title, pages) VALUES (1, 'One', 10), (1, 'Two', 20), (2, 'Three', 30);";

fn table<'a>(model: &'a mut Value, name: &str) -> &'a mut Value {
    model["tables"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["name"] == name)
        .unwrap()
}

fn push(value: &mut Value, key: &str, item: Value) {
    match value.get_mut(key).and_then(Value::as_array_mut) {
        Some(list) => list.push(item),
        None => value[key] = json!([item]),
    }
}

fn dump(p: &Project) -> Value {
    serde_json::from_str(&support::schema_json(p)).unwrap()
}

fn rows(p: &Project, table: &str) -> Vec<String> {
    p.db.column(&format!("SELECT id FROM {table} ORDER BY id"))
}

/// One case: a declarative file, and how the model changes with it.
struct Case {
    name: &'static str,
    file: &'static str,
    expect: Expect,
}

/// Turns the base model into the one a case leads to.
type Expect = Box<dyn Fn(Engine, &mut Value)>;

fn case(
    name: &'static str,
    file: &'static str,
    expect: impl Fn(Engine, &mut Value) + 'static,
) -> Case {
    Case {
        name,
        file,
        expect: Box::new(expect),
    }
}

// One case per operation, read as a table.
#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    vec![
        case(
            "create_table",
            r#"
[[op]]
op = "create_table"
table = "tags"
columns = [
  { name = "id", type = "integer", primary_key = true },
  { name = "label", type = "string(50)", nullable = false },
]
"#,
            |e, m| {
                let mut key = col(e, "id", "integer", false);
                if e == Engine::Sqlite {
                    // SQLite's INTEGER PRIMARY KEY is the rowid: it assigns it.
                    key["identity"] = json!(true);
                }
                let tags = json!({"name": "tags", "columns": [key,
                col(e, "label", "string(50)", false)], "primary_key": primary_key(e, "tags")});
                m["tables"].as_array_mut().unwrap().push(tags);
            },
        ),
        case(
            "drop_table",
            "[[op]]\nop = \"drop_table\"\ntable = \"books\"\n",
            |_, m| {
                m["tables"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|t| t["name"] != "books");
            },
        ),
        case(
            "rename_table",
            "[[op]]\nop = \"rename_table\"\ntable = \"books\"\nto = \"volumes\"\n",
            |_, m| {
                table(m, "books")["name"] = json!("volumes");
                let volumes = m["tables"].as_array_mut().unwrap();
                volumes.sort_by_key(|t| t["name"].as_str().unwrap().to_owned());
            },
        ),
        case(
            "add_column",
            r#"
[[op]]
op = "add_column"
table = "books"
column = { name = "status", type = "string(20)", nullable = false, default = "'draft'" }
"#,
            |e, m| {
                let mut status = col(e, "status", "string(20)", false);
                status["default"] = text_default(e, "draft", "string(20)");
                push(table(m, "books"), "columns", status);
            },
        ),
        case(
            "drop_column",
            "[[op]]\nop = \"drop_column\"\ntable = \"authors\"\ncolumn = \"bio\"\n",
            |_, m| {
                table(m, "authors")["columns"].as_array_mut().unwrap().pop();
            },
        ),
        case(
            "rename_column",
            "[[op]]\nop = \"rename_column\"\ntable = \"authors\"\ncolumn = \"name\"\nto = \"full_name\"\n",
            |_, m| {
                table(m, "authors")["columns"][1]["name"] = json!("full_name");
            },
        ),
        case(
            "alter_column",
            r#"
[[op]]
op = "alter_column"
table = "books"
column = "pages"
type = "bigint"
nullable = false
default = "0"
"#,
            |e, m| {
                let mut pages = col(e, "pages", "bigint", false);
                pages["default"] = json!("0");
                table(m, "books")["columns"][3] = pages;
            },
        ),
        case(
            "create_index",
            "[[op]]\nop = \"create_index\"\ntable = \"authors\"\nname = \"authors_name\"\ncolumns = [\"name\"]\nunique = true\n",
            |_, m| {
                push(
                    table(m, "authors"),
                    "indexes",
                    json!({"name": "authors_name", "columns": ["name"], "unique": true}),
                );
            },
        ),
        case(
            "drop_index",
            "[[op]]\nop = \"create_index\"\ntable = \"books\"\nname = \"books_author_title\"\ncolumns = [\"author_id\", \"title\"]\n\n[[op]]\nop = \"drop_index\"\ntable = \"books\"\nname = \"books_author\"\n",
            |_, m| {
                table(m, "books")["indexes"] =
                    json!([{"name": "books_author_title", "columns": ["author_id", "title"]}]);
            },
        ),
        case(
            "add_foreign_key",
            r#"
[[op]]
op = "add_column"
table = "books"
column = { name = "editor_id", type = "bigint" }

[[op]]
op = "add_foreign_key"
table = "books"
columns = ["editor_id"]
references = "authors"
referenced_columns = ["id"]
on_delete = "set_null"
"#,
            |e, m| {
                let books = table(m, "books");
                push(books, "columns", col(e, "editor_id", "bigint", true));
                let mut key = json!({"columns": ["editor_id"], "references": "authors",
                                 "referenced_columns": ["id"], "on_delete": "set_null"});
                if e != Engine::Sqlite {
                    key["name"] = json!("books_editor_id_fkey");
                }
                push(books, "foreign_keys", key);
                if e == Engine::Mysql {
                    // MySQL indexes a foreign key's columns itself.
                    push(
                        books,
                        "indexes",
                        json!({"name": "books_editor_id_fkey", "columns": ["editor_id"]}),
                    );
                }
            },
        ),
        case(
            "drop_foreign_key",
            "[[op]]\nop = \"drop_foreign_key\"\ntable = \"books\"\ncolumns = [\"author_id\"]\n",
            |_, m| {
                table(m, "books")
                    .as_object_mut()
                    .unwrap()
                    .remove("foreign_keys");
            },
        ),
        case(
            "add_unique",
            "[[op]]\nop = \"add_unique\"\ntable = \"authors\"\nname = \"authors_name_key\"\ncolumns = [\"name\"]\n",
            |e, m| {
                let authors = table(m, "authors");
                if e == Engine::Postgres {
                    push(
                        authors,
                        "uniques",
                        json!({"name": "authors_name_key", "columns": ["name"]}),
                    );
                } else {
                    push(
                        authors,
                        "indexes",
                        json!({"name": "authors_name_key", "columns": ["name"], "unique": true}),
                    );
                }
            },
        ),
        case(
            "add_check",
            "[[op]]\nop = \"add_check\"\ntable = \"books\"\nname = \"pages_positive\"\nexpression = \"pages > 0\"\n",
            |e, m| {
                // Checks are listed by name.
                let checks = table(m, "books")["checks"].as_array_mut().unwrap();
                checks.insert(
                    0,
                    check(e, "pages_positive", "pages > 0", "pages > 0", "`pages` > 0"),
                );
            },
        ),
        case(
            "drop_constraint",
            "[[op]]\nop = \"drop_constraint\"\ntable = \"books\"\nname = \"title_not_empty\"\n",
            |_, m| {
                table(m, "books").as_object_mut().unwrap().remove("checks");
            },
        ),
        case(
            "sql",
            "[[op]]\nop = \"sql\"\nup = \"CREATE VIEW author_names AS SELECT name FROM authors\"\ndown = \"DROP VIEW author_names\"\n",
            |_, m| {
                m["views"] = json!(["author_names"]);
            },
        ),
    ]
}

/// Views are compared by name: each engine prints their query its own way.
fn names_of_views(mut model: Value) -> Value {
    if let Some(views) = model.get_mut("views").and_then(Value::as_array_mut) {
        for view in views.iter_mut() {
            *view = view["name"].clone();
        }
    }
    model
}

fn every_operation_on(engine: Engine) {
    let p = Project::on(engine);
    fs::write(p.migrations.join("0001_base.schema.toml"), BASE).unwrap();
    p.wasmig(&["up"]).ok();
    p.db.apply_natively(ROWS);
    let before = dump(&p);
    assert_eq!(before, base(engine), "the base schema on {engine:?}");
    let (authors, books) = (rows(&p, "authors"), rows(&p, "books"));
    assert_eq!((authors.len(), books.len()), (2, 3));
    for case in cases() {
        let file = p.migrations.join(format!("0002_{}.schema.toml", case.name));
        fs::write(&file, case.file).unwrap();
        p.wasmig(&["up"]).ok();
        let mut expected = base(engine);
        (case.expect)(engine, &mut expected);
        assert_eq!(
            names_of_views(dump(&p)),
            expected,
            "after {} on {engine:?}",
            case.name
        );
        p.wasmig(&["down"]).ok();
        assert_eq!(
            dump(&p),
            before,
            "after reverting {} on {engine:?}",
            case.name
        );
        assert_eq!(rows(&p, "authors"), authors, "{} on {engine:?}", case.name);
        if case.name != "drop_table" {
            assert_eq!(rows(&p, "books"), books, "{} on {engine:?}", case.name);
        } else {
            p.db.apply_natively("INSERT INTO books (author_id, title, pages) VALUES (1, 'One', 10), (1, 'Two', 20), (2, 'Three', 30);");
        }
        fs::remove_file(&file).unwrap();
    }
}

#[test]
fn every_operation_on_sqlite() {
    every_operation_on(Engine::Sqlite);
}

#[test]
fn every_operation_on_postgres() {
    every_operation_on(Engine::Postgres);
}

#[test]
fn every_operation_on_mariadb() {
    every_operation_on(Engine::Mysql);
}
