//! What `apply` refuses before anything runs.

use super::apply;
use crate::backend::Dialect;
use crate::schema::{Check, Schema, SchemaFile};

fn schema_of(dialect: Dialect, file: &str) -> Schema {
    let mut schema = Schema::default();
    for op in SchemaFile::parse(file).unwrap().ops {
        apply(&mut schema, dialect, &op).unwrap();
    }
    schema
}

const TABLES: &str = r#"
[[op]]
op = "create_table"
table = "parents"
columns = [{ name = "id", type = "bigint", primary_key = true }]

[[op]]
op = "create_table"
table = "kids"
columns = [{ name = "id", type = "bigint", primary_key = true }, { name = "parent_id", type = "bigint" }, { name = "age", type = "integer" }]
foreign_keys = [{ columns = ["parent_id"], references = "parents", referenced_columns = ["id"] }]
"#;

fn op(text: &str) -> crate::schema::Op {
    SchemaFile::parse(text).unwrap().ops.remove(0)
}

#[test]
fn a_column_a_check_uses_is_not_dropped() {
    let mut schema = schema_of(Dialect::Postgres, TABLES);
    schema.table_mut("kids").unwrap().checks.push(Check {
        name: Some("adult".into()),
        expression: "age >= 18".into(),
    });
    let drop = op("[[op]]\nop = \"drop_column\"\ntable = \"kids\"\ncolumn = \"age\"\n");
    let err = apply(&mut schema, Dialect::Postgres, &drop).unwrap_err();
    assert!(err.0.contains("used by the check `adult`"), "{err}");
}

#[test]
fn mysql_keeps_an_index_for_each_foreign_key() {
    let mut schema = schema_of(Dialect::Mysql, TABLES);
    // MySQL made the key's index itself.
    assert!(
        schema
            .table("kids")
            .unwrap()
            .index("kids_parent_id_fkey")
            .is_some()
    );
    let other = op(
        "[[op]]\nop = \"create_index\"\ntable = \"kids\"\nname = \"kids_age\"\ncolumns = [\"age\"]\n",
    );
    apply(&mut schema, Dialect::Mysql, &other).unwrap();
    let drop_other = op("[[op]]\nop = \"drop_index\"\ntable = \"kids\"\nname = \"kids_age\"\n");
    apply(&mut schema, Dialect::Mysql, &drop_other).unwrap();
    let drop_key_index =
        op("[[op]]\nop = \"drop_index\"\ntable = \"kids\"\nname = \"kids_parent_id_fkey\"\n");
    let err = apply(&mut schema, Dialect::Mysql, &drop_key_index).unwrap_err();
    assert!(err.0.contains("MySQL needs an index"), "{err}");
    // Elsewhere the index is an index like any other.
    let mut pg = schema_of(Dialect::Postgres, TABLES);
    assert!(pg.table("kids").unwrap().indexes.is_empty());
    let create = op(
        "[[op]]\nop = \"create_index\"\ntable = \"kids\"\nname = \"kids_parent\"\ncolumns = [\"parent_id\"]\n",
    );
    apply(&mut pg, Dialect::Postgres, &create).unwrap();
    let drop = op("[[op]]\nop = \"drop_index\"\ntable = \"kids\"\nname = \"kids_parent\"\n");
    apply(&mut pg, Dialect::Postgres, &drop).unwrap();
}
