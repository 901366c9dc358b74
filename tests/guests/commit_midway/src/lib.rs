//! Tries to commit its own work half way, to make it stick whatever happens
//! next; then, if that was refused, tries again hidden in a script.

use wasmig_guest::{Db, Env, ErrorKind, Migration, Result, export_migration};

struct CommitMidway;

impl Migration for CommitMidway {
    fn up(db: &Db, env: &Env) -> Result<()> {
        db.execute(
            "INSERT INTO notes (id, body) VALUES (103, 'written by commit_midway')",
            &[],
        )?;
        match db.execute("COMMIT", &[]) {
            Err(e) if e.is(ErrorKind::PermissionDenied) => env.warn(&format!("refused: {e}")),
            other => return Err(format!("COMMIT was not refused: {other:?}").into()),
        }
        db.execute_script("UPDATE notes SET body = 'sneaky'; COMMIT; BEGIN")?;
        Ok(())
    }
}

export_migration!(CommitMidway);
