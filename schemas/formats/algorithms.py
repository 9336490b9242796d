"""Check algorithms of foreign identifiers, registered by name for the catalogue's ``check``.

A check turns the normalised key into a boolean expression over the whole column: true when
the key is valid, false or null when it is not (callers treat null as false). Every check
tests the shape it needs itself, so it stays right under a looser catalogue pattern.

A check has two halves: ``parse`` reads the key into a few integer columns (the key as a
number, its digits), ``verdict`` decides from them. ``check(key)`` composes both into one plain
``pl.Expr -> pl.Expr``; ``apply_key_formats`` materialises the readings first, which makes the
verdicts' table lookups several times faster than over an expression. The check-digit
functions are shared with ``generate``, which computes the digits that these checks test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from schemas.formats.arithmetic import (
    base36_digits,
    digits,
    is_calendar_date,
    iso7064_mod11_10,
    lookup,
    luhn,
    mod97_key,
    parse_digits,
    verhoeff,
    weighted_sum,
)

Readings = Mapping[str, pl.Expr]
BASE36_A = 10  # str.to_integer(base=36) reads A as 10 ... Z as 35


def _no_readings(key: pl.Expr) -> dict[str, pl.Expr]:
    return {}


@dataclass(frozen=True)
class Check:
    """A check algorithm: ``parse`` names integer readings of the key, ``verdict`` decides from
    the key and those readings. ``shape``: a pattern that every key the check accepts matches
    in full, and that admits nothing every rule refuses (``rule.REFUSED``); None: no promise."""

    verdict: Callable[[pl.Expr, Readings], pl.Expr]
    parse: Callable[[pl.Expr], dict[str, pl.Expr]] = field(default=_no_readings)
    shape: str | None = None

    def __call__(self, key: pl.Expr) -> pl.Expr:
        """The whole check as one expression over the normalised key."""
        return self.verdict(key, self.parse(key))


def _number(width: int) -> Callable[[pl.Expr], dict[str, pl.Expr]]:
    """A parse: the key as the number ``n`` when it is ``width`` ASCII digits, and its digits
    ``d0`` (most significant) to ``d{width - 1}``."""

    def parse(key: pl.Expr) -> dict[str, pl.Expr]:
        number = parse_digits(key, width)
        return {"n": number, **_digit_readings(digits(number, width))}

    return parse


def _digit_readings(places: Sequence[pl.Expr]) -> dict[str, pl.Expr]:
    return {f"d{position}": place.cast(pl.Int32) for position, place in enumerate(places)}


def _digits(read: Readings, width: int) -> list[pl.Expr]:
    return [read[f"d{position}"] for position in range(width)]


# --- check digits, shared with the generator -----------------------------------------------

_RVNR_WEIGHTS = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
_CF_ODD = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25,
           24, 23)  # fmt: skip
_CF_ODD_BY_VALUE = (*_CF_ODD[:10], *_CF_ODD)  # by base-36 value: digits, then letters from A
_CF_EVEN_BY_VALUE = (*range(10), *range(26))
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def eleven_proof_remainder(values: Sequence[pl.Expr]) -> pl.Expr:
    """NL BSN: 9*d1 + 8*d2 + ... + 2*d8 mod 11, which d9 must equal."""
    return weighted_sum(values[:8], (9, 8, 7, 6, 5, 4, 3, 2)) % 11


def rvnr_check_digit(values: Sequence[pl.Expr]) -> pl.Expr:
    """DE RVNR: the 12 digits (initial as two) weighted 2,1,2,5,7,1,2,1,2,1,2,1; the digit sums
    of the products added, mod 10."""
    total = pl.lit(0, pl.Int32)
    for value, weight in zip(values, _RVNR_WEIGHTS, strict=True):
        digit_sums = tuple(weight * digit // 10 + weight * digit % 10 for digit in range(10))
        total = total + (value if weight == 1 else lookup(digit_sums, value))
    return total % 10


def codice_fiscale_letter(values: Sequence[pl.Expr]) -> pl.Expr:
    """IT codice fiscale: the check letter (A=0) of the first 15 characters as base-36 values,
    odd places (1st, 3rd, ...) by the odd table, even places by the even one, mod 26."""
    total = pl.lit(0, pl.Int32)
    for position, value in enumerate(values):
        table = _CF_ODD_BY_VALUE if position % 2 == 0 else _CF_EVEN_BY_VALUE
        total = total + lookup(table, value)
    return total % 26


def nif_check_digit(values: Sequence[pl.Expr]) -> pl.Expr:
    """PT NIF: (11 - (d1..d8 weighted 9..2) mod 11) mod 11 mod 10."""
    return (11 - weighted_sum(values[:8], (9, 8, 7, 6, 5, 4, 3, 2)) % 11) % 11 % 10


def pesel_check_digit(values: Sequence[pl.Expr]) -> pl.Expr:
    """PL PESEL: (10 - (d1..d10 weighted 1,3,7,9,...) mod 10) mod 10."""
    return (10 - weighted_sum(values[:10], (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)) % 10) % 10


def cnp_check_digit(values: Sequence[pl.Expr]) -> pl.Expr:
    """RO CNP: d1..d12 weighted 2,7,9,1,4,6,3,5,8,2,7,9 mod 11, where 10 counts as 1."""
    remainder = weighted_sum(values[:12], (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11
    return remainder - (remainder == 10).cast(pl.Int32) * 9


def kimlik_check_digits(values: Sequence[pl.Expr]) -> tuple[pl.Expr, pl.Expr]:
    """TR Kimlik: d10 = (10 - (3*odd + even places of d1..d9) mod 10) mod 10 and
    d11 = (d10 + d1 + ... + d9) mod 10."""
    first = (10 - weighted_sum(values[:9], (3, 1, 3, 1, 3, 1, 3, 1, 3)) % 10) % 10
    return first, (first + weighted_sum(values[:9], (1,) * 9)) % 10


# --- the identifiers: each verdict reads the key and the readings its parse named ----------


def _default(key: pl.Expr, read: Readings) -> pl.Expr:
    """The register's default: at least 5 characters and at least one digit."""
    return (key.str.len_chars() >= 5) & key.str.contains("[0-9]")


_EIDAS_SHAPE = r"[A-Z]{2}/[A-Z]{2}/[^\s\p{Cc}]+"


def _eidas(key: pl.Expr, read: Readings) -> pl.Expr:
    """eIDAS PersonIdentifier ``XX/YY/rest`` (SAML Attribute Profile 1.2, 2.2.3): XX and YY
    upper-case country codes, a rest that is not empty (it may hold slashes), no whitespace
    (nor control characters), at most 256 characters, and XX the row's ``country`` (EL and UK
    stand for GR and GB)."""
    country = pl.col("country")
    same_country = (
        key.str.starts_with(country)
        | ((country == "GR") & key.str.starts_with("EL"))
        | ((country == "GB") & key.str.starts_with("UK"))
    )
    return key.str.contains(f"^{_EIDAS_SHAPE}$") & (key.str.len_chars() <= 256) & same_country


def _eleven_proof(key: pl.Expr, read: Readings) -> pl.Expr:
    """NL BSN: 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11, and not 000000000."""
    values = _digits(read, 9)
    return (eleven_proof_remainder(values) == values[8]) & (read["n"] > 0)


def _nir_parse(key: pl.Expr) -> dict[str, pl.Expr]:
    return {
        "head": parse_digits(key.str.slice(0, 5), 5),
        "department": key.str.slice(5, 2),  # two digits, or 2A / 2B for Corsica
        "tail": parse_digits(key.str.slice(7, 8), 8),
        "length": key.str.len_bytes(),
    }


def _nir_mod97(key: pl.Expr, read: Readings) -> pl.Expr:
    """FR NIR: 13 characters (a department 2A/2B counts as 19/18) and a two-digit key,
    97 - (the 13 as a number mod 97)."""
    department = read["department"]
    counted = (
        pl.when(department == "2A").then(19).when(department == "2B").then(18)
        .otherwise(parse_digits(department, 2))
    )  # fmt: skip
    body = read["head"] * 10**8 + counted * 10**6 + read["tail"] // 100
    return (read["length"] == 15) & (mod97_key(body) == read["tail"] % 100)


_POWERS_OF_TWO = tuple(2**digit for digit in range(10))


def _idnr_mod11_10(key: pl.Expr, read: Readings) -> pl.Expr:
    """DE Steuer-IdNr: 11 digits, no leading 0; in the first 10 exactly one digit occurs more
    than once, 2 or 3 times; ISO 7064 MOD 11,10 check digit."""
    values = _digits(read, 11)
    bits = [lookup(_POWERS_OF_TWO, value) for value in values[:10]]
    seen, total = bits[0], bits[0]
    for bit in bits[1:]:
        seen, total = seen | bit, total + bit
    # total - seen = the sum of (count - 1) * 2**digit: a single bit when one digit repeats 2 or
    # 3 times (or 5 times, or two digits 3 and 2 times: then fewer than 8 digits are seen).
    one_repeated = ((total - seen).bitwise_count_ones() == 1) & (seen.bitwise_count_ones() >= 8)
    return (values[0] != 0) & one_repeated & iso7064_mod11_10(values)


def _rvnr_parse(key: pl.Expr) -> dict[str, pl.Expr]:
    head = key.str.slice(0, 8).str.to_integer(strict=False)
    initial = key.str.slice(8, 1).str.to_integer(base=36, strict=False) - (BASE36_A - 1)
    return {
        "shaped": key.str.contains(r"^[0-9]{8}[A-Z][0-9]{3}$"),
        **_digit_readings(digits(head, 8)),
        "initial": initial,  # A=1 ... Z=26
        "tail": key.str.slice(9, 3).str.to_integer(strict=False),
    }


def _rvnr_mod10(key: pl.Expr, read: Readings) -> pl.Expr:
    """DE Rentenversicherungsnummer (VKVV section 2): area (2) + birth date DDMMYY + initial of
    the birth name + serial (2) + check digit. The initial counts as its two-digit place in
    the alphabet (A=01); the check digit is ``rvnr_check_digit`` of the 12 digits."""
    initial, tail = read["initial"], read["tail"]
    values = [*_digits(read, 8), initial // 10, initial % 10, tail // 100, tail // 10 % 10]
    return read["shaped"] & (rvnr_check_digit(values) == tail % 10)


def _luhn_verhoeff(key: pl.Expr, read: Readings) -> pl.Expr:
    """LU matricule (reglement grand-ducal of 28 November 2013, art. 1): YYYYMMDD (month and
    day 00 when unknown) + 3 digits, then a Luhn and a Verhoeff check digit, each computed
    over the first 11 digits."""
    values = _digits(read, 13)
    month, day = values[4] * 10 + values[5], values[6] * 10 + values[7]
    first = values[:11]
    return (
        month.is_between(0, 12)
        & day.is_between(0, 31)
        & luhn([*first, values[11]])
        & verhoeff([*first, values[12]])
    )


_CF_SHAPE = "[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
# Omocodia: a digit of the date may be written L M N P Q R S T U V (0-9); -1: not a digit.
_CF_DATE_DIGIT = tuple(
    value if value < 10 else "LMNPQRSTUV".find(chr(ord("A") + value - 10)) for value in range(36)
)
_CF_MONTH = tuple(  # 0: not a month letter
    "ABCDEHLMPRST".find(chr(ord("A") + value - 10)) + 1 if value >= 10 else 0 for value in range(36)
)


def _cf_parse(key: pl.Expr) -> dict[str, pl.Expr]:
    head = key.str.slice(0, 12).str.to_integer(base=36, strict=False)
    tail = key.str.slice(12, 4).str.to_integer(base=36, strict=False)
    return {
        "shaped": key.str.contains(f"^{_CF_SHAPE}$"),
        **_digit_readings([*base36_digits(head, 12), *base36_digits(tail, 4)]),
    }


def _codice_fiscale(key: pl.Expr, read: Readings) -> pl.Expr:
    """IT codice fiscale (16 characters): ``codice_fiscale_letter`` last, and a birth date that
    exists (day + 40 for women; the year read in 1920-2019, as python-stdnum reads it)."""
    values = _digits(read, 16)
    year_digits = [lookup(_CF_DATE_DIGIT, value) for value in values[6:8]]
    day_digits = [lookup(_CF_DATE_DIGIT, value) for value in values[9:11]]
    two_digit_year = year_digits[0] * 10 + year_digits[1]
    year = 1900 + two_digit_year + (two_digit_year < 20).cast(pl.Int32) * 100
    day = (day_digits[0] * 10 + day_digits[1]) % 40
    return (
        read["shaped"]
        & (codice_fiscale_letter(values[:15]) == values[15] - BASE36_A)
        & is_calendar_date(year, lookup(_CF_MONTH, values[8]), day)
    )


def _dni_parse(key: pl.Expr) -> dict[str, pl.Expr]:
    return {
        "shaped": key.str.contains(r"^(?:[0-9]{8}|[XYZ][0-9]{7})[A-Z]$"),
        "first": key.str.slice(0, 1).str.to_integer(base=36, strict=False),
        "rest": key.str.slice(1, 7).str.to_integer(strict=False),
        "letter": key.str.slice(8, 1).str.to_integer(base=36, strict=False),
    }


def _dni_nie_mod23(key: pl.Expr, read: Readings) -> pl.Expr:
    """ES DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter, X/Y/Z counting as
    0/1/2): the letter is TRWAGMYFPDXBNJZSQVHLCKE[number mod 23]."""
    first = read["first"]
    number = (first - (first >= 33).cast(pl.Int64) * 33) * 10**7 + read["rest"]  # X=33 in base 36
    expected = lookup([int(letter, 36) for letter in DNI_LETTERS], number % 23)
    return read["shaped"] & (read["letter"] == expected)


def _nif_mod11(key: pl.Expr, read: Readings) -> pl.Expr:
    """PT NIF: 9 digits, no leading 0, ``nif_check_digit`` last."""
    values = _digits(read, 9)
    return (values[0] != 0) & (nif_check_digit(values) == values[8])


def _pesel(key: pl.Expr, read: Readings) -> pl.Expr:
    """PL PESEL: 11 digits, ``pesel_check_digit`` last, a birth date that exists, the century
    in the month (+80 for the 1800s; +20, +40, +60 for the 2000s, 2100s, 2200s)."""
    values = _digits(read, 11)
    month = values[2] * 10 + values[3]
    century = 1800 + (month // 20 + 1) % 5 * 100  # month // 20: 0 the 1900s ... 4 the 1800s
    year = century + values[0] * 10 + values[1]
    born = is_calendar_date(year, month % 20, values[4] * 10 + values[5])
    return (pesel_check_digit(values) == values[10]) & born


def _cnp_mod11(key: pl.Expr, read: Readings) -> pl.Expr:
    """RO CNP: 13 digits, the first 1-9 (sex and century), a birth date that exists, a county
    code, ``cnp_check_digit`` last."""
    values = _digits(read, 13)
    sex = values[0]
    century = pl.when(sex.is_in([3, 4])).then(1800).when(sex.is_in([5, 6])).then(2000)
    year = century.otherwise(1900) + values[1] * 10 + values[2]
    born = is_calendar_date(year, values[3] * 10 + values[4], values[5] * 10 + values[6])
    county = values[7] * 10 + values[8]
    county_ok = county.is_between(1, 48) | county.is_in([51, 52, 70, 80, 81, 82, 83])
    return (sex != 0) & born & county_ok & (cnp_check_digit(values) == values[12])


def _kimlik(key: pl.Expr, read: Readings) -> pl.Expr:
    """TR T.C. Kimlik No: 11 digits, no leading 0, ``kimlik_check_digits`` last."""
    values = _digits(read, 11)
    first, second = kimlik_check_digits(values)
    return (values[0] != 0) & (first == values[9]) & (second == values[10])


_SSN_NEVER_ISSUED = (78051120, 457555462, 219099999)  # numbers published as samples


def _ssn_areas(key: pl.Expr, read: Readings) -> pl.Expr:
    """US SSN: 9 digits; area not 000, 666 or 9xx, group not 00, serial not 0000, and not one
    of the numbers published as samples."""
    number = read["n"]
    area, group, serial = number // 10**6, number // 10**4 % 100, number % 10**4
    valid_parts = (area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)
    return valid_parts & ~number.is_in(_SSN_NEVER_ISSUED)


CHECKS: dict[str, Check] = {
    "default": Check(_default),
    "eidas": Check(_eidas, shape=_EIDAS_SHAPE),
    "eleven_proof": Check(_eleven_proof, _number(9), "[0-9]{9}"),
    "nir_mod97": Check(_nir_mod97, _nir_parse, "[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}"),
    "idnr_mod11_10": Check(_idnr_mod11_10, _number(11), "[1-9][0-9]{10}"),
    "rvnr_mod10": Check(_rvnr_mod10, _rvnr_parse, "[0-9]{8}[A-Z][0-9]{3}"),
    "luhn_verhoeff": Check(_luhn_verhoeff, _number(13), "[0-9]{13}"),
    "codice_fiscale": Check(_codice_fiscale, _cf_parse, _CF_SHAPE),
    "dni_nie_mod23": Check(_dni_nie_mod23, _dni_parse, "[0-9]{8}[A-Z]|[XYZ][0-9]{7}[A-Z]"),
    "nif_mod11": Check(_nif_mod11, _number(9), "[1-9][0-9]{8}"),
    "pesel": Check(_pesel, _number(11), "[0-9]{11}"),
    "cnp_mod11": Check(_cnp_mod11, _number(13), "[1-9][0-9]{12}"),
    "kimlik": Check(_kimlik, _number(11), "[1-9][0-9]{10}"),
    "ssn_areas": Check(_ssn_areas, _number(9), "[0-9]{9}"),
}
