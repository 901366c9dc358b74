//! `wasmig schema diff`, checked as a property on every engine: for random
//! pairs of schemas A and B (B made from A by random operations), applying
//! `diff(A, B)` to a database at A gives one whose schema is B, and its
//! revert gives A back. The seed is fixed and printed; `WASMIG_DIFF_CASES`
//! and `WASMIG_DIFF_SEED` run more or other cases (the long run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::fs;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use support::{Engine, Project};

const TYPES: [&str; 8] = [
    "integer",
    "bigint",
    "string(50)",
    "text",
    "boolean",
    "decimal(10,2)",
    "date",
    "timestamp",
];

/// A generated table: its name, its columns in order (name, type; `key`
/// for the id and foreign-key columns, which stay), its indexes (name,
/// column) and its key columns.
type GenTable = (
    String,
    Vec<(String, String)>,
    Vec<(String, String)>,
    Vec<String>,
);

/// A generated schema as the generator keeps track of it.
#[derive(Clone, Default)]
struct Shape {
    tables: Vec<GenTable>,
    next: usize,
}

fn column_toml(name: &str, ty: &str, nullable: bool) -> String {
    format!("{{ name = \"{name}\", type = \"{ty}\", nullable = {nullable} }}")
}

/// Schema A: two or three tables, later ones pointing at the first.
fn schema_a(rng: &mut StdRng, shape: &mut Shape) -> String {
    let mut file = String::new();
    for t in 0..rng.random_range(2..=3) {
        let name = format!("t{t}");
        let mut columns = vec![("id".to_owned(), "key".to_owned())];
        let mut specs = vec![
            "{ name = \"id\", type = \"bigint\", identity = true, primary_key = true }".to_owned(),
        ];
        for c in 0..rng.random_range(1..=3) {
            let ty = TYPES[rng.random_range(0..TYPES.len())];
            let col = format!("c{c}");
            specs.push(column_toml(&col, ty, rng.random_bool(0.5)));
            columns.push((col, ty.to_owned()));
        }
        let mut keys = Vec::new();
        if t > 0 {
            specs.push(column_toml("parent_id", "bigint", true));
            keys.push("parent_id".to_owned());
            columns.push(("parent_id".to_owned(), "key".to_owned()));
        }
        let _ = writeln!(
            file,
            "[[op]]\nop = \"create_table\"\ntable = \"{name}\"\ncolumns = [{}]",
            specs.join(", ")
        );
        if t > 0 {
            let _ = writeln!(
                file,
                "foreign_keys = [{{ columns = [\"parent_id\"], references = \"t0\", referenced_columns = [\"id\"], on_delete = \"cascade\" }}]"
            );
        }
        file.push('\n');
        shape.tables.push((name, columns, Vec::new(), keys));
    }
    file
}

/// Random operations from A to B, each one that the generator knows works.
// One arm per kind of operation, read as a table.
#[allow(clippy::too_many_lines)]
fn ops_to_b(rng: &mut StdRng, shape: &mut Shape, engine: Engine) -> String {
    let mut file = String::new();
    for _ in 0..rng.random_range(2..=5) {
        shape.next += 1;
        let n = shape.next;
        let t = rng.random_range(0..shape.tables.len());
        let (table, columns, indexes, _) = shape.tables[t].clone();
        match rng.random_range(0..7) {
            0 => {
                let ty = TYPES[rng.random_range(0..TYPES.len())];
                let col = format!("a{n}");
                let _ = writeln!(
                    file,
                    "[[op]]\nop = \"add_column\"\ntable = \"{table}\"\ncolumn = {}\n",
                    column_toml(&col, ty, true)
                );
                shape.tables[t].1.push((col, ty.to_owned()));
            }
            // A dropped column comes back as the table's last column, so
            // only the last one is dropped (the revert must give A back).
            1 => {
                let (col, ty) = columns.last().unwrap();
                if ty == "key" || indexes.iter().any(|(_, c)| c == col) {
                    continue;
                }
                let _ = writeln!(
                    file,
                    "[[op]]\nop = \"drop_column\"\ntable = \"{table}\"\ncolumn = \"{col}\"\n"
                );
                shape.tables[t].1.retain(|(c, _)| c != col);
            }
            2 => {
                let i = rng.random_range(0..columns.len());
                let (col, ty) = columns[i].clone();
                let widened = match ty.as_str() {
                    "integer" => "bigint",
                    "string(50)" => "string(100)",
                    _ => continue,
                };
                let _ = writeln!(
                    file,
                    "[[op]]\nop = \"alter_column\"\ntable = \"{table}\"\ncolumn = \"{col}\"\ntype = \"{widened}\"\n"
                );
                shape.tables[t].1[i].1 = widened.to_owned();
            }
            3 => {
                let (col, ty) = &columns[rng.random_range(0..columns.len())];
                if ty == "key" {
                    continue;
                }
                let name = format!("i{n}");
                let _ = writeln!(
                    file,
                    "[[op]]\nop = \"create_index\"\ntable = \"{table}\"\nname = \"{name}\"\ncolumns = [\"{col}\"]\n"
                );
                shape.tables[t].2.push((name, col.clone()));
            }
            4 if !indexes.is_empty() => {
                let (name, _) = &indexes[rng.random_range(0..indexes.len())];
                let _ = writeln!(
                    file,
                    "[[op]]\nop = \"drop_index\"\ntable = \"{table}\"\nname = \"{name}\"\n"
                );
                shape.tables[t].2.retain(|(i, _)| i != name);
            }
            5 => {
                if let Some(i) = columns
                    .iter()
                    .position(|(_, ty)| ty == "integer" || ty == "bigint")
                {
                    let col = &columns[i].0;
                    let _ = writeln!(
                        file,
                        "[[op]]\nop = \"add_check\"\ntable = \"{table}\"\nname = \"k{n}\"\nexpression = \"{col} > 0\"\n"
                    );
                    // A checked column stays (its check would have to go first).
                    shape.tables[t].1[i].1 = "key".to_owned();
                }
            }
            _ => {
                let name = format!("n{n}");
                let _ = writeln!(
                    file,
                    "[[op]]\nop = \"create_table\"\ntable = \"{name}\"\ncolumns = [{{ name = \"id\", type = \"bigint\", identity = true, primary_key = true }}, {}, {}]\nforeign_keys = [{{ columns = [\"owner_id\"], references = \"{table}\", referenced_columns = [\"id\"] }}]\n",
                    column_toml("owner_id", "bigint", true),
                    column_toml("label", "string(50)", engine != Engine::Mysql)
                );
                let columns = vec![
                    ("id".into(), "key".into()),
                    ("owner_id".into(), "key".into()),
                    ("label".into(), "string(50)".into()),
                ];
                shape
                    .tables
                    .push((name, columns, Vec::new(), vec!["owner_id".into()]));
            }
        }
    }
    if file.is_empty() {
        file.push_str("[[op]]\nop = \"create_index\"\ntable = \"t0\"\nname = \"fallback\"\ncolumns = [\"id\"]\n");
    }
    file
}

fn diff_property_on(engine: Engine) {
    let seed: u64 = std::env::var("WASMIG_DIFF_SEED").map_or(20261130, |s| s.parse().unwrap());
    let cases: usize = std::env::var("WASMIG_DIFF_CASES").map_or(50, |s| s.parse().unwrap());
    eprintln!("diff property on {engine:?}: seed {seed}, {cases} cases");
    let mut rng = StdRng::seed_from_u64(seed);
    for case in 0..cases {
        let mut shape = Shape::default();
        let a = schema_a(&mut rng, &mut shape);
        let b_ops = ops_to_b(&mut rng, &mut shape, engine);
        let context = format!("case {case} (seed {seed}) on {engine:?}\nA:\n{a}\nB = A +\n{b_ops}");
        let p = Project::on(engine);
        fs::write(p.migrations.join("0001_a.schema.toml"), &a).unwrap();
        p.wasmig(&["up"]).ok();
        let schema_a = support::schema_json(&p);
        fs::write(p.migrations.join("0002_b.schema.toml"), &b_ops).unwrap();
        p.wasmig(&["up"]).ok();
        let schema_b = support::schema_json(&p);
        fs::write(p.root.path().join("b.json"), &schema_b).unwrap();
        p.wasmig(&["down"]).ok();
        assert_eq!(support::schema_json(&p), schema_a, "B's revert: {context}");
        fs::remove_file(p.migrations.join("0002_b.schema.toml")).unwrap();

        let b_path = p.root.path().join("b.json");
        let diff = p
            .wasmig(&["schema", "diff", "--to", b_path.to_str().unwrap()])
            .ok()
            .stdout;
        if diff.trim().is_empty() {
            // B's operations undid each other (an index made and dropped).
            assert_eq!(schema_b, schema_a, "an empty diff: {context}");
            continue;
        }
        fs::write(p.migrations.join("0003_diff.schema.toml"), &diff).unwrap();
        let context = format!("{context}\ndiff(A, B):\n{diff}");
        p.wasmig(&["up"]).ok();
        assert_eq!(
            support::schema_json(&p),
            schema_b,
            "diff(A, B) applied to A: {context}"
        );
        p.wasmig(&["down"]).ok();
        assert_eq!(
            support::schema_json(&p),
            schema_a,
            "diff's revert: {context}"
        );
    }
}

#[test]
fn diff_property_on_sqlite() {
    diff_property_on(Engine::Sqlite);
}

#[test]
fn diff_property_on_postgres() {
    diff_property_on(Engine::Postgres);
}

#[test]
fn diff_property_on_mariadb() {
    diff_property_on(Engine::Mysql);
}
