//! Checking a statement against a sandbox policy, by parsing it.
//!
//! A statement is parsed with `sqlparser` in the connection's dialect. The
//! check walks the whole tree, so a `DELETE` hidden in a CTE
//! (`WITH d AS (DELETE FROM users RETURNING *) SELECT …`), the second half
//! of a multi-statement string, or a subquery of an `INSERT … SELECT` counts
//! like a top-level one.
//!
//! Every table a statement reads, writes, creates, alters or drops must
//! match the policy's table patterns. Names compare case-insensitively, with
//! quotes removed; a name qualified with the connection's default schema
//! (`public.users` on PostgreSQL, `main.users` on SQLite) is the same table
//! as the bare name, and any other qualified name must match a qualified
//! pattern (`audit.*`). The names a query gives its own CTEs are not tables,
//! within the query that defines them; a statement's target (`INSERT INTO`,
//! `UPDATE`, `DELETE FROM`, `DROP`…) is always a table, whatever a CTE is
//! called.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{
    AlterTableOperation, Expr, ObjectName, ObjectNamePart, OnInsert, Query, RenameTableNameKind,
    Select, Set, Statement, TableFactor, TableObject, Visit, Visitor, visit_relations,
};
use sqlparser::dialect::{
    Dialect as ParserDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use sqlparser::parser::Parser;

use crate::backend::Dialect;

/// What a statement does, as a policy's `statements` list names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementKind {
    /// Reading rows.
    Select,
    /// Adding rows (an upsert's update half needs `update` too).
    Insert,
    /// Changing rows.
    Update,
    /// Removing rows.
    Delete,
    /// Creating tables, views, indexes, sequences and types.
    Create,
    /// Altering or renaming them, or commenting on them.
    Alter,
    /// Dropping them.
    Drop,
    /// Emptying tables.
    Truncate,
    /// Shorthand for create, alter, drop and truncate.
    Ddl,
    /// Everything else: settings, pragmas, grants, routines, triggers,
    /// extensions, `COPY`, `ATTACH`… (transaction control never).
    Other,
}

impl StatementKind {
    fn name(self) -> &'static str {
        match self {
            Self::Select => "select",
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Create => "create",
            Self::Alter => "alter",
            Self::Drop => "drop",
            Self::Truncate => "truncate",
            Self::Ddl => "ddl",
            Self::Other => "other",
        }
    }

    /// The kinds `self` allows (`ddl` expands).
    pub(crate) fn expand(self) -> &'static [StatementKind] {
        match self {
            Self::Ddl => &[Self::Create, Self::Alter, Self::Drop, Self::Truncate],
            Self::Select => &[Self::Select],
            Self::Insert => &[Self::Insert],
            Self::Update => &[Self::Update],
            Self::Delete => &[Self::Delete],
            Self::Create => &[Self::Create],
            Self::Alter => &[Self::Alter],
            Self::Drop => &[Self::Drop],
            Self::Truncate => &[Self::Truncate],
            Self::Other => &[Self::Other],
        }
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A table as a statement names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableName {
    /// The parts, unquoted and lowercased, outermost first
    /// (`["public", "users"]`).
    pub parts: Vec<String>,
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parts.join("."))
    }
}

impl TableName {
    fn of(name: &ObjectName) -> Self {
        Self {
            parts: name
                .0
                .iter()
                .map(|part| match part {
                    ObjectNamePart::Identifier(ident) => ident.value.to_lowercase(),
                    // A computed name cannot be checked: keep its text, which
                    // matches no ordinary pattern.
                    other => other.to_string().to_lowercase(),
                })
                .collect(),
        }
    }

    /// The name without the default schema: `public.users` → `users`.
    pub(crate) fn without_schema(&self, default_schema: &str) -> TableName {
        match self.parts.as_slice() {
            [schema, table] if schema.eq_ignore_ascii_case(default_schema) => TableName {
                parts: vec![table.clone()],
            },
            _ => self.clone(),
        }
    }
}

/// What one SQL string (one or more statements) does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Every kind of statement in it, nested ones included.
    pub kinds: BTreeSet<StatementKind>,
    /// Every table it touches.
    pub tables: BTreeSet<TableName>,
    /// Transaction control it contains (`COMMIT`, `SAVEPOINT`…), by name.
    pub transaction_control: Option<&'static str>,
    /// Something that would change the session's role or authorization.
    pub role_change: Option<String>,
    /// A CTE referred to before it is defined: a name the check cannot
    /// attribute, so it is refused.
    pub ambiguous: Option<String>,
}

/// The parser's dialect for an engine.
pub fn parser_dialect(dialect: Dialect) -> Box<dyn ParserDialect> {
    match dialect {
        Dialect::Sqlite => Box::new(SQLiteDialect {}),
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(MySqlDialect {}),
    }
}

/// Parses `sql` in `dialect` and reports what it does.
///
/// # Errors
/// The parser's message when `sql` cannot be parsed.
pub fn analyze(dialect: Dialect, sql: &str) -> Result<Analysis, String> {
    let statements =
        Parser::parse_sql(&*parser_dialect(dialect), sql).map_err(|e| e.to_string())?;
    let mut walker = Walker::default();
    let _ = statements.visit(&mut walker);
    Ok(walker.analysis)
}

#[derive(Default)]
struct Walker {
    analysis: Analysis,
    /// The CTE names of each query being walked, innermost last.
    scopes: Vec<Vec<String>>,
    /// The name of the set-returning function being walked
    /// (`FROM json_populate_recordset(…)`): a function, not a table.
    function_call: Option<ObjectName>,
}

impl Walker {
    fn target(&mut self, name: &ObjectName) {
        self.analysis.tables.insert(TableName::of(name));
    }

    fn kind(&mut self, kind: StatementKind) {
        self.analysis.kinds.insert(kind);
    }

    fn is_cte(&self, name: &ObjectName) -> bool {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return false;
        };
        let name = ident.value.to_lowercase();
        self.scopes.iter().any(|scope| scope.contains(&name))
    }
}

fn table_factor_name(factor: &TableFactor) -> Option<&ObjectName> {
    match factor {
        TableFactor::Table { name, .. } => Some(name),
        _ => None,
    }
}

impl Visitor for Walker {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let names: Vec<String> = query
            .with
            .iter()
            .flat_map(|with| with.cte_tables.iter())
            .map(|cte| cte.alias.name.value.to_lowercase())
            .collect();
        if let Some(with) = &query.with {
            // A CTE body sees the CTEs before it (and itself, if RECURSIVE);
            // a later name in it is a real table of the same name, which the
            // scope below would hide: refuse such statements outright.
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let visible = if with.recursive { i + 1 } else { i };
                let hidden = &names[visible..];
                let _ = visit_relations(&cte.query, |relation| {
                    if let [ObjectNamePart::Identifier(ident)] = relation.0.as_slice()
                        && hidden.contains(&ident.value.to_lowercase())
                    {
                        self.analysis.ambiguous = Some(ident.value.clone());
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        self.scopes.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        if let Some(into) = &select.into {
            self.kind(StatementKind::Create);
            for target in &into.targets {
                let parts = match target {
                    Expr::Identifier(ident) => vec![ident.value.to_lowercase()],
                    Expr::CompoundIdentifier(idents) => {
                        idents.iter().map(|i| i.value.to_lowercase()).collect()
                    }
                    other => vec![other.to_string().to_lowercase()],
                };
                self.analysis.tables.insert(TableName { parts });
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            self.function_call = Some(name.clone());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if self.function_call.as_ref() == Some(relation) {
            self.function_call = None;
            return ControlFlow::Continue(());
        }
        if !self.is_cte(relation) {
            self.target(relation);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        // set_config('role', …) is SET ROLE by another name.
        if let Expr::Function(function) = expr {
            let name = function.name.to_string().to_lowercase();
            if name == "set_config" || name.ends_with(".set_config") {
                self.analysis.role_change = Some("set_config()".into());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if let Some(keyword) = transaction_control(statement) {
            self.analysis.transaction_control = Some(keyword);
        } else if let Some(change) = role_change(statement) {
            self.kind(StatementKind::Other);
            self.analysis.role_change = Some(change);
        } else if !self.row_statement(statement) && !self.schema_statement(statement) {
            self.kind(StatementKind::Other);
        }
        ControlFlow::Continue(())
    }
}

impl Walker {
    /// Records a statement that reads or changes rows, and its target;
    /// false when `statement` is none.
    fn row_statement(&mut self, statement: &Statement) -> bool {
        use StatementKind as K;
        match statement {
            Statement::Query(_) => self.kind(K::Select),
            Statement::Insert(insert) => {
                self.kind(K::Insert);
                if insert.replace_into {
                    self.kind(K::Delete);
                }
                if let Some(on) = &insert.on
                    && !matches!(on, OnInsert::OnConflict(c) if matches!(c.action, sqlparser::ast::OnConflictAction::DoNothing))
                {
                    self.kind(K::Update);
                }
                if let TableObject::TableName(name) = &insert.table {
                    self.target(name);
                }
            }
            Statement::Update(update) => {
                self.kind(K::Update);
                if let Some(name) = table_factor_name(&update.table.relation) {
                    self.target(name);
                }
            }
            Statement::Delete(delete) => {
                self.kind(K::Delete);
                for name in &delete.tables {
                    self.target(name);
                }
                let from = match &delete.from {
                    sqlparser::ast::FromTable::WithFromKeyword(t)
                    | sqlparser::ast::FromTable::WithoutKeyword(t) => t,
                };
                for table in from {
                    if let Some(name) = table_factor_name(&table.relation) {
                        self.target(name);
                    }
                }
            }
            Statement::Merge(merge) => {
                self.kind(K::Insert);
                self.kind(K::Update);
                self.kind(K::Delete);
                if let Some(name) = table_factor_name(&merge.table) {
                    self.target(name);
                }
            }
            _ => return false,
        }
        true
    }

    /// Records a statement that creates, alters, drops or empties tables
    /// (and other schema objects), and the tables it names; false when
    /// `statement` is none.
    fn schema_statement(&mut self, statement: &Statement) -> bool {
        use StatementKind as K;
        match statement {
            Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateIndex(_)
            | Statement::CreateVirtualTable { .. }
            | Statement::CreateSequence { .. }
            | Statement::CreateType { .. }
            | Statement::CreateDomain(_) => self.kind(K::Create),
            Statement::AlterTable(alter) => {
                self.kind(K::Alter);
                for operation in &alter.operations {
                    if let AlterTableOperation::RenameTable {
                        table_name: RenameTableNameKind::As(name) | RenameTableNameKind::To(name),
                    } = operation
                    {
                        self.target(name);
                    }
                }
            }
            Statement::AlterIndex { .. } | Statement::AlterView { .. } => self.kind(K::Alter),
            Statement::RenameTable(renames) => {
                self.kind(K::Alter);
                for rename in renames {
                    self.target(&rename.old_name);
                    self.target(&rename.new_name);
                }
            }
            Statement::Comment { object_name, .. } => {
                self.kind(K::Alter);
                self.target(object_name);
            }
            Statement::Drop { names, table, .. } => {
                self.kind(K::Drop);
                for name in names {
                    self.target(name);
                }
                if let Some(table) = table {
                    self.target(table);
                }
            }
            Statement::Truncate(_) => self.kind(K::Truncate),
            _ => return false,
        }
        true
    }
}

/// The transaction control `statement` is, by name.
fn transaction_control(statement: &Statement) -> Option<&'static str> {
    Some(match statement {
        Statement::StartTransaction { .. } => "BEGIN",
        Statement::Commit { .. } => "COMMIT",
        Statement::Rollback { .. } => "ROLLBACK",
        Statement::Savepoint { .. } => "SAVEPOINT",
        Statement::ReleaseSavepoint { .. } => "RELEASE SAVEPOINT",
        Statement::Set(Set::SetTransaction { .. }) => "SET TRANSACTION",
        _ => return None,
    })
}

/// The change of the session's role or authorization `statement` makes.
fn role_change(statement: &Statement) -> Option<String> {
    match statement {
        Statement::Set(Set::SetRole { .. }) => Some("SET ROLE".into()),
        Statement::Set(Set::SetSessionAuthorization(_)) => Some("SET SESSION AUTHORIZATION".into()),
        Statement::Reset(_) => Some("RESET".into()),
        Statement::Set(Set::SingleAssignment { variable, .. })
            if variable.to_string().eq_ignore_ascii_case("role")
                || variable
                    .to_string()
                    .eq_ignore_ascii_case("session_authorization") =>
        {
            Some(format!("SET {variable}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(dialect: Dialect, sql: &str) -> Vec<String> {
        analyze(dialect, sql)
            .unwrap()
            .tables
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn kinds(sql: &str) -> Vec<StatementKind> {
        analyze(Dialect::Postgres, sql)
            .unwrap()
            .kinds
            .into_iter()
            .collect()
    }

    #[test]
    fn a_delete_inside_a_cte_counts() {
        let sql = "WITH gone AS (DELETE FROM users RETURNING id) SELECT count(*) FROM gone";
        assert_eq!(
            kinds(sql),
            vec![StatementKind::Select, StatementKind::Delete]
        );
        assert_eq!(tables(Dialect::Postgres, sql), vec!["users"]);
    }

    #[test]
    fn a_set_returning_function_in_from_is_not_a_table() {
        let sql = "UPDATE people AS t SET full_name = v.full_name \
                   FROM json_populate_recordset(NULL::people, $1::json) AS v WHERE t.id = v.id";
        assert_eq!(tables(Dialect::Postgres, sql), vec!["people"]);
        let sql = "INSERT INTO people (id) SELECT id FROM json_populate_recordset(NULL::people, $1) \
                   JOIN secrets ON true";
        assert_eq!(tables(Dialect::Postgres, sql), vec!["people", "secrets"]);
    }

    #[test]
    fn a_cte_named_like_a_table_does_not_hide_a_write_target() {
        let sql =
            "WITH users AS (SELECT 1 AS id) DELETE FROM users WHERE id IN (SELECT id FROM users)";
        assert_eq!(tables(Dialect::Postgres, sql), vec!["users"]);
    }

    #[test]
    fn cte_names_are_not_tables_within_their_query() {
        let sql = "WITH batch AS (SELECT id FROM acme_items) UPDATE acme_items SET n = 1 \
                   WHERE id IN (SELECT id FROM batch)";
        assert_eq!(tables(Dialect::Postgres, sql), vec!["acme_items"]);
        // Outside the defining query, the same name is a real table.
        let sql = "SELECT * FROM (WITH users AS (SELECT 1) SELECT * FROM users) x, users";
        assert_eq!(tables(Dialect::Postgres, sql), vec!["users"]);
    }

    #[test]
    fn a_forward_reference_to_a_cte_is_ambiguous() {
        let sql = "WITH a AS (SELECT * FROM users), users AS (SELECT 1) SELECT * FROM a";
        assert_eq!(
            analyze(Dialect::Postgres, sql)
                .unwrap()
                .ambiguous
                .as_deref(),
            Some("users")
        );
    }

    #[test]
    fn every_statement_of_a_multi_statement_string_counts() {
        let sql = "SELECT 1 FROM acme_items; DROP TABLE \"Users\"";
        let analysis = analyze(Dialect::Postgres, sql).unwrap();
        assert!(analysis.kinds.contains(&StatementKind::Drop));
        assert_eq!(tables(Dialect::Postgres, sql), vec!["acme_items", "users"]);
    }

    #[test]
    fn quoted_and_qualified_names_are_normalised() {
        assert_eq!(
            tables(Dialect::Mysql, "UPDATE `test`.`Users` SET a = 1"),
            vec!["test.users"]
        );
        assert_eq!(
            tables(Dialect::Sqlite, "DELETE FROM main.\"users\""),
            vec!["main.users"]
        );
    }

    #[test]
    fn transaction_control_and_role_changes_are_found() {
        for (sql, keyword) in [
            ("COMMIT", "COMMIT"),
            ("SELECT 1; ROLLBACK", "ROLLBACK"),
            ("SAVEPOINT a", "SAVEPOINT"),
            ("BEGIN", "BEGIN"),
            ("START TRANSACTION", "BEGIN"),
        ] {
            assert_eq!(
                analyze(Dialect::Postgres, sql).unwrap().transaction_control,
                Some(keyword),
                "{sql}"
            );
        }
        for sql in [
            "SET ROLE postgres",
            "RESET ROLE",
            "SELECT set_config('role', 'postgres', true)",
            "SET SESSION AUTHORIZATION postgres",
        ] {
            assert!(
                analyze(Dialect::Postgres, sql)
                    .unwrap()
                    .role_change
                    .is_some(),
                "{sql}"
            );
        }
    }

    #[test]
    fn upserts_need_update_and_ddl_names_its_objects() {
        assert_eq!(
            kinds("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2"),
            vec![StatementKind::Insert, StatementKind::Update]
        );
        assert_eq!(
            kinds("INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING"),
            vec![StatementKind::Insert]
        );
        assert_eq!(
            tables(Dialect::Postgres, "CREATE INDEX i ON acme_items (a)"),
            vec!["acme_items"]
        );
        assert_eq!(
            tables(Dialect::Postgres, "ALTER TABLE acme_items RENAME TO users"),
            vec!["acme_items", "users"]
        );
        assert_eq!(kinds("TRUNCATE users"), vec![StatementKind::Truncate]);
        assert_eq!(kinds("SET search_path = evil"), vec![StatementKind::Other]);
    }
}
