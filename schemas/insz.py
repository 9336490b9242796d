"""The INSZ (national register or BIS number) as polars expressions: normalise, check, convert."""

from __future__ import annotations

import datetime as dt
import unicodedata

import polars as pl

# python-stdnum (our oracle) turns these look-alikes into ASCII before it strips separators
# (stdnum.util._char_map); we copy the groups that can change a verdict: digits, which then
# count, and dashes, dots and spaces, which are then separators. The rest stay and fail.
_DIGIT_FORMS = (
    "FULLWIDTH DIGIT",
    "MATHEMATICAL BOLD DIGIT",
    "MATHEMATICAL DOUBLE-STRUCK DIGIT",
    "MATHEMATICAL SANS-SERIF DIGIT",
    "MATHEMATICAL SANS-SERIF BOLD DIGIT",
    "MATHEMATICAL MONOSPACE DIGIT",
)
_DIGIT_NAMES = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
_SEPARATOR_LOOK_ALIKES = (
    # dashes
    "ARMENIAN HYPHEN,HEBREW PUNCTUATION MAQAF,HYPHEN,NON-BREAKING HYPHEN,FIGURE DASH,EN DASH,"
    "EM DASH,HORIZONTAL BAR,SMALL HYPHEN-MINUS,FULLWIDTH HYPHEN-MINUS,MONGOLIAN NIRUGU,OVERLINE,"
    "HYPHEN BULLET,MACRON,MODIFIER LETTER MINUS SIGN,FULLWIDTH MACRON,OGHAM SPACE MARK,"
    "SUPERSCRIPT MINUS,SUBSCRIPT MINUS,MINUS SIGN,HORIZONTAL LINE EXTENSION,"
    "HORIZONTAL SCAN LINE-1,HORIZONTAL SCAN LINE-3,HORIZONTAL SCAN LINE-7,"
    "HORIZONTAL SCAN LINE-9,STRAIGHTNESS,"
    # dots
    "MIDDLE DOT,GREEK ANO TELEIA,ARABIC FULL STOP,IDEOGRAPHIC FULL STOP,"
    "SYRIAC SUPRALINEAR FULL STOP,SYRIAC SUBLINEAR FULL STOP,SAMARITAN PUNCTUATION NEQUDAA,"
    "TIBETAN MARK INTERSYLLABIC TSHEG,TIBETAN MARK DELIMITER TSHEG BSTAR,RUNIC SINGLE PUNCTUATION,"
    "BULLET,ONE DOT LEADER,HYPHENATION POINT,WORD SEPARATOR MIDDLE DOT,RAISED DOT,"
    "KATAKANA MIDDLE DOT,SMALL FULL STOP,FULLWIDTH FULL STOP,HALFWIDTH KATAKANA MIDDLE DOT,"
    "AEGEAN WORD SEPARATOR DOT,PHOENICIAN WORD SEPARATOR,KHAROSHTHI PUNCTUATION DOT,DOT ABOVE,"
    "ARABIC SYMBOL DOT ABOVE,ARABIC SYMBOL DOT BELOW,BULLET OPERATOR,DOT OPERATOR"
    # the space look-alikes are all whitespace, which goes anyway
)

_DIGIT_LOOK_ALIKES = {
    unicodedata.lookup(f"{form} {name}"): str(digit)
    for form in _DIGIT_FORMS
    for digit, name in enumerate(_DIGIT_NAMES)
}
# Whitespace as Python's str.isspace (what stdnum strips) sees it; the last is U+3000.
_WHITESPACE = [char for char in map(chr, range(0x3001)) if char.isspace()]
_SEPARATORS = [
    *_WHITESPACE,
    ".",
    "-",
    *map(unicodedata.lookup, _SEPARATOR_LOOK_ALIKES.split(",")),
]
# One pass of single characters: far faster than a regex with a Unicode class.
_NORMALISATION = _DIGIT_LOOK_ALIKES | dict.fromkeys(_SEPARATORS, "")

_BORN_2000S_PREFIX = 2_000_000_000  # the `2` put before the 9 digits of people born 2000+


def normalise_insz(expr: pl.Expr) -> pl.Expr:
    """Strips whitespace, dots and dashes (and stdnum's look-alikes); empty becomes null."""
    return expr.str.replace_many(_NORMALISATION).replace("", None)


def is_valid_insz(expr: pl.Expr, *, reference_date: dt.date) -> pl.Expr:
    """True for a valid national register or BIS number, False otherwise; null stays null.

    Agrees with ``stdnum.be.ssn.is_valid``, the 2000+ rule tried only when 2000+YY is not after
    the reference year (stdnum reads the clock there). Like stdnum, the day is not checked.
    """
    text, number = pl.field("text"), pl.field("number")
    # Struct fields serve as local names, so that `expr` (often a whole normalisation) runs
    # once: polars' common-subexpression elimination would repeat it in every use of `number`.
    return (
        pl.struct(text=expr)
        .struct.with_fields(number=insz_number(text))
        .struct.with_fields(
            verdict=pl.when(text.is_not_null()).then(
                is_valid_insz_number(number, reference_date=reference_date)
            )
        )
        .struct.field("verdict")
        .name.keep()  # named after the input column, as the other checks are
    )


def insz_number(text: pl.Expr) -> pl.Expr:
    """The number an INSZ written as 11 ASCII digits stands for; null for any other text."""
    # Cheaper than a regex; the sign test because str.to_integer also takes `+1234567890`.
    eleven = (text.str.len_bytes() == 11) & ~text.str.starts_with("+") & ~text.str.starts_with("-")
    return pl.when(eleven).then(text.str.to_integer(dtype=pl.Int64, strict=False))


def is_valid_insz_number(number: pl.Expr, *, reference_date: dt.date) -> pl.Expr:
    """``is_valid_insz`` for the ``insz_number`` of the text: False (never null) for null."""
    body, check = number // 100, number % 100
    yy, month = number // 1_000_000_000, number // 10_000_000 % 100
    born_1900s = _check_digits(body) == check
    born_2000s = (yy + 2000 <= reference_date.year) & (
        _check_digits(body + _BORN_2000S_PREFIX) == check
    )
    # National register months 0-12 (0 = unknown), BIS +20 (sex unknown) or +40 (sex known).
    month_ok = (month <= 12) | month.is_between(20, 32) | month.is_between(40, 52)
    return ((number > 0) & (born_1900s | born_2000s) & month_ok).fill_null(False)


def _check_digits(body: pl.Expr) -> pl.Expr:
    # 97 - remainder lies in 1..97, so the check digits are never 00.
    return 97 - body % 97


def insz_as_integer(expr: pl.Expr) -> pl.Expr:
    """The Int64 of a valid normalised INSZ: the store keeps INSZ as BIGINT (smaller, faster)."""
    return expr.str.to_integer(dtype=pl.Int64, strict=False)


def insz_as_text(expr: pl.Expr) -> pl.Expr:
    """An INSZ kept as Int64 back to its 11 digits, leading zeros included."""
    return expr.cast(pl.String).str.zfill(11)
