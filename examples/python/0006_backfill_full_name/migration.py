"""Fills `users.full_name` from first and last name, in batches. Rows that
already have a full name keep it; a missing part is left out ("Ada" rather
than "Ada "); rows with neither name stay NULL. The sample's 0006, written
in Python."""

from names import full_name
from wasmig_guest import Migration

BATCH = 1000


class BackfillFullName(Migration):
    def up(self, db, env):
        total = db.query_scalar("SELECT count(*) FROM users WHERE full_name IS NULL")
        p = db.placeholder
        update = f"UPDATE users SET full_name = {p(1)} WHERE id = {p(2)}"
        done = filled = 0
        with db.cursor(
            "SELECT id, first_name, last_name FROM users WHERE full_name IS NULL ORDER BY id",
            batch_size=BATCH,
        ) as cursor:
            for batch in cursor.batches():
                updates = [
                    (name, user_id)
                    for user_id, first, last in batch.tuples
                    if (name := full_name(first, last)) is not None
                ]
                filled += db.execute_batch(update, updates)
                done += len(batch)
                env.progress(done, total)
        env.info(f"filled {filled} of {done} users without a full name")

    def down(self, db, env):
        db.execute("UPDATE users SET full_name = NULL")
