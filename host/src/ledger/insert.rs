//! Rows written to the ledger's tables, batched into as few statements as
//! the engine allows.

use crate::backend::{Backend, Dialect, Value};

/// An `INSERT` of rows into one table, rendered for a dialect when run.
pub(super) struct Insert {
    /// `table (column, …)`.
    pub(super) into: String,
    /// The rows, one value per column.
    pub(super) rows: Vec<Vec<Value>>,
}

impl Insert {
    /// The statement, with placeholders numbered from `first`; returns the
    /// next free number too.
    fn render(&self, d: Dialect, first: usize) -> (String, usize) {
        let mut n = first;
        let tuples: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .map(|_| {
                        let p = d.placeholder(n);
                        n += 1;
                        p
                    })
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        (
            format!("INSERT INTO {} VALUES {}", self.into, tuples.join(", ")),
            n,
        )
    }
}

/// Runs `inserts` one statement each; on PostgreSQL, in one statement (a
/// round trip, not one per table).
pub(super) async fn run_inserts(
    db: &mut dyn Backend,
    inserts: &[Insert],
) -> Result<(), crate::DbError> {
    let d = db.dialect();
    if d == Dialect::Postgres && inserts.len() > 1 {
        let mut next = 1;
        let mut parts = Vec::with_capacity(inserts.len());
        for insert in inserts {
            let (sql, after) = insert.render(d, next);
            next = after;
            parts.push(sql);
        }
        let last = parts.pop().unwrap_or_default();
        let ctes: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, sql)| format!("w{i} AS ({sql})"))
            .collect();
        let sql = format!("WITH {} {last}", ctes.join(", "));
        let params: Vec<Value> = inserts
            .iter()
            .flat_map(|i| i.rows.iter().flatten().cloned())
            .collect();
        db.execute(&sql, &params).await?;
        return Ok(());
    }
    for insert in inserts {
        let (sql, _) = insert.render(d, 1);
        let params: Vec<Value> = insert.rows.iter().flatten().cloned().collect();
        db.execute(&sql, &params).await?;
    }
    Ok(())
}
