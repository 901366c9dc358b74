"""Hits a unique key through a helper module: the DbError carries the
engine's kind and code, and its traceback names both files."""

import keys
from wasmig_guest import DbError, Migration


class Failing(Migration):
    def up(self, db, env):
        try:
            keys.insert_twice(db, "a@example.com")
        except DbError as error:
            env.info(f"kind={error.kind.value} code={error.code}")
            raise
