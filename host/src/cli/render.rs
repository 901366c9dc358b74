//! How the CLI shows results: summaries, tables, plans, inspections and
//! repair diffs (a run's progress is [`super::console`]).

use std::borrow::Cow;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table};
use similar::{ChangeTag, TextDiff};

use wasmig::RunReport;
use wasmig::backend::DatabaseUrl;
use wasmig::migrator::Inspection;
use wasmig::plan::{Plan, Simulation, show_value};
use wasmig::planner::MigrationStatus;

/// `12 ms`.
pub(super) fn millis(d: Duration) -> String {
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
    plan_migrations(plan);
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

/// Prints each migration of a plan with its statements.
pub(crate) fn plan_migrations(plan: &Plan) {
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
}

/// Prints a plan as one JSON document.
pub(crate) fn plan_json(plan: &Plan, url: &DatabaseUrl, env: &str) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "database": url.to_string(),
        "environment": env,
        "digest": plan.digest,
        "shape": plan.shape,
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

/// Prints aligned columns, two spaces apart, without borders.
pub(crate) fn print_table<const N: usize, C: AsRef<str>>(header: &[&str; N], rows: &[[C; N]]) {
    println!("{}", table(header, rows));
}

fn table<const N: usize, C: AsRef<str>>(header: &[&str; N], rows: &[[C; N]]) -> String {
    let mut table = Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row.iter().map(AsRef::as_ref).collect::<Vec<&str>>());
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table.trim_fmt()
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

/// How many lines of context a repair diff shows around each change.
const DIFF_CONTEXT: usize = 2;

/// A line diff of `old` and `new`: `-` removed, `+` added, two lines of
/// context around each change, `…` where unchanged lines are left out.
fn diff(old: &str, new: &str) -> Vec<String> {
    let diff = TextDiff::configure()
        .timeout(Duration::from_secs(2))
        .diff_lines(old, new);
    let groups = diff.grouped_ops(DIFF_CONTEXT);
    let mut out = Vec::new();
    let mut next_line = 0;
    for group in &groups {
        if group
            .first()
            .is_some_and(|op| op.old_range().start > next_line)
        {
            out.push("…".to_owned());
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let mark = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                let line = change.value().trim_end_matches(['\n', '\r']);
                out.push(format!("{mark} {line}"));
            }
            next_line = op.old_range().end;
        }
    }
    if !groups.is_empty() && next_line < diff.old_len() {
        out.push("…".to_owned());
    }
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
