//! An application that migrates its own database at start-up, with the same
//! ledger, lock, transactions and sandbox as the `wasmig` command.
//!
//! ```sh
//! cargo run -p wasmig --example embed_at_startup            # sqlite:app.db
//! DATABASE_URL=postgres://localhost/app APP_ENV=prod cargo run -p wasmig --example embed_at_startup
//! ```
//!
//! Several instances starting at once are safe: one applies, the others wait
//! for its lock and then find nothing to do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmig::backend::DatabaseUrl;
use wasmig::planner::UpOptions;
use wasmig::report::{Event, LogLevel, Reporter};
use wasmig::{Error, Migrator};

/// Sends wasmig's events to the application's log (here: stderr).
struct AppLog;

impl Reporter for AppLog {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Finished {
                version,
                name,
                elapsed,
                ..
            } => eprintln!("[migrate] applied {version} {name} in {elapsed:?}"),
            Event::Log {
                version,
                level,
                message,
            } if *level >= LogLevel::Info => eprintln!("[migrate] {version}: {message}"),
            Event::Warning { message } => eprintln!("[migrate] warning: {message}"),
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite:app.db".into());
    let url = DatabaseUrl::parse(&url).map_err(Error::Config)?;
    let env = std::env::var("APP_ENV").unwrap_or_else(|_| "dev".into());
    // The migrations ship beside the application (here: the sample project).
    let dir = std::env::var_os("MIGRATIONS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations"),
        PathBuf::from,
    );

    let migrator = Migrator::new(dir, url)
        .with_env(env.as_str())
        // What the seed migration may read (`env.var("demo_users")`).
        .with_var("demo_users", "3")
        .with_protected(env == "prod")
        .with_lock_timeout(Duration::from_secs(120))
        .with_reporter(Arc::new(AppLog));

    // Refuse to start on a database that is ahead of, or disagrees with,
    // this build: a failed, edited or unknown migration is an error here.
    let report = migrator.up(&UpOptions::default()).await?;
    eprintln!(
        "[migrate] database ready ({} migration(s) applied now)",
        report.migrations.len()
    );
    // ... start serving ...
    Ok(())
}
