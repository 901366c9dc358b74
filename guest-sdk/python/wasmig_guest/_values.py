"""Python values to the contract's SQL values and back.

| Python                         | contract value | read back as        |
|--------------------------------|----------------|---------------------|
| None                           | null           | None                |
| bool                           | boolean        | bool                |
| int (64-bit signed)            | int            | int                 |
| float                          | float          | float               |
| str                            | text           | str                 |
| bytes, bytearray, memoryview   | bytes          | bytes               |
| dict, list (and `Json(...)`)   | json           | dict / list / ...   |
| uuid.UUID                      | uuid           | uuid.UUID           |
| datetime.datetime              | timestamp      | datetime.datetime   |
| datetime.date                  | date           | datetime.date       |
| decimal.Decimal                | decimal        | decimal.Decimal     |
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


def packed_sets(param_sets: Sequence[Sequence[Any]]) -> Optional[str]:
    """Parameter sets as packed JSON text, or None when one holds a value
    only the typed path sends right (a dict or list as JSON, a float that
    is not finite, a subclass)."""
    if isinstance(param_sets, (str, bytes)):
        raise TypeError("param sets are a list of lists of values")
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


def _timestamp_from(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


_FROM_WIT: Dict[type, Callable[[Any], Any]] = {
    _t.Value_Null: lambda v: None,
    _t.Value_Boolean: lambda v: v.value,
    _t.Value_Int: lambda v: v.value,
    _t.Value_Float: lambda v: v.value,
    _t.Value_Text: lambda v: v.value,
    _t.Value_Bytes: lambda v: bytes(v.value),
    _t.Value_Json: lambda v: json.loads(v.value),
    _t.Value_Uuid: lambda v: uuid.UUID(v.value),
    _t.Value_Timestamp: lambda v: _timestamp_from(v.value),
    _t.Value_Date: lambda v: datetime.date.fromisoformat(v.value),
    _t.Value_Decimal: lambda v: decimal.Decimal(v.value),
}


def from_wit(v: _t.Value) -> Any:
    """One contract value as a Python value."""
    return _FROM_WIT[type(v)](v)


_PACKED_DECODE: Dict[str, Callable[[str], Any]] = {
    "b": bytes.fromhex,
    "j": json.loads,
    "u": uuid.UUID,
    "t": lambda text: _timestamp_from(text),
    "d": datetime.date.fromisoformat,
    "n": decimal.Decimal,
    "f": float,
}


def row_from_wit(values: List[_t.Value]) -> tuple:
    """One result row as a tuple of Python values."""
    table = _FROM_WIT
    return tuple([table[type(v)](v) for v in values])
