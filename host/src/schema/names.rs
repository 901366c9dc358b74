//! The names wasmig gives what an operation creates without naming it, so
//! that its revert can name it too.

/// The name PostgreSQL gives the enum type of `table.column` when a
/// portable enum column is created.
pub fn enum_type_name(table: &str, column: &str) -> String {
    format!("{table}_{column}")
}

/// The name a foreign key gets when its operation gives none (PostgreSQL's
/// own convention).
pub fn foreign_key_name(table: &str, columns: &[String]) -> String {
    format!("{table}_{}_fkey", columns.join("_"))
}
