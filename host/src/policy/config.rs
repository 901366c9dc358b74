//! A `[[policy]]` of `wasmig.toml` as written: which migrations it applies
//! to and what it lets them do.

use serde::Deserialize;

use super::sql::StatementKind;
use crate::error::Error;
use crate::limits::LimitOverrides;
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
    pub(super) fn bounds(&self, policy: &str) -> Result<(Version, Version), Error> {
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
