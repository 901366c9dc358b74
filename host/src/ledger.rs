//! The ledger: the table that records which migrations ran.
//!
//! One row per migration that is applied (or, on engines that cannot roll
//! DDL back, that failed half way). The row is written in the same
//! transaction as the migration itself, so the ledger never claims a
//! migration that did not happen, and never misses one that did.

use crate::backend::{Backend, Dialect, Value};
use crate::error::Error;
use crate::source::{MigrationKind, Version};

/// The ledger table's name.
pub const TABLE: &str = "wasmig_migrations";

/// The table that keeps what each applied migration ran: its up script (so
/// `repair` can show what changed) and its down step (the down script, or
/// the component), so it can be reverted after its file is gone.
pub const PAYLOADS: &str = "wasmig_payloads";

/// The table of every apply, revert, repair, resolve and baseline, with
/// who ran it, when, and in which environment.
pub const HISTORY: &str = "wasmig_history";

/// Stored payloads are split into parts of this size, which every engine
/// accepts in one statement (MySQL's `max_allowed_packet` included).
const PART_BYTES: usize = 1 << 20;

/// The state a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Applied completely.
    Applied,
    /// Failed part way on an engine that could not roll it back.
    Failed,
}

impl EntryState {
    fn as_str(self) -> &'static str {
        match self {
            EntryState::Applied => "applied",
            EntryState::Failed => "failed",
        }
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// SQL or component.
    pub kind: MigrationKind,
    /// The sha256 (hex) of the exact bytes that ran: the up script, or the
    /// component.
    pub checksum: String,
    /// Applied or failed.
    pub state: EntryState,
    /// When it ran (RFC 3339, UTC).
    pub applied_at: String,
    /// How long it took, in milliseconds.
    pub execution_ms: i64,
    /// The environment it ran in (`--env`).
    pub environment: String,
    /// For a failed migration, its error.
    pub error: Option<String>,
    /// The sha256 (hex) of the statements and parameters it issued, in
    /// order: two runs against the same database state give the same
    /// digest.
    pub statements_digest: Option<String>,
}

fn create_table_sql(dialect: Dialect) -> String {
    let (text, big) = match dialect {
        Dialect::Sqlite => ("TEXT", "INTEGER"),
        Dialect::Postgres => ("TEXT", "BIGINT"),
        Dialect::Mysql => ("VARCHAR(255)", "BIGINT"),
    };
    let long_text = match dialect {
        Dialect::Mysql => "LONGTEXT",
        _ => "TEXT",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
            version      {big} PRIMARY KEY,
            name         {text} NOT NULL,
            kind         {text} NOT NULL,
            checksum     {text} NOT NULL,
            state        {text} NOT NULL,
            applied_at   {text} NOT NULL,
            execution_ms {big} NOT NULL,
            environment  {text} NOT NULL,
            error        {long_text},
            statements_digest {text}
        )"
    )
}

fn create_payloads_sql(dialect: Dialect) -> String {
    let (text, big, blob) = match dialect {
        Dialect::Sqlite => ("TEXT", "INTEGER", "BLOB"),
        Dialect::Postgres => ("TEXT", "BIGINT", "BYTEA"),
        Dialect::Mysql => ("TEXT", "BIGINT", "LONGBLOB"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {PAYLOADS} (
            version        {big} NOT NULL,
            step           {key} NOT NULL,
            part           {big} NOT NULL,
            path           {text} NOT NULL,
            no_transaction {big} NOT NULL,
            bytes          {blob} NOT NULL,
            PRIMARY KEY (version, step, part)
        )",
        key = if dialect == Dialect::Mysql {
            "VARCHAR(8)"
        } else {
            "TEXT"
        }
    )
}

fn create_history_sql(dialect: Dialect) -> String {
    let (id, text, big) = match dialect {
        // Rows are never deleted, so the rowid only grows.
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "TEXT", "INTEGER"),
        Dialect::Postgres => (
            "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            "TEXT",
            "BIGINT",
        ),
        Dialect::Mysql => (
            "BIGINT AUTO_INCREMENT PRIMARY KEY",
            "VARCHAR(255)",
            "BIGINT",
        ),
    };
    let long_text = if dialect == Dialect::Mysql {
        "LONGTEXT"
    } else {
        "TEXT"
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {HISTORY} (
            id           {id},
            version      {big} NOT NULL,
            name         {text} NOT NULL,
            action       {text} NOT NULL,
            checksum     {text},
            at           {text} NOT NULL,
            execution_ms {big},
            environment  {text} NOT NULL,
            actor        {text} NOT NULL,
            detail       {long_text}
        )"
    )
}

/// Creates the ledger table if it does not exist.
///
/// # Errors
/// Fails when the database refuses the `CREATE TABLE`.
pub async fn ensure(db: &mut dyn Backend) -> Result<(), Error> {
    let sql = create_table_sql(db.dialect());
    db.execute(&sql, &[])
        .await
        .map_err(Error::db(format!("creating the ledger table {TABLE}")))?;
    upgrade(db).await
}

/// Adds the columns a ledger written by an earlier wasmig lacks.
///
/// # Errors
/// Fails when the database refuses the `ALTER TABLE`.
pub async fn upgrade(db: &mut dyn Backend) -> Result<(), Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => format!("SELECT name FROM pragma_table_info('{TABLE}')"),
        Dialect::Postgres => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{TABLE}'"
        ),
        Dialect::Mysql => format!(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{TABLE}'"
        ),
    };
    let columns = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading the columns of {TABLE}")))?;
    let has = |name: &str| {
        columns
            .rows
            .iter()
            .any(|r| matches!(r.first(), Some(Value::Text(t)) if t.eq_ignore_ascii_case(name)))
    };
    for (table, sql) in [
        (PAYLOADS, create_payloads_sql(db.dialect())),
        (HISTORY, create_history_sql(db.dialect())),
    ] {
        db.execute(&sql, &[])
            .await
            .map_err(Error::db(format!("creating the table {table}")))?;
    }
    if !has("statements_digest") {
        let text = match db.dialect() {
            Dialect::Mysql => "VARCHAR(255)",
            _ => "TEXT",
        };
        db.execute(
            &format!("ALTER TABLE {TABLE} ADD COLUMN statements_digest {text}"),
            &[],
        )
        .await
        .map_err(Error::db(format!("adding statements_digest to {TABLE}")))?;
    }
    Ok(())
}

/// Reads every ledger row, ordered by version.
///
/// # Errors
/// Fails when the table cannot be read or holds a row wasmig did not write.
pub async fn read(db: &mut dyn Backend) -> Result<Vec<LedgerEntry>, Error> {
    // `*`, so a ledger an earlier wasmig wrote (without the newer columns)
    // reads too.
    let sql = format!("SELECT * FROM {TABLE} ORDER BY version");
    let rows = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading the ledger table {TABLE}")))?;
    let digest_at = rows
        .columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("statements_digest"));
    rows.rows
        .into_iter()
        .map(|mut row| {
            let digest = match digest_at {
                Some(i) if i < row.len() => match row.remove(i) {
                    Value::Text(t) => Some(t),
                    _ => None,
                },
                _ => None,
            };
            let mut entry = entry_from_row(row)?;
            entry.statements_digest = digest;
            Ok(entry)
        })
        .collect()
}

/// Reads a row in the column order of the original ledger table.
fn entry_from_row(row: Vec<Value>) -> Result<LedgerEntry, Error> {
    let bad = |what: &str| {
        Error::Refused(format!(
            "the ledger table {TABLE} has a row with an invalid {what}; it was not written \
             by this version of wasmig"
        ))
    };
    let mut cells = row.into_iter();
    let mut next = || cells.next().unwrap_or(Value::Null);
    let int = |v: Value| match v {
        Value::Int(i) => Some(i),
        Value::Text(t) | Value::Decimal(t) => t.parse().ok(),
        _ => None,
    };
    let text = |v: Value| match v {
        Value::Text(t) => Some(t),
        _ => None,
    };
    let version = int(next()).ok_or_else(|| bad("version"))?;
    let name = text(next()).ok_or_else(|| bad("name"))?;
    let kind = text(next())
        .and_then(|k| MigrationKind::parse(&k))
        .ok_or_else(|| bad("kind"))?;
    let checksum = text(next()).ok_or_else(|| bad("checksum"))?;
    let state = match text(next()).as_deref() {
        Some("applied") => EntryState::Applied,
        Some("failed") => EntryState::Failed,
        _ => return Err(bad("state")),
    };
    let applied_at = text(next()).ok_or_else(|| bad("applied_at"))?;
    let execution_ms = int(next()).ok_or_else(|| bad("execution_ms"))?;
    let environment = text(next()).ok_or_else(|| bad("environment"))?;
    let error = text(next());
    Ok(LedgerEntry {
        version,
        name,
        kind,
        checksum,
        state,
        applied_at,
        execution_ms,
        environment,
        error,
        statements_digest: None,
    })
}

/// Reads every ledger row, or nothing when there is no ledger table yet
/// (without creating it).
///
/// # Errors
/// Fails when the table cannot be read.
pub async fn read_if_exists(db: &mut dyn Backend) -> Result<Vec<LedgerEntry>, Error> {
    if exists(db).await? {
        read(db).await
    } else {
        Ok(Vec::new())
    }
}

/// Writes `entry`, replacing any row with the same version (a failed row the
/// operator resolved, say).
///
/// # Errors
/// Returns the database's error.
pub async fn record(db: &mut dyn Backend, entry: &LedgerEntry) -> Result<(), crate::DbError> {
    let d = db.dialect();
    db.execute(
        &format!("DELETE FROM {TABLE} WHERE version = {}", d.placeholder(1)),
        &[Value::Int(entry.version)],
    )
    .await?;
    insert(db, entry).await
}

/// Writes `entry` for a version the ledger has no row for.
///
/// # Errors
/// Returns the database's error (a duplicate key when it has one).
pub async fn insert(db: &mut dyn Backend, entry: &LedgerEntry) -> Result<(), crate::DbError> {
    run_inserts(db, &[ledger_row(entry)]).await
}

/// An `INSERT` of rows into one table, rendered for a dialect when run.
struct Insert {
    /// `table (column, …)`.
    into: String,
    rows: Vec<Vec<Value>>,
}

impl Insert {
    /// The statement, with placeholders numbered from `first`; returns the
    /// next free number too.
    fn render(&self, d: Dialect, first: usize) -> (String, usize) {
        let mut n = first;
        let tuples: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .map(|_| {
                        let p = d.placeholder(n);
                        n += 1;
                        p
                    })
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        (
            format!("INSERT INTO {} VALUES {}", self.into, tuples.join(", ")),
            n,
        )
    }
}

fn ledger_row(entry: &LedgerEntry) -> Insert {
    Insert {
        into: format!(
            "{TABLE} (version, name, kind, checksum, state, applied_at, execution_ms, \
             environment, error, statements_digest)"
        ),
        rows: vec![vec![
            Value::Int(entry.version),
            Value::Text(entry.name.clone()),
            Value::Text(entry.kind.as_str().to_owned()),
            Value::Text(entry.checksum.clone()),
            Value::Text(entry.state.as_str().to_owned()),
            Value::Text(entry.applied_at.clone()),
            Value::Int(entry.execution_ms),
            Value::Text(entry.environment.clone()),
            entry.error.clone().map_or(Value::Null, Value::Text),
            entry
                .statements_digest
                .clone()
                .map_or(Value::Null, Value::Text),
        ]],
    }
}

/// Runs `inserts` one statement each; on PostgreSQL, in one statement (a
/// round trip, not one per table).
async fn run_inserts(db: &mut dyn Backend, inserts: &[Insert]) -> Result<(), crate::DbError> {
    let d = db.dialect();
    if d == Dialect::Postgres && inserts.len() > 1 {
        let mut next = 1;
        let mut parts = Vec::with_capacity(inserts.len());
        for insert in inserts {
            let (sql, after) = insert.render(d, next);
            next = after;
            parts.push(sql);
        }
        let last = parts.pop().unwrap_or_default();
        let ctes: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, sql)| format!("w{i} AS ({sql})"))
            .collect();
        let sql = format!("WITH {} {last}", ctes.join(", "));
        let params: Vec<Value> = inserts
            .iter()
            .flat_map(|i| i.rows.iter().flatten().cloned())
            .collect();
        db.execute(&sql, &params).await?;
        return Ok(());
    }
    for insert in inserts {
        let (sql, _) = insert.render(d, 1);
        let params: Vec<Value> = insert.rows.iter().flatten().cloned().collect();
        db.execute(&sql, &params).await?;
    }
    Ok(())
}

/// Records an applied migration: its ledger row, its kept steps and its
/// history event, in as few statements as the engine allows. `replace`
/// when the ledger has a row for it already (its under-way mark);
/// `stale_steps` when steps are kept for it without a ledger row (someone
/// deleted the row by hand).
///
/// # Errors
/// Returns the database's error.
pub async fn record_applied(
    db: &mut dyn Backend,
    entry: &LedgerEntry,
    steps: &[(Step, &StoredStep)],
    event: &HistoryEvent,
    replace: bool,
    stale_steps: bool,
) -> Result<(), crate::DbError> {
    let d = db.dialect();
    if replace {
        db.execute(
            &format!("DELETE FROM {TABLE} WHERE version = {}", d.placeholder(1)),
            &[Value::Int(entry.version)],
        )
        .await?;
    }
    if stale_steps {
        remove_steps(db, entry.version).await?;
    }
    let mut inserts = vec![ledger_row(entry)];
    inserts.extend(step_rows(entry.version, steps));
    inserts.push(history_row(event));
    // A large payload goes in statements of its own.
    if inserts.len() > 3 {
        for insert in &inserts {
            run_inserts(db, std::slice::from_ref(insert)).await?;
        }
        return Ok(());
    }
    run_inserts(db, &inserts).await
}

/// Sets the state (and error) of the row of `version`.
///
/// # Errors
/// Returns the database's error.
pub async fn set_state(
    db: &mut dyn Backend,
    version: Version,
    state: EntryState,
    error: Option<&str>,
) -> Result<(), crate::DbError> {
    let d = db.dialect();
    let sql = format!(
        "UPDATE {TABLE} SET state = {}, error = {} WHERE version = {}",
        d.placeholder(1),
        d.placeholder(2),
        d.placeholder(3)
    );
    db.execute(
        &sql,
        &[
            Value::Text(state.as_str().to_owned()),
            error.map_or(Value::Null, |e| Value::Text(e.to_owned())),
            Value::Int(version),
        ],
    )
    .await?;
    Ok(())
}

/// Removes the row of `version` and its stored down step (after reverting
/// it).
///
/// # Errors
/// Returns the database's error.
pub async fn remove(db: &mut dyn Backend, version: Version) -> Result<(), crate::DbError> {
    let sql = format!(
        "DELETE FROM {TABLE} WHERE version = {}",
        db.dialect().placeholder(1)
    );
    db.execute(&sql, &[Value::Int(version)]).await?;
    remove_steps(db, version).await
}

/// Whether the ledger table exists (so read-only commands need not create it).
///
/// # Errors
/// Returns the database's error.
pub async fn exists(db: &mut dyn Backend) -> Result<bool, Error> {
    table_exists(db, TABLE).await
}

async fn table_exists(db: &mut dyn Backend, table: &str) -> Result<bool, Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        Dialect::Postgres => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
        Dialect::Mysql => {
            "SELECT 1 FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
    };
    let rows = db
        .query(sql, &[Value::Text(table.to_owned())])
        .await
        .map_err(Error::db(format!("looking for the table {table}")))?;
    Ok(!rows.rows.is_empty())
}

/// The ledger row that says a migration started and has not finished.
///
/// Written before anything of the migration can stick without a rollback
/// (before a no-transaction migration starts; on MySQL, just before its
/// first DDL statement, which commits implicitly), so a runner that dies
/// half way leaves the truth behind.
#[derive(Debug, Clone, PartialEq)]
pub enum InterruptedMark {
    /// Applying: the row to write, in the failed state.
    Applying(LedgerEntry),
    /// Reverting the applied migration of this version.
    Reverting(Version),
}

/// The error a mark carries until the migration finishes.
pub const INTERRUPTED_UP: &str = "interrupted: the run stopped before this migration finished";
/// The error a mark carries while a migration is reverted.
pub const INTERRUPTED_DOWN: &str =
    "interrupted: the run stopped before this migration was reverted";

/// Writes `mark`.
///
/// # Errors
/// Returns the database's error.
pub async fn mark(db: &mut dyn Backend, mark: &InterruptedMark) -> Result<(), crate::DbError> {
    match mark {
        InterruptedMark::Applying(entry) => record(db, entry).await,
        InterruptedMark::Reverting(version) => {
            set_state(db, *version, EntryState::Failed, Some(INTERRUPTED_DOWN)).await
        }
    }
}

/// Takes `mark` back after a failure that provably left nothing behind.
///
/// # Errors
/// Returns the database's error.
pub async fn unmark(db: &mut dyn Backend, mark: &InterruptedMark) -> Result<(), crate::DbError> {
    match mark {
        InterruptedMark::Applying(entry) => remove(db, entry.version).await,
        InterruptedMark::Reverting(version) => {
            set_state(db, *version, EntryState::Applied, None).await
        }
    }
}

/// Turns `mark` into a failed row carrying `error` (written again if the
/// rollback took the mark with it).
///
/// # Errors
/// Returns the database's error.
pub async fn mark_failed(
    db: &mut dyn Backend,
    mark: &InterruptedMark,
    error: &str,
) -> Result<(), crate::DbError> {
    match mark {
        InterruptedMark::Applying(entry) => {
            let mut entry = entry.clone();
            entry.error = Some(error.to_owned());
            record(db, &entry).await
        }
        InterruptedMark::Reverting(version) => {
            set_state(db, *version, EntryState::Failed, Some(error)).await
        }
    }
}

/// Which step of a migration a stored payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// What `up` ran (SQL migrations only: a component is its own down step).
    Up,
    /// What `down` runs.
    Down,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Up => "up",
            Step::Down => "down",
        }
    }
}

/// A step of a migration as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStep {
    /// The migration file's path when it was applied (policies match it).
    pub path: String,
    /// Whether the migration runs outside a transaction.
    pub no_transaction: bool,
    /// The script (UTF-8), or the component's bytes.
    pub bytes: Vec<u8>,
}

/// Keeps `steps` of migration `version` (which has none kept: [`remove`]
/// forgets them with the ledger row), in one statement unless a payload is
/// larger than a part.
///
/// # Errors
/// Returns the database's error.
pub async fn store_steps(
    db: &mut dyn Backend,
    version: Version,
    steps: &[(Step, &StoredStep)],
) -> Result<(), crate::DbError> {
    for insert in step_rows(version, steps) {
        run_inserts(db, &[insert]).await?;
    }
    Ok(())
}

/// The inserts that keep `steps`: one for all of them, unless a payload is
/// larger than half a part; then one per part.
fn step_rows(version: Version, steps: &[(Step, &StoredStep)]) -> Vec<Insert> {
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for (step, stored) in steps {
        let mut parts: Vec<&[u8]> = stored.bytes.chunks(PART_BYTES).collect();
        if parts.is_empty() {
            parts.push(&[]);
        }
        for (i, part) in parts.into_iter().enumerate() {
            rows.push(vec![
                Value::Int(version),
                Value::Text(step.as_str().to_owned()),
                Value::Int(i64::try_from(i).unwrap_or(i64::MAX)),
                Value::Text(stored.path.clone()),
                Value::Int(i64::from(stored.no_transaction)),
                Value::Bytes(part.to_vec()),
            ]);
        }
    }
    if rows.is_empty() {
        return Vec::new();
    }
    let into = format!("{PAYLOADS} (version, step, part, path, no_transaction, bytes)");
    if steps.iter().any(|(_, s)| s.bytes.len() > PART_BYTES / 2) {
        rows.into_iter()
            .map(|row| Insert {
                into: into.clone(),
                rows: vec![row],
            })
            .collect()
    } else {
        vec![Insert { into, rows }]
    }
}

/// The versions that have steps kept but no ledger row (someone deleted
/// the row by hand): applying them replaces the steps.
///
/// # Errors
/// Fails when the tables cannot be read.
pub async fn stale_steps(db: &mut dyn Backend, ledger_exists: bool) -> Result<Vec<Version>, Error> {
    let sql = if ledger_exists {
        format!(
            "SELECT DISTINCT p.version FROM {PAYLOADS} p LEFT JOIN {TABLE} m \
             ON m.version = p.version WHERE m.version IS NULL"
        )
    } else if table_exists(db, PAYLOADS).await? {
        format!("SELECT DISTINCT version FROM {PAYLOADS}")
    } else {
        return Ok(Vec::new());
    };
    let rows = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading {PAYLOADS}")))?;
    Ok(rows.rows.iter().filter_map(|r| int(r.first())).collect())
}

/// Forgets the stored steps of migration `version`.
///
/// # Errors
/// Returns the database's error.
pub async fn remove_steps(db: &mut dyn Backend, version: Version) -> Result<(), crate::DbError> {
    let sql = format!(
        "DELETE FROM {PAYLOADS} WHERE version = {}",
        db.dialect().placeholder(1)
    );
    db.execute(&sql, &[Value::Int(version)]).await?;
    Ok(())
}

/// The versions whose down step the ledger keeps.
///
/// # Errors
/// Fails when the table cannot be read.
pub async fn stored_downs(db: &mut dyn Backend) -> Result<Vec<Version>, Error> {
    let rows = db
        .query(
            &format!("SELECT DISTINCT version FROM {PAYLOADS} WHERE step = 'down'"),
            &[],
        )
        .await
        .map_err(Error::db(format!("reading {PAYLOADS}")))?;
    Ok(rows.rows.iter().filter_map(|r| int(r.first())).collect())
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::Int(i)) => Some(*i),
        Some(Value::Boolean(b)) => Some(i64::from(*b)),
        Some(Value::Text(t) | Value::Decimal(t)) => t.parse().ok(),
        _ => None,
    }
}

/// The `step` kept for migration `version`, if any.
///
/// # Errors
/// Fails when the table cannot be read or holds parts wasmig did not write.
pub async fn read_step(
    db: &mut dyn Backend,
    version: Version,
    step: Step,
) -> Result<Option<StoredStep>, Error> {
    let d = db.dialect();
    let sql = format!(
        "SELECT part, path, no_transaction, bytes FROM {PAYLOADS} \
         WHERE version = {} AND step = {} ORDER BY part",
        d.placeholder(1),
        d.placeholder(2)
    );
    let rows = db
        .query(
            &sql,
            &[Value::Int(version), Value::Text(step.as_str().to_owned())],
        )
        .await
        .map_err(Error::db(format!(
            "reading the {} step of {version} from {PAYLOADS}",
            step.as_str()
        )))?;
    let mut stored: Option<StoredStep> = None;
    for (i, row) in rows.rows.into_iter().enumerate() {
        let bad = || {
            Error::Refused(format!(
                "{PAYLOADS} holds a damaged {} step for migration {version}; restore the \
                 migration's file instead",
                step.as_str()
            ))
        };
        if int(row.first()) != i64::try_from(i).ok() {
            return Err(bad());
        }
        let mut cells = row.into_iter().skip(1);
        let (path, flag, bytes) = (cells.next(), cells.next(), cells.next());
        let (Some(Value::Text(path)), Some(flag), Some(Value::Bytes(bytes))) =
            (path, int(flag.as_ref()), bytes)
        else {
            return Err(bad());
        };
        match &mut stored {
            Some(s) => s.bytes.extend_from_slice(&bytes),
            None => {
                stored = Some(StoredStep {
                    path,
                    no_transaction: flag != 0,
                    bytes,
                });
            }
        }
    }
    Ok(stored)
}

/// What happened to a migration, as `history` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `up` applied it.
    Apply,
    /// `down` reverted it.
    Revert,
    /// `repair` re-stamped its checksum.
    Repair,
    /// `resolve --as applied`.
    ResolveApplied,
    /// `resolve --as rolled-back`.
    ResolveRolledBack,
    /// `baseline` recorded it without running it.
    Baseline,
}

impl Action {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Revert => "revert",
            Action::Repair => "repair",
            Action::ResolveApplied => "resolve-applied",
            Action::ResolveRolledBack => "resolve-rolled-back",
            Action::Baseline => "baseline",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Action::Apply,
            Action::Revert,
            Action::Repair,
            Action::ResolveApplied,
            Action::ResolveRolledBack,
            Action::Baseline,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One row of the history table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEvent {
    /// The migration's version.
    pub version: Version,
    /// Its name.
    pub name: String,
    /// What happened.
    pub action: Action,
    /// The checksum the ledger recorded (for a repair: the new one).
    pub checksum: Option<String>,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// How long it took, when it ran.
    pub execution_ms: Option<i64>,
    /// The environment (`--env`).
    pub environment: String,
    /// Who ran it: `user@host`, or `WASMIG_ACTOR`.
    pub actor: String,
    /// More, where there is more to say (a repair's old checksum).
    pub detail: Option<String>,
}

/// Adds `event` to the history.
///
/// # Errors
/// Returns the database's error.
pub async fn log_event(db: &mut dyn Backend, event: &HistoryEvent) -> Result<(), crate::DbError> {
    run_inserts(db, &[history_row(event)]).await
}

fn history_row(event: &HistoryEvent) -> Insert {
    let text = |t: &Option<String>| t.clone().map_or(Value::Null, Value::Text);
    Insert {
        into: format!(
            "{HISTORY} (version, name, action, checksum, at, execution_ms, environment, actor, \
             detail)"
        ),
        rows: vec![vec![
            Value::Int(event.version),
            Value::Text(event.name.clone()),
            Value::Text(event.action.as_str().to_owned()),
            text(&event.checksum),
            Value::Text(event.at.clone()),
            event.execution_ms.map_or(Value::Null, Value::Int),
            Value::Text(event.environment.clone()),
            Value::Text(event.actor.clone()),
            text(&event.detail),
        ]],
    }
}

/// Every history event, oldest first (none when there is no history table).
///
/// # Errors
/// Fails when the table cannot be read.
pub async fn read_history(db: &mut dyn Backend) -> Result<Vec<HistoryEvent>, Error> {
    if !table_exists(db, HISTORY).await? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT version, name, action, checksum, at, execution_ms, environment, actor, detail \
         FROM {HISTORY} ORDER BY id"
    );
    let rows = db
        .query(&sql, &[])
        .await
        .map_err(Error::db(format!("reading {HISTORY}")))?;
    let text = |v: Option<Value>| match v {
        Some(Value::Text(t)) => Some(t),
        _ => None,
    };
    let mut events = Vec::with_capacity(rows.rows.len());
    for row in rows.rows {
        let version = int(row.first());
        let execution_ms = int(row.get(5));
        let mut cells = row.into_iter();
        let _ = cells.next();
        let name = text(cells.next());
        let action = text(cells.next()).and_then(|a| Action::parse(&a));
        let checksum = text(cells.next());
        let at = text(cells.next());
        let _ = cells.next();
        let environment = text(cells.next());
        let actor = text(cells.next());
        let detail = text(cells.next());
        let (Some(version), Some(name), Some(action), Some(at), Some(environment), Some(actor)) =
            (version, name, action, at, environment, actor)
        else {
            return Err(Error::Refused(format!(
                "{HISTORY} has a row wasmig did not write"
            )));
        };
        events.push(HistoryEvent {
            version,
            name,
            action,
            checksum,
            at,
            execution_ms,
            environment,
            actor,
            detail,
        });
    }
    Ok(events)
}

/// Who is running wasmig: `WASMIG_ACTOR` when set (a CI job's name, say),
/// else `user@host`.
pub fn actor() -> String {
    if let Ok(actor) = std::env::var("WASMIG_ACTOR")
        && !actor.is_empty()
    {
        return actor;
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{host}")
}
