//! `wasmig schema dump`: the live database's schema as the model.

use super::Migrator;
use crate::error::Error;
use crate::schema::{self, Schema};

impl Migrator {
    /// Reads the database's schema (wasmig's own tables left out): on
    /// PostgreSQL the schema `namespace`, by default the connection's
    /// current schema (`public` unless the URL or the role says otherwise).
    ///
    /// # Errors
    /// [`Error::Unreachable`] when the database cannot be reached;
    /// [`Error::Database`] when a catalog query fails.
    pub async fn schema(&self, namespace: Option<&str>) -> Result<Schema, Error> {
        let mut db = self.connect().await?;
        schema::introspect(db.as_mut(), namespace)
            .await
            .map_err(Error::db(format!("reading the schema of {}", self.url)))
    }
}
