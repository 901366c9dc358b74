//! How the CLI shows runs and statuses.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wasmig::RunReport;
use wasmig::backend::DatabaseUrl;
use wasmig::migrator::Inspection;
use wasmig::planner::MigrationStatus;
use wasmig::report::{Direction, Event, LogLevel, Reporter};

/// Prints events to stderr, one line each; progress at most once a second
/// per migration.
pub(crate) struct Console {
    quiet: bool,
    last_progress: Mutex<HashMap<i64, Instant>>,
}

impl Console {
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            quiet,
            last_progress: Mutex::new(HashMap::new()),
        }
    }
}

impl Reporter for Console {
    fn event(&self, event: &Event<'_>) {
        let mut err = std::io::stderr().lock();
        match event {
            Event::Log {
                version,
                level,
                message,
            } => {
                if self.quiet && *level < LogLevel::Warn {
                    return;
                }
                let level = match level {
                    LogLevel::Trace => "trace",
                    LogLevel::Debug => "debug",
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warn",
                    LogLevel::Error => "error",
                };
                let _ = writeln!(err, "  [{version}] {level}: {message}");
            }
            Event::Warning { message } => {
                let _ = writeln!(err, "warning: {message}");
            }
            _ if self.quiet => {}
            Event::Building { crates } => {
                let _ = writeln!(err, "building {crates} guest crate(s)…");
            }
            Event::Loaded {
                from_cache,
                compiled,
                elapsed,
            } => {
                let _ = writeln!(
                    err,
                    "components: {compiled} compiled, {from_cache} from the cache ({})",
                    millis(*elapsed)
                );
            }
            Event::Started {
                version,
                name,
                direction,
            } => {
                let verb = match direction {
                    Direction::Up => "applying",
                    Direction::Down => "reverting",
                };
                let _ = writeln!(err, "{verb} {version} {name}");
            }
            Event::Progress {
                version,
                done,
                total,
            } => {
                let now = Instant::now();
                let mut last = self
                    .last_progress
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let due = last
                    .get(version)
                    .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(1));
                if due || Some(*done) == *total {
                    last.insert(*version, now);
                    let _ = match total {
                        Some(total) => writeln!(err, "  [{version}] {done}/{total}"),
                        None => writeln!(err, "  [{version}] {done}"),
                    };
                }
            }
            Event::Finished {
                version,
                name,
                elapsed,
                ..
            } => {
                let _ = writeln!(err, "  ok {version} {name} ({})", millis(*elapsed));
            }
            _ => {}
        }
    }
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

pub(crate) fn summary(report: &RunReport, verb: &str, url: &DatabaseUrl, env: &str) {
    if report.migrations.is_empty() {
        println!("nothing to do: {url} ({env}) is up to date");
        return;
    }
    let total: Duration = report.migrations.iter().map(|m| m.elapsed).sum();
    println!(
        "{verb} {} migration(s) on {url} ({env}) in {}",
        report.migrations.len(),
        millis(total)
    );
}

pub(crate) fn status_table(statuses: &[MigrationStatus]) {
    if statuses.is_empty() {
        println!("no migrations");
        return;
    }
    let header = [
        "VERSION",
        "NAME",
        "KIND",
        "STATUS",
        "APPLIED AT",
        "CHECKSUM",
    ];
    let rows: Vec<[String; 6]> = statuses
        .iter()
        .map(|s| {
            [
                s.version.to_string(),
                s.name.clone(),
                s.kind.to_string(),
                s.status.as_str().to_owned(),
                s.applied_at.clone().unwrap_or_else(|| "-".into()),
                s.checksum
                    .as_deref()
                    .map_or_else(|| "(not built)".into(), |c| c[..12.min(c.len())].to_owned()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(&header.map(str::to_owned)));
    for row in &rows {
        println!("{}", line(row));
    }
}

pub(crate) fn status_json(
    statuses: &[MigrationStatus],
    url: &DatabaseUrl,
    env: &str,
) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "database": url.to_string(),
        "environment": env,
        "migrations": statuses,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// Prints what `wasmig inspect` found: what the migration is, then the
/// sandbox it would run in.
pub(crate) fn inspection(i: &Inspection) {
    let version = i.version.map_or_else(|| "-".to_owned(), |v| v.to_string());
    println!("migration {version} ({}): {}", i.name, i.path.display());
    println!("  kind: {}", i.kind.as_str());
    println!("  size: {} bytes", i.size);
    println!("  sha256: {}", i.checksum);
    if let Some(shape) = &i.shape {
        let contract = shape
            .imports
            .iter()
            .find_map(|name| name.strip_prefix("wasmig:migration/"))
            .and_then(|rest| rest.split_once('@'))
            .map_or("none (it imports nothing from wasmig)", |(_, v)| v);
        println!("  world: wasmig:migration/migration@{contract}");
        println!("  imports: {}", join_or_none(&shape.imports));
        let mut exports = shape.exports.clone();
        exports.sort();
        println!("  exports: {}", join_or_none(&exports));
        println!(
            "  transaction: {}",
            if shape.no_transaction {
                "none (it asks to run outside a transaction)"
            } else {
                "runs inside wasmig's transaction"
            }
        );
    }
    let s = &i.sandbox;
    println!("  sandbox:");
    println!("    policy: {}", join_or_none(&s.policies));
    let statements = s.statements.as_ref().map_or_else(
        || "any (transaction control never)".to_owned(),
        |kinds| {
            kinds
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    println!("    statements: {statements}");
    let rules = |rules: &[wasmig::policy::Rule], any: &str| {
        if rules.is_empty() {
            any.to_owned()
        } else {
            rules
                .iter()
                .map(|r| r.text.clone())
                .collect::<Vec<_>>()
                .join(" and ")
        }
    };
    println!("    tables: {}", rules(&s.tables, "any"));
    println!(
        "    env_vars: {}",
        rules(&s.env_vars, "every value of the environment's vars")
    );
    println!("    role: {}", s.role.as_deref().unwrap_or("-"));
    let l = &s.limits;
    println!("  limits:");
    println!("    fuel: {}", l.fuel);
    println!("    memory_mb: {}", l.memory_mb);
    println!("    instances: {}", l.instances);
    println!("    table_elements: {}", l.table_elements);
    println!("    timeout: {}", humantime::format_duration(l.timeout));
    println!(
        "    statement_timeout: {}",
        l.statement_timeout.map_or_else(
            || "the rest of `timeout`".to_owned(),
            |t| { humantime::format_duration(t).to_string() }
        )
    );
    println!("    rows_per_call: {}", l.rows_per_call);
    println!("    result_mb_per_call: {}", l.result_mb_per_call);
    let or_none = |v: Option<u64>| v.map_or_else(|| "no limit".to_owned(), |v| v.to_string());
    println!("    rows_total: {}", or_none(l.rows_total));
    println!("    result_mb_total: {}", or_none(l.result_mb_total));
    println!("    log_kb: {}", l.log_kb);
}

fn join_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
