"""Synthetic valid keys per rule, for tests, the demo and benchmarks: drawn, then filtered.

Candidates of the right shape are drawn with polars' hashing (no per-row Python), the rule's own
check keeps the valid ones; a check passes about one candidate in 10 to 100, so a few rounds do.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from schemas.formats.apply import evaluate
from schemas.formats.catalogue import Catalogue, load_catalogue

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


_STREAMS = 1 << 20  # independent draws per row: the stream goes into the hashed value


def _random(count: int, seed: int, modulus: int) -> pl.Expr:
    """Uniform-enough integers in [0, modulus); equal seeds give equal draws."""
    rows = pl.int_range(0, count, dtype=pl.UInt64)
    return ((rows * _STREAMS + seed % _STREAMS).hash(0x5EED) % modulus).cast(pl.Int64)


def _digits(count: int, seed: int, width: int) -> pl.Expr:
    return _random(count, seed, 10**width).cast(pl.String).str.zfill(width)


def _pick(count: int, seed: int, options: str) -> pl.Expr:
    return pl.lit(options).str.slice(_random(count, seed, len(options)), 1)


def _between(count: int, seed: int, low: int, high: int, width: int) -> pl.Expr:
    return (_random(count, seed, high - low + 1) + low).cast(pl.String).str.zfill(width)


def _letters(count: int, seed: int, width: int) -> pl.Expr:
    return pl.concat_str([_pick(count, seed + i, _LETTERS) for i in range(width)])


Candidates = Callable[[int, int], pl.Expr]

_CANDIDATES: dict[str, Candidates] = {
    "DEFAULT": lambda n, s: pl.concat_str([pl.lit("P"), _digits(n, s, 7)]),
    "EIDAS": lambda n, s: pl.concat_str(
        [pl.lit("NL/BE/"), _letters(n, s, 6), _digits(n, s + 9, 6)]
    ),
    "NL-BSN": lambda n, s: _digits(n, s, 9),
    "FR-NIR": lambda n, s: pl.concat_str([_pick(n, s, "12"), _digits(n, s + 1, 14)]),
    "DE-IDNR": lambda n, s: pl.concat_str([_pick(n, s, "123456789"), _digits(n, s + 1, 10)]),
    "DE-RVNR": lambda n, s: pl.concat_str(
        [
            _digits(n, s, 2),
            _between(n, s + 1, 1, 28, 2),
            _between(n, s + 2, 1, 12, 2),
            _digits(n, s + 3, 2),
            _letters(n, s + 4, 1),
            _digits(n, s + 5, 3),
        ]
    ),
    "LU-MATRICULE": lambda n, s: pl.concat_str(
        [
            _between(n, s, 1930, 2020, 4),
            _between(n, s + 1, 1, 12, 2),
            _between(n, s + 2, 1, 28, 2),
            _digits(n, s + 3, 5),
        ]
    ),
    "IT-CF": lambda n, s: pl.concat_str(
        [
            _letters(n, s, 6),
            _digits(n, s + 10, 2),
            _pick(n, s + 11, "ABCDEHLMPRST"),
            _between(n, s + 12, 1, 28, 2),
            _letters(n, s + 13, 1),
            _digits(n, s + 14, 3),
            _letters(n, s + 15, 1),
        ]
    ),
    "ES-DNI-NIE": lambda n, s: pl.concat_str([_digits(n, s, 8), _letters(n, s + 1, 1)]),
    "PT-NIF": lambda n, s: pl.concat_str([_pick(n, s, "123456789"), _digits(n, s + 1, 8)]),
    "PL-PESEL": lambda n, s: pl.concat_str(
        [
            _digits(n, s, 2),
            _between(n, s + 1, 1, 12, 2),
            _between(n, s + 2, 1, 28, 2),
            _digits(n, s + 3, 5),
        ]
    ),
    "RO-CNP": lambda n, s: pl.concat_str(
        [
            _pick(n, s, "1256"),
            _digits(n, s + 1, 2),
            _between(n, s + 2, 1, 12, 2),
            _between(n, s + 3, 1, 28, 2),
            _between(n, s + 4, 1, 46, 2),
            _digits(n, s + 5, 4),
        ]
    ),
    "TR-KIMLIK": lambda n, s: pl.concat_str([_pick(n, s, "123456789"), _digits(n, s + 1, 10)]),
    "US-SSN": lambda n, s: _digits(n, s, 9),
}


def generate_valid_keys(
    rule_id: str, n: int, *, seed: int, catalogue: Catalogue | None = None
) -> pl.Series:
    """``n`` distinct keys that satisfy ``rule_id`` (normalised form), reproducible by seed."""
    catalogue = catalogue or load_catalogue()
    rule = catalogue.rule(rule_id)
    country = "NL" if rule.country == "*" else rule.country
    found = pl.Series("foreign_key", [], dtype=pl.String)
    draw = max(64, n * 4)
    for attempt in range(12):
        stream = (seed * 64 + attempt) * 32  # each candidate part uses a few streams after it
        candidates = pl.select(_CANDIDATES[rule_id](draw, stream).alias("foreign_key"))
        checked = evaluate(candidates.with_columns(pl.lit(country).alias("country")), rule)
        valid = checked.filter(pl.col("key_format_ok"))["foreign_key"]
        found = pl.concat([found, valid]).unique(maintain_order=True)
        if found.len() >= n:
            return found.head(n)
        draw = min(draw * 2, n * 200 + 1000)
    raise ValueError(f"could not draw {n} valid keys for {rule_id}")
