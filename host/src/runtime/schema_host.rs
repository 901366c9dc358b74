//! The host side of the `schema` import: a guest's schema operations run
//! the way a declarative migration's do (checked against the live schema,
//! rendered for the engine, each statement through the same policy check,
//! trace and DDL mark as the guest's own), and what undoes them recorded
//! for `revert-recorded`.

use super::bindings::wasmig::migration::{db, schema as wit, types};
use super::host::{GuestState, wit_error};
use super::schema_ops;
use crate::backend::{DbErrorKind, Dialect};
use crate::schema::{self, Op};

fn refused(kind: DbErrorKind, message: String) -> types::DbError {
    wit_error(crate::DbError::new(kind, message))
}

type Answer = wasmtime::Result<Result<(), types::DbError>>;

impl wit::Host for GuestState {
    async fn apply(&mut self, ops: Vec<wit::Op>) -> Answer {
        let mut read = Vec::with_capacity(ops.len());
        for op in ops {
            match schema_ops::op(op) {
                Ok(op) => read.push(op),
                Err(e) => return Ok(Err(refused(DbErrorKind::Syntax, e))),
            }
        }
        self.run_schema(&read, true).await
    }

    async fn table(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Option<wit::TableInfo>, types::DbError>> {
        Ok(match schema::introspect(self.db.as_mut(), None).await {
            Ok(s) => Ok(s.table(&name).map(schema_ops::table_info)),
            Err(e) => Err(wit_error(e)),
        })
    }

    async fn revert_recorded(&mut self) -> Answer {
        let Some(kept) = self.schema.kept.take() else {
            return Ok(Err(refused(
                DbErrorKind::Other,
                "it is irreversible: nothing was recorded to revert it (its `up` ran no \
                 schema operations, or it was recorded without running), and it does not \
                 implement `down`"
                    .to_owned(),
            )));
        };
        if let Some(why) = &kept.irreversible {
            return Ok(Err(refused(
                DbErrorKind::Other,
                format!("it cannot be reverted from what was recorded: {why}"),
            )));
        }
        self.run_schema(&kept.ops, false).await
    }
}

impl GuestState {
    /// Runs `ops` in order; with `record`, keeps what undoes each one.
    async fn run_schema(&mut self, ops: &[Op], record: bool) -> Answer {
        let dialect = self.db.dialect();
        let mut current = match schema::introspect(self.db.as_mut(), None).await {
            Ok(s) => s,
            Err(e) => return Ok(Err(wit_error(e))),
        };
        let mut model = current.clone();
        for (i, op) in ops
            .iter()
            .take_while(|op| !matches!(op, Op::Sql { .. }))
            .enumerate()
        {
            if let Err(e) = schema::apply(&mut model, dialect, op) {
                let message = format!("operation {} ({}) cannot work: {e}", i + 1, op.describe());
                return Ok(Err(refused(DbErrorKind::Syntax, message)));
            }
        }
        let mut rebuilt = false;
        for (i, op) in ops.iter().enumerate() {
            let name =
                |e: &dyn std::fmt::Display| format!("operation {} ({}): {e}", i + 1, op.describe());
            if record {
                let inverse = match schema::invert(dialect, &current, op) {
                    Ok(inverse) => inverse,
                    Err(e) => return Ok(Err(refused(DbErrorKind::Syntax, name(&e)))),
                };
                for note in &inverse.notes {
                    self.reporter.event(&crate::report::Event::Warning {
                        message: &format!("{} {}: {note}", self.version, op.describe()),
                    });
                }
                if self.schema.irreversible.is_none() {
                    self.schema.irreversible = inverse.irreversible.map(|why| name(&why));
                }
                self.schema.inverses.push(inverse.ops);
            }
            let rendered = match schema::render(dialect, &current, op) {
                Ok(rendered) => rendered,
                Err(e) => return Ok(Err(refused(DbErrorKind::Syntax, name(&e)))),
            };
            if rendered.rebuilt && dialect == Dialect::Sqlite {
                if let Err(e) = schema::foreign_keys::refuse_enforced(self.db.as_mut()).await {
                    return Ok(Err(refused(DbErrorKind::Other, name(&e))));
                }
                rebuilt = true;
            }
            for statement in rendered.statements {
                self.schema.running = true;
                let result = db::Host::execute_script(self, statement).await;
                self.schema.running = false;
                if let Err(e) = result? {
                    return Ok(Err(e));
                }
            }
            let after = match schema::introspect(self.db.as_mut(), None).await {
                Ok(s) => s,
                Err(e) => return Ok(Err(wit_error(e))),
            };
            if record && let Some(inverse) = self.schema.inverses.last_mut() {
                schema::restore_collateral(&current, &after, op, inverse);
            }
            current = after;
        }
        if rebuilt && let Err(e) = schema::foreign_keys::check(self.db.as_mut()).await {
            return Ok(Err(refused(DbErrorKind::Constraint, e)));
        }
        Ok(Ok(()))
    }
}
