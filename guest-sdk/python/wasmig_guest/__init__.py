"""Write wasmig migrations in Python.

A Python migration is a directory `<version>_<name>/` holding
`migration.py` (and any pure-Python modules of its own beside it)::

    from wasmig_guest import Migration

    class BackfillFullName(Migration):
        def up(self, db, env):
            for batch in db.keyset("users", "id", ["first_name", "last_name"], 1000):
                db.update_rows("users", "id", ["full_name"],
                               [(id, f"{first} {last}") for id, first, last in batch.tuples])

        def down(self, db, env):
            db.execute("UPDATE users SET full_name = NULL")

`wasmig up` runs it in the wasmig Python runtime, a sandboxed CPython
component: no files, network or environment variables; `random` is seeded
from the migration's checksum and the clock is fixed (a `YYYYMMDDHHMMSS`
version reads as that instant, any other as 2000-01-01), so the same
database state gives the same statements.
"""

from __future__ import annotations

import enum
from typing import Optional

from wit_world.imports import env as _env
from wit_world.imports import types as _t

from ._values import Json
from .db import Cursor, Db, DbError, Dialect, ErrorKind, Row, Rows
from .schema import column, index

__all__ = [
    "Migration", "Db", "Env", "Rows", "Row", "Cursor", "DbError", "ErrorKind",
    "Dialect", "Level", "Json", "column", "index",
]


class Level(enum.Enum):
    """Log levels for `env.log`."""

    TRACE = _t.Level.TRACE
    DEBUG = _t.Level.DEBUG
    INFO = _t.Level.INFO
    WARN = _t.Level.WARN
    ERROR = _t.Level.ERROR


class Env:
    """What the operator shares with migrations: the environment's name,
    the config values they allowed, and the run's log."""

    def name(self) -> str:
        """The environment's name (`dev`, `staging`, `prod`, ...)."""
        return _env.name()

    def is_(self, name: str) -> bool:
        """Whether the environment is called `name`."""
        return _env.name() == name

    def var(self, key: str) -> Optional[str]:
        """A config value the operator allowed (`[vars]` / `--var`); None for any other key."""
        return _env.var(key)

    def log(self, level: Level, message: str) -> None:
        """Writes a line to the run's log, attributed to this migration."""
        _env.log(level.value, str(message))

    def debug(self, message: str) -> None:
        """Logs at debug level."""
        _env.log(_t.Level.DEBUG, str(message))

    def info(self, message: str) -> None:
        """Logs at info level."""
        _env.log(_t.Level.INFO, str(message))

    def warn(self, message: str) -> None:
        """Logs a warning."""
        _env.log(_t.Level.WARN, str(message))

    def error(self, message: str) -> None:
        """Logs an error."""
        _env.log(_t.Level.ERROR, str(message))

    def progress(self, done: int, total: Optional[int] = None) -> None:
        """Reports progress on a long migration: `done` units of `total`."""
        _env.progress(done, total)


class Migration:
    """Subclass it once in `migration.py`: `up` applies the migration, `down`
    reverts it. Raising anything rolls the migration back; the traceback is
    shown to the operator."""

    def up(self, db: Db, env: Env) -> None:
        """Applies the migration."""
        raise NotImplementedError("a Migration implements up(self, db, env)")

    def down(self, db: Db, env: Env) -> None:
        """Reverts the migration. Without an override, undoes the schema
        operations `up` ran through `db.schema` from what the host recorded;
        a migration that changed anything else must override it."""
        db.schema.revert_recorded()
