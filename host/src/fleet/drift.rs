//! `fleet drift`: each tenant's live schema against what its applied
//! migrations produce. Tenants at the same newest migration on the same
//! engine expect the same schema, so it is replayed once for all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::backend::{DatabaseUrl, Dialect};
use crate::error::Error;
use crate::migrator::{Migrator, Replay};
use crate::planner::State;
use crate::schema::Schema;
use crate::schema::drift::{Difference, drift};
use crate::scratch::Scratch;
use crate::source::Version;

/// Tenants expect the same schema when their engine and newest applied
/// migration agree.
type Key = (Dialect, Option<Version>);

/// The schemas tenants' migrations produce, replayed once per engine and
/// newest applied migration.
#[derive(Default)]
pub struct Expected {
    /// The empty database replays use instead of scratch databases
    /// (`--dev-url`), if any.
    dev: Option<DatabaseUrl>,
    replayed: Mutex<HashMap<Key, Arc<OnceCell<Schema>>>>,
    /// Replays take turns: a `--dev-url` database holds one at a time.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Expected {
    /// Replays in scratch databases beside each tenant, or in `dev`.
    pub fn new(dev: Option<DatabaseUrl>) -> Self {
        Self {
            dev,
            ..Self::default()
        }
    }

    /// How the tenant `migrator` runs against differs from what its
    /// applied migrations produce.
    ///
    /// # Errors
    /// The tenant or the scratch database cannot be reached, or a migration
    /// fails in the replay.
    pub async fn drift(&self, migrator: &Migrator) -> Result<Vec<Difference>, Error> {
        let newest = migrator
            .status()
            .await?
            .iter()
            .filter(|s| s.status == State::Applied)
            .map(|s| s.version)
            .max();
        let key = (migrator.url().dialect(), newest);
        let cell = {
            let mut replayed = self
                .replayed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(replayed.entry(key).or_default())
        };
        let expected = cell.get_or_try_init(|| self.replay(migrator)).await?;
        let live = migrator.schema(None).await?;
        Ok(drift(expected, &live))
    }

    async fn replay(&self, migrator: &Migrator) -> Result<Schema, Error> {
        let _turn = self.one_at_a_time.lock().await;
        let scratch = Scratch::create(migrator.url(), self.dev.as_ref()).await?;
        let replayed = migrator.replay(scratch.url(), Replay::Applied).await;
        if let Err(e) = scratch.drop().await {
            tracing::warn!("a scratch database could not be dropped ({e}); the next run drops it");
        }
        replayed
    }
}
