"""The benchmark's data migration in Python: sets people.full_name from
first and last names, 1,000 rows per batch through the SDK's bulk helpers
(the Rust guest backfill_people, line for line)."""

from wasmig_guest import Migration


class BackfillPeople(Migration):
    def up(self, db, env):
        done = 0
        for batch in db.keyset("people", "id", ["first_name", "last_name"], 1000):
            done += db.update_rows(
                "people", "id", ["full_name"],
                [(id, f"{first} {last}") for id, first, last in batch.tuples],
            )
            env.progress(done)
        env.info(f"backfilled {done} people")
