"""How a full name is made: a module of the migration's own, imported by
migration.py."""

from typing import Optional


def full_name(first: Optional[str], last: Optional[str]) -> Optional[str]:
    """"Ada Lovelace"; "Ada" when there is no last name; None with neither."""
    parts = [part for part in (first, last) if part]
    return " ".join(parts) or None
