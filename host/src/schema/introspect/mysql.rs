//! MySQL and MariaDB: `information_schema` for the connection's database,
//! one query per kind of thing.
//!
//! MariaDB spells a JSON column as `LONGTEXT` with a `json_valid` check named
//! after the column, and a boolean as `TINYINT(1)`: both read back as the
//! portable type. InnoDB treats `RESTRICT` and `NO ACTION` alike and reports
//! either, so both read as `NO ACTION`.

use std::collections::BTreeMap;

use super::Cells;
use crate::backend::{Backend, DbError, Dialect};
use crate::schema::model::{
    Action, Check, Column, ForeignKey, Index, Object, PrimaryKey, Schema, Table,
};
use crate::schema::types::Type;

const COLUMNS: &str = "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, \
     c.COLUMN_DEFAULT, c.EXTRA, c.DATA_TYPE FROM information_schema.COLUMNS c \
     JOIN information_schema.TABLES t \
     ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
     WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' \
     AND c.EXTRA NOT LIKE '%GENERATED%' \
     ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION";

const INDEXES: &str = "SELECT TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS SIGNED), COLUMN_NAME, \
     CAST(SUB_PART AS SIGNED), INDEX_TYPE FROM information_schema.STATISTICS \
     WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

const FOREIGN_KEYS: &str = "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, \
     k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.DELETE_RULE, r.UPDATE_RULE \
     FROM information_schema.KEY_COLUMN_USAGE k \
     JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
     ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
     AND r.TABLE_NAME = k.TABLE_NAME \
     WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
     ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

/// MariaDB names checks per table, so they are read with their table.
const MARIADB_CHECKS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE \
     FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()";

/// MySQL names checks per schema; their table is in `TABLE_CONSTRAINTS`.
const MYSQL_CHECKS: &str = "SELECT t.TABLE_NAME, c.CONSTRAINT_NAME, c.CHECK_CLAUSE \
     FROM information_schema.CHECK_CONSTRAINTS c JOIN information_schema.TABLE_CONSTRAINTS t \
     ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME \
     WHERE c.CONSTRAINT_SCHEMA = DATABASE() AND t.CONSTRAINT_TYPE = 'CHECK'";

/// Views, triggers (their statement rebuilt from the catalog's parts) and
/// the names of routines, whose text only `SHOW CREATE` gives.
const OBJECTS: &str = "SELECT 'view', TABLE_NAME, NULL, VIEW_DEFINITION \
     FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() \
     UNION ALL SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE, \
     CONCAT('CREATE TRIGGER `', REPLACE(TRIGGER_NAME, '`', '``'), '` ', ACTION_TIMING, ' ', \
            EVENT_MANIPULATION, ' ON `', REPLACE(EVENT_OBJECT_TABLE, '`', '``'), \
            '` FOR EACH ROW ', ACTION_STATEMENT) \
     FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
     UNION ALL SELECT 'routine', ROUTINE_NAME, NULL, ROUTINE_TYPE \
     FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()";

pub(super) async fn read(db: &mut dyn Backend) -> Result<Schema, DbError> {
    let version = db.query("SELECT VERSION()", &[]).await?;
    let mariadb = version
        .rows
        .first()
        .is_some_and(|row| Cells(row).text(0).contains("MariaDB"));
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for row in db.query(COLUMNS, &[]).await?.rows {
        let cells = Cells(&row);
        let table = tables.entry(cells.text(0)).or_insert_with(|| Table {
            name: cells.text(0),
            ..Table::default()
        });
        table.columns.push(column(&cells, mariadb));
    }
    read_indexes(db, &mut tables).await?;
    read_foreign_keys(db, &mut tables).await?;
    let checks = if mariadb {
        MARIADB_CHECKS
    } else {
        MYSQL_CHECKS
    };
    for row in db.query(checks, &[]).await?.rows {
        let cells = Cells(&row);
        if let Some(table) = tables.get_mut(&cells.text(0)) {
            check(table, cells.text(1), cells.text(2));
        }
    }
    let mut schema = Schema {
        tables: tables.into_values().collect(),
        ..Schema::default()
    };
    for row in db.query(OBJECTS, &[]).await?.rows {
        let cells = Cells(&row);
        let object = Object {
            name: cells.text(1),
            table: cells.opt_text(2),
            definition: cells.text(3),
        };
        match cells.text(0).as_str() {
            "view" => schema.views.push(object),
            "trigger" => schema.triggers.push(object),
            _ => schema.routines.push(object),
        }
    }
    for routine in &mut schema.routines {
        routine.definition = routine_definition(db, &routine.definition, &routine.name).await?;
    }
    Ok(schema)
}

/// `SHOW CREATE PROCEDURE|FUNCTION`, without its `DEFINER=` clause (the
/// account that created it, as a dump leaves out owners).
async fn routine_definition(
    db: &mut dyn Backend,
    kind: &str,
    name: &str,
) -> Result<String, DbError> {
    let kind = if kind.eq_ignore_ascii_case("FUNCTION") {
        "FUNCTION"
    } else {
        "PROCEDURE"
    };
    let sql = format!("SHOW CREATE {kind} `{}`", name.replace('`', "``"));
    let rows = db.query(&sql, &[]).await?;
    let text = rows
        .rows
        .first()
        .map(|r| Cells(r).text(2))
        .unwrap_or_default();
    Ok(without_definer(&text))
}

/// `CREATE DEFINER=`u`@`h` PROCEDURE …` → `CREATE PROCEDURE …`.
fn without_definer(text: &str) -> String {
    let Some(rest) = text.strip_prefix("CREATE DEFINER=") else {
        return text.to_owned();
    };
    // The account is `user`@`host`, each part quoted; skip to the space
    // after it.
    let mut quoted = false;
    for (i, c) in rest.char_indices() {
        match c {
            '`' => quoted = !quoted,
            ' ' if !quoted => return format!("CREATE {}", &rest[i + 1..]),
            _ => {}
        }
    }
    text.to_owned()
}

fn column(cells: &Cells<'_>, mariadb: bool) -> Column {
    let native = cells.text(2);
    let extra = cells.text(5).to_ascii_lowercase();
    let default = match cells.opt_text(4) {
        // MariaDB reports a nullable column without a default as `NULL`.
        Some(d) if d == "NULL" && mariadb => None,
        // MySQL reports a literal default unquoted; expressions are marked.
        Some(d) if !mariadb && !extra.contains("default_generated") && !numeric(&cells.text(6)) => {
            Some(format!("'{}'", d.replace('\'', "''")))
        }
        other => other,
    };
    Column {
        name: cells.text(1),
        portable: Type::from_native(Dialect::Mysql, &native),
        native,
        nullable: cells.flag(3),
        default,
        identity: extra.contains("auto_increment"),
    }
}

fn numeric(data_type: &str) -> bool {
    matches!(
        data_type.to_ascii_lowercase().as_str(),
        "tinyint"
            | "smallint"
            | "mediumint"
            | "int"
            | "bigint"
            | "decimal"
            | "float"
            | "double"
            | "bit"
    )
}

async fn read_indexes(
    db: &mut dyn Backend,
    tables: &mut BTreeMap<String, Table>,
) -> Result<(), DbError> {
    for row in db.query(INDEXES, &[]).await?.rows {
        let cells = Cells(&row);
        let Some(table) = tables.get_mut(&cells.text(0)) else {
            continue;
        };
        let name = cells.text(1);
        let mut column = cells.text(3);
        if cells.int(4) > 0 {
            column = format!("{column}({})", cells.int(4));
        }
        if name == "PRIMARY" {
            table
                .primary_key
                .get_or_insert_with(PrimaryKey::default)
                .columns
                .push(column);
            continue;
        }
        if table.index(&name).is_none() {
            let method = cells.text(5);
            table.indexes.push(Index {
                name: name.clone(),
                columns: Vec::new(),
                unique: !cells.flag(2),
                predicate: None,
                using: (method != "BTREE").then_some(method),
            });
        }
        if let Some(index) = table.indexes.iter_mut().find(|i| i.name == name) {
            index.columns.push(column);
        }
    }
    Ok(())
}

async fn read_foreign_keys(
    db: &mut dyn Backend,
    tables: &mut BTreeMap<String, Table>,
) -> Result<(), DbError> {
    for row in db.query(FOREIGN_KEYS, &[]).await?.rows {
        let cells = Cells(&row);
        let Some(table) = tables.get_mut(&cells.text(0)) else {
            continue;
        };
        let name = Some(cells.text(1));
        let position = table.foreign_keys.iter().position(|k| k.name == name);
        let key = match position {
            Some(i) => &mut table.foreign_keys[i],
            None => {
                table.foreign_keys.push(ForeignKey {
                    name,
                    references: cells.text(3),
                    on_delete: rule(&cells.text(5)),
                    on_update: rule(&cells.text(6)),
                    ..ForeignKey::default()
                });
                let last = table.foreign_keys.len() - 1;
                &mut table.foreign_keys[last]
            }
        };
        key.columns.push(cells.text(2));
        key.referenced_columns.push(cells.text(4));
    }
    Ok(())
}

fn rule(text: &str) -> Action {
    match Action::parse(text) {
        Some(Action::Restrict) | None => Action::NoAction,
        Some(action) => action,
    }
}

/// A check, unless it is MariaDB's `json_valid` check of a JSON column.
fn check(table: &mut Table, name: String, expression: String) {
    let json_check = format!("json_valid(`{name}`)");
    if expression.eq_ignore_ascii_case(&json_check)
        && let Some(column) = table.column_mut(&name)
        && column.native.eq_ignore_ascii_case("longtext")
    {
        column.native = "json".to_owned();
        column.portable = Some(Type::Json);
        return;
    }
    table.checks.push(Check {
        name: Some(name),
        expression,
    });
}
