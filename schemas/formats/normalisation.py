"""How a foreign key is normalised before its rule is checked: named, so the catalogue can say."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

Normalisation = Callable[[pl.Expr], pl.Expr]

# Separators people type inside identifiers; never part of the identifier itself.
_SEPARATORS = r"[\s.\-/]"


def upper(key: pl.Expr) -> pl.Expr:
    """The default: trim, upper-case."""
    return key.str.strip_chars().str.to_uppercase()


def keep_case(key: pl.Expr) -> pl.Expr:
    """eIDAS: the rest may be case-sensitive Base64; only trim."""
    return key.str.strip_chars()


def strip_separators(key: pl.Expr) -> pl.Expr:
    """Spaces, dots, dashes and slashes go; letters are upper-cased."""
    return key.str.replace_all(_SEPARATORS, "").str.to_uppercase()


def zero_fill_9(key: pl.Expr) -> pl.Expr:
    """BSN: as strip_separators, then zero-filled to 9 digits (an 8-digit BSN lost its 0)."""
    return strip_separators(key).str.zfill(9)


NORMALISATIONS: dict[str, Normalisation] = {
    "upper": upper,
    "keep_case": keep_case,
    "strip_separators": strip_separators,
    "zero_fill_9": zero_fill_9,
}
