//! How the CLI shows runs and statuses.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wasmig::RunReport;
use wasmig::backend::DatabaseUrl;
use wasmig::migrator::Inspection;
use wasmig::plan::{Plan, Simulation, show_value};
use wasmig::planner::MigrationStatus;
use wasmig::report::{Direction, Event, LogLevel, Reporter};

/// Prints events to stderr: one line each, and progress as a bar redrawn
/// in place on a terminal (a line at most once a second otherwise).
pub(crate) struct Console {
    /// The least severe migration log line shown.
    level: LogLevel,
    quiet: bool,
    tty: bool,
    progress: Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    last: HashMap<i64, Instant>,
    /// A bar is drawn on the current line.
    drawn: bool,
}

impl Console {
    pub(crate) fn new(level: LogLevel, quiet: bool) -> Self {
        use std::io::IsTerminal;
        Self {
            level,
            quiet,
            tty: std::io::stderr().is_terminal(),
            progress: Mutex::new(ProgressState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `[#####-----]  45%`, or a count when the total is unknown.
fn bar(done: u64, total: Option<u64>) -> String {
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
        let mut err = std::io::stderr().lock();
        let mut state = self.state();
        let clear_bar = |err: &mut std::io::StderrLock<'_>, state: &mut ProgressState| {
            if state.drawn {
                let _ = write!(err, "\r\x1b[2K");
                state.drawn = false;
            }
        };
        match event {
            Event::Log {
                version,
                level,
                message,
            } => {
                if *level < self.level {
                    return;
                }
                clear_bar(&mut err, &mut state);
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
                clear_bar(&mut err, &mut state);
                let _ = writeln!(err, "warning: {message}");
            }
            Event::Statement { version, sql } => {
                clear_bar(&mut err, &mut state);
                let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                let _ = writeln!(err, "  [{version}] sql: {sql}");
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
                let every = if self.tty {
                    Duration::from_millis(100)
                } else {
                    Duration::from_secs(1)
                };
                let due = state
                    .last
                    .get(version)
                    .is_none_or(|t| now.duration_since(*t) >= every);
                if due || Some(*done) == *total {
                    state.last.insert(*version, now);
                    if self.tty {
                        let _ = write!(err, "\r\x1b[2K  [{version}] {}", bar(*done, *total));
                        let _ = err.flush();
                        state.drawn = true;
                    } else {
                        let _ = writeln!(err, "  [{version}] {}", bar(*done, *total));
                    }
                }
            }
            Event::Finished {
                version,
                name,
                elapsed,
                ..
            } => {
                clear_bar(&mut err, &mut state);
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
    let rows: u64 = report.migrations.iter().map(|m| m.rows).sum();
    println!(
        "{verb} {} migration(s) on {url} ({env}) in {}, {rows} row(s) changed",
        report.migrations.len(),
        millis(report.elapsed)
    );
}

pub(crate) fn status_table(statuses: &[&MigrationStatus]) {
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
        "DURATION",
        "CHECKSUM",
    ];
    let rows: Vec<[Cow<'_, str>; 7]> = statuses
        .iter()
        .map(|s| {
            [
                Cow::Owned(s.version.to_string()),
                Cow::Borrowed(s.name.as_str()),
                Cow::Owned(s.kind.to_string()),
                Cow::Borrowed(s.status.as_str()),
                s.applied_at.as_deref().unwrap_or("-").into(),
                s.execution_ms
                    .map_or(Cow::Borrowed("-"), |ms| Cow::Owned(format!("{ms} ms"))),
                s.checksum
                    .as_deref()
                    .map_or(Cow::Borrowed("(not built)"), |c| {
                        Cow::Borrowed(c.get(..12).unwrap_or(c))
                    }),
            ]
        })
        .collect();
    print_table(&header, &rows);
}

pub(crate) fn status_json(
    statuses: &[&MigrationStatus],
    url: &DatabaseUrl,
    env: &str,
) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "format": 1,
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

/// Prints a plan for people: each migration with its statements, then the
/// digest and the command that applies exactly this plan.
pub(crate) fn plan(plan: &Plan, url: &DatabaseUrl, env: &str) {
    if plan.migrations.is_empty() {
        println!("nothing to do: {url} ({env}) is up to date");
        println!("plan digest: {}", plan.digest);
        return;
    }
    println!(
        "plan for {url} ({env}): {} pending migration(s), simulated in a transaction that \
         was rolled back",
        plan.migrations.len()
    );
    for m in &plan.migrations {
        println!();
        println!(
            "{} {} ({}, {})",
            m.version,
            m.name,
            m.kind,
            m.path.display()
        );
        let counted = format!(
            "{} statement(s), {} row(s) changed",
            m.statements_total, m.rows_affected
        );
        match &m.simulation {
            Simulation::Simulated => println!("  simulated: {counted}"),
            Simulation::NotSimulated { reason } => {
                println!("  NOT SIMULATED ({reason}); it will run for real on `up`");
                if m.statements.is_empty() {
                    println!("  its statements are known only when it runs");
                }
            }
            Simulation::Failed { reason } => {
                println!("  FAILS: {reason}");
                println!("  `up` would stop here and roll it back");
            }
            Simulation::NotReached => println!("  not reached: an earlier migration fails"),
        }
        for st in &m.statements {
            let sql = st.sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let rows = match (st.rows, &st.error) {
                (_, Some(e)) => format!("  -> error: {e}"),
                (Some(n), None) => format!("  -> {n} row(s)"),
                (None, None) => String::new(),
            };
            println!("    {} {sql}{rows}", st.call);
            for set in &st.params {
                if !set.is_empty() {
                    let shown: Vec<String> = set.iter().map(show_value).collect();
                    println!("      ({})", shown.join(", "));
                }
            }
            if st.param_sets > st.params.len() as u64 {
                println!(
                    "      … {} more parameter set(s)",
                    st.param_sets - st.params.len() as u64
                );
            }
        }
        let shown = m.statements.len() as u64;
        if m.statements_total > shown {
            println!("    … {} more statement(s)", m.statements_total - shown);
        }
    }
    println!();
    println!("plan digest: {}", plan.digest);
    match plan.failure() {
        Some(m) => println!("migration {} fails: fix it before applying", m.version),
        None => println!(
            "apply exactly this plan with: wasmig up --expect-plan {}",
            plan.digest
        ),
    }
}

/// Prints a plan as one JSON document.
pub(crate) fn plan_json(plan: &Plan, url: &DatabaseUrl, env: &str) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "database": url.to_string(),
        "environment": env,
        "digest": plan.digest,
        "migrations": plan.migrations,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// Prints the history, oldest first.
pub(crate) fn history(events: &[wasmig::ledger::HistoryEvent]) {
    if events.is_empty() {
        println!("no history yet");
        return;
    }
    let header = [
        "AT", "ACTION", "VERSION", "NAME", "ENV", "BY", "DURATION", "CHECKSUM",
    ];
    let rows: Vec<[String; 8]> = events
        .iter()
        .map(|e| {
            [
                e.at.clone(),
                e.action.as_str().to_owned(),
                e.version.to_string(),
                e.name.clone(),
                e.environment.clone(),
                e.actor.clone(),
                e.execution_ms
                    .map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
                e.checksum
                    .as_deref()
                    .map_or_else(|| "-".into(), |c| c[..12.min(c.len())].to_owned()),
            ]
        })
        .collect();
    print_table(&header, &rows);
}

fn print_table<const N: usize, C: AsRef<str>>(header: &[&str; N], rows: &[[C; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.as_ref().chars().count());
        }
    }
    // One write for the whole table, not one per line.
    let mut out = String::with_capacity((rows.len() + 1) * (widths.iter().sum::<usize>() + 2 * N));
    let mut line = |cells: &[&str]| {
        let start = out.len();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = w.saturating_sub(cell.chars().count());
            out.extend(std::iter::repeat_n(' ', pad));
        }
        let end = out[start..].trim_end().len() + start;
        out.truncate(end);
        out.push('\n');
    };
    line(header);
    for row in rows {
        line(&row.each_ref().map(AsRef::as_ref));
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

/// Shows what an edit to an applied migration changed.
pub(crate) fn repair(r: &wasmig::migrator::Repair) {
    println!(
        "{} {} ({}): edited after it was applied",
        r.version,
        r.name,
        r.path.display()
    );
    println!("  ran:  sha256 {}", r.old_checksum);
    println!("  file: sha256 {}", r.new_checksum);
    match (&r.ran, &r.now) {
        (Some(ran), Some(now)) => {
            for line in diff(ran, now) {
                println!("  {line}");
            }
        }
        (None, Some(_)) => {
            println!(
                "  (the ledger keeps no copy of the script that ran, so no diff can be shown)"
            );
        }
        _ => println!("  (a component: compare the two builds' sources)"),
    }
    println!();
}

/// A line diff of `old` and `new`: `-` removed, `+` added, two lines of
/// context around each change.
fn diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len().saturating_mul(b.len()) > 4_000_000 {
        return vec![format!(
            "(too large to diff here: {} lines before, {} after)",
            a.len(),
            b.len()
        )];
    }
    // Longest common subsequence, from the end.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(op, _)| *op != ' ')
    };
    let mut out = Vec::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push("…".to_owned());
                skipped = false;
            }
            out.push(format!("{op} {line}"));
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push("…".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_marks_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\n";
        let new = "a\nb\nc\nD\ne\nf\ng\n";
        assert_eq!(
            diff(old, new),
            ["…", "  b", "  c", "- d", "+ D", "  e", "  f", "…"].map(str::to_owned)
        );
    }

    #[test]
    fn a_bar_shows_the_share_done() {
        assert_eq!(
            bar(5, Some(10)),
            format!("[{}{}]  50% 5/10", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(bar(7, None), "7");
    }
}
