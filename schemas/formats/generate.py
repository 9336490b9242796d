"""Synthetic valid keys per rule, for property tests, the demo and benchmarks.

Keys are built column-wise: random parts from polars' hashing of a row range (no per-row
Python), check digits from the same functions the checks use, and only the keys that the
catalogue's rule accepts are kept (a body whose check digit cannot exist is drawn again).
Every key is computed from the rules, never taken from a real person.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import polars as pl

from schemas.formats.algorithms import (
    DNI_LETTERS,
    cnp_check_digit,
    codice_fiscale_letter,
    eleven_proof_remainder,
    kimlik_check_digits,
    nif_check_digit,
    pesel_check_digit,
    rvnr_check_digit,
)
from schemas.formats.arithmetic import (
    base36_digits,
    digits,
    iso7064_mod11_10_digit,
    lookup,
    luhn_digit,
    mod97_key,
    verhoeff_digit,
)
from schemas.formats.catalogue import Catalogue, load_catalogue
from schemas.formats.rule import ANY, KEY_FORMAT_OK

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE64 = _LETTERS + _LETTERS.lower() + "0123456789+/"


class _Draw:
    """Independent random columns of one draw of ``count`` rows."""

    def __init__(self, count: int, seed: int) -> None:
        self.rows = pl.int_range(0, count, dtype=pl.UInt64)
        self.seed = seed
        self.salt = 0

    def number(self, low: int, high: int) -> pl.Expr:
        """Uniform in [low, high]."""
        self.salt += 1
        spread = high - low + 1
        return (self.rows.hash(self.seed * 7919 + self.salt) % spread).cast(pl.Int64) + low

    def text(self, low: int, high: int, width: int) -> pl.Expr:
        return _text(self.number(low, high), width)

    def pick(self, alphabet: str, width: int = 1) -> pl.Expr:
        last = len(alphabet) - 1
        return pl.concat_str([_char(alphabet, self.number(0, last)) for _ in range(width)])


def _text(value: pl.Expr, width: int) -> pl.Expr:
    return value.cast(pl.String).str.zfill(width)


def _char(alphabet: str, index: pl.Expr) -> pl.Expr:
    return pl.lit(alphabet).str.slice(index, 1)


def _bsn(draw: _Draw) -> pl.Expr:
    body = draw.number(1, 10**8 - 1)
    check = eleven_proof_remainder(digits(body, 8))  # 10 cannot be written: dropped later
    return pl.concat_str([_text(body, 8), check.cast(pl.String)])


def _nir(draw: _Draw) -> pl.Expr:
    department = draw.number(1, 97)  # 96, 97: Corsica's 2A, 2B (19, 18 in the key)
    corsica = department >= 96
    written = pl.when(corsica).then(_char("AB", department - 96)).otherwise(None)
    written = pl.when(corsica).then(pl.concat_str([pl.lit("2"), written]))
    counted = pl.when(corsica).then(115 - department).otherwise(department)
    head = draw.number(1, 2) * 10**4 + draw.number(0, 99) * 100 + draw.number(1, 12)
    place = draw.number(1, 999_999)
    key = mod97_key(head * 10**8 + counted * 10**6 + place)
    department_text = written.otherwise(_text(department, 2))
    return pl.concat_str([_text(head, 5), department_text, _text(place, 6), _text(key, 2)])


def _orders(seed: int, count: int = 1000) -> tuple[int, ...]:
    """``count`` fixed random orders of 0-9, flattened (data for the generator, not rows)."""
    shuffler = random.Random(seed)
    table: list[int] = []
    for _ in range(count):
        order = list(range(10))
        shuffler.shuffle(order)
        table.extend(order)
    return tuple(table)


_IDNR_ORDERS = (_orders(1), _orders(2))


def _idnr(draw: _Draw) -> pl.Expr:
    # Ten different digits (two table orders composed: a million orders), then one digit
    # copied over another: exactly one digit occurs twice, as the Steuer-IdNr requires.
    first, second = draw.number(0, 999), draw.number(0, 999)

    def ordered(position: pl.Expr | int) -> pl.Expr:
        once = lookup(_IDNR_ORDERS[0], first * 10 + position)
        return lookup(_IDNR_ORDERS[1], second * 10 + once)

    target, source = draw.number(0, 9), draw.number(0, 8)
    copied = ordered(pl.when(source >= target).then(source + 1).otherwise(source))
    values = [
        pl.when(target == place).then(copied).otherwise(ordered(place)) for place in range(10)
    ]
    check = iso7064_mod11_10_digit(values)
    return pl.concat_str([value.cast(pl.String) for value in (*values, check)])


def _rvnr(draw: _Draw) -> pl.Expr:
    area_and_birth = [draw.text(2, 89, 2), draw.text(1, 28, 2), draw.text(1, 12, 2)]
    head = pl.concat_str([*area_and_birth, draw.text(0, 99, 2)])
    initial, serial = draw.number(1, 26), draw.number(0, 99)
    values = [*digits(head.str.to_integer(), 8), initial // 10, initial % 10, serial // 10,
              serial % 10]  # fmt: skip
    check = rvnr_check_digit(values).cast(pl.String)
    return pl.concat_str([head, _char(_LETTERS, initial - 1), _text(serial, 2), check])


def _matricule(draw: _Draw) -> pl.Expr:
    birth = [draw.text(1900, 2025, 4), draw.text(1, 12, 2), draw.text(1, 28, 2)]
    body = pl.concat_str([*birth, draw.text(0, 999, 3)])
    values = digits(body.str.to_integer(), 11)
    checks = [luhn_digit(values).cast(pl.String), verhoeff_digit(values).cast(pl.String)]
    return pl.concat_str([body, *checks])


def _codice_fiscale(draw: _Draw) -> pl.Expr:
    day = _text(draw.number(1, 28) + draw.number(0, 1) * 40, 2)  # + 40: a woman
    body = pl.concat_str([
        draw.pick(_LETTERS, 6), draw.text(0, 99, 2), draw.pick("ABCDEHLMPRST"), day,
        draw.pick(_LETTERS), draw.text(0, 999, 3),
    ])  # fmt: skip
    head = body.str.slice(0, 12).str.to_integer(base=36)
    tail = body.str.slice(12, 3).str.to_integer(base=36)
    letter = codice_fiscale_letter([*base36_digits(head, 12), *base36_digits(tail, 3)])
    return pl.concat_str([body, _char(_LETTERS, letter)])


def _dni_nie(draw: _Draw) -> pl.Expr:
    nie, lead = draw.number(0, 4) == 0, draw.number(0, 2)  # one in five a foreigner's NIE
    seven = draw.number(0, 10**7 - 1)
    number = pl.when(nie).then(lead * 10**7 + seven).otherwise(draw.number(0, 10**8 - 1))
    written = pl.when(nie).then(pl.concat_str([_char("XYZ", lead), _text(seven, 7)]))
    return pl.concat_str([written.otherwise(_text(number, 8)), _char(DNI_LETTERS, number % 23)])


def _nif(draw: _Draw) -> pl.Expr:
    body = draw.number(10**7, 10**8 - 1)
    return pl.concat_str([_text(body, 8), nif_check_digit(digits(body, 8)).cast(pl.String)])


def _pesel(draw: _Draw) -> pl.Expr:
    month = draw.number(1, 12) + draw.number(0, 1) * 20  # + 20: born in the 2000s
    birth = [draw.text(0, 99, 2), _text(month, 2), draw.text(1, 28, 2)]
    head = pl.concat_str([*birth, draw.text(0, 9999, 4)])
    check = pesel_check_digit(digits(head.str.to_integer(), 10))
    return pl.concat_str([head, check.cast(pl.String)])


_CNP_COUNTIES = pl.Series([f"{code:02d}" for code in (*range(1, 47), 51, 52)])


def _cnp(draw: _Draw) -> pl.Expr:
    county = pl.lit(_CNP_COUNTIES).gather(draw.number(0, len(_CNP_COUNTIES) - 1))
    birth = [draw.text(1, 6, 1), draw.text(0, 99, 2), draw.text(1, 12, 2), draw.text(1, 28, 2)]
    head = pl.concat_str([*birth, county, draw.text(0, 999, 3)])
    check = cnp_check_digit(digits(head.str.to_integer(), 12))
    return pl.concat_str([head, check.cast(pl.String)])


def _kimlik(draw: _Draw) -> pl.Expr:
    body = draw.number(10**8, 10**9 - 1)
    checks = kimlik_check_digits(digits(body, 9))
    return pl.concat_str([body.cast(pl.String), *[check.cast(pl.String) for check in checks]])


def _ssn(draw: _Draw) -> pl.Expr:
    return pl.concat_str([draw.text(1, 899, 3), draw.text(1, 99, 2), draw.text(1, 9999, 4)])


def _default(draw: _Draw) -> pl.Expr:
    return pl.concat_str([draw.pick(_LETTERS, 2), draw.text(0, 10**7 - 1, 7)])


def _eidas(draw: _Draw) -> pl.Expr:
    return pl.concat_str([pl.lit("NL/BE/"), draw.pick(_BASE64, 24)])


GENERATORS: dict[str, Callable[[_Draw], pl.Expr]] = {
    "DEFAULT": _default,
    "EIDAS": _eidas,
    "NL-BSN": _bsn,
    "FR-NIR": _nir,
    "DE-IDNR": _idnr,
    "DE-RVNR": _rvnr,
    "LU-MATRICULE": _matricule,
    "IT-CF": _codice_fiscale,
    "ES-DNI-NIE": _dni_nie,
    "PT-NIF": _nif,
    "PL-PESEL": _pesel,
    "RO-CNP": _cnp,
    "TR-KIMLIK": _kimlik,
    "US-SSN": _ssn,
}


def generate_valid_keys(
    rule_id: str, n: int, *, seed: int, catalogue: Catalogue | None = None
) -> pl.Series:
    """``n`` distinct keys (in normalised form) that follow rule ``rule_id``, the same for the
    same seed; eIDAS keys are NL's (``NL/BE/...``). ``catalogue`` None: the packaged one."""
    if rule_id not in GENERATORS:
        raise ValueError(f"no generator for rule {rule_id}; known: {', '.join(GENERATORS)}")
    rule = (catalogue or load_catalogue()).rule(rule_id)
    country = "NL" if rule.country == ANY else rule.country
    found = pl.Series("foreign_key", [], dtype=pl.String)
    for attempt in range(20):
        draw = _Draw((n - found.len()) * 5 // 4 + 16, seed * 100 + attempt)
        candidates = pl.LazyFrame().select(
            GENERATORS[rule_id](draw).alias("foreign_key"), country=pl.lit(country)
        )
        valid = rule.evaluate(candidates).filter(pl.col(KEY_FORMAT_OK)).collect()
        found = pl.concat([found, valid["foreign_key"]]).unique(maintain_order=True)
        if found.len() >= n:
            return found.head(n)
    raise ValueError(f"could not draw {n} distinct valid keys for {rule_id}")
