//! The sandbox policy: what a migration may do.
//!
//! Two rules hold for every migration: transaction control belongs to the
//! host (a guest's `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT` or
//! `SET TRANSACTION` is refused), and the limits of `[limits]` apply. A
//! `[[policy]]` in `wasmig.toml` narrows what the migrations it applies to
//! may do:
//!
//! ```toml
//! [[policy]]
//! name = "acme plugin"
//! paths = ["vendor/acme/**"]          # globs on the migration's path, or its file name
//! versions = [42, "9000..9999"]       # single versions and inclusive ranges
//! statements = ["select", "insert", "update"]
//! tables = ["acme_*"]                 # every table it reads or writes
//! env_vars = ["region"]               # config keys it may read with env.var
//! role = "acme_migrator"              # PostgreSQL: SET LOCAL ROLE for the migration
//! limits = { fuel = 1_000_000_000, timeout = "2m", rows_per_call = 10_000 }
//! ```
//!
//! A policy without `paths` or `versions` applies to every migration. When
//! several apply, all of their rules hold at once, and each limit is the
//! smallest any of them sets. A policy's statement and table rules apply to
//! SQL migrations too: their statements are checked before the script runs.
//!
//! Statements are parsed with `sqlparser` in the connection's dialect (see
//! [`sql`]); under a policy with `statements` or `tables`, a statement that
//! cannot be parsed is refused.

mod scan;
pub mod sql;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use glob::{MatchOptions, Pattern};
use serde::Deserialize;

pub use self::scan::{is_ddl, statements, transaction_control, wants_no_transaction};
pub use self::sql::StatementKind;
use self::sql::TableName;
use crate::backend::Dialect;
use crate::error::Error;
use crate::limits::{LimitOverrides, Limits};
use crate::source::Version;

/// One `[[policy]]` of `wasmig.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// A name for messages (`policy "acme plugin"`).
    pub name: String,
    /// Globs matched against each migration's path relative to the project
    /// directory, or against its file name when the glob has no `/`.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Versions (`42`) and inclusive ranges (`"9000..9999"`, `"9000.."`).
    #[serde(default)]
    pub versions: Vec<VersionSelector>,
    /// Allowed statement kinds; absent: any.
    pub statements: Option<Vec<StatementKind>>,
    /// Table globs every table a statement touches must match; absent: any.
    pub tables: Option<Vec<String>>,
    /// Config keys (globs) the migration may read with `env.var`; absent:
    /// every key the environment provides.
    pub env_vars: Option<Vec<String>>,
    /// A PostgreSQL role the migration runs as (`SET LOCAL ROLE`).
    pub role: Option<String>,
    /// Limits replacing `[limits]` for these migrations.
    #[serde(default)]
    pub limits: LimitOverrides,
}

/// A version or a range of versions a policy applies to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum VersionSelector {
    /// One version.
    One(Version),
    /// `"A..B"` (inclusive), `"A.."` or `"..B"`.
    Range(String),
}

impl VersionSelector {
    fn bounds(&self, policy: &str) -> Result<(Version, Version), Error> {
        let text = match self {
            Self::One(v) => return Ok((*v, *v)),
            Self::Range(text) => text,
        };
        let bad = || {
            Error::Config(format!(
                "policy \"{policy}\": `{text}` is not a version range; write \"100..199\" \
                 (inclusive), \"100..\" or \"..199\""
            ))
        };
        let (from, to) = text.split_once("..").ok_or_else(bad)?;
        let parse = |s: &str, open: Version| -> Result<Version, Error> {
            let s = s.trim().trim_start_matches('=');
            if s.is_empty() {
                Ok(open)
            } else {
                s.parse().map_err(|_| bad())
            }
        };
        Ok((parse(from, Version::MIN)?, parse(to, Version::MAX)?))
    }
}

struct CompiledPolicy {
    name: String,
    paths: Vec<Pattern>,
    versions: Vec<(Version, Version)>,
    statements: Option<BTreeSet<StatementKind>>,
    tables: Option<Vec<Pattern>>,
    table_text: Vec<String>,
    env_vars: Option<Vec<Pattern>>,
    env_text: Vec<String>,
    role: Option<String>,
    limits: LimitOverrides,
}

impl CompiledPolicy {
    fn applies_to(&self, version: Version, path: &Path) -> bool {
        if self.paths.is_empty() && self.versions.is_empty() {
            return true;
        }
        let by_version = self
            .versions
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&version));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let full = path.to_string_lossy().replace('\\', "/");
        let by_path = self.paths.iter().any(|p| {
            if p.as_str().contains('/') {
                p.matches_with(&full, PATH_MATCH)
            } else {
                p.matches_with(&name, PATH_MATCH)
            }
        });
        by_version || by_path
    }
}

const PATH_MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Table names and config keys compare case-insensitively; `*` does not
/// cross a `.` between schema and table (names are matched with `/` for
/// `.`).
const NAME_MATCH: MatchOptions = MatchOptions {
    case_sensitive: false,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

fn compile(policy: &PolicyConfig, what: &str, globs: &[String]) -> Result<Vec<Pattern>, Error> {
    globs
        .iter()
        .map(|g| {
            let g = if what == "tables" {
                g.replace('.', "/")
            } else {
                g.clone()
            };
            Pattern::new(&g).map_err(|e| {
                Error::Config(format!(
                    "policy \"{}\": `{g}` in `{what}` is not a valid glob: {e}",
                    policy.name
                ))
            })
        })
        .collect()
}

/// The project's policies and default limits: resolves the [`Sandbox`] of
/// each migration.
pub struct Policies {
    limits: Limits,
    policies: Vec<CompiledPolicy>,
    root: std::path::PathBuf,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            policies: Vec::new(),
            root: std::path::PathBuf::new(),
        }
    }
}

impl Policies {
    /// Compiles `policies` over the default `limits`; migration paths are
    /// matched relative to `root` (the project directory).
    ///
    /// # Errors
    /// [`Error::Config`] naming the policy with an invalid glob or range.
    pub fn new(
        limits: Limits,
        policies: &[PolicyConfig],
        root: impl Into<std::path::PathBuf>,
    ) -> Result<Self, Error> {
        let mut compiled = Vec::with_capacity(policies.len());
        for policy in policies {
            let versions = policy
                .versions
                .iter()
                .map(|v| v.bounds(&policy.name))
                .collect::<Result<_, _>>()?;
            compiled.push(CompiledPolicy {
                name: policy.name.clone(),
                paths: compile(policy, "paths", &policy.paths)?,
                versions,
                statements: policy.statements.as_ref().map(|kinds| {
                    kinds
                        .iter()
                        .flat_map(|k| k.expand().iter().copied())
                        .collect()
                }),
                tables: policy
                    .tables
                    .as_ref()
                    .map(|t| compile(policy, "tables", t))
                    .transpose()?,
                table_text: policy.tables.clone().unwrap_or_default(),
                env_vars: policy
                    .env_vars
                    .as_ref()
                    .map(|k| compile(policy, "env_vars", k))
                    .transpose()?,
                env_text: policy.env_vars.clone().unwrap_or_default(),
                role: policy.role.clone(),
                limits: policy.limits.clone(),
            });
        }
        Ok(Self {
            limits,
            policies: compiled,
            root: root.into(),
        })
    }

    /// The default limits (`[limits]`).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the default limits.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The sandbox migration `version` at `path` runs in.
    ///
    /// # Errors
    /// [`Error::Config`] when two applicable policies name different roles.
    pub fn sandbox(&self, version: Version, path: &Path) -> Result<Sandbox, Error> {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let mut sandbox = Sandbox {
            limits: self.limits.clone(),
            ..Sandbox::default()
        };
        let mut overrides = LimitOverrides::default();
        for policy in self
            .policies
            .iter()
            .filter(|p| p.applies_to(version, relative))
        {
            sandbox.policies.push(policy.name.clone());
            if let Some(kinds) = &policy.statements {
                sandbox.statements = Some(match sandbox.statements.take() {
                    Some(current) => current.intersection(kinds).copied().collect(),
                    None => kinds.clone(),
                });
            }
            if let Some(tables) = &policy.tables {
                sandbox
                    .tables
                    .push(rule(policy, tables, &policy.table_text));
            }
            if let Some(keys) = &policy.env_vars {
                sandbox.env_vars.push(rule(policy, keys, &policy.env_text));
            }
            if let Some(role) = &policy.role {
                match &sandbox.role {
                    Some(other) if other != role => {
                        return Err(Error::Config(format!(
                            "migration {version} falls under policies naming two roles \
                             (`{other}` and `{role}`); give it one"
                        )));
                    }
                    _ => sandbox.role = Some(role.clone()),
                }
            }
            overrides.narrow(&policy.limits);
        }
        sandbox.limits = overrides.resolve(&self.limits);
        Ok(sandbox)
    }
}

fn rule(policy: &CompiledPolicy, patterns: &[Pattern], text: &[String]) -> Rule {
    Rule {
        policy: policy.name.clone(),
        patterns: patterns.to_vec(),
        text: text.join(", "),
    }
}

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
pub(crate) fn preview(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = flat.chars().take(80).collect();
    if short.len() < flat.len() {
        short.push('…');
    }
    format!("`{short}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies(toml_text: &str) -> Policies {
        #[derive(Deserialize)]
        struct File {
            policy: Vec<PolicyConfig>,
        }
        let file: File = toml::from_str(toml_text).unwrap();
        Policies::new(Limits::default(), &file.policy, "/project").unwrap()
    }

    const ACME: &str = r#"
        [[policy]]
        name = "acme"
        paths = ["vendor/acme/**"]
        statements = ["select", "insert", "update"]
        tables = ["acme_*"]
        env_vars = ["region"]
        limits = { fuel = 1000, timeout = "2m" }

        [[policy]]
        name = "late"
        versions = ["9000.."]
        limits = { fuel = 500 }
    "#;

    #[test]
    fn policies_attach_by_path_and_version_and_narrow_each_other() {
        let p = policies(ACME);
        let plain = p
            .sandbox(1, Path::new("/project/migrations/1_a.sql"))
            .unwrap();
        assert!(plain.policies.is_empty());
        assert!(!plain.restricts_sql());
        assert_eq!(plain.limits, Limits::default());

        let acme = p
            .sandbox(5, Path::new("/project/vendor/acme/5_items.wasm"))
            .unwrap();
        assert_eq!(acme.policies, vec!["acme"]);
        assert_eq!(acme.limits.fuel, 1000);
        assert_eq!(acme.limits.timeout.as_secs(), 120);

        let both = p
            .sandbox(9001, Path::new("/project/vendor/acme/9001_x.wasm"))
            .unwrap();
        assert_eq!(both.policies, vec!["acme", "late"]);
        assert_eq!(both.limits.fuel, 500);
        assert_eq!(both.limits.timeout.as_secs(), 120);
    }

    #[test]
    fn a_narrow_policy_refuses_what_it_does_not_list() {
        let p = policies(ACME);
        let s = p
            .sandbox(5, Path::new("/project/vendor/acme/5_items.wasm"))
            .unwrap();
        let pg = Dialect::Postgres;
        assert!(
            s.check_sql(pg, "public", "UPDATE acme_items SET n = n + 1")
                .is_ok()
        );
        assert!(
            s.check_sql(pg, "public", "SELECT * FROM public.acme_items")
                .is_ok()
        );
        for (sql, rule) in [
            ("DROP TABLE acme_items", "statements"),
            ("DELETE FROM acme_items", "statements"),
            ("UPDATE users SET admin = true", "tables"),
            ("UPDATE \"Users\" SET admin = true", "tables"),
            ("UPDATE public.users SET admin = true", "tables"),
            ("UPDATE other.acme_items SET n = 1", "tables"),
            ("INSERT INTO acme_items SELECT * FROM users", "tables"),
            (
                "WITH x AS (UPDATE users SET admin = true RETURNING 1) SELECT * FROM x",
                "tables",
            ),
            ("SELECT 1; UPDATE users SET admin = true", "tables"),
            ("COMMIT", "transactions"),
            ("SET ROLE postgres", "policy"),
            ("this is not sql", "policy"),
        ] {
            let err = s.check_sql(pg, "public", sql).unwrap_err();
            assert!(err.rule.starts_with(rule), "{sql}: {err}");
        }
        assert!(s.check_var("region").is_ok());
        let err = s.check_var("api_key").unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }

    #[test]
    fn without_a_policy_only_transaction_control_is_refused() {
        let s = Sandbox::default();
        assert!(
            s.check_sql(Dialect::Sqlite, "main", "DROP TABLE users")
                .is_ok()
        );
        assert!(
            s.check_sql(Dialect::Sqlite, "main", "not sql at all")
                .is_ok()
        );
        assert!(
            s.check_sql(Dialect::Sqlite, "main", "SELECT 1; COMMIT")
                .is_err()
        );
    }
}
