"""Validating a YAML document field by field, so that a malformed entry is refused with a message naming
the entry, the field and what was expected (the claims and the leaderboard files)."""

import re
from collections.abc import Callable

# A field's rule: (required, check, what the check expects, in words for the error message).
Field = tuple[bool, Callable[[object], bool], str]


_ENTRY_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_NAME = re.compile(r"^[a-z0-9_]+$")


def is_text(value) -> bool:
    """Non-empty text."""
    return isinstance(value, str) and bool(value.strip())


def is_entry_id(value) -> bool:
    """An entry id: lower-case words (letters and digits) joined by dashes."""
    return isinstance(value, str) and bool(_ENTRY_ID.match(value))


def is_name(value) -> bool:
    """A registered name (model, dataset): lower-case letters, digits and underscores."""
    return isinstance(value, str) and bool(_NAME.match(value))


def check_fields(entry: dict, fields: dict[str, Field], where: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming ``where`` and the field for an unknown field, a missing required one, or a value
    its check refuses."""
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise error(f"{where}: field {unknown[0]!r}: unknown field; known: {', '.join(fields)}")
    for name, (required, check, expected) in fields.items():
        if name not in entry:
            if required:
                raise error(f"{where}: field {name!r}: missing (expected {expected})")
            continue
        if not check(entry[name]):
            raise error(f"{where}: field {name!r}: expected {expected}, got {entry[name]!r}")
