"""Seeds demo users and profiles, in the `dev` environment only: staging and
production get nothing. `demo_users` (an allowed config value) sets how
many; the default is 5. The sample's 0005, written in Python."""

from wasmig_guest import Migration

DEMO_DOMAIN = "demo.example"
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth"]


class SeedDemoUsers(Migration):
    def up(self, db, env):
        if env.name() != "dev":
            env.info(f"environment `{env.name()}`: no demo data")
            return
        wanted = env.var("demo_users") or "5"
        if not wanted.isdigit():
            raise ValueError(f"demo_users must be a number, got `{wanted}`")
        users, profiles = [], []
        for i in range(int(wanted)):
            first = FIRST_NAMES[i % len(FIRST_NAMES)]
            # Every third demo user has no last name, so the backfill that
            # follows has a case to handle.
            last = LAST_NAMES[i % len(LAST_NAMES)] if i % 3 != 2 else None
            user_id = 1_000_000 + i
            users.append((user_id, f"{first.lower()}.{i}@{DEMO_DOMAIN}", first, last))
            profiles.append((user_id, f"Demo account #{i}", None))
        db.insert_rows("users", ["id", "email", "first_name", "last_name"], users)
        db.insert_rows("profiles", ["user_id", "about", "website"], profiles)
        env.info(f"seeded {len(users)} demo users")

    def down(self, db, env):
        p = db.placeholder
        pattern = f"%@{DEMO_DOMAIN}"
        db.execute(
            f"DELETE FROM profiles WHERE user_id IN (SELECT id FROM users WHERE email LIKE {p(1)})",
            [pattern],
        )
        removed = db.execute(f"DELETE FROM users WHERE email LIKE {p(1)}", [pattern])
        env.info(f"removed {removed} demo users")
