//! The schema migrations produce: replayed into a scratch database (SQL
//! and component migrations alike, components in their sandbox with this
//! migrator's environment) and introspected there.

use std::sync::Arc;

use super::Migrator;
use crate::backend::DatabaseUrl;
use crate::error::Error;
use crate::ledger::{self, EntryState};
use crate::lock::LockMode;
use crate::planner::UpOptions;
use crate::report::Silent;
use crate::schema::{self, Schema};

/// Which migrations a replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Every migration of the directories (what `up` would leave).
    All,
    /// Those the live database's ledger records as applied (what the live
    /// database should look like): every migration up to the newest applied
    /// one.
    Applied,
}

impl Migrator {
    /// This migrator's migrations and settings, against the database `url`.
    /// It reports nothing: the scratch run is not the user's run.
    fn on(&self, url: DatabaseUrl) -> Migrator {
        Migrator {
            url,
            reporter: Arc::new(Silent),
            lock_mode: LockMode::Session,
            protected: false,
            log_sql: false,
            ..self.clone()
        }
    }

    /// Replays the migrations `which` selects into the empty database
    /// `scratch` and returns the schema they leave there (wasmig's own
    /// tables left out). The live database is only read (its ledger, for
    /// [`Replay::Applied`]).
    ///
    /// # Errors
    /// A migration that fails in the scratch database fails the replay,
    /// with the migration's own error; [`Error::Unreachable`] when either
    /// database cannot be reached.
    pub async fn replay(&self, scratch: &DatabaseUrl, which: Replay) -> Result<Schema, Error> {
        let to = match which {
            Replay::All => None,
            Replay::Applied => {
                let mut live = self.connect().await?;
                let entries = ledger::read_if_exists(live.as_mut()).await?;
                let newest = entries
                    .iter()
                    .filter(|e| e.state == EntryState::Applied)
                    .map(|e| e.version)
                    .max();
                match newest {
                    Some(version) => Some(version),
                    None => return self.on(scratch.clone()).schema(None).await,
                }
            }
        };
        let copy = self.on(scratch.clone());
        let options = UpOptions {
            to,
            allow_out_of_order: true,
            ..UpOptions::default()
        };
        copy.up(&options).await?;
        let mut db = copy.connect().await?;
        schema::introspect(db.as_mut(), None)
            .await
            .map_err(Error::db(format!("reading the schema of {scratch}")))
    }
}
