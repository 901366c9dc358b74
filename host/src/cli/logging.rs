//! The CLI's log subscriber: what migrations log (and whatever else emits
//! `tracing` events), filtered by `RUST_LOG` and `-q`/`-v`/`-vv`, printed to
//! stderr above any progress bar.
//!
//! Only the CLI installs a subscriber; the library emits events and leaves
//! the choice of subscriber to whoever embeds it.

use std::fmt::Write as _;

use indicatif::MultiProgress;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use wasmig::report::MIGRATION_TARGET;

/// What is shown without `RUST_LOG`: wasmig's own lines from `info` up,
/// other crates' warnings and errors.
// sqlx warns of every statement slower than a second: in a migration that
// is the normal case, not news.
const DEFAULT_DIRECTIVES: &str = "warn,wasmig=info,sqlx::query=error";

/// Installs the subscriber for this process. Its lines are printed above the
/// bars in `bars`. A subscriber installed before (by a test harness, say)
/// stays.
pub(crate) fn install(quiet: bool, verbose: u8, bars: MultiProgress) {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter(
            std::env::var("RUST_LOG").ok().as_deref(),
            quiet,
            verbose,
        ))
        .with_writer(AboveBars(bars))
        .event_format(Lines)
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// `RUST_LOG`'s directives (a level such as `debug`, or `wasmig=debug,sqlx=warn`),
/// else [`DEFAULT_DIRECTIVES`]; `-q` lowers wasmig's own lines to warnings
/// and errors, and `-v`/`-vv` raise them to `debug`/`trace`, whatever
/// `RUST_LOG` says. Invalid directives are named and ignored.
fn filter(rust_log: Option<&str>, quiet: bool, verbose: u8) -> EnvFilter {
    let directives = rust_log
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(DEFAULT_DIRECTIVES);
    let filter = EnvFilter::builder().parse_lossy(directives);
    let own = match (quiet, verbose) {
        (true, _) => "wasmig=warn",
        (false, 0) => return filter,
        (false, 1) => "wasmig=debug",
        (false, _) => "wasmig=trace",
    };
    match own.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// One line per event: `  [VERSION] LEVEL: MESSAGE` for what a migration
/// logged, `LEVEL: TARGET: MESSAGE FIELDS` for anything else.
struct Lines;

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let level = meta.level().as_str().to_ascii_lowercase();
        let mut fields = Fields::default();
        event.record(&mut fields);
        match fields.version {
            Some(version) if meta.target() == MIGRATION_TARGET => {
                write!(writer, "  [{version}] {level}: ")?;
            }
            _ => write!(writer, "{level}: {}: ", meta.target())?,
        }
        writeln!(writer, "{}{}", fields.message, fields.rest)
    }
}

/// An event's fields: the migration's version, the message, the rest as
/// ` name=value`.
#[derive(Default)]
struct Fields {
    version: Option<i64>,
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "version" {
            self.version = Some(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = if field.name() == "message" {
            write!(self.message, "{value:?}")
        } else {
            write!(self.rest, " {}={value:?}", field.name())
        };
    }
}

/// Writes each formatted event to stderr with the progress bars lifted.
struct AboveBars(MultiProgress);

impl<'a> MakeWriter<'a> for AboveBars {
    type Writer = AboveBarsWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        AboveBarsWriter(&self.0)
    }
}

/// The writer for one event.
struct AboveBarsWriter<'a>(&'a MultiProgress);

impl std::io::Write for AboveBarsWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .suspend(|| std::io::stderr().lock().write_all(buf))
            .map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::level_filters::LevelFilter;
    use wasmig::report::{Event as RunEvent, LogLevel, Reporter, Tracing};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the CLI's subscriber prints of `emit`'s events under `rust_log`.
    fn printed(rust_log: &str, quiet: bool, verbose: u8, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some(rust_log), quiet, verbose))
            .with_writer(move || out.clone())
            .event_format(Lines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    fn log(level: LogLevel, message: &str) {
        Tracing.event(&RunEvent::Log {
            version: 2,
            level,
            message,
        });
    }

    #[test]
    fn migration_lines_keep_their_version_and_level() {
        let out = printed("", false, 0, || {
            log(LogLevel::Info, "backfilled 3 people");
            log(LogLevel::Debug, "one row");
        });
        assert_eq!(out, "  [2] info: backfilled 3 people\n");
    }

    #[test]
    fn rust_log_takes_levels_and_directives_and_flags_win() {
        let both = || {
            log(LogLevel::Info, "info line");
            log(LogLevel::Debug, "debug line");
        };
        assert_eq!(printed("warn", false, 0, both), "");
        assert!(printed("wasmig=debug", false, 0, both).contains("  [2] debug: debug line"));
        assert!(printed("debug", false, 0, both).contains("debug line"));
        assert!(printed("warn", false, 1, both).contains("debug line"));
        assert!(printed("other_crate=trace", false, 0, both).is_empty());
    }

    #[test]
    fn quiet_keeps_only_warnings_and_errors_of_migrations() {
        let out = printed("debug", true, 0, || {
            log(LogLevel::Info, "info line");
            log(LogLevel::Warn, "warn line");
        });
        assert_eq!(out, "  [2] warn: warn line\n");
    }

    #[test]
    fn the_filter_spans_the_levels_asked_for() {
        let max = |rust_log, quiet, verbose| filter(rust_log, quiet, verbose).max_level_hint();
        assert_eq!(max(None, false, 0), Some(LevelFilter::INFO));
        assert_eq!(max(Some(" warn "), false, 0), Some(LevelFilter::WARN));
        assert_eq!(max(None, false, 2), Some(LevelFilter::TRACE));
    }
}
