//! The sandbox policy: what a migration may do.
//!
//! Two rules hold for every migration: transaction control belongs to the
//! host (a guest's `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT` or
//! `SET TRANSACTION` is refused), and the limits of `[limits]` apply. A
//! `[[policy]]` in `wasmig.toml` narrows what the migrations it applies to
//! may do:
//!
//! ```toml
//! [[policy]]
//! name = "acme plugin"
//! paths = ["vendor/acme/**"]          # globs on the migration's path, or its file name
//! versions = [42, "9000..9999"]       # single versions and inclusive ranges
//! statements = ["select", "insert", "update"]
//! tables = ["acme_*"]                 # every table it reads or writes
//! env_vars = ["region"]               # config keys it may read with env.var
//! role = "acme_migrator"              # PostgreSQL: SET LOCAL ROLE for the migration
//! limits = { fuel = 1_000_000_000, timeout = "2m", rows_per_call = 10_000 }
//! ```
//!
//! A policy without `paths` or `versions` applies to every migration. When
//! several apply, all of their rules hold at once, and each limit is the
//! smallest any of them sets. A policy's statement and table rules apply to
//! SQL migrations too: their statements are checked before the script runs.
//!
//! Statements are parsed with `sqlparser` in the connection's dialect (see
//! [`sql`]); under a policy with `statements` or `tables`, a statement that
//! cannot be parsed is refused.

mod config;
mod policies;
mod sandbox;
mod scan;
pub mod sql;

pub use self::config::{PolicyConfig, VersionSelector};
pub use self::policies::Policies;
pub use self::sandbox::{Rule, Sandbox, Violation};
pub use self::scan::{
    is_ddl, statements, statements_for, transaction_control, wants_no_transaction,
};
pub use self::sql::StatementKind;

#[cfg(test)]
mod tests;
