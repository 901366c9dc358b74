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

/// Whether `text` (a view's query, a check's condition) names `name` as a
/// word, in any case.
pub fn mentions(text: &str, name: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(&name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}
