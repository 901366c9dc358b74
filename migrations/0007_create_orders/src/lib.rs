//! A schema change in Rust without dialect SQL and without a `down`: the
//! builder's operations are rendered for whichever engine runs them, and
//! `wasmig down` reverts them from what the host recorded.

use wasmig_guest::{Db, Env, Migration, Result, export_migration};

struct CreateOrders;

impl Migration for CreateOrders {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let schema = db.schema();
        // Another team may have created it by hand already.
        if schema.table("orders")?.is_some() {
            env.info("orders exists already: nothing to do");
            return Ok(());
        }
        schema.create_table("orders", |t| {
            t.id("id");
            t.references("user_id", "users", "id").on_delete_cascade();
            t.decimal("total", 10, 2).not_null().default("0");
            t.column("status", "enum('new','paid','shipped')")
                .not_null()
                .default("'new'");
            t.timestamps();
            t.index("orders_user", &["user_id"]);
        })?;
        Ok(())
    }
}

export_migration!(CreateOrders);
