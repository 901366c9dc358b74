"""Schema changes without dialect SQL: `db.schema` sends portable operations
the host renders for the connected engine. The host records how to undo
each one, so a migration that changes its schema only this way needs no
`down`::

    db.schema.create_table("orders", [
        column("id", "uuid", primary_key=True),
        column("total", "decimal(10,2)", nullable=False),
        column("user_id", "bigint", references=("users", "id"), on_delete="cascade"),
    ], timestamps=True)
    if db.schema.table("legacy_orders") is not None:
        db.schema.drop_table("legacy_orders")

Types are portable (`bigint`, `string(255)`, `decimal(10,2)`, `text`,
`boolean`, `timestamp`, `json`, `uuid`, ...); `native=` gives an engine's
own type instead.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from componentize_py_types import Err
from wit_world.imports import schema as _s

from .db import _raise

_ACTIONS = {
    "no action": _s.Action.NO_ACTION,
    "restrict": _s.Action.RESTRICT,
    "cascade": _s.Action.CASCADE,
    "set null": _s.Action.SET_NULL,
    "set default": _s.Action.SET_DEFAULT,
}

TableInfo = _s.TableInfo
ColumnInfo = _s.ColumnInfo


class ColumnSpec:
    """A column for `create_table` and `add_column` (made by `column`)."""

    __slots__ = ("wit", "foreign_key")

    def __init__(self, wit: _s.Column, foreign_key: Optional[_s.ForeignKey]) -> None:
        self.wit = wit
        self.foreign_key = foreign_key


def _action(name: str) -> _s.Action:
    try:
        return _ACTIONS[name.replace("_", " ").lower()]
    except KeyError:
        raise ValueError(
            f"unknown foreign key action {name!r}: use one of {', '.join(_ACTIONS)}"
        ) from None


def column(
    name: str,
    type: Optional[str] = None,
    *,
    native: Optional[str] = None,
    nullable: bool = True,
    default: Optional[str] = None,
    identity: bool = False,
    primary_key: bool = False,
    unique: bool = False,
    references: Optional[Tuple[str, str]] = None,
    on_delete: str = "no action",
    on_update: str = "no action",
) -> ColumnSpec:
    """A column: `type` is portable, `native` an engine's own; `default` is
    an SQL expression (`'0'`, `CURRENT_TIMESTAMP`); `references=(table,
    column)` adds a foreign key."""
    if type is None and native is None:
        raise ValueError(f"column {name!r} needs a type (portable) or native=")
    wit = _s.Column(
        name=name,
        type=type,
        native=native,
        nullable=nullable and not primary_key,
        default=default,
        identity=identity,
        primary_key=primary_key,
        unique=unique,
    )
    key = None
    if references is not None:
        table, referenced = references
        key = _s.ForeignKey(
            name=None,
            columns=[name],
            references=table,
            referenced_columns=[referenced],
            on_delete=_action(on_delete),
            on_update=_action(on_update),
        )
    return ColumnSpec(wit, key)


def index(name: str, columns: Sequence[str], *, unique: bool = False,
          where: Optional[str] = None) -> _s.Index:
    """An index over `columns` (or expressions); `where` makes it partial."""
    return _s.Index(name=name, columns=list(columns), unique=unique, predicate=where)


class Schema:
    """The schema of the database being migrated (`db.schema`)."""

    def apply(self, ops: Sequence[_s.Op]) -> None:
        """Runs operations in order, in one host call."""
        try:
            _s.apply(list(ops))
        except Err as e:
            raise _raise(e) from None

    def table(self, name: str) -> Optional[TableInfo]:
        """The table as it is now (columns, primary key, indexes, foreign keys), or None."""
        try:
            return _s.table(name)
        except Err as e:
            raise _raise(e) from None

    def revert_recorded(self) -> None:
        """Undoes what `up` did through these operations, from what the host
        recorded then: the `down` of a migration that did not write one."""
        try:
            _s.revert_recorded()
        except Err as e:
            raise _raise(e) from None

    def create_table(
        self,
        name: str,
        columns: Sequence[ColumnSpec],
        *,
        primary_key: Sequence[str] = (),
        timestamps: bool = False,
        indexes: Sequence[_s.Index] = (),
        uniques: Sequence[Tuple[str, Sequence[str]]] = (),
    ) -> None:
        """Creates a table; `timestamps` adds `created_at` and `updated_at`."""
        keys: List[_s.ForeignKey] = [c.foreign_key for c in columns if c.foreign_key]
        self.apply([_s.Op_CreateTable(_s.CreateTable(
            table=name,
            columns=[c.wit for c in columns],
            primary_key=list(primary_key),
            timestamps=timestamps,
            indexes=list(indexes),
            foreign_keys=keys,
            uniques=[_s.NamedColumns(name=n, columns=list(cs)) for n, cs in uniques],
        ))])

    def drop_table(self, name: str, *, cascade: bool = False) -> None:
        """Drops a table (and with `cascade`, what depends on it)."""
        self.apply([_s.Op_DropTable((name, cascade))])

    def rename_table(self, name: str, to: str) -> None:
        """Renames a table."""
        self.apply([_s.Op_Rename(_s.Rename(table=name, column=None, to=to))])

    def add_column(self, table: str, spec: ColumnSpec) -> None:
        """Adds a column (and its foreign key)."""
        ops: List[_s.Op] = [_s.Op_AddColumn((table, spec.wit))]
        if spec.foreign_key is not None:
            ops.append(_s.Op_AddForeignKey((table, spec.foreign_key)))
        self.apply(ops)

    def drop_column(self, table: str, name: str, *, revert_default: Optional[str] = None) -> None:
        """Drops a column; a revert gives it back with `revert_default` (an SQL expression)."""
        self.apply([_s.Op_DropColumn((table, name, revert_default))])

    def rename_column(self, table: str, name: str, to: str) -> None:
        """Renames a column."""
        self.apply([_s.Op_Rename(_s.Rename(table=table, column=name, to=to))])

    def alter_column(
        self,
        table: str,
        name: str,
        *,
        type: Optional[str] = None,
        native: Optional[str] = None,
        nullable: Optional[bool] = None,
        default: Optional[str] = None,
        drop_default: bool = False,
    ) -> None:
        """Changes a column's type, nullability or default."""
        self.apply([_s.Op_AlterColumn(_s.AlterColumn(
            table=table, column=name, type=type, native=native, nullable=nullable,
            default=default, drop_default=drop_default,
        ))])

    def create_index(self, table: str, name: str, columns: Sequence[str], *,
                     unique: bool = False, where: Optional[str] = None) -> None:
        """Creates an index."""
        self.apply([_s.Op_CreateIndex((table, index(name, columns, unique=unique, where=where)))])

    def drop_index(self, table: str, name: str) -> None:
        """Drops an index."""
        self.apply([_s.Op_DropIndex((table, name))])

    def sql(self, up: str, down: Optional[str] = None) -> None:
        """Raw SQL with the SQL that undoes it (without it the migration cannot be reverted from what was recorded)."""
        self.apply([_s.Op_Sql((up, down))])
