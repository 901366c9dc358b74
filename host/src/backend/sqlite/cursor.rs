//! Cursors: rows copied into a temporary table when the cursor opens, and
//! read back by `rowid` in batches.

use rusqlite::Connection;

use super::errors::to_db_error;
use super::values::{kinds_of, to_value};
use crate::backend::{Column, DbError, ResultCap, Rows, Tally, Value};

/// An open cursor.
pub(super) enum Cursor {
    /// Rows copied into `temp.<table>`, read in `rowid` order.
    Table {
        table: String,
        columns: Vec<Column>,
        last_rowid: i64,
    },
    /// A statement that cannot feed `CREATE TABLE … AS` (a PRAGMA, say):
    /// its rows are held in memory.
    Buffered(Rows),
}

impl Cursor {
    /// The next at most `max_rows` rows, or `None` once all were read.
    pub(super) fn next(
        &mut self,
        conn: &Connection,
        max_rows: u32,
        cap: ResultCap,
    ) -> Result<Option<Rows>, DbError> {
        match self {
            Cursor::Buffered(rows) => next_buffered(rows, max_rows, cap),
            Cursor::Table {
                table,
                columns,
                last_rowid,
            } => next_from_table(conn, table, columns, last_rowid, max_rows, cap),
        }
    }
}

/// Takes the next rows of a cursor held in memory.
fn next_buffered(rows: &mut Rows, max_rows: u32, cap: ResultCap) -> Result<Option<Rows>, DbError> {
    if rows.rows.is_empty() {
        return Ok(None);
    }
    let take = rows.rows.len().min(max_rows as usize);
    let batch: Vec<Vec<Value>> = rows.rows.drain(..take).collect();
    let mut tally = Tally::new(cap);
    for row in &batch {
        tally.add(row)?;
    }
    Ok(Some(Rows {
        columns: rows.columns.clone(),
        rows: batch,
    }))
}

/// Reads the rows of `temp.<table>` after `last_rowid`, and moves it on.
fn next_from_table(
    conn: &Connection,
    table: &str,
    columns: &[Column],
    last_rowid: &mut i64,
    max_rows: u32,
    cap: ResultCap,
) -> Result<Option<Rows>, DbError> {
    let sql = format!("SELECT rowid, * FROM temp.{table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql).map_err(to_db_error)?;
    let mut result = stmt
        .query((*last_rowid, i64::from(max_rows)))
        .map_err(to_db_error)?;
    let kinds = kinds_of(columns);
    let mut rows = Vec::new();
    let mut tally = Tally::new(cap);
    while let Some(row) = result.next().map_err(to_db_error)? {
        *last_rowid = row.get(0).map_err(to_db_error)?;
        let mut values = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            let cell = row.get_ref(i + 1).map_err(to_db_error)?;
            values.push(to_value(cell, *kind));
        }
        tally.add(&values)?;
        rows.push(values);
    }
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Rows {
        columns: columns.to_vec(),
        rows,
    }))
}
