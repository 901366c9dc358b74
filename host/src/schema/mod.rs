//! The schema engine: one model of a database's tables, read from a live
//! database, rendered back as DDL, and changed by portable operations.
//!
//! - [`model`]: the plain-data [`Schema`] every other part shares;
//! - [`types`]: portable column types and each engine's spelling of them;
//! - [`introspect`]: reading a live database into the model;
//! - [`render`]: writing a model (or part of it) as an engine's DDL.

pub mod introspect;
pub mod model;
pub mod render;
pub mod types;

pub use introspect::introspect;
pub use model::{
    Action, Check, Column, EnumType, ForeignKey, Index, Object, PrimaryKey, Schema, Table, Unique,
};
pub use types::Type;
