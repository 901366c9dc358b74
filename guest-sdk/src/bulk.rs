//! The fast paths for moving many rows: keyset iteration, and batched
//! updates and inserts that cost one host call per batch and use each
//! database's quickest statement shape.

use crate::db::{Db, Rows};
use crate::{Dialect, Result, Value, params};

/// Batches of a table's rows in key order, from [`Db::keyset`].
pub struct Keyset<'a> {
    db: &'a Db,
    /// The first batch's query.
    first: String,
    /// Every later batch's: the same, after the last key read.
    after: String,
    batch: u32,
    last: Option<Value>,
    done: bool,
}

impl Iterator for Keyset<'_> {
    type Item = Result<Rows>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match &self.last {
            None => self.db.query(&self.first, &[]),
            Some(last) => self.db.query(&self.after, &params![last]),
        };
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        // A short batch is the last one.
        self.done = rows.len() < self.batch as usize;
        let key = rows.rows.last().and_then(|row| row.first())?;
        self.last = Some(key.clone());
        Some(Ok(rows))
    }
}

impl Db {
    /// Reads `table` in order of its unique `key` column, `batch` rows at a
    /// time: column 0 of every row is the key, then `columns`. Each batch is
    /// one indexed query (`WHERE key > last ORDER BY key LIMIT batch`), so
    /// nothing stays open between batches, and writing back the rows of a
    /// batch before reading the next is safe. The way to walk a large table
    /// in a backfill.
    ///
    /// `table`, `key` and `columns` are SQL identifiers, written into the
    /// query as given.
    pub fn keyset<'a>(
        &'a self,
        table: &str,
        key: &str,
        columns: &[&str],
        batch: u32,
    ) -> Keyset<'a> {
        let batch = batch.max(1);
        let mut list = vec![key];
        list.extend_from_slice(columns);
        let list = list.join(", ");
        Keyset {
            db: self,
            first: format!("SELECT {list} FROM {table} ORDER BY {key} LIMIT {batch}"),
            after: format!(
                "SELECT {list} FROM {table} WHERE {key} > {} ORDER BY {key} LIMIT {batch}",
                self.placeholder(1)
            ),
            batch,
            last: None,
            done: false,
        }
    }

    /// Sets `columns` on many rows of `table` in one host call. Each row of
    /// `rows` is the row's `key` value followed by the new values of
    /// `columns`, in order. Returns how many rows changed.
    ///
    /// On PostgreSQL the whole batch is one statement reading a JSON
    /// parameter (`json_populate_recordset`, typed by the table's own row
    /// type); elsewhere it is one prepared `UPDATE` run once per row inside
    /// the database engine.
    ///
    /// # Errors
    /// The database's error (on SQLite and MySQL, the first failing row's).
    pub fn update_rows(
        &self,
        table: &str,
        key: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self.dialect() {
            Dialect::Postgres => {
                let mut names = vec![key];
                names.extend_from_slice(columns);
                let set: Vec<String> = columns.iter().map(|c| format!("{c} = v.{c}")).collect();
                let sql = format!(
                    "UPDATE {table} AS t SET {} FROM json_populate_recordset(NULL::{table}, $1::json) AS v \
                     WHERE t.{key} = v.{key}",
                    set.join(", ")
                );
                self.execute(&sql, &[Value::Text(json_records(&names, rows))])
            }
            // Numbered placeholders take the rows as they are: the key is ?1.
            Dialect::Sqlite => {
                let set: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ?{}", i + 2))
                    .collect();
                let sql = format!("UPDATE {table} SET {} WHERE {key} = ?1", set.join(", "));
                self.execute_batch(&sql, rows)
            }
            // MySQL's placeholders are positional: the key goes last.
            Dialect::Mysql => {
                let set: Vec<String> = columns.iter().map(|c| format!("{c} = ?")).collect();
                let sql = format!("UPDATE {table} SET {} WHERE {key} = ?", set.join(", "));
                let sets: Vec<Vec<Value>> = rows
                    .iter()
                    .map(|row| {
                        let mut set = row.clone();
                        if !set.is_empty() {
                            set.rotate_left(1);
                        }
                        set
                    })
                    .collect();
                self.execute_batch(&sql, &sets)
            }
        }
    }

    /// Inserts many rows into `table` in one host call; each row holds the
    /// values of `columns`, in order. Returns how many rows were inserted.
    ///
    /// On PostgreSQL the whole batch is one statement reading a JSON
    /// parameter; on MySQL, multi-row `INSERT … VALUES` statements; on
    /// SQLite, one prepared `INSERT` run once per row inside the engine.
    ///
    /// # Errors
    /// The database's error.
    pub fn insert_rows(&self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let list = columns.join(", ");
        match self.dialect() {
            Dialect::Postgres => {
                let sql = format!(
                    "INSERT INTO {table} ({list}) SELECT {list} FROM \
                     json_populate_recordset(NULL::{table}, $1::json)"
                );
                self.execute(&sql, &[Value::Text(json_records(columns, rows))])
            }
            Dialect::Mysql => {
                // At most 65 535 placeholders per statement.
                let per_statement = (60_000 / columns.len().max(1)).max(1);
                let tuple = format!("({})", vec!["?"; columns.len()].join(", "));
                let mut inserted = 0;
                for chunk in rows.chunks(per_statement) {
                    let sql = format!(
                        "INSERT INTO {table} ({list}) VALUES {}",
                        vec![tuple.as_str(); chunk.len()].join(", ")
                    );
                    let flat: Vec<Value> = chunk.iter().flatten().cloned().collect();
                    inserted += self.execute(&sql, &flat)?;
                }
                Ok(inserted)
            }
            Dialect::Sqlite => {
                let placeholders: Vec<String> =
                    (1..=columns.len()).map(|i| self.placeholder(i)).collect();
                let sql = format!(
                    "INSERT INTO {table} ({list}) VALUES ({})",
                    placeholders.join(", ")
                );
                self.execute_batch(&sql, rows)
            }
        }
    }
}

/// `rows` as a JSON array of objects keyed by `names`, in the text forms
/// PostgreSQL reads into each column type.
fn json_records(names: &[&str], rows: &[Vec<Value>]) -> String {
    let mut out = String::with_capacity(rows.len() * 32 * names.len().max(1));
    out.push('[');
    for (r, row) in rows.iter().enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('{');
        for (i, (name, value)) in names.iter().zip(row).enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, name);
            out.push(':');
            json_value(&mut out, value);
        }
        out.push('}');
    }
    out.push(']');
    out
}

fn json_value(out: &mut String, value: &Value) {
    use std::fmt::Write as _;
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        // PostgreSQL reads these spellings into float columns.
        Value::Float(f) if f.is_nan() => out.push_str("\"NaN\""),
        Value::Float(f) if *f > 0.0 => out.push_str("\"Infinity\""),
        Value::Float(_) => out.push_str("\"-Infinity\""),
        Value::Json(doc) => out.push_str(doc),
        Value::Bytes(bytes) => {
            let mut hex = String::with_capacity(2 + bytes.len() * 2);
            hex.push_str("\\x");
            for b in bytes {
                let _ = write!(hex, "{b:02x}");
            }
            json_string(out, &hex);
        }
        Value::Text(s)
        | Value::Uuid(s)
        | Value::Timestamp(s)
        | Value::Date(s)
        | Value::Decimal(s) => json_string(out, s),
    }
}

fn json_string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_json_with_every_value_in_a_form_postgres_reads() {
        let rows = vec![
            vec![
                Value::Int(1),
                Value::Text("a \"quoted\"\nline\\".into()),
                Value::Bytes(vec![0, 255]),
            ],
            vec![Value::Int(2), Value::Null, Value::Float(f64::NAN)],
            vec![
                Value::Int(3),
                Value::Json("{\"k\":[1,2]}".into()),
                Value::Float(1.5),
            ],
        ];
        assert_eq!(
            json_records(&["id", "a", "b"], &rows),
            r#"[{"id":1,"a":"a \"quoted\"\nline\\","b":"\\x00ff"},{"id":2,"a":null,"b":"NaN"},{"id":3,"a":{"k":[1,2]},"b":1.5}]"#
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        json_string(&mut out, "\u{1}x\t");
        assert_eq!(out, r#""\u0001x\t""#);
    }
}
