//! One line per metric, printed as it is measured, and the markdown table of
//! a full run.

use std::fmt::Write as _;
use std::process::Command;

use crate::Bench;
use crate::inputs::ROUNDS;

/// How a measured ratio meets its goal.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// The ratio (or value) must be at most this.
    AtMost(f64),
    /// The value must be at least this.
    AtLeast(f64),
    /// Reported for what it shows, with no goal to meet.
    Informational,
}

/// One measured metric.
#[derive(Debug, Clone)]
pub struct Line {
    pub metric: &'static str,
    pub engine: &'static str,
    /// What the numbers are (`s`, `ms/migration`, `MB`, `rows/s`).
    pub unit: &'static str,
    pub outcome: Outcome,
    pub goal: Goal,
    /// What the reference is.
    pub reference_name: String,
    /// How many runs of each side the reported medians come from.
    pub rounds: usize,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// wasmig's value, the reference's, and the ratio compared with the
    /// goal (the value itself when there is no reference).
    Measured { wasmig: f64, reference: Option<f64> },
    /// Not measured, and why.
    Skipped(String),
}

impl Line {
    fn ratio(&self) -> Option<f64> {
        match &self.outcome {
            Outcome::Measured {
                wasmig,
                reference: Some(reference),
            } if *reference > 0.0 => Some(wasmig / reference),
            Outcome::Measured {
                wasmig,
                reference: None,
            } => Some(*wasmig),
            _ => None,
        }
    }

    fn ok(&self) -> Option<bool> {
        let ratio = self.ratio()?;
        match self.goal {
            Goal::AtMost(goal) => Some(ratio <= goal),
            Goal::AtLeast(goal) => Some(ratio >= goal),
            Goal::Informational => None,
        }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtMost(g) => format!("<={g}"),
            Goal::AtLeast(g) => format!(">={g}"),
            Goal::Informational => "-".into(),
        }
    }

    /// `true`, `false`, or `-` for a line with no goal.
    fn ok_text(&self) -> String {
        self.ok().map_or("-".into(), |ok| ok.to_string())
    }

    fn text(&self) -> String {
        let value = |v: f64| format!("{v:.4}");
        match &self.outcome {
            Outcome::Measured { wasmig, reference } => format!(
                "metric={} engine={} wasmig={} reference={} ratio={} goal={} ok={} unit={} rounds={} against={}",
                self.metric,
                self.engine,
                value(*wasmig),
                reference.map_or("-".into(), value),
                self.ratio().map_or("-".into(), |r| format!("{r:.3}")),
                self.goal_text(),
                self.ok_text(),
                self.unit,
                self.rounds,
                self.reference_name.replace(' ', "_"),
            ),
            Outcome::Skipped(why) => format!(
                "metric={} engine={} wasmig=- reference=- ratio=- goal={} ok=skipped reason=\"{}\"",
                self.metric,
                self.engine,
                self.goal_text(),
                why.replace('"', "'")
            ),
        }
    }
}

/// Every line of the run.
#[derive(Default)]
pub struct Report {
    lines: Vec<Line>,
}

impl Report {
    /// Prints `line` and keeps it for the summary.
    pub fn add(&mut self, line: Line) {
        println!("{}", line.text());
        self.lines.push(line);
    }

    /// BENCHMARKS.md: how it was measured, the machine, the versions and
    /// the table.
    pub fn markdown(&self, bench: &Bench) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(out, "{}", self.method());
        let _ = writeln!(out, "## Machine and versions\n");
        let _ = writeln!(out, "{}", machine(bench));
        let _ = writeln!(out, "## Results\n");
        out.push_str(&self.table());
        out
    }

    /// How the lines were measured: the rounds behind each median, and
    /// what the lines without a goal and the SQLite variants are.
    fn method(&self) -> String {
        let mut out = format!(
            "Measured by `cargo bench -p wasmig` (host/benches/side_by_side). Each \
             comparison runs its contenders in turn (wasmig, then each reference, round \
             after round) and reports each side's median run; the `rounds` column says \
             how many runs a side each median is of ({ROUNDS} unless listed below).\n"
        );
        let others: Vec<String> = self
            .lines
            .iter()
            .filter(|l| l.rounds != ROUNDS)
            .map(|l| format!("`{}` on {}: {}", l.metric, l.engine, l.rounds))
            .collect();
        if !others.is_empty() {
            let _ = writeln!(out, "Other round counts: {}.\n", others.join("; "));
        }
        out.push_str(
            "Lines whose goal is `-` are informational: a second reference or a \
             condition shown beside the goal's line, not a target. \
             `data_migration_vs_native` on SQLite is against native Rust with rusqlite \
             in process; `data_migration_vs_native_sqlx` is the same algorithm with \
             sqlx, whose SQLite driver hands every statement to a worker thread. \
             `status_10k_applied_warm` is `status` with its checksum cache filled by an \
             earlier `status`; `status_10k_applied_cold` is the first `status` with an \
             empty cache directory (every file read and hashed). \
             On SQLite, `apply_1k_vs_fastest_tool` runs on the rollback journal \
             (`sqlite`) and in WAL mode (`sqlite-wal`) with each tool's own defaults \
             (dbmate's driver sets `synchronous=NORMAL`, wasmig keeps SQLite's `FULL`), \
             then at equal durability in both modes: dbmate given `_sync=FULL` \
             (`sqlite-sync-full`, `sqlite-wal-sync-full`) and wasmig given \
             `?synchronous=normal` (`sqlite-sync-normal`, `sqlite-wal-sync-normal`).\n",
        );
        out
    }

    /// One row per line, in the order measured.
    fn table(&self) -> String {
        let mut out = String::from(
            "| metric | engine | wasmig | reference | against | ratio | goal | ok | rounds |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for line in &self.lines {
            let (wasmig, reference, ratio, ok) = match &line.outcome {
                Outcome::Measured { wasmig, reference } => (
                    format!("{wasmig:.3} {}", line.unit),
                    reference.map_or("–".into(), |r| format!("{r:.3} {}", line.unit)),
                    line.ratio().map_or("–".into(), |r| format!("{r:.3}")),
                    match line.ok() {
                        Some(true) => "yes",
                        Some(false) => "**no**",
                        None => "–",
                    }
                    .to_owned(),
                ),
                Outcome::Skipped(why) => (
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    format!("skipped: {why}"),
                ),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {wasmig} | {reference} | {} | {ratio} | {} | {ok} | {} |",
                line.metric,
                line.engine,
                line.reference_name,
                line.goal_text(),
                line.rounds
            );
        }
        out
    }
}

/// The machine, the versions of everything compared, and the sizes.
fn machine(bench: &Bench) -> String {
    let mut out = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let _ = writeln!(out, "- CPU: {cpu}, {cores} cores");
    let _ = writeln!(out, "- wasmig {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "- {}", command_line("rustc", &["--version"]));
    let _ = writeln!(out, "- SQLite {}", rusqlite::version());
    if let Ok(pg) = &bench.postgres {
        let _ = writeln!(out, "- {}", pg.version);
    }
    let _ = writeln!(out, "- sqlx-cli: {}", command_line("sqlx", &["--version"]));
    let dbmate = crate::tools::dbmate_path().unwrap_or_else(|| "dbmate".into());
    let _ = writeln!(out, "- dbmate: {}", command_line(&dbmate, &["--version"]));
    let _ = writeln!(out, "- sizes: {:?}", bench.sizes);
    out
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "not installed".to_owned())
}
