"""Every db and env call of the Python SDK, each result checked here: a
failed check raises, which fails the migration and the test."""

import datetime
import decimal
import uuid

import checks
from wasmig_guest import Dialect, Json, Level, Migration

SENT = {
    "t": "héllo ✓",
    "i": -(1 << 62),
    "f": 2.5,
    "b": b"\x00\x01\xff",
    "flag": True,
    "d": decimal.Decimal("12345.6789"),
    "ts": datetime.datetime(2024, 5, 1, 12, 30, 15),
    "day": datetime.date(2024, 5, 1),
    "u": uuid.UUID("67e55044-10b1-426f-9247-bb680e5fe0c8"),
    "j": {"a": [1, 2, {"b": None}]},
}

COLUMNS = {
    Dialect.SQLITE: "t TEXT, i INTEGER, f REAL, b BLOB, flag BOOLEAN, d TEXT, ts TEXT, "
    "day TEXT, u TEXT, j TEXT",
    Dialect.POSTGRES: "t TEXT, i BIGINT, f DOUBLE PRECISION, b BYTEA, flag BOOLEAN, "
    "d NUMERIC(12,4), ts TIMESTAMP, day DATE, u UUID, j JSONB",
    Dialect.MYSQL: "t TEXT, i BIGINT, f DOUBLE, b BLOB, flag BOOLEAN, d DECIMAL(12,4), "
    "ts DATETIME, day DATE, u CHAR(36), j JSON",
}


class Calls(Migration):
    def up(self, db, env):
        d = db.dialect
        p = db.placeholder
        env.log(Level.INFO, f"dialect={d.value} env={env.name()} is_dev={env.is_('dev')}")
        checks.equal(env.var("region"), "eu", "an allowed var")
        checks.equal(env.var("secret"), None, "a var the policy does not allow")
        env.debug("debug line")
        env.warn("warn line")

        db.execute_script(
            f"CREATE TABLE py_values (id BIGINT PRIMARY KEY, {COLUMNS[d]});"
            "CREATE TABLE py_people (id BIGINT PRIMARY KEY, first TEXT, last TEXT, full_name TEXT)"
        )
        names = ", ".join(SENT)
        marks = ", ".join(p(i + 2) for i in range(len(SENT)))
        changed = db.execute(
            f"INSERT INTO py_values (id, {names}) VALUES ({p(1)}, {marks})", [1, *SENT.values()]
        )
        checks.equal(changed, 1, "execute returns the rows changed")
        row = db.query_one(f"SELECT {names} FROM py_values WHERE id = {p(1)}", [1])
        checks.round_trip(d, SENT, row)
        checks.equal(row.keys(), list(SENT), "row.keys()")
        checks.equal(row[0], row["t"], "a row by position and by name")
        checks.equal(db.query_one("SELECT t FROM py_values WHERE id = 99"), None, "no row")
        checks.equal(db.query_scalar("SELECT count(*) FROM py_values"), 1, "query_scalar")
        checks.equal(db.query("SELECT id FROM py_values WHERE id < 0").tuples, [], "no rows")
        db.execute(f"INSERT INTO py_values (id, j) VALUES ({p(1)}, {p(2)})", [2, Json("just text")])
        # A dict parameter is JSON: it takes the typed path, beside the packed one.
        db.execute_batch(f"INSERT INTO py_values (id, j) VALUES ({p(1)}, {p(2)})", [(3, {"k": [1]})])
        checks.equal(
            db.query(f"SELECT id FROM py_values WHERE id > {p(1)} ORDER BY id", [1]).tuples,
            [(2,), (3,)],
            "rows of both paths",
        )

        people = [(i, f"first{i}", f"last{i}") for i in range(1, 2501)]
        checks.equal(db.insert_rows("py_people", ["id", "first", "last"], people), 2500, "insert_rows")
        checks.equal(
            db.execute_batch(
                f"UPDATE py_people SET full_name = {p(1)} WHERE id = {p(2)}",
                [("someone", 1), ("someone else", 2)],
            ),
            2,
            "execute_batch",
        )
        done = 0
        for batch in db.keyset("py_people", "id", ["first", "last"], 1000):
            db.update_rows(
                "py_people", "id", ["full_name"], [(i, f"{a} {b}") for i, a, b in batch.tuples]
            )
            done += len(batch)
            env.progress(done, 2500)
        checks.equal(done, 2500, "keyset walked every row")
        seen = 0
        with db.cursor("SELECT id, full_name FROM py_people ORDER BY id", batch_size=700) as cursor:
            sizes = []
            for batch in cursor.batches():
                sizes.append(len(batch))
                for person in batch:
                    checks.equal(person["full_name"], f"first{person['id']} last{person['id']}", "a full name")
                    seen += 1
        checks.equal(sizes, [700, 700, 700, 400], "cursor batches")
        checks.equal(seen, 2500, "the cursor read every row")
        env.info(f"calls passed on {d.value}")

    def down(self, db, env):
        db.execute_script("DROP TABLE py_people; DROP TABLE py_values")
