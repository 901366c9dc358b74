//! Schema changes through the builder only, and no `down`: `wasmig down`
//! undoes them from what the host recorded.

use wasmig_guest::{Db, Env, Migration, Result, export_migration, params};

struct Builder;

impl Migration for Builder {
    fn up(db: &Db, env: &Env) -> Result<()> {
        let schema = db.schema();
        if schema.table("shop_users")?.is_none() {
            schema.create_table("shop_users", |t| {
                t.id("id");
                t.string("email", 255).not_null().unique();
            })?;
        }
        schema.create_table("shop_orders", |t| {
            t.uuid("id").primary_key();
            t.decimal("total", 10, 2).not_null();
            t.references("user_id", "shop_users", "id").on_delete_cascade();
            t.column("status", "enum('new','paid')").not_null().default("'new'");
            t.timestamps();
            t.index("shop_orders_user", &["user_id"]);
        })?;
        let p = |n| db.placeholder(n);
        db.execute(
            &format!("INSERT INTO shop_users (email) VALUES ({})", p(1)),
            &params!["ann@example.com"],
        )?;
        let user: i64 = db.query_scalar(
            &format!("SELECT id FROM shop_users WHERE email = {}", p(1)),
            &params!["ann@example.com"],
        )?;
        db.execute(
            &format!(
                "INSERT INTO shop_orders (id, total, user_id) VALUES ({}, {}, {})",
                p(1),
                p(2),
                p(3)
            ),
            &params!["67e55044-10b1-426f-9247-bb680e5fe0c8", "12.50", user],
        )?;
        schema.add_column("shop_users", |t| {
            t.string("nickname", 50);
        })?;
        schema.alter_column("shop_orders", "total", |c| {
            c.kind("decimal(12,2)");
        })?;
        let orders = schema.table("shop_orders")?.map_or(0, |t| t.columns.len());
        env.info(&format!("shop_orders has {orders} columns"));
        Ok(())
    }
}

export_migration!(Builder);
