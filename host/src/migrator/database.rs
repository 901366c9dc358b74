//! `wasmig database create|drop` and `up --create-database`: the database
//! itself, created or dropped on its server.

use super::Migrator;
use crate::database::{self, Created, Dropped};
use crate::error::Error;

impl Migrator {
    /// Creates the database this migrator's URL names, unless it exists
    /// (see [`database::create`]). Runs before any lock is taken, so
    /// several runners starting at once may all call it.
    ///
    /// # Errors
    /// As [`database::create`].
    pub async fn create_database(&self) -> Result<Created, Error> {
        database::create(&self.url).await
    }

    /// Drops the database this migrator's URL names, with everything in it,
    /// ending other sessions connected to it where the engine allows.
    /// Refused in a protected environment.
    ///
    /// # Errors
    /// [`Error::Refused`] in a protected environment; otherwise as
    /// [`database::drop`].
    pub async fn drop_database(&self) -> Result<Dropped, Error> {
        if self.protected {
            return Err(Error::Refused(format!(
                "environment `{}` is protected (`protected = true` in wasmig.toml): \
                 `database drop` would delete {} and all its data. Nothing was changed",
                self.env.name, self.url
            )));
        }
        database::drop(&self.url).await
    }
}
