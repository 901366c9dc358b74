//! SQLite's table rebuild, for the changes `ALTER TABLE` cannot make there
//! (most column changes and every constraint change), following SQLite's
//! documented procedure: create the new table under a temporary name, copy
//! the rows, drop the old table, rename the new one, then recreate its
//! indexes and triggers, and the views that name it.
//!
//! A rebuild drops the old table, which with foreign-key enforcement on
//! would delete the rows of every `ON DELETE CASCADE` child. The migrator
//! therefore switches enforcement off before the migration's transaction
//! begins (it cannot be switched inside one), refuses to rebuild when it
//! finds it on, and runs `PRAGMA foreign_key_check` before committing.

use super::{Rendered, create_index, create_table, quote};
use crate::backend::Dialect;
use crate::schema::model::{Schema, Table};

/// The name the new table has while both exist.
fn temporary(name: &str) -> String {
    format!("wasmig_rebuild_{name}")
}

/// Rebuilds `old` (as it is in `before`) into `new`, keeping every row: the
/// columns both have are copied by name.
pub(super) fn rebuild(before: &Schema, old: &Table, new: &Table, out: &mut Rendered) {
    let d = Dialect::Sqlite;
    let q = |name: &str| quote(d, name);
    let mentions = |definition: &str| {
        definition
            .to_ascii_lowercase()
            .contains(&old.name.to_ascii_lowercase())
    };
    let views: Vec<_> = before
        .views
        .iter()
        .filter(|v| mentions(&v.definition))
        .collect();
    for view in &views {
        out.statements.push(format!("DROP VIEW {}", q(&view.name)));
    }
    let staging = Table {
        name: temporary(&new.name),
        ..new.clone()
    };
    out.statements.push(create_table(d, &staging, true));
    let shared: Vec<String> = new
        .columns
        .iter()
        .filter(|c| old.column(&c.name).is_some())
        .map(|c| q(&c.name))
        .collect();
    if !shared.is_empty() {
        let list = shared.join(", ");
        out.statements.push(format!(
            "INSERT INTO {} ({list}) SELECT {list} FROM {}",
            q(&staging.name),
            q(&old.name)
        ));
    }
    out.statements.push(format!("DROP TABLE {}", q(&old.name)));
    out.statements.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        q(&staging.name),
        q(&new.name)
    ));
    for index in &new.indexes {
        out.statements.push(create_index(d, new, index));
    }
    for trigger in before
        .triggers
        .iter()
        .filter(|t| t.table.as_deref() == Some(old.name.as_str()))
    {
        out.statements.push(trigger.definition.clone());
    }
    for view in views {
        out.statements.push(view.definition.clone());
    }
    out.rebuilt = true;
}
