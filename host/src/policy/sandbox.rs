//! What one migration runs under, and the checks of its statements and
//! config reads against it.

use std::collections::BTreeSet;
use std::fmt;

use glob::{MatchOptions, Pattern};

use super::scan;
use super::sql::{self, StatementKind, TableName};
use crate::backend::Dialect;
use crate::limits::Limits;

/// Table names and config keys compare case-insensitively; `*` does not
/// cross a `.` between schema and table (names are matched with `/` for
/// `.`).
const NAME_MATCH: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Globs one policy allows.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The policy's name.
    pub policy: String,
    patterns: Vec<Pattern>,
    /// The globs as written, for messages.
    pub text: String,
}

impl Rule {
    /// The rule of policy `policy`: names must match one of `patterns`
    /// (written as `text`).
    pub(super) fn new(policy: &str, patterns: &[Pattern], text: &[String]) -> Self {
        Self {
            policy: policy.to_owned(),
            patterns: patterns.to_vec(),
            text: text.join(", "),
        }
    }

    fn allows(&self, name: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.matches_with(name, NAME_MATCH))
    }
}

/// Everything one migration runs under: its limits and, from the policies
/// that apply to it, the rules its statements and config reads must follow.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Its limits.
    pub limits: Limits,
    /// The names of the policies that apply, in file order.
    pub policies: Vec<String>,
    /// Allowed statement kinds (`ddl` expanded); `None`: any.
    pub statements: Option<BTreeSet<StatementKind>>,
    /// Table rules; a table must satisfy every one.
    pub tables: Vec<Rule>,
    /// Config-key rules; a key must satisfy every one.
    pub env_vars: Vec<Rule>,
    /// The PostgreSQL role the migration runs as.
    pub role: Option<String>,
}

/// A statement or request a policy refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule, as the operator would look it up (`tables of policy "acme"`).
    pub rule: String,
    /// What was refused and why.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (rule: {})", self.message, self.rule)
    }
}

impl Sandbox {
    /// Whether statements must be parsed to be checked.
    pub fn restricts_sql(&self) -> bool {
        self.statements.is_some() || !self.tables.is_empty() || self.role.is_some()
    }

    /// Checks a guest's (or a SQL migration's) `sql` before it runs.
    ///
    /// # Errors
    /// The [`Violation`] when the sandbox refuses it.
    /// `default_schema` is the schema unqualified names resolve to
    /// ([`crate::backend::Backend::default_schema`]).
    pub fn check_sql(
        &self,
        dialect: Dialect,
        default_schema: &str,
        sql: &str,
    ) -> Result<(), Violation> {
        if let Some(keyword) = scan::transaction_control(sql) {
            return Err(transaction_violation(keyword));
        }
        if !self.restricts_sql() {
            // Without a policy, the scanner above is the check (backed by the
            // host verifying its transaction after every call): no parse.
            return Ok(());
        }
        let analysis = match sql::analyze(dialect, sql) {
            Ok(analysis) => analysis,
            Err(e) => {
                return Err(Violation {
                    rule: format!("policy {}", self.policy_names()),
                    message: format!(
                        "{} cannot be parsed ({e}), and a migration under a statement or \
                         table policy may only issue statements wasmig can check",
                        preview(sql)
                    ),
                });
            }
        };
        if let Some(keyword) = analysis.transaction_control {
            return Err(transaction_violation(keyword));
        }
        if let Some(change) = &analysis.role_change {
            return Err(Violation {
                rule: format!("policy {}", self.policy_names()),
                message: format!(
                    "{} uses {change}, which a migration under a policy may not: its role \
                     and session belong to the host",
                    preview(sql)
                ),
            });
        }
        if let Some(name) = &analysis.ambiguous {
            return Err(Violation {
                rule: format!("policy {}", self.policy_names()),
                message: format!(
                    "{} refers to `{name}` inside a CTE defined before the CTE of that name; \
                     rename the CTE",
                    preview(sql)
                ),
            });
        }
        if let Some(allowed) = &self.statements
            && let Some(kind) = analysis.kinds.iter().find(|k| !allowed.contains(k))
        {
            let list: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            return Err(Violation {
                rule: format!("statements of policy {}", self.policy_names()),
                message: format!(
                    "{} is a `{kind}` statement; allowed: {}",
                    preview(sql),
                    if list.is_empty() {
                        "none".to_owned()
                    } else {
                        list.join(", ")
                    }
                ),
            });
        }
        for table in &analysis.tables {
            let name = table_key(table, default_schema);
            if let Some(rule) = self.tables.iter().find(|r| !r.allows(&name)) {
                return Err(Violation {
                    rule: format!("tables of policy \"{}\"", rule.policy),
                    message: format!(
                        "{} touches table `{table}`, outside the tables it may use ({})",
                        preview(sql),
                        rule.text
                    ),
                });
            }
        }
        Ok(())
    }

    /// Checks that the migration may read config key `key`.
    ///
    /// # Errors
    /// The [`Violation`] naming the rule that does not list `key`.
    pub fn check_var(&self, key: &str) -> Result<(), Violation> {
        match self.env_vars.iter().find(|r| !r.allows(key)) {
            Some(rule) => Err(Violation {
                rule: format!("env_vars of policy \"{}\"", rule.policy),
                message: format!(
                    "it asked for config value `{key}`, which it may not read (allowed: {})",
                    if rule.text.is_empty() {
                        "none"
                    } else {
                        &rule.text
                    }
                ),
            }),
            None => Ok(()),
        }
    }

    fn policy_names(&self) -> String {
        self.policies
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The name a table is matched as: the default schema dropped, `.` as `/`.
fn table_key(table: &TableName, default_schema: &str) -> String {
    table.without_schema(default_schema).parts.join("/")
}

fn transaction_violation(keyword: &str) -> Violation {
    Violation {
        rule: "transactions belong to the host".into(),
        message: format!(
            "`{keyword}` is not allowed in a migration: wasmig runs each migration in its own \
             transaction and commits it when `up`/`down` returns ok"
        ),
    }
}

/// The start of a statement, for messages.
fn preview(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = flat.chars().take(80).collect();
    if short.len() < flat.len() {
        short.push('…');
    }
    format!("`{short}`")
}
