"""Synthetic INSZ computed from the rules (not real people), for the demo and benchmarks."""

from __future__ import annotations

import datetime as dt
from enum import IntEnum

import polars as pl

FIRST_BIRTH_DATE = dt.date(1930, 1, 1)
_UNKNOWN_DATE_SHARE = 0.02  # month and day 00: date unknown, or the day's serials ran out
_BORN_2000S_PREFIX = 2_000_000_000


class _Draw(IntEnum):
    """The independent random draws made for each row."""

    BIRTH_DAY = 0
    SERIAL = 1
    KIND = 2
    SEX_KNOWN = 3
    UNKNOWN_DATE = 4
    MUTATION = 5
    POSITION = 6


def _uniform(count: int, *, seed: int, draw: _Draw, modulus: int) -> pl.Expr:
    """``count`` integers in 0..modulus-1, one stream per (seed, draw)."""
    # No numpy here: hashing (row, draw) with the seed gives independent, reproducible streams,
    # and the modulo bias is far below what a demo or a benchmark can notice.
    cells = pl.int_range(0, count, dtype=pl.UInt64) * len(_Draw) + int(draw)
    return (cells.hash(seed) % modulus).cast(pl.Int64)


def _chance(count: int, *, seed: int, draw: _Draw, share: float) -> pl.Expr:
    return _uniform(count, seed=seed, draw=draw, modulus=1_000_000) < round(share * 1_000_000)


def synthetic_insz(
    n: int, *, seed: int, reference_date: dt.date, bis_share: float = 0.1
) -> pl.Series:
    """``n`` distinct valid INSZ (String, 11 digits) born 1930 up to ``reference_date``.

    National register numbers, and a ``bis_share`` of BIS numbers (month +20 or +40), with
    both check-digit centuries and a few unknown dates (month and day 00).
    """
    if n < 0 or not 0 <= bis_share <= 1 or reference_date < FIRST_BIRTH_DATE:
        raise ValueError(
            f"synthetic_insz needs n >= 0, 0 <= bis_share <= 1 and a reference date from "
            f"{FIRST_BIRTH_DATE}: got n={n}, bis_share={bis_share}, {reference_date}"
        )
    count = n + n // 4 + 64  # more than n, as some draws repeat a number
    days = (reference_date - FIRST_BIRTH_DATE).days + 1
    drawn = pl.select(
        born=pl.lit(FIRST_BIRTH_DATE)
        + pl.duration(days=_uniform(count, seed=seed, draw=_Draw.BIRTH_DAY, modulus=days)),
        serial=_uniform(count, seed=seed, draw=_Draw.SERIAL, modulus=997) + 1,
        bis=_chance(count, seed=seed, draw=_Draw.KIND, share=bis_share),
        sex_known=_chance(count, seed=seed, draw=_Draw.SEX_KNOWN, share=0.5),
        unknown_date=_chance(count, seed=seed, draw=_Draw.UNKNOWN_DATE, share=_UNKNOWN_DATE_SHARE),
    )
    numbers = drawn.select(_insz_from_parts().alias("insz")).unique(maintain_order=True)
    if numbers.height < n:
        raise ValueError(f"{n} distinct INSZ do not fit in the rules' room: ask for fewer")
    return numbers.to_series().head(n)


def _insz_from_parts() -> pl.Expr:
    born = pl.col("born").dt
    month_offset = pl.when(~pl.col("bis")).then(0).when(pl.col("sex_known")).then(40).otherwise(20)
    month = pl.when(pl.col("unknown_date")).then(0).otherwise(born.month()) + month_offset
    day = pl.when(pl.col("unknown_date")).then(0).otherwise(born.day())
    body = (
        born.year().cast(pl.Int64) % 100 * 10_000_000
        + month.cast(pl.Int64) * 100_000
        + day.cast(pl.Int64) * 1_000
        + pl.col("serial")
    )
    prefixed = pl.when(born.year() >= 2000).then(body + _BORN_2000S_PREFIX).otherwise(body)
    check = 97 - prefixed % 97
    return (body * 100 + check).cast(pl.String).str.zfill(11)


class _Mutation(IntEnum):
    """The ways ``mutate_insz`` breaks a number."""

    CHECK_DIGIT = 0
    TOO_SHORT = 1
    TOO_LONG = 2
    LETTER_O = 3
    MONTH_13 = 4


def mutate_insz(series: pl.Series, *, seed: int) -> pl.Series:
    """Invalid variants of valid 11-digit INSZ: each row gets one change, drawn with ``seed``.

    A wrong check digit, a digit dropped, a digit added, a digit made the letter O, month 13.
    """
    count = len(series)
    kind = _uniform(count, seed=seed, draw=_Draw.MUTATION, modulus=len(_Mutation))
    position = _uniform(count, seed=seed, draw=_Draw.POSITION, modulus=11)
    text = pl.col("insz")
    last = text.str.slice(10, 1).str.to_integer()
    mutated = (
        # Check digits of the two centuries differ by 2e9 mod 97 = 68 (mod 97), never by the
        # +1 or -9 this makes: the changed number cannot validate in the other century either.
        pl.when(kind == _Mutation.CHECK_DIGIT)
        .then(text.str.slice(0, 10) + ((last + 1) % 10).cast(pl.String))
        .when(kind == _Mutation.TOO_SHORT)
        .then(text.str.slice(0, 10))
        .when(kind == _Mutation.TOO_LONG)
        .then(text + last.cast(pl.String))
        .when(kind == _Mutation.LETTER_O)
        .then(text.str.slice(0, position) + "O" + text.str.slice(position + 1))
        .otherwise(text.str.slice(0, 2) + "13" + text.str.slice(4))
    )
    frame = pl.DataFrame({"insz": series}, schema={"insz": pl.String})
    return frame.select(mutated.alias(series.name)).to_series()
