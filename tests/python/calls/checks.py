"""Assertions for the calls migration: a module of its own, imported from
migration.py as a sibling."""

import datetime
import decimal
import json
import uuid

from wasmig_guest import Dialect


def equal(got, expected, what):
    if got != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {got!r}")


def _canonical(value):
    """A value as text, the way an engine without the type keeps it
    (MariaDB's JSON is a binary-collated text column, read as bytes)."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, str) and value[:1] in "{[":
        return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, str) and len(value) == 19 and value[10] == "T":
        return value.replace("T", " ")
    if isinstance(value, str):
        try:
            return format(decimal.Decimal(value).normalize(), "f")
        except decimal.InvalidOperation:
            return value
    return str(value)


def round_trip(dialect, sent, row):
    """PostgreSQL has every type: values come back as the same Python type.
    SQLite and MySQL keep some as text or integers: they come back equal
    as text."""
    for name, value in sent.items():
        got = row[name]
        if dialect is Dialect.POSTGRES or isinstance(value, (str, int, float, bytes)) and not isinstance(value, bool):
            equal(type(got), type(value), f"the type of {name}")
            equal(got, value, name)
        else:
            equal(_canonical(got), _canonical(value), name)
    if dialect is Dialect.POSTGRES:
        equal(type(row["u"]), uuid.UUID, "a uuid column")
