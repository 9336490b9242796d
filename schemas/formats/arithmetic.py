"""Digit arithmetic over whole columns of keys: reading digits as integers, table lookups,
calendar dates, and the generic check-digit algorithms (mod 97, ISO 7064 MOD 11,10, Luhn,
Verhoeff) that the identifier checks of ``algorithms`` are built from.

A key is parsed once with ``str.to_integer`` (base 10, or base 36 for letters) and each digit
taken with integer arithmetic (``n // 10**k % 10``), rather than sliced out of the string one
position at a time. Chained algorithms step through small tables (``lookup``), which keeps
every expression linear in the number of digits. The Python loops run over the positions of
one identifier (at most 16), never over rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def parse_digits(key: pl.Expr, width: int) -> pl.Expr:
    """The key as an integer when it is exactly ``width`` ASCII digits, else null."""
    unsigned = ~key.str.starts_with("+") & ~key.str.starts_with("-")  # to_integer takes a sign
    shaped = (key.str.len_bytes() == width) & unsigned
    return pl.when(shaped).then(key.str.to_integer(strict=False))


def digits(number: pl.Expr, width: int) -> list[pl.Expr]:
    """The ``width`` decimal digits of ``number`` (not negative), most significant first.

    Unsigned 32-bit arithmetic is about twice as fast as Int64's floor division: a number of
    more than 9 digits is first cut into two such parts.
    """
    if width <= 9:
        small = number.cast(pl.UInt32, strict=False)
        return [small // 10 ** (width - 1 - place) % 10 for place in range(width)]
    high = (number // 10**9).cast(pl.UInt32, strict=False)
    low = (number % 10**9).cast(pl.UInt32, strict=False)
    return digits(high, width - 9) + digits(low, 9)


def base36_digits(number: pl.Expr, width: int) -> list[pl.Expr]:
    """The ``width`` base-36 digits of ``number`` (0-9, A=10 ... Z=35), most significant first;
    ``str.to_integer(base=36)`` of up to 12 characters fits an Int64."""
    return [number // 36 ** (width - 1 - position) % 36 for position in range(width)]


def lookup(table: Sequence[int], index: pl.Expr) -> pl.Expr:
    """``table[index]`` for every row (the index in range; a null index gives null)."""
    return pl.lit(pl.Series(list(table), dtype=pl.Int32)).gather(index)


def weighted_sum(values: Sequence[pl.Expr], weights: Sequence[int]) -> pl.Expr:
    total = pl.lit(0, pl.Int64)
    for value, weight in zip(values, weights, strict=True):
        total = total + value * weight
    return total


def is_calendar_date(year: pl.Expr, month: pl.Expr, day: pl.Expr) -> pl.Expr:
    """The day exists in the proleptic Gregorian calendar (arithmetic, no string dates)."""
    leap = ((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))).cast(pl.Int32)
    february = (month == 2).cast(pl.Int32)
    # 31 days in months 1 3 5 7 8 10 12, 30 in the others; February 28, or 29 in a leap year
    month_days = 30 + (month + month // 8) % 2 - february * (2 - leap)
    return month.is_between(1, 12) & (day >= 1) & (day <= month_days)


def mod97_key(number: pl.Expr) -> pl.Expr:
    """97 - (number mod 97): the key of the French NIR (and of the Belgian INSZ)."""
    return 97 - number % 97


# ISO 7064 MOD 11,10: the next state from (state, digit), a table of 100.
_ISO7064_STEP = tuple(
    ((state or 10) * 2 % 11 + digit) % 10 for state in range(10) for digit in range(10)
)


def _iso7064_state(values: Sequence[pl.Expr]) -> pl.Expr:
    state = pl.lit(5, pl.Int32)
    for value in values:
        state = lookup(_ISO7064_STEP, state * 10 + value)
    return state


def iso7064_mod11_10(values: Sequence[pl.Expr]) -> pl.Expr:
    """ISO 7064 MOD 11,10 over the digits including the check digit: true when valid."""
    return _iso7064_state(values) == 1


def iso7064_mod11_10_digit(values: Sequence[pl.Expr]) -> pl.Expr:
    """The ISO 7064 MOD 11,10 check digit to append to ``values``."""
    return (11 - ((_iso7064_state(values) + 9) % 10 + 1) * 2 % 11) % 10


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # the digit sum of 2 * d


def _luhn_sum(values: Sequence[pl.Expr], *, last_doubled: bool) -> pl.Expr:
    total = pl.lit(0, pl.Int32)
    for position, value in enumerate(reversed(values)):
        doubled = (position % 2 == 0) == last_doubled
        total = total + (lookup(_LUHN_DOUBLED, value) if doubled else value)
    return total


def luhn(values: Sequence[pl.Expr]) -> pl.Expr:
    """Luhn over the digits including the check digit (last): true when valid."""
    return _luhn_sum(values, last_doubled=False) % 10 == 0


def luhn_digit(values: Sequence[pl.Expr]) -> pl.Expr:
    """The Luhn check digit to append to ``values``."""
    return (10 - _luhn_sum(values, last_doubled=True) % 10) % 10


# Verhoeff's tables: multiplication in the dihedral group D5; the permutation of a digit by its
# place, p**place with p = (1 5 8 9 4 2 7 0)(3 6) (computed rather than typed out); the
# inverse of each element.
_VERHOEFF_D = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 0, 6, 7, 8, 9, 5, 2, 3, 4, 0, 1, 7, 8, 9, 5, 6,
    3, 4, 0, 1, 2, 8, 9, 5, 6, 7, 4, 0, 1, 2, 3, 9, 5, 6, 7, 8, 5, 9, 8, 7, 6, 0, 4, 3, 2, 1,
    6, 5, 9, 8, 7, 1, 0, 4, 3, 2, 7, 6, 5, 9, 8, 2, 1, 0, 4, 3, 8, 7, 6, 5, 9, 3, 2, 1, 0, 4,
    9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
)  # fmt: skip
_VERHOEFF_STEP = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)  # p: 0->1, 1->5, 2->7, 3->6, ...


def _verhoeff_permutations() -> tuple[tuple[int, ...], ...]:
    places = [tuple(range(10))]
    for _ in range(7):
        places.append(tuple(_VERHOEFF_STEP[digit] for digit in places[-1]))
    return tuple(places)


_VERHOEFF_P = _verhoeff_permutations()
_VERHOEFF_INVERSE = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def _verhoeff_state(values: Sequence[pl.Expr], *, start: int) -> pl.Expr:
    check = pl.lit(0, pl.Int32)
    for position, value in enumerate(reversed(values), start=start):
        permuted = lookup(_VERHOEFF_P[position % 8], value)
        check = lookup(_VERHOEFF_D, check * 10 + permuted)
    return check


def verhoeff(values: Sequence[pl.Expr]) -> pl.Expr:
    """Verhoeff over the digits including the check digit (last): true when valid."""
    return _verhoeff_state(values, start=0) == 0


def verhoeff_digit(values: Sequence[pl.Expr]) -> pl.Expr:
    """The Verhoeff check digit to append to ``values``."""
    return lookup(_VERHOEFF_INVERSE, _verhoeff_state(values, start=1))
