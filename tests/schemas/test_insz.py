"""INSZ normalisation and checks, with python-stdnum as the oracle."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.be import nn, ssn
from stdnum.util import _char_map as stdnum_look_alikes

from schemas.insz import (
    insz_as_integer,
    insz_as_text,
    insz_number,
    is_valid_insz,
    is_valid_insz_number,
    normalise_insz,
)

REFERENCE = dt.date(2025, 11, 29)

# The synthetic examples of DOMAIN.md (computed from the rules, not real people).
DOMAIN_VALID = [
    "90010100123",  # RR 1990
    "01020300269",  # RR 2001, `2` prefix
    "50000012354",  # RR, month and day unknown
    "00000101750",  # RR, fictitious date
    "64041204297",  # check = 97
    "72431501191",  # BIS, sex known
    "03513002410",  # BIS 2003
    "68290100544",  # BIS, sex unknown
    "00400100353",  # BIS, fictitious date
]
DOMAIN_INVALID = [
    "90010100124",  # check
    "9001010012",  # length
    "9001O100145",  # letter O
    "00000000000",  # all zeros
    "64041204200",  # check 00
    "90130100110",  # month 13
    "90190000182",  # month 19
    "90330100153",  # month 33
    "90600100148",  # month 60
]
PRINTED = {
    "85.07.30-033.28": "85073003328",
    "85 07 30 033 28": "85073003328",
    "85.07.30-033 28": "85073003328",
    " 72.43.15-011.91\n": "72431501191",
    "98.47.28-997.65": "98472899765",
    "01-02-03 002-69": "01020300269",
    # tab, no-break space, narrow no-break space, en dash, middle dot
    "\t90\u00a001\u202f01\u2013001\u00b723 ": "90010100123",
    "９００１０１００１２３": "90010100123",  # full-width digits: stdnum reads them as digits
}
PROPERTY = settings(max_examples=300, deadline=None)

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
FULL_WIDTH = "０１２３４５６７８９"
BOLD = "".join(chr(0x1D7CE + d) for d in range(10))  # MATHEMATICAL BOLD DIGIT ZERO..NINE
NOISE = " .-\t\n\u00a0\u2013\u2212\u00b7\u3000\u2028\u001f\u200b+/,:Oolaé"


def ours(texts: Sequence[str | None], reference_date: dt.date = REFERENCE) -> list[bool | None]:
    frame = pl.DataFrame({"insz": texts}, schema={"insz": pl.String})
    verdict = is_valid_insz(normalise_insz(pl.col("insz")), reference_date=reference_date)
    return frame.select(verdict).to_series().to_list()


@contextmanager
def stdnum_today(day: dt.date) -> Iterator[None]:
    """stdnum.be.nn reads ``datetime.date.today()`` for the 2000+ rule: make it ``day``."""

    class Frozen(dt.date):
        @classmethod
        def today(cls) -> Frozen:
            return cls(day.year, day.month, day.day)

    with mock.patch.object(nn, "datetime", SimpleNamespace(date=Frozen)):
        yield


def stdnum_verdict(text: str) -> bool:
    # Our one deliberate difference: we strip whitespace anywhere, stdnum strips the ends and
    # only spaces (and their look-alikes) inside, so an inner tab fails its digit check. Where
    # stdnum's compact form keeps whitespace, it is asked about the text without it.
    if any(char.isspace() for char in nn.compact(text)):
        text = "".join(text.split())
    return ssn.is_valid(text)


def assert_agrees_with_stdnum(texts: list[str], reference_date: dt.date = REFERENCE) -> None:
    verdicts = ours(texts, reference_date)
    with stdnum_today(reference_date):
        expected = [stdnum_verdict(text) for text in texts]
    for text, verdict, oracle in zip(texts, verdicts, expected, strict=True):
        # Null only when nothing is left after normalisation, which stdnum calls invalid.
        assert (verdict is None) == (nn.compact("".join(text.split())) == ""), repr(text)
        assert bool(verdict) == oracle, f"{text!r} at {reference_date}: ours {verdict}"


def build_insz(year: int, month: int, day: int, serial: int) -> str:
    """The number with the check digits of its century, whether or not that century is allowed."""
    body = year % 100 * 10**7 + month * 10**5 + day * 10**3 + serial
    prefixed = body + (2 * 10**9 if year >= 2000 else 0)
    return f"{body * 100 + 97 - prefixed % 97:011d}"


# Months and days out of range too, with right check digits, so that only the date rules decide.
any_insz = st.builds(
    build_insz,
    year=st.integers(1900, 2099),
    month=st.builds(
        lambda month, offset: month + offset, st.integers(0, 12), st.sampled_from([0, 20, 40])
    )
    | st.sampled_from([13, 19, 20, 32, 33, 39, 40, 52, 53, 59, 60, 72, 80, 99])  # the edges
    | st.integers(0, 99),
    day=st.integers(0, 31) | st.integers(0, 99),
    serial=st.integers(0, 999),
)
reference_dates = st.dates(dt.date(1995, 1, 1), dt.date(2105, 12, 31))


@st.composite
def one_change(draw: st.DrawFn, numbers: st.SearchStrategy[str]) -> str:
    """A number with one character substituted, deleted, inserted or two neighbours swapped."""
    text = draw(numbers)
    at = draw(st.integers(0, len(text) - 1))
    char = draw(st.sampled_from("0123456789O " + ARABIC_INDIC[:3] + FULL_WIDTH[:3]))
    return draw(
        st.sampled_from(
            [
                text[:at] + char + text[at + 1 :],
                text[:at] + text[at + 1 :],
                text[:at] + char + text[at:],
                text[:at] + text[at + 1 : at + 2] + text[at : at + 1] + text[at + 2 :],
            ]
        )
    )


@st.composite
def dressed(draw: st.DrawFn, numbers: st.SearchStrategy[str]) -> str:
    """A number with its digits in other scripts and separators around them."""
    glyphs = st.sampled_from(["ascii"] * 6 + ["full width", "bold", "arabic-indic"])
    separators = st.text(alphabet=" .-\t\u00a0\u2013\u00b7", max_size=2)
    parts = [draw(separators)]
    for digit in map(int, draw(numbers)):
        script = {"full width": FULL_WIDTH, "bold": BOLD, "arabic-indic": ARABIC_INDIC}
        parts += [script.get(draw(glyphs), "0123456789")[digit], draw(separators)]
    return "".join(parts)


@pytest.mark.parametrize("number", DOMAIN_VALID)
def test_domain_valid_examples(number: str) -> None:
    assert ours([number]) == [True]
    with stdnum_today(REFERENCE):
        assert ssn.is_valid(number)


@pytest.mark.parametrize("number", DOMAIN_INVALID)
def test_domain_invalid_examples(number: str) -> None:
    assert ours([number]) == [False]
    with stdnum_today(REFERENCE):
        assert not ssn.is_valid(number)


@pytest.mark.parametrize(("printed", "digits"), PRINTED.items())
def test_printed_forms_are_normalised(printed: str, digits: str) -> None:
    frame = pl.DataFrame({"insz": [printed]}).select(normalise_insz(pl.col("insz")))
    assert frame.item() == digits
    assert ours([printed]) == [True]
    assert ssn.is_valid(printed)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("", None),
        (" .- \t", None),
        (None, None),
        ("9001O100145", "9001O100145"),  # letters stay, so that they fail
        ("abc", "abc"),
        ("٩٠٠١٠١٠٠١٢٣", "٩٠٠١٠١٠٠١٢٣"),  # Arabic-Indic digits stay, so that they fail
        ("+90010100123", "+90010100123"),
        ("90/01/01", "90/01/01"),
    ],
)
def test_normalise_insz_changes_nothing_else(raw: str | None, normalised: str | None) -> None:
    frame = pl.DataFrame({"insz": [raw]}, schema={"insz": pl.String})
    assert frame.select(normalise_insz(pl.col("insz"))).item() == normalised


def test_every_whitespace_character_is_stripped() -> None:
    spaces = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    assert ours([f"{space}900101{space}001{space}23{space}" for space in spaces]) == [True] * len(
        spaces
    )


def test_stdnum_look_alikes_are_read_as_stdnum_reads_them() -> None:
    # Every character stdnum maps to ASCII, put at each place a digit or separator can go.
    texts = [
        text
        for char in stdnum_look_alikes
        for text in ("9001010012" + char + "3", "9001010012" + char, char + "0010100123")
    ]
    assert_agrees_with_stdnum(texts)


def test_non_ascii_digits() -> None:
    assert ours(["٩٠٠١٠١٠٠١٢٣", "۹۰۰۱۰۱۰۰۱۲۳", "९००१०१००१२३", FULL_WIDTH[9] + "0010100123"]) == [
        False,
        False,
        False,
        True,
    ]
    assert_agrees_with_stdnum(["٩٠٠١٠١٠٠١٢٣", "۹۰۰۱۰۱۰۰۱۲۳", "९००१०१००१२३", "٣" * 11])


def test_null_stays_null() -> None:
    frame = pl.DataFrame({"insz": [None, "90010100123"]}, schema={"insz": pl.String})
    verdicts = frame.select(is_valid_insz(pl.col("insz"), reference_date=REFERENCE))
    assert verdicts.to_series().to_list() == [None, True]


@pytest.mark.parametrize(
    ("reference_date", "valid"),
    [
        (dt.date(2024, 12, 31), False),  # 2025 is after the reference year: only 1925 is tried
        (dt.date(2025, 1, 1), True),
    ],
)
def test_2000s_rule_follows_the_reference_year(reference_date: dt.date, valid: bool) -> None:
    number = build_insz(2025, 3, 14, 1)
    assert ours([number], reference_date) == [valid]
    with stdnum_today(reference_date):
        assert ssn.is_valid(number) is valid


@PROPERTY
@given(texts=st.lists(st.text("0123456789", min_size=9, max_size=13), min_size=1, max_size=40))
def test_digit_strings_agree_with_stdnum(texts: list[str]) -> None:
    assert_agrees_with_stdnum(texts)


@PROPERTY
@given(
    texts=st.lists(any_insz | one_change(any_insz), min_size=1, max_size=40),
    reference_date=reference_dates,
)
def test_built_numbers_and_one_change_agree_with_stdnum(
    texts: list[str], reference_date: dt.date
) -> None:
    assert_agrees_with_stdnum(texts, reference_date)


@PROPERTY
@given(
    texts=st.lists(
        st.text(st.sampled_from("0123456789" * 3 + ARABIC_INDIC + FULL_WIDTH + BOLD + NOISE))
        | st.text()
        | dressed(any_insz),
        min_size=1,
        max_size=40,
    ),
    reference_date=reference_dates,
)
def test_any_text_agrees_with_stdnum(texts: list[str], reference_date: dt.date) -> None:
    assert_agrees_with_stdnum(texts, reference_date)


@settings(max_examples=100, deadline=None)
@given(numbers=st.lists(any_insz, min_size=1, max_size=40))
def test_integer_round_trip(numbers: list[str]) -> None:
    frame = pl.DataFrame({"insz": numbers}).with_columns(
        insz_as_integer(pl.col("insz")).alias("number")
    )
    assert frame.schema["number"] == pl.Int64
    back = frame.select(insz_as_text(pl.col("number"))).to_series()
    assert back.to_list() == numbers


def test_integer_keeps_leading_zeros_and_nulls() -> None:
    frame = pl.DataFrame({"insz": ["00000101750", None]}, schema={"insz": pl.String})
    numbers = frame.select(insz_as_integer(pl.col("insz"))).to_series()
    assert numbers.to_list() == [101750, None]
    assert pl.select(insz_as_text(pl.lit(numbers))).to_series().to_list() == ["00000101750", None]


@PROPERTY
@given(
    texts=st.lists(
        st.text(st.sampled_from("0123456789" * 3 + "+- ._" + ARABIC_INDIC[:2] + FULL_WIDTH[:2]))
        | any_insz,
        min_size=1,
        max_size=40,
    )
)
def test_insz_number_reads_eleven_ascii_digits_only(texts: list[str]) -> None:
    frame = pl.DataFrame({"insz": texts}, schema={"insz": pl.String})
    numbers = frame.select(insz_number(pl.col("insz"))).to_series().to_list()
    assert numbers == [int(text) if re.fullmatch("[0-9]{11}", text) else None for text in texts]


@PROPERTY
@given(
    texts=st.lists(any_insz | one_change(any_insz) | dressed(any_insz), min_size=1, max_size=40),
    reference_date=reference_dates,
)
def test_the_check_of_the_number_agrees_with_the_check_of_the_text(
    texts: list[str], reference_date: dt.date
) -> None:
    """Validation checks the number it read once (``insz_number``) rather than the text."""
    frame = pl.DataFrame({"insz": texts}).select(normalise_insz(pl.col("insz")))
    insz = pl.col("insz")
    by_number = is_valid_insz_number(insz_number(insz), reference_date=reference_date)
    verdicts = frame.select(
        is_valid_insz(insz, reference_date=reference_date).alias("text"),
        pl.when(insz.is_not_null()).then(by_number).alias("number"),
    )
    assert verdicts["text"].to_list() == verdicts["number"].to_list()
