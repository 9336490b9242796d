"""The check algorithms against python-stdnum (the oracle) and the official worked examples.

Property tests draw synthetic valid keys of a rule (``generate_valid_keys``) and one-character
typos of them (a character changed, dropped, added or two swapped), check the whole batch as
one polars column, and compare every verdict with stdnum's ``is_valid``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.pt import nif
from stdnum.ro import cnp
from stdnum.tr import tckimlik
from stdnum.us import ssn

from schemas.formats import apply_key_formats, load_catalogue
from schemas.formats.algorithms import CHECKS
from schemas.formats.arithmetic import is_calendar_date, luhn_digit, verhoeff_digit
from schemas.formats.generate import generate_valid_keys

# rule id -> (country, key type, stdnum's verdict)
ORACLES: dict[str, tuple[str, str, Callable[[str], bool]]] = {
    "NL-BSN": ("NL", "TAX_NUMBER", bsn.is_valid),
    "FR-NIR": ("FR", "SOCIAL_SECURITY", nir.is_valid),
    "DE-IDNR": ("DE", "TAX_NUMBER", idnr.is_valid),
    "IT-CF": ("IT", "TAX_NUMBER", codicefiscale.is_valid),
    "ES-DNI-NIE": ("ES", "IDENTITY_CARD", lambda key: dni.is_valid(key) or nie.is_valid(key)),
    "PT-NIF": ("PT", "TAX_NUMBER", nif.is_valid),
    "PL-PESEL": ("PL", "NATIONAL_NUMBER", pesel.is_valid),
    "RO-CNP": ("RO", "NATIONAL_NUMBER", cnp.is_valid),
    "TR-KIMLIK": ("TR", "NATIONAL_NUMBER", tckimlik.is_valid),
    "US-SSN": ("US", "SOCIAL_SECURITY", ssn.is_valid),
}
# What a typist hits: digits, letters of both cases, and the separators people write.
TYPED = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz -./"
BATCH = 50


CATALOGUE = load_catalogue()


@functools.cache
def valid_pool(rule_id: str) -> tuple[str, ...]:
    return tuple(generate_valid_keys(rule_id, 1_000, seed=7064, catalogue=CATALOGUE).to_list())


def verdicts(rule_id: str, keys: list[str]) -> list[bool | None]:
    country, key_type, _ = ORACLES[rule_id]
    frame = pl.DataFrame({"country": country, "key_type": key_type, "foreign_key": keys})
    checked = apply_key_formats(frame, catalogue=CATALOGUE)
    assert checked["key_rule"].unique().to_list() == [rule_id]
    return checked["key_format_ok"].to_list()


def typo(key: str, how: int, position: int, character: str) -> str:
    """``key`` with one typing error: a character changed, dropped, added, or two swapped."""
    at = position % len(key)
    if how == 0:
        return key[:at] + character + key[at + 1 :]
    if how == 1:
        return key[:at] + key[at + 1 :]
    if how == 2:
        return key[:at] + character + key[at:]
    return key[:at] + key[at + 1 : at + 2] + key[at] + key[at + 2 :]


typos = st.lists(
    st.tuples(st.integers(0, 999), st.integers(0, 3), st.integers(0, 20), st.sampled_from(TYPED)),
    min_size=BATCH,
    max_size=BATCH,
)


@pytest.mark.parametrize("rule_id", sorted(ORACLES))
@settings(max_examples=10, deadline=None)
@given(changes=typos)
def test_valid_keys_and_their_typos_agree_with_stdnum(rule_id, changes):
    pool = valid_pool(rule_id)
    originals = [pool[pick] for pick, *_ in changes]
    keys = originals + [typo(pool[pick], how, at, char) for pick, how, at, char in changes]
    oracle = ORACLES[rule_id][2]
    expected = [oracle(key) for key in keys]
    assert all(expected[: len(originals)]), "the generator drew a key stdnum refuses"
    got = verdicts(rule_id, keys)
    assert [(key, ok) for key, ok in zip(keys, got, strict=True) if ok != oracle(key)] == []


@pytest.mark.parametrize("rule_id", sorted(ORACLES))
def test_the_catalogue_example_agrees_with_stdnum(rule_id):
    example = CATALOGUE.rule(rule_id).example
    assert ORACLES[rule_id][2](example)
    assert verdicts(rule_id, [example]) == [True]


@pytest.mark.parametrize("name", [name for name, check in CHECKS.items() if check.shape])
def test_a_check_accepts_only_keys_of_its_shape(name):
    """The promise that lets a rule skip its pattern and the refusals (``Check.shape``)."""
    rules = [rule for rule in CATALOGUE.rules if rule.check == name]
    pool = [key for rule in rules for key in generate_valid_keys(rule.rule_id, 300, seed=1)]
    keys = pool + [typo(key, how, at, char) for key in pool for how, at, char in
                   [(0, 3, "-"), (2, 0, "+"), (0, 0, "="), (2, 5, "\x00"), (0, 2, "a")]]  # fmt: skip
    frame = pl.DataFrame({"key": keys, "country": "NL"})
    accepted = frame.filter(CHECKS[name](pl.col("key")).fill_null(False))["key"]
    shape = CHECKS[name].shape
    assert accepted.len() >= len(pool)
    assert accepted.str.contains(f"^(?:{shape})$").all()
    assert not accepted.str.contains(r"^[=+\-@]|\p{Cc}").any()


def check(name: str, keys: list[str], country: str = "XX") -> list[bool]:
    frame = pl.DataFrame({"key": keys, "country": country})
    return frame.select(CHECKS[name](pl.col("key")).fill_null(False).alias("ok"))["ok"].to_list()


def test_rentenversicherungsnummer_worked_examples():
    """VKVV section 2: the initial counts as its place in the alphabet (two digits), the 12
    digits are weighted 2,1,2,5,7,1,2,1,2,1,2,1, the digit sums of the products are added,
    and the check digit is that sum mod 10.

    65 170839 J 00 3: 6 5 1 7 0 8 3 9 | J=10 -> 1 0 | 0 0; products 12 5 2 35 0 8 6 9 2 0 0 0;
    digit sums 3+5+2+8+0+8+6+9+2+0+0+0 = 43 -> 3. 10 010490 A 44 3 is the worked example of
    kryptografie.de's description of the procedure (sum 33 -> 3).
    """
    assert check("rvnr_mod10", ["65170839J003", "10010490A443"]) == [True, True]
    typos_of_them = ["65170839J004", "65170893J003", "65170839K003", "10010490A453", "1001049A443"]
    assert check("rvnr_mod10", typos_of_them) == [False] * 5
    # Birth dates need not exist: unknown days are 00, and exhausted serials add 32 to the day.
    assert check("rvnr_mod10", ["65000039J005", "65490839J000"]) == [True, True]


def test_luxembourg_matricule_worked_examples():
    """Reglement grand-ducal of 28 November 2013, art. 1: YYYYMMDD + 3 digits + a Luhn digit and
    a Verhoeff digit, both over the first 11 digits. 1893120105732 is the example that the
    Luxembourg tax authority publishes (OECD TIN sheet): born 1 December 1893, serial 057,
    Luhn 3, Verhoeff 2."""
    assert check("luhn_verhoeff", ["1893120105732"]) == [True]
    assert (
        check("luhn_verhoeff", ["1893120105733", "1893120105722", "1893121005732"]) == [False] * 3
    )
    # An unknown month and day are written 00 (art. 1, last paragraph).
    assert check("luhn_verhoeff", ["1960000012367", "1983081246785"]) == [True, True]
    assert check("luhn_verhoeff", ["1983131246785"]) == [False]  # month 13


def test_check_digit_functions_agree_with_the_checks():
    body = pl.DataFrame({"n": [18931201057, 19600000123, 19830812467]})
    digits_of = [pl.col("n") // 10 ** (10 - place) % 10 for place in range(11)]
    got = body.select(luhn=luhn_digit(digits_of), verhoeff=verhoeff_digit(digits_of))
    assert got.rows() == [(3, 2), (6, 7), (8, 5)]


def test_calendar_dates_agree_with_python():
    import datetime as dt

    days = [(year, month, day) for year in (1900, 2000, 2023, 2024) for month in range(14)
            for day in range(33)]  # fmt: skip
    frame = pl.DataFrame(days, schema=["year", "month", "day"], orient="row")
    got = frame.select(is_calendar_date(pl.col("year"), pl.col("month"), pl.col("day")))

    def exists(year: int, month: int, day: int) -> bool:
        try:
            dt.date(year, month, day)
        except ValueError:
            return False
        return True

    assert got.to_series().to_list() == [exists(*day) for day in days]


def test_a_check_is_one_expression_that_works_anywhere():
    """``check(key)`` needs no staging: usable in a filter, a pandera check, a select."""
    frame = pl.DataFrame({"key": ["123456782", "123456783", None]})
    verdict = CHECKS["eleven_proof"](pl.col("key")).alias("ok")
    assert frame.select(verdict)["ok"].to_list() == [True, False, None]
    assert frame.filter(verdict)["key"].to_list() == ["123456782"]
