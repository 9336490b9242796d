"""Column names of a request file: normalised, then checked against the operation's columns."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable

from pipeline.contract import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    FileReason,
    FileRejected,
    Operation,
)


def normalise_names(names: Iterable[str]) -> tuple[str, ...]:
    """Trimmed and lower-cased; a byte-order mark before the first name is dropped."""
    cleaned = [name.strip().lower() for name in names]
    if cleaned:
        cleaned[0] = cleaned[0].lstrip("\ufeff").strip()
    return tuple(cleaned)


def expected_columns(operation: Operation) -> tuple[str, ...]:
    """Every column a chunk of this operation carries, required ones first."""
    return REQUIRED_COLUMNS[operation] + OPTIONAL_COLUMNS[operation]


def check_columns(names: tuple[str, ...], *, operation: Operation) -> None:
    """Refuses a header with unnamed, unknown, repeated or missing columns; ``names`` normalised."""
    allowed = expected_columns(operation)
    listed = ", ".join(allowed)
    unnamed = [str(position) for position, name in enumerate(names, 1) if not name]
    if unnamed:
        raise FileRejected(
            FileReason.UNKNOWN_COLUMNS,
            f"column {', '.join(unnamed)} of the header has no name: name it or remove it (a"
            f" delimiter at the end of the header line makes an empty column). allowed: {listed}",
        )
    unknown = [name for name in names if name not in allowed]
    if unknown:
        sentences = [_unknown_sentence(name, operation=operation) for name in unknown]
        raise FileRejected(FileReason.UNKNOWN_COLUMNS, f"{' '.join(sentences)} allowed: {listed}")
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise FileRejected(
            FileReason.UNREADABLE_FILE,
            f"{_columns(repeated)} named more than once in the header (names are compared"
            " trimmed and case-insensitively): keep one",
        )
    missing = [name for name in REQUIRED_COLUMNS[operation] if name not in names]
    if missing:
        raise FileRejected(
            FileReason.MISSING_COLUMNS,
            f"{_columns(missing)} required for {operation} but not in the header: add"
            f" {'it' if len(missing) == 1 else 'them'} (the header has {_quoted(names)})",
        )


def _unknown_sentence(name: str, *, operation: Operation) -> str:
    closest = difflib.get_close_matches(name, expected_columns(operation), n=1)
    if closest:
        return f"column `{name}` is not known for {operation}: did you mean `{closest[0]}`?"
    return f"column `{name}` is not known for {operation}."


def _columns(names: list[str]) -> str:
    """``column `a` is`` or ``columns `a`, `b` are``."""
    if len(names) == 1:
        return f"column `{names[0]}` is"
    return f"columns {_quoted(names)} are"


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)
