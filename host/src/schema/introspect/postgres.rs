//! PostgreSQL: the `pg_catalog` tables of one schema, one query per kind of
//! thing. Defaults, checks and index expressions are what the server's own
//! `pg_get_expr` prints, so two databases built differently but equal read
//! the same.

use std::collections::BTreeMap;

use super::Cells;
use crate::backend::{Backend, DbError, Dialect, Value};
use crate::schema::model::{
    Action, Check, Column, EnumType, ForeignKey, Index, Object, PrimaryKey, Schema, Table, Unique,
};
use crate::schema::types::Type;

const ENUMS: &str = "SELECT t.typname::text, \
     json_agg(e.enumlabel::text ORDER BY e.enumsortorder)::text \
     FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid \
     JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 GROUP BY t.typname";

const COLUMNS: &str = "SELECT c.relname::text, a.attname::text, \
     format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid, true), \
     a.attidentity::text, t.typname::text, tn.nspname::text \
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace \
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
     AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
     ORDER BY c.relname, a.attnum";

const CONSTRAINTS: &str = "SELECT c.relname::text, k.conname::text, k.contype::text, \
     (SELECT json_agg(a.attname::text ORDER BY u.ord) FROM unnest(k.conkey) \
      WITH ORDINALITY u(num, ord) JOIN pg_attribute a \
      ON a.attrelid = k.conrelid AND a.attnum = u.num)::text, \
     f.relname::text, \
     (SELECT json_agg(a.attname::text ORDER BY u.ord) FROM unnest(k.confkey) \
      WITH ORDINALITY u(num, ord) JOIN pg_attribute a \
      ON a.attrelid = k.confrelid AND a.attnum = u.num)::text, \
     k.confdeltype::text, k.confupdtype::text, pg_get_expr(k.conbin, k.conrelid, true) \
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class f ON f.oid = k.confrelid \
     WHERE n.nspname = $1 AND k.contype IN ('p', 'u', 'f', 'c') AND NOT c.relispartition";

const INDEXES: &str = "SELECT t.relname::text, i.relname::text, x.indisunique, \
     pg_get_expr(x.indpred, x.indrelid, true), am.amname::text, \
     (SELECT json_agg(CASE WHEN x.indkey[k - 1] <> 0 \
        THEN (SELECT a.attname::text FROM pg_attribute a \
              WHERE a.attrelid = x.indrelid AND a.attnum = x.indkey[k - 1]) \
        ELSE pg_get_indexdef(x.indexrelid, k, true) END ORDER BY k) \
      FROM generate_series(1, x.indnkeyatts) k)::text \
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
     JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
     JOIN pg_am am ON am.oid = i.relam \
     WHERE n.nspname = $1 AND t.relkind IN ('r', 'p') AND NOT t.relispartition \
     AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid \
                     AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))";

const OBJECTS: &str = "SELECT 'view', c.relname::text, NULL::text, pg_get_viewdef(c.oid, true) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relkind IN ('v', 'm') \
     UNION ALL SELECT 'trigger', g.tgname::text, c.relname::text, pg_get_triggerdef(g.oid, true) \
     FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND NOT g.tgisinternal \
     UNION ALL SELECT 'routine', p.proname::text, NULL::text, pg_get_functiondef(p.oid) \
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
     WHERE n.nspname = $1 AND p.prokind IN ('f', 'p') \
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')";

pub(super) async fn read(db: &mut dyn Backend, namespace: &str) -> Result<Schema, DbError> {
    let param = [Value::Text(namespace.to_owned())];
    let mut schema = Schema::default();
    for row in db.query(ENUMS, &param).await?.rows {
        let cells = Cells(&row);
        schema.enums.push(EnumType {
            name: cells.text(0),
            values: cells.strings(1)?,
        });
    }
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for row in db.query(COLUMNS, &param).await?.rows {
        let cells = Cells(&row);
        let table = tables.entry(cells.text(0)).or_insert_with(|| Table {
            name: cells.text(0),
            ..Table::default()
        });
        table.columns.push(column(&cells, &schema.enums, namespace));
    }
    for row in db.query(CONSTRAINTS, &param).await?.rows {
        let cells = Cells(&row);
        if let Some(table) = tables.get_mut(&cells.text(0)) {
            constraint(table, &cells)?;
        }
    }
    for row in db.query(INDEXES, &param).await?.rows {
        let cells = Cells(&row);
        if let Some(table) = tables.get_mut(&cells.text(0)) {
            let method = cells.text(4);
            table.indexes.push(Index {
                name: cells.text(1),
                columns: cells.strings(5)?,
                unique: cells.flag(2),
                predicate: cells.opt_text(3),
                using: (method != "btree").then_some(method),
            });
        }
    }
    schema.tables = tables.into_values().collect();
    for row in db.query(OBJECTS, &param).await?.rows {
        let cells = Cells(&row);
        let object = Object {
            name: cells.text(1),
            table: cells.opt_text(2),
            definition: cells.text(3).trim().to_owned(),
        };
        match cells.text(0).as_str() {
            "view" => schema.views.push(object),
            "trigger" => schema.triggers.push(object),
            _ => schema.routines.push(object),
        }
    }
    Ok(schema)
}

/// One column. A `serial` column (an integer whose default draws from a
/// sequence) is an identity, as a `GENERATED … AS IDENTITY` column is.
fn column(cells: &Cells<'_>, enums: &[EnumType], namespace: &str) -> Column {
    let native = cells.text(2);
    let mut default = cells.opt_text(4);
    let serial = default
        .as_deref()
        .is_some_and(|d| d.starts_with("nextval("));
    let identity = !cells.text(5).is_empty() || serial;
    if serial {
        default = None;
    }
    let type_name = cells.text(6);
    let portable = if cells.text(7) == namespace
        && let Some(e) = enums.iter().find(|e| e.name == type_name)
    {
        Some(Type::Enum {
            values: e.values.clone(),
        })
    } else {
        Type::from_native(Dialect::Postgres, &native)
    };
    Column {
        name: cells.text(1),
        portable,
        native,
        nullable: !cells.flag(3),
        default,
        identity,
    }
}

fn constraint(table: &mut Table, cells: &Cells<'_>) -> Result<(), DbError> {
    let name = Some(cells.text(1));
    let columns = cells.strings(3)?;
    match cells.text(2).as_str() {
        "p" => table.primary_key = Some(PrimaryKey { name, columns }),
        "u" => table.uniques.push(Unique { name, columns }),
        "f" => table.foreign_keys.push(ForeignKey {
            name,
            columns,
            references: cells.text(4),
            referenced_columns: cells.strings(5)?,
            on_delete: action(&cells.text(6)),
            on_update: action(&cells.text(7)),
        }),
        _ => table.checks.push(Check {
            name,
            expression: cells.text(8),
        }),
    }
    Ok(())
}

/// `pg_constraint`'s one-letter action codes.
fn action(code: &str) -> Action {
    match code {
        "r" => Action::Restrict,
        "c" => Action::Cascade,
        "n" => Action::SetNull,
        "d" => Action::SetDefault,
        _ => Action::NoAction,
    }
}
