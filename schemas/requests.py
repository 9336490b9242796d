"""Pandera models of the request files: one per shape of request, checks as polars expressions.

The models validate *normalised* frames (see ``pipeline.validation``): INSZ stripped of separators,
country codes upper-cased with aliases replaced, foreign keys normalised by their format rule, which
also adds the ``key_format_ok`` column, and the ``READINGS`` below: the INSZ as a number and the
parsed dates, computed once per chunk (a check that parsed its own column would parse it again for
every check and once more for the staged rows). Every check is named after the row reason it
produces, so a failure case maps straight onto a ``REJECTED`` row. Empty values pass every check but
``MISSING_VALUE``, so each row gets one reason, the first in ``REASON_ORDER``.

Checks that need run-time facts (the reference date of the INSZ century rule, the key-type list)
read them from class attributes that :func:`bind` sets on a subclass made for the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import pandera.polars as pa
import polars as pl
from pandera.polars import DataFrameModel, Field, PolarsData

from pipeline.contract import Operation, Reason
from schemas.countries import is_valid_country
from schemas.dates import is_valid_date, is_valid_period, parse_date, parse_timestamp
from schemas.insz import insz_number, is_valid_insz_number

# The first failing check of a row names its reason.
REASON_ORDER: tuple[Reason, ...] = (
    Reason.MISSING_VALUE,
    Reason.INVALID_INSZ,
    Reason.INVALID_COUNTRY,
    Reason.UNKNOWN_KEY_TYPE,
    Reason.INVALID_KEY_FORMAT,
    Reason.INVALID_DATE,
    Reason.INVALID_PERIOD,
    Reason.DUPLICATE_IN_FILE,
)


class Reading(NamedTuple):
    """A value the checks decide from, read once per chunk from a normalised text column."""

    name: str  # its column in the normalised frame
    read: Callable[[pl.Expr], pl.Expr]  # from the normalised text; null where it does not parse
    dtype: pl.DataType


# By the text column they are read from.
READINGS: dict[str, Reading] = {
    "insz": Reading("insz_number", insz_number, pl.Int64()),
    "valid_from": Reading("valid_from_d", parse_date, pl.Date()),
    "valid_to": Reading("valid_to_d", parse_date, pl.Date()),
    "as_of": Reading("as_of_d", parse_date, pl.Date()),
    "recorded_at": Reading("recorded_at_ts", parse_timestamp, pl.Datetime("us", "UTC")),
}


def _check(*columns: str, reason: Reason) -> Callable[[Callable[..., pl.LazyFrame]], Any]:
    """``pa.check`` of ``columns``, named after the row ``reason`` it gives.

    The function is given that name too. Pandera takes a check's ``name`` out of the settings
    that every model inheriting the check shares, the first time one of them builds its schema
    (``BaseCheckInfo.to_check`` pops it), and names the check after its function in the next
    ones: a model ``bind`` makes for another day or operation, or a sibling sharing a parent's
    checks. Its failures then named no reason, and the file was refused whole.
    """

    def named(function: Callable[..., pl.LazyFrame]) -> Any:
        function.__name__ = reason.value
        return pa.check(*columns, name=reason.value)(function)

    return named


def _column(data: PolarsData) -> pl.Expr:
    return pl.col(data.key)


class _Request(DataFrameModel):
    """What every request model shares: run-time facts and a lax column set."""

    _reference_date: dt.date = dt.date(1970, 1, 1)
    _key_types: frozenset[str] = frozenset()

    class Config:
        strict = False  # the frame also carries `row`, `ref` and helper columns
        coerce = False

    @classmethod
    def _insz_ok(cls, data: PolarsData) -> pl.LazyFrame:
        number = pl.col(READINGS["insz"].name)
        return data.lazyframe.select(
            _column(data).is_null()
            | is_valid_insz_number(number, reference_date=cls._reference_date)
        )

    @classmethod
    def _key_type_ok(cls, data: PolarsData) -> pl.LazyFrame:
        known = sorted(cls._key_types)
        return data.lazyframe.select(_column(data).is_null() | _column(data).is_in(known))


def _present(data: PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(_column(data).is_not_null())


def _country_ok(data: PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(_column(data).is_null() | is_valid_country(_column(data)))


def _key_format_ok(data: PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col("key_format_ok").fill_null(True))


def _date_ok(data: PolarsData) -> pl.LazyFrame:
    """A date, or the ``recorded_at`` timestamp: its reading must have parsed."""
    return data.lazyframe.select(is_valid_date(_column(data), pl.col(READINGS[data.key].name)))


def _period_ok(data: PolarsData) -> pl.LazyFrame:
    start, end = pl.col(READINGS["valid_from"].name), pl.col(READINGS["valid_to"].name)
    return data.lazyframe.select(is_valid_period(start, end))


class LookupInszRequest(_Request):
    """``lookup-insz``: all links of each INSZ, optionally filtered."""

    insz: str = Field(nullable=True)
    country: str = Field(nullable=True)
    key_type: str = Field(nullable=True)
    as_of: str = Field(nullable=True)
    recorded_at: str = Field(nullable=True)

    @_check("insz", reason=Reason.MISSING_VALUE)
    def required(cls, data: PolarsData) -> pl.LazyFrame:
        return _present(data)

    @_check("insz", reason=Reason.INVALID_INSZ)
    def insz_valid(cls, data: PolarsData) -> pl.LazyFrame:
        return cls._insz_ok(data)

    @_check("country", reason=Reason.INVALID_COUNTRY)
    def country_valid(cls, data: PolarsData) -> pl.LazyFrame:
        return _country_ok(data)

    @_check("key_type", reason=Reason.UNKNOWN_KEY_TYPE)
    def key_type_known(cls, data: PolarsData) -> pl.LazyFrame:
        return cls._key_type_ok(data)

    @_check("as_of", reason=Reason.INVALID_DATE)
    def as_of_date(cls, data: PolarsData) -> pl.LazyFrame:
        return _date_ok(data)

    @_check("recorded_at", reason=Reason.INVALID_DATE)
    def recorded_at_timestamp(cls, data: PolarsData) -> pl.LazyFrame:
        return _date_ok(data)


class LookupKeyRequest(_Request):
    """``lookup-key``: the INSZ linked to each foreign key."""

    country: str = Field(nullable=True)
    foreign_key: str = Field(nullable=True)
    key_type: str = Field(nullable=True)
    as_of: str = Field(nullable=True)
    recorded_at: str = Field(nullable=True)

    @_check("country", "foreign_key", reason=Reason.MISSING_VALUE)
    def required(cls, data: PolarsData) -> pl.LazyFrame:
        return _present(data)

    @_check("country", reason=Reason.INVALID_COUNTRY)
    def country_valid(cls, data: PolarsData) -> pl.LazyFrame:
        return _country_ok(data)

    @_check("key_type", reason=Reason.UNKNOWN_KEY_TYPE)
    def key_type_known(cls, data: PolarsData) -> pl.LazyFrame:
        return cls._key_type_ok(data)

    @_check("foreign_key", reason=Reason.INVALID_KEY_FORMAT)
    def key_format(cls, data: PolarsData) -> pl.LazyFrame:
        return _key_format_ok(data)

    @_check("as_of", reason=Reason.INVALID_DATE)
    def as_of_date(cls, data: PolarsData) -> pl.LazyFrame:
        return _date_ok(data)

    @_check("recorded_at", reason=Reason.INVALID_DATE)
    def recorded_at_timestamp(cls, data: PolarsData) -> pl.LazyFrame:
        return _date_ok(data)


class _LinkRequest(_Request):
    """A row naming one whole link: INSZ, country, key type and foreign key."""

    insz: str = Field(nullable=True)
    country: str = Field(nullable=True)
    key_type: str = Field(nullable=True)
    foreign_key: str = Field(nullable=True)

    @_check("insz", reason=Reason.INVALID_INSZ)
    def insz_valid(cls, data: PolarsData) -> pl.LazyFrame:
        return cls._insz_ok(data)

    @_check("country", reason=Reason.INVALID_COUNTRY)
    def country_valid(cls, data: PolarsData) -> pl.LazyFrame:
        return _country_ok(data)

    @_check("key_type", reason=Reason.UNKNOWN_KEY_TYPE)
    def key_type_known(cls, data: PolarsData) -> pl.LazyFrame:
        return cls._key_type_ok(data)

    @_check("foreign_key", reason=Reason.INVALID_KEY_FORMAT)
    def key_format(cls, data: PolarsData) -> pl.LazyFrame:
        return _key_format_ok(data)


class LinkPeriodRequest(_LinkRequest):
    """``create`` and ``update``: a link and its validity period."""

    valid_from: str = Field(nullable=True)
    valid_to: str = Field(nullable=True)

    @_check("insz", "country", "key_type", "foreign_key", reason=Reason.MISSING_VALUE)
    def required(cls, data: PolarsData) -> pl.LazyFrame:
        return _present(data)

    @_check("valid_from", "valid_to", reason=Reason.INVALID_DATE)
    def dates(cls, data: PolarsData) -> pl.LazyFrame:
        return _date_ok(data)

    @_check("valid_to", reason=Reason.INVALID_PERIOD)
    def period(cls, data: PolarsData) -> pl.LazyFrame:
        return _period_ok(data)


class LinkReasonRequest(_LinkRequest):
    """``delete`` and ``report``: a link and why (the request's ``reason`` column)."""

    change_reason: str = Field(nullable=True)

    @_check("insz", "country", "key_type", "foreign_key", "change_reason",
            reason=Reason.MISSING_VALUE)  # fmt: skip
    def required(cls, data: PolarsData) -> pl.LazyFrame:
        return _present(data)


MODELS: dict[Operation, type[_Request]] = {
    Operation.LOOKUP_INSZ: LookupInszRequest,
    Operation.LOOKUP_KEY: LookupKeyRequest,
    Operation.CREATE: LinkPeriodRequest,
    Operation.UPDATE: LinkPeriodRequest,
    Operation.DELETE: LinkReasonRequest,
    Operation.REPORT: LinkReasonRequest,
}


@lru_cache(maxsize=32)
def bind(
    operation: Operation, *, reference_date: dt.date, key_types: frozenset[str]
) -> type[_Request]:
    """The model of ``operation`` with this run's reference date and key-type list."""
    base = MODELS[operation]
    return type(
        f"{base.__name__}_{reference_date:%Y%m%d}",
        (base,),
        {"_reference_date": reference_date, "_key_types": key_types, "__module__": __name__},
    )
