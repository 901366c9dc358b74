//! Fleets: one migration set run against many databases (tenants), each
//! with its own ledger and lock, several at a time. A failing tenant is
//! recorded and the others go on (or, when asked, the ones not started yet
//! are left alone); a rerun picks up where each tenant's ledger says.

mod drift;
mod parallel;
mod targets;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::StreamExt;

use crate::error::Error;

pub use self::drift::Expected;
pub use self::parallel::default_parallel;
pub use self::targets::{ControlQuery, Sources, Target, resolve_targets};

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
    /// `drift`: the schema is what the applied migrations produce.
    NoDrift,
    /// `drift`: the schema differs from what the applied migrations
    /// produce.
    Drifted {
        /// How, one line each.
        differences: Vec<String>,
    },
    /// Not started: an earlier tenant (or a canary) failed and the run
    /// stopped there.
    NotRun {
        /// Why.
        reason: String,
    },
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

/// How a fleet run is paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How many tenants run at once.
    pub parallel: usize,
    /// Whether a failure lets the runs in flight finish and starts no
    /// other (`--continue-on-error` not given).
    pub stop_on_failure: bool,
    /// The first this many tenants run before all others; a failure among
    /// them stops the run, whatever `stop_on_failure` says.
    pub canary: usize,
    /// The others run in waves of this many, each finished before the next
    /// starts (0: one wave).
    pub wave_size: usize,
}

impl Schedule {
    /// `parallel` at a time, no canary, one wave.
    pub fn new(parallel: usize, stop_on_failure: bool) -> Self {
        Self {
            parallel,
            stop_on_failure,
            canary: 0,
            wave_size: 0,
        }
    }

    /// The tenants' indexes, wave by wave: the canary first.
    fn waves(&self, count: usize) -> Vec<std::ops::Range<usize>> {
        let canary = self.canary.min(count);
        let mut waves = Vec::new();
        if canary > 0 {
            waves.push(0..canary);
        }
        let size = if self.wave_size == 0 {
            count.max(1)
        } else {
            self.wave_size
        };
        let mut start = canary;
        while start < count {
            let end = (start + size).min(count);
            waves.push(start..end);
            start = end;
        }
        waves
    }
}

/// Runs `run` for every target as `schedule` says and returns each
/// tenant's outcome in the targets' order.
pub async fn for_each<F, Fut>(targets: &[Target], schedule: Schedule, run: F) -> Vec<TenantResult>
where
    F: Fn(&Target) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut results = Vec::with_capacity(targets.len());
    let mut stopped: Option<&'static str> = None;
    for (i, wave) in schedule.waves(targets.len()).into_iter().enumerate() {
        let wave = &targets[wave];
        if let Some(reason) = stopped {
            results.extend(wave.iter().map(|t| TenantResult {
                target: t.label.clone(),
                outcome: Outcome::NotRun {
                    reason: reason.into(),
                },
                ms: 0,
            }));
            continue;
        }
        let ran = run_wave(wave, schedule.parallel, schedule.stop_on_failure, &run).await;
        if ran.iter().any(|r| r.outcome.is_failure()) {
            if i == 0 && schedule.canary > 0 {
                stopped = Some("a canary tenant failed");
            } else if schedule.stop_on_failure {
                stopped = Some(EARLIER_FAILED);
            }
        }
        results.extend(ran);
    }
    results
}

const EARLIER_FAILED: &str = "an earlier tenant failed";

/// Runs one wave, at most `parallel` at a time. With `stop_on_failure`, a
/// failure lets the runs in flight finish and starts no other.
async fn run_wave<F, Fut>(
    targets: &[Target],
    parallel: usize,
    stop_on_failure: bool,
    run: &F,
) -> Vec<TenantResult>
where
    F: Fn(&Target) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let stopped = AtomicBool::new(false);
    let stopped = &stopped;
    let mut results: Vec<(usize, TenantResult)> =
        futures_util::stream::iter(targets.iter().enumerate())
            .map(|(i, target)| async move {
                let started = Instant::now();
                let outcome = if stopped.load(Ordering::SeqCst) {
                    Outcome::NotRun {
                        reason: EARLIER_FAILED.into(),
                    }
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

/// Runs the future `work` makes on a thread of its own (from the
/// runtime's blocking pool), so that a tenant whose work blocks — SQLite's
/// file I/O and syncs, a component's computing — holds no other tenant up;
/// the runtime still drives its network I/O. The future need not be `Send`:
/// it is made and run on that one thread.
///
/// # Errors
/// The work panicked (or the runtime is shutting down).
pub async fn on_own_thread<F, Fut>(work: F) -> Result<Fut::Output, tokio::task::JoinError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future,
    Fut::Output: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(work())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::DatabaseUrl;

    fn tenants(count: usize) -> Vec<Target> {
        (0..count)
            .map(|i| Target {
                label: format!("t{i}"),
                url: DatabaseUrl::Sqlite {
                    path: None,
                    synchronous: None,
                },
            })
            .collect()
    }

    /// Fails at `failing`, and counts the tenants started.
    fn failing_at<'a>(
        failing: &'static str,
        started: &'a std::sync::atomic::AtomicUsize,
    ) -> impl Fn(&Target) -> std::future::Ready<Outcome> + 'a {
        move |t: &Target| {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if t.label == failing {
                Outcome::Failed {
                    error: "boom".into(),
                }
            } else {
                Outcome::UpToDate
            })
        }
    }

    fn not_run(results: &[TenantResult]) -> Vec<&str> {
        results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::NotRun { .. }))
            .map(|r| r.target.as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_failure_stops_the_tenants_not_started_when_asked() {
        let targets = tenants(6);
        let started = std::sync::atomic::AtomicUsize::new(0);
        let run = failing_at("t1", &started);
        let all = for_each(&targets, Schedule::new(1, false), &run).await;
        assert_eq!(all.iter().filter(|r| r.outcome.is_failure()).count(), 1);
        assert!(not_run(&all).is_empty());
        let stopped = for_each(&targets, Schedule::new(1, true), &run).await;
        assert_eq!(not_run(&stopped), ["t2", "t3", "t4", "t5"]);
    }

    #[tokio::test]
    async fn a_failing_canary_stops_the_rest_and_waves_run_in_turn() {
        let targets = tenants(10);
        let started = std::sync::atomic::AtomicUsize::new(0);
        let canary = Schedule {
            canary: 3,
            ..Schedule::new(8, false)
        };
        let ran = for_each(&targets, canary, failing_at("t2", &started)).await;
        assert_eq!(started.load(Ordering::SeqCst), 3, "only the canaries ran");
        assert_eq!(not_run(&ran).len(), 7);
        assert!(matches!(
            &ran[9].outcome,
            Outcome::NotRun { reason } if reason.contains("canary")
        ));
        // Past the canary, --continue-on-error goes on through later waves.
        started.store(0, Ordering::SeqCst);
        let waves = Schedule {
            canary: 2,
            wave_size: 3,
            ..Schedule::new(8, false)
        };
        assert_eq!(waves.waves(10), [0..2, 2..5, 5..8, 8..10]);
        let ran = for_each(&targets, waves, failing_at("t3", &started)).await;
        assert_eq!(started.load(Ordering::SeqCst), 10);
        assert!(not_run(&ran).is_empty());
        // Without it, no tenant starts after the failure.
        started.store(0, Ordering::SeqCst);
        let stopping = Schedule {
            stop_on_failure: true,
            parallel: 1,
            ..waves
        };
        let ran = for_each(&targets, stopping, failing_at("t3", &started)).await;
        assert_eq!(started.load(Ordering::SeqCst), 4);
        assert_eq!(not_run(&ran), ["t4", "t5", "t6", "t7", "t8", "t9"]);
    }
}
