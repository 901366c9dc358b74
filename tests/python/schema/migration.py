"""Portable schema operations with no down: the default `down` undoes them
from what the host recorded."""

from wasmig_guest import Migration, column, index


class Orders(Migration):
    def up(self, db, env):
        db.schema.create_table(
            "py_orders",
            [
                column("id", "bigint", primary_key=True),
                column("person_id", "bigint", nullable=False, references=("py_people", "id"),
                       on_delete="cascade"),
                column("total", "decimal(10,2)", nullable=False, default="0"),
            ],
            timestamps=True,
            indexes=[index("py_orders_person", ["person_id"])],
        )
        db.schema.add_column("py_people", column("nickname", "string(40)"))
        table = db.schema.table("py_orders")
        names = [c.name for c in table.columns]
        if names[:3] != ["id", "person_id", "total"] or table.primary_key != ["id"]:
            raise AssertionError(f"py_orders reads back as {names} {table.primary_key}")
        if db.schema.table("py_missing") is not None:
            raise AssertionError("a missing table reads back")
