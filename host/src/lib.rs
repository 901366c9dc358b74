//! wasmig: database migrations as SQL files or sandboxed WebAssembly
//! components.
//!
//! The library does everything the `wasmig` CLI does, so an application can
//! embed it and migrate at start-up: see [`Migrator`].
//!
//! Modules, one responsibility each:
//! - [`source`]: reading a migrations directory (a migration's `Version`
//!   lives in `version`, which every other module can use);
//! - [`sql_file`]: reading SQL migrations written for wasmig, sqlx, golang-migrate, dbmate, goose or diesel;
//! - [`guest_crate`]: building Rust guest crates into components (where a
//!   built component lives is `artifact`, shared with [`source`]);
//! - [`ledger`]: the table that records what ran;
//! - [`lock`]: one runner at a time per database;
//! - [`planner`]: applied vs pending vs missing vs changed, and what to run;
//! - [`plan`]: what `up` would issue, simulated, and the digest that pins it;
//! - [`migrator`]: running migrations, each in a transaction with its ledger row;
//! - [`runtime`]: the wasmtime engine, sandbox, limit enforcement and host
//!   imports;
//! - [`limits`]: what one migration may consume, and a policy's overrides;
//! - [`backend`]: one database connection per dialect behind one trait;
//! - [`policy`]: what a guest's statements may do;
//! - [`config`]: the `wasmig.toml` file;
//! - [`database`]: creating and dropping the database itself;
//! - [`report`]: progress and log events;
//! - [`schema`]: the schema model, introspection, DDL rendering, diff and
//!   drift;
//! - [`scratch`]: throwaway databases that migrations and schema files are
//!   replayed in.

mod artifact;
pub mod backend;
mod checksum_cache;
pub mod config;
pub mod database;
mod error;
mod failpoint;
pub mod fleet;
pub mod guest_crate;
pub mod ledger;
pub mod limits;
pub mod lock;
pub mod migrator;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod python;
pub mod report;
pub mod runtime;
pub mod schema;
pub mod scratch;
pub mod source;
pub mod sql_file;
mod version;

pub use backend::{DbError, DbErrorKind, Dialect, Value};
pub use error::Error;
pub use migrator::{Migrator, Ran, Replay, RunReport};
