//! Fleets: one migration set run against many databases (tenants), each
//! with its own ledger and lock, several at a time. A failing tenant is
//! recorded and the others go on (or, when asked, the ones not started yet
//! are left alone); a rerun picks up where each tenant's ledger says.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::StreamExt;

use crate::backend::DatabaseUrl;
use crate::error::Error;

/// One tenant database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How the tenant is named in output: its URL, password redacted.
    pub label: String,
    /// Where it is.
    pub url: DatabaseUrl,
}

/// The tenants of `urls` and of the SQLite files `globs` match (relative
/// to `base`), in that order, the glob matches sorted.
///
/// # Errors
/// [`Error::Config`] for a URL that does not parse, a bad pattern, a tenant
/// listed twice, or no tenant at all — before anything runs.
pub fn resolve_targets(
    urls: &[String],
    globs: &[String],
    base: &Path,
) -> Result<Vec<Target>, Error> {
    let mut targets = Vec::new();
    for url in urls {
        let parsed = DatabaseUrl::parse(url)
            .map_err(|e| Error::Config(format!("fleet target {url:?}: {e}")))?;
        targets.push(Target {
            label: parsed.to_string(),
            url: parsed,
        });
    }
    for pattern in globs {
        let full = base.join(pattern);
        let matches = glob::glob(&full.to_string_lossy())
            .map_err(|e| Error::Config(format!("fleet glob {pattern:?}: {e}")))?;
        let mut files: Vec<_> = matches
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let url = DatabaseUrl::Sqlite {
                path: Some(file),
                synchronous: None,
            };
            targets.push(Target {
                label: url.to_string(),
                url,
            });
        }
    }
    let mut seen = BTreeSet::new();
    for target in &targets {
        if !seen.insert(target.label.clone()) {
            return Err(Error::Config(format!(
                "fleet target {} is listed twice: each tenant must appear once",
                target.label
            )));
        }
    }
    if targets.is_empty() {
        return Err(Error::Config(
            "the fleet has no targets: give --target URL or --sqlite-glob PATTERN, or \
             `targets`/`sqlite_glob` under [fleet] in wasmig.toml (a glob that matches no \
             file counts as none)"
                .into(),
        ));
    }
    Ok(targets)
}

/// How one tenant's run went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// `up` applied this many migrations.
    Applied {
        /// How many.
        count: usize,
    },
    /// Nothing to do: every migration is applied.
    UpToDate,
    /// `status`: this many migrations are not applied yet.
    Behind {
        /// How many.
        pending: usize,
    },
    /// The run failed; the tenant's ledger says what stayed.
    Failed {
        /// What failed, and what to do.
        error: String,
    },
    /// The database could not be reached.
    Unreachable {
        /// Why.
        error: String,
    },
    /// Not started: an earlier tenant failed and the run stops at the
    /// first failure.
    NotRun,
}

impl Outcome {
    /// Whether the tenant needs the operator.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::Unreachable { .. })
    }

    /// The outcome of a failed run: unreachable, or failed.
    pub fn of_error(error: &Error) -> Self {
        match error {
            Error::Unreachable { .. } => Outcome::Unreachable {
                error: error.to_string(),
            },
            _ => Outcome::Failed {
                error: error.to_string(),
            },
        }
    }
}

/// One tenant's line of the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantResult {
    /// The tenant's label.
    pub target: String,
    /// How its run went.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long its run took, in milliseconds.
    pub ms: u64,
}

/// Runs `run` for every target, at most `parallel` at a time, and returns
/// each tenant's outcome in the targets' order. With `stop_on_failure`, a
/// failure lets the runs in flight finish and starts no other.
pub async fn for_each<F, Fut>(
    targets: &[Target],
    parallel: usize,
    stop_on_failure: bool,
    run: F,
) -> Vec<TenantResult>
where
    F: Fn(&Target) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let stopped = AtomicBool::new(false);
    let stopped = &stopped;
    let run = &run;
    let mut results: Vec<(usize, TenantResult)> =
        futures_util::stream::iter(targets.iter().enumerate())
            .map(|(i, target)| async move {
                let started = Instant::now();
                let outcome = if stopped.load(Ordering::SeqCst) {
                    Outcome::NotRun
                } else {
                    run(target).await
                };
                if stop_on_failure && outcome.is_failure() {
                    stopped.store(true, Ordering::SeqCst);
                }
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let result = TenantResult {
                    target: target.label.clone(),
                    outcome,
                    ms,
                };
                (i, result)
            })
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// A parallelism that keeps well inside a server's connection limit: each
/// tenant holds two connections (its lock and its work).
pub fn default_parallel(targets: &[Target]) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let servers = targets
        .iter()
        .any(|t| !matches!(t.url, DatabaseUrl::Sqlite { .. }));
    // SQLite tenants are files: the CPU bounds them. Server tenants wait on
    // the network as much as on work; 16 tenants are 32 connections, well
    // under PostgreSQL's default limit of 100 and MySQL's of 151.
    if servers { 16 } else { (cores * 2).max(2) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_in_order_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.db", "a.db", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let urls = vec!["postgres://app:secret@db/t1".to_owned()];
        let targets = resolve_targets(&urls, &["*.db".to_owned()], dir.path()).unwrap();
        let labels: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels[0], "postgres://app:***@db/t1");
        assert!(
            labels[1].ends_with("/a.db") && labels[2].ends_with("/b.db"),
            "{labels:?}"
        );
        assert_eq!(targets.len(), 3);
        let twice = vec![urls[0].clone(), urls[0].clone()];
        let err = resolve_targets(&twice, &[], dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("listed twice"), "{err}");
        let none = resolve_targets(&[], &["*.none".to_owned()], dir.path()).unwrap_err();
        assert!(none.to_string().contains("no targets"), "{none}");
        let bad = resolve_targets(&["nonsense".to_owned()], &[], dir.path()).unwrap_err();
        assert!(
            bad.to_string().contains("fleet target \"nonsense\""),
            "{bad}"
        );
    }

    #[tokio::test]
    async fn a_failure_stops_the_tenants_not_started_when_asked() {
        let targets: Vec<Target> = (0..6)
            .map(|i| Target {
                label: format!("t{i}"),
                url: DatabaseUrl::Sqlite {
                    path: None,
                    synchronous: None,
                },
            })
            .collect();
        let run = |t: &Target| {
            let failing = t.label == "t1";
            async move {
                if failing {
                    Outcome::Failed {
                        error: "boom".into(),
                    }
                } else {
                    Outcome::UpToDate
                }
            }
        };
        let all = for_each(&targets, 1, false, run).await;
        assert_eq!(all.iter().filter(|r| r.outcome.is_failure()).count(), 1);
        assert!(all.iter().all(|r| r.outcome != Outcome::NotRun));
        let stopped = for_each(&targets, 1, true, run).await;
        let names: Vec<&str> = stopped
            .iter()
            .filter(|r| r.outcome == Outcome::NotRun)
            .map(|r| r.target.as_str())
            .collect();
        assert_eq!(names, ["t2", "t3", "t4", "t5"]);
    }
}
