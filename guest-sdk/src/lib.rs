//! Write wasmig migrations in Rust.
//!
//! A migration is a type implementing [`Migration`], exported with
//! [`export_migration!`]. Build the crate with
//! `cargo build --target wasm32-wasip2 --release` (or `wasmig build`); the
//! output is a WebAssembly component wasmig runs in its sandbox, inside a
//! transaction it commits when `up` returns `Ok`.
//!
//! ```no_run
//! use wasmig_guest::{Db, Env, Migration, Result, export_migration, params};
//!
//! struct Backfill;
//!
//! impl Migration for Backfill {
//!     fn up(db: &Db, env: &Env) -> Result<()> {
//!         let rows = db.query("SELECT id, first_name, last_name FROM users", &[])?;
//!         let mut updates = Vec::new();
//!         for row in rows.iter() {
//!             let id: i64 = row.get("id")?;
//!             let first: String = row.get("first_name")?;
//!             let last: String = row.get("last_name")?;
//!             updates.push(params![format!("{first} {last}"), id]);
//!         }
//!         db.execute_batch("UPDATE users SET full_name = ?1 WHERE id = ?2", &updates)?;
//!         env.info(&format!("updated {} users", updates.len()));
//!         Ok(())
//!     }
//! }
//!
//! export_migration!(Backfill);
//! ```
//!
//! Schema changes go through [`Db::schema`] (see [`schema`]): portable
//! operations the host renders for the connected engine and records how to
//! undo, so a migration made only of them needs no `down`.

mod bulk;
mod db;
mod env;
mod error;
pub mod schema;
mod value;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "migration",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "wasmig_guest::bindings",
        additional_derives: [PartialEq],
    });
}

pub use crate::bulk::Keyset;
pub use crate::db::{Cursor, Db, Row, Rows};
pub use crate::env::Env;
pub use crate::error::{Error, Result};
pub use crate::value::{ColumnIndex, FromValue, IntoValue};
pub use bindings::wasmig::migration::types::{
    Column, DbError, ErrorKind, Level, SqlDialect as Dialect, Value,
};

/// A migration: what `up` applies, `down` reverts.
pub trait Migration {
    /// Applies the migration. Returning `Err` rolls everything back.
    ///
    /// # Errors
    /// Any error aborts the migration; its message is shown to the operator.
    fn up(db: &Db, env: &Env) -> Result<()>;

    /// Reverts the migration. Without an implementation the schema
    /// operations `up` ran through [`Db::schema`] are undone from what the
    /// host recorded when they ran; a migration that changed anything else
    /// (raw DDL, rows) must implement it, or it is irreversible.
    ///
    /// # Errors
    /// Any error aborts the revert; its message is shown to the operator.
    fn down(db: &Db, env: &Env) -> Result<()> {
        let _ = env;
        db.schema().revert_recorded()
    }
}

/// Builds a parameter list: `params![42, "text", None::<i64>]`.
#[macro_export]
macro_rules! params {
    () => { ::std::vec::Vec::<$crate::Value>::new() };
    ($($value:expr),+ $(,)?) => {
        ::std::vec![$($crate::IntoValue::into_value($value)),+]
    };
}

/// Exports a [`Migration`] type as the component's `up` and `down`.
///
/// `export_migration!(MyMigration, no_transaction)` runs it outside the
/// host's transaction, for statements that cannot run in one (PostgreSQL's
/// `CREATE INDEX CONCURRENTLY`). Each statement then commits on its own, and
/// a failure half way is recorded as failed for the operator to resolve.
#[macro_export]
macro_rules! export_migration {
    ($migration:ty) => {
        $crate::__wasmig_export!($migration);
    };
    ($migration:ty, no_transaction) => {
        $crate::__wasmig_export!($migration);

        #[used]
        #[unsafe(link_section = "wasmig-no-transaction")]
        static WASMIG_NO_TRANSACTION: [u8; 1] = [1];
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wasmig_export {
    ($migration:ty) => {
        const _: () = {
            struct WasmigExport;

            impl $crate::bindings::Guest for WasmigExport {
                fn up() -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::run(<$migration as $crate::Migration>::up)
                }

                fn down() -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::run(<$migration as $crate::Migration>::down)
                }
            }

    $crate::bindings::__export_world!(WasmigExport with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::{Db, Env, Result};

    pub fn run(f: fn(&Db, &Env) -> Result<()>) -> std::result::Result<(), String> {
        f(&Db::new(), &Env::new()).map_err(|e| e.to_string())
    }
}
