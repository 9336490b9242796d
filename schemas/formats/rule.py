"""One format rule: a catalogue row, and the polars expressions that normalise and check keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from schemas.formats.algorithms import CHECKS
from schemas.formats.normalisation import Step, parse_normalisation

ANY = "*"
DEFAULT_RULE = "DEFAULT"
EIDAS_RULE = "EIDAS"
KEY_TYPE_SEPARATOR = "|"
KEY_FORMAT_OK = "key_format_ok"
_READING = "__key_reading_"

# Refused by every rule, after normalisation: what a spreadsheet would run as a formula
# (CSV injection) and control characters (NUL, tab, CR, LF, ...).
REFUSED = r"^[=+\-@]|\p{Cc}"


@dataclass(frozen=True)
class Rule:
    """How the keys of a country (``*``: any) and key type(s) must look.

    ``key_type`` is written as in the catalogue: one key type, several joined by ``|``, or
    ``*`` for every key type of the country.
    """

    rule_id: str
    country: str
    key_type: str
    pattern: str
    check: str
    normalisation: str
    description: str
    example: str

    @property
    def key_types(self) -> tuple[str, ...]:
        return tuple(self.key_type.split(KEY_TYPE_SEPARATOR))

    def normalise(self, key: pl.Expr) -> pl.Expr:
        """The key as stored and compared: the rule's normalisation steps."""
        return parse_normalisation(self.normalisation).apply(key)

    def normalisation_steps(self) -> tuple[Step, ...]:
        """The steps one by one, for a caller that materialises the key after each (a step
        reads its input several times, and a plain column is read for free)."""
        return parse_normalisation(self.normalisation).steps

    def parse(self, normalised: pl.Expr) -> dict[str, pl.Expr]:
        """The integer readings of the key that the rule's check decides from."""
        return CHECKS[self.check].parse(normalised) if self.check else {}

    def is_valid(
        self, normalised: pl.Expr, *, read: Mapping[str, pl.Expr] | None = None
    ) -> pl.Expr:
        """True when the normalised key follows the rule; false (never null) otherwise.

        The whole key must match ``pattern``; ``check`` names an algorithm of
        ``schemas.formats.algorithms``; every rule refuses ``REFUSED``. A check may read the
        row's ``country`` column (eIDAS does). ``read``: the check's readings of the key
        (``parse``) when the caller has materialised them, else they are computed inline.
        What the check guarantees by its own shape is not tested twice.
        """
        check = CHECKS[self.check] if self.check else None
        shape = check.shape if check else None
        conditions = [] if shape else [~normalised.str.contains(REFUSED)]
        if self.pattern and self.pattern != shape:
            conditions.append(normalised.str.contains(f"^(?:{self.pattern})$"))
        if check:
            readings = check.parse(normalised) if read is None else read
            conditions.append(check.verdict(normalised, readings))
        return pl.all_horizontal(conditions).fill_null(False)

    def evaluate(self, keys: pl.LazyFrame) -> pl.LazyFrame:
        """``foreign_key`` normalised, and ``key_format_ok`` added (null where no key).

        In stages, each materialised, so that every intermediate is computed once and read as
        a plain column: the normalisation steps; the readings of the key that the check
        decides from (integer columns: the check's table lookups then run several times
        faster); the verdict.
        """
        key = pl.col("foreign_key")
        for step in self.normalisation_steps():
            keys = keys.with_columns(step(key))
        readings = self.parse(key)
        columns = {name: f"{_READING}{name}" for name in readings}
        read = {name: pl.col(column) for name, column in columns.items()}
        verdict = pl.when(key.is_not_null()).then(self.is_valid(key, read=read))
        return (
            keys.with_columns(expr.alias(columns[name]) for name, expr in readings.items())
            .with_columns(verdict.alias(KEY_FORMAT_OK))
            .drop(columns.values())
        )


# Built in: what the register accepted before the catalogue, and still does for any key
# without a rule of its own. The catalogue file lists it too (and may describe it better).
BUILT_IN_DEFAULT = Rule(
    rule_id=DEFAULT_RULE,
    country=ANY,
    key_type=ANY,
    pattern="",
    check="default",
    normalisation="trim upper",
    description="at least 5 characters, at least one digit",
    example="P1234567",
)
