"""The benchmark's data migration in native CPython, the Python guest's
reference: the same keyset batches of 1,000, one `executemany` UPDATE per
batch, one transaction, SQLite's default `synchronous` (FULL, as wasmig's).
Usage: python3 backfill_people_native.py DATABASE"""

import sqlite3
import sys

conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
last = 0
while True:
    batch = conn.execute(
        "SELECT id, first_name, last_name FROM people WHERE id > ? ORDER BY id LIMIT 1000",
        (last,),
    ).fetchall()
    if not batch:
        break
    last = batch[-1][0]
    conn.executemany(
        "UPDATE people SET full_name = ?2 WHERE id = ?1",
        [(id, f"{first} {last_name}") for id, first, last_name in batch],
    )
conn.execute("COMMIT")
