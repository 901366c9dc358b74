//! Reading a SQL migration the way the tool that wrote it would run it.
//!
//! | written for | how it is read |
//! |---|---|
//! | wasmig, sqlx, golang-migrate | the file is the up script; `.down.sql` beside it is the down script; a leading `-- wasmig:no-transaction` or `-- no-transaction` comment opts out of the transaction |
//! | dbmate | `-- migrate:up` and `-- migrate:down` sections; `transaction:false` on the up line opts out |
//! | goose | `-- +goose Up` and `-- +goose Down` sections; `-- +goose NO TRANSACTION` opts out; `StatementBegin`/`StatementEnd` are comments to wasmig, whose statement splitter keeps `$$` bodies and `BEGIN … END` routine bodies whole |
//! | diesel | `up.sql` and `down.sql` in the migration's directory; `run_in_transaction = false` in its `metadata.toml` opts out |
//!
//! A script that manages its own transaction (it contains `BEGIN`/`COMMIT`,
//! as golang-migrate users write) runs without wasmig's, as its tool ran it.

use crate::policy;

/// A SQL migration's scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlScripts {
    /// What `up` runs.
    pub up: String,
    /// What `down` runs, if the migration is reversible.
    pub down: Option<String>,
    /// Whether it runs outside wasmig's transaction.
    pub no_transaction: bool,
}

/// Reads a migration whose up file holds `text`, with `down_file` the text
/// of a separate down file and `metadata` the text of diesel's
/// `metadata.toml`, when there are.
pub fn parse(text: &str, down_file: Option<String>, metadata: Option<&str>) -> SqlScripts {
    let mut scripts = sections(text).unwrap_or_else(|| SqlScripts {
        up: text.to_owned(),
        down: None,
        no_transaction: policy::wants_no_transaction(text),
    });
    if scripts.down.is_none() {
        scripts.down = down_file;
    }
    if metadata.is_some_and(diesel_opts_out) {
        scripts.no_transaction = true;
    }
    if policy::transaction_control(&scripts.up).is_some() {
        scripts.no_transaction = true;
    }
    scripts
}

/// dbmate's or goose's sections, when the file has them.
fn sections(text: &str) -> Option<SqlScripts> {
    let mut up: Option<String> = None;
    let mut down: Option<String> = None;
    let mut current: Option<bool> = None; // Some(true): up, Some(false): down
    let mut no_transaction = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let marker = trimmed
            .strip_prefix("--")
            .map(str::trim)
            .map(str::to_ascii_lowercase);
        if let Some(marker) = marker {
            if let Some(options) = marker.strip_prefix("migrate:up") {
                current = Some(true);
                no_transaction |= options.contains("transaction:false");
                up.get_or_insert_with(String::new);
                continue;
            }
            if marker.starts_with("migrate:down") {
                current = Some(false);
                down.get_or_insert_with(String::new);
                continue;
            }
            if let Some(goose) = marker.strip_prefix("+goose") {
                match goose.trim() {
                    "up" => {
                        current = Some(true);
                        up.get_or_insert_with(String::new);
                        continue;
                    }
                    "down" => {
                        current = Some(false);
                        down.get_or_insert_with(String::new);
                        continue;
                    }
                    "no transaction" => {
                        no_transaction = true;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        match current {
            Some(true) => up.get_or_insert_with(String::new).push_str(line),
            Some(false) => down.get_or_insert_with(String::new).push_str(line),
            None => {}
        }
    }
    let up = up?;
    let down = down.filter(|d| !policy::statements(d).is_empty());
    Some(SqlScripts {
        up,
        down,
        no_transaction,
    })
}

fn diesel_opts_out(metadata: &str) -> bool {
    toml::from_str::<toml::Table>(metadata)
        .ok()
        .and_then(|t| t.get("run_in_transaction").and_then(toml::Value::as_bool))
        == Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbmate_sections_and_options() {
        let s = parse(
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (x);\n\n\
             -- migrate:down\nDROP INDEX i;\n",
            None,
            None,
        );
        assert_eq!(s.up.trim(), "CREATE INDEX CONCURRENTLY i ON t (x);");
        assert_eq!(s.down.as_deref().map(str::trim), Some("DROP INDEX i;"));
        assert!(s.no_transaction);
    }

    #[test]
    fn goose_sections_keep_statement_blocks() {
        let s = parse(
            "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\n\
             BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n\
             -- +goose Down\nDROP FUNCTION f();\n",
            None,
            None,
        );
        assert!(s.up.contains("CREATE FUNCTION"));
        assert_eq!(policy::statements(&s.up).len(), 1);
        assert_eq!(s.down.as_deref().map(str::trim), Some("DROP FUNCTION f();"));
        assert!(!s.no_transaction);
        let no_tx = parse(
            "-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;\n",
            None,
            None,
        );
        assert!(no_tx.no_transaction);
        assert_eq!(no_tx.down, None);
    }

    #[test]
    fn plain_files_with_their_own_transaction_run_outside_ours() {
        let s = parse("BEGIN;\nCREATE TABLE a (x INT);\nCOMMIT;\n", None, None);
        assert!(s.no_transaction);
        let plain = parse(
            "CREATE TABLE a (x INT);",
            Some("DROP TABLE a;".into()),
            None,
        );
        assert!(!plain.no_transaction);
        assert_eq!(plain.down.as_deref(), Some("DROP TABLE a;"));
    }

    #[test]
    fn diesel_metadata_opts_out() {
        let s = parse("SELECT 1;", None, Some("run_in_transaction = false\n"));
        assert!(s.no_transaction);
        assert!(!parse("SELECT 1;", None, Some("run_in_transaction = true\n")).no_transaction);
    }
}
