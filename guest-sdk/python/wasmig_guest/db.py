"""Statements against the database being migrated, inside the host's
transaction; result rows; the database's errors as exceptions."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from componentize_py_types import Err
from wit_world.imports import db as _db
from wit_world.imports import packed as _packed
from wit_world.imports import types as _t

from ._values import (
    Json,
    check_params,
    packed_sets,
    param_lists,
    params_to_wit,
    row_from_wit,
    to_wit,
    unpack_rows,
)


class Dialect(enum.Enum):
    """Which database the migration runs against."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"
    MYSQL = "mysql"


class ErrorKind(enum.Enum):
    """What kind of failure a database error is."""

    CONSTRAINT = "constraint"
    SYNTAX = "syntax"
    PERMISSION_DENIED = "permission-denied"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    LIMIT = "limit"
    OTHER = "other"


_KINDS = {
    _t.ErrorKind.CONSTRAINT: ErrorKind.CONSTRAINT,
    _t.ErrorKind.SYNTAX: ErrorKind.SYNTAX,
    _t.ErrorKind.PERMISSION_DENIED: ErrorKind.PERMISSION_DENIED,
    _t.ErrorKind.TIMEOUT: ErrorKind.TIMEOUT,
    _t.ErrorKind.CONNECTION: ErrorKind.CONNECTION,
    _t.ErrorKind.LIMIT: ErrorKind.LIMIT,
    _t.ErrorKind.OTHER: ErrorKind.OTHER,
}

_DIALECTS = {
    _t.SqlDialect.SQLITE: Dialect.SQLITE,
    _t.SqlDialect.POSTGRES: Dialect.POSTGRES,
    _t.SqlDialect.MYSQL: Dialect.MYSQL,
}


class DbError(Exception):
    """A statement failed; let it escape and the migration rolls back. On
    SQLite and MySQL a migration may catch it and go on; PostgreSQL aborts
    the whole transaction at the first error, so there a migration can only
    add context and raise again (check first: `SELECT` before `INSERT`, or
    `INSERT ... ON CONFLICT DO NOTHING`).

    `kind` says what kind of failure it is, `code` is the database's own
    code (SQLSTATE, SQLite extended code, MySQL error number) when there is
    one."""

    def __init__(self, kind: ErrorKind, code: Optional[str], message: str) -> None:
        super().__init__(message if code is None else f"{message} (code {code})")
        self.kind = kind
        self.code = code
        self.message = message


def _raise(e: Err) -> DbError:
    value = e.value
    if isinstance(value, _t.DbError):
        return DbError(_KINDS.get(value.kind, ErrorKind.OTHER), value.code, value.message)
    return DbError(ErrorKind.OTHER, None, str(value))


class Row(Sequence[Any]):
    """One result row: `row["email"]`, `row[0]`, `row.get("email")`,
    `dict(row.items())`, and unpacking (`id, email = row`)."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: tuple, index: Dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            try:
                return self._values[self._index[key]]
            except KeyError:
                raise KeyError(
                    f"no column {key!r}; the row has {', '.join(self._index)}"
                ) from None
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{k}={self._values[i]!r}" for k, i in self._index.items()) + ")"

    def get(self, key: str, default: Any = None) -> Any:
        """The value of column `key`, or `default` when there is no such column."""
        i = self._index.get(key)
        return default if i is None else self._values[i]

    def keys(self) -> List[str]:
        """The column names."""
        return list(self._index)

    def items(self) -> List[Tuple[str, Any]]:
        """(column, value) pairs, in column order."""
        return [(k, self._values[i]) for k, i in self._index.items()]

    @property
    def values(self) -> tuple:
        """The values, in column order."""
        return self._values


class Rows(Sequence[Row]):
    """A result set: `columns` (names), `types` (the database's type names),
    rows by position (`rows[0]`), iteration, `len(rows)`, and `tuples` for
    the plain values."""

    __slots__ = ("columns", "types", "tuples", "_index")

    def __init__(self, columns: List[str], types: List[str], tuples: List[tuple]) -> None:
        self.columns = columns
        self.types = types
        self.tuples = tuples
        self._index = {name: i for i, name in enumerate(columns)}

    @classmethod
    def _from_wit(cls, raw: _t.Rows) -> "Rows":
        return cls(
            [c.name for c in raw.columns],
            [c.type_name for c in raw.columns],
            [row_from_wit(r) for r in raw.rows],
        )

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [Row(t, self._index) for t in self.tuples[i]]
        return Row(self.tuples[i], self._index)

    def __len__(self) -> int:
        return len(self.tuples)

    def __iter__(self) -> Iterator[Row]:
        index = self._index
        return (Row(t, index) for t in self.tuples)

    def __repr__(self) -> str:
        return f"Rows(columns={self.columns!r}, {len(self.tuples)} rows)"


class Cursor:
    """A query's rows read in batches; the rows are those the query saw
    when the cursor opened. Iterate it for rows, or call `fetch` for the
    next batch. Use it as a context manager to release it early."""

    def __init__(self, handle: _db.Cursor, batch_size: int) -> None:
        self._handle: Optional[_db.Cursor] = handle
        self._batch = max(1, batch_size)

    def fetch(self) -> Optional[Rows]:
        """The next batch of at most `batch_size` rows, or None at the end."""
        if self._handle is None:
            return None
        try:
            raw = self._handle.next(self._batch)
        except Err as e:
            raise _raise(e) from None
        if raw is None:
            self.close()
            return None
        return Rows._from_wit(raw)

    def batches(self) -> Iterator[Rows]:
        """Every remaining batch."""
        while (batch := self.fetch()) is not None:
            yield batch

    def __iter__(self) -> Iterator[Row]:
        for batch in self.batches():
            yield from batch

    def close(self) -> None:
        """Releases the cursor."""
        if self._handle is not None:
            self._handle.__exit__(None, None, None)
            self._handle = None

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Db:
    """The database being migrated. Every statement runs inside the host's
    transaction; transaction control (BEGIN, COMMIT, SAVEPOINT) is refused.

    Placeholders are the database's own: `?` on SQLite and MySQL, `$1` on
    PostgreSQL; `db.placeholder(n)` writes the right one."""

    def __init__(self) -> None:
        self._dialect: Optional[Dialect] = None
        from .schema import Schema

        self.schema = Schema()
        """Portable schema operations (see `wasmig_guest.schema`)."""

    @property
    def dialect(self) -> Dialect:
        """Which database this is."""
        if self._dialect is None:
            self._dialect = _DIALECTS[_db.dialect()]
        return self._dialect

    def placeholder(self, n: int) -> str:
        """The `n`th (1-based) parameter placeholder: `$n` on PostgreSQL, `?n` on SQLite, `?` on MySQL."""
        if self.dialect is Dialect.POSTGRES:
            return f"${n}"
        if self.dialect is Dialect.SQLITE:
            return f"?{n}"
        return "?"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; returns how many rows it changed."""
        try:
            return _db.execute(sql, params_to_wit(params))
        except Err as e:
            raise _raise(e) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Runs one query and returns all its rows (use `cursor` for large results)."""
        params = check_params(params)
        packed = packed_sets([params])
        try:
            if packed is None:
                return Rows._from_wit(_db.query(sql, params_to_wit(params)))
            return Rows(*unpack_rows(_packed.query(sql, packed[1:-1])))
        except Err as e:
            raise _raise(e) from None

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Optional[Row]:
        """The first row of a query, or None when it returns none."""
        rows = self.query(sql, params)
        return rows[0] if len(rows) else None

    def query_scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (`SELECT count(*) ...`); None when no row."""
        rows = self.query(sql, params)
        if not rows.tuples or not rows.tuples[0]:
            return None
        return rows.tuples[0][0]

    def execute_batch(self, sql: str, param_sets: Sequence[Sequence[Any]]) -> int:
        """Runs one statement once per parameter set in one host call (the
        fast path for bulk writes); returns the total of rows changed."""
        param_sets = param_lists(param_sets)
        packed = packed_sets(param_sets)
        try:
            if packed is None:
                return _db.execute_batch(sql, [params_to_wit(p) for p in param_sets])
            return _packed.execute_batch(sql, packed)
        except Err as e:
            raise _raise(e) from None

    def execute_script(self, sql: str) -> None:
        """Runs several statements separated by `;`, without parameters (DDL)."""
        try:
            _db.execute_script(sql)
        except Err as e:
            raise _raise(e) from None

    def cursor(self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000) -> Cursor:
        """Opens a cursor over a query's rows, read `batch_size` at a time."""
        try:
            return Cursor(_db.open_cursor(sql, params_to_wit(params)), batch_size)
        except Err as e:
            raise _raise(e) from None

    def keyset(
        self, table: str, key: str, columns: Sequence[str], batch: int = 1000
    ) -> Iterator[Rows]:
        """Batches of `table`'s rows in order of its unique `key` column:
        column 0 of every row is the key, then `columns`. Each batch is one
        indexed query (`WHERE key > last ORDER BY key LIMIT batch`), so
        writing back a batch before reading the next is safe. `table`,
        `key` and `columns` are SQL identifiers, written as given."""
        batch = max(1, batch)
        names = ", ".join([key, *columns])
        first = f"SELECT {names} FROM {table} ORDER BY {key} LIMIT {batch}"
        after = (
            f"SELECT {names} FROM {table} WHERE {key} > {self.placeholder(1)} "
            f"ORDER BY {key} LIMIT {batch}"
        )
        rows = self.query(first)
        while True:
            yield rows
            if len(rows.tuples) < batch:
                return
            rows = self.query(after, [rows.tuples[-1][0]])

    def update_rows(
        self, table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> int:
        """Sets `columns` on many rows of `table` in one host call. Each row
        is the key's value followed by the new values of `columns`. On
        PostgreSQL one statement reads the batch as JSON; elsewhere one
        prepared UPDATE runs per row inside the engine."""
        rows = param_lists(rows)
        if not rows:
            return 0
        if self.dialect is Dialect.POSTGRES:
            names = [key, *columns]
            sets = ", ".join(f"{c} = v.{c}" for c in columns)
            sql = (
                f"UPDATE {table} AS t SET {sets} FROM json_populate_recordset(NULL::{table}, "
                f"$1::json) AS v WHERE t.{key} = v.{key}"
            )
            return self.execute(sql, [_json_records(names, rows)])
        if self.dialect is Dialect.SQLITE:
            sets = ", ".join(f"{c} = ?{i + 2}" for i, c in enumerate(columns))
            return self.execute_batch(f"UPDATE {table} SET {sets} WHERE {key} = ?1", rows)
        sets = ", ".join(f"{c} = ?" for c in columns)
        rotated = [list(r[1:]) + [r[0]] for r in rows]
        return self.execute_batch(f"UPDATE {table} SET {sets} WHERE {key} = ?", rotated)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Inserts many rows into `table` in one host call; each row holds
        the values of `columns` in order. Returns how many were inserted."""
        rows = param_lists(rows)
        if not rows:
            return 0
        names = ", ".join(columns)
        if self.dialect is Dialect.POSTGRES:
            sql = (
                f"INSERT INTO {table} ({names}) SELECT {names} FROM "
                f"json_populate_recordset(NULL::{table}, $1::json)"
            )
            return self.execute(sql, [_json_records(list(columns), rows)])
        if self.dialect is Dialect.MYSQL:
            per_statement = max(1, 60_000 // max(1, len(columns)))
            one = "(" + ", ".join("?" * len(columns)) + ")"
            inserted = 0
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                sql = f"INSERT INTO {table} ({names}) VALUES " + ", ".join([one] * len(chunk))
                inserted += self.execute(sql, [v for r in chunk for v in r])
            return inserted
        marks = ", ".join(self.placeholder(i + 1) for i in range(len(columns)))
        return self.execute_batch(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _json_records(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as a JSON array of objects, in the text forms PostgreSQL reads into each column type."""
    out = []
    for row in rows:
        if len(row) != len(names):
            raise ValueError(
                f"a row has {len(row)} values for the {len(names)} columns {', '.join(names)}: {row!r}"
            )
        record = {}
        for name, value in zip(names, row):
            record[name] = _json_value(value)
        out.append(record)
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, Json):
        return value.value
    if isinstance(value, datetime.datetime) and value.utcoffset() is not None:
        utc = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return utc.isoformat() + "Z"
    wit = to_wit(value)
    return getattr(wit, "value", None)
