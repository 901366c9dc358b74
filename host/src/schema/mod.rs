//! The schema engine: one model of a database's tables, read from a live
//! database, rendered back as DDL, and changed by portable operations.
//!
//! - [`model`]: the plain-data [`Schema`] every other part shares;
//! - [`types`]: portable column types and each engine's spelling of them;
//! - [`introspect`]: reading a live database into the model;
//! - [`ops`]: the operations that change a schema, one vocabulary for
//!   declarative files and automatic downs;
//! - [`apply`]: what an operation does to the model, and whether it can work;
//! - [`invert`]: the operations that undo one (the automatic down);
//! - [`render`]: writing a model, or an operation, as an engine's DDL.

pub mod apply;
pub mod clean;
pub mod desired;
pub mod diff;
pub mod drift;
pub mod foreign_keys;
pub mod introspect;
pub mod invert;
pub mod model;
pub mod names;
pub mod ops;
pub mod render;
pub mod types;

pub use apply::{OpError, apply};
pub use diff::{Rename, diff};
pub use introspect::introspect;
pub use invert::{Inverse, Revert, invert, restore_collateral};
pub use model::{
    Action, Check, Column, EnumType, ForeignKey, Index, Object, PrimaryKey, Schema, Table, Unique,
};
pub use ops::{ColumnSpec, Op, SchemaFile};
pub use render::{Rendered, render};
pub use types::Type;
