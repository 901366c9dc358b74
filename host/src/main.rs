//! The `wasmig` command line: parses, calls the library, renders.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Database migrations as SQL files or sandboxed WebAssembly components.
///
/// Migrations live in a directory (`--dir`, repeatable), ordered by the
/// version their names start with. Each one runs in its own transaction together with its
/// row in the `wasmig_migrations` ledger table.
#[derive(Parser, Debug)]
#[command(name = "wasmig", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Global {
    /// The migrations directory; repeat for more (a vendor's, say), read as one sequence
    /// [default: `migrations` from wasmig.toml, or ./migrations]
    #[arg(long, global = true, value_name = "DIR")]
    dir: Vec<PathBuf>,

    /// The database: sqlite:FILE, postgres://… or mysql://… [default: $DATABASE_URL, then
    /// wasmig.toml, then sqlite:wasmig.db beside wasmig.toml or in the current directory]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// The environment: selects [env.NAME] in wasmig.toml, is what migrations read as
    /// their environment, and is recorded in the ledger
    #[arg(
        long = "env",
        global = true,
        value_name = "NAME",
        default_value = "dev"
    )]
    env_name: String,

    /// The config file [default: ./wasmig.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// How long `up` and `down` wait for another runner to finish before giving up
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 300)]
    lock_timeout: u64,

    /// How runners exclude each other: `session` (advisory lock, GET_LOCK, file lock) or
    /// `lease` (a renewed row in wasmig_lock, for PgBouncer-style poolers)
    #[arg(long = "lock", global = true, value_enum, value_name = "MODE", default_value_t = LockArg::Session)]
    lock_mode: LockArg,

    /// Where compiled components are kept between runs [default: `cache_dir` from
    /// wasmig.toml, else $XDG_CACHE_HOME/wasmig or ~/.cache/wasmig]
    #[arg(long, global = true, value_name = "DIR", env = "WASMIG_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile every component on every run; read and write no compile cache
    #[arg(long, global = true)]
    no_cache: bool,

    /// Print only errors and the final summary
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Show more of what migrations log: -v debug, -vv trace [default: info, or what
    /// RUST_LOG says: a level (error, warn, info, debug, trace) or directives such as
    /// `wasmig=debug,sqlx=warn`]
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Print every statement migrations issue, as they issue it
    #[arg(long, global = true)]
    log_sql: bool,

    /// An empty database of the same engine to replay migrations and schema files in
    /// (emptied afterwards) [default: `dev_url` from wasmig.toml, else a scratch database
    /// wasmig creates beside the live one and drops]
    #[arg(long, global = true, value_name = "URL", env = "WASMIG_DEV_URL")]
    dev_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new migration: SQL up/down files, a Rust guest crate, a Python migration or a
    /// declarative file; with --auto, written from the difference to the desired schema files
    New(NewArgs),
    /// Build the Rust guest crates of the directory into components, and the Python runtime
    /// (then import every Python migration in it, so a syntax error fails here)
    Build(BuildArgs),
    /// Apply pending migrations, oldest first
    Up(UpArgs),
    /// Show what `up` would do: run every pending migration in a transaction that is rolled
    /// back, and print each statement it issues, the rows it changes, and the plan's digest
    /// for `up --expect-plan`
    Plan(PlanArgs),
    /// Revert applied migrations, newest first
    Down(DownArgs),
    /// Show every migration: applied, pending, failed, missing or changed
    Status(StatusArgs),
    /// Check the directory and the ledger without changing anything
    Validate,
    /// Record what a failed migration left behind, after inspecting the database
    Resolve(ResolveArgs),
    /// Adopt a database another tool migrated: record migrations up to VERSION as applied
    Baseline(BaselineArgs),
    /// List every apply, revert, repair, resolve, baseline, adopt and sync: when, by whom,
    /// in which environment
    History(HistoryArgs),
    /// Accept edits to applied migrations: show what changed, then re-stamp their checksums
    /// in the ledger (nothing runs)
    Repair(ConfirmArgs),
    /// Revert every migration, then apply them all again (refused in protected environments)
    Reset(ConfirmArgs),
    /// Show what a migration is and the sandbox it would run in, without running it
    Inspect(InspectArgs),
    /// Create or drop the database itself (on its PostgreSQL or MySQL/MariaDB server; for
    /// SQLite, its file)
    Database(DatabaseArgs),
    /// The schema: dump it, diff it against the migrations or the desired schema files, and
    /// (in development) sync or drop it
    Schema(SchemaArgs),
    /// Compare the live database with what its applied migrations produce (replayed in a
    /// scratch database) and list every difference
    Drift(DriftArgs),
    /// Run the migrations against many tenant databases, a few at a time: a failing tenant is
    /// recorded and the others go on; one summary at the end
    Fleet(FleetArgs),
}

#[derive(Args, Debug)]
struct FleetArgs {
    #[command(subcommand)]
    action: FleetAction,
}

#[derive(Subcommand, Debug)]
enum FleetAction {
    /// Apply pending migrations on every tenant
    Up(FleetUpArgs),
    /// Show every tenant: up to date, behind, failed or unreachable
    Status(FleetCommon),
    /// Compare every tenant's schema with what its applied migrations produce (--exit-code:
    /// 4 when any drifted)
    Drift(FleetCommon),
    /// Simulate `up` on every tenant and group the tenants by the shape of their plan, so
    /// that one plan per group is reviewed
    Plan(FleetPlanArgs),
}

#[derive(Args, Debug)]
struct FleetPlanArgs {
    #[command(flatten)]
    common: FleetCommon,
    #[command(flatten)]
    select: Selection,
}

#[derive(Args, Debug)]
struct FleetUpArgs {
    #[command(flatten)]
    common: FleetCommon,
    #[command(flatten)]
    select: Selection,
    /// Go on with the other tenants when one fails (default: finish the tenants in flight,
    /// start no other)
    #[arg(long)]
    continue_on_error: bool,
    /// Apply to the first N tenants before any other; if one of them fails, stop there
    #[arg(long, value_name = "N", default_value_t = 0)]
    canary: usize,
    /// After the canary, apply in waves of N tenants, each finished before the next starts
    #[arg(long, value_name = "N", default_value_t = 0)]
    wave_size: usize,
    /// Apply only where the tenant's plan has a shape `wasmig fleet plan` showed and you
    /// reviewed (repeatable: one per group); other tenants fail with nothing applied
    #[arg(long, value_name = "SHAPE")]
    expect_plan: Vec<String>,
}

#[derive(Args, Debug)]
struct FleetCommon {
    /// A tenant database URL (repeatable; beside `targets` under [fleet] in wasmig.toml);
    /// `postgres://…/db?schema=tenant_*` is every schema matching the pattern
    #[arg(long = "target", value_name = "URL")]
    targets: Vec<String>,
    /// SQLite files matching PATTERN are tenants, e.g. `tenants/*.db` (repeatable)
    #[arg(long, value_name = "PATTERN")]
    sqlite_glob: Vec<String>,
    /// The rows of SQL on the control database are tenants: URLs, or a column named `schema`
    /// of PostgreSQL schemas there (e.g. `SELECT url FROM tenants WHERE active`)
    #[arg(long, value_name = "SQL")]
    targets_query: Option<String>,
    /// The database --targets-query runs on [default: the project's database]
    #[arg(long, value_name = "URL")]
    control_url: Option<String>,
    /// How many tenants run at once [default: with servers, half their free connections at
    /// two per tenant, at most 32; with SQLite files only, eight per core, at most 32]
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Exit with status 4 while any tenant is behind (drift: has drifted)
    #[arg(long)]
    exit_code: bool,
}

#[derive(Args, Debug)]
struct DriftArgs {
    /// Exit with status 4 when the database has drifted
    #[arg(long)]
    exit_code: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write migration NAME that makes the migrations match the database (adopting changes
    /// made by hand), and record it as applied here; it stays pending everywhere else
    #[arg(long, value_name = "NAME")]
    fix: Option<String>,
    /// With --fix: write a declarative `.schema.toml` instead of SQL up/down files
    #[arg(long, requires = "fix")]
    schema: bool,
}

#[derive(Args, Debug)]
struct SchemaArgs {
    #[command(subcommand)]
    action: SchemaAction,
}

#[derive(Subcommand, Debug)]
enum SchemaAction {
    /// Print the live database's schema (without wasmig's own tables)
    Dump(DumpArgs),
    /// Print the operations that turn one schema into another (by default, the live
    /// database's into the desired schema files): as a declarative migration file, JSON, or
    /// the SQL they run with the SQL that undoes them
    Diff(DiffArgs),
    /// Apply the difference between the live database and the desired schema files
    /// directly, without a migration (development; refused in protected environments)
    Sync(SyncArgs),
    /// Drop every object of the database, wasmig's own tables included, so the next `up`
    /// starts from nothing (development; refused in protected environments)
    Drop(SchemaDropArgs),
}

#[derive(Args, Debug)]
struct SyncArgs {
    /// A table or column that was renamed: `old:new` or `table.old:table.new` (repeatable)
    #[arg(long = "rename", value_name = "OLD:NEW")]
    renames: Vec<String>,
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short)]
    yes: bool,
}

#[derive(Args, Debug)]
struct SchemaDropArgs {
    /// PostgreSQL: the schema to empty [default: the connection's current schema]
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short)]
    yes: bool,
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// The schema to start from: `database` (the live one), `migrations` (what every
    /// migration produces, replayed in a scratch database), `schema` (the desired schema
    /// files), or a file: `.sql`, or a state written by `schema dump --format toml|json`
    #[arg(long, value_name = "STATE", default_value = "database")]
    from: String,
    /// The schema to arrive at, in the same forms as --from
    #[arg(long, value_name = "STATE", default_value = "schema")]
    to: String,
    /// A table or column that was renamed, not dropped and added: `old:new` or
    /// `table.old:table.new` (repeatable; renames are never guessed)
    #[arg(long = "rename", value_name = "OLD:NEW")]
    renames: Vec<String>,
    /// `toml`: a declarative migration (`.schema.toml`); `json`: the operations; `sql`: the
    /// statements they run on this database's engine
    #[arg(long, value_enum, default_value_t = DiffFormat::Toml)]
    format: DiffFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DiffFormat {
    Toml,
    Json,
    Sql,
}

#[derive(Args, Debug)]
struct DumpArgs {
    /// `sql`: DDL for the database's engine; `json` or `toml`: the schema model
    #[arg(long, value_enum, default_value_t = DumpFormat::Sql)]
    format: DumpFormat,
    /// PostgreSQL: the schema to read [default: the connection's current schema, `public`
    /// unless the URL or the role says otherwise]
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DumpFormat {
    Sql,
    Json,
    Toml,
}

#[derive(Args, Debug)]
struct DatabaseArgs {
    #[command(subcommand)]
    action: DatabaseAction,
}

#[derive(Subcommand, Debug)]
enum DatabaseAction {
    /// Create the database the URL names, unless it exists
    Create,
    /// Drop the database the URL names with all its data, ending other sessions on it
    /// (refused in protected environments)
    Drop(ConfirmArgs),
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// A migration's version, or the path of a migration file (a `.wasm` to review)
    #[arg(value_name = "VERSION|PATH")]
    migration: String,
}

#[derive(Args, Debug)]
struct HistoryArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Only the events of migration VERSION
    #[arg(long, value_name = "VERSION")]
    migration: Option<i64>,
}

#[derive(Args, Debug)]
struct ConfirmArgs {
    /// Do not ask for confirmation (for scripts)
    #[arg(long, short)]
    yes: bool,
}

#[derive(Args, Debug)]
struct BaselineArgs {
    /// The newest migration the database already has
    #[arg(value_name = "VERSION", id = "migration")]
    migration: i64,
}

#[derive(Args, Debug)]
struct ResolveArgs {
    /// The failed migration's version
    #[arg(value_name = "VERSION", id = "migration")]
    migration: i64,
    /// `applied`: it is now completely applied; `rolled-back`: nothing of it remains
    #[arg(long = "as", value_enum, value_name = "STATE")]
    state: Resolution,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    /// Mark it applied
    Applied,
    /// Remove it from the ledger, so `up` runs it again
    RolledBack,
}

#[derive(Args, Debug)]
struct NewArgs {
    /// What the migration does, e.g. `add_users` (letters, digits, `_`, `-`)
    name: String,
    /// Create `<version>_<name>.up.sql` and `.down.sql` (the default)
    #[arg(long, conflicts_with_all = ["rust", "schema", "python"])]
    sql: bool,
    /// Create a Rust guest crate `<version>_<name>/`
    #[arg(long, conflicts_with_all = ["schema", "python"])]
    rust: bool,
    /// Create a Python migration `<version>_<name>/migration.py` (built by componentize-py)
    #[arg(long, conflicts_with_all = ["schema", "auto"])]
    python: bool,
    /// Create a declarative `<version>_<name>.schema.toml` of schema operations, rendered for
    /// whichever engine it is applied to and reverted without a hand-written down
    #[arg(long)]
    schema: bool,
    /// Write the migration that brings what the migrations produce to the desired schema
    /// files (`schema/`): SQL up and down files, or a declarative file with --schema
    #[arg(long, conflicts_with = "rust")]
    auto: bool,
    /// With --auto: a table or column that was renamed, `old:new` or `table.old:table.new`
    /// (repeatable; on a terminal, likely renames are asked about)
    #[arg(long = "rename", value_name = "OLD:NEW", requires = "auto")]
    renames: Vec<String>,
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Rebuild every crate and the Python runtime, not only what changed
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    select: Selection,
    /// Apply nothing: show the plan, as `wasmig plan` does
    #[arg(long, conflicts_with = "expect_plan")]
    dry_run: bool,
    /// Apply only if what would be issued is exactly the plan `wasmig plan` printed with this
    /// digest (the whole digest, or at least its first 12 characters)
    #[arg(long, value_name = "DIGEST")]
    expect_plan: Option<String>,
    /// Output format of `--dry-run`
    #[arg(long, value_enum, default_value_t = Format::Table, requires = "dry_run")]
    format: Format,
    /// Create the database first when it does not exist (PostgreSQL, MySQL/MariaDB)
    #[arg(long)]
    create_database: bool,
}

#[derive(Args, Debug)]
struct PlanArgs {
    #[command(flatten)]
    select: Selection,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Which pending migrations `up` and `plan` take.
#[derive(Args, Debug)]
struct Selection {
    /// Apply only migrations up to and including VERSION
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    /// Apply at most N migrations
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Apply pending migrations older than the newest applied one (after a branch merge)
    #[arg(long)]
    allow_out_of_order: bool,
    /// Carry on when applied migrations are missing from the directory
    #[arg(long)]
    ignore_missing: bool,
}

#[derive(Args, Debug)]
struct DownArgs {
    /// Revert the newest N applied migrations [default: 1]
    #[arg(long, value_name = "N", conflicts_with = "to")]
    steps: Option<usize>,
    /// Revert every migration newer than VERSION; VERSION itself stays applied
    /// (`--to 0` reverts everything)
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Exit status with --exit-code: 0 when every migration is applied, 3 when \
some are pending (and nothing is wrong), 4 when any is failed, missing or changed; 1 is an error."
)]
struct StatusArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Show applied migrations (the filters add up; without any, all are shown)
    #[arg(long)]
    applied: bool,
    /// Show pending migrations
    #[arg(long)]
    pending: bool,
    /// Show failed migrations
    #[arg(long)]
    failed: bool,
    /// Show migrations in the ledger whose files are gone
    #[arg(long)]
    missing: bool,
    /// Show applied migrations whose files were edited since
    #[arg(long)]
    changed: bool,
    /// Exit non-zero when anything is pending (3) or wrong (4), for CI gates
    #[arg(long)]
    exit_code: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum LockArg {
    /// The engine's session lock
    Session,
    /// A lease row that survives connection poolers
    Lease,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Aligned columns for people
    Table,
    /// One JSON document for programs
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
