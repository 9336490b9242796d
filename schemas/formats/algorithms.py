"""Check algorithms of foreign identifiers, as polars expressions over a whole column.

Each takes the normalised key (its rule's pattern already matched) and returns a boolean column;
a null means the key could not even be read and counts as a failure. Loops here run over the
positions of a key (at most 16), never over rows.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

Check = Callable[[pl.Expr, pl.Expr], pl.Expr]  # (key, country) -> valid

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# the digit sum of weight * digit, per weight and digit: one lookup instead of // and %
_CROSS_SUMS = {
    w: pl.lit(pl.Series([(w * d) // 10 + (w * d) % 10 for d in range(10)], dtype=pl.Int64))
    for w in (1, 2, 5, 7)
}


def digit(key: pl.Expr, position: int) -> pl.Expr:
    return key.str.slice(position, 1).str.to_integer(strict=False)


def number(key: pl.Expr, start: int, length: int) -> pl.Expr:
    return key.str.slice(start, length).str.to_integer(strict=False)


def digits(key: pl.Expr, length: int) -> list[pl.Expr]:
    """The digits of an all-digit key of ``length`` characters, by integer arithmetic on one
    parse of the key: far cheaper than slicing the text once per position."""
    whole = key.str.slice(0, length).str.to_integer(strict=False)
    return [(whole // 10 ** (length - 1 - i)) % 10 for i in range(length)]


def weighted(values: list[pl.Expr], weights: tuple[int, ...]) -> pl.Expr:
    return pl.sum_horizontal(w * v for w, v in zip(weights, values, strict=False))


def is_date(year: pl.Expr, month: pl.Expr, day: pl.Expr) -> pl.Expr:
    """The day exists in the (proleptic Gregorian) calendar: integer arithmetic, no parsing."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days_in_month = (
        pl.when(month == 2).then(28 + leap.cast(pl.Int64)).otherwise(30 + (month + month // 8) % 2)
    )
    return month.is_between(1, 12) & (day >= 1) & (day <= days_in_month) & (year >= 1)


def default(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """At least 5 characters and at least one digit."""
    return (key.str.len_chars() >= 5) & key.str.contains(r"[0-9]")


def eidas(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """XX/YY/rest, no whitespace, at most 256 characters, XX the link's country (EL = GR)."""
    issuer = key.str.slice(0, 2).replace({"EL": "GR", "UK": "GB"})
    return (
        key.str.contains(r"^[A-Z]{2}/[A-Z]{2}/\S+$")
        & (key.str.len_chars() <= 256)
        & (issuer == country)
    )


def eleven_proof(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """NL BSN: 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11, and not all zeros."""
    d = digits(key, 9)
    total = weighted(d, (9, 8, 7, 6, 5, 4, 3, 2)) - d[8]
    return (total % 11 == 0) & (number(key, 0, 9) > 0)


def mod97_nir(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """FR NIR: key = 97 - (first 13 digits mod 97), Corsica 2A -> 19, 2B -> 18."""
    body = (
        key.str.slice(0, 13).str.replace("^(.{5})2A", "${1}19").str.replace("^(.{5})2B", "${1}18")
    )
    return 97 - body.str.to_integer(strict=False) % 97 == number(key, 13, 2)


def iso7064_mod11_10(key: pl.Expr, length: int) -> pl.Expr:
    """ISO 7064 MOD 11,10 over ``length`` digits; valid when the final product is 1."""
    check = pl.lit(5, pl.Int64)
    for value in digits(key, length):
        # (check or 10): written so that `check` appears once, or the expression tree doubles
        doubled = (((check + 9) % 10 + 1) * 2) % 11
        check = (doubled + value) % 10
    return check == 1


def de_idnr(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """Steuer-IdNr: in the first 10 digits exactly one digit appears 2 or 3 times, the others
    at most once; then ISO 7064 MOD 11,10."""
    first = digits(key, 11)[:10]
    counts = [pl.sum_horizontal((value == d).cast(pl.Int32) for value in first) for d in range(10)]
    repeated = pl.sum_horizontal((c > 1).cast(pl.Int32) for c in counts)
    most = pl.max_horizontal(counts)
    return (repeated == 1) & most.is_in([2, 3]) & iso7064_mod11_10(key, 11)


def de_rvnr(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """Rentenversicherungsnummer (VKVV section 2): the initial becomes its two-digit place in
    the alphabet; the 12 digits before the check are weighted 2,1,2,5,7,1,2,1,2,1,2,1, the
    digit sums of the products are added, and the check digit is that sum mod 10."""
    places = {letter: i for i, letter in enumerate(_LETTERS, start=1)}
    place = key.str.slice(8, 1).replace_strict(places, default=None, return_dtype=pl.Int64)
    values = [*digits(key, 8), place // 10, place % 10, *digits(key.str.slice(9, 3), 3)]
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    total = pl.sum_horizontal(
        _CROSS_SUMS[w].gather(v) for w, v in zip(weights, values[:12], strict=True)
    )
    return total % 10 == values[12]


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 8, 7, 6, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 1, 6, 5, 4),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_D_FLAT = pl.Series([v for row in _VERHOEFF_D for v in row], dtype=pl.Int64)
_VERHOEFF_P_FLAT = pl.Series([v for row in _VERHOEFF_P for v in row], dtype=pl.Int64)


def verhoeff_valid(digits: list[pl.Expr]) -> pl.Expr:
    """Verhoeff over the digits given (the check digit last): valid when the checksum is 0."""
    check = pl.lit(0, pl.Int64)
    for position, value in enumerate(reversed(digits)):
        permuted = pl.lit(_VERHOEFF_P_FLAT).gather((position % 8) * 10 + value)
        check = pl.lit(_VERHOEFF_D_FLAT).gather(check * 10 + permuted)
    return check == 0


def luhn_valid(digits: list[pl.Expr]) -> pl.Expr:
    """Luhn over the digits given (the check digit last)."""
    total = pl.lit(0, pl.Int64)
    for position, value in enumerate(reversed(digits)):
        total = total + (_CROSS_SUMS[2].gather(value) if position % 2 == 1 else value)
    return total % 10 == 0


def lu_matricule(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """LU: YYYYMMDD + 3 digits, then a Luhn digit and a Verhoeff digit, each over the first 11."""
    d = digits(key, 13)
    day_ok = is_date(number(key, 0, 4), number(key, 4, 2), number(key, 6, 2))
    return day_ok & luhn_valid([*d[:11], d[11]]) & verhoeff_valid([*d[:11], d[12]])


_CF_ODD = (
    1,
    0,
    5,
    7,
    9,
    13,
    15,
    17,
    19,
    21,
    2,
    4,
    18,
    20,
    11,
    3,
    6,
    8,
    12,
    14,
    16,
    10,
    22,
    25,
    24,
    23,
)
_CF_DATE_DIGITS = {
    **{str(n): str(n) for n in range(10)},
    **{c: str(n) for n, c in enumerate("LMNPQRSTUV")},
}


def it_codice_fiscale(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """Codice fiscale: check letter from the odd/even tables mod 26, and a real birth date."""
    total = pl.lit(0, pl.Int64)
    for position in range(15):
        char = key.str.slice(position, 1)
        if position % 2 == 0:
            table = {
                **{str(n): _CF_ODD[n] for n in range(10)},
                **{c: _CF_ODD[i] for i, c in enumerate(_LETTERS)},
            }
        else:
            table = {**{str(n): n for n in range(10)}, **{c: i for i, c in enumerate(_LETTERS)}}
        total = total + char.replace_strict(table, default=None, return_dtype=pl.Int64)
    letter = pl.lit(_LETTERS).str.slice(total % 26, 1)
    date_digits = key.str.slice(6, 5)
    year = number(date_digits.str.slice(0, 2).str.replace_many(_CF_DATE_DIGITS), 0, 2)
    month = key.str.slice(8, 1).replace_strict(
        {c: i + 1 for i, c in enumerate("ABCDEHLMPRST")}, default=None, return_dtype=pl.Int64
    )
    day = number(date_digits.str.slice(3, 2).str.replace_many(_CF_DATE_DIGITS), 0, 2) % 40
    full_year = pl.when(year + 1900 < 1920).then(year + 2000).otherwise(year + 1900)
    return (letter == key.str.slice(15, 1)) & is_date(full_year, month, day)


def es_dni_nie(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """DNI and NIE: letter = TRWAGMYFPDXBNJZSQVHLCKE[number mod 23] (NIE: X, Y, Z -> 0, 1, 2)."""
    digits = key.str.slice(0, 8).str.replace_many(["X", "Y", "Z"], ["0", "1", "2"])
    letter = pl.lit("TRWAGMYFPDXBNJZSQVHLCKE").str.slice(
        digits.str.to_integer(strict=False) % 23, 1
    )
    return letter == key.str.slice(8, 1)


def pt_nif(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """NIF: check = (11 - sum of digits weighted 9..2) mod 11 mod 10."""
    d = digits(key, 9)
    total = weighted(d, (9, 8, 7, 6, 5, 4, 3, 2))
    return (11 - total % 11) % 11 % 10 == d[8]


def pl_pesel(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """PESEL: weights 1,3,7,9 and a real birth date, the century in the month (+20, +40...)."""
    d = digits(key, 11)
    total = weighted(d, (1, 3, 7, 9, 1, 3, 7, 9, 1, 3))
    month = number(key, 2, 2)
    century = (month // 20).replace_strict(
        {0: 1900, 1: 2000, 2: 2100, 3: 2200, 4: 1800}, default=None
    )
    born = is_date(century + number(key, 0, 2), month % 20, number(key, 4, 2))
    return ((10 - total % 10) % 10 == d[10]) & born


_RO_COUNTIES = [f"{n:02d}" for n in range(1, 49)] + ["51", "52", "70", "80", "81", "82", "83"]


def ro_cnp(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """CNP: a real birth date (century from the first digit), a county, weights mod 11."""
    d = digits(key, 13)
    total = weighted(d, (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11
    check = pl.when(total == 10).then(1).otherwise(total)
    century = key.str.slice(0, 1).replace_strict(
        {"1": 1900, "2": 1900, "3": 1800, "4": 1800, "5": 2000, "6": 2000},
        default=1900,
        return_dtype=pl.Int64,
    )
    born = is_date(century + number(key, 1, 2), number(key, 3, 2), number(key, 5, 2))
    return born & key.str.slice(7, 2).is_in(_RO_COUNTIES) & (check == d[12])


def tr_kimlik(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """T.C. Kimlik: two check digits from the first nine."""
    d = digits(key, 11)
    first = (10 - weighted(d, (3, 1, 3, 1, 3, 1, 3, 1, 3)) % 10) % 10
    second = (first + pl.sum_horizontal(d[:9])) % 10
    return (first == d[9]) & (second == d[10])


def us_ssn(key: pl.Expr, country: pl.Expr) -> pl.Expr:
    """SSN: no area 000, 666 or 9xx, no group 00, no serial 0000, not a published sample."""
    area = key.str.slice(0, 3)
    return (
        ~area.is_in(["000", "666"])
        & (key.str.slice(0, 1) != "9")
        & (key.str.slice(3, 2) != "00")
        & (key.str.slice(5, 4) != "0000")
        & ~key.is_in(["078051120", "457555462", "219099999"])
    )


CHECKS: dict[str, Check] = {
    "default": default,
    "eidas": eidas,
    "eleven_proof": eleven_proof,
    "fr_nir": mod97_nir,
    "de_idnr": de_idnr,
    "de_rvnr": de_rvnr,
    "lu_matricule": lu_matricule,
    "it_codice_fiscale": it_codice_fiscale,
    "es_dni_nie": es_dni_nie,
    "pt_nif": pt_nif,
    "pl_pesel": pl_pesel,
    "ro_cnp": ro_cnp,
    "tr_kimlik": tr_kimlik,
    "us_ssn": us_ssn,
}
