//! Resource limits for one migration: the project's defaults (`[limits]`)
//! and the overrides a policy sets. The component runtime enforces them;
//! policies narrow them.

use std::time::Duration;

use serde::Deserialize;

/// What one migration may consume. Every limit aborts the migration (and
/// rolls it back) when reached, with a message naming the limit and the
/// setting that raises it.
///
/// In `wasmig.toml` these are the keys of `[limits]` (the defaults for every
/// migration) and of a policy's `limits` (see [`crate::policy`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// CPU budget in fuel units (about one per WebAssembly instruction).
    /// Deterministic: the same run always stops at the same point.
    /// Default 20 000 000 000 (tens of seconds of pure computation).
    pub fuel: u64,
    /// Linear memory cap, in MiB. Default 512.
    pub memory_mb: u64,
    /// Maximum number of tables and of instances. Default 20.
    pub instances: usize,
    /// Maximum elements per table. Default 100 000.
    pub table_elements: usize,
    /// Wall-clock time for the whole migration, database calls included
    /// (`"30m"`, `"90s"`). Default 30 minutes.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// The longest one statement may run, enforced by the database server
    /// where it can (PostgreSQL `statement_timeout`, MariaDB
    /// `max_statement_time`, MySQL `max_execution_time` for reads) and by
    /// SQLite's progress handler. Default: whatever remains of `timeout`.
    #[serde(deserialize_with = "optional_duration")]
    pub statement_timeout: Option<Duration>,
    /// Rows one `query` or cursor fetch may return to a guest. Default
    /// 1 000 000.
    pub rows_per_call: u64,
    /// Bytes one `query` or cursor fetch may return to a guest, in MiB.
    /// Default 256.
    pub result_mb_per_call: u64,
    /// Rows a migration may read in all. Default: no limit.
    pub rows_total: Option<u64>,
    /// Bytes a migration may read in all, in MiB. Default: no limit.
    pub result_mb_total: Option<u64>,
    /// Log a migration may write (its `log` calls, stdout and stderr
    /// together), in KiB. Default 4096.
    pub log_kb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 20_000_000_000,
            memory_mb: 512,
            instances: 20,
            table_elements: 100_000,
            timeout: Duration::from_secs(30 * 60),
            statement_timeout: None,
            rows_per_call: 1_000_000,
            result_mb_per_call: 256,
            rows_total: None,
            result_mb_total: None,
            log_kb: 4096,
        }
    }
}

/// Limits a policy sets, each replacing the project's default for the
/// migrations the policy applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    /// See [`Limits::fuel`].
    pub fuel: Option<u64>,
    /// See [`Limits::memory_mb`].
    pub memory_mb: Option<u64>,
    /// See [`Limits::instances`].
    pub instances: Option<usize>,
    /// See [`Limits::table_elements`].
    pub table_elements: Option<usize>,
    /// See [`Limits::timeout`].
    #[serde(deserialize_with = "optional_duration")]
    pub timeout: Option<Duration>,
    /// See [`Limits::statement_timeout`].
    #[serde(deserialize_with = "optional_duration")]
    pub statement_timeout: Option<Duration>,
    /// See [`Limits::rows_per_call`].
    pub rows_per_call: Option<u64>,
    /// See [`Limits::result_mb_per_call`].
    pub result_mb_per_call: Option<u64>,
    /// See [`Limits::rows_total`].
    pub rows_total: Option<u64>,
    /// See [`Limits::result_mb_total`].
    pub result_mb_total: Option<u64>,
    /// See [`Limits::log_kb`].
    pub log_kb: Option<u64>,
}

impl LimitOverrides {
    /// Combines two policies' overrides: where both set a limit, the smaller
    /// one wins, so adding a policy never widens what another allowed.
    pub(crate) fn narrow(&mut self, other: &LimitOverrides) {
        fn min<T: Ord + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        *self = LimitOverrides {
            fuel: min(self.fuel, other.fuel),
            memory_mb: min(self.memory_mb, other.memory_mb),
            instances: min(self.instances, other.instances),
            table_elements: min(self.table_elements, other.table_elements),
            timeout: min(self.timeout, other.timeout),
            statement_timeout: min(self.statement_timeout, other.statement_timeout),
            rows_per_call: min(self.rows_per_call, other.rows_per_call),
            result_mb_per_call: min(self.result_mb_per_call, other.result_mb_per_call),
            rows_total: min(self.rows_total, other.rows_total),
            result_mb_total: min(self.result_mb_total, other.result_mb_total),
            log_kb: min(self.log_kb, other.log_kb),
        };
    }

    /// `base` (the project's `[limits]`) with these overrides applied.
    pub(crate) fn resolve(&self, base: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            instances: self.instances.unwrap_or(base.instances),
            table_elements: self.table_elements.unwrap_or(base.table_elements),
            timeout: self.timeout.unwrap_or(base.timeout),
            statement_timeout: self.statement_timeout.or(base.statement_timeout),
            rows_per_call: self.rows_per_call.unwrap_or(base.rows_per_call),
            result_mb_per_call: self.result_mb_per_call.unwrap_or(base.result_mb_per_call),
            rows_total: self.rows_total.or(base.rows_total),
            result_mb_total: self.result_mb_total.or(base.result_mb_total),
            log_kb: self.log_kb.unwrap_or(base.log_kb),
        }
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration ({e}); write e.g. \"90s\" or \"30m\""
        ))
    })
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}
