"""Values and shapes at the edges: generators as parameter sets, aware
datetimes and Json through the bulk helpers, integers past 64 bits, a
module in a folder without __init__.py."""

import datetime

from lib.util import double
from wasmig_guest import DbError, Dialect, Json, Migration


def equal(got, expected, what):
    if got != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {got!r}")


class Edges(Migration):
    def up(self, db, env):
        p = db.placeholder
        pg = db.dialect is Dialect.POSTGRES
        db.execute_script(
            "CREATE TABLE py_edges (id BIGINT PRIMARY KEY, n BIGINT, at "
            + ("TIMESTAMPTZ" if pg else "TEXT")
            + ", doc "
            + ("JSONB" if pg else "TEXT")
            + ")"
        )
        rows = ((i, i * 10) for i in range(1, 4))
        equal(db.insert_rows("py_edges", ["id", "n"], rows), 3, "insert_rows from a generator")
        sets = ((v, i) for i, v in double([(1, 5), (2, 6)]))
        equal(db.execute_batch(f"UPDATE py_edges SET n = {p(1)} WHERE id = {p(2)}", sets), 2,
              "execute_batch from a generator")
        equal(db.query("SELECT n FROM py_edges ORDER BY id").tuples, [(10,), (12,), (30,)], "n")
        aware = datetime.datetime(2024, 5, 1, 14, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        db.update_rows("py_edges", "id", ["at", "doc"], [(1, aware, Json({"k": [1, 2]}))])
        row = db.query_one(f"SELECT at, doc FROM py_edges WHERE id = {p(1)}", [1])
        if pg:
            equal(row["at"], aware, "an aware datetime through update_rows")
            equal(row["doc"], {"k": [1, 2]}, "Json through update_rows")
        else:
            equal(row["at"], "2024-05-01T14:30:00+02:00", "an aware datetime as text")
            equal(row["doc"], '{"k":[1,2]}', "Json as text")
        if not pg:
            # PostgreSQL aborts the transaction on an error; SQLite goes on.
            try:
                db.execute_batch(f"UPDATE py_edges SET n = {p(1)} WHERE id = 1", [(10**20,)])
                raise AssertionError("an integer past 64 bits was sent")
            except DbError as error:
                equal("does not fit a 64-bit signed integer" in str(error), True, str(error))
        env.info("edges passed")

    def down(self, db, env):
        db.execute("DROP TABLE py_edges")
