//! Seeds demo users and profiles, in the `dev` environment only: staging and
//! production get nothing. `demo_users` (an allowed config value) sets how
//! many; the default is 5.

use wasmig_guest::{Db, Env, Migration, Result, Value, export_migration, params};

const DEMO_DOMAIN: &str = "demo.example";

struct SeedDemoUsers;

impl Migration for SeedDemoUsers {
    fn up(db: &Db, env: &Env) -> Result<()> {
        if !env.is("dev") {
            env.info(&format!("environment `{}`: no demo data", env.name()));
            return Ok(());
        }
        let count: i64 = match env.var("demo_users") {
            Some(n) => n
                .parse()
                .map_err(|_| format!("demo_users must be a number, got `{n}`"))?,
            None => 5,
        };
        let first_names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald"];
        let last_names = [
            "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth",
        ];
        let mut users = Vec::new();
        let mut profiles = Vec::new();
        for i in 0..count {
            let n = i as usize;
            let first = first_names[n % first_names.len()];
            // Every third demo user has no last name, so the backfill that
            // follows has a case to handle.
            let last = (i % 3 != 2).then(|| last_names[n % last_names.len()]);
            let id = 1_000_000 + i;
            users.push(params![
                id,
                format!("{}.{i}@{DEMO_DOMAIN}", first.to_lowercase()),
                first,
                last
            ]);
            profiles.push(params![id, format!("Demo account #{i}"), Value::Null]);
        }
        let (p1, p2, p3, p4) = (
            db.placeholder(1),
            db.placeholder(2),
            db.placeholder(3),
            db.placeholder(4),
        );
        db.execute_batch(
            &format!("INSERT INTO users (id, email, first_name, last_name) VALUES ({p1}, {p2}, {p3}, {p4})"),
            &users,
        )?;
        db.execute_batch(
            &format!("INSERT INTO profiles (user_id, about, website) VALUES ({p1}, {p2}, {p3})"),
            &profiles,
        )?;
        env.info(&format!("seeded {count} demo users"));
        Ok(())
    }

    fn down(db: &Db, env: &Env) -> Result<()> {
        let p1 = db.placeholder(1);
        let pattern = format!("%@{DEMO_DOMAIN}");
        db.execute(
            &format!(
                "DELETE FROM profiles WHERE user_id IN (SELECT id FROM users WHERE email LIKE {p1})"
            ),
            &params![pattern.as_str()],
        )?;
        let removed = db.execute(
            &format!("DELETE FROM users WHERE email LIKE {p1}"),
            &params![pattern],
        )?;
        env.info(&format!("removed {removed} demo users"));
        Ok(())
    }
}

export_migration!(SeedDemoUsers);
