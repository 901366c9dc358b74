//! `wasmig schema dump`: the live database's schema as the model.

use super::Migrator;
use crate::error::Error;
use crate::schema::{self, Schema};

impl Migrator {
    /// Reads the database's schema (wasmig's own tables left out): on
    /// PostgreSQL the connection's current schema, `public` by default.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when the database cannot be reached;
    /// [`Error::Database`] when a catalog query fails.
    pub async fn schema(&self) -> Result<Schema, Error> {
        let mut db = self.connect().await?;
        schema::introspect(db.as_mut(), None)
            .await
            .map_err(Error::db(format!("reading the schema of {}", self.url)))
    }
}
