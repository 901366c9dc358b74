//! What a guest's statements may do.
//!
//! Transaction control belongs to the host: a migration runs in the
//! transaction wasmig opened, and only wasmig commits it. Any statement of a
//! guest's SQL that would begin, end or nest a transaction is refused before
//! it reaches the database.

use crate::backend::Dialect;

/// Returns the transaction-control keyword `sql` starts one of its
/// statements with, if any.
pub fn transaction_control(sql: &str) -> Option<&'static str> {
    split_statements(sql).find_map(|statement| {
        let mut words = leading_words(statement);
        let first = words.next()?.to_ascii_uppercase();
        match first.as_str() {
            "BEGIN" => Some("BEGIN"),
            "START" => Some("START TRANSACTION"),
            "COMMIT" => Some("COMMIT"),
            "END" => Some("END"),
            "ROLLBACK" => Some("ROLLBACK"),
            "ABORT" => Some("ABORT"),
            "SAVEPOINT" => Some("SAVEPOINT"),
            "RELEASE" => Some("RELEASE"),
            "PREPARE"
                if words
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case("TRANSACTION")) =>
            {
                Some("PREPARE TRANSACTION")
            }
            "SET" => {
                let second = words.next()?.to_ascii_uppercase();
                match second.as_str() {
                    "TRANSACTION" => Some("SET TRANSACTION"),
                    "AUTOCOMMIT" => Some("SET AUTOCOMMIT"),
                    "SESSION" | "LOCAL"
                        if words
                            .next()
                            .is_some_and(|w| w.eq_ignore_ascii_case("CHARACTERISTICS")) =>
                    {
                        Some("SET SESSION CHARACTERISTICS")
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    })
}

/// What sets one engine's SQL text apart, as far as splitting goes.
#[derive(Debug, Clone, Copy, Default)]
struct Lexicon {
    /// `/* /* */ */` nests (PostgreSQL).
    nested_comments: bool,
    /// `\'` escapes a quote inside a string (MySQL and MariaDB, by default).
    backslash_escapes: bool,
}

impl Lexicon {
    fn of(dialect: Dialect) -> Self {
        Self {
            nested_comments: dialect == Dialect::Postgres,
            backslash_escapes: dialect == Dialect::Mysql,
        }
    }
}

/// Splits a script on `;` outside quotes, comments, dollar-quoted bodies
/// and the `BEGIN … END` bodies of triggers and routines. Empty statements
/// (whitespace and comments only) are kept; see [`statements`].
fn split_statements(sql: &str) -> impl Iterator<Item = &str> {
    split_with(sql, Lexicon::default())
}

fn split_with(sql: &str, lexicon: Lexicon) -> impl Iterator<Item = &str> {
    let bytes = sql.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => i = closing_quote(bytes, i, quote, lexicon),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = block_comment_end(bytes, i, lexicon),
            b'$' => {
                if let Some(after) = after_dollar_quoted(sql, i) {
                    i = after;
                    continue;
                }
            }
            c if c.is_ascii_alphabetic() => {
                let word_end = sql[i..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(bytes.len(), |n| i + n);
                depth = block_depth(sql, start, i..word_end, depth);
                i = word_end;
                continue;
            }
            b';' if depth == 0 => {
                parts.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < sql.len() {
        parts.push(&sql[start..]);
    }
    parts.into_iter()
}

/// The index of the quote that closes the one at `open` (or the end).
fn closing_quote(bytes: &[u8], open: usize, quote: u8, lexicon: Lexicon) -> usize {
    let escapes = lexicon.backslash_escapes && quote != b'`';
    let mut i = open + 1;
    while i < bytes.len() && bytes[i] != quote {
        if escapes && bytes[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i.min(bytes.len())
}

/// The index of the newline that ends the `--` comment at `start` (or the
/// end).
fn line_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() && bytes[i] != b'\n' {
        i += 1;
    }
    i
}

/// The index of the `/` that closes the `/*` comment at `start` (or the
/// end), counting nested comments where the engine nests them.
fn block_comment_end(bytes: &[u8], start: usize, lexicon: Lexicon) -> usize {
    let mut depth = 1usize;
    let mut i = start + 2;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'*', b'/') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
                i += 2;
            }
            (b'/', b'*') if lexicon.nested_comments => {
                depth += 1;
                i += 2;
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Where the `$tag$ … $tag$` body (PostgreSQL) starting at `start` ends;
/// `None` when the `$` opens no such body (`$1` placeholders have no
/// closing `$`).
fn after_dollar_quoted(sql: &str, start: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let tag_end = sql[start + 1..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(|n| start + 1 + n)
        .filter(|&e| bytes[e] == b'$')?;
    let tag = &sql[start..=tag_end];
    if tag[1..tag.len() - 1].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(
        sql[tag_end + 1..]
            .find(tag)
            .map_or(bytes.len(), |n| tag_end + n + tag.len()),
    )
}

/// The nesting of `BEGIN … END` bodies after the word at `word` of the
/// statement starting at `start`, which was `depth` before it. Only the
/// bodies of routines count: triggers, procedures, functions and events.
fn block_depth(sql: &str, start: usize, word: std::ops::Range<usize>, depth: usize) -> usize {
    let (word_start, word_end) = (word.start, word.end);
    let word = &sql[word];
    let in_routine = || {
        let mut words = leading_words(&sql[start..word_start]);
        words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("CREATE"))
            && words.any(|w| {
                ["TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
            })
    };
    if (word.eq_ignore_ascii_case("BEGIN") || word.eq_ignore_ascii_case("CASE")) && in_routine() {
        return depth + 1;
    }
    if word.eq_ignore_ascii_case("END") && depth > 0 {
        // `END IF`, `END LOOP`, `END WHILE` and `END REPEAT` close blocks
        // whose openers are not counted; `END` and `END CASE` close a BEGIN
        // or a CASE.
        let next = leading_words(&sql[word_end..]).next().unwrap_or("");
        let uncounted = ["IF", "LOOP", "WHILE", "REPEAT"]
            .iter()
            .any(|k| next.eq_ignore_ascii_case(k));
        if !uncounted {
            return depth - 1;
        }
    }
    depth
}

/// The statements of a script, in order, without the empty ones, read the
/// way most engines read them (see [`statements_for`]).
pub fn statements(sql: &str) -> Vec<&str> {
    split_statements(sql)
        .filter(|s| leading_words(s).next().is_some())
        .map(str::trim)
        .collect()
}

/// The statements of a script as `dialect` reads it: nested comments on
/// PostgreSQL, backslash escapes in MySQL strings.
pub fn statements_for(dialect: Dialect, sql: &str) -> Vec<&str> {
    split_with(sql, Lexicon::of(dialect))
        .filter(|s| leading_words(s).next().is_some())
        .map(str::trim)
        .collect()
}

/// Whether a statement changes the schema (and so commits implicitly on
/// MySQL and MariaDB).
pub fn is_ddl(statement: &str) -> bool {
    leading_words(statement).next().is_some_and(|w| {
        ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    })
}

/// Whether a SQL migration opts out of the wrapping transaction: a leading
/// comment line `-- wasmig:no-transaction` (or sqlx's `-- no-transaction`).
pub fn wants_no_transaction(sql: &str) -> bool {
    sql.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with("--"))
        .any(|l| {
            let directive = l.trim_start_matches('-').trim();
            directive.eq_ignore_ascii_case("wasmig:no-transaction")
                || directive.eq_ignore_ascii_case("no-transaction")
        })
}

/// The words at the start of a statement, past comments.
fn leading_words(statement: &str) -> impl Iterator<Item = &str> {
    let mut rest = statement;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by tests/fuzz.rs: PostgreSQL nests block comments.
    #[test]
    fn a_nested_comment_on_postgres_hides_its_semicolons() {
        let sql = "SELECT 1 /* outer /* inner; */ still; */; SELECT 2";
        assert_eq!(
            statements_for(Dialect::Postgres, sql),
            ["SELECT 1 /* outer /* inner; */ still; */", "SELECT 2"]
        );
        // SQLite and MySQL end the comment at the first `*/`.
        let sql = "SELECT 1 /* a /* b */; SELECT 2";
        assert_eq!(statements_for(Dialect::Sqlite, sql).len(), 2);
    }

    /// Found by tests/fuzz.rs: MySQL strings escape quotes with backslashes.
    #[test]
    fn a_backslash_escaped_quote_on_mysql_does_not_end_the_string() {
        let sql = r#"SELECT 'it\'s; fine', "q\"; too"; SELECT 2"#;
        assert_eq!(
            statements_for(Dialect::Mysql, sql),
            [r#"SELECT 'it\'s; fine', "q\"; too""#, "SELECT 2"]
        );
    }

    #[test]
    fn scripts_split_into_statements_keeping_routine_bodies_whole() {
        let mysql = "CREATE TRIGGER t BEFORE INSERT ON o FOR EACH ROW BEGIN \
                     IF NEW.x < 0 THEN SET NEW.x = 0; END IF; \
                     WHILE 0 DO SET @a = 1; END WHILE; \
                     SET @b = CASE WHEN 1 THEN 2 END; END; SELECT 1";
        assert_eq!(statements(mysql).len(), 2, "{:?}", statements(mysql));
        let script = "CREATE TABLE a (x INT);\n-- comment only;\n\
                      CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END;\n\
                      CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n";
        let parts = statements(script);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[1].ends_with("END"));
        assert!(is_ddl(parts[0]) && is_ddl(parts[2]));
        assert!(!is_ddl("INSERT INTO a VALUES (1)"));
    }

    #[test]
    fn no_transaction_directives_are_read_from_leading_comments() {
        assert!(wants_no_transaction(
            "-- wasmig:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);"
        ));
        assert!(wants_no_transaction(
            "-- add an index\n-- no-transaction\nSELECT 1;"
        ));
        assert!(!wants_no_transaction("SELECT 1;\n-- wasmig:no-transaction"));
    }

    #[test]
    fn transaction_control_is_found_anywhere_in_a_script() {
        assert_eq!(transaction_control("COMMIT"), Some("COMMIT"));
        assert_eq!(transaction_control("  begin transaction;"), Some("BEGIN"));
        assert_eq!(
            transaction_control("UPDATE t SET x = 1; /* hi */ rollback"),
            Some("ROLLBACK")
        );
        assert_eq!(
            transaction_control("-- note\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            Some("SET TRANSACTION")
        );
        assert_eq!(transaction_control("SAVEPOINT a"), Some("SAVEPOINT"));
        assert_eq!(
            transaction_control("start transaction"),
            Some("START TRANSACTION")
        );
    }

    #[test]
    fn ordinary_statements_and_quoted_keywords_pass() {
        assert_eq!(transaction_control("SELECT 'x; COMMIT'"), None);
        assert_eq!(transaction_control("INSERT INTO t VALUES ('begin')"), None);
        assert_eq!(transaction_control("UPDATE t SET ended = 1"), None);
        assert_eq!(transaction_control("SET search_path = app"), None);
        assert_eq!(
            transaction_control(
                "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END; \
                 UPDATE b SET n = n + 1; END; CREATE TABLE c (x INT)"
            ),
            None
        );
        assert_eq!(
            transaction_control(
                "CREATE FUNCTION f() RETURNS int AS $$ BEGIN; COMMIT; $$ LANGUAGE sql"
            ),
            None
        );
        assert_eq!(transaction_control("SELECT $1; COMMIT"), Some("COMMIT"));
        assert_eq!(
            transaction_control("CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; COMMIT"),
            Some("COMMIT")
        );
    }
}
