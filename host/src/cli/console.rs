//! How the CLI shows a run while it works: one line per event on stderr,
//! and a migration's progress as a bar on a terminal, or as a plain line at
//! most once a second when stderr is not a terminal (CI logs).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use wasmig::report::{Direction, Event, Reporter, Tracing};
use wasmig::source::Version;

use super::render::millis;

/// How often a progress line is written when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// Prints events to stderr. What migrations log goes through `tracing`, to
/// the subscriber the CLI installed, which prints it above the bars.
pub(crate) struct Console {
    quiet: bool,
    tty: bool,
    /// The bars on the terminal; lines are printed above them.
    bars: MultiProgress,
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    /// The bar drawn for the migration that reports progress (on a terminal).
    bar: Option<(Version, ProgressBar)>,
    /// When each migration's last plain progress line was written.
    last_line: HashMap<Version, Instant>,
}

impl Console {
    /// A console whose bars are drawn in `bars`, shared with the log
    /// subscriber so log lines never cut through a bar.
    pub(crate) fn new(quiet: bool, bars: MultiProgress) -> Self {
        use std::io::IsTerminal;
        Self {
            quiet,
            tty: std::io::stderr().is_terminal(),
            bars,
            progress: Mutex::new(Progress::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Prints one line above the bars.
    fn line(&self, line: std::fmt::Arguments<'_>) {
        self.bars.suspend(|| {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        });
    }

    fn progress(&self, version: Version, done: u64, total: Option<u64>) {
        if self.tty {
            self.draw_bar(version, done, total);
        } else {
            self.plain_line(version, done, total);
        }
    }

    /// Moves the migration's bar, creating it (and ending another
    /// migration's) as needed; indicatif redraws it at its own pace.
    fn draw_bar(&self, version: Version, done: u64, total: Option<u64>) {
        let mut state = self.state();
        let current = state
            .bar
            .as_ref()
            .filter(|(shown, _)| *shown == version)
            .map(|(_, bar)| bar.clone());
        let bar = match current {
            Some(bar) => bar,
            None => {
                if let Some((_, old)) = state.bar.take() {
                    self.end(&old);
                }
                let bar = self
                    .bars
                    .add(ProgressBar::no_length().with_style(count_style()))
                    .with_prefix(version.to_string());
                state.bar = Some((version, bar.clone()));
                bar
            }
        };
        drop(state);
        match total {
            Some(total) if bar.length() != Some(total) => {
                bar.set_length(total);
                bar.set_style(bar_style());
            }
            None if bar.length().is_some() => {
                bar.unset_length();
                bar.set_style(count_style());
            }
            _ => {}
        }
        bar.set_position(done);
    }

    /// Off a terminal, progress is a log line per migration at most once a
    /// second, and always the complete one. These lines are written here:
    /// indicatif's draw targets hide themselves off a terminal, and a custom
    /// one redraws in bursts of up to 20 (its rate limiter's burst), which
    /// would flood CI logs with a fast migration's progress.
    fn plain_line(&self, version: Version, done: u64, total: Option<u64>) {
        let now = Instant::now();
        let mut state = self.state();
        let due = state
            .last_line
            .get(&version)
            .is_none_or(|t| now.duration_since(*t) >= PLAIN_EVERY);
        if due || Some(done) == total {
            state.last_line.insert(version, now);
            drop(state);
            self.line(format_args!("  [{version}] {}", plain_bar(done, total)));
        }
    }

    fn end_bar(&self, version: Version) {
        let mut state = self.state();
        if state
            .bar
            .as_ref()
            .is_some_and(|(shown, _)| *shown == version)
            && let Some((_, bar)) = state.bar.take()
        {
            self.end(&bar);
        }
    }

    fn end(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.bars.remove(bar);
    }
}

/// `[#####-----]  45% 45/100`.
fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("  [{prefix}] [{bar:30}] {percent:>3}% {pos}/{len}")
        .map(|style| style.progress_chars("#-"))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A count, when the total is unknown.
fn count_style() -> ProgressStyle {
    ProgressStyle::with_template("  [{prefix}] {pos}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The text of a plain progress line: `[#####-----]  45% 45/100` (30
/// characters wide), or a count when the total is unknown.
pub(super) fn plain_bar(done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) if total > 0 => {
            let done = done.min(total);
            let width = 30u64;
            let filled = done * width / total;
            format!(
                "[{}{}] {:>3}% {done}/{total}",
                "#".repeat(usize::try_from(filled).unwrap_or(0)),
                "-".repeat(usize::try_from(width - filled).unwrap_or(0)),
                done * 100 / total
            )
        }
        _ => format!("{done}"),
    }
}

impl Reporter for Console {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Log { .. } => Tracing.event(event),
            Event::Warning { message } => self.line(format_args!("warning: {message}")),
            Event::Statement { version, sql } => {
                let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                self.line(format_args!("  [{version}] sql: {sql}"));
            }
            _ if self.quiet => {}
            Event::Building { crates } => {
                self.line(format_args!("building {crates} guest crate(s)…"));
            }
            Event::BuildingPython { tool } => {
                self.line(format_args!(
                    "building the Python runtime with {tool} (once per wasmig version)…"
                ));
            }
            Event::Loaded {
                from_cache,
                compiled,
                elapsed,
            } => self.line(format_args!(
                "components: {compiled} compiled, {from_cache} from the cache ({})",
                millis(*elapsed)
            )),
            Event::Started {
                version,
                name,
                direction,
            } => {
                let verb = match direction {
                    Direction::Up => "applying",
                    Direction::Down => "reverting",
                };
                self.line(format_args!("{verb} {version} {name}"));
            }
            Event::Progress {
                version,
                done,
                total,
            } => self.progress(*version, *done, *total),
            Event::Finished {
                version,
                name,
                elapsed,
                ..
            } => {
                self.end_bar(*version);
                self.line(format_args!("  ok {version} {name} ({})", millis(*elapsed)));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_shows_the_share_done() {
        assert_eq!(
            plain_bar(5, Some(10)),
            format!("[{}{}]  50% 5/10", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(plain_bar(7, None), "7");
    }
}
