//! The SDK's bulk helpers on every engine: `insert_rows` writes 2 500 rows
//! (names with quotes, backslashes, newlines, non-ASCII text and NULLs),
//! then `keyset` walks them 1 000 at a time (three batches, the last one
//! short) and `update_rows` sets two columns of each from the others.

use wasmig_guest::{Db, Env, Migration, Result, Value, export_migration, params};

const ROWS: i64 = 2_500;

fn first_name(id: i64) -> Value {
    match id % 5 {
        0 => Value::Text(format!("O'Brien \"{id}\"")),
        1 => Value::Text(format!("back\\slash\nline {id}")),
        2 => Value::Text(format!("Zoë 東京 {id}")),
        3 => Value::Null,
        _ => Value::Text(format!("plain{id}")),
    }
}

struct BulkRows;

impl Migration for BulkRows {
    fn up(db: &Db, env: &Env) -> Result<()> {
        db.execute_script(
            "CREATE TABLE people (id BIGINT PRIMARY KEY, first_name TEXT, last_name TEXT NOT NULL, \
             full_name TEXT, name_length BIGINT)",
        )?;
        let rows: Vec<Vec<Value>> = (1..=ROWS)
            .map(|id| vec![Value::Int(id), first_name(id), Value::Text(format!("L{id}"))])
            .collect();
        let inserted = db.insert_rows("people", &["id", "first_name", "last_name"], &rows)?;
        let mut batches = 0;
        let mut updated = 0;
        for batch in db.keyset("people", "id", &["first_name", "last_name"], 1_000) {
            let batch = batch?;
            batches += 1;
            let mut updates = Vec::with_capacity(batch.len());
            for row in batch.iter() {
                let id: i64 = row.get("id")?;
                let first: Option<String> = row.get("first_name")?;
                let last: String = row.get("last_name")?;
                let full = match first {
                    Some(first) => format!("{first} {last}"),
                    None => last,
                };
                let length = full.chars().count() as i64;
                updates.push(params![id, full, length]);
            }
            updated += db.update_rows("people", "id", &["full_name", "name_length"], &updates)?;
        }
        // Read everything back: each value must be exactly what was written.
        let mut verified = 0;
        for batch in db.keyset("people", "id", &["full_name", "name_length"], 700) {
            for row in batch?.iter() {
                let id: i64 = row.get(0)?;
                let expected = match first_name(id) {
                    Value::Text(first) => format!("{first} L{id}"),
                    _ => format!("L{id}"),
                };
                let full: String = row.get(1)?;
                let length: i64 = row.get(2)?;
                if full != expected || length != expected.chars().count() as i64 {
                    return Err(wasmig_guest::Error::msg(format!(
                        "row {id}: read back {full:?} ({length}), wrote {expected:?}"
                    )));
                }
                verified += 1;
            }
        }
        env.info(&format!(
            "bulk: inserted {inserted}, updated {updated} in {batches} batches, verified {verified}"
        ));
        Ok(())
    }

    fn down(db: &Db, _env: &Env) -> Result<()> {
        db.execute_script("DROP TABLE people")?;
        Ok(())
    }
}

export_migration!(BulkRows);
