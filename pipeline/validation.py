"""Validates request rows: normalise, run the pandera model, give each row its reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import pandera.polars as pa
import polars as pl

from pipeline.contract import Operation, Reason
from schemas.countries import normalise_country
from schemas.formats import Catalogue, apply_key_formats
from schemas.insz import normalise_insz
from schemas.requests import READINGS, REASON_ORDER, bind

# The uniform shape of a validated chunk, whatever the operation: absent columns are null.
# ``valid_from`` and ``valid_to`` keep their text on rejected rows only, which echo what they
# were sent; a valid row's dates are ``valid_from_d`` and ``valid_to_d``.
STAGED_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "ref": pl.String(),
    "reason": pl.String(),
    "message": pl.String(),
    "insz": pl.String(),
    "insz_int": pl.Int64(),
    "country": pl.String(),
    "key_type": pl.String(),
    "foreign_key": pl.String(),
    "valid_from": pl.String(),
    "valid_to": pl.String(),
    "valid_from_d": pl.Date(),
    "valid_to_d": pl.Date(),
    "as_of_d": pl.Date(),
    "recorded_at_ts": pl.Datetime("us", "UTC"),
    "change_reason": pl.String(),
}
# What a mutation's SQL never reads of its staged rows: a lookup's dates of consultation, and
# for a load the reason that ends a version (an update ends it with none, a delete with its own).
_UNREAD = ("as_of_d", "recorded_at_ts")
_UNREAD_BY_CREATE = (*_UNREAD, "change_reason")


def staged_schema(operation: Operation) -> dict[str, pl.DataType]:
    """The columns of a mutation's staged rows (``STAGED_SCHEMA`` without those it never
    reads): every column stored costs a large load's staging, nulls included."""
    unread = _UNREAD_BY_CREATE if operation is Operation.CREATE else _UNREAD
    return {name: dtype for name, dtype in STAGED_SCHEMA.items() if name not in unread}


_TEXT_COLUMNS = (
    "insz",
    "country",
    "key_type",
    "foreign_key",
    "valid_from",
    "valid_to",
    "as_of",
    "recorded_at",
    "change_reason",
)
# Codes, dates and reasons take few distinct values: they are normalised (and read) once per
# distinct value, then put on their rows; INSZ and foreign keys are normalised row by row.
_FEW_VALUES = tuple(name for name in _TEXT_COLUMNS if name not in ("insz", "foreign_key"))
_MANY_DISTINCT = 16  # rows per distinct value below which a column is normalised row by row

_MESSAGES: dict[Reason, str] = {
    Reason.INVALID_INSZ: "not a valid national register or BIS number",
    Reason.INVALID_COUNTRY: "not an ISO 3166-1 alpha-2 code of a foreign country",
    Reason.UNKNOWN_KEY_TYPE: "not in the key-type list (see `linkreg formats`)",
    Reason.INVALID_PERIOD: "valid_from is after valid_to",
}


@dataclass(frozen=True)
class Rules:
    """What validation needs to know, fixed for one run so that answers are reproducible."""

    reference_date: dt.date
    catalogue: Catalogue
    country_aliases: Mapping[str, str]


def validate_chunk(chunk: pl.DataFrame, *, operation: Operation, rules: Rules) -> pl.DataFrame:
    """A chunk from the reader in, the staged rows out (``STAGED_SCHEMA``), one per request row."""
    normalised = normalise(chunk, rules=rules)
    model = bind(
        operation, reference_date=rules.reference_date, key_types=rules.catalogue.key_types
    )
    failures = _failures(model, normalised)
    return _staged(normalised, failures, catalogue=rules.catalogue)


def normalise(chunk: pl.DataFrame, *, rules: Rules) -> pl.DataFrame:
    """Trims, strips INSZ separators, upper-cases codes, reads what the checks decide from
    (``schemas.requests.READINGS``), normalises keys by their format rule."""
    frame = chunk.rename({"reason": "change_reason"}) if "reason" in chunk.columns else chunk
    # Absent columns, and columns empty on every row, become null constants and are left
    # alone: string functions cost as much over nulls as over values.
    empty = [
        name
        for name in _TEXT_COLUMNS
        if name not in frame.columns or frame[name].null_count() == frame.height
    ]
    frame = frame.with_columns(
        *(pl.lit(None, pl.String).alias(name) for name in empty),
        *(
            pl.lit(None, READINGS[name].dtype).alias(READINGS[name].name)
            for name in empty
            if name in READINGS
        ),
    )
    if "ref" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("ref"))
    if "insz" not in empty:
        frame = frame.with_columns(_insz_and_number(frame["insz"]))
    if "foreign_key" not in empty:
        frame = frame.with_columns(_trimmed(frame["foreign_key"]))
    for name in _FEW_VALUES:
        if name not in empty:
            frame = frame.with_columns(_by_distinct_value(frame[name], _outputs(name, rules)))
    return apply_key_formats(frame, catalogue=rules.catalogue)


def _insz_and_number(raw: pl.Series) -> list[pl.Series]:
    """The INSZ normalised, and its number (``READINGS["insz"]``). Most INSZ arrive as 11
    digits, which the normalisation leaves as they are: it runs over the others only."""
    reading = READINGS["insz"]
    insz, number = pl.col("insz"), pl.col(reading.name)
    frame = (
        raw.cast(pl.String).to_frame("insz").with_columns(reading.read(insz).alias(reading.name))
    )
    others = frame.select((number.is_null() & insz.is_not_null()).arg_true()).to_series()
    if not others.len():
        return frame.get_columns()
    fixed = (
        frame[others]
        .lazy()
        .with_columns(normalise_insz(insz))
        .with_columns(reading.read(insz).alias(reading.name))
        .collect()
    )
    return [frame[name].scatter(others, fixed[name]) for name in frame.columns]


def _trimmed(text: pl.Series) -> pl.Series:
    """Trimmed, empty made null, row by row."""
    stripped = text.cast(pl.String).str.strip_chars()
    return stripped.to_frame().select(_blank_to_null(pl.col(text.name))).to_series()


def _outputs(name: str, rules: Rules) -> dict[str, pl.Expr]:
    """What one text column gives, from its text as sent: its normalised text, and its reading."""
    text = pl.col(name).cast(pl.String)
    if name == "country":
        normalised = normalise_country(text, aliases=rules.country_aliases)
    elif name == "key_type":
        normalised = _blank_to_null(text.str.strip_chars()).str.to_uppercase()
    else:
        normalised = _blank_to_null(text.str.strip_chars())
    outputs = {name: normalised}
    if name in READINGS:
        outputs[READINGS[name].name] = READINGS[name].read(normalised)
    return outputs


def _by_distinct_value(column: pl.Series, outputs: dict[str, pl.Expr]) -> list[pl.Series]:
    """``outputs``, expressions over ``column``, computed once per distinct value and put on
    the rows: one hash lookup per row costs less than string functions per row. Not when most
    values differ (free text, garbage): the lookup would then cost several times more.

    A column whose every value is normalised already (most files send their codes and dates
    so) is its own normalised text: only its readings are put on the rows (a 2M-row load's
    three such columns took 0.41 s, and take 0.21 s).
    """
    if cast(int, column.approx_n_unique()) > column.len() // _MANY_DISTINCT:
        return column.to_frame().select(**outputs).get_columns()
    distinct = column.unique(maintain_order=True).drop_nulls()
    table = distinct.to_frame().select(**outputs)
    unchanged = table[column.name].equals(distinct)
    if unchanged:
        table = table.drop(column.name)
    computed = {column.name: column} if unchanged else {}
    if table.width:
        replaced = column.replace_strict(distinct, table.to_struct(), default=None)
        computed |= {series.name: series for series in replaced.struct.unnest()}
    return [computed[name] for name in outputs]


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.len_bytes() > 0).then(text).otherwise(None)


def _failures(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.DataFrame:
    """(index, reason, column) of every failed check; empty when the chunk is clean."""
    empty = frozenset(
        name
        for name in model.to_schema().columns
        if name in frame.columns and frame[name].null_count() == frame.height
    )
    try:
        _checks_that_can_fail(model, empty).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        known = [reason.value for reason in REASON_ORDER]
        unexpected = cases.filter(~pl.col("check").is_in(known))
        if unexpected.height:
            # A dtype or schema failure means the reader broke its promise: fail loudly.
            raise RuntimeError(
                f"request validation failed unexpectedly: {unexpected.head(3)}"
            ) from errors
        return cases.select(
            pl.col("index").cast(pl.Int64),
            pl.col("check").alias("reason"),
            pl.col("column"),
        )
    return pl.DataFrame(schema={"index": pl.Int64, "reason": pl.String, "column": pl.String})


@lru_cache(maxsize=64)
def _checks_that_can_fail(
    model: type[pa.DataFrameModel], empty: frozenset[str]
) -> pa.DataFrameSchema:
    """The model's schema without the checks of the ``empty`` columns (null on every row of
    the chunk) but ``MISSING_VALUE``: a null passes every other check (``schemas.requests``).

    Pandera costs a few milliseconds a check, however few the rows: a 250k-row chunk of
    ``lookup-insz`` whose four filters are absent took 16 ms to check, and takes 11 ms without
    their checks; 100 rows, 9 ms and 5 ms.
    """
    schema = model.to_schema()
    if not empty:
        return schema
    return schema.update_columns(
        {
            name: {
                "checks": [
                    check
                    for check in schema.columns[name].checks
                    if check.name == Reason.MISSING_VALUE.value
                ]
            }
            for name in empty
        }
    )


def _staged(frame: pl.DataFrame, failures: pl.DataFrame, *, catalogue: Catalogue) -> pl.DataFrame:
    first = _first_failures(failures, frame=frame, catalogue=catalogue)
    reason = _at_rows(first["reason"], rows=first["index"], height=frame.height)
    message = _at_rows(first["message"], rows=first["index"], height=frame.height)
    valid = pl.col("reason").is_null()
    return (
        frame.with_columns(reason, message)
        .select(
            pl.col("row").cast(pl.Int64),
            pl.col("ref").cast(pl.String),
            "reason",
            "message",
            "insz",
            pl.when(valid).then(pl.col(READINGS["insz"].name)).alias("insz_int"),
            "country",
            "key_type",
            "foreign_key",
            # A rejected row echoes the dates it was sent; a valid row's are its dates, read.
            *(pl.when(~valid).then(name).alias(name) for name in ("valid_from", "valid_to")),
            "valid_from_d",
            "valid_to_d",
            "as_of_d",
            "recorded_at_ts",
            "change_reason",
        )
        .cast(STAGED_SCHEMA)  # type: ignore[arg-type]
    )


def _first_failures(
    failures: pl.DataFrame, *, frame: pl.DataFrame, catalogue: Catalogue
) -> pl.DataFrame:
    """(index, reason, message) of each row that failed, by the first of its failures in
    ``REASON_ORDER``; the messages are written for those rows only."""
    rank = {reason.value: position for position, reason in enumerate(REASON_ORDER)}
    first = (
        failures.with_columns(
            pl.col("reason").replace_strict(rank, return_dtype=pl.Int32).alias("rank")
        )
        .sort("index", "rank", "column")
        .unique("index", keep="first", maintain_order=True)
    )
    reason = pl.col("reason")
    column = pl.col("column")
    message = (
        pl.when(reason == Reason.MISSING_VALUE.value)
        .then(pl.format("`{}` is empty", _request_name(column)))
        .when(reason == Reason.INVALID_KEY_FORMAT.value)
        .then(catalogue.message_expr(pl.col("key_rule")))
        .when((reason == Reason.INVALID_DATE.value) & (column == "recorded_at"))
        .then(pl.lit("`recorded_at` is not an ISO 8601 timestamp with Z or an offset"))
        .when(reason == Reason.INVALID_DATE.value)
        .then(pl.format("`{}` is not a date YYYY-MM-DD that exists", column))
        .otherwise(reason.replace_strict(_messages(), default=None, return_dtype=pl.String))
    )
    return first.with_columns(frame["key_rule"].gather(first["index"])).select(
        "index", "reason", message.alias("message")
    )


def _at_rows(values: pl.Series, *, rows: pl.Series, height: int) -> pl.Series:
    """A column of ``height`` nulls with ``values`` at ``rows``: failures are few, so they are
    put in place rather than joined back onto every row."""
    column = pl.repeat(None, height, dtype=values.dtype, eager=True).alias(values.name)
    return column.scatter(rows, values) if rows.len() else column


def _request_name(column: pl.Expr) -> pl.Expr:
    """The column name the sender wrote: the request's ``reason`` is ``change_reason`` inside."""
    return pl.when(column == "change_reason").then(pl.lit("reason")).otherwise(column)


def _messages() -> dict[str, str]:
    return {reason.value: text for reason, text in _MESSAGES.items()}
