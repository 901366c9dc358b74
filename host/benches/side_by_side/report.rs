//! One line per metric, printed as it is measured, and the markdown table of
//! a full run.

use std::fmt::Write as _;
use std::process::Command;

use crate::Bench;

/// How a measured ratio meets its goal.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// The ratio (or value) must be at most this.
    AtMost(f64),
    /// The value must be at least this.
    AtLeast(f64),
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
        Some(match self.goal {
            Goal::AtMost(goal) => ratio <= goal,
            Goal::AtLeast(goal) => ratio >= goal,
        })
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtMost(g) => format!("<={g}"),
            Goal::AtLeast(g) => format!(">={g}"),
        }
    }

    fn text(&self) -> String {
        let value = |v: f64| format!("{v:.4}");
        match &self.outcome {
            Outcome::Measured { wasmig, reference } => format!(
                "metric={} engine={} wasmig={} reference={} ratio={} goal={} ok={} unit={} against={}",
                self.metric,
                self.engine,
                value(*wasmig),
                reference.map_or("-".into(), value),
                self.ratio().map_or("-".into(), |r| format!("{r:.3}")),
                self.goal_text(),
                self.ok().unwrap_or(false),
                self.unit,
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

    /// BENCHMARKS.md: the machine, the versions, the commands and the table.
    pub fn markdown(&self, bench: &Bench) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Measured by `cargo bench -p wasmig` (host/benches/side_by_side). Every ratio \
             compares runs made in the same run of the program, interleaved (wasmig, then \
             the reference, round after round, three rounds) and reduced to each side's \
             median.\n"
        );
        let _ = writeln!(out, "## Machine and versions\n");
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
        let _ = writeln!(out, "- sizes: {:?}\n", bench.sizes);
        let _ = writeln!(out, "## Results\n");
        let _ = writeln!(
            out,
            "| metric | engine | wasmig | reference | against | ratio | goal | ok |\n|---|---|---|---|---|---|---|---|"
        );
        for line in &self.lines {
            let (wasmig, reference, ratio, ok) = match &line.outcome {
                Outcome::Measured { wasmig, reference } => (
                    format!("{wasmig:.3} {}", line.unit),
                    reference.map_or("–".into(), |r| format!("{r:.3} {}", line.unit)),
                    line.ratio().map_or("–".into(), |r| format!("{r:.3}")),
                    if line.ok().unwrap_or(false) {
                        "yes"
                    } else {
                        "**no**"
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
                "| {} | {} | {wasmig} | {reference} | {} | {ratio} | {} | {ok} |",
                line.metric,
                line.engine,
                line.reference_name,
                line.goal_text()
            );
        }
        out
    }
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
