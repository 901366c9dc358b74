//! The schema a project means to have, kept as files (`schema = "schema"`
//! in `wasmig.toml`):
//!
//! - a directory of `.sql` files in the engine's dialect (`CREATE TABLE`,
//!   `CREATE INDEX`, `ALTER TABLE … ADD CONSTRAINT`, views…), run in file
//!   name order into an empty scratch database and read back from there,
//!   so defaults, checks and implicit indexes read exactly as the engine
//!   keeps them;
//! - or a state file, the model as `wasmig schema dump --format toml` (or
//!   `json`) writes it.
//!
//! A statement the engine refuses is reported with its file and line, and,
//! when it does not even parse, with what the parser expected there.

use std::path::{Path, PathBuf};

use sqlparser::parser::Parser;

use super::Schema;
use super::introspect::introspect;
use crate::backend::{Backend, Dialect};
use crate::error::Error;
use crate::policy::sql::parser_dialect;

/// Where the desired schema is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    /// `.sql` files, in name order.
    Sql(Vec<PathBuf>),
    /// A state file (`.toml` or `.json`).
    State(PathBuf),
}

impl Desired {
    /// What `path` (a directory of `.sql` files, one `.sql` file or a state
    /// file) holds.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::Source`] when it
    /// holds no schema.
    pub fn at(path: &Path) -> Result<Self, Error> {
        let meta = std::fs::metadata(path).map_err(Error::io(path))?;
        if meta.is_file() {
            return Ok(match path.extension().and_then(|e| e.to_str()) {
                Some("toml" | "json") => Self::State(path.to_owned()),
                _ => Self::Sql(vec![path.to_owned()]),
            });
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(Error::io(path))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Source {
                path: path.to_owned(),
                message: "holds no .sql file: write the schema you want as CREATE TABLE \
                          statements there, or point `schema` in wasmig.toml at a state file \
                          (`wasmig schema dump --format toml > schema.toml`)"
                    .into(),
            });
        }
        Ok(Self::Sql(files))
    }

    /// Whether reading it needs a scratch database.
    pub fn needs_database(&self) -> bool {
        matches!(self, Self::Sql(_))
    }
}

/// Reads a state file.
///
/// # Errors
/// [`Error::Source`] naming the file when it is not a schema state.
pub fn read_state(path: &Path) -> Result<Schema, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| Error::Source {
        path: path.to_owned(),
        message: format!(
            "is not a schema state ({e}); write one with `wasmig schema dump --format toml`"
        ),
    })
}

/// Runs the `.sql` files into `db` (an empty scratch database) and reads
/// the schema they made.
///
/// # Errors
/// [`Error::Source`] naming the file, the line and the statement the
/// engine refused.
pub async fn load(db: &mut dyn Backend, files: &[PathBuf]) -> Result<Schema, Error> {
    let dialect = db.dialect();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(Error::io(file))?;
        for statement in crate::policy::statements_for(dialect, &text) {
            if let Err(e) = db.execute(statement, &[]).await {
                let line = line_of(&text, statement);
                return Err(Error::Source {
                    path: file.clone(),
                    message: refused(dialect, statement, line, &e.message),
                });
            }
        }
    }
    introspect(db, None)
        .await
        .map_err(Error::db("reading the schema the schema files made"))
}

/// The 1-based line where `statement` (a slice of `text`) starts.
fn line_of(text: &str, statement: &str) -> usize {
    // `statements` hands out slices of `text`, so the distance between the
    // two starts is the statement's offset.
    let offset = (statement.as_ptr() as usize)
        .saturating_sub(text.as_ptr() as usize)
        .min(text.len());
    text[..offset].matches('\n').count() + 1
}

/// The message for a statement the engine refused: where it is, what it
/// is, and, when it does not parse, the parser's account of where and why.
fn refused(dialect: Dialect, statement: &str, line: usize, engine: &str) -> String {
    let head: String = statement
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(60)
        .collect();
    let parser = match Parser::parse_sql(&*parser_dialect(dialect), statement) {
        Ok(_) => String::new(),
        Err(e) => format!(
            "\n  it does not parse: {}",
            shift_lines(&e.to_string(), line)
        ),
    };
    format!(
        "line {line}: `{head}` was refused by {dialect}: {engine}{parser}\n  fix the \
         statement; the schema files are the schema you want, in {dialect}'s own SQL"
    )
}

/// Rewrites sqlparser's `Line: N` (within the statement) as the file's line.
fn shift_lines(message: &str, first: usize) -> String {
    let Some(at) = message.find("Line: ") else {
        return message.to_owned();
    };
    let rest = &message[at + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match digits.parse::<usize>() {
        Ok(n) => format!(
            "{}Line: {}{}",
            &message[..at],
            n + first - 1,
            &rest[digits.len()..]
        ),
        Err(_) => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_placed_on_its_line() {
        let text = "CREATE TABLE a (id int);\n\n-- b\nCREATE TABLE b (\n  id int\n);\n";
        let statements = crate::policy::statements(text);
        assert_eq!(line_of(text, statements[0]), 1);
        assert_eq!(line_of(text, statements[1]), 3);
    }

    #[test]
    fn parser_lines_become_file_lines() {
        assert_eq!(
            shift_lines("Expected: ), found: x at Line: 2, Column: 5", 10),
            "Expected: ), found: x at Line: 11, Column: 5"
        );
    }
}
