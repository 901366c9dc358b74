//! The project's policies, compiled: which apply to a migration, and the
//! [`Sandbox`] their rules add up to.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};

use super::config::PolicyConfig;
use super::sandbox::{Rule, Sandbox};
use super::sql::StatementKind;
use crate::error::Error;
use crate::limits::{LimitOverrides, Limits};
use crate::source::Version;

#[derive(Clone)]
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
#[derive(Clone)]
pub struct Policies {
    limits: Limits,
    policies: Vec<CompiledPolicy>,
    root: PathBuf,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            policies: Vec::new(),
            root: PathBuf::new(),
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
        root: impl Into<PathBuf>,
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
                    .push(Rule::new(&policy.name, tables, &policy.table_text));
            }
            if let Some(keys) = &policy.env_vars {
                sandbox
                    .env_vars
                    .push(Rule::new(&policy.name, keys, &policy.env_text));
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
