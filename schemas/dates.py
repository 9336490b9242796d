"""Date and timestamp parsing for request columns, as polars expressions."""

from __future__ import annotations

import polars as pl

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$"


def parse_date(text: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD`` and a day that exists, else null (polars alone would take ``2024-2-3``).
    Years start at 1: polars would read year 0, which DuckDB then writes ``0001-01-01 (BC)``."""
    return (
        pl.when(text.str.contains(_ISO_DATE) & ~_year_zero(text))
        .then(text.str.to_date("%Y-%m-%d", strict=False))
        .otherwise(None)
    )


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """An ISO 8601 timestamp with ``Z`` or an offset, as UTC, from year 1; else null."""
    return (
        pl.when(text.str.contains(_ISO_TIMESTAMP) & ~_year_zero(text))
        .then(
            pl.coalesce(
                text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC", strict=False),
                text.str.to_datetime("%Y-%m-%dT%H:%M%#z", time_zone="UTC", strict=False),
            )
        )
        .otherwise(None)
    )


def _year_zero(text: pl.Expr) -> pl.Expr:
    return text.str.starts_with("0000")


def is_valid_date(text: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """Empty passes (MISSING_VALUE is another check); text must have parsed (``parse_date`` or
    ``parse_timestamp``, whose result the caller keeps: parsing is the costly part)."""
    return text.is_null() | parsed.is_not_null()


def is_valid_period(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """The parsed ``valid_from`` not after the parsed ``valid_to``; open or unparseable ends
    pass here."""
    return start.is_null() | end.is_null() | (start <= end)
