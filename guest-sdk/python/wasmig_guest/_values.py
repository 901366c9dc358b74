"""Python values to the contract's SQL values and back.

| Python                         | contract value | read back as        |
|--------------------------------|----------------|---------------------|
| None                           | null           | None                |
| bool                           | boolean        | bool (PostgreSQL; an int where the engine stores one) |
| int (64-bit signed)            | int            | int                 |
| float                          | float          | float               |
| str                            | text           | str                 |
| bytes, bytearray, memoryview   | bytes          | bytes               |
| dict, list (and `Json(...)`)   | json           | dict / list / ...   |
| uuid.UUID                      | uuid           | uuid.UUID           |
| datetime.datetime              | timestamp      | datetime.datetime   |
| datetime.date                  | date           | datetime.date       |
| decimal.Decimal                | decimal        | decimal.Decimal     |

A value the column's declared type cannot parse (SQLite keeps any text in
any column) is read back as its text.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import json
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from wit_world.imports import types as _t

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 63) - 1


class Json:
    """Marks a value to be sent as JSON even when it is a str, int or None:
    `Json("a string")` is the JSON document `"a string"`, not text."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _int(v: int) -> _t.Value:
    if v < _INT_MIN or v > _INT_MAX:
        raise OverflowError(
            f"{v} does not fit a 64-bit signed integer; pass decimal.Decimal({v}) "
            "for a NUMERIC column"
        )
    return _t.Value_Int(v)


def _timestamp(v: datetime.datetime) -> _t.Value:
    if v.tzinfo is not None and v.utcoffset() == datetime.timedelta(0):
        return _t.Value_Timestamp(v.replace(tzinfo=None).isoformat() + "Z")
    return _t.Value_Timestamp(v.isoformat())


def _json_text(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, sort_keys=False)


# Exact types first: one dictionary lookup on the hot path.
_BY_TYPE: Dict[type, Callable[[Any], _t.Value]] = {
    type(None): lambda v: _t.Value_Null(),
    bool: _t.Value_Boolean,
    int: _int,
    float: _t.Value_Float,
    str: _t.Value_Text,
    bytes: _t.Value_Bytes,
    bytearray: lambda v: _t.Value_Bytes(bytes(v)),
    memoryview: lambda v: _t.Value_Bytes(v.tobytes()),
    dict: lambda v: _t.Value_Json(_json_text(v)),
    list: lambda v: _t.Value_Json(_json_text(v)),
    uuid.UUID: lambda v: _t.Value_Uuid(str(v)),
    datetime.datetime: _timestamp,
    datetime.date: lambda v: _t.Value_Date(v.isoformat()),
    decimal.Decimal: lambda v: _t.Value_Decimal(str(v)),
    Json: lambda v: _t.Value_Json(_json_text(v.value)),
}

_WIT_TYPES = (
    _t.Value_Null,
    _t.Value_Boolean,
    _t.Value_Int,
    _t.Value_Float,
    _t.Value_Text,
    _t.Value_Bytes,
    _t.Value_Json,
    _t.Value_Uuid,
    _t.Value_Timestamp,
    _t.Value_Date,
    _t.Value_Decimal,
)
for _wit_type in _WIT_TYPES:
    _BY_TYPE[_wit_type] = lambda v: v


def to_wit(v: Any) -> _t.Value:
    """One Python value as a contract value; TypeError names what cannot be sent."""
    convert = _BY_TYPE.get(type(v))
    if convert is not None:
        return convert(v)
    # Subclasses (an IntEnum, a str subclass, a tz-aware datetime subclass).
    for base in (bool, int, float, str, bytes, datetime.datetime, datetime.date,
                 decimal.Decimal, uuid.UUID, dict, list):
        if isinstance(v, base):
            return _BY_TYPE[base](v)
    if isinstance(v, tuple):
        return _t.Value_Json(_json_text(list(v)))
    raise TypeError(
        f"cannot send a {type(v).__name__} to the database: use None, bool, int, float, "
        "str, bytes, dict/list (JSON), uuid.UUID, datetime, date or decimal.Decimal"
    )


def params_to_wit(params: Sequence[Any]) -> List[_t.Value]:
    """A parameter list as contract values."""
    if isinstance(params, (str, bytes)):
        raise TypeError("params is a list of values: write [value], not value")
    by_type = _BY_TYPE
    out = []
    for v in params:
        convert = by_type.get(type(v))
        out.append(convert(v) if convert is not None else to_wit(v))
    return out


# The packed encoding (see the runtime's `packed` interface): JSON's own
# values, and one-key objects for the kinds JSON has no type for.
_PACKED_NATIVE = frozenset((type(None), bool, int, float, str))
_PACKED_TAGGED = frozenset((bytes, bytearray, memoryview, decimal.Decimal,
                            datetime.datetime, datetime.date, uuid.UUID, Json))


def _packed_other(v: Any) -> Any:
    """`json.dumps`'s hook for what JSON cannot write itself."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b": bytes(v).hex()}
    if isinstance(v, decimal.Decimal):
        return {"n": str(v)}
    if isinstance(v, datetime.datetime):
        return {"t": _timestamp(v).value}
    if isinstance(v, datetime.date):
        return {"d": v.isoformat()}
    if isinstance(v, uuid.UUID):
        return {"u": str(v)}
    if isinstance(v, Json):
        return {"j": _json_text(v.value)}
    raise TypeError(f"cannot send a {type(v).__name__} to the database")


def param_lists(param_sets: Any) -> List[Sequence[Any]]:
    """Parameter sets read once into a list of lists or tuples (a generator
    can be read only once; a Row is sent as its values)."""
    if isinstance(param_sets, (str, bytes)):
        raise TypeError("param sets are a list of lists of values: write [[value, ...], ...]")
    sets = param_sets if isinstance(param_sets, list) else list(param_sets)
    if not set(map(type, sets)) <= {list, tuple}:
        sets = [check_params(p) for p in sets]
    return sets


def check_params(params: Any) -> Sequence[Any]:
    """One parameter list, as a list or tuple."""
    if isinstance(params, (str, bytes)):
        raise TypeError("params is a list of values: write [value], not value")
    return params if isinstance(params, (list, tuple)) else list(params)


def packed_sets(param_sets: List[Sequence[Any]]) -> Optional[str]:
    """Parameter sets (lists or tuples, see `param_lists`) as packed JSON
    text, or None when one holds a value only the typed path sends right (a
    dict or list as JSON, a float that is not finite, a subclass)."""
    kinds = set(map(type, itertools.chain.from_iterable(param_sets)))
    if not kinds <= _PACKED_NATIVE | _PACKED_TAGGED:
        return None
    try:
        return json.dumps(param_sets, default=_packed_other, allow_nan=False,
                          ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return None


def _packed_tag(obj: Dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((tag, text),) = obj.items()
        decode = _PACKED_DECODE.get(tag)
        if decode is not None and isinstance(text, str):
            return decode(text)
    return obj


def unpack_rows(text: str) -> Tuple[List[str], List[str], List[tuple]]:
    """Columns, their types and the rows of a packed result."""
    doc = json.loads(text, object_hook=_packed_tag)
    columns = doc["columns"]
    return ([c[0] for c in columns], [c[1] for c in columns], list(map(tuple, doc["rows"])))


_FROM_WIT: Dict[type, Callable[[Any], Any]] = {
    _t.Value_Null: lambda v: None,
    _t.Value_Boolean: lambda v: v.value,
    _t.Value_Int: lambda v: v.value,
    _t.Value_Float: lambda v: v.value,
    _t.Value_Text: lambda v: v.value,
    _t.Value_Bytes: lambda v: bytes(v.value),
    _t.Value_Json: lambda v: _read_json(v.value),
    _t.Value_Uuid: lambda v: _read_uuid(v.value),
    _t.Value_Timestamp: lambda v: _read_timestamp(v.value),
    _t.Value_Date: lambda v: _read_date(v.value),
    _t.Value_Decimal: lambda v: _read_decimal(v.value),
}


def from_wit(v: _t.Value) -> Any:
    """One contract value as a Python value."""
    return _FROM_WIT[type(v)](v)


def _or_text(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse`, or the text itself when the column's declared type says one
    thing and the value another (SQLite keeps `''` in a TIMESTAMP column)."""

    def read(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, ArithmeticError):
            return text

    return read


_read_uuid = _or_text(uuid.UUID)
_read_timestamp = _or_text(datetime.datetime.fromisoformat)
_read_date = _or_text(datetime.date.fromisoformat)
_read_decimal = _or_text(decimal.Decimal)
_read_json = _or_text(json.loads)

_PACKED_DECODE: Dict[str, Callable[[str], Any]] = {
    "b": bytes.fromhex,
    "j": _read_json,
    "u": _read_uuid,
    "t": _read_timestamp,
    "d": _read_date,
    "n": _read_decimal,
    "f": float,
}


def row_from_wit(values: List[_t.Value]) -> tuple:
    """One result row as a tuple of Python values."""
    table = _FROM_WIT
    return tuple([table[type(v)](v) for v in values])
