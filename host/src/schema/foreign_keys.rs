//! SQLite's foreign-key enforcement around table rebuilds.
//!
//! A rebuild drops the old table: with foreign keys enforced that would
//! delete the children of an `ON DELETE CASCADE` key, and SQLite cannot stop
//! enforcing them inside a transaction. So enforcement is switched off
//! before the migration's transaction begins, a rebuild refuses to run when
//! it finds it on, and the keys are checked before the commit.

use crate::backend::{Backend, DbError, Value};

async fn enforced(db: &mut dyn Backend) -> Result<bool, DbError> {
    let rows = db.query("PRAGMA foreign_keys", &[]).await?;
    Ok(matches!(
        rows.rows.first().and_then(|r| r.first()),
        Some(Value::Int(1))
    ))
}

/// Switches enforcement off (outside any transaction); returns whether it
/// was on.
///
/// # Errors
/// The database's error.
pub async fn switch_off(db: &mut dyn Backend) -> Result<bool, DbError> {
    let on = enforced(db).await?;
    if on {
        db.execute_script("PRAGMA foreign_keys = OFF").await?;
    }
    Ok(on)
}

/// Refuses a rebuild while enforcement is on.
///
/// # Errors
/// Why the rebuild cannot run.
pub async fn refuse_enforced(db: &mut dyn Backend) -> Result<(), String> {
    if enforced(db).await.map_err(|e| e.to_string())? {
        return Err(
            "this change rebuilds the table, and foreign keys are enforced inside \
                    the transaction (where SQLite cannot switch them off): the rebuild would \
                    delete the rows of ON DELETE CASCADE children. Apply it with `wasmig up`, \
                    which switches enforcement off first"
                .to_owned(),
        );
    }
    Ok(())
}

/// After a rebuild: every foreign key still holds.
///
/// # Errors
/// The rows that point at missing rows (the first few), or the database's
/// error.
pub async fn check(db: &mut dyn Backend) -> Result<(), String> {
    let rows = db
        .query(
            "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check LIMIT 5",
            &[],
        )
        .await
        .map_err(|e| format!("cannot check foreign keys: {e}"))?;
    if rows.rows.is_empty() {
        return Ok(());
    }
    let found: Vec<String> = rows
        .rows
        .iter()
        .map(|r| {
            let cell = |i: usize| match r.get(i) {
                Some(Value::Text(s)) => s.clone(),
                Some(Value::Int(n)) => n.to_string(),
                _ => "?".to_owned(),
            };
            format!(
                "a row of `{}` (rowid {}) points at a missing `{}` row",
                cell(0),
                cell(1),
                cell(2)
            )
        })
        .collect();
    Err(format!(
        "the foreign keys do not hold after the change: {}",
        found.join("; ")
    ))
}
