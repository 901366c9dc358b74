//! Plans: what `up` would issue, found by running the pending migrations in
//! a transaction that is rolled back, and the digest that lets `up
//! --expect-plan` apply exactly what was reviewed.
//!
//! A migration's digest covers every statement it issues, in order: the
//! call, the SQL, every parameter, and the rows it changed or read. The
//! plan's digest covers each migration's version, checksum, whether it was
//! simulated, and its digest. Migrations are deterministic, so the same
//! database state and the same migrations give the same digest; a change to
//! either that alters a single statement or row count gives another.

use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::backend::Value;
use crate::source::{MigrationKind, Version};

/// How many statements of one migration a plan keeps to show (all of them
/// count toward the digest).
pub const SHOWN_STATEMENTS: usize = 200;
/// How many parameter sets of one batch a plan keeps to show.
pub const SHOWN_PARAM_SETS: usize = 5;

/// One statement a migration issued.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// How it was issued: `execute`, `query`, `execute-batch`,
    /// `execute-script`, `open-cursor`, or `sql` for a SQL migration's
    /// statement.
    pub call: &'static str,
    /// The SQL text.
    pub sql: String,
    /// Its parameter sets (one for a single statement, none without
    /// parameters); at most [`SHOWN_PARAM_SETS`] are kept.
    #[serde(serialize_with = "values_as_json")]
    pub params: Vec<Vec<Value>>,
    /// How many parameter sets it had in all.
    pub param_sets: u64,
    /// Rows it changed (writes) or returned (queries), when known.
    pub rows: Option<u64>,
    /// The database's error, when it failed (a migration may handle it).
    pub error: Option<String>,
}

fn values_as_json<S: serde::Serializer>(
    sets: &[Vec<Value>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(sets.len()))?;
    for set in sets {
        let shown: Vec<serde_json::Value> = set.iter().map(value_json).collect();
        seq.serialize_element(&shown)?;
    }
    seq.end()
}

fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => (*f).into(),
        Value::Bytes(b) => format!("<{} bytes>", b.len()).into(),
        Value::Text(s)
        | Value::Json(s)
        | Value::Uuid(s)
        | Value::Timestamp(s)
        | Value::Date(s)
        | Value::Decimal(s) => s.clone().into(),
    }
}

/// Shows a parameter the way a reviewer reads it: SQL-like literals.
pub fn show_value(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Text(s)
        | Value::Json(s)
        | Value::Uuid(s)
        | Value::Timestamp(s)
        | Value::Date(s)
        | Value::Decimal(s) => {
            let shown: String = s.chars().take(80).collect();
            let more = if shown.len() < s.len() { "…" } else { "" };
            format!("'{}{more}'", shown.replace('\'', "''"))
        }
    }
}

/// Records the statements of one migration: hashes all of them and keeps
/// the first [`SHOWN_STATEMENTS`] to show.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    hasher: Sha256,
    /// Hashes each distinct statement text once, in the order first issued.
    shape: Sha256,
    seen: std::collections::HashMap<&'static str, std::collections::HashSet<String>>,
    kept: Vec<Statement>,
    total: u64,
}

impl Trace {
    /// Records one statement.
    pub fn record(
        &mut self,
        call: &'static str,
        sql: &str,
        sets: &[Vec<Value>],
        outcome: Result<Option<u64>, &str>,
    ) {
        let h = &mut self.hasher;
        hash_text(h, call);
        hash_text(h, sql);
        h.update((sets.len() as u64).to_le_bytes());
        for set in sets {
            h.update((set.len() as u64).to_le_bytes());
            for value in set {
                hash_value(h, value);
            }
        }
        match outcome {
            Ok(Some(rows)) => {
                h.update([1]);
                h.update(rows.to_le_bytes());
            }
            Ok(None) => h.update([0]),
            Err(_) => h.update([2]),
        }
        let seen = self.seen.entry(call).or_default();
        if !seen.contains(sql) {
            seen.insert(sql.to_owned());
            hash_text(&mut self.shape, call);
            hash_text(&mut self.shape, sql);
        }
        self.total += 1;
        if self.kept.len() < SHOWN_STATEMENTS {
            self.kept.push(Statement {
                call,
                sql: sql.to_owned(),
                params: sets.iter().take(SHOWN_PARAM_SETS).cloned().collect(),
                param_sets: sets.len() as u64,
                rows: outcome.ok().flatten(),
                error: outcome.err().map(str::to_owned),
            });
        }
    }

    /// How many statements were recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The digest of the statements' *shape*: each distinct statement text
    /// once, in the order first issued, without parameters, row counts or
    /// how often it ran. Tenants whose data differ but whose migrations do
    /// the same things share it.
    pub fn shape(&self) -> String {
        hex::encode(self.shape.clone().finalize())
    }

    /// The digest of every statement recorded, and the ones kept to show.
    pub fn finish(self) -> (String, Vec<Statement>) {
        (hex::encode(self.hasher.finalize()), self.kept)
    }
}

fn hash_text(h: &mut Sha256, text: &str) {
    h.update((text.len() as u64).to_le_bytes());
    h.update(text.as_bytes());
}

fn hash_value(h: &mut Sha256, value: &Value) {
    let (tag, text): (u8, &str) = match value {
        Value::Null => return h.update([0]),
        Value::Boolean(b) => return h.update([1, u8::from(*b)]),
        Value::Int(i) => {
            h.update([2]);
            return h.update(i.to_le_bytes());
        }
        Value::Float(f) => {
            h.update([3]);
            return h.update(f.to_bits().to_le_bytes());
        }
        Value::Bytes(b) => {
            h.update([4]);
            h.update((b.len() as u64).to_le_bytes());
            return h.update(b);
        }
        Value::Text(s) => (5, s),
        Value::Json(s) => (6, s),
        Value::Uuid(s) => (7, s),
        Value::Timestamp(s) => (8, s),
        Value::Date(s) => (9, s),
        Value::Decimal(s) => (10, s),
    };
    h.update([tag]);
    hash_text(h, text);
}

/// Whether a migration's run could be simulated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Simulation {
    /// It ran in the rolled-back transaction; its statements are exactly
    /// what `up` would issue against this state.
    Simulated,
    /// It cannot run without changing the database for good, so it did not
    /// run; its statements are listed where they are known.
    NotSimulated {
        /// Why.
        reason: String,
    },
    /// It failed in the simulation: `up` would fail on it.
    Failed {
        /// The error.
        reason: String,
    },
    /// An earlier migration fails, so `up` would not reach it.
    NotReached,
}

/// One pending migration in a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedMigration {
    /// Its version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// SQL or component.
    pub kind: MigrationKind,
    /// Its file or crate.
    pub path: PathBuf,
    /// The sha256 of what runs (the ledger's checksum).
    pub checksum: String,
    /// Whether it ran in the simulation.
    pub simulation: Simulation,
    /// The statements it issued (or would issue), the first
    /// [`SHOWN_STATEMENTS`].
    pub statements: Vec<Statement>,
    /// How many statements it issued in all.
    pub statements_total: u64,
    /// Rows changed by its writes, in all (reads not counted).
    pub rows_affected: u64,
    /// The digest of its statements.
    pub digest: String,
    /// The digest of its statements' shape (see [`Trace::shape`]).
    pub shape: String,
}

/// What `up` would do, migration by migration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The pending migrations `up` would apply, in order.
    pub migrations: Vec<PlannedMigration>,
    /// The digest `up --expect-plan` checks.
    pub digest: String,
    /// The digest of the plan's shape: each migration's version, checksum,
    /// simulation state and statement shape, without the parameters and
    /// row counts that differ from tenant to tenant (`fleet plan` groups
    /// tenants by it; `fleet up --expect-plan` accepts it).
    pub shape: String,
}

impl Plan {
    /// Builds the plan and its digest.
    pub fn new(migrations: Vec<PlannedMigration>) -> Self {
        let digest = |kind: &str, of: fn(&PlannedMigration) -> &str| {
            let mut h = Sha256::new();
            hash_text(&mut h, kind);
            for m in &migrations {
                h.update(m.version.to_le_bytes());
                hash_text(&mut h, &m.checksum);
                let state = match &m.simulation {
                    Simulation::Simulated => "simulated",
                    Simulation::NotSimulated { .. } => "not-simulated",
                    Simulation::Failed { .. } => "failed",
                    Simulation::NotReached => "not-reached",
                };
                hash_text(&mut h, state);
                hash_text(&mut h, of(m));
            }
            hex::encode(h.finalize())
        };
        let shape = digest("wasmig-plan-shape-v1", |m| &m.shape);
        Self {
            digest: digest("wasmig-plan-v1", |m| &m.digest),
            shape,
            migrations,
        }
    }

    /// The first migration that fails in the simulation.
    pub fn failure(&self) -> Option<&PlannedMigration> {
        self.migrations
            .iter()
            .find(|m| matches!(m.simulation, Simulation::Failed { .. }))
    }
}

/// Whether a write's row count counts as rows affected.
pub(crate) fn is_write(call: &str) -> bool {
    matches!(call, "execute" | "execute-batch" | "sql")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traced(rows: u64, param: i64) -> String {
        let mut t = Trace::default();
        t.record(
            "execute",
            "UPDATE t SET a = ?1",
            &[vec![Value::Int(param)]],
            Ok(Some(rows)),
        );
        t.finish().0
    }

    #[test]
    fn the_digest_sees_parameters_and_row_counts() {
        assert_eq!(traced(3, 1), traced(3, 1));
        assert_ne!(traced(3, 1), traced(4, 1));
        assert_ne!(traced(3, 1), traced(3, 2));
    }

    #[test]
    fn the_shape_sees_statements_but_not_parameters_rows_or_repeats() {
        let shape = |params: &[i64], rows: u64| {
            let mut t = Trace::default();
            for p in params {
                t.record(
                    "execute",
                    "UPDATE t SET a = ?1",
                    &[vec![Value::Int(*p)]],
                    Ok(Some(rows)),
                );
            }
            t.record("sql", "DROP TABLE old", &[], Ok(None));
            t.shape()
        };
        assert_eq!(shape(&[1], 3), shape(&[2, 5, 7], 9));
        let mut other = Trace::default();
        other.record("sql", "DROP TABLE old", &[], Ok(None));
        assert_ne!(shape(&[1], 3), other.shape());
    }

    #[test]
    fn a_trace_keeps_a_bounded_number_of_statements_but_counts_all() {
        let mut t = Trace::default();
        for i in 0..(SHOWN_STATEMENTS as i64 + 10) {
            t.record(
                "execute",
                "DELETE FROM t WHERE id = ?1",
                &[vec![Value::Int(i)]],
                Ok(Some(0)),
            );
        }
        assert_eq!(t.total(), SHOWN_STATEMENTS as u64 + 10);
        assert_eq!(t.finish().1.len(), SHOWN_STATEMENTS);
    }

    #[test]
    fn text_parameters_show_as_quoted_literals() {
        assert_eq!(show_value(&Value::Text("O'Brien".into())), "'O''Brien'");
        assert_eq!(show_value(&Value::Null), "NULL");
    }
}
